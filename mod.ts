/**
 * hearsay: gossip-based peer discovery for overlay networks, byte-compatible with the Rust
 * crate `chitchat` 0.10 and with zlayer's `GossipPool`.
 *
 * - {@link GossipPool}: each worker publishes a {@link PeerInfo} and learns everyone else's;
 *   topology events as an async iterable.
 * - {@link GossipNode}: the protocol engine (scuttlebutt anti-entropy, versioned key-values
 *   with tombstones, phi-accrual failure detection, cluster-id isolation).
 * - The wire codec ({@link encodeMessage}, {@link decodeMessage}, {@link DeltaWriter}), with its
 *   hot path in WebAssembly.
 * - Transports: UDP ({@link bindUdp}) and an in-memory network on a virtual clock
 *   ({@link MemoryNetwork}, {@link VirtualClock}) for deterministic tests and simulations.
 *
 * @example
 * ```ts
 * import { GossipPool } from "./mod.ts";
 *
 * const pool = await GossipPool.start({
 *   nodeId: 1n,
 *   gossipListen: "127.0.0.1:0",
 *   seeds: [],
 *   clusterId: "example",
 *   selfInfo: {
 *     nodeId: 1n,
 *     wgPubkey: "",
 *     wgEndpoint: "127.0.0.1:51820",
 *     overlayIp: "10.0.0.1",
 *     labels: {},
 *   },
 * });
 * console.log(pool.clusterId, pool.peers().length); // example 0
 * await pool.close();
 * ```
 *
 * @module
 */
export type * from "./src/common/types.ts";
export * from "./src/common/errors.ts";
export * from "./src/common/socket_addr.ts";
export * from "./src/common/chitchat_id.ts";
export * from "./src/codec/message.ts";
export * from "./src/codec/digest.ts";
export * from "./src/codec/delta.ts";
export * from "./src/state/node_state.ts";
export { ClusterState, REMOVED_NODE_MEMORY, type SampleMemo } from "./src/state/cluster_state.ts";
export * from "./src/failure_detector/failure_detector.ts";
export * from "./src/node/config.ts";
export * from "./src/node/gossip_node.ts";
export * from "./src/common/async_queue.ts";
export * from "./src/pool/peer_info.ts";
export * from "./src/pool/pool.ts";
export * from "./src/common/clock.ts";
export * from "./src/common/virtual_clock.ts";
export * from "./src/common/random.ts";
export type * from "./src/transport/transport.ts";
export * from "./src/transport/udp.ts";
export * from "./src/transport/memory.ts";
export * from "./src/transport/encrypted.ts";
export * from "./src/transport/keyring.ts";
