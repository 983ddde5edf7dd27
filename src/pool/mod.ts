/**
 * The pool and zlayer's PeerInfo wire form in full: {@link GossipPool} as in the root module,
 * plus the helpers for the key `worker:<node_id>` ({@link workerKey}, {@link parseWorkerKey},
 * {@link WORKER_KEY_PREFIX}) and the value, base64url of compact JSON ({@link encodePeerInfo},
 * {@link peerInfoToJson}, {@link validatePeerInfo}, ...).
 *
 * Who needs it: code that reads or writes pool members' PeerInfo without a `GossipPool` — a
 * plain `GossipNode` watching a zlayer pool's keys, or tools that inspect or craft the values.
 * A `GossipPool` user needs only the root module.
 *
 * @example Read the pool members' PeerInfo from a plain GossipNode
 * ```ts
 * import { GossipNode } from "../../mod.ts";
 * import { decodePeerInfo, GossipPool, parseWorkerKey, WORKER_KEY_PREFIX } from "./mod.ts";
 *
 * const pool = await GossipPool.start({
 *   nodeId: 7n,
 *   gossipListen: "127.0.0.1:0",
 *   seeds: [],
 *   clusterId: "zlayer",
 *   gossipIntervalMs: 50,
 *   selfInfo: { nodeId: 7n, wgPubkey: "", wgEndpoint: "127.0.0.1:51820", overlayIp: "10.0.0.7", labels: {} },
 * });
 * const observer = await GossipNode.start({
 *   nodeId: "observer",
 *   clusterId: "zlayer",
 *   listenAddr: "127.0.0.1:0",
 *   gossipIntervalMs: 50,
 *   seeds: [pool.gossipAddr],
 * });
 * for await (const change of observer.subscribeKeyChanges(WORKER_KEY_PREFIX)) {
 *   console.log(parseWorkerKey(change.key), decodePeerInfo(change.value).overlayIp); // 7n 10.0.0.7
 *   break;
 * }
 * await Promise.all([pool.close(), observer.close()]);
 * ```
 *
 * @module
 */
export {
  GossipPool,
  type GossipPoolConfig,
  type SubscribeOptions,
  type TopologyEvent,
} from "./pool.ts";
export {
  decodePeerInfo,
  encodePeerInfo,
  parseWorkerKey,
  type PeerInfo,
  peerInfoEquals,
  PeerInfoError,
  peerInfoFromJson,
  peerInfoToJson,
  validatePeerInfo,
  WORKER_KEY_PREFIX,
  workerKey,
} from "./peer_info.ts";
