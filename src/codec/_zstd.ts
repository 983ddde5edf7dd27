/**
 * zstd over node:zlib, with one reused context per direction where the runtime allows it.
 *
 * node:zlib's one-shot `zstdDecompressSync` creates and frees a decompression context per call,
 * which costs about twice as much as decompressing a 16 KiB block. Where the runtime's zstd
 * stream object carries a native handle like Node's (`_handle.writeSync`, `_writeState`), one
 * context is kept and reused, reading from and writing to WASM memory directly. It is checked
 * against the one-shot API when first opened, and dropped on any error or unexpected state; the
 * caller then uses the one-shot API, which also produces the error to report.
 *
 * Which runtimes get the reuse is decided by name, never by trying: a native handle called with
 * arguments its binding does not take aborts the process (uncatchable). Decompression reuse runs
 * on Deno and Node (same `writeSync` signature); compression reuse re-initialises the handle with
 * Deno's `init(state, callback, pledgedSrcSize)`, which Node's binding rejects with a native
 * assertion, so it runs on Deno only. Bun's node:zlib has no such handle. Everywhere else the
 * one-shot `zstdCompressSync`/`zstdDecompressSync` give the same bytes (tested).
 *
 * Loading this module on a runtime whose node:zlib has no zstd (Node before 22.15 and 23.8) throws
 * an {@link UnsupportedRuntimeError} naming the version needed.
 *
 * @module
 */
import * as zlib from "node:zlib";
import { UnsupportedRuntimeError } from "../common/errors.ts";
import { runtime } from "../common/_runtime.ts";
import { u8 } from "./_memory.ts";

if (typeof zlib.zstdCompressSync !== "function" || typeof zlib.zstdDecompressSync !== "function") {
  const shown = runtime.name === "unknown" ? "this runtime" : `${runtime.name} ${runtime.version}`;
  throw new UnsupportedRuntimeError(
    `hearsay needs zstd in node:zlib, which ${shown} lacks: use Node 22.15 or later (23.8 or ` +
      "later on the 23 line), Deno 2, or Bun 1.2.17 or later",
  );
}

const { constants: zlibConstants, createZstdCompress, createZstdDecompress } = zlib;

/** node:zlib's one-shot compression (the codec imports zstd only from here, after the check
 * above). */
export const zstdCompressSync: typeof zlib.zstdCompressSync = zlib.zstdCompressSync;
/** node:zlib's one-shot decompression. */
export const zstdDecompressSync: typeof zlib.zstdDecompressSync = zlib.zstdDecompressSync;

/** Whether this runtime's node:zlib handles may be driven directly (decided by runtime name:
 * probing a native handle can abort the process). */
export const zstdReuse: { readonly decompress: boolean; readonly compress: boolean } = {
  decompress: runtime.name === "deno" || runtime.name === "node",
  compress: runtime.name === "deno",
};

/** Options of node:zlib's one-shot zstd calls. */
export type ZstdOptions = Parameters<typeof zstdCompressSync>[1];

interface ZstdHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    output: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
}

interface ReusedZstd {
  readonly stream: { destroy?(): void };
  readonly handle: ZstdHandle;
  /** `[output bytes left, input bytes left]` after each `writeSync`. */
  readonly state: Uint32Array;
}

const ZSTD_E_END: number = (zlibConstants as Record<string, number>).ZSTD_e_end ?? 2;
let reusedZstd: ReusedZstd | null = null;
/** False once the runtime turned out not to support the reuse (then never tried again). */
let reusedZstdWorks = zstdReuse.decompress;

/** The native handle and write state inside a node:zlib stream, which the reuse drives
 * directly; null (and the stream destroyed) when this runtime's stream does not have them
 * (`init` too when `needsInit`). */
function zstdInternals<H>(
  created: unknown,
  needsInit: boolean,
): { stream: { destroy?(): void }; handle: H; state: Uint32Array } | null {
  const stream = created as {
    _handle?: { writeSync?: unknown; init?: unknown };
    _writeState?: unknown;
    on?(event: string, f: () => void): void;
    destroy?(): void;
  };
  stream.on?.("error", () => {});
  const handle = stream._handle;
  const state = stream._writeState;
  if (
    typeof handle?.writeSync !== "function" || (needsInit && typeof handle.init !== "function") ||
    !(state instanceof Uint32Array) || state.length < 2
  ) {
    stream.destroy?.();
    return null;
  }
  return { stream, handle: handle as H, state };
}

function openReusedZstd(): ReusedZstd | null {
  try {
    const z: ReusedZstd | null = zstdInternals<ZstdHandle>(createZstdDecompress(), false);
    if (z === null) return null;
    const { stream, state } = z;
    // Self-check: the reused context must give what the one-shot API gives, twice in a row.
    const sample = new TextEncoder().encode("hearsay zstd self-check ".repeat(40));
    const frame = new Uint8Array(zstdCompressSync(sample));
    const out = new Uint8Array(sample.length + 1);
    for (let round = 0; round < 2; round++) {
      out.fill(0);
      z.handle.writeSync(ZSTD_E_END, frame, 0, frame.length, out, 0, out.length);
      const n = out.length - state[0]!;
      if (state[1] !== 0 || n !== sample.length || !sample.every((b, i) => out[i] === b)) {
        stream.destroy?.();
        return null;
      }
    }
    return z;
  } catch {
    return null;
  }
}

function dropReusedZstd(): void {
  try {
    reusedZstd?.stream.destroy?.();
  } catch {
    // Nothing to do: the context is abandoned either way.
  }
  reusedZstd = null;
}

/** After a failed frame: resets the reused context for the next frame (a fresh session, same
 * parameters); drops it when the reset fails. Cheap, so a flood of bad blocks costs no new
 * context per block (a dropped one is only freed when the event loop turns). */
function resetReusedZstd(): void {
  const handle = reusedZstd?.handle as { reset?: unknown } | undefined;
  try {
    if (typeof handle?.reset !== "function") throw new Error("no reset");
    (handle as { reset(): void }).reset();
  } catch {
    dropReusedZstd();
  }
}

let reusedZstdOpenCount = 0;

/** How many times the reused zstd decompression context was opened (diagnostics and tests).
 *
 * @example
 * ```ts
 * import { reusedZstdOpens } from "./_zstd.ts";
 * import { decodeMessage, encodeMessage } from "./message.ts";
 * const kv = { key: "k", value: "v".repeat(2000), version: 1n, status: "set" as const };
 * const id = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
 * const ack = encodeMessage({ type: "ack", delta: { nodeDeltas: [{ chitchatId: id, lastGcVersion: 0n, fromVersionExcluded: 0n, keyValues: [kv], maxVersion: 1n }] } });
 * const before = reusedZstdOpens();
 * decodeMessage(ack); // a compressed block
 * decodeMessage(ack);
 * console.log(reusedZstdOpens() - before <= 1); // true: one context (at most) for both
 * ```
 */
export function reusedZstdOpens(): number {
  return reusedZstdOpenCount;
}

/** Decompresses the one zstd frame at `src` (`n` bytes) to `dst` (room for `cap` bytes) with the
 * reused context. Returns the decompressed size, or -1 when the caller must use the one-shot
 * API (no reusable context, an error, or output that does not fit below `cap`). */
export function reusedZstdDecompress(src: number, n: number, dst: number, cap: number): number {
  if (reusedZstd === null) {
    if (!reusedZstdWorks) return -1;
    reusedZstd = openReusedZstd();
    reusedZstdOpenCount++;
    if (reusedZstd === null) {
      reusedZstdWorks = false;
      return -1;
    }
  }
  const z = reusedZstd;
  try {
    z.handle.writeSync(ZSTD_E_END, u8, src, n, u8, dst, cap);
  } catch {
    resetReusedZstd();
    return -1;
  }
  const outLeft = z.state[0]!;
  if (z.state[1] !== 0 || outLeft === 0) {
    resetReusedZstd();
    return -1;
  }
  return cap - outLeft;
}

// Compression: the one-shot API also creates a context per block. A compression stream's handle
// can be re-initialised with a new pledged source size (which the frame header records, as
// chitchat's frames do) and reused; it is only used after it produced exactly the one-shot
// API's bytes on sample blocks, and dropped on any error.

/** Options of a one-shot compression like chitchat's: level 3, source size in the header. */
export function zstdLevel3(n: number): ZstdOptions {
  return {
    params: { [zlibConstants.ZSTD_c_compressionLevel]: 3 },
    pledgedSrcSize: n,
  } as ZstdOptions;
}

interface ZstdCompressHandle extends ZstdHandle {
  init(state: Uint32Array, callback: () => void, pledgedSrcSize: number): void;
}

interface ReusedZstdCompress {
  readonly stream: { destroy?(): void };
  readonly handle: ZstdCompressHandle;
  readonly state: Uint32Array;
}

let reusedCompressor: ReusedZstdCompress | null = null;
let reusedCompressorWorks = zstdReuse.compress;
/** Compressed output of the reused compressor (valid until its next use). */
const zout = new Uint8Array(65536);
const noop = (): void => {};

function compressWith(z: ReusedZstdCompress, src: Uint8Array, off: number, n: number): number {
  z.handle.init(z.state, noop, n);
  z.handle.writeSync(ZSTD_E_END, src, off, n, zout, 0, zout.length);
  const outLeft = z.state[0]!;
  if (z.state[1] !== 0 || outLeft === 0) return -1;
  return zout.length - outLeft;
}

function openReusedCompressor(): ReusedZstdCompress | null {
  try {
    const z: ReusedZstdCompress | null = zstdInternals<ZstdCompressHandle>(
      createZstdCompress(zstdLevel3(16384)),
      true,
    );
    if (z === null) return null;
    const stream = z.stream;
    // Self-check on blocks of several sizes and contents, in sequence.
    const text = new TextEncoder().encode(
      Array.from({ length: 2000 }, (_, i) => `worker:${(i * 7919) % 1000}=${i * i};`).join(""),
    );
    for (const size of [16384, 1000, 16384, 7000]) {
      const sample = text.subarray(size === 16384 ? 100 : 0, (size === 16384 ? 100 : 0) + size);
      const want = zstdCompressSync(sample, zstdLevel3(sample.length));
      const got = compressWith(z, sample, 0, sample.length);
      if (got !== want.length || !want.every((b, i) => zout[i] === b)) {
        stream.destroy?.();
        return null;
      }
    }
    return z;
  } catch {
    return null;
  }
}

/** Compresses `n` bytes of WASM memory at `src` like chitchat (level 3, pledged size) with the
 * reused compressor. Returns a view of the frame (valid until the next call), or null when the
 * caller must use the one-shot API. */
export function reusedZstdCompress(src: number, n: number): Uint8Array | null {
  if (reusedCompressor === null) {
    if (!reusedCompressorWorks) return null;
    reusedCompressor = openReusedCompressor();
    if (reusedCompressor === null) {
      reusedCompressorWorks = false;
      return null;
    }
  }
  let size = -1;
  try {
    size = compressWith(reusedCompressor, u8, src, n);
  } catch {
    size = -1;
  }
  if (size < 0) {
    try {
      reusedCompressor.stream.destroy?.();
    } catch {
      // Abandoned either way.
    }
    reusedCompressor = null;
    return null;
  }
  return zout.subarray(0, size);
}

/** Whether a reused context is open right now, per direction (diagnostics and tests: after a
 * compressed block was written and read, this shows which path this runtime took).
 *
 * @example
 * ```ts
 * import { reusedZstdInUse, zstdReuse } from "./_zstd.ts";
 * import { decodeDelta, encodeDelta } from "./delta.ts";
 * const kv = (i: number) => ({ key: `k${i}`, value: "v".repeat(50), version: BigInt(i + 1), status: "set" as const });
 * const id = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
 * decodeDelta(encodeDelta({ nodeDeltas: [{ chitchatId: id, lastGcVersion: 0n, fromVersionExcluded: 0n, keyValues: Array.from({ length: 300 }, (_, i) => kv(i)), maxVersion: 300n }] }));
 * console.log(reusedZstdInUse().compress === zstdReuse.compress); // true
 * ```
 */
export function reusedZstdInUse(): { decompress: boolean; compress: boolean } {
  return { decompress: reusedZstd !== null, compress: reusedCompressor !== null };
}
