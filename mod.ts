/**
 * hearsay: gossip-based peer discovery for overlay networks, byte-compatible with the Rust
 * crate `chitchat` 0.10 and with zlayer's `GossipPool`.
 *
 * The root module holds what a pool or node user needs:
 *
 * - {@link GossipPool}: each pool member publishes a {@link PeerInfo} and learns everyone
 *   else's; topology events as an async iterable.
 * - {@link GossipNode}: the protocol engine (scuttlebutt anti-entropy, versioned key-values
 *   with tombstones, phi-accrual failure detection, cluster-id isolation), its options and
 *   {@link presets}, and the views its API returns ({@link NodeState}, {@link ChitchatId}).
 * - The UDP transport ({@link bindUdp}) and the {@link Transport} interface other transports
 *   implement; the errors users catch ({@link HearsayError} and its subclasses).
 *
 * The rest lives in narrower entry points:
 *
 * - `@hearsay/gossip/codec`: the wire codec (encode and decode messages, digests, deltas).
 * - `@hearsay/gossip/testing`: an in-memory network on a virtual clock, seeded randomness.
 * - `@hearsay/gossip/transport`: opt-in encryption (`EncryptedTransport`, keyrings).
 * - `@hearsay/gossip/pool`: zlayer's PeerInfo key and JSON helpers.
 * - `@hearsay/gossip/worker`: the pool-member command line program.
 *
 * @example Two pool members on loopback
 * ```ts
 * import { GossipPool, type PeerInfo } from "./mod.ts";
 *
 * const info = (id: bigint): PeerInfo => ({
 *   nodeId: id,
 *   wgPubkey: `key-${id}`,
 *   wgEndpoint: `127.0.0.1:${51820 + Number(id)}`,
 *   overlayIp: `10.0.0.${id}`,
 *   labels: {},
 * });
 * const common = { clusterId: "example", gossipIntervalMs: 50, gossipListen: "127.0.0.1:0" };
 * const a = await GossipPool.start({ ...common, nodeId: 1n, seeds: [], selfInfo: info(1n) });
 * const b = await GossipPool.start({
 *   ...common,
 *   nodeId: 2n,
 *   seeds: [a.gossipAddr],
 *   selfInfo: info(2n),
 * });
 * for await (const event of a.subscribe()) {
 *   if (event.type === "joined") {
 *     console.log(event.peer.overlayIp); // 10.0.0.2
 *     break;
 *   }
 * }
 * await Promise.all([a.close(), b.close()]);
 * ```
 *
 * @module
 */

// The pool.
export {
  GossipPool,
  type GossipPoolConfig,
  type SubscribeOptions,
  type TopologyEvent,
} from "./src/pool/pool.ts";
export {
  decodePeerInfo,
  encodePeerInfo,
  type PeerInfo,
  PeerInfoError,
} from "./src/pool/peer_info.ts";

// The node, its options and what its API returns.
export {
  type GossipMetrics,
  GossipNode,
  type KeyChangeEvent,
  type LiveNodes,
} from "./src/node/gossip_node.ts";
export { DEFAULT_LIMITS, type GossipNodeOptions, type Limits, presets } from "./src/node/config.ts";
export { PARTIAL_DIGEST_MODES, type PartialDigestMode } from "./src/node/_partial_digest.ts";
export type { FailureDetectorConfig } from "./src/failure_detector/failure_detector.ts";
export { type DeltaStatus, NodeState, type VersionedValue } from "./src/state/node_state.ts";
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
} from "./src/common/types.ts";
export { AddressParseError, formatSocketAddr, parseSocketAddr } from "./src/common/socket_addr.ts";
export { chitchatIdEquals, chitchatIdKey, formatChitchatId } from "./src/common/chitchat_id.ts";
export type { Clock, Timer } from "./src/common/clock.ts";
export type { Random } from "./src/common/random.ts";

// Errors users catch.
export {
  AddressInUseError,
  ConfigError,
  HearsayError,
  UnsupportedRuntimeError,
} from "./src/common/errors.ts";
export { SubscriberLaggedError } from "./src/common/async_queue.ts";

// Transports.
export type { DatagramHandler, Transport, TransportStats } from "./src/transport/transport.ts";
export {
  bindUdp,
  type BindUdpOptions,
  type UdpTransport,
  type UdpTransportStats,
} from "./src/transport/udp.ts";
export { MAX_DATAGRAM_SIZE } from "./src/codec/message.ts";
