/**
 * The chitchat wire codec, protocol versions V0 (chitchat 0.10+) and V1 (0.12+, compressed
 * digests; pick it with `protocolVersion: 1`, learn a datagram's with {@link decodeEnvelope}):
 * whole messages (Syn, SynAck, Ack, BadCluster), digests and
 * deltas, with the budgeted {@link DeltaWriter} that cuts a delta to fit a datagram exactly as
 * chitchat does. Byte work runs in a small WebAssembly module; decoding throws only
 * {@link DecodeError} (with a reason and an offset).
 *
 * Who needs it: tools that read or write chitchat datagrams without running a node (packet
 * inspectors, fuzzers, proxies, other transports' tests). A `GossipNode` user does not:
 * the node encodes and decodes by itself.
 *
 * @example Round-trip a Syn
 * ```ts
 * import { decodeMessage, encodeMessage } from "./mod.ts";
 *
 * const id = { nodeId: "a", generationId: 1n, gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7946 } };
 * const bytes = encodeMessage({
 *   type: "syn",
 *   clusterId: "prod",
 *   digest: { nodes: [{ chitchatId: id, heartbeat: 5n, lastGcVersion: 0n, maxVersion: 3n }] },
 * });
 * const msg = decodeMessage(bytes);
 * console.log(msg.type, msg.type === "syn" && msg.digest.nodes[0]?.heartbeat); // syn 5n
 * ```
 *
 * @module
 */
export {
  decodeEnvelope,
  decodeMessage,
  encodeAck,
  encodeBadCluster,
  encodeMessage,
  type EncodeMessageOptions,
  type EncodeOutputOptions,
  encodeSyn,
  encodeSynAck,
  type Envelope,
  MAX_DATAGRAM_SIZE,
  messageEncodedLength,
  type ProtocolVersion,
} from "./message.ts";
export {
  chitchatIdEncodedLength,
  decodeDigest,
  digestEncodedLength,
  encodeDigest,
  type EncodeDigestOptions,
  sortedDigestEntries,
} from "./digest.ts";
export {
  BLOCK_THRESHOLD,
  decodeDelta,
  deltaEncodedLength,
  DeltaWriter,
  type DeltaWriterOptions,
  encodeDelta,
  type EncodeDeltaOptions,
  MIN_DELTA_BUDGET,
  nodeDeltaOpsLength,
} from "./delta.ts";
export type {
  ChitchatId,
  ChitchatMessage,
  Delta,
  Digest,
  KeyStatus,
  KeyValueMutation,
  NodeDelta,
  NodeDigest,
  SocketAddr,
} from "../common/types.ts";
export {
  DecodeError,
  type DecodeErrorReason,
  EncodeError,
  HearsayError,
} from "../common/errors.ts";
