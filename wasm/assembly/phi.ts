// Phi-accrual failure detector kernel: the interval ring buffers, and phi (with the alive flag)
// for every slot of a detector's table in one call.
//
// Each failure detector owns one table in this memory, a run of fixed-size slots (array of
// structs, so that growing a table is one copy and slot numbers stay valid):
//
//   slot i at table + i * 64 bytes
//     +0  f64  sum of the stored intervals, in seconds
//     +8  f64  last heartbeat time, in milliseconds (NaN: none yet)
//     +16 f64  output: phi (NaN: undefined, i.e. no stored interval)
//     +24 u32  number of stored intervals
//     +28 u32  output: 1 when phi is defined and <= the threshold, else 0
//     +32 u32  first chunk of the ring (0: none)
//     +36 u32  chunk holding the write position
//     +40 u32  write position (interval index) once the ring is full
//     +44 u32  1 once the ring holds a full window
//
// The intervals live in 128-byte chunks (15 f64 and the address of the next chunk at +120),
// chained from the slot's first chunk; once the window is full the chain is closed into a
// circle and the oldest interval is overwritten in place. Chunks come from one free list shared
// by every detector, fed with blocks that JavaScript reserves (`phiChunkBlock`); a heartbeat
// report touches only its slot and one chunk, and nothing lands on the JavaScript heap.
//
// src/codec/_memory.ts and _phi_table.ts place the tables and chunk blocks in the memory layout,
// and JavaScript reads phi and the alive flags back through typed-array views.
//
// The arithmetic is chitchat 0.10.1's (seconds; additive smoothing with prior weight 5) and is
// mirrored operation for operation by `phiReference` and the TypeScript backend in
// src/failure_detector/failure_detector.ts, so both give bit-identical results.

/** Bytes per slot. */
const PHI_SLOT_BYTES: u32 = 64;

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

// ---------------------------------------------------------------- interval rings

/** Intervals per chunk, and where a chunk keeps the next one's address. */
const PER_CHUNK: u32 = 15;
const NEXT: usize = 120;
/** Bytes per chunk. */
const CHUNK_BYTES: u32 = 128;

let freeChunks: usize = 0;
let bump: usize = 0;
let bumpEnd: usize = 0;
let chunksInUse: u32 = 0;

/** Bytes per chunk (JavaScript sizes its blocks with it). */
export function phiChunkBytes(): u32 {
  return CHUNK_BYTES;
}

/** Hands the kernel `bytes` (a multiple of 128) at `ptr` (8-byte aligned) to cut chunks from. */
export function phiChunkBlock(ptr: usize, bytes: u32): void {
  bump = ptr;
  bumpEnd = ptr + <usize>bytes;
}

/** Chunks held by rings, over all detectors. */
export function phiChunksInUse(): u32 {
  return chunksInUse;
}

function takeChunk(): usize {
  let c = freeChunks;
  if (c != 0) {
    freeChunks = <usize>load<u32>(c, NEXT);
  } else {
    if (bump + <usize>CHUNK_BYTES > bumpEnd) return 0;
    c = bump;
    bump += <usize>CHUNK_BYTES;
  }
  chunksInUse++;
  return c;
}

/** Number of chunks a ring of `count` intervals uses. */
@inline function chunksFor(count: u32): u32 {
  return (count + PER_CHUNK - 1) / PER_CHUNK;
}

/** Returns the ring's chunks to the free list and empties it (sum, count, ring); keeps the
 * last heartbeat. */
export function phiClear(p: usize): void {
  let c = <usize>load<u32>(p, 32);
  let n = chunksFor(load<u32>(p, 24));
  while (n > 0 && c != 0) {
    const next = <usize>load<u32>(c, NEXT);
    store<u32>(c, <u32>freeChunks, NEXT);
    freeChunks = c;
    chunksInUse--;
    c = next;
    n--;
  }
  store<f64>(p, 0.0);
  store<u32>(p, 0, 24);
  store<u32>(p, 0, 32);
  store<u32>(p, 0, 36);
  store<u32>(p, 0, 40);
  store<u32>(p, 0, 44);
}

/** Makes the slot at `p` empty (no interval, no heartbeat) without reading it: for a slot
 * handed out for the first time or already reset (its memory may hold anything). */
export function phiInitSlot(p: usize): void {
  memory.fill(p, 0, <usize>PHI_SLOT_BYTES);
  store<f64>(p, NaN, 8);
  store<f64>(p, NaN, 16);
}

/** Empties the slot at `p` (no interval, no heartbeat), returning its ring memory. */
export function phiResetSlot(p: usize): void {
  phiClear(p);
  phiInitSlot(p);
}

/** Empties every slot of a table of `slots` slots (for a detector that is dropped). */
export function phiReleaseTable(table: usize, slots: u32): void {
  for (let i: u32 = 0; i < slots; i++) phiClear(table + <usize>i * PHI_SLOT_BYTES);
}

/** Records a heartbeat of the slot at `p` at `nowMs`: the interval since the previous one
 * (saturated at 0) is stored if it is at most `maxIntervalMs`, the window holding at most
 * `window` intervals; the last-heartbeat time moves to now either way. Returns 0, or -1 when a
 * chunk is needed and none is left (nothing changed then: hand over a block and call again). */
export function phiReport(p: usize, nowMs: f64, maxIntervalMs: f64, window: u32): i32 {
  const last = load<f64>(p, 8);
  if (last == last) {
    const ms = nowMs > last ? nowMs - last : 0.0;
    if (ms <= maxIntervalMs) {
      const secs = ms / 1000.0;
      const sum = load<f64>(p);
      if (load<u32>(p, 44) != 0) {
        // Full: overwrite the oldest interval, at the write position.
        const c = <usize>load<u32>(p, 36);
        let at = load<u32>(p, 40);
        const slotInChunk = <usize>(at % PER_CHUNK) << 3;
        const old = load<f64>(c + slotInChunk);
        store<f64>(c + slotInChunk, secs);
        store<f64>(p, (sum - old) + secs);
        at++;
        if (at == window) {
          store<u32>(p, 0, 40);
          store<u32>(p, load<u32>(p, 32), 36);
        } else {
          store<u32>(p, at, 40);
          if (at % PER_CHUNK == 0) store<u32>(p, load<u32>(c, NEXT), 36);
        }
      } else {
        const count = load<u32>(p, 24);
        let c = <usize>load<u32>(p, 36);
        const slotInChunk = count % PER_CHUNK;
        if (slotInChunk == 0) {
          const fresh = takeChunk();
          if (fresh == 0) return -1;
          if (count == 0) store<u32>(p, <u32>fresh, 32);
          else store<u32>(c, <u32>fresh, NEXT);
          store<u32>(fresh, 0, NEXT);
          store<u32>(p, <u32>fresh, 36);
          c = fresh;
        }
        store<f64>(c + (<usize>slotInChunk << 3), secs);
        store<f64>(p, sum + secs);
        const n = count + 1;
        store<u32>(p, n, 24);
        if (n == window) {
          // Close the chain into a circle; the oldest interval is the first one.
          store<u32>(c, load<u32>(p, 32), NEXT);
          store<u32>(p, 1, 44);
          store<u32>(p, 0, 40);
          store<u32>(p, load<u32>(p, 32), 36);
        }
      }
    }
  }
  store<f64>(p, nowMs, 8);
  return 0;
}

/** Records heartbeats in order: the `count` slot numbers (u32) at `slots`, each at the time
 * (f64 ms) at the same index of `times`, in the table at `table` (see `phiReport`). Returns how
 * many were recorded: fewer than `count` when a chunk was needed and none is left (hand over a
 * block and go on from there). */
export function phiReportBatch(
  table: usize,
  slots: usize,
  times: usize,
  count: u32,
  maxIntervalMs: f64,
  window: u32,
): u32 {
  for (let i: u32 = 0; i < count; i++) {
    const p = table + <usize>load<u32>(slots + (<usize>i << 2)) * PHI_SLOT_BYTES;
    if (phiReport(p, load<f64>(times + (<usize>i << 3)), maxIntervalMs, window) < 0) return i;
  }
  return count;
}
