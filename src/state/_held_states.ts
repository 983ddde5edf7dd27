/**
 * The node states a cluster holds, by key, in insertion order: a read-only Map to its readers,
 * without a hash table per cluster. A key's entry is found through its process-wide serial
 * (`../common/_key_serial.ts`, a `KeySerialIndex` of positions), 4 bytes per key of the process
 * plus 8 per entry for the order, where a Map cost ~40 bytes per entry; a simulation holds one
 * cluster per node and one entry per (node, peer).
 *
 * @module
 */
import { KeySerialIndex } from "../common/_key_serial.ts";

/** Entries in insertion order, each found by its `key`.
 *
 * @example
 * ```ts
 * import { HeldStates } from "./_held_states.ts";
 * const m = new HeldStates<{ key: string; n: number }>();
 * m.set({ key: "held-a", n: 1 });
 * m.set({ key: "held-b", n: 2 });
 * m.delete("held-a");
 * console.log(m.get("held-b")?.n, m.size, [...m.keys()]); // 2 1 [ "held-b" ]
 * ```
 */
export class HeldStates<T extends { readonly key: string }> implements ReadonlyMap<string, T> {
  /** The entries in insertion order. */
  readonly #order: T[] = [];
  /** Position in `#order` by key. */
  readonly #positions = new KeySerialIndex((i) => this.#order[i]?.key, () => this.#order.length);

  /** Number of entries. */
  get size(): number {
    return this.#order.length;
  }

  /** The entry of `key`. */
  get(key: string): T | undefined {
    const at = this.#positions.get(key);
    return at === undefined ? undefined : this.#order[at];
  }

  /** Whether `key` has an entry. */
  has(key: string): boolean {
    return this.#positions.get(key) !== undefined;
  }

  /** Adds `entry`, or replaces the entry with its key in place. */
  set(entry: T): void {
    const at = this.#positions.get(entry.key);
    if (at !== undefined) {
      this.#order[at] = entry;
      return;
    }
    this.#order.push(entry);
    this.#positions.set(entry.key, this.#order.length - 1);
  }

  /** Removes the entry of `key`; returns whether there was one. */
  delete(key: string): boolean {
    const at = this.#positions.get(key);
    if (at === undefined) return false;
    const order = this.#order;
    order.splice(at, 1);
    this.#positions.delete(key);
    for (let i = at; i < order.length; i++) this.#positions.set(order[i]!.key, i);
    return true;
  }

  /** The entries in insertion order. */
  values(): MapIterator<T> {
    return this.#order.values();
  }

  /** The keys in insertion order. */
  keys(): MapIterator<string> {
    return this.#order.map((e) => e.key).values();
  }

  /** `[key, entry]` pairs in insertion order. */
  entries(): MapIterator<[string, T]> {
    return this.#order.map((e): [string, T] => [e.key, e]).values();
  }

  /** Same as {@link HeldStates.entries}. */
  [Symbol.iterator](): MapIterator<[string, T]> {
    return this.entries();
  }

  /** Calls `fn` with every entry in insertion order. */
  forEach(fn: (value: T, key: string, map: ReadonlyMap<string, T>) => void): void {
    for (const e of this.#order.slice()) fn(e, e.key, this);
  }
}
