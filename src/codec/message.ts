/**
 * Whole chitchat 0.10.1 messages: `53 b0` magic, version `00`, type byte, body. Decoding is
 * strict (throws only {@link DecodeError}); trailing bytes after a complete message are ignored,
 * like chitchat.
 *
 * @module
 */
import { DecodeError } from "../common/errors.ts";
import { encodeDelta } from "./delta.ts";
import type { ChitchatMessage, Digest } from "../common/types.ts";
import {
  releaseDigestLease as wasmReleaseDigestLease,
  wasmDecodeMessage,
  wasmDecodeMessageLeased,
} from "./_decode.ts";
import { wasmEncodeMessage } from "./_encode.ts";

export { MAX_DATAGRAM_SIZE, messageEncodedLength } from "./wire.ts";

/** Options of {@link encodeMessage}. */
export interface EncodeMessageOptions {
  /** Compress delta blocks with zstd when that makes them smaller (default true, like chitchat). */
  readonly compress?: boolean;
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
}

/** Encodes a Syn: header, digest (sorted into wire order), cluster id. ChitchatId objects are
 * treated as immutable: their wire bytes are cached per object, so reuse ids rather than
 * mutating them.
 *
 * @example
 * ```ts
 * import { encodeSyn } from "./message.ts";
 * console.log(encodeSyn("cluster-a", { nodes: [] }).length); // 17
 * ```
 */
export function encodeSyn(
  clusterId: string,
  digest: Digest,
  options: EncodeOutputOptions = {},
): Uint8Array {
  return wasmEncodeMessage({
    type: 0,
    digest: digest.nodes,
    clusterId,
    shared: options.shared === true,
  });
}

/** Encodes a SynAck from a digest and delta bytes (as produced by `DeltaWriter.finish()`).
 *
 * @example
 * ```ts
 * import { encodeSynAck } from "./message.ts";
 * console.log(encodeSynAck({ nodes: [] }, new Uint8Array([0]))); // 53 b0 00 01 00 00 00
 * ```
 */
export function encodeSynAck(
  digest: Digest,
  deltaBytes: Uint8Array,
  options: EncodeOutputOptions = {},
): Uint8Array {
  return wasmEncodeMessage({
    type: 1,
    digest: digest.nodes,
    delta: deltaBytes,
    shared: options.shared === true,
  });
}

/** Encodes an Ack from delta bytes (as produced by `DeltaWriter.finish()`).
 *
 * @example
 * ```ts
 * import { encodeAck } from "./message.ts";
 * console.log(encodeAck(new Uint8Array([0]))); // 53 b0 00 02 00
 * ```
 */
export function encodeAck(deltaBytes: Uint8Array, options: EncodeOutputOptions = {}): Uint8Array {
  return wasmEncodeMessage({ type: 2, delta: deltaBytes, shared: options.shared === true });
}

/** Encodes any message. Deltas are cut into 16 384-byte blocks; with `compress` (default true)
 * each block is zstd-compressed when that makes it smaller, as chitchat does. Throws EncodeError.
 *
 * @example
 * ```ts
 * import { encodeMessage } from "./message.ts";
 * console.log(encodeMessage({ type: "badCluster" })); // 53 b0 00 03
 * ```
 */
export function encodeMessage(
  msg: ChitchatMessage,
  options: EncodeMessageOptions = {},
): Uint8Array {
  switch (msg.type) {
    case "syn":
      return encodeSyn(msg.clusterId, msg.digest);
    case "synAck":
      return encodeSynAck(msg.digest, encodeDelta(msg.delta, options));
    case "ack":
      return encodeAck(encodeDelta(msg.delta, options));
    case "badCluster":
      return wasmEncodeMessage({ type: 3 });
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
  try {
    return wasmDecodeMessage(bytes);
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
 * console.log(r.message.type, r.leased); // ack false
 * if (r.leased) releaseDigestLease();
 * ```
 */
export interface LeasedMessage {
  /** The decoded message. */
  readonly message: ChitchatMessage;
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
