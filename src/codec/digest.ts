/**
 * Digest encoding and decoding (chitchat 0.10.1: `count: u16`, then per entry ChitchatId,
 * heartbeat, last GC version and max version). Entries go on the wire in ascending
 * {@link compareChitchatIds} order, as chitchat always sends them.
 *
 * @module
 */
import { compareChitchatIds } from "../common/chitchat_id.ts";
import { EncodeError } from "../common/errors.ts";
import { ipBytes } from "../common/socket_addr.ts";
import type { ChitchatId, Digest, NodeDigest } from "../common/types.ts";
import { wasmDecodeDigest, wasmEncodeMessage } from "./wasm.ts";

/** Number of UTF-8 bytes of `text` (lone surrogates count as U+FFFD, 3 bytes, as encoders write).
 *
 * @example
 * ```ts
 * import { utf8Length } from "./digest.ts";
 * console.log(utf8Length("héllo")); // 6
 * ```
 */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      n += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // 4 bytes for 2 code units
        i++;
      } else {
        n += 2;
      }
    } else {
      n += 2;
    }
  }
  return n;
}

/** Exact encoded size of a ChitchatId: `2 + len(nodeId) + 8 + 7` (IPv4) or `+ 19` (IPv6).
 *
 * @example
 * ```ts
 * import { chitchatIdEncodedLength } from "./digest.ts";
 * console.log(chitchatIdEncodedLength({
 *   nodeId: "node-10001",
 *   generationId: 0n,
 *   gossipAdvertiseAddr: { ip: "127.0.0.1", port: 10001 },
 * })); // 27
 * ```
 */
export function chitchatIdEncodedLength(id: ChitchatId): number {
  return 2 + utf8Length(id.nodeId) + 8 + (ipBytes(id.gossipAdvertiseAddr.ip).length === 4 ? 7 : 19);
}

/** Exact encoded size of a digest in bytes (`2 + Σ (id + 24)`).
 *
 * @example
 * ```ts
 * import { digestEncodedLength } from "./digest.ts";
 * console.log(digestEncodedLength({ nodes: [] })); // 2
 * ```
 */
export function digestEncodedLength(digest: Digest): number {
  let n = 2;
  for (const e of digest.nodes) n += chitchatIdEncodedLength(e.chitchatId) + 24;
  return n;
}

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
