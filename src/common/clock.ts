/**
 * Time sources. The engine reads time and schedules work only through a {@link Clock}, so the
 * same code runs on wall-clock time and on a virtual clock in simulations.
 *
 * @module
 */

/** A scheduled callback that can be cancelled.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * const t = systemClock.setTimer(1000, () => console.log("never"));
 * t.cancel();
 * ```
 */
export interface Timer {
  /** Cancels the timer; a no-op when it already fired or was cancelled. */
  cancel(): void;
}

/** A monotonic millisecond clock with one-shot timers.
 *
 * @example
 * ```ts
 * import { type Clock, systemClock } from "./clock.ts";
 * const clock: Clock = systemClock;
 * console.log(clock.now() >= 0);
 * ```
 */
export interface Clock {
  /** Monotonic time in milliseconds (fractions allowed). */
  now(): number;
  /** Calls `fn` once, `delayMs` milliseconds from now. */
  setTimer(delayMs: number, fn: () => void): Timer;
}

/** The real clock: `performance.now()` and `setTimeout`.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * const before = systemClock.now();
 * console.log(systemClock.now() >= before);
 * ```
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(delayMs: number, fn: () => void): Timer {
    const id = setTimeout(fn, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(id) };
  },
};
