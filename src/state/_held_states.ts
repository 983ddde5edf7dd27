/**
 * The node states a cluster holds, by key, in insertion order: a read-only Map to its readers,
 * without a hash table per cluster. A key's entry is found through its process-wide serial
 * (`../common/_key_serial.ts`) and an Int32Array of positions, 4 bytes per key of the process
 * plus 8 per entry for the order, where a Map cost ~40 bytes per entry; a simulation holds one
 * cluster per node and one entry per (node, peer).
 *
 * @module
 */
import { keySerial, keySerialGeneration, knownKeySerial } from "../common/_key_serial.ts";

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
  /** Position in `#order` + 1 by key serial (0: none), for serials of `#generation`. */
  #positions: Int32Array = new Int32Array(0);
  #generation = keySerialGeneration();

  /** Number of entries. */
  get size(): number {
    return this.#order.length;
  }

  /** The entry of `key`. */
  get(key: string): T | undefined {
    if (this.#generation !== keySerialGeneration()) this.#reindex();
    const serial = knownKeySerial(key);
    if (serial === undefined) return undefined;
    const e = this.#order[(this.#positions[serial] ?? 0) - 1];
    // A position stays valid only while its entry does; the key check keeps it honest.
    return e !== undefined && e.key === key ? e : undefined;
  }

  /** Whether `key` has an entry. */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Adds `entry`, or replaces the entry with its key in place. */
  set(entry: T): void {
    const serial = keySerial(entry.key);
    if (this.#generation !== keySerialGeneration()) this.#reindex();
    const at = (this.#positions[serial] ?? 0) - 1;
    const old = this.#order[at];
    if (old !== undefined && old.key === entry.key) {
      this.#order[at] = entry;
      return;
    }
    this.#order.push(entry);
    this.#place(serial, this.#order.length - 1);
  }

  /** Removes the entry of `key`; returns whether there was one. */
  delete(key: string): boolean {
    const e = this.get(key); // current generation from here on
    if (e === undefined) return false;
    const order = this.#order;
    const at = this.#positions[knownKeySerial(key)!]! - 1;
    order.splice(at, 1);
    this.#positions[knownKeySerial(key)!] = 0;
    for (let i = at; i < order.length; i++) this.#positions[knownKeySerial(order[i]!.key)!] = i + 1;
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

  #place(serial: number, at: number): void {
    if (serial >= this.#positions.length) {
      const n = this.#positions.length;
      const grown = new Int32Array(Math.max(16, serial + 1, n + (n >>> 2)));
      grown.set(this.#positions);
      this.#positions = grown;
    }
    this.#positions[serial] = at + 1;
  }

  /** Rebuilds the positions after the serials started a new generation. */
  #reindex(): void {
    this.#generation = keySerialGeneration();
    this.#positions = new Int32Array(0);
    const order = this.#order;
    for (let i = 0; i < order.length; i++) this.#place(keySerial(order[i]!.key), i);
  }
}
