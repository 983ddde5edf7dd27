/**
 * The failure detector's phi tables in WASM memory (wasm/assembly/phi.ts): one table of 64-byte
 * slots per detector, the interval rings behind the slots, and phi with the alive flag computed
 * for a whole table in one call. `src/failure_detector/` uses {@link PhiTable} by slot number;
 * addresses, layout and views stay here.
 *
 * @module
 */
import * as wasm from "./_wasm.ts";
import { allocRegion, ensure, freeRegion, memoryBuffer, u32, u8 } from "./_memory.ts";

/** Bytes per phi slot and per ring chunk; must match wasm/assembly/phi.ts. */
const SLOT_BYTES = 64;
const CHUNK_BYTES = 128;
if (wasm.phiSlotBytes() !== SLOT_BYTES || wasm.phiChunkBytes() !== CHUNK_BYTES) {
  throw new Error(
    `hearsay.wasm phi slots/chunks are ${wasm.phiSlotBytes()}/${wasm.phiChunkBytes()} bytes, ` +
      `expected ${SLOT_BYTES}/${CHUNK_BYTES}`,
  );
}
/** u32 index of the alive flag within a slot (+28 bytes). */
const U_ALIVE = 7;
/** u32 index of a slot's interval count. */
const U_COUNT = 6;
/** The report call, bound once: called for every heartbeat increase. */
const phiReport = wasm.phiReport;
/** Slot numbers and times of one `reportMany` call go through this region (reserved on first
 * use): `BATCH` u32 slot numbers, then `BATCH` f64 times. */
const BATCH = 4096;
let batchAt = 0;
/** Ring chunks are cut from regions of this size (8192 chunks), never freed: chunks go back to
 * the WASM module's free list. */
const CHUNK_BLOCK = 1 << 20;

function addChunkBlock(): void {
  wasm.phiChunkBlock(allocRegion(CHUNK_BLOCK), CHUNK_BLOCK);
}

/** Ring chunks in use, over all tables (diagnostics and tests).
 *
 * @example
 * ```ts
 * import { PhiTable, phiChunksInUse } from "./_phi_table.ts";
 * const t = new PhiTable({});
 * t.grow(16, 0);
 * t.init(0);
 * const before = phiChunksInUse();
 * for (let s = 0; s < 3; s++) t.report(0, s * 1000, 10_000, 100);
 * console.log(phiChunksInUse() - before); // 1 (two intervals, one chunk)
 * t.reset(0);
 * console.log(phiChunksInUse() - before); // 0
 * ```
 */
export function phiChunksInUse(): number {
  return wasm.phiChunksInUse();
}

/** What the finalizer needs to give a table back: its region and how many slots were used. */
interface Held {
  at: number;
  capacity: number;
  used: number;
}

const finalizer = new FinalizationRegistry<Held>((held) => {
  if (held.capacity === 0) return;
  wasm.phiReleaseTable(held.at, held.used);
  freeRegion(held.at, held.capacity * SLOT_BYTES);
});

/** A failure detector's table of phi slots in WASM memory, addressed by slot number. Slots
 * `0..capacity` exist; a slot must be {@link PhiTable.init}ed before its first use. The table
 * and its ring memory go back to the allocator when its owner is garbage collected.
 *
 * @example
 * ```ts
 * import { PhiTable } from "./_phi_table.ts";
 * const t = new PhiTable({});
 * t.grow(16, 0);
 * t.init(0);
 * for (let s = 0; s <= 3; s++) t.report(0, s * 1000, 10_000, 100); // three 1 s intervals
 * console.log(t.computeAll(1, 4000, 5, 8), t.isAlive(0)); // 1 true
 * // 1 s of silence over a smoothed mean of (3 + 5 · 5) / (3 + 5) = 3.5 s:
 * console.log(t.phiAt(0, 4000, 5).toFixed(4)); // 0.2857
 * ```
 */
export class PhiTable {
  /** Shared with the finalizer; updated when the table moves or hands out slots. */
  readonly #held: Held = { at: 0, capacity: 0, used: 0 };
  /** u32 view of the table (empty when the memory grew since it was made). */
  #u32: Uint32Array = new Uint32Array(0);

  /** Creates an empty table (capacity 0) that is released when `owner` is collected. */
  constructor(owner: object) {
    finalizer.register(owner, this.#held);
  }

  /** Number of slots. */
  get capacity(): number {
    return this.#held.capacity;
  }

  #views(): void {
    // Growing WASM memory detaches the old buffer and empties its views: a non-empty view is
    // current (much cheaper to check than reading the memory's buffer).
    if (this.#u32.length !== 0) return;
    const { at, capacity } = this.#held;
    this.#u32 = new Uint32Array(memoryBuffer(), at, capacity * (SLOT_BYTES / 4));
  }

  /** Grows to `capacity` slots (a power of two, so that released tables are reused), keeping
   * the contents of slots `0..used`. */
  grow(capacity: number, used: number): void {
    const old = { ...this.#held };
    const at = allocRegion(capacity * SLOT_BYTES);
    u8.copyWithin(at, old.at, old.at + used * SLOT_BYTES);
    this.#held.at = at;
    this.#held.capacity = capacity;
    this.#u32 = new Uint32Array(0);
    if (old.capacity !== 0) freeRegion(old.at, old.capacity * SLOT_BYTES);
  }

  /** Records a heartbeat of `slot` at `nowMs` (see `phiReport` in wasm/assembly/phi.ts):
   * the interval since the previous one is stored when at most `maxIntervalMs`, in a ring of
   * at most `window` intervals. */
  report(slot: number, nowMs: number, maxIntervalMs: number, window: number): void {
    const at = this.#held.at + slot * SLOT_BYTES;
    if (phiReport(at, nowMs, maxIntervalMs, window) === 0) return;
    addChunkBlock();
    if (phiReport(at, nowMs, maxIntervalMs, window) !== 0) {
      throw new RangeError("phi table: no ring chunk after a new block");
    }
  }

  /** {@link PhiTable.report} of slot `slots[i]` at `times[i]` for `i < count`, in order (one
   * call into WASM per 4096 reports). */
  reportMany(
    slots: Uint32Array,
    times: Float64Array,
    count: number,
    maxIntervalMs: number,
    window: number,
  ): void {
    const table = this.#held.at;
    let done = 0;
    while (done < count) {
      const n = Math.min(count - done, BATCH);
      if (batchAt === 0) batchAt = allocRegion(BATCH * 12);
      ensure(batchAt + BATCH * 12);
      const timesAt = batchAt + BATCH * 4;
      u32.set(slots.subarray(done, done + n), batchAt >>> 2);
      new Float64Array(memoryBuffer(), timesAt, n).set(times.subarray(done, done + n));
      let at = 0;
      let fresh = false;
      while (at < n) {
        const got = wasm.phiReportBatch(
          table,
          batchAt + at * 4,
          timesAt + at * 8,
          n - at,
          maxIntervalMs,
          window,
        );
        if (got === 0 && fresh) throw new RangeError("phi table: no ring chunk after a new block");
        at += got;
        fresh = at < n;
        if (fresh) addChunkBlock();
      }
      done += n;
    }
  }

  /** Drops the intervals of `slot` (returning their ring memory); keeps its last heartbeat. */
  clear(slot: number): void {
    wasm.phiClear(this.#held.at + slot * SLOT_BYTES);
  }

  /** Empties `slot`: no interval, no heartbeat. */
  reset(slot: number): void {
    wasm.phiResetSlot(this.#held.at + slot * SLOT_BYTES);
  }

  /** Makes `slot` empty without reading it (a slot never used, or already reset: its memory may
   * hold anything). */
  init(slot: number): void {
    if (slot >= this.#held.used) this.#held.used = slot + 1;
    wasm.phiInitSlot(this.#held.at + slot * SLOT_BYTES);
  }

  /** Computes phi and the alive flag (phi defined and at most `threshold`) of slots
   * `0..slots`; returns how many are alive. Read the flags with {@link PhiTable.isAlive}. */
  computeAll(slots: number, nowMs: number, priorSecs: number, threshold: number): number {
    return wasm.phiComputeAll(this.#held.at, slots, nowMs, priorSecs, threshold);
  }

  /** The alive flag of `slot` as the last {@link PhiTable.computeAll} set it. */
  isAlive(slot: number): boolean {
    if (this.#u32.length === 0) this.#views();
    return this.#u32[slot * (SLOT_BYTES / 4) + U_ALIVE] === 1;
  }

  /** The stored intervals of `slot`: their sum in seconds and their number. */
  intervals(slot: number): { sumSecs: number; count: number } {
    const at = this.#held.at + slot * SLOT_BYTES;
    ensure(at + SLOT_BYTES);
    return {
      sumSecs: new Float64Array(memoryBuffer(), at, 1)[0]!,
      count: u32[(at >>> 2) + U_COUNT]!,
    };
  }

  /** phi of `slot` now (NaN when it has no interval). */
  phiAt(slot: number, nowMs: number, priorSecs: number): number {
    return wasm.phiAt(this.#held.at, slot, nowMs, priorSecs);
  }
}
