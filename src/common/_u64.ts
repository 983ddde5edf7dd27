/**
 * Compact u64 values: a number while it is exact (|v| ≤ 2^53 − 1: a small integer takes no
 * memory of its own, a bigint is a heap object per value), the bigint itself beyond. Equal
 * values in this form compare equal with `===`, and a number compares exactly with a bigint.
 *
 * @module
 */

/** A u64 in compact form (see the module doc). */
export type U64 = number | bigint;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The compact form of `v` (lossless).
 *
 * @example
 * ```ts
 * import { compactU64 } from "./_u64.ts";
 * console.log(compactU64(7n), compactU64(2n ** 64n - 1n)); // 7 18446744073709551615n
 * ```
 */
export function compactU64(v: bigint): U64 {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v;
}

/** The bigint of a compact u64.
 *
 * @example
 * ```ts
 * import { expandU64 } from "./_u64.ts";
 * console.log(expandU64(7), expandU64(9n)); // 7n 9n
 * ```
 */
export function expandU64(v: U64): bigint {
  return typeof v === "number" ? BigInt(v) : v;
}
