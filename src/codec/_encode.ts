/**
 * Encoding: messages from parts, with the ChitchatId wire bytes cached per id object and the
 * layout of recent digests ("plans") kept in WASM memory, and the string and u64 helpers the
 * delta writer shares.
 *
 * @module
 */
import { EncodeError } from "../common/errors.ts";
import { compareChitchatIds } from "../common/chitchat_id.ts";
import { utf8Length } from "../common/_utf8.ts";
import { chitchatIdWireBytes } from "./wire.ts";
import type { ChitchatId, NodeDigest } from "../common/types.ts";
import * as wasm from "./_wasm.ts";
import { align64, allocRegion, ensure, freeRegion, SCRATCH, u32, u64, u8 } from "./_memory.ts";

const U64_MAX = (1n << 64n) - 1n;
const textEncoder = new TextEncoder();

export function checkU64(v: bigint, what: string): void {
  if (v < 0n || v > U64_MAX) throw new EncodeError(`${what} must be a u64 (0..2^64-1), got ${v}`);
}

/** Encodes `text` at `at` (at most 65 535 bytes). Returns the byte length. */
export function putString(text: string, at: number, what: string): number {
  const n = text.length;
  if (n === 0) return 0;
  if (n <= 32) {
    // Short ASCII (node ids, keys): a plain loop beats a subarray plus encodeInto.
    let i = 0;
    const bytes = u8; // a local: the imported view would be re-read at every store
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      bytes[at + i] = c;
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
export interface EncodedId {
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
export function encodedId(id: ChitchatId): EncodedId {
  const addr = id.gossipAdvertiseAddr;
  const hit = idCache.get(id);
  if (
    hit !== undefined && hit.nodeId === id.nodeId && hit.generationId === id.generationId &&
    hit.ip === addr.ip && hit.port === addr.port
  ) {
    return hit;
  }
  checkU64(id.generationId, "generationId");
  if (utf8Length(id.nodeId) > 65535) {
    throw new EncodeError(
      "nodeId is longer than 65 535 UTF-8 bytes (chitchat's u16 length prefix); shorten it",
    );
  }
  const bytes = chitchatIdWireBytes(id);
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

/** A region for a plan of `bytes` bytes. Sizes are rounded to powers of two (at least 4 KiB)
 * so that a dropped plan's region is reused by later plans (see `allocRegion`). */
function allocPlanRegion(bytes: number): { at: number; capacity: number } {
  let capacity = 4096;
  while (capacity < bytes) capacity *= 2;
  return { at: allocRegion(capacity), capacity };
}

function freePlanRegion(plan: DigestPlan): void {
  freeRegion(plan.at, plan.capacity);
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

/** The shared output buffer of `shared` encodings: results are views into one 1 MiB buffer,
 * handed out in turn; a full buffer is left to the garbage collector (freed once its last view
 * is) and a new one started. One allocation per many messages instead of one per message: a
 * simulation of many nodes sends tens of megabytes per second, and allocating every datagram
 * separately is what drove most of its garbage collection. */
let sharedOutput = new ArrayBuffer(0);
let sharedOutputUsed = 0;
const SHARED_OUTPUT_BYTES = 1 << 20;

/** `n` bytes: a view into the shared output buffer when `shared`, else a buffer of its own. */
function output(n: number, shared: boolean): Uint8Array {
  if (!shared) return new Uint8Array(n);
  if (sharedOutputUsed + n > sharedOutput.byteLength) {
    sharedOutput = new ArrayBuffer(Math.max(SHARED_OUTPUT_BYTES, n));
    sharedOutputUsed = 0;
  }
  const v = new Uint8Array(sharedOutput, sharedOutputUsed, n);
  sharedOutputUsed = (sharedOutputUsed + n + 7) & ~7;
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
    putDigestValues(w64, q, e);
  }
  return i;
}

/** Writes `e`'s heartbeat, last GC version and max version at u64 index `q` of `w64`, each
 * checked to be a u64. */
function putDigestValues(w64: BigUint64Array, q: number, e: NodeDigest): void {
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

export function u64Error(what: string, v: bigint): EncodeError {
  return new EncodeError(`${what} must be a u64 (0..2^64-1), got ${v}`);
}

/** Message parts for {@link wasmEncodeMessage}. */
export interface MessageParts {
  /** Message type code (0 Syn, 1 SynAck, 2 Ack, 3 BadCluster). */
  readonly type: 0 | 1 | 2 | 3;
  /** Protocol version written in byte 2 (default 0). */
  readonly version?: 0 | 1;
  /** Digest entries in any order (Syn, SynAck); they go on the wire in ascending ChitchatId
   * order, equal ids in input order. Ignored when `digestBytes` is given. */
  readonly digest?: readonly NodeDigest[];
  /** The digest already encoded for `version` (V0: count and entries; V1: a block stream),
   * written as is instead of encoding `digest`. */
  readonly digestBytes?: Uint8Array | undefined;
  /** Cluster id (Syn). */
  readonly clusterId?: string;
  /** Delta bytes (SynAck, Ack). */
  readonly delta?: Uint8Array;
  /** Return a view into the shared output buffer (see `EncodeOutputOptions.shared`). */
  readonly shared?: boolean;
  /** Only these entries of `digest` (indices into it, distinct, any order) go on the wire, in
   * wire order (see `EncodeOutputOptions.digestSelection`). */
  readonly digestSelection?: ArrayLike<number> | undefined;
  /** Bytes written after the complete message (see `EncodeOutputOptions.trailer`). */
  readonly trailer?: Uint8Array | undefined;
}

/** Writes the message header (type `t`, version 0) and, for a Syn or SynAck, the V0 digest of
 * `entries` (u16 count, entries in wire order) into WASM scratch memory, leaving `extra` bytes
 * of room behind. Returns the addresses `[out, end)`, valid until the next codec call. */
function writeHeadAndDigest(
  t: 0 | 1 | 2 | 3,
  entries: readonly NodeDigest[],
  extra: number,
  selection?: ArrayLike<number>,
): { out: number; end: number } {
  const n = entries.length;
  const m = selection === undefined ? n : selection.length;
  if (m > 65535) {
    throw new EncodeError(`a digest holds at most 65 535 entries (u16 count), got ${m}`);
  }
  const hasDigest = t === 0 || t === 1;
  let plan = hasDigest && n > 0 ? candidatePlan(entries) ?? newPlan(entries) : null;
  for (;;) {
    const blobLen = plan === null ? 0 : plan.blobLength;
    const valsAt = SCRATCH;
    const out = align64(valsAt + 24 * n);
    const bound = 4 + 2 + blobLen + 24 * n + extra + 8;
    // A selection's wire order (u32 input indices) goes behind the message's room.
    const selAt = align64(out + bound);
    ensure(selection === undefined ? out + bound : selAt + 4 * m);
    wasm.putHeader(out, t);
    if (plan === null || m === 0) {
      if (!hasDigest) return { out, end: out + 4 };
      wasm.putLen(out + 4, 0);
      return { out, end: out + 6 };
    }
    if (selection === undefined) {
      const i = writeDigestValues(entries, plan.ids, valsAt >>> 3);
      if (i < n) {
        // The candidate was another digest with the same ends: lay this one out.
        plan = newPlan(entries);
        continue;
      }
      const end = Number(
        wasm.encodeDigestIds(out + 4, plan.at, plan.offsAt, valsAt, plan.permAt, n),
      );
      return { out, end };
    }
    if (!samePlanIds(entries, plan.ids)) {
      plan = newPlan(entries);
      continue;
    }
    writeSelection(entries, selection, plan, valsAt >>> 3, selAt >>> 2);
    const end = Number(wasm.encodeDigestIds(out + 4, plan.at, plan.offsAt, valsAt, selAt, m));
    return { out, end };
  }
}

/** Whether `entries` carry exactly the plan's id objects, in order. */
function samePlanIds(entries: readonly NodeDigest[], ids: readonly ChitchatId[]): boolean {
  const n = entries.length;
  if (ids.length !== n) return false;
  for (let i = 0; i < n; i++) if (entries[i]!.chitchatId !== ids[i]) return false;
  return true;
}

/** Per input index: selected by the selection being written (cleared after each one). */
let selected = new Uint8Array(0);

/** Writes the values of the selected entries (three u64 each, at their input index from u64
 * index `q`) and the selection's input indices in wire order (u32 from index `w`). Throws
 * EncodeError for an index out of range or given twice. */
function writeSelection(
  entries: readonly NodeDigest[],
  selection: ArrayLike<number>,
  plan: DigestPlan,
  q: number,
  w: number,
): void {
  const n = entries.length;
  const m = selection.length;
  if (selected.length < n) selected = new Uint8Array(Math.max(n, 2 * selected.length));
  const mark = selected;
  const w64 = u64;
  let k = 0;
  try {
    for (; k < m; k++) {
      const i = selection[k]!;
      if (!Number.isInteger(i) || i < 0 || i >= n) {
        throw new EncodeError(
          `digestSelection[${k}] must be an index into the digest's ${n} entries, got ${i}`,
        );
      }
      if (mark[i] === 1) {
        throw new EncodeError(`digestSelection lists entry ${i} twice; list each entry once`);
      }
      mark[i] = 1;
      putDigestValues(w64, q + 3 * i, entries[i]!);
    }
    // Wire order: the plan's order, keeping the selected entries (one pass, no sort).
    const w32 = u32;
    if (plan.permAt === 0) {
      for (let i = 0; i < n; i++) if (mark[i] === 1) w32[w++] = i;
    } else {
      const p = plan.permAt >>> 2;
      for (let j = 0; j < n; j++) {
        const i = w32[p + j]!;
        if (mark[i] === 1) w32[w++] = i;
      }
    }
  } finally {
    for (let j = 0; j < k; j++) mark[selection[j]!] = 0;
  }
}

/** The digest entries of `entries` in wire order, without a count (the V0 digest minus its
 * first two bytes, the V1 digest's plain stream), in WASM scratch memory: `[at, end)`, valid
 * until the next codec call. Throws EncodeError like {@link wasmEncodeMessage}. */
export function wasmDigestEntries(entries: readonly NodeDigest[]): { at: number; end: number } {
  const { out, end } = writeHeadAndDigest(1, entries, 0);
  return { at: out + 6, end };
}

/** Encodes a message from parts (digest entries sorted into wire order). Throws EncodeError.
 * ChitchatId objects are treated as immutable: their encoding is cached per object.
 *
 * @example
 * ```ts
 * import { wasmEncodeMessage } from "./_encode.ts";
 * console.log(wasmEncodeMessage({ type: 2, delta: new Uint8Array([0]) })); // 53 b0 00 02 00
 * ```
 */
export function wasmEncodeMessage(parts: MessageParts): Uint8Array {
  const t = parts.type;
  const given = t === 0 || t === 1 ? parts.digestBytes : undefined;
  const cluster = t === 0 ? parts.clusterId ?? "" : "";
  const delta = t === 1 || t === 2 ? parts.delta : undefined;
  const clusterRoom = t === 0 ? 2 + Math.min(cluster.length * 3, 65536) : 0;
  let out: number;
  let end: number;
  const selection = t === 0 || t === 1 ? parts.digestSelection : undefined;
  if (given === undefined) {
    ({ out, end } = writeHeadAndDigest(t, parts.digest ?? [], clusterRoom, selection));
  } else {
    if (selection !== undefined) {
      throw new EncodeError("digestSelection needs the digest's entries, not digestBytes");
    }
    ({ out, end } = writeHeadAndDigest(2, [], given.length + clusterRoom));
    u8[out + 3] = t;
    u8.set(given, end);
    end += given.length;
  }
  if (parts.version === 1) u8[out + 2] = 1;
  if (t === 0) {
    const len = putString(cluster, end + 2, "clusterId");
    wasm.putLen(end, len);
    end += 2 + len;
  }
  const head = end - out;
  const trailer = parts.trailer;
  const tail = (delta?.length ?? 0) + (trailer?.length ?? 0);
  if (parts.shared !== true) {
    // One slice() of WASM memory: it copies without first zeroing a fresh buffer (the delta
    // and trailer bytes are put behind the header first).
    if (tail === 0) return u8.slice(out, end);
    ensure(end + tail + 64);
    if (delta !== undefined) u8.set(delta, end);
    if (trailer !== undefined) u8.set(trailer, end + tail - trailer.length);
    return u8.slice(out, end + tail);
  }
  const result = output(head + tail, true);
  result.set(u8.subarray(out, end));
  // Delta and trailer bytes go straight from their arrays to the result (one copy).
  if (delta !== undefined) result.set(delta, head);
  if (trailer !== undefined) result.set(trailer, head + tail - trailer.length);
  return result;
}
