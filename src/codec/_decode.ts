/**
 * Decoding: the WASM module parses a datagram into fixed-size records in its memory, and this
 * module turns the records into messages (strings in one JSON batch, ids interned, small u64
 * values shared). Throws only DecodeError for bad input.
 *
 * @module
 */
import { DecodeError, type DecodeErrorReason } from "../common/errors.ts";
import { formatIp } from "../common/socket_addr.ts";
import type {
  ChitchatId,
  ChitchatMessage,
  Delta,
  Digest,
  KeyStatus,
  KeyValueMutation,
  NodeDigest,
} from "../common/types.ts";
import * as wasm from "./_wasm.ts";
import { align64, ensure, IN, refreshViews, SCRATCH, u32, u64, u8 } from "./_memory.ts";
import { reusedZstdDecompress, zstdDecompressSync } from "./_zstd.ts";
import { MAX_DATAGRAM_SIZE } from "./wire.ts";

/** Cap on a delta's total op stream after decompression (chitchat has none; 4 MiB is far above
 * anything a chitchat sender produces within one datagram). */
export const MAX_DELTA_OPS_BYTES = 4 * 1024 * 1024;
const MAX_BLOCK_OUTPUT = 65535;

const textDecoder = new TextDecoder("utf-8");

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
  "protocol version byte is not 0 (V0) or 1 (V1)",
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

/** A lendable digest entry (see {@link wasmDecodeMessageLeased}). */
interface LentNodeDigest {
  chitchatId: ChitchatId;
  heartbeat: bigint;
  lastGcVersion: bigint;
  maxVersion: bigint;
}

/** Digest entry objects lent out by {@link wasmDecodeMessageLeased}, reused message after
 * message: a 1000-node digest is 1000 objects, and a busy node decodes thousands of digests a
 * second that it only reads while it handles them. */
const lentDigestEntries: LentNodeDigest[] = [];
let digestLeased = false;
/** Whether the next `readDigestRecords` fills the lendable entries. */
let readIntoLent = false;

/** Builds the digest of records `0..n` at `rec`; strings from `s` starting at `sk`. */
function readDigestRecords(rec: number, n: number, s: readonly string[]): Digest {
  const nodes: NodeDigest[] = new Array(n);
  const lend = readIntoLent;
  for (let i = 0; i < n; i++) {
    const r = rec + i * 64;
    const q = r >>> 3;
    const chitchatId = recordId(r, s);
    const heartbeat = u64At(q + 4);
    const lastGcVersion = u64At(q + 5);
    const maxVersion = u64At(q + 6);
    if (lend) {
      let e = lentDigestEntries[i];
      if (e === undefined) {
        e = { chitchatId, heartbeat, lastGcVersion, maxVersion };
        lentDigestEntries.push(e);
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

/** Reads the block stream starting at `cursor()` of the datagram in IN (`len` bytes) into the
 * plain stream at `ops` (chitchat's `deserialize_stream`): raw blocks copied, zstd blocks
 * decompressed to at most 65 535 bytes each, at most `cap` bytes in all (checked before any
 * block is added). Returns the plain length; `cursor()` is then past the end tag. */
function readBlockStream(len: number, ops: number, cap: number, what: string): number {
  wasm.resetOps();
  for (;;) {
    ensure(ops + wasm.opsLength() + len + 64);
    const r = wasm.scanBlocks(IN, len, ops, cap);
    if (r === 0) return wasm.opsLength();
    if (r < 0) {
      if (r === -15) throw new DecodeError("tooLarge", wasm.errorOffset(), tooLarge(what, cap));
      throw decodeFailure(r, `${what} blocks`);
    }
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
        if (opsLen + n > cap) throw new DecodeError("tooLarge", at, tooLarge(what, cap));
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
    if (opsLen + out.length > cap) throw new DecodeError("tooLarge", at, tooLarge(what, cap));
    ensure(ops + opsLen + out.length + len + 64);
    u8.set(out, ops + opsLen);
    wasm.appendedOps(out.length);
  }
}

function tooLarge(what: string, cap: number): string {
  return `${what} blocks: the plain stream exceeds ${cap} bytes`;
}

/** Decodes the delta starting at `cursor()` of the datagram in IN; `scratch` is free memory. */
function decodeDeltaAt(len: number, scratch: number): Delta {
  const ops = align64(scratch);
  readBlockStream(len, ops, MAX_DELTA_OPS_BYTES, "delta");
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

/** Cap on a V1 digest's plain entry stream after decompression (chitchat has none): 65 535
 * entries (what a V0 digest's u16 count allows) of at most 128 bytes of id each would be about
 * 10 MiB; no chitchat sender fits more than a few MiB of digest in one datagram. */
export const MAX_V1_DIGEST_BYTES = 4 * 1024 * 1024;

/** A decoded message and the protocol version it came in. */
export interface DecodedEnvelope {
  /** Byte 2 of the header: 0 (V0) or 1 (V1). */
  readonly version: 0 | 1;
  /** The message. */
  readonly message: ChitchatMessage;
}

/** Decodes one datagram (WASM parse, JS materialisation). Throws only DecodeError.
 *
 * @example
 * ```ts
 * import { wasmDecodeMessage } from "./_decode.ts";
 * console.log(wasmDecodeMessage(new Uint8Array([0x53, 0xb0, 0, 3])).type); // badCluster
 * ```
 */
export function wasmDecodeMessage(bytes: Uint8Array): ChitchatMessage {
  return wasmDecodeEnvelope(bytes).message;
}

/** {@link wasmDecodeMessage} with the message's protocol version. Throws only DecodeError.
 *
 * @example
 * ```ts
 * import { wasmDecodeEnvelope } from "./_decode.ts";
 * console.log(wasmDecodeEnvelope(new Uint8Array([0x53, 0xb0, 1, 3]))); // { version: 1, message: { type: "badCluster" } }
 * ```
 */
export function wasmDecodeEnvelope(bytes: Uint8Array): DecodedEnvelope {
  const len = loadInput(bytes);
  let version: 0 | 1 = 0;
  if (len >= 3 && u8[IN] === 0x53 && u8[IN + 1] === 0xb0 && u8[IN + 2] === 1) {
    version = 1;
    const t = len >= 4 ? u8[IN + 3]! : -1;
    if (t === 0 || t === 1) return { version, message: decodeV1Digested(len, t) };
    // An Ack or BadCluster is the same in V1 as in V0 but for byte 2 (and a short or mistyped
    // header fails the same way): the V0 parse reads it.
    u8[IN + 2] = 0;
  }
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
      return { version, message: { type: "syn", clusterId: strs[sk]!, digest } };
    }
    case 1: {
      const n = wasm.lastDigestCount();
      // The digest first: the delta decode reuses the memory after the digest records, and may
      // empty the intern table.
      internIds(drec, n);
      const strs = recordStrings(drec, n, drec + n * 64, false);
      sk = 0;
      const digest = readDigestRecords(drec, n, strs);
      const delta = decodeDeltaAt(len, drec + digestRecordBytes(len));
      return { version, message: { type: "synAck", digest, delta } };
    }
    case 2:
      return { version, message: { type: "ack", delta: decodeDeltaAt(len, SCRATCH) } };
    default:
      return { version, message: { type: "badCluster" } };
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A V1 Syn (`t` 0) or SynAck (1) in IN: the digest is a block stream of entries without a
 * count (chitchat's `Digest::deserialize_v1`), read into scratch memory behind a 2-byte slot
 * where its entry count is put, so that the V0 digest parser reads it. */
function decodeV1Digested(len: number, t: 0 | 1): ChitchatMessage {
  wasm.setCursor(4);
  const plain = align64(SCRATCH) + 64; // the count goes at plain - 2
  const n = readBlockStream(len, plain, MAX_V1_DIGEST_BYTES, "V1 digest");
  const after = wasm.cursor();
  const count = countV1Entries(plain, n);
  u8[plain - 2] = count & 0xff;
  u8[plain - 1] = count >>> 8;
  const rec = align64(plain + n + 16);
  ensure(rec + (count + 1) * 64 + 64);
  const end = wasm.parseDigest(plain - 2, n + 2, rec);
  if (end < 0) {
    const e = decodeFailure(end, "V1 digest entry");
    throw new DecodeError(
      e.reason,
      Math.max(0, wasm.errorOffset() - 2),
      `V1 digest entry: ${DETAILS[-end] ?? "unknown"} (offset in the decompressed entry stream)`,
    );
  }
  internIds(rec, count);
  const strs = recordStrings(rec, count, rec + count * 64, false);
  sk = 0;
  const digest = readDigestRecords(rec, count, strs);
  wasm.setCursor(after);
  if (t === 1) return { type: "synAck", digest, delta: decodeDeltaAt(len, rec + count * 64) };
  // The Syn's cluster id: u16 length, UTF-8 bytes.
  if (after + 2 > len) throw new DecodeError("truncated", after, "Syn cluster id: input ends");
  const cl = u8[IN + after]! | (u8[IN + after + 1]! << 8);
  if (after + 2 + cl > len) {
    throw new DecodeError("truncated", after + 2, `Syn cluster id of ${cl} bytes: input ends`);
  }
  let clusterId: string;
  try {
    clusterId = strictUtf8.decode(u8.subarray(IN + after + 2, IN + after + 2 + cl));
  } catch {
    throw new DecodeError("invalidUtf8", after + 2, "Syn cluster id is not valid UTF-8");
  }
  return { type: "syn", clusterId, digest };
}

/** Counts the entries of a V1 digest's plain stream (`n` bytes at `p`): each is a ChitchatId
 * (u16 length, node id, u64 generation, IP tag 4 or 6 and its 4 or 16 bytes, u16 port) and
 * three u64. A stream that does not end on an entry boundary fails here, an entry that is
 * otherwise bad in the parse. */
function countV1Entries(p: number, n: number): number {
  let at = 0;
  let count = 0;
  while (at < n) {
    if (at + 2 > n) break;
    const idLen = u8[p + at]! | (u8[p + at + 1]! << 8);
    const tagAt = at + 2 + idLen + 8;
    if (tagAt >= n) break;
    const tag = u8[p + tagAt]!;
    if (tag !== 4 && tag !== 6) {
      throw new DecodeError(
        "badIpTag",
        tagAt,
        "V1 digest entry: IP tag is not 4 or 6 " +
          "(offset in the decompressed entry stream)",
      );
    }
    const next = tagAt + 1 + (tag === 4 ? 4 : 16) + 2 + 24;
    if (next > n) break;
    at = next;
    if (++count > 65535) {
      throw new DecodeError("tooLarge", at, "V1 digest holds more than 65 535 entries");
    }
  }
  if (at < n) {
    throw new DecodeError(
      "truncated",
      at,
      `V1 digest: the entry stream of ${n} bytes ends inside the entry at offset ${at} ` +
        "(offset in the decompressed entry stream)",
    );
  }
  return count;
}

/** {@link wasmDecodeMessage} for a receiver that only reads the message while it handles it:
 * the digest entries are objects the decoder lends and reuses, valid until
 * {@link releaseDigestLease}. `leased` says whether they were lent (false when they were already
 * lent out, e.g. to a handler further up the stack: the entries are then fresh objects and
 * there is nothing to release).
 *
 * @example
 * ```ts
 * import { releaseDigestLease, wasmDecodeMessageLeased } from "./_decode.ts";
 * const { message, leased } = wasmDecodeMessageLeased(new Uint8Array([0x53, 0xb0, 0, 3]));
 * console.log(message.type); // badCluster
 * if (leased) releaseDigestLease();
 * ```
 */
export function wasmDecodeMessageLeased(
  bytes: Uint8Array,
): { message: ChitchatMessage; leased: boolean; version: 0 | 1 } {
  if (digestLeased) return { ...wasmDecodeEnvelope(bytes), leased: false };
  readIntoLent = true;
  try {
    const { message, version } = wasmDecodeEnvelope(bytes);
    const leased = message.type === "syn" || message.type === "synAck";
    digestLeased = leased;
    return { message, leased, version };
  } finally {
    readIntoLent = false;
  }
}

/** Ends the lease of {@link wasmDecodeMessageLeased}: its digest entries may be reused.
 *
 * @example
 * ```ts
 * import { releaseDigestLease, wasmDecodeMessageLeased } from "./_decode.ts";
 * const syn = new Uint8Array([0x53, 0xb0, 0, 0, 0, 0, 0, 0]);
 * console.log(wasmDecodeMessageLeased(syn).leased, wasmDecodeMessageLeased(syn).leased); // true false
 * releaseDigestLease();
 * console.log(wasmDecodeMessageLeased(syn).leased); // true
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
 * import { wasmDecodeDelta } from "./_decode.ts";
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
 * import { wasmDecodeDigest } from "./_decode.ts";
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
