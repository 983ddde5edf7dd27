/**
 * A synchronous broadcast of values to subscribers, with a latest-value watch: what a gossip
 * node's key-change subscriptions and live-nodes watch are built on.
 *
 * @module
 */

/** Values published to every current subscriber, synchronously, in subscription order. A
 * subscriber added or removed while a value is being delivered takes effect from the next one.
 * {@link Broadcast.watch} turns it into an async iterator of the latest value.
 *
 * @example
 * ```ts
 * import { Broadcast } from "./broadcast.ts";
 * const b = new Broadcast<number>();
 * const seen: number[] = [];
 * const off = b.subscribe((n) => seen.push(n));
 * b.publish(1);
 * off();
 * b.publish(2);
 * console.log(seen); // [ 1 ]
 *
 * const watch = b.watch(10);
 * b.publish(11);
 * b.publish(12); // a slow consumer only sees the latest value
 * console.log((await watch.next()).value); // 12
 * b.close();
 * console.log((await watch.next()).done); // true
 * ```
 */
export class Broadcast<T> {
  readonly #subs = new Set<(value: T) => void>();
  readonly #watches = new Set<() => void>();

  /** How many subscribers there are (watches included). */
  get size(): number {
    return this.#subs.size;
  }

  /** Calls `callback` with every value published from now on. Subscribing the same function
   * twice subscribes it once. Returns the unsubscribe function. */
  subscribe(callback: (value: T) => void): () => void {
    this.#subs.add(callback);
    return () => this.#subs.delete(callback);
  }

  /** Delivers `value` to the current subscribers. */
  publish(value: T): void {
    for (const cb of [...this.#subs]) cb(value);
  }

  /** An async iterator that yields `initial` first, then the latest value published since the
   * previous `next()` (intermediate values are skipped: it never lags). Ends when the loop
   * breaks (`return()`) or on {@link Broadcast.close}. */
  watch(initial: T): AsyncIterableIterator<T> {
    let latest = initial;
    let fresh = true;
    let wake: (() => void) | undefined;
    let done = false;
    const off = this.subscribe((value) => {
      latest = value;
      fresh = true;
      wake?.();
    });
    const finish = () => {
      done = true;
      off();
      wake?.();
    };
    this.#watches.add(finish);
    const iterator: AsyncIterableIterator<T> = {
      next: async (): Promise<IteratorResult<T>> => {
        while (!fresh && !done) {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
        if (done) return { value: undefined, done: true };
        fresh = false;
        return { value: latest, done: false };
      },
      return: (): Promise<IteratorResult<T>> => {
        finish();
        this.#watches.delete(finish);
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Ends every watch and drops every subscriber. */
  close(): void {
    for (const finish of this.#watches) finish();
    this.#watches.clear();
    this.#subs.clear();
  }
}
