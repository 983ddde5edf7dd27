/**
 * Small integers for node keys, shared by the whole process, and {@link KeySerialIndex}: a
 * key → small-integer index kept as an Int32Array by key serial instead of a Map of its own
 * (the failure detector's slots, the cluster state's positions). Several nodes in one process
 * (simulations, tests) then hold 4 bytes per (node, peer) for each index instead of a Map entry
 * (~40 bytes each in Deno); a single node pays one Map either way.
 *
 * Bounded: past {@link MAX_KEY_SERIALS} keys the table is cleared and its generation moves;
 * indexes rebuild themselves when they see a new generation.
 *
 * @module
 */

/** Keys the table holds before it starts again. */
export const MAX_KEY_SERIALS = 1 << 18;

const serials = new Map<string, number>();
let generation = 0;

/** The serial of `key`, registering it when it has none (which may start a new generation).
 *
 * @example
 * ```ts
 * import { keySerial } from "./_key_serial.ts";
 * const s = keySerial("serial-example|127.0.0.1|1");
 * console.log(keySerial("serial-example|127.0.0.1|1") === s); // true
 * ```
 */
export function keySerial(key: string): number {
  let s = serials.get(key);
  if (s === undefined) {
    if (serials.size >= MAX_KEY_SERIALS) {
      serials.clear();
      generation++;
    }
    s = serials.size;
    serials.set(key, s);
  }
  return s;
}

/** The table's generation: serials handed out in another generation mean nothing now.
 *
 * @example
 * ```ts
 * import { keySerial, keySerialGeneration } from "./_key_serial.ts";
 * const g = keySerialGeneration();
 * keySerial("generation-example");
 * console.log(keySerialGeneration() === g); // true (far from the bound)
 * ```
 */
export function keySerialGeneration(): number {
  return generation;
}

/** A key → small non-negative integer index whose owner keeps the reverse, `keyAt(value)`: an
 * Int32Array by key serial (value + 1; 0 for none), checked against the owner on every read so
 * that no stale entry can name another key's value, and rebuilt from the owner when the serials
 * start a new generation.
 *
 * @example
 * ```ts
 * import { KeySerialIndex } from "./_key_serial.ts";
 * const keys = ["index-a", "index-b"];
 * const index = new KeySerialIndex((i) => keys[i], () => keys.length);
 * keys.forEach((k, i) => index.set(k, i));
 * index.delete("index-a");
 * console.log(index.get("index-a"), index.get("index-b"), index.get("index-c")); // undefined 1 undefined
 * ```
 */
export class KeySerialIndex {
  #values: Int32Array = new Int32Array(0);
  #generation = generation;
  readonly #keyAt: (value: number) => string | undefined;
  readonly #count: () => number;

  /** An index over an owner that holds the key of value `v` at `keyAt(v)`, for
   * `v < count()`. */
  constructor(keyAt: (value: number) => string | undefined, count: () => number) {
    this.#keyAt = keyAt;
    this.#count = count;
  }

  /** The value of `key`, if it has one. */
  get(key: string): number | undefined {
    // A new generation first: the rebuild registers the owner's keys again.
    if (this.#generation !== generation) this.#rebuild();
    const serial = serials.get(key);
    if (serial === undefined) return undefined;
    const v = (this.#values[serial] ?? 0) - 1;
    return v >= 0 && this.#keyAt(v) === key ? v : undefined;
  }

  /** Records that `key` has `value` (the owner already holds `key` there). */
  set(key: string, value: number): void {
    const serial = keySerial(key);
    if (this.#generation !== generation) this.#rebuild(); // covers `key` too
    else this.#put(serial, value);
  }

  /** Forgets the value of `key`. */
  delete(key: string): void {
    const serial = serials.get(key);
    if (serial !== undefined && this.#generation === generation && serial < this.#values.length) {
      this.#values[serial] = 0;
    }
  }

  #put(serial: number, value: number): void {
    if (serial >= this.#values.length) {
      const n = this.#values.length;
      const grown = new Int32Array(Math.max(16, serial + 1, n + (n >>> 2)));
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[serial] = value + 1;
  }

  /** Rebuilds from the owner after the serials started a new generation (the bound on serials
   * is far above the keys one owner holds, so this registers no more than it). */
  #rebuild(): void {
    this.#generation = generation;
    this.#values = new Int32Array(0);
    const n = this.#count();
    for (let v = 0; v < n; v++) {
      const k = this.#keyAt(v);
      if (k !== undefined) this.#put(keySerial(k), v);
    }
  }
}
