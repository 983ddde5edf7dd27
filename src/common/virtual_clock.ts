/**
 * A {@link Clock} whose time moves only when told to. Simulations and tests use it to run
 * hours of gossip in milliseconds, deterministically.
 *
 * @module
 */
import type { Clock, Timer } from "./clock.ts";
import { HearsayError, TimerCallbackError } from "./errors.ts";

/** One scheduled callback. `fn` is null once it fired or was cancelled. */
interface Entry {
  readonly due: number;
  readonly seq: number;
  fn: (() => void) | null;
}

function before(a: Entry, b: Entry): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/** Options of {@link VirtualClock.runUntil}.
 *
 * @example
 * ```ts
 * import type { RunUntilOptions } from "./virtual_clock.ts";
 * const o: RunUntilOptions = { maxMs: 10_000 };
 * console.log(o.maxMs);
 * ```
 */
export interface RunUntilOptions {
  /** Give up once virtual time has moved this far (milliseconds). */
  readonly maxMs: number;
}

/** A manually advanced clock with a binary-heap timer queue (O(log n) per timer, fine with
 * hundreds of thousands pending).
 *
 * Timers run in due-time order; timers due at the same time run in the order they were set.
 * While a callback runs, `now()` equals its due time. Callbacks may set and cancel timers; a
 * timer set during {@link VirtualClock.advance} that falls due within the advanced span runs in
 * the same call (so a callback that keeps setting zero-delay timers never lets `advance` return).
 *
 * A callback that throws does not stop the clock: the remaining due timers still run, time still
 * reaches its target, and then a {@link TimerCallbackError} carrying every exception is thrown.
 *
 * @example
 * ```ts
 * import { VirtualClock } from "./virtual_clock.ts";
 * const clock = new VirtualClock();
 * const seen: number[] = [];
 * clock.setTimer(20, () => seen.push(clock.now()));
 * clock.setTimer(10, () => seen.push(clock.now()));
 * clock.advance(25);
 * console.log(seen, clock.now()); // [ 10, 20 ] 25
 * ```
 */
export class VirtualClock implements Clock {
  #now: number;
  #heap: Entry[] = [];
  #seq = 0;
  #live = 0;
  #running = false;

  /** Creates a clock reading `startMs` (default 0). */
  constructor(startMs = 0) {
    if (!Number.isFinite(startMs)) {
      throw new HearsayError(`VirtualClock start time must be a finite number, got ${startMs}`);
    }
    this.#now = startMs;
  }

  /** Current virtual time in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Number of timers that are set and have neither fired nor been cancelled. */
  get pendingTimers(): number {
    return this.#live;
  }

  /** Due time of the earliest pending timer, or `undefined` when none is pending. */
  get nextDue(): number | undefined {
    this.#dropCancelledTop();
    return this.#heap[0]?.due;
  }

  /** Calls `fn` once, `delayMs` from now. Negative or NaN delays count as 0; an infinite delay
   * never fires. */
  setTimer(delayMs: number, fn: () => void): Timer {
    const delay = delayMs > 0 ? delayMs : 0;
    const entry: Entry = { due: this.#now + delay, seq: this.#seq++, fn };
    this.#push(entry);
    this.#live++;
    return {
      cancel: () => {
        if (entry.fn === null) return;
        entry.fn = null;
        this.#live--;
        // Cancelled entries stay in the heap until they reach the top; compact when they
        // dominate so a cancel-heavy workload does not grow the heap without bound.
        if (this.#heap.length > 1024 && this.#live * 2 < this.#heap.length) this.#compact();
      },
    };
  }

  /** Moves time forward by `ms`, running every timer due up to the new time. Throws a
   * {@link TimerCallbackError} afterwards if callbacks threw. */
  advance(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) {
      throw new HearsayError(`VirtualClock.advance() needs a finite ms >= 0, got ${ms}`);
    }
    this.#runThrough(this.#now + ms, null);
  }

  /** Moves time forward to `timeMs` (no-op if it is not later than now), running due timers. */
  advanceTo(timeMs: number): void {
    if (!Number.isFinite(timeMs)) {
      throw new HearsayError(`VirtualClock.advanceTo() needs a finite time, got ${timeMs}`);
    }
    if (timeMs > this.#now) this.#runThrough(timeMs, null);
  }

  /** Runs timers in order until `predicate()` is true, checking it first and after every
   * callback. Returns true as soon as it holds (time stops at the due time of the callback that
   * made it true); returns false after advancing `maxMs` without it holding.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "./virtual_clock.ts";
   * const clock = new VirtualClock();
   * let done = false;
   * clock.setTimer(300, () => done = true);
   * console.log(clock.runUntil(() => done, { maxMs: 1000 }), clock.now()); // true 300
   * ```
   */
  runUntil(predicate: () => boolean, options: RunUntilOptions): boolean {
    const { maxMs } = options;
    if (!(maxMs >= 0) || !Number.isFinite(maxMs)) {
      throw new HearsayError(`VirtualClock.runUntil() needs a finite maxMs >= 0, got ${maxMs}`);
    }
    if (predicate()) return true;
    return this.#runThrough(this.#now + maxMs, predicate);
  }

  /** Runs due timers up to `target`. With a predicate, stops early (returning true) once it
   * holds after a callback. */
  #runThrough(target: number, predicate: (() => boolean) | null): boolean {
    if (this.#running) {
      throw new HearsayError(
        "VirtualClock cannot advance from inside one of its own timer callbacks; " +
          "schedule a timer instead",
      );
    }
    this.#running = true;
    const errors: unknown[] = [];
    let satisfied = false;
    try {
      for (;;) {
        this.#dropCancelledTop();
        const top = this.#heap[0];
        if (top === undefined || top.due > target) break;
        this.#pop();
        const fn = top.fn;
        top.fn = null;
        this.#live--;
        if (top.due > this.#now) this.#now = top.due;
        try {
          (fn as () => void)();
        } catch (e) {
          errors.push(e);
        }
        if (predicate !== null && predicate()) {
          satisfied = true;
          break;
        }
      }
      if (!satisfied && target > this.#now) this.#now = target;
    } finally {
      this.#running = false;
    }
    if (errors.length > 0) throw new TimerCallbackError(errors);
    return satisfied;
  }

  #dropCancelledTop(): void {
    while (this.#heap.length > 0 && (this.#heap[0] as Entry).fn === null) this.#pop();
  }

  #compact(): void {
    const kept = this.#heap.filter((e) => e.fn !== null);
    this.#heap = kept;
    for (let i = (kept.length >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Entry;
      if (!before(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    this.#siftDown(0);
  }

  #siftDown(start: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const entry = heap[start] as Entry;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let child = l;
      if (r < n && before(heap[r] as Entry, heap[l] as Entry)) child = r;
      const c = heap[child] as Entry;
      if (!before(c, entry)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = entry;
  }
}
