/**
 * Digest encoding and decoding (V0, chitchat 0.10.1+: `count: u16`, then per entry ChitchatId,
 * heartbeat, last GC version and max version; V1, chitchat 0.12+: the same entries without a
 * count, as a block stream). Entries go on the wire in ascending
 * {@link compareChitchatIds} order, as chitchat always sends them.
 *
 * @module
 */
import { compareChitchatIds } from "../common/chitchat_id.ts";
import { EncodeError } from "../common/errors.ts";
import type { Digest, NodeDigest } from "../common/types.ts";
import { wasmDecodeDigest } from "./_decode.ts";
import { wasmDigestEntries, wasmEncodeMessage } from "./_encode.ts";
import { writeBlockStream } from "./_delta_writer.ts";

export { utf8Length } from "../common/_utf8.ts";
export { chitchatIdEncodedLength, digestEncodedLength } from "./wire.ts";

/** Returns the entries in wire order (ascending ChitchatId); the input is not modified.
 *
 * @example
 * ```ts
 * import { sortedDigestEntries } from "./digest.ts";
 * console.log(sortedDigestEntries({ nodes: [] }).length); // 0
 * ```
 */
export function sortedDigestEntries(digest: Digest): readonly NodeDigest[] {
  const nodes = digest.nodes;
  for (let i = 1; i < nodes.length; i++) {
    if (compareChitchatIds(nodes[i - 1]!.chitchatId, nodes[i]!.chitchatId) > 0) {
      return [...nodes].sort((a, b) => compareChitchatIds(a.chitchatId, b.chitchatId));
    }
  }
  return nodes;
}

/** Options of {@link encodeDigest}.
 *
 * @example
 * ```ts
 * import { encodeDigest, type EncodeDigestOptions } from "./digest.ts";
 * const raw: EncodeDigestOptions = { protocolVersion: 1, compress: false };
 * console.log(encodeDigest({ nodes: [] }, raw)); // Uint8Array(1) [ 0 ]
 * ```
 */
export interface EncodeDigestOptions {
  /** The wire version to encode for: 0 (default) writes the u16 entry count and the entries;
   * 1 (chitchat 0.12+) writes the same entries without a count as a block stream (16 384-byte
   * blocks, each zstd-compressed when that makes it smaller, then `00`). */
  readonly protocolVersion?: 0 | 1;
  /** V1 only: compress blocks with zstd when that makes them smaller (default true, like
   * chitchat); false writes raw blocks, which chitchat reads as well. */
  readonly compress?: boolean;
}

/** Encodes a bare digest (sorted into wire order), as a Syn or SynAck carries it in the given
 * protocol version. Throws EncodeError for over-long node ids, more than 65 535 entries, or
 * values outside u64. ChitchatId objects are treated as immutable (their wire bytes are cached
 * per object). The V1 length is only known by encoding (it depends on compression): a node
 * sizing a SynAck's delta encodes the digest first and passes the bytes to `encodeSynAck`
 * (option `digestBytes`).
 *
 * @example
 * ```ts
 * import { encodeDigest } from "./digest.ts";
 * console.log(encodeDigest({ nodes: [] })); // Uint8Array(2) [ 0, 0 ]
 * console.log(encodeDigest({ nodes: [] }, { protocolVersion: 1 })); // Uint8Array(1) [ 0 ]
 * const id = { nodeId: "worker:1", generationId: 1n, gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7946 } };
 * const e = { chitchatId: id, heartbeat: 9n, lastGcVersion: 0n, maxVersion: 4n };
 * console.log(encodeDigest({ nodes: [e] }, { protocolVersion: 1 }).slice(0, 3)); // 02 31 00: one raw block of 49 bytes (too small to compress)
 * ```
 */
export function encodeDigest(digest: Digest, options: EncodeDigestOptions = {}): Uint8Array {
  if (options.protocolVersion === 1) {
    const { at, end } = wasmDigestEntries(digest.nodes);
    return writeBlockStream(at, end - at, options.compress ?? true);
  }
  // A SynAck without delta bytes is "header + digest": strip the header.
  const bytes = wasmEncodeMessage({ type: 1, digest: digest.nodes });
  if (bytes.length < 4) throw new EncodeError("internal: digest encoding failed");
  return bytes.subarray(4);
}

/** Decodes a bare digest at the start of `bytes` (trailing bytes are ignored). Entries are
 * returned in wire order, duplicates included. Throws only DecodeError.
 *
 * @example
 * ```ts
 * import { decodeDigest } from "./digest.ts";
 * console.log(decodeDigest(new Uint8Array([0, 0]))); // { nodes: [] }
 * ```
 */
export function decodeDigest(bytes: Uint8Array): Digest {
  return wasmDecodeDigest(bytes).digest;
}
