/**
 * A small push-based async iterable used for subscriptions: producers `push`, one consumer
 * iterates, `close()` ends the iteration. Bounded: a consumer that falls more than `capacity`
 * items behind gets a {@link SubscriberLaggedError} instead of silently losing items.
 *
 * @module
 */
import { HearsayError } from "./errors.ts";

/** Thrown from a subscription's iterator when its consumer fell too far behind.
 *
 * @example
 * ```ts
 * import { SubscriberLaggedError } from "./async_queue.ts";
 * console.log(new SubscriberLaggedError(10).message);
 * ```
 */
export class SubscriberLaggedError extends HearsayError {
  /** Creates the error for a queue of `capacity` items. */
  constructor(capacity: number) {
    super(
      `subscriber fell more than ${capacity} events behind; events were not dropped silently: ` +
        `read faster or subscribe with a larger capacity`,
    );
  }
}

/** A single-consumer async queue.
 *
 * @example
 * ```ts
 * import { AsyncQueue } from "./async_queue.ts";
 * const q = new AsyncQueue<number>();
 * q.push(1);
 * q.push(2);
 * q.close();
 * for await (const n of q) console.log(n);
 * ```
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  #items: T[] = [];
  #head = 0;
  #waiter: ((r: IteratorResult<T>) => void) | undefined;
  #failWaiter: ((e: unknown) => void) | undefined;
  #closed = false;
  #error: unknown = undefined;
  readonly #capacity: number;
  readonly #onReturn: (() => void) | undefined;

  /** `capacity`: items buffered before the consumer is failed with a lag error.
   * `onReturn`: called once when the consumer stops early or the queue closes. */
  constructor(options: { capacity?: number; onReturn?: () => void } = {}) {
    this.#capacity = options.capacity ?? 65_536;
    this.#onReturn = options.onReturn;
  }

  /** Items waiting to be read. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Whether the queue was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Adds an item (ignored after close). */
  push(item: T): void {
    if (this.#closed) return;
    if (this.#waiter !== undefined) {
      const w = this.#waiter;
      this.#waiter = undefined;
      this.#failWaiter = undefined;
      w({ value: item, done: false });
      return;
    }
    if (this.size >= this.#capacity) {
      this.#fail(new SubscriberLaggedError(this.#capacity));
      return;
    }
    this.#items.push(item);
  }

  #fail(error: unknown): void {
    this.#error = error;
    this.#items = [];
    this.#head = 0;
    this.close();
  }

  /** Ends the iteration after the buffered items are read. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#waiter !== undefined) {
      const w = this.#waiter;
      const f = this.#failWaiter!;
      this.#waiter = undefined;
      this.#failWaiter = undefined;
      if (this.#error !== undefined) f(this.#error);
      else w({ value: undefined, done: true });
    }
    this.#onReturn?.();
  }

  /** Next item, waiting when none is buffered. */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head]!;
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) {
      if (this.#error !== undefined) {
        const e = this.#error;
        this.#error = undefined;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#failWaiter = reject;
    });
  }

  /** Stops the iteration (called by `break` in `for await`). */
  return(): Promise<IteratorResult<T>> {
    this.#items = [];
    this.#head = 0;
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** This queue is its own iterator. */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
