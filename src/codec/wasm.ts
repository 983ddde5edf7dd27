/**
 * The one module that loads `hearsay.wasm` (built from `wasm/assembly/` by `wasm/build.ts`) and
 * wraps it. Nothing else imports the `.wasm` file, and no pointer leaves this module.
 *
 * Sections: memory layout, codec (decode, digest encode, delta writer). Other parts of the WASM
 * module add their own sections at the end.
 *
 * @module
 */
import * as wasm from "./hearsay.wasm";
import {
  constants as zlibConstants,
  createZstdCompress,
  createZstdDecompress,
  zstdCompressSync,
  zstdDecompressSync,
} from "node:zlib";
import { DecodeError, type DecodeErrorReason, EncodeError } from "../common/errors.ts";
import { BLOCK_THRESHOLD, MAX_DATAGRAM_SIZE } from "./wire.ts";
import { compareChitchatIds } from "../common/chitchat_id.ts";
import { formatIp, ipBytes } from "../common/socket_addr.ts";
import type {
  ChitchatId,
  ChitchatMessage,
  Delta,
  Digest,
  KeyStatus,
  KeyValueMutation,
  NodeDigest,
} from "../common/types.ts";

// ================================================================ memory layout

const memory = wasm.memory as WebAssembly.Memory;

let viewBuffer: ArrayBuffer | undefined;
let u8 = new Uint8Array(0);
let u32 = new Uint32Array(0);
let u64 = new BigUint64Array(0);

function refreshViews(): void {
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
function ensure(bytes: number): void {
  if (memory.buffer.byteLength < bytes && wasm.growTo(bytes) === 0) {
    throw new RangeError(`cannot grow WASM memory to ${bytes} bytes`);
  }
  refreshViews();
}

const align64 = (n: number): number => (n + 63) & ~63;

const HEAP = Number(wasm.heapBase());
/** Delta writer state (64 bytes). */
const STATE = HEAP;
// HEAP + 64 .. HEAP + 128: spare.
/** Datagram being decoded (at most 65 507 bytes). */
const IN = HEAP + 128;
/** Pending op bytes of the active delta writer: at most one block (16 384) plus one op with its
 * encodeInto windows (3 + 65 536 + 2 + 65 536 + 9). */
const WPEND = align64(IN + 65536);
const WPEND_SIZE = 16384 + 131200;
/** Scratch for one synchronous call (decode records, op stream, digest encoding). Grows. Its
 * contents are dead between calls, so the phi section moves its base up past the failure
 * detectors' slot tables (`PhiKernel.alloc`). */
let SCRATCH = align64(WPEND + WPEND_SIZE);
/** The decoder's id intern table (wasm/assembly/intern.ts), fixed size. */
const INTERN = SCRATCH;
SCRATCH = align64(INTERN + wasm.internRegionBytes());
ensure(SCRATCH + 65536);
wasm.internSetup(INTERN);

// ================================================================ codec

/** Cap on a delta's total op stream after decompression (chitchat has none; 4 MiB is far above
 * anything a chitchat sender produces within one datagram). */
export const MAX_DELTA_OPS_BYTES = 4 * 1024 * 1024;
const MAX_BLOCK_OUTPUT = 65535;
const ZSTD_BITSTREAM_SLACK = 8;
type ZstdOptions = Parameters<typeof zstdCompressSync>[1];
const U64_MAX = (1n << 64n) - 1n;

const textDecoder = new TextDecoder("utf-8");
const textEncoder = new TextEncoder();

const REASONS: readonly (DecodeErrorReason | undefined)[] = [
  undefined,
  "tooShort",
  "badMagic",
  "badVersion",
  "badType",
  "truncated",
  "invalidUtf8",
  "badIpTag",
  "badStatus",
  "badBlock",
  "badOp",
  "deltaRule",
  "deltaRule",
  "deltaRule",
  "deltaRule",
  "tooLarge",
];
const DETAILS: readonly string[] = [
  "",
  "datagram shorter than the 4-byte header",
  "magic number is not 0xB053 (bytes 53 b0)",
  "protocol version byte is not 0",
  "message type is not 0..3",
  "input ends inside a field",
  "string is not valid UTF-8",
  "IP tag is not 4 or 6",
  "key-value status byte is not 0, 1 or 2",
  "block type is not 0, 1 or 2",
  "delta op tag is not 0, 1 or 2",
  "a Node op repeats a ChitchatId already in this delta",
  "a KeyValue op comes before any Node op",
  "KeyValue versions must be >= 1 and strictly increasing within a node",
  "a SetMaxVersion op comes before any Node op",
  `delta op stream exceeds ${MAX_DELTA_OPS_BYTES} bytes`,
];

function decodeFailure(code: number, what: string): DecodeError {
  const c = -code;
  const reason = REASONS[c] ?? "badOp";
  const offset = wasm.errorOffset();
  const where = c >= 10 && c <= 14 || (c >= 5 && c <= 8 && what === "delta op")
    ? "delta op stream"
    : "datagram";
  return new DecodeError(reason, offset, `${what}: ${DETAILS[c] ?? "unknown"} (${where} offset)`);
}

/** Materialises the strings of records `0..n` at `rec` (and the Syn's cluster id when
 * `cluster`) with one TextDecoder call and one JSON.parse (see `jsonStrings` in
 * wasm/assembly/codec.ts); `at` is free memory. Much faster than one call per string, and the
 * strings are independent copies (slices of one big string would keep it alive). */
function recordStrings(rec: number, n: number, at: number, cluster: boolean): string[] {
  const c = cluster ? 1 : 0;
  let size = wasm.jsonSize(rec, n, c, 0);
  // The quick bound assumes every byte needs a 6-byte escape; count exactly when that is big.
  if (size > 1 << 20) size = wasm.jsonSize(rec, n, c, 1);
  const out = align64(at);
  ensure(out + size + 64);
  const end = wasm.jsonStrings(rec, n, out, c);
  return JSON.parse(textDecoder.decode(u8.subarray(out, end))) as string[];
}

/** Shared bigints for small u64 values (versions, heartbeats and generations mostly are): reading
 * one from a BigUint64Array allocates, a table lookup does not. */
const SMALL_U64: readonly bigint[] = Array.from({ length: 4096 }, (_, i) => BigInt(i));

/** The u64 at byte address `8 q` (q = address >>> 3). */
function u64At(q: number): bigint {
  const lo = u32[2 * q]!;
  return lo < 4096 && u32[2 * q + 1] === 0 ? SMALL_U64[lo]! : u64[q]!;
}

/** Index of the next unread string of the array {@link recordStrings} returned. */
let sk = 0;

/** Intern index of an id record that the WASM table does not hold. */
const NOT_INTERNED = 0xffffffff;
/** Flag (record +56) of an id record whose object is in {@link internedIds}: its strings are
 * left out of the JSON batch. */
const ID_KNOWN = 4;
/** The decoder's shared ChitchatId objects by intern index (see wasm/assembly/intern.ts): a
 * known id costs no string decoding and no allocation, and every decoded copy of an id in this
 * process is the same object (cheap identity checks downstream). */
let internedIds: (ChitchatId | undefined)[] = [];

/** Interns the id records among records `0..n` at `rec` and flags those whose object exists.
 * Call right before {@link recordStrings}. */
function internIds(rec: number, n: number): void {
  if (wasm.internBatch(rec, n) !== 0) internedIds = [];
  for (let i = 0; i < n; i++) {
    const w = (rec + i * 64) >>> 2;
    const kind = u32[w]!;
    if (kind !== 0 && kind !== 3) continue;
    const idx = u32[w + 15]!;
    if (idx !== NOT_INTERNED && internedIds[idx] !== undefined) {
      u32[w + 14] = u32[w + 14]! | ID_KNOWN;
    }
  }
}

/** Reads the ChitchatId of record `r` (byte address); its strings come from `s` at `sk`. */
function recordId(r: number, s: readonly string[]): ChitchatId {
  const w = r >>> 2;
  const idx = u32[w + 15]!;
  if ((u32[w + 14]! & ID_KNOWN) !== 0) return internedIds[idx]!;
  const nodeId = s[sk++]!;
  const ip = u32[w + 3] === 4 ? s[sk++]! : formatIp(u8.slice(u32[w + 4]!, u32[w + 4]! + 16));
  const id: ChitchatId = {
    nodeId,
    generationId: u64At((r >>> 3) + 3),
    gossipAdvertiseAddr: { ip, port: u32[w + 5]! },
  };
  if (idx !== NOT_INTERNED) internedIds[idx] = id;
  return id;
}

/** Builds digest records `0..n` at `rec`; strings from `s` starting at `sk`. */
/** A digest entry of the lease pool (see {@link wasmDecodeMessageLeased}). */
interface PooledNodeDigest {
  chitchatId: ChitchatId;
  heartbeat: bigint;
  lastGcVersion: bigint;
  maxVersion: bigint;
}

/** Digest entry objects lent out by {@link wasmDecodeMessageLeased}, reused message after
 * message: a 1000-node digest is 1000 objects, and a busy node decodes thousands of digests a
 * second that it only reads while it handles them. */
const digestPool: PooledNodeDigest[] = [];
let digestLeased = false;
/** Whether the next `readDigestRecords` fills pool objects. */
let readIntoPool = false;

function readDigestRecords(rec: number, n: number, s: readonly string[]): Digest {
  const nodes: NodeDigest[] = new Array(n);
  const pooled = readIntoPool;
  for (let i = 0; i < n; i++) {
    const r = rec + i * 64;
    const q = r >>> 3;
    const chitchatId = recordId(r, s);
    const heartbeat = u64At(q + 4);
    const lastGcVersion = u64At(q + 5);
    const maxVersion = u64At(q + 6);
    if (pooled) {
      let e = digestPool[i];
      if (e === undefined) {
        e = { chitchatId, heartbeat, lastGcVersion, maxVersion };
        digestPool.push(e);
      } else {
        e.chitchatId = chitchatId;
        e.heartbeat = heartbeat;
        e.lastGcVersion = lastGcVersion;
        e.maxVersion = maxVersion;
      }
      nodes[i] = e;
    } else {
      nodes[i] = { chitchatId, heartbeat, lastGcVersion, maxVersion };
    }
  }
  return { nodes };
}

const STATUSES: readonly KeyStatus[] = ["set", "deleted", "deleteAfterTtl"];

/** A node delta while it is being built (by the decoder here and by `DeltaWriter`). */
export interface MutableNodeDelta {
  chitchatId: ChitchatId;
  lastGcVersion: bigint;
  fromVersionExcluded: bigint;
  keyValues: KeyValueMutation[];
  maxVersion: bigint;
}

function readOpRecords(rec: number, n: number, s: readonly string[]): Delta {
  sk = 0;
  const nodeDeltas: MutableNodeDelta[] = [];
  let cur: MutableNodeDelta | undefined;
  for (let i = 0; i < n; i++) {
    const r = rec + i * 64;
    const w = r >>> 2;
    const q = r >>> 3;
    const kind = u32[w]!;
    if (kind === 0) {
      cur = {
        chitchatId: recordId(r, s),
        lastGcVersion: u64At(q + 4),
        fromVersionExcluded: u64At(q + 5),
        keyValues: [],
        maxVersion: 0n,
      };
      nodeDeltas.push(cur);
    } else if (kind === 1) {
      const version = u64At(q + 3);
      const key = s[sk++]!;
      cur!.keyValues.push({
        key,
        value: s[sk++]!,
        version,
        status: STATUSES[u32[w + 5]!]!,
      });
      cur!.maxVersion = version;
    } else {
      cur!.maxVersion = u64At(q + 3);
    }
  }
  return { nodeDeltas };
}

// ---------------------------------------------------------------- codec: zstd context reuse
//
// node:zlib's one-shot `zstdDecompressSync` creates and frees a decompression context per call,
// which costs about twice as much as decompressing a 16 KiB block. Where the runtime's zstd
// stream object carries a native handle like Node's (`_handle.writeSync`, `_writeState`), one
// context is kept and reused, reading from and writing to WASM memory directly. It is checked
// against the one-shot API when first opened, and dropped on any error or unexpected state; the
// caller then uses the one-shot API, which also produces the error to report.

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
let reusedZstdWorks = true;

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
 * import { reusedZstdOpens } from "./wasm.ts";
 * console.log(reusedZstdOpens() >= 0); // true
 * ```
 */
export function reusedZstdOpens(): number {
  return reusedZstdOpenCount;
}

/** Decompresses the one zstd frame at `src` (`n` bytes) to `dst` (room for `cap` bytes) with the
 * reused context. Returns the decompressed size, or -1 when the caller must use the one-shot
 * API (no reusable context, an error, or output that does not fit below `cap`). */
function reusedZstdDecompress(src: number, n: number, dst: number, cap: number): number {
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
function zstdLevel3(n: number): ZstdOptions {
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
let reusedCompressorWorks = true;
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
function reusedZstdCompress(src: number, n: number): Uint8Array | null {
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

/** Decodes the delta starting at `cursor()` of the datagram in IN; `scratch` is free memory. */
function decodeDeltaAt(len: number, scratch: number): Delta {
  const ops = align64(scratch);
  wasm.resetOps();
  for (;;) {
    ensure(ops + wasm.opsLength() + len + 64);
    const r = wasm.scanBlocks(IN, len, ops, MAX_DELTA_OPS_BYTES);
    if (r === 0) break;
    if (r < 0) throw decodeFailure(r, "delta blocks");
    const blockLen = wasm.pendingBlockLen();
    const at = wasm.errorOffset();
    const ptr = wasm.pendingBlockPtr();
    // libzstd (chitchat) decodes exactly whole frames; node:zlib would ignore trailing bytes.
    const frames = wasm.zstdFrames(ptr, blockLen);
    if (frames < 0) {
      throw new DecodeError(
        "decompression",
        at,
        `compressed block of ${blockLen} bytes is not a sequence of whole zstd frames`,
      );
    }
    if (frames === 0) continue; // empty or only skippable frames: zero bytes, like libzstd
    if (frames === 1) {
      const opsLen = wasm.opsLength();
      ensure(ops + opsLen + MAX_BLOCK_OUTPUT + 1 + len + 64);
      const n = reusedZstdDecompress(ptr, blockLen, ops + opsLen, MAX_BLOCK_OUTPUT + 1);
      if (n >= 0) {
        if (opsLen + n > MAX_DELTA_OPS_BYTES) throw new DecodeError("tooLarge", at, DETAILS[15]!);
        wasm.appendedOps(n);
        continue;
      }
    }
    let out: Uint8Array;
    try {
      out = zstdDecompressSync(u8.subarray(ptr, ptr + blockLen), {
        maxOutputLength: MAX_BLOCK_OUTPUT,
      });
    } catch (e) {
      throw new DecodeError(
        "decompression",
        at,
        `compressed block of ${blockLen} bytes is not a zstd frame that expands to at most ` +
          `${MAX_BLOCK_OUTPUT} bytes (${e instanceof Error ? e.message : String(e)})`,
      );
    }
    const opsLen = wasm.opsLength();
    if (opsLen + out.length > MAX_DELTA_OPS_BYTES) {
      throw new DecodeError("tooLarge", at, DETAILS[15]!);
    }
    ensure(ops + opsLen + out.length + len + 64);
    u8.set(out, ops + opsLen);
    wasm.appendedOps(out.length);
  }
  const opsLen = wasm.opsLength();
  // Every record is at least 14 op bytes (a KeyValue op); SetMaxVersion ops fold into one.
  const maxRecords = Math.floor(opsLen / 14) + 1;
  const rec = align64(ops + opsLen);
  const hash = rec + maxRecords * 64;
  let slots = 16;
  while (slots < 2 * (Math.floor(opsLen / 34) + 1)) slots *= 2;
  ensure(hash + slots * 4);
  const n = wasm.parseOps(ops, rec, hash, slots - 1);
  if (n < 0) throw decodeFailure(n, "delta op");
  internIds(rec, n);
  return readOpRecords(rec, n, recordStrings(rec, n, hash + slots * 4, false));
}

function loadInput(bytes: Uint8Array): number {
  const len = bytes.length;
  if (len > MAX_DATAGRAM_SIZE) {
    throw new DecodeError(
      "tooLarge",
      MAX_DATAGRAM_SIZE,
      `input is ${len} bytes; a chitchat datagram is at most ${MAX_DATAGRAM_SIZE} bytes`,
    );
  }
  refreshViews();
  u8.set(bytes, IN);
  return len;
}

/** Digest records need at most one 64-byte record per 41 input bytes (the smallest entry). */
const digestRecordBytes = (len: number): number => (Math.floor(len / 41) + 2) * 64;

/** Decodes one datagram (WASM parse, JS materialisation). Throws only DecodeError.
 *
 * @example
 * ```ts
 * import { wasmDecodeMessage } from "./wasm.ts";
 * console.log(wasmDecodeMessage(new Uint8Array([0x53, 0xb0, 0, 3])).type); // badCluster
 * ```
 */
export function wasmDecodeMessage(bytes: Uint8Array): ChitchatMessage {
  const len = loadInput(bytes);
  const drec = SCRATCH;
  ensure(drec + digestRecordBytes(len));
  const t = wasm.parseHead(IN, len, drec);
  if (t < 0) throw decodeFailure(t, "header/digest");
  switch (t) {
    case 0: {
      const n = wasm.lastDigestCount();
      internIds(drec, n);
      const strs = recordStrings(drec, n, drec + n * 64, true);
      sk = 0;
      const digest = readDigestRecords(drec, n, strs);
      return { type: "syn", clusterId: strs[sk]!, digest };
    }
    case 1: {
      const n = wasm.lastDigestCount();
      // The digest first: the delta decode reuses the memory after the digest records, and may
      // empty the intern table.
      internIds(drec, n);
      const strs = recordStrings(drec, n, drec + n * 64, false);
      sk = 0;
      const digest = readDigestRecords(drec, n, strs);
      return { type: "synAck", digest, delta: decodeDeltaAt(len, drec + digestRecordBytes(len)) };
    }
    case 2:
      return { type: "ack", delta: decodeDeltaAt(len, SCRATCH) };
    default:
      return { type: "badCluster" };
  }
}

/** {@link wasmDecodeMessage} for a receiver that only reads the message while it handles it:
 * the digest entries are objects lent from a pool, valid until {@link releaseDigestLease}.
 * `leased` says whether they were lent (false when the pool was already lent out, e.g. to a
 * handler further up the stack: the entries are then fresh objects and there is nothing to
 * release).
 *
 * @example
 * ```ts
 * import { releaseDigestLease, wasmDecodeMessageLeased } from "./wasm.ts";
 * const { message, leased } = wasmDecodeMessageLeased(new Uint8Array([0x53, 0xb0, 0, 3]));
 * console.log(message.type); // badCluster
 * if (leased) releaseDigestLease();
 * ```
 */
export function wasmDecodeMessageLeased(
  bytes: Uint8Array,
): { message: ChitchatMessage; leased: boolean } {
  if (digestLeased) return { message: wasmDecodeMessage(bytes), leased: false };
  readIntoPool = true;
  try {
    const message = wasmDecodeMessage(bytes);
    const leased = message.type === "syn" || message.type === "synAck";
    digestLeased = leased;
    return { message, leased };
  } finally {
    readIntoPool = false;
  }
}

/** Ends the lease of {@link wasmDecodeMessageLeased}: its digest entries may be reused.
 *
 * @example
 * ```ts
 * import { releaseDigestLease } from "./wasm.ts";
 * releaseDigestLease();
 * ```
 */
export function releaseDigestLease(): void {
  digestLeased = false;
}

/** Decodes bare delta bytes (blocks + end tag). Returns the delta and the bytes consumed.
 *
 * @example
 * ```ts
 * import { wasmDecodeDelta } from "./wasm.ts";
 * console.log(wasmDecodeDelta(new Uint8Array([0])).consumed); // 1
 * ```
 */
export function wasmDecodeDelta(bytes: Uint8Array): { delta: Delta; consumed: number } {
  const len = loadInput(bytes);
  wasm.setCursor(0);
  const delta = decodeDeltaAt(len, SCRATCH);
  return { delta, consumed: wasm.cursor() };
}

/** Decodes a bare digest. Returns the digest and the bytes consumed.
 *
 * @example
 * ```ts
 * import { wasmDecodeDigest } from "./wasm.ts";
 * console.log(wasmDecodeDigest(new Uint8Array([0, 0])).digest.nodes.length); // 0
 * ```
 */
export function wasmDecodeDigest(bytes: Uint8Array): { digest: Digest; consumed: number } {
  const len = loadInput(bytes);
  ensure(SCRATCH + digestRecordBytes(len));
  const end = wasm.parseDigest(IN, len, SCRATCH);
  if (end < 0) throw decodeFailure(end, "digest");
  const n = wasm.lastDigestCount();
  internIds(SCRATCH, n);
  const strs = recordStrings(SCRATCH, n, SCRATCH + n * 64, false);
  sk = 0;
  return { digest: readDigestRecords(SCRATCH, n, strs), consumed: end };
}

// ---------------------------------------------------------------- codec: encoding

function checkU64(v: bigint, what: string): void {
  if (v < 0n || v > U64_MAX) throw new EncodeError(`${what} must be a u64 (0..2^64-1), got ${v}`);
}

/** Encodes `text` at `at` (at most 65 535 bytes). Returns the byte length. */
function putString(text: string, at: number, what: string): number {
  const n = text.length;
  if (n === 0) return 0;
  if (n <= 32) {
    // Short ASCII (node ids, keys): a plain loop beats a subarray plus encodeInto.
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      u8[at + i] = c;
    }
    if (i === n) return n;
  }
  const window = Math.min(text.length * 3, 65536);
  const { read, written } = textEncoder.encodeInto(text, u8.subarray(at, at + window));
  if (read < text.length || written > 65535) {
    throw new EncodeError(
      `${what} is longer than 65 535 UTF-8 bytes (chitchat's u16 length prefix); shorten it`,
    );
  }
  return written;
}

// ---------------------------------------------------------------- codec: digest encoding
//
// A Syn (and every SynAck) carries the sender's whole digest, so its ChitchatIds are encoded over
// and over. ChitchatIds are immutable values that the engine reuses, so their wire bytes are
// cached per id object, and so is the layout of a whole digest ("plan": the ids in input order,
// their bytes in one blob, and the permutation into wire order). A digest whose entries carry
// the same id objects in the same order as a recent one only writes its three u64 per entry;
// WASM then interleaves the cached id bytes and the values in wire order in one call.

/** A ChitchatId's wire bytes and the fields they were made from. */
interface EncodedId {
  readonly nodeId: string;
  readonly generationId: bigint;
  readonly ip: string;
  readonly port: number;
  /** `u16 len, node id, u64 generation, ip tag, ip bytes, u16 port`. */
  readonly bytes: Uint8Array;
  /** The node id has no UTF-16 surrogate, so JS `<` orders it like its UTF-8 bytes. */
  readonly bmp: boolean;
}

const idCache = new WeakMap<ChitchatId, EncodedId>();
const SURROGATE = /[\ud800-\udfff]/;

/** The wire bytes of `id` (cached per object; re-encoded if its fields no longer match). */
function encodedId(id: ChitchatId): EncodedId {
  const addr = id.gossipAdvertiseAddr;
  const hit = idCache.get(id);
  if (
    hit !== undefined && hit.nodeId === id.nodeId && hit.generationId === id.generationId &&
    hit.ip === addr.ip && hit.port === addr.port
  ) {
    return hit;
  }
  checkU64(id.generationId, "generationId");
  const name = textEncoder.encode(id.nodeId);
  if (name.length > 65535) {
    throw new EncodeError(
      "nodeId is longer than 65 535 UTF-8 bytes (chitchat's u16 length prefix); shorten it",
    );
  }
  const ip = ipBytes(addr.ip);
  const n = name.length;
  const bytes = new Uint8Array(2 + n + 8 + 1 + ip.length + 2);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, n, true);
  bytes.set(name, 2);
  view.setBigUint64(2 + n, id.generationId, true);
  bytes[10 + n] = ip.length === 4 ? 4 : 6;
  bytes.set(ip, 11 + n);
  view.setUint16(11 + n + ip.length, addr.port & 0xffff, true);
  const entry: EncodedId = {
    nodeId: id.nodeId,
    generationId: id.generationId,
    ip: addr.ip,
    port: addr.port,
    bytes,
    bmp: !SURROGATE.test(id.nodeId),
  };
  idCache.set(id, entry);
  return entry;
}

/** The cached layout of a digest, kept in WASM memory while the plan is cached (region `at`,
 * size class `capacity`): the ids' encoded bytes in input order plus 16 bytes of slack for WASM's
 * 16-byte copies (`blobLength` bytes at `at`), their `n + 1` offsets (u32 at `offsAt`) and, when
 * the input is not in wire order, the wire position -> input index permutation (u32 at `permAt`;
 * 0 when there is none). */
interface DigestPlan {
  /** The ids, in input order. */
  readonly ids: readonly ChitchatId[];
  readonly blobLength: number;
  readonly at: number;
  readonly capacity: number;
  readonly offsAt: number;
  readonly permAt: number;
}

/** Freed plan regions by capacity (a power of two): WASM memory never shrinks, so regions are
 * reused, which bounds it by the peak of plans held at once. */
const planRegions = new Map<number, number[]>();

function allocPlanRegion(bytes: number): { at: number; capacity: number } {
  let capacity = 4096;
  while (capacity < bytes) capacity *= 2;
  const at = planRegions.get(capacity)?.pop() ?? phiKernelImpl.alloc(capacity);
  return { at, capacity };
}

function freePlanRegion(plan: DigestPlan): void {
  let list = planRegions.get(plan.capacity);
  if (list === undefined) planRegions.set(plan.capacity, list = []);
  list.push(plan.at);
}

/** Recently used plans, most recent first (a process may run several nodes). */
const plans: DigestPlan[] = [];
const MAX_PLANS = 8;

function compareEncoded(a: EncodedId, b: EncodedId, x: ChitchatId, y: ChitchatId): number {
  if (a.nodeId !== b.nodeId && a.bmp && b.bmp) return a.nodeId < b.nodeId ? -1 : 1;
  return compareChitchatIds(x, y);
}

function buildPlan(entries: readonly NodeDigest[]): DigestPlan {
  const n = entries.length;
  const ids: ChitchatId[] = new Array(n);
  const enc: EncodedId[] = new Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const id = entries[i]!.chitchatId;
    ids[i] = id;
    const e = encodedId(id);
    enc[i] = e;
    total += e.bytes.length;
  }
  const blob = new Uint8Array(total + 16);
  const offs = new Uint32Array(n + 1);
  let at = 0;
  for (let i = 0; i < n; i++) {
    offs[i] = at;
    blob.set(enc[i]!.bytes, at);
    at += enc[i]!.bytes.length;
  }
  offs[n] = at;
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) {
    sorted = compareEncoded(enc[i - 1]!, enc[i]!, ids[i - 1]!, ids[i]!) <= 0;
  }
  let perm: Uint32Array | null = null;
  if (!sorted) {
    const order = Array.from({ length: n }, (_, i) => i);
    // Array.prototype.sort is stable: equal ids keep their input order.
    order.sort((i, j) => compareEncoded(enc[i]!, enc[j]!, ids[i]!, ids[j]!));
    perm = Uint32Array.from(order);
  }
  const offsAt = align64(blob.length);
  const permAt = align64(offsAt + offs.byteLength);
  const region = allocPlanRegion(permAt + (perm === null ? 0 : perm.byteLength));
  u8.set(blob, region.at);
  u32.set(offs, (region.at + offsAt) >>> 2);
  if (perm !== null) u32.set(perm, (region.at + permAt) >>> 2);
  return {
    ids,
    blobLength: blob.length,
    at: region.at,
    capacity: region.capacity,
    offsAt: region.at + offsAt,
    permAt: perm === null ? 0 : region.at + permAt,
  };
}

/** A recent plan that probably fits `entries` (same length, same first and last id), moved to
 * the front; the caller confirms every id while it writes the values. */
function candidatePlan(entries: readonly NodeDigest[]): DigestPlan | null {
  const n = entries.length;
  const first = entries[0]!.chitchatId;
  const last = entries[n - 1]!.chitchatId;
  for (let p = 0; p < plans.length; p++) {
    const plan = plans[p]!;
    const ids = plan.ids;
    if (ids.length !== n || ids[0] !== first || ids[n - 1] !== last) continue;
    if (p > 0) {
      plans.splice(p, 1);
      plans.unshift(plan);
    }
    return plan;
  }
  return null;
}

function newPlan(entries: readonly NodeDigest[]): DigestPlan {
  const plan = buildPlan(entries);
  plans.unshift(plan);
  if (plans.length > MAX_PLANS) freePlanRegion(plans.pop()!);
  return plan;
}

/** Pool for `pooled` encodings: results are views into a shared 1 MiB buffer, handed out in
 * turn; a full pool is left to the garbage collector (freed once its last view is) and a new
 * one started. One allocation per many messages instead of one per message: a simulation of
 * many nodes sends tens of megabytes per second, and allocating every datagram separately is
 * what drove most of its garbage collection. */
let pool = new ArrayBuffer(0);
let poolUsed = 0;
const POOL_BYTES = 1 << 20;

/** `n` bytes: a view into the pool when `pooled`, else a buffer of its own. */
function output(n: number, pooled: boolean): Uint8Array {
  if (!pooled) return new Uint8Array(n);
  if (poolUsed + n > pool.byteLength) {
    pool = new ArrayBuffer(Math.max(POOL_BYTES, n));
    poolUsed = 0;
  }
  const v = new Uint8Array(pool, poolUsed, n);
  poolUsed = (poolUsed + n + 7) & ~7;
  return v;
}

/** Writes heartbeat, last GC version and max version of each entry (three u64 each) from u64
 * index `q` on, while the entries' ids are the plan's. Returns how many were written. */
function writeDigestValues(
  entries: readonly NodeDigest[],
  ids: readonly ChitchatId[],
  q: number,
): number {
  const n = entries.length;
  const w64 = u64; // a local: the module-level view would be re-read at every store
  let i = 0;
  for (; i < n; i++, q += 3) {
    const e = entries[i]!;
    if (e.chitchatId !== ids[i]) break;
    const h = e.heartbeat;
    const g = e.lastGcVersion;
    const m = e.maxVersion;
    // BigInt.asUintN is optimised into plain 64-bit operations; comparing against 2^64 - 1
    // (a heap bigint) costs several times more.
    if (BigInt.asUintN(64, h) !== h) throw u64Error("heartbeat", h);
    if (BigInt.asUintN(64, g) !== g) throw u64Error("lastGcVersion", g);
    if (BigInt.asUintN(64, m) !== m) throw u64Error("maxVersion", m);
    w64[q] = h;
    w64[q + 1] = g;
    w64[q + 2] = m;
  }
  return i;
}

function u64Error(what: string, v: bigint): EncodeError {
  return new EncodeError(`${what} must be a u64 (0..2^64-1), got ${v}`);
}

/** Message parts for {@link wasmEncodeMessage}. */
export interface MessageParts {
  /** Message type code (0 Syn, 1 SynAck, 2 Ack, 3 BadCluster). */
  readonly type: 0 | 1 | 2 | 3;
  /** Digest entries in any order (Syn, SynAck); they go on the wire in ascending ChitchatId
   * order, equal ids in input order. */
  readonly digest?: readonly NodeDigest[];
  /** Cluster id (Syn). */
  readonly clusterId?: string;
  /** Delta bytes (SynAck, Ack). */
  readonly delta?: Uint8Array;
  /** Return a view into a shared pool buffer (see `EncodeOutputOptions.pooled`). */
  readonly pooled?: boolean;
}

/** Encodes a message from parts (digest entries sorted into wire order). Throws EncodeError.
 * ChitchatId objects are treated as immutable: their encoding is cached per object.
 *
 * @example
 * ```ts
 * import { wasmEncodeMessage } from "./wasm.ts";
 * console.log(wasmEncodeMessage({ type: 2, delta: new Uint8Array([0]) })); // 53 b0 00 02 00
 * ```
 */
export function wasmEncodeMessage(parts: MessageParts): Uint8Array {
  const t = parts.type;
  const entries = parts.digest ?? [];
  const n = entries.length;
  if (n > 65535) {
    throw new EncodeError(`a digest holds at most 65 535 entries (u16 count), got ${n}`);
  }
  const hasDigest = t === 0 || t === 1;
  const cluster = t === 0 ? parts.clusterId ?? "" : "";
  const delta = t === 1 || t === 2 ? parts.delta : undefined;
  let plan = hasDigest && n > 0 ? candidatePlan(entries) ?? newPlan(entries) : null;
  let out: number;
  let end: number;
  for (;;) {
    const blobLen = plan === null ? 0 : plan.blobLength;
    const valsAt = SCRATCH;
    out = align64(valsAt + 24 * n);
    const bound = 4 + 2 + blobLen + 24 * n + 2 + Math.min(cluster.length * 3, 65536) + 8;
    ensure(out + bound);
    end = out + 4;
    wasm.putHeader(out, t);
    if (plan === null) {
      if (hasDigest) {
        wasm.putLen(end, 0);
        end += 2;
      }
      break;
    }
    const i = writeDigestValues(entries, plan.ids, valsAt >>> 3);
    if (i < n) {
      // The candidate was another digest with the same ends: lay this one out.
      plan = newPlan(entries);
      continue;
    }
    end = Number(
      wasm.encodeDigestIds(end, plan.at, plan.offsAt, valsAt, plan.permAt, n),
    );
    break;
  }
  if (t === 0) {
    const len = putString(cluster, end + 2, "clusterId");
    wasm.putLen(end, len);
    end += 2 + len;
  }
  const head = end - out;
  if (parts.pooled !== true) {
    // One slice() of WASM memory: it copies without first zeroing a fresh buffer (the delta
    // bytes are put behind the header first; `bound` left room for them).
    if (delta === undefined) return u8.slice(out, end);
    ensure(end + delta.length + 64);
    u8.set(delta, end);
    return u8.slice(out, end + delta.length);
  }
  const result = output(head + (delta?.length ?? 0), true);
  result.set(u8.subarray(out, end));
  if (delta === undefined) return result;
  // Delta bytes go straight from their array to the result (one copy).
  result.set(delta, head);
  return result;
}

// ---------------------------------------------------------------- codec: delta writer

const WRITER_ERRORS: Readonly<Record<number, string>> = {
  20: "a key must not start with a multi-byte UTF-8 character (it panics chitchat receivers)",
  21: "a KeyValue or SetMaxVersion needs a Node first",
  22: "KeyValue versions must be >= 1 and strictly increasing within a node",
  23: "SetMaxVersion must not follow KeyValues of the same node (it can panic chitchat receivers)",
  24: "a KeyValue must not follow SetMaxVersion in the same node",
  25: "a string is longer than 65 535 UTF-8 bytes",
  26: "SetMaxVersion was already set for this node",
};

const STATUS_CODES: Readonly<Record<KeyStatus, number>> = {
  set: 0,
  deleted: 1,
  deleteAfterTtl: 2,
};

let activeWriter: WasmDeltaWriter | null = null;
const NO_BYTES = new Uint8Array(0);

/** The WASM side of a budgeted delta serializer (chitchat's `DeltaSerializer`): op bytes and
 * bound accounting live in WASM memory; blocks are compressed with node:zlib's zstd.
 *
 * @example
 * ```ts
 * import { WasmDeltaWriter } from "./wasm.ts";
 * const w = new WasmDeltaWriter(1000, false);
 * console.log(w.finish()); // Uint8Array [ 0 ]
 * ```
 */
export class WasmDeltaWriter {
  #budget: number;
  #threshold: number;
  #compress: boolean;
  /** Emitted blocks; the delta is `#out[0..#outLen]` plus the end tag. */
  #out: Uint8Array;
  #outLen = 0;
  #parked: Uint8Array | null = null;
  #finished = false;
  #added = 0;

  /** Creates a writer for at most `budget` delta bytes (blocks + end tag). */
  constructor(budget: number, compress: boolean) {
    this.#budget = Math.min(budget, 0x7fffffff);
    this.#threshold = Math.min(BLOCK_THRESHOLD, this.#budget);
    this.#compress = compress;
    // Nothing until the first block: most deltas of a steady cluster are empty. `#reserve`
    // makes room for one block first, then quadruples (up to the budget).
    this.#out = NO_BYTES;
    if (activeWriter !== null) activeWriter.#park();
    wasm.writerInit(STATE, WPEND, this.#threshold, this.#budget);
    activeWriter = this;
  }

  #park(): void {
    refreshViews();
    const p = wasm.writerPending();
    const saved = new Uint8Array(64 + p);
    saved.set(u8.subarray(STATE, STATE + 64));
    saved.set(u8.subarray(WPEND, WPEND + p), 64);
    this.#parked = saved;
    activeWriter = null;
  }

  #activate(): void {
    if (this.#finished) throw new EncodeError("this delta writer is already finished");
    refreshViews();
    if (activeWriter === this) return;
    if (activeWriter !== null) activeWriter.#park();
    const saved = this.#parked!;
    u8.set(saved.subarray(0, 64), STATE);
    u8.set(saved.subarray(64), WPEND);
    this.#parked = null;
    activeWriter = this;
  }

  #result(r: number): boolean {
    if (r < 0) throw new EncodeError(WRITER_ERRORS[-r] ?? `delta writer error ${-r}`);
    if (r === 2) {
      while (this.#flush(this.#threshold) === 1);
    }
    return r !== 0;
  }

  /** Room for `n` more bytes in `#out`. */
  #reserve(n: number): void {
    if (this.#outLen + n <= this.#out.length) return;
    const grown = new Uint8Array(
      Math.max(
        Math.min(Math.max(this.#out.length * 4, this.#threshold + 4), this.#budget),
        this.#outLen + n,
      ),
    );
    grown.set(this.#out.subarray(0, this.#outLen));
    this.#out = grown;
  }

  #flush(n: number): number {
    const at = this.#outLen;
    if (this.#compress) {
      const c = reusedZstdCompress(WPEND, n) ??
        zstdCompressSync(u8.subarray(WPEND, WPEND + n), zstdLevel3(n));
      // chitchat gives libzstd a destination exactly as large as the input. libzstd then fails
      // unless the frame leaves the bitstream writer its 8 bytes of slack (the output pointer
      // must stay below capacity - sizeof(size_t)); such blocks go out raw.
      if (c.length + ZSTD_BITSTREAM_SLACK <= n) {
        this.#reserve(3 + c.length + 1);
        const out = this.#out;
        out[at] = 1;
        out[at + 1] = c.length & 0xff;
        out[at + 2] = c.length >>> 8;
        out.set(c, at + 3);
        this.#outLen = at + 3 + c.length;
        return wasm.writerFlushed(n, 3 + c.length);
      }
    }
    this.#reserve(3 + n + 1);
    const out = this.#out;
    out[at] = 2;
    out[at + 1] = n & 0xff;
    out[at + 2] = n >>> 8;
    out.set(u8.subarray(WPEND, WPEND + n), at + 3);
    this.#outLen = at + 3 + n;
    return wasm.writerFlushed(n, 3 + n);
  }

  /** Tries to add a Node op. Returns false when it does not fit. */
  addNode(id: ChitchatId, lastGcVersion: bigint, fromVersionExcluded: bigint): boolean {
    const bytes = encodedId(id).bytes;
    checkU64(lastGcVersion, "lastGcVersion");
    checkU64(fromVersionExcluded, "fromVersionExcluded");
    this.#activate();
    u8.set(bytes, WPEND + wasm.writerPending() + 1);
    return this.#result(wasm.writerNodeEncoded(bytes.length, lastGcVersion, fromVersionExcluded));
  }

  /** Tries to add a KeyValue op. Returns false when it does not fit. */
  addKeyValue(kv: KeyValueMutation): boolean {
    checkU64(kv.version, "version");
    const status = STATUS_CODES[kv.status];
    if (status === undefined) throw new EncodeError(`unknown key status ${String(kv.status)}`);
    this.#activate();
    const at = WPEND + wasm.writerPending();
    const kl = putString(kv.key, at + 3, "key");
    const vl = putString(kv.value, at + 5 + kl, "value");
    return this.#result(wasm.writerKv(kl, vl, kv.version, status));
  }

  /** Tries to add `kvs[start..]` in order, stopping at the first that does not fit; returns how
   * many were added. Throws (after adding the ones before it) for a key-value `addKeyValue`
   * refuses. All-ASCII runs of key-values are encoded with one TextEncoder call and added in
   * one WASM call per block. */
  addKeyValues(kvs: readonly KeyValueMutation[], start: number): number {
    this.#added = 0;
    let i = start;
    while (i < kvs.length) {
      this.#activate();
      // A run of key-values with at most 256 entries and about 32 Ki characters.
      let all = "";
      let end = i;
      let bad: EncodeError | undefined;
      const stage = SCRATCH;
      while (end < kvs.length && end - i < 256 && all.length < 32768) {
        const kv = kvs[end]!;
        all += kv.key;
        all += kv.value;
        end++;
      }
      const table = align64(stage + all.length + 8);
      ensure(table + 24 * (end - i) + 64);
      const { read, written } = textEncoder.encodeInto(
        all,
        u8.subarray(stage, stage + all.length),
      );
      if (read !== all.length || written !== all.length) {
        // Not all ASCII: byte lengths are not the character counts. One at a time.
        for (; i < end; i++) {
          if (!this.addKeyValue(kvs[i]!)) return this.#added;
          this.#added++;
        }
        continue;
      }
      let n = 0;
      for (let j = i; j < end; j++, n++) {
        const kv = kvs[j]!;
        const v = kv.version;
        if (BigInt.asUintN(64, v) !== v) {
          bad = u64Error("version", v);
          break;
        }
        const status = STATUS_CODES[kv.status];
        if (status === undefined) {
          bad = new EncodeError(`unknown key status ${String(kv.status)}`);
          break;
        }
        const e = (table >>> 2) + 6 * n;
        u32[e] = kv.key.length;
        u32[e + 1] = kv.value.length;
        u64[(e >>> 1) + 1] = v;
        u32[e + 4] = status;
      }
      let src = stage;
      let done = 0;
      while (done < n) {
        const r = wasm.writerKvBatch(src, table + 24 * done, n - done);
        const k = wasm.batchDone();
        for (let j = 0; j < k; j++) {
          const kv = kvs[i + done + j]!;
          src += kv.key.length + kv.value.length;
        }
        done += k;
        this.#added += k;
        if (r === 2) {
          while (this.#flush(this.#threshold) === 1);
          continue;
        }
        if (r === 1) break;
        this.#result(r); // throws for a refusal
        return this.#added; // does not fit
      }
      if (bad !== undefined) throw bad;
      i = end;
    }
    return this.#added;
  }

  /** How many key-values the last {@link addKeyValues} call added (also when it threw). */
  get lastAdded(): number {
    return this.#added;
  }

  /** Tries to add a SetMaxVersion op. Returns false when it does not fit. */
  setMaxVersion(maxVersion: bigint): boolean {
    checkU64(maxVersion, "maxVersion");
    this.#activate();
    return this.#result(wasm.writerSetMax(maxVersion));
  }

  /** Flushes the last block and returns the delta bytes (blocks + end tag). */
  finish(): Uint8Array {
    this.#activate();
    const p = wasm.writerPending();
    if (p > 0) this.#flush(p);
    this.#finished = true;
    activeWriter = null;
    if (this.#outLen === 0) return new Uint8Array(1); // just the end tag
    this.#reserve(1);
    this.#out[this.#outLen] = 0;
    const out = this.#out.subarray(0, this.#outLen + 1);
    this.#out = new Uint8Array(0);
    return out;
  }
}

// ================================================================ phi (failure detector)
// Owned by the failure-detector part (src/failure_detector.ts, wasm/assembly/phi.ts). Slot
// tables are persistent allocations placed between the codec's fixed regions and SCRATCH, which
// moves up by the size of each new table. Tables are never freed here: the failure detector
// pools and reuses them.

/** Bytes per phi slot and per ring chunk; must match wasm/assembly/phi.ts. */
const PHI_SLOT_BYTES = 64;
const PHI_CHUNK_BYTES = 128;
if (wasm.phiSlotBytes() !== PHI_SLOT_BYTES || wasm.phiChunkBytes() !== PHI_CHUNK_BYTES) {
  throw new Error(
    `hearsay.wasm phi slots/chunks are ${wasm.phiSlotBytes()}/${wasm.phiChunkBytes()} bytes, ` +
      `expected ${PHI_SLOT_BYTES}/${PHI_CHUNK_BYTES}`,
  );
}
/** The report call, bound once: called for every heartbeat increase. */
const phiReport = wasm.phiReport;
/** Slot numbers of one `reportBatch` call go through this region (allocated on first use). */
const PHI_BATCH = 4096;
let phiBatchAt = 0;
/** Ring chunks are cut from blocks of this size (8192 chunks). */
const PHI_CHUNK_BLOCK = 1 << 20;

/** The phi kernel of the WASM module, as the failure detector uses it (no pointer arithmetic
 * leaves the failure detector).
 *
 * @example
 * ```ts
 * import { phiKernel } from "./wasm.ts";
 * const k = phiKernel();
 * console.log(k.buffer().byteLength > 0);
 * ```
 */
export interface PhiKernel {
  /** The WASM memory's current buffer (replaced whenever memory grows). */
  buffer(): ArrayBuffer;
  /** Reserves `bytes` (a multiple of 32) for a slot table; returns its 64-byte aligned address.
   * Contents unspecified. */
  alloc(bytes: number): number;
  /** Computes phi and the alive flag of slots `0..slots` of `table`; returns how many are
   * alive. */
  computeAll(
    table: number,
    slots: number,
    nowMs: number,
    priorSecs: number,
    threshold: number,
  ): number;
  /** phi of one slot (NaN when it has no interval). */
  phiAt(table: number, slot: number, nowMs: number, priorSecs: number): number;
  /** Records a heartbeat of the slot at address `slot` (see `phiReport` in
   * wasm/assembly/phi.ts); reserves ring memory as needed. */
  report(slot: number, nowMs: number, maxIntervalMs: number, window: number): void;
  /** Records heartbeats in order: slot number `slots[i]` of `table` at time `times[i]`, for
   * `i < count`, as {@link PhiKernel.report} would one by one (one call into WASM). */
  reportBatch(
    table: number,
    slots: Uint32Array,
    times: Float64Array,
    count: number,
    maxIntervalMs: number,
    window: number,
  ): void;
  /** Drops the intervals of the slot at address `slot` (keeps its last heartbeat). */
  clear(slot: number): void;
  /** Empties the slot at address `slot` (no interval, no heartbeat), returning its ring
   * memory. */
  resetSlot(slot: number): void;
  /** Makes the slot at address `slot` empty without reading it (a slot never used, or already
   * reset: its memory may hold anything). */
  initSlot(slot: number): void;
  /** Empties slots `0..slots` of `table` (returns their ring memory). */
  releaseTable(table: number, slots: number): void;
  /** Ring chunks in use, over all detectors (diagnostics and tests). */
  chunksInUse(): number;
}

const phiKernelImpl: PhiKernel = {
  buffer: () => memory.buffer as ArrayBuffer,
  alloc(bytes: number): number {
    const at = SCRATCH;
    SCRATCH = align64(at + bytes);
    ensure(SCRATCH + 65536);
    return at;
  },
  computeAll: (table, slots, nowMs, priorSecs, threshold) =>
    wasm.phiComputeAll(table, slots, nowMs, priorSecs, threshold),
  phiAt: (table, slot, nowMs, priorSecs) => wasm.phiAt(table, slot, nowMs, priorSecs),
  report(slot, nowMs, maxIntervalMs, window) {
    if (phiReport(slot, nowMs, maxIntervalMs, window) === 0) return;
    wasm.phiChunkBlock(phiKernelImpl.alloc(PHI_CHUNK_BLOCK), PHI_CHUNK_BLOCK);
    if (wasm.phiReport(slot, nowMs, maxIntervalMs, window) !== 0) {
      throw new RangeError("phi kernel: no ring chunk after a new block");
    }
  },
  reportBatch(table, slots, times, count, maxIntervalMs, window) {
    let done = 0;
    while (done < count) {
      const n = Math.min(count - done, PHI_BATCH);
      if (phiBatchAt === 0) phiBatchAt = phiKernelImpl.alloc(PHI_BATCH * 12);
      ensure(phiBatchAt + PHI_BATCH * 12);
      const timesAt = phiBatchAt + PHI_BATCH * 4;
      u32.set(slots.subarray(done, done + n), phiBatchAt >>> 2);
      new Float64Array(memory.buffer, timesAt, n).set(times.subarray(done, done + n));
      let at = 0;
      let fresh = false;
      while (at < n) {
        const got = wasm.phiReportBatch(
          table,
          phiBatchAt + at * 4,
          timesAt + at * 8,
          n - at,
          maxIntervalMs,
          window,
        );
        if (got === 0 && fresh) throw new RangeError("phi kernel: no ring chunk after a new block");
        at += got;
        fresh = at < n;
        if (fresh) wasm.phiChunkBlock(phiKernelImpl.alloc(PHI_CHUNK_BLOCK), PHI_CHUNK_BLOCK);
      }
      done += n;
    }
  },
  clear: (slot) => wasm.phiClear(slot),
  resetSlot: (slot) => wasm.phiResetSlot(slot),
  initSlot: (slot) => wasm.phiInitSlot(slot),
  releaseTable: (table, slots) => wasm.phiReleaseTable(table, slots),
  chunksInUse: () => wasm.phiChunksInUse(),
};

/** The phi kernel (one per process; every failure detector shares it).
 *
 * @example
 * ```ts
 * import { phiKernel } from "./wasm.ts";
 * console.log(typeof phiKernel().computeAll); // function
 * ```
 */
export function phiKernel(): PhiKernel {
  return phiKernelImpl;
}

// ================================================================ end of phi
