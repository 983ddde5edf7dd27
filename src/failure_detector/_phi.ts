/**
 * chitchat's phi arithmetic (PROTOCOL.md §8), once for every TypeScript path: the reference the
 * WASM kernel is checked against, the compact backend, and the failure-detection timeout. The
 * WASM kernel (wasm/assembly/phi.ts) performs the same operations in the same order, so results
 * are bit-identical.
 *
 * @module
 */

/** The smoothing prior's weight (chitchat's constant). */
export const PRIOR_WEIGHT = 5;

/** The smoothed mean heartbeat interval in seconds: `count` stored intervals summing to
 * `sumSecs`, plus {@link PRIOR_WEIGHT} intervals of `priorSecs`.
 *
 * @example
 * ```ts
 * import { smoothedMeanSecs } from "./_phi.ts";
 * console.log(smoothedMeanSecs(5, 5, 1)); // 1
 * ```
 */
export function smoothedMeanSecs(sumSecs: number, count: number, priorSecs: number): number {
  return (sumSecs + PRIOR_WEIGHT * priorSecs) / (count + PRIOR_WEIGHT);
}

/** phi for a window with at least one interval: the silence since `lastHeartbeatMs` (saturating
 * at 0) over {@link smoothedMeanSecs}.
 *
 * @example
 * ```ts
 * import { phiOf } from "./_phi.ts";
 * console.log(phiOf(5, 5, 0, 3_000, 1)); // 3
 * ```
 */
export function phiOf(
  sumSecs: number,
  count: number,
  lastHeartbeatMs: number,
  nowMs: number,
  priorSecs: number,
): number {
  const elapsedSecs = nowMs > lastHeartbeatMs ? (nowMs - lastHeartbeatMs) / 1000 : 0;
  return elapsedSecs / smoothedMeanSecs(sumSecs, count, priorSecs);
}
