/**
 * Small integers for node keys, shared by every failure detector of the process: a detector
 * finds a key's slot through an Int32Array indexed by the key's serial instead of a Map of its
 * own. Several nodes in one process (simulations, tests) then hold 4 bytes per (node, peer)
 * for the index instead of a Map entry (~40 bytes each in Deno); a single node pays one Map
 * either way.
 *
 * Bounded: past {@link MAX_KEY_SERIALS} keys the table is cleared and its generation moves;
 * holders of serials rebuild their index when they see a new generation.
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
 * import { keySerial, knownKeySerial } from "./_key_serial.ts";
 * const s = keySerial("serial-example|127.0.0.1|1");
 * console.log(knownKeySerial("serial-example|127.0.0.1|1") === s); // true
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

/** The serial of `key` if it has one (never registers).
 *
 * @example
 * ```ts
 * import { knownKeySerial } from "./_key_serial.ts";
 * console.log(knownKeySerial("never-registered")); // undefined
 * ```
 */
export function knownKeySerial(key: string): number | undefined {
  return serials.get(key);
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
