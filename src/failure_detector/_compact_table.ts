/**
 * The failure detector's compact backend: every node's window in a fixed 100 bytes, whatever
 * `samplingWindowSize` is, instead of 8 bytes per stored interval (8.6 KB per peer once a
 * 1000-interval window is full, which is what a node holds for each peer in steady state).
 *
 * The window keeps the intervals' sum, not the intervals: they are grouped in blocks of
 * `B = ceil(samplingWindowSize / 8)` consecutive intervals, and the ring holds the sums of the
 * last 8 full blocks plus the running block. When one more interval would exceed the window, the
 * oldest block leaves the sum as a whole. So:
 *
 * - until the window first fills, the sum and the count are exactly chitchat's (the same
 *   additions in the same order as the reference, so phi is bit for bit the same);
 * - with a window of at most 8 intervals every block is one interval: exactly chitchat's ring;
 * - past that, the mean is over the last `W − B + 1 .. W` intervals instead of exactly the last
 *   `W` (875..1000 for chitchat's 1000): the same smoothed mean of recent intervals, its sample
 *   count moving by at most one block.
 *
 * phi is computed in plain TypeScript by `_phi.ts`, the arithmetic of `phiReference`.
 *
 * @module
 */
import { phiOf } from "./_phi.ts";

/** Blocks in a window's ring. */
const BLOCKS = 8;
/** f64 fields per slot: last heartbeat (NaN: none), sum of the stored intervals (s), sum of the
 * running block (s), then the ring of block sums. */
const F_LAST = 0;
const F_SUM = 1;
const F_CUR = 2;
const F_RING = 3;
const F_STRIDE = F_RING + BLOCKS;
/** u32 fields per slot: stored intervals, intervals in the running block, ring head (bits 0-7),
 * full blocks in the ring (bits 8-15), alive (bit 16). */
const U_COUNT = 0;
const U_FILL = 1;
const U_BITS = 2;
const U_STRIDE = 3;
const ALIVE = 1 << 16;

/** Bytes one slot takes (the whole per-node window).
 *
 * @example
 * ```ts
 * import { COMPACT_SLOT_BYTES } from "./_compact_table.ts";
 * console.log(COMPACT_SLOT_BYTES); // 100
 * ```
 */
export const COMPACT_SLOT_BYTES: number = F_STRIDE * 8 + U_STRIDE * 4;

/** Intervals per block for a window of `window` intervals.
 *
 * @example
 * ```ts
 * import { blockSize } from "./_compact_table.ts";
 * console.log(blockSize(1000), blockSize(8), blockSize(5)); // 125 1 1
 * ```
 */
export function blockSize(window: number): number {
  return Math.max(1, Math.ceil(window / BLOCKS));
}

/** The compact slot table, addressed by slot number like the WASM `PhiTable` (the failure
 * detector's `SlotTable` shape).
 *
 * @example
 * ```ts
 * import { CompactTable } from "./_compact_table.ts";
 * const t = new CompactTable();
 * t.grow(16, 0);
 * t.init(0);
 * for (let s = 0; s <= 3; s++) t.report(0, s * 1000, 10_000, 1000); // three 1 s intervals
 * t.computeAll(1, 4000, 5, 8);
 * console.log(t.isAlive(0), t.storedIntervals(0), t.phiAt(0, 4000, 5).toFixed(3)); // true 3 0.250
 * ```
 */
export class CompactTable {
  /** Slots that exist. */
  capacity = 0;
  #f64: Float64Array = new Float64Array(0);
  #u32: Uint32Array = new Uint32Array(0);

  /** Grows to `capacity` slots, keeping the first `used`. */
  grow(capacity: number, used: number): void {
    const f = new Float64Array(capacity * F_STRIDE);
    f.set(this.#f64.subarray(0, used * F_STRIDE));
    const u = new Uint32Array(capacity * U_STRIDE);
    u.set(this.#u32.subarray(0, used * U_STRIDE));
    this.#f64 = f;
    this.#u32 = u;
    this.capacity = capacity;
  }

  /** Intervals the window of `slot` holds now. */
  storedIntervals(slot: number): number {
    return this.#u32[slot * U_STRIDE + U_COUNT]!;
  }

  /** The stored intervals of `slot`: their sum in seconds and their number. */
  intervals(slot: number): { sumSecs: number; count: number } {
    return {
      sumSecs: this.#f64[slot * F_STRIDE + F_SUM]!,
      count: this.#u32[slot * U_STRIDE + U_COUNT]!,
    };
  }

  /** Records a heartbeat of `slot` at `nowMs`: the interval since the last one joins the window
   * when it is at most `maxIntervalMs`; the last-heartbeat time moves to `nowMs` either way. */
  report(slot: number, nowMs: number, maxIntervalMs: number, window: number): void {
    const f = this.#f64;
    const at = slot * F_STRIDE;
    const last = f[at + F_LAST]!;
    f[at + F_LAST] = nowMs;
    if (Number.isNaN(last)) return;
    const ms = nowMs > last ? nowMs - last : 0;
    if (ms > maxIntervalMs) return;
    const secs = ms / 1000;
    const u = this.#u32;
    const ua = slot * U_STRIDE;
    const b = blockSize(window);
    let count = u[ua + U_COUNT]!;
    let bits = u[ua + U_BITS]!;
    let head = bits & 0xff;
    let full = (bits >>> 8) & 0xff;
    let sum = f[at + F_SUM]!;
    if (count + 1 > window && full > 0) {
      // The oldest block leaves, then the interval joins (for one-interval blocks this is the
      // reference's `(sum - old) + secs`).
      const oldest = (head - full + BLOCKS) % BLOCKS;
      sum = (sum - f[at + F_RING + oldest]!) + secs;
      count -= b;
      full--;
    } else {
      sum = sum + secs;
    }
    count++;
    f[at + F_SUM] = sum;
    let fill = u[ua + U_FILL]! + 1;
    const cur = f[at + F_CUR]! + secs;
    if (fill === b) {
      f[at + F_RING + head] = cur;
      head = (head + 1) % BLOCKS;
      full++;
      fill = 0;
      f[at + F_CUR] = 0;
    } else {
      f[at + F_CUR] = cur;
    }
    u[ua + U_COUNT] = count;
    u[ua + U_FILL] = fill;
    bits = (bits & ALIVE) | (full << 8) | head;
    u[ua + U_BITS] = bits;
  }

  /** {@link CompactTable.report} of `slots[i]` at `times[i]` for `i < count`, in order. */
  reportMany(
    slots: Uint32Array,
    times: Float64Array,
    count: number,
    maxIntervalMs: number,
    window: number,
  ): void {
    for (let i = 0; i < count; i++) this.report(slots[i]!, times[i]!, maxIntervalMs, window);
  }

  /** Drops the intervals of `slot`; keeps its last heartbeat. */
  clear(slot: number): void {
    const f = this.#f64;
    const at = slot * F_STRIDE;
    f[at + F_SUM] = 0;
    f[at + F_CUR] = 0;
    const u = this.#u32;
    const ua = slot * U_STRIDE;
    u[ua + U_COUNT] = 0;
    u[ua + U_FILL] = 0;
    u[ua + U_BITS] = u[ua + U_BITS]! & ALIVE;
  }

  /** Empties `slot`: no interval, no heartbeat, not alive. */
  reset(slot: number): void {
    this.clear(slot);
    this.#f64[slot * F_STRIDE + F_LAST] = NaN;
    this.#u32[slot * U_STRIDE + U_BITS] = 0;
  }

  /** Makes `slot` empty (never used, or already reset). */
  init(slot: number): void {
    this.reset(slot);
  }

  /** Sets the alive flag of slots `0..slots`: phi defined and at most `threshold`. */
  computeAll(slots: number, nowMs: number, priorSecs: number, threshold: number): void {
    const f = this.#f64;
    const u = this.#u32;
    for (let i = 0; i < slots; i++) {
      const ua = i * U_STRIDE;
      const count = u[ua + U_COUNT]!;
      let alive = false;
      if (count > 0) {
        const at = i * F_STRIDE;
        alive = phiOf(f[at + F_SUM]!, count, f[at + F_LAST]!, nowMs, priorSecs) <= threshold;
      }
      const bits = u[ua + U_BITS]!;
      u[ua + U_BITS] = alive ? bits | ALIVE : bits & ~ALIVE;
    }
  }

  /** The alive flag of `slot` as the last {@link CompactTable.computeAll} set it. */
  isAlive(slot: number): boolean {
    return (this.#u32[slot * U_STRIDE + U_BITS]! & ALIVE) !== 0;
  }

  /** phi of `slot` at `nowMs` (NaN without a stored interval). */
  phiAt(slot: number, nowMs: number, priorSecs: number): number {
    const count = this.#u32[slot * U_STRIDE + U_COUNT]!;
    if (count === 0) return NaN;
    const at = slot * F_STRIDE;
    return phiOf(this.#f64[at + F_SUM]!, count, this.#f64[at + F_LAST]!, nowMs, priorSecs);
  }
}
