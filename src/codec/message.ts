/**
 * Whole chitchat messages: `53 b0` magic, protocol version (`00` V0, chitchat 0.10+; `01` V1,
 * chitchat 0.12+), type byte, body. V1 differs from V0 only in the digest of a Syn and a SynAck
 * (a block stream instead of a count and entries; docs/CHITCHAT_VERSIONS.md). Decoding reads
 * both versions and is strict (throws only {@link DecodeError}); trailing bytes after a
 * complete message are ignored, like chitchat.
 *
 * @module
 */
import { DecodeError, EncodeError } from "../common/errors.ts";
import { encodeDelta } from "./delta.ts";
import type { ChitchatMessage, Digest } from "../common/types.ts";
import {
  releaseDigestLease as wasmReleaseDigestLease,
  wasmDecodeEnvelope,
  wasmDecodeMessageLeased,
} from "./_decode.ts";
import { wasmEncodeMessage } from "./_encode.ts";
import { encodeDigest } from "./digest.ts";

/** A chitchat protocol version: 0 (V0, every chitchat; the default) or 1 (V1, chitchat 0.12+:
 * compressed digests). A V1 datagram is dropped unread by chitchat 0.10/0.11.
 *
 * @example
 * ```ts
 * import { encodeMessage, type ProtocolVersion } from "./message.ts";
 * const v: ProtocolVersion = 1;
 * console.log(encodeMessage({ type: "badCluster" }, { protocolVersion: v })); // 53 b0 01 03
 * ```
 */
export type ProtocolVersion = 0 | 1;

export { MAX_DATAGRAM_SIZE, messageEncodedLength } from "./wire.ts";

/** Options of {@link encodeMessage}. */
export interface EncodeMessageOptions {
  /** Compress delta blocks (and V1 digest blocks) with zstd when that makes them smaller
   * (default true, like chitchat). */
  readonly compress?: boolean;
  /** The protocol version to write (default 0). */
  readonly protocolVersion?: ProtocolVersion;
}

/** Where {@link encodeSyn}, {@link encodeSynAck} and {@link encodeAck} put their result.
 *
 * @example
 * ```ts
 * import { encodeAck, type EncodeOutputOptions } from "./message.ts";
 * const o: EncodeOutputOptions = { shared: true };
 * const bytes = encodeAck(new Uint8Array([0]), o);
 * console.log(bytes.length, bytes.buffer.byteLength > bytes.length); // 5 true
 * ```
 */
export interface EncodeOutputOptions {
  /** Return a view into a shared output buffer (1 MiB, handed out in turn) instead of a buffer of
   * its own: much cheaper for a sender that hands every message straight to a transport (the
   * engine does). Mind `byteOffset`; a kept result keeps the whole shared buffer alive. Default
   * false. */
  readonly shared?: boolean;
  /** The protocol version to write (default 0): byte 2 of the header and, for a Syn or SynAck,
   * the digest's encoding. */
  readonly protocolVersion?: ProtocolVersion;
  /** Syn and SynAck: the digest already encoded by `encodeDigest` **in `protocolVersion`**,
   * written as is (the `digest` argument is then not read). A node that sizes a SynAck's delta
   * by the digest's length encodes it once this way. */
  readonly digestBytes?: Uint8Array | undefined;
  /** Syn and SynAck, version 0: only these entries of the digest (indices into `digest.nodes`,
   * each once, in any order) go on the wire, in wire order, with their count. Cheaper than a
   * digest of its own for a subset of one digest encoded again and again: the layout cached for
   * the whole digest serves every subset. Not with `digestBytes`. */
  readonly digestSelection?: ArrayLike<number> | undefined;
  /** Bytes written after the complete message (chitchat, and hearsay's decoder, ignore bytes
   * after a complete message; hearsay marks a partial digest this way). */
  readonly trailer?: Uint8Array | undefined;
}

/** Encodes a Syn: header, digest (sorted into wire order), cluster id. ChitchatId objects are
 * treated as immutable: their wire bytes are cached per object, so reuse ids rather than
 * mutating them. V1 digest blocks are compressed when that makes them smaller.
 *
 * @example
 * ```ts
 * import { encodeSyn } from "./message.ts";
 * console.log(encodeSyn("cluster-a", { nodes: [] }).length); // 17
 * console.log(encodeSyn("c", { nodes: [] }, { protocolVersion: 1 })); // 53 b0 01 00 00 01 00 63
 * ```
 */
export function encodeSyn(
  clusterId: string,
  digest: Digest,
  options: EncodeOutputOptions = {},
): Uint8Array {
  const version = options.protocolVersion ?? 0;
  return wasmEncodeMessage({
    type: 0,
    version,
    digest: digest.nodes,
    digestBytes: digestBytesFor(digest, version, options, true),
    clusterId,
    shared: options.shared === true,
    digestSelection: options.digestSelection,
    trailer: options.trailer,
  });
}

/** The digest bytes to write: the given ones, V1's block stream, or undefined (V0 from the
 * entries, on the plan-cached path). */
function digestBytesFor(
  digest: Digest,
  version: ProtocolVersion,
  options: EncodeOutputOptions,
  compress: boolean,
): Uint8Array | undefined {
  const given = options.digestBytes;
  if (options.digestSelection !== undefined && (version !== 0 || given !== undefined)) {
    throw new EncodeError(
      "digestSelection needs the version-0 wire and the digest's entries (not digestBytes)",
    );
  }
  if (given !== undefined || version === 0) return given;
  return encodeDigest(digest, { protocolVersion: 1, compress });
}

/** Encodes a SynAck from a digest and delta bytes (as produced by `DeltaWriter.finish()`).
 *
 * @example
 * ```ts
 * import { encodeSynAck } from "./message.ts";
 * console.log(encodeSynAck({ nodes: [] }, new Uint8Array([0]))); // 53 b0 00 01 00 00 00
 * console.log(encodeSynAck({ nodes: [] }, new Uint8Array([0]), { protocolVersion: 1 })); // 53 b0 01 01 00 00
 * ```
 */
export function encodeSynAck(
  digest: Digest,
  deltaBytes: Uint8Array,
  options: EncodeOutputOptions = {},
): Uint8Array {
  const version = options.protocolVersion ?? 0;
  return wasmEncodeMessage({
    type: 1,
    version,
    digest: digest.nodes,
    digestBytes: digestBytesFor(digest, version, options, true),
    delta: deltaBytes,
    shared: options.shared === true,
    digestSelection: options.digestSelection,
    trailer: options.trailer,
  });
}

/** Encodes an Ack from delta bytes (as produced by `DeltaWriter.finish()`).
 *
 * @example
 * ```ts
 * import { encodeAck } from "./message.ts";
 * console.log(encodeAck(new Uint8Array([0]))); // 53 b0 00 02 00
 * console.log(encodeAck(new Uint8Array([0]), { protocolVersion: 1 })); // 53 b0 01 02 00
 * ```
 */
export function encodeAck(deltaBytes: Uint8Array, options: EncodeOutputOptions = {}): Uint8Array {
  return wasmEncodeMessage({
    type: 2,
    version: options.protocolVersion ?? 0,
    delta: deltaBytes,
    shared: options.shared === true,
    trailer: options.trailer,
  });
}

/** Encodes a BadCluster (the reply to a Syn of another cluster): just the header.
 *
 * @example
 * ```ts
 * import { encodeBadCluster } from "./message.ts";
 * console.log(encodeBadCluster(), encodeBadCluster({ protocolVersion: 1 })); // 53 b0 00 03, 53 b0 01 03
 * ```
 */
export function encodeBadCluster(options: EncodeOutputOptions = {}): Uint8Array {
  return wasmEncodeMessage({
    type: 3,
    version: options.protocolVersion ?? 0,
    shared: options.shared === true,
    trailer: options.trailer,
  });
}

/** Encodes any message in `protocolVersion` (default 0). Deltas (and V1 digests) are cut into
 * 16 384-byte blocks; with `compress` (default true) each block is zstd-compressed when that
 * makes it smaller, as chitchat does. Throws EncodeError.
 *
 * @example
 * ```ts
 * import { decodeEnvelope, encodeMessage } from "./message.ts";
 * console.log(encodeMessage({ type: "badCluster" })); // 53 b0 00 03
 * const syn = encodeMessage({ type: "syn", clusterId: "c", digest: { nodes: [] } }, { protocolVersion: 1 });
 * console.log(syn, decodeEnvelope(syn).version); // 53 b0 01 00 00 01 00 63, 1
 * ```
 */
export function encodeMessage(
  msg: ChitchatMessage,
  options: EncodeMessageOptions = {},
): Uint8Array {
  const protocolVersion = options.protocolVersion ?? 0;
  const compress = options.compress ?? true;
  switch (msg.type) {
    case "syn":
      return encodeSyn(msg.clusterId, msg.digest, {
        protocolVersion,
        digestBytes: digestBytesFor(msg.digest, protocolVersion, {}, compress),
      });
    case "synAck":
      return encodeSynAck(msg.digest, encodeDelta(msg.delta, options), {
        protocolVersion,
        digestBytes: digestBytesFor(msg.digest, protocolVersion, {}, compress),
      });
    case "ack":
      return encodeAck(encodeDelta(msg.delta, options), { protocolVersion });
    case "badCluster":
      return encodeBadCluster({ protocolVersion });
  }
}

/** Decodes one datagram. Throws only {@link DecodeError} (with a reason and an offset);
 * datagrams over {@link MAX_DATAGRAM_SIZE} bytes are rejected before any work. Digest entries
 * come back in wire order.
 *
 * @example
 * ```ts
 * import { decodeMessage } from "./message.ts";
 * console.log(decodeMessage(new Uint8Array([0x53, 0xb0, 0, 2, 0]))); // { type: "ack", delta: { nodeDeltas: [] } }
 * ```
 */
export function decodeMessage(bytes: Uint8Array): ChitchatMessage {
  return decodeEnvelope(bytes).message;
}

/** What {@link decodeEnvelope} returns: the message and the protocol version it came in
 * (chitchat's `ChitchatEnvelope`).
 *
 * @example
 * ```ts
 * import { decodeEnvelope, type Envelope } from "./message.ts";
 * const e: Envelope = decodeEnvelope(new Uint8Array([0x53, 0xb0, 1, 2, 0]));
 * console.log(e.version, e.message.type); // 1 ack
 * ```
 */
export interface Envelope {
  /** Byte 2 of the header: 0 (V0) or 1 (V1). Reply in this version (chitchat does). */
  readonly version: ProtocolVersion;
  /** The decoded message, as {@link decodeMessage} returns it. */
  readonly message: ChitchatMessage;
}

/** {@link decodeMessage} that also says which protocol version the datagram used. Reads V0 and
 * V1 alike (a V1 digest's blocks are decompressed to at most 65 535 bytes each, as chitchat
 * does, and to at most 4 MiB in all); any other version byte fails with reason `badVersion`.
 * Throws only {@link DecodeError}.
 *
 * @example
 * ```ts
 * import { decodeEnvelope, encodeSyn } from "./message.ts";
 * const id = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
 * const digest = { nodes: [{ chitchatId: id, heartbeat: 3n, lastGcVersion: 0n, maxVersion: 0n }] };
 * const { version, message } = decodeEnvelope(encodeSyn("c", digest, { protocolVersion: 1 }));
 * console.log(version, message.type === "syn" && message.digest.nodes[0]?.heartbeat); // 1 3n
 * ```
 */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  try {
    return wasmDecodeEnvelope(bytes);
  } catch (e) {
    throw asDecodeError(e);
  }
}

/** What {@link decodeMessageLeased} returns: the message, and whether its digest entries are
 * lent (then call {@link releaseDigestLease} once done with them).
 *
 * @example
 * ```ts
 * import { decodeMessageLeased, type LeasedMessage, releaseDigestLease } from "./message.ts";
 * const r: LeasedMessage = decodeMessageLeased(new Uint8Array([0x53, 0xb0, 0, 2, 0]));
 * console.log(r.message.type, r.leased, r.version); // ack false 0
 * if (r.leased) releaseDigestLease();
 * ```
 */
export interface LeasedMessage {
  /** The decoded message. */
  readonly message: ChitchatMessage;
  /** The protocol version it came in (see {@link Envelope.version}). */
  readonly version: ProtocolVersion;
  /** Whether the digest entries are lent objects, valid until {@link releaseDigestLease}. */
  readonly leased: boolean;
}

/** {@link decodeMessage} for a receiver that only reads the message while it handles it (the
 * node's receive path): the digest entries of a Syn or SynAck are objects lent by the codec and
 * reused by a later decode, valid until {@link releaseDigestLease}. While a lease is out (a
 * handler further up the stack), the entries are fresh objects and `leased` is false. Throws
 * only {@link DecodeError}, exactly as {@link decodeMessage}.
 *
 * @example
 * ```ts
 * import { decodeMessageLeased, encodeSyn, releaseDigestLease } from "./message.ts";
 * const id = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
 * const syn = encodeSyn("c", { nodes: [{ chitchatId: id, heartbeat: 7n, lastGcVersion: 0n, maxVersion: 0n }] });
 * const first = decodeMessageLeased(syn);
 * const nested = decodeMessageLeased(syn); // while the first lease is out
 * console.log(first.leased, nested.leased); // true false
 * releaseDigestLease();
 * console.log(decodeMessageLeased(syn).leased); // true
 * releaseDigestLease();
 * ```
 */
export function decodeMessageLeased(bytes: Uint8Array): LeasedMessage {
  try {
    return wasmDecodeMessageLeased(bytes);
  } catch (e) {
    throw asDecodeError(e);
  }
}

/** Ends the lease of {@link decodeMessageLeased}: the lent digest entries may be reused.
 *
 * @example
 * ```ts
 * import { decodeMessageLeased, encodeSyn, releaseDigestLease } from "./message.ts";
 * const syn = encodeSyn("c", { nodes: [] });
 * const { leased } = decodeMessageLeased(syn);
 * releaseDigestLease();
 * console.log(leased, decodeMessageLeased(syn).leased); // true true
 * releaseDigestLease();
 * ```
 */
export function releaseDigestLease(): void {
  wasmReleaseDigestLease();
}

/** The decoders' one error mapping: a DecodeError as it is, anything else (a bug, or memory
 * that cannot grow) as an unexpected failure with reason `badOp`. */
function asDecodeError(e: unknown): DecodeError {
  if (e instanceof DecodeError) return e;
  return new DecodeError("badOp", 0, `unexpected failure: ${e instanceof Error ? e.message : e}`);
}
