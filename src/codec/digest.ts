/**
 * Digest encoding and decoding (chitchat 0.10.1: `count: u16`, then per entry ChitchatId,
 * heartbeat, last GC version and max version). Entries go on the wire in ascending
 * {@link compareChitchatIds} order, as chitchat always sends them.
 *
 * @module
 */
import { compareChitchatIds } from "../common/chitchat_id.ts";
import { EncodeError } from "../common/errors.ts";
import type { Digest, NodeDigest } from "../common/types.ts";
import { wasmDecodeDigest } from "./_decode.ts";
import { wasmEncodeMessage } from "./_encode.ts";

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

/** Encodes a bare digest (sorted into wire order). Throws EncodeError for over-long node ids,
 * more than 65 535 entries, or values outside u64. ChitchatId objects are treated as immutable
 * (their wire bytes are cached per object).
 *
 * @example
 * ```ts
 * import { encodeDigest } from "./digest.ts";
 * console.log(encodeDigest({ nodes: [] })); // Uint8Array(2) [ 0, 0 ]
 * ```
 */
export function encodeDigest(digest: Digest): Uint8Array {
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
