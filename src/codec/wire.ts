/**
 * The wire's constants and exact encoded sizes: plain arithmetic that loads no WASM, so that the
 * state layer, the transports and the node can size things without instantiating the codec.
 * `message.ts`, `digest.ts` and `delta.ts` re-export what users need.
 *
 * @module
 */
import { ipBytes } from "../common/socket_addr.ts";
import { utf8Length } from "../common/_utf8.ts";
import type { ChitchatId, ChitchatMessage, Delta, Digest, NodeDelta } from "../common/types.ts";

/** The largest UDP payload chitchat sends or receives (65 507 bytes: 65 535 minus the IPv4 and
 * UDP headers), and the most any decode accepts.
 *
 * @example
 * ```ts
 * import { MAX_DATAGRAM_SIZE } from "./wire.ts";
 * console.log(MAX_DATAGRAM_SIZE); // 65507
 * ```
 */
export const MAX_DATAGRAM_SIZE = 65_507;

/** Bytes of a message's header: magic `53 b0`, version `00`, type byte.
 *
 * @example
 * ```ts
 * import { MESSAGE_HEADER_BYTES } from "./wire.ts";
 * import { encodeMessage } from "./message.ts";
 * console.log(encodeMessage({ type: "badCluster" }).length === MESSAGE_HEADER_BYTES); // true
 * ```
 */
export const MESSAGE_HEADER_BYTES = 4;

/** The block size chitchat cuts op streams into (also capped by the budget).
 *
 * @example
 * ```ts
 * import { BLOCK_THRESHOLD } from "./wire.ts";
 * console.log(BLOCK_THRESHOLD); // 16384
 * ```
 */
export const BLOCK_THRESHOLD = 16384;

/** The smallest budget chitchat's serializer accepts; a reply with less room carries an empty
 * delta.
 *
 * @example
 * ```ts
 * import { MIN_DELTA_BUDGET } from "./wire.ts";
 * console.log(MIN_DELTA_BUDGET); // 100
 * ```
 */
export const MIN_DELTA_BUDGET = 100;

/** The delta budget of a reply that must fit in `maxDatagram` bytes: what is left after the
 * header and, for a SynAck, its digest (`digestEncodedLength` bytes **in the version the reply
 * is sent in**: the V0 length, or the length of the V1 block stream `encodeDigest` wrote; 0 for
 * an Ack). chitchat 0.12+ reserves its configured version's length instead, which can overflow;
 * see docs/CHITCHAT_VERSIONS.md. Returns 0
 * when that is below {@link MIN_DELTA_BUDGET}: the reply then carries an empty delta.
 *
 * @example
 * ```ts
 * import { deltaBudget, MAX_DATAGRAM_SIZE } from "./wire.ts";
 * console.log(deltaBudget(MAX_DATAGRAM_SIZE)); // 65503 (an Ack)
 * console.log(deltaBudget(MAX_DATAGRAM_SIZE, 65_000)); // 503 (a SynAck)
 * console.log(deltaBudget(1200, 1100)); // 0 (too little room)
 * ```
 */
export function deltaBudget(maxDatagram: number, digestEncodedLength = 0): number {
  const budget = maxDatagram - MESSAGE_HEADER_BYTES - digestEncodedLength;
  return budget < MIN_DELTA_BUDGET ? 0 : budget;
}

/** Exact encoded size of a ChitchatId: `2 + len(nodeId) + 8 + 7` (IPv4) or `+ 19` (IPv6).
 *
 * @example
 * ```ts
 * import { chitchatIdEncodedLength } from "./wire.ts";
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
 * import { digestEncodedLength } from "./wire.ts";
 * const id = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
 * console.log(digestEncodedLength({ nodes: [] })); // 2
 * console.log(digestEncodedLength({ nodes: [{ chitchatId: id, heartbeat: 1n, lastGcVersion: 0n, maxVersion: 0n }] })); // 44
 * ```
 */
export function digestEncodedLength(digest: Digest): number {
  let n = 2;
  for (const e of digest.nodes) n += chitchatIdEncodedLength(e.chitchatId) + 24;
  return n;
}

/** Exact size of the op stream of a node delta (no blocks).
 *
 * @example
 * ```ts
 * import { nodeDeltaOpsLength } from "./wire.ts";
 * console.log(nodeDeltaOpsLength({
 *   chitchatId: { nodeId: "node-10001", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 10001 } },
 *   lastGcVersion: 0n,
 *   fromVersionExcluded: 0n,
 *   keyValues: [],
 *   maxVersion: 0n,
 * })); // 44
 * ```
 */
export function nodeDeltaOpsLength(nd: NodeDelta): number {
  let n = 1 + chitchatIdEncodedLength(nd.chitchatId) + 16;
  for (const kv of nd.keyValues) n += 1 + 2 + utf8Length(kv.key) + 2 + utf8Length(kv.value) + 9;
  if (nd.keyValues.length === 0 && nd.maxVersion > 0n) n += 9;
  return n;
}

/** Exact size of `encodeDelta(delta, { compress: false })`: op bytes, 3 bytes per started
 * 16 384-byte block, and the end tag.
 *
 * @example
 * ```ts
 * import { deltaEncodedLength } from "./wire.ts";
 * console.log(deltaEncodedLength({ nodeDeltas: [] })); // 1
 * ```
 */
export function deltaEncodedLength(delta: Delta): number {
  let ops = 0;
  for (const nd of delta.nodeDeltas) ops += nodeDeltaOpsLength(nd);
  return ops + 3 * Math.ceil(ops / BLOCK_THRESHOLD) + 1;
}

/** Exact size of `encodeMessage(msg, { compress: false })`.
 *
 * @example
 * ```ts
 * import { messageEncodedLength } from "./wire.ts";
 * console.log(messageEncodedLength({ type: "syn", clusterId: "cluster-a", digest: { nodes: [] } })); // 17
 * ```
 */
export function messageEncodedLength(msg: ChitchatMessage): number {
  switch (msg.type) {
    case "syn":
      return MESSAGE_HEADER_BYTES + digestEncodedLength(msg.digest) + 2 +
        utf8Length(msg.clusterId);
    case "synAck":
      return MESSAGE_HEADER_BYTES + digestEncodedLength(msg.digest) +
        deltaEncodedLength(msg.delta);
    case "ack":
      return MESSAGE_HEADER_BYTES + deltaEncodedLength(msg.delta);
    case "badCluster":
      return MESSAGE_HEADER_BYTES;
  }
}

/** The V0 wire bytes of `id`: `u16 len, node id (UTF-8), u64 generation, ip tag (4 or 6), ip
 * bytes, u16 port`, all little-endian (PROTOCOL.md §2). The one definition of that layout: the
 * encoder caches these bytes per id, {@link chitchatIdHash} hashes them. Throws a RangeError
 * when the node id is longer than 65 535 UTF-8 bytes or the generation is not a u64.
 *
 * @example
 * ```ts
 * import { chitchatIdWireBytes } from "./wire.ts";
 * const b = chitchatIdWireBytes({ nodeId: "a", generationId: 2n, gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7946 } });
 * console.log(b.length, [...b.subarray(0, 4)], [...b.subarray(11, 18)]); // 18 [ 1, 0, 97, 2 ] [ 4, 10, 0, 0, 1, 138, 31 ]
 * ```
 */
export function chitchatIdWireBytes(id: ChitchatId): Uint8Array {
  const gen = id.generationId;
  if (typeof gen !== "bigint" || gen < 0n || gen > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`generationId must be a u64 bigint, got ${String(gen)}`);
  }
  const name = wireTextEncoder.encode(id.nodeId);
  if (name.length > 0xffff) {
    throw new RangeError(
      `nodeId is ${name.length} UTF-8 bytes; chitchat's u16 length prefix holds at most 65 535`,
    );
  }
  const addr = id.gossipAdvertiseAddr;
  const ip = ipBytes(addr.ip);
  const n = name.length;
  const bytes = new Uint8Array(2 + n + 8 + 1 + ip.length + 2);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, n, true);
  bytes.set(name, 2);
  view.setBigUint64(2 + n, gen, true);
  bytes[10 + n] = ip.length === 4 ? 4 : 6;
  bytes.set(ip, 11 + n);
  view.setUint16(11 + n + ip.length, addr.port & 0xffff, true);
  return bytes;
}

const wireTextEncoder = new TextEncoder();

const FNV_OFFSET = 0xcbf2_9ce4_8422_2325n;
const FNV_PRIME = 0x100_0000_01b3n;
const MASK_64 = 0xffff_ffff_ffff_ffffn;

/** The 48-bit id hash of hearsay's compact heartbeat entries (PROTOCOL.md §16, format 2): the
 * low 48 bits of FNV-1a-64 over {@link chitchatIdWireBytes}, as a number (exact: below 2^53).
 * Not a chitchat fact: only hearsay nodes read these entries.
 *
 * @example
 * ```ts
 * import { chitchatIdHash } from "./wire.ts";
 * const id = { nodeId: "a", generationId: 2n, gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7946 } };
 * const h = chitchatIdHash(id);
 * console.log(h < 2 ** 48, h === chitchatIdHash({ ...id }), h === chitchatIdHash({ ...id, generationId: 3n })); // true true false
 * ```
 */
export function chitchatIdHash(id: ChitchatId): number {
  let h = FNV_OFFSET;
  for (const b of chitchatIdWireBytes(id)) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK_64;
  return Number(h & 0xffff_ffff_ffffn);
}
