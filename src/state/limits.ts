/**
 * Resource limits of the replicated state: bounds that keep one hostile or buggy peer from
 * exhausting memory or CPU. `src/node/config.ts` re-exports them as part of the node's options.
 *
 * @module
 */

/** Bounds that keep one hostile or buggy peer from exhausting memory or CPU. Anything over a
 * bound is rejected whole (never half-applied) and counted in `metrics().rejected`.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
 * const tight: Limits = { ...DEFAULT_LIMITS, maxNodes: 100 };
 * console.log(tight.maxNodes, DEFAULT_LIMITS.maxKeysPerNode); // 100 100000
 * ```
 */
export interface Limits {
  /** Node states held (self included); digest entries about further nodes are ignored. */
  maxNodes: number;
  /** Records (tombstones included) held for one remote node; a node delta that would exceed
   * it is rejected. */
  maxKeysPerNode: number;
  /** UTF-8 bytes of keys + values held for one remote node. */
  maxBytesPerNode: number;
  /** UTF-8 bytes of one received value. */
  maxValueBytes: number;
  /** Entries in one received digest (a datagram holds at most ~1 600 anyway). */
  maxDigestEntries: number;
}

/** Default {@link Limits}: generous for real clusters (chitchat itself has none).
 *
 * | limit | default |
 * |---|---|
 * | maxNodes | 10 000 |
 * | maxKeysPerNode | 100 000 |
 * | maxBytesPerNode | 64 MiB |
 * | maxValueBytes | 65 535 (the wire's own bound) |
 * | maxDigestEntries | 4 096 |
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "./limits.ts";
 * console.log(DEFAULT_LIMITS.maxNodes, Object.isFrozen(DEFAULT_LIMITS)); // 10000 true
 * ```
 */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxNodes: 10_000,
  maxKeysPerNode: 100_000,
  maxBytesPerNode: 64 * 1024 * 1024,
  maxValueBytes: 65_535,
  maxDigestEntries: 4_096,
});
