// Phi-accrual failure detector kernel: phi (and the alive flag) for every slot of a detector's
// table in one call.
//
// Each failure detector owns one table in this memory, a run of fixed-size slots (array of
// structs, so that growing a table is one copy and slot numbers stay valid):
//
//   slot i at table + i * 32 bytes
//     +0  f64  sum of the stored intervals, in seconds
//     +8  f64  last heartbeat time, in milliseconds (NaN: none yet)
//     +16 f64  output: phi (NaN: undefined, i.e. no stored interval)
//     +24 u32  number of stored intervals
//     +28 u32  output: 1 when phi is defined and <= the threshold, else 0
//
// src/wasm.ts places the tables in the memory layout (this module allocates nothing), and
// JavaScript writes sums, counts and last-heartbeat times through typed-array views and reads
// phi and the alive flags back. The interval ring buffers stay in JavaScript: only their
// running sum and length matter for phi.
//
// The arithmetic is chitchat 0.10.1's (seconds; additive smoothing with prior weight 5) and is
// mirrored operation for operation by `phiReference` in src/failure_detector.ts, so both give
// bit-identical results.

/** Bytes per slot. */
const PHI_SLOT_BYTES: u32 = 32;

/** Weight of the prior mean in the smoothed mean. */
const PRIOR_WEIGHT: f64 = 5.0;

/** Bytes per slot (JavaScript checks it against its own layout constant at load). */
export function phiSlotBytes(): u32 {
  return PHI_SLOT_BYTES;
}

// @ts-ignore: decorator
@inline
function phiOf(p: usize, nowMs: f64, priorSecs: f64): f64 {
  const count = load<u32>(p, 24);
  if (count == 0) return NaN;
  const last = load<f64>(p, 8);
  const elapsedSecs = nowMs > last ? (nowMs - last) / 1000.0 : 0.0;
  const mean = (load<f64>(p, 0) + PRIOR_WEIGHT * priorSecs) / (<f64>count + PRIOR_WEIGHT);
  return elapsedSecs / mean;
}

/** phi of slot `slot` of the table at `table`, at `nowMs` (NaN when it has no interval). */
export function phiAt(table: usize, slot: u32, nowMs: f64, priorSecs: f64): f64 {
  return phiOf(table + <usize>slot * PHI_SLOT_BYTES, nowMs, priorSecs);
}

/** Computes phi and the alive flag (phi defined and <= `threshold`) of slots `0..slots` of the
 * table at `table`, at `nowMs`. Returns how many are alive. */
export function phiComputeAll(
  table: usize,
  slots: u32,
  nowMs: f64,
  priorSecs: f64,
  threshold: f64,
): u32 {
  let p = table;
  const end = table + <usize>slots * PHI_SLOT_BYTES;
  let alive: u32 = 0;
  while (p < end) {
    const phi = phiOf(p, nowMs, priorSecs);
    const ok: u32 = phi <= threshold ? 1 : 0;
    store<f64>(p, phi, 16);
    store<u32>(p, ok, 28);
    alive += ok;
    p += PHI_SLOT_BYTES;
  }
  return alive;
}
