/**
 * The WASM instance's memory and its layout. The codec's WASM module (built from `wasm/assembly/`
 * by `wasm/build.ts` and inlined in the generated `_wasm.ts`) is one instance per process, imported only inside `src/codec/`: by this module
 * and by the role modules (`_decode.ts`, `_encode.ts`, `_delta_writer.ts`, `_phi_table.ts`),
 * which call its exports directly and work on its memory through the views and regions defined
 * here. No address leaves `src/codec/`.
 *
 * Layout, from the module's heap base up:
 *
 * | region | size | use |
 * |---|---|---|
 * | `STATE` | 64 | the active delta writer's state |
 * | `IN` | 65 536 | the datagram being decoded |
 * | `WPEND` | {@link WPEND_SIZE} | the active delta writer's pending op bytes |
 * | intern table | fixed | the decoder's id intern table (wasm/assembly/intern.ts) |
 * | regions | grows | {@link allocRegion}: digest plans, phi tables, phi ring chunks |
 * | scratch | grows | from {@link SCRATCH} up: one synchronous call's working memory |
 *
 * @module
 */
import * as wasm from "./_wasm.ts";

const memory = wasm.memory;

let viewBuffer: ArrayBuffer | undefined;
/** Byte view of the WASM memory (current after {@link refreshViews} or {@link ensure}). */
export let u8: Uint8Array = new Uint8Array(0);
/** u32 view of the WASM memory (current after {@link refreshViews} or {@link ensure}). */
export let u32: Uint32Array = new Uint32Array(0);
/** u64 view of the WASM memory (current after {@link refreshViews} or {@link ensure}). */
export let u64: BigUint64Array = new BigUint64Array(0);

/** Makes {@link u8}, {@link u32} and {@link u64} views of the current memory buffer. */
export function refreshViews(): void {
  // Growing the memory detaches its old buffer, which empties every view of it: a non-empty view
  // is current (and checking it is much cheaper than reading `memory.buffer`).
  if (u8.byteLength !== 0) return;
  const buffer = memory.buffer as ArrayBuffer;
  if (buffer !== viewBuffer) {
    viewBuffer = buffer;
    u8 = new Uint8Array(buffer);
    u32 = new Uint32Array(buffer);
    u64 = new BigUint64Array(buffer);
  }
}

/** Grows the WASM memory to at least `bytes` bytes and refreshes the views. */
export function ensure(bytes: number): void {
  if (memory.buffer.byteLength < bytes && wasm.growTo(bytes) === 0) {
    throw new RangeError(`cannot grow WASM memory to ${bytes} bytes`);
  }
  refreshViews();
}

/** The WASM memory's current buffer (replaced whenever the memory grows). */
export function memoryBuffer(): ArrayBuffer {
  return memory.buffer as ArrayBuffer;
}

/** `n` rounded up to a multiple of 64. */
export const align64 = (n: number): number => (n + 63) & ~63;

const HEAP = Number(wasm.heapBase());
/** Delta writer state (64 bytes). */
export const STATE: number = HEAP;
// HEAP + 64 .. HEAP + 128: spare.
/** Datagram being decoded (at most 65 507 bytes). */
export const IN: number = HEAP + 128;
/** Pending op bytes of the active delta writer: at most one block (16 384) plus one op with its
 * encodeInto windows (3 + 65 536 + 2 + 65 536 + 9). */
export const WPEND: number = align64(IN + 65536);
/** Size of the {@link WPEND} region. */
export const WPEND_SIZE: number = 16384 + 131200;
/** The decoder's id intern table (wasm/assembly/intern.ts), fixed size. */
const INTERN = align64(WPEND + WPEND_SIZE);
/** Scratch for one synchronous call (decode records, op stream, digest encoding, a run of
 * key-values). Its contents are dead between calls, so {@link allocRegion} moves it up past
 * each new region. */
export let SCRATCH: number = align64(INTERN + wasm.internRegionBytes());
/** Room kept above {@link SCRATCH} whenever it moves. */
const SCRATCH_MIN = 65536;
ensure(SCRATCH + SCRATCH_MIN);
wasm.internSetup(INTERN);

// ---------------------------------------------------------------- regions

/** Freed regions by size (a multiple of 64). WASM memory never shrinks, so freed regions are
 * reused before memory grows: memory stays bounded by the peak of regions held at once. */
const spareRegions = new Map<number, number[]>();

/** Reserves a region of `align64(bytes)` bytes, 64-byte aligned, that stays valid until
 * {@link freeRegion}: a freed region of that size if there is one, else fresh memory below the
 * scratch area (which moves up). Contents unspecified. The one allocator of the codec: digest
 * plans, phi tables, phi ring chunk blocks and the phi batch buffer come from here. Callers that
 * want their regions reused round `bytes` to a few sizes (plans and phi tables use powers of
 * two). */
export function allocRegion(bytes: number): number {
  const size = align64(bytes);
  const spare = spareRegions.get(size);
  if (spare !== undefined && spare.length > 0) return spare.pop()!;
  const at = SCRATCH;
  SCRATCH = align64(at + size);
  ensure(SCRATCH + SCRATCH_MIN);
  return at;
}

/** Returns a region of {@link allocRegion} (`bytes` as it was reserved with) for reuse. */
export function freeRegion(at: number, bytes: number): void {
  const size = align64(bytes);
  let list = spareRegions.get(size);
  if (list === undefined) spareRegions.set(size, list = []);
  list.push(at);
}
