/**
 * `GossipPool`: worker peer discovery for an overlay network, compatible with zlayer's Rust
 * `GossipPool` (PROTOCOL.md §12). Each worker publishes one {@link PeerInfo} under the key
 * `worker:<id>` of its chitchat node `worker:<id>`, and learns every other worker's.
 *
 * Topology events fire as soon as a delta changes a peer, with no polling; `left`
 * fires when the failure detector declares a peer dead or when it leaves gracefully, and
 * `joined` fires again when it comes back; `peers()` lists live peers.
 *
 * @module
 */
import { AsyncQueue } from "../common/async_queue.ts";
import { chitchatIdKey } from "../common/chitchat_id.ts";
import type { GossipNodeOptions } from "../node/config.ts";
import { ConfigError } from "../common/errors.ts";
import { type GossipMetrics, GossipNode } from "../node/gossip_node.ts";
import type { NodeState } from "../state/node_state.ts";
import {
  decodePeerInfo,
  encodePeerInfo,
  parseWorkerKey,
  type PeerInfo,
  peerInfoEquals,
  PeerInfoError,
  validatePeerInfo,
  WORKER_KEY_PREFIX,
  workerKey,
} from "./peer_info.ts";

/** A change in the set of known workers.
 *
 * @example
 * ```ts
 * import type { TopologyEvent } from "./pool.ts";
 * function describe(e: TopologyEvent): string {
 *   return e.type === "left" ? `${e.nodeId} left (${e.reason})` : `${e.peer.nodeId} ${e.type}`;
 * }
 * console.log(describe({ type: "left", nodeId: 7n, reason: "failed" }));
 * ```
 */
export type TopologyEvent =
  | { readonly type: "joined"; readonly peer: PeerInfo }
  | { readonly type: "updated"; readonly peer: PeerInfo }
  | {
    readonly type: "left";
    readonly nodeId: bigint;
    /** `failed`: declared dead by the failure detector; `left`: withdrew its PeerInfo. */
    readonly reason: "failed" | "left";
  };

/** Configuration of {@link GossipPool.start}: zlayer's `GossipConfig` plus the engine's
 * options.
 *
 * @example
 * ```ts
 * import type { GossipPoolConfig } from "./pool.ts";
 * const config: GossipPoolConfig = {
 *   nodeId: 1n,
 *   gossipListen: "127.0.0.1:0",
 *   seeds: [],
 *   clusterId: "prod",
 *   selfInfo: { nodeId: 1n, wgPubkey: "", wgEndpoint: "10.0.0.1:51820", overlayIp: "", labels: {} },
 * };
 * console.log(config.clusterId);
 * ```
 */
export interface GossipPoolConfig extends
  Omit<
    GossipNodeOptions,
    "nodeId" | "clusterId" | "listenAddr" | "seeds" | "initialKeyValues" | "generationId"
  > {
  /** This worker's id (u64); its chitchat node id is `worker:<id>`. */
  nodeId: bigint;
  /** UDP bind address `"ip:port"` (zlayer uses `0.0.0.0:7946`; then set `advertiseAddr`). */
  gossipListen: string;
  /** Other pool members, `"ip:port"` or `"host:port"`. */
  seeds: readonly string[];
  /** Pools with different cluster ids ignore each other. */
  clusterId: string;
  /** What this worker publishes. `selfInfo.nodeId` must equal `nodeId`. */
  selfInfo: PeerInfo;
  /**
   * Incarnation number. Default: the start time in ms since the epoch. zlayer uses 0 always,
   * which makes a restarted worker look dead to its peers until its heartbeat passes the old
   * one, and makes it absorb its previous incarnation's keys. A fresh generation avoids both;
   * the old incarnation is then declared dead and removed after the dead-node grace period
   * (zlayer's `peers()` lists both until then, with the same PeerInfo id).
   */
  generationId?: bigint;
}

/** Options of {@link GossipPool.subscribe}.
 *
 * @example
 * ```ts
 * import { GossipPool, type SubscribeOptions } from "./pool.ts";
 * const info = (id: bigint) => ({
 *   nodeId: id, wgPubkey: "", wgEndpoint: "127.0.0.1:51820", overlayIp: `10.0.0.${id}`,
 *   labels: {},
 * });
 * const common = { clusterId: "doc-subscribe", gossipIntervalMs: 50, gossipListen: "127.0.0.1:0" };
 * const a = await GossipPool.start({ ...common, nodeId: 1n, seeds: [], selfInfo: info(1n) });
 * const options: SubscribeOptions = { replay: false, capacity: 64 };
 * const changes = a.subscribe(options); // changes from now on only
 * const b = await GossipPool.start({ ...common, nodeId: 2n, seeds: [a.gossipAddr],
 *   selfInfo: info(2n) });
 * const first = (await changes.next()).value;
 * console.log(first?.type); // joined
 * const replayed = a.subscribe(); // replay (the default): current peers first, as `joined`
 * console.log((await replayed.next()).value?.peer.overlayIp); // 10.0.0.2
 * await Promise.all([changes.return?.(), replayed.return?.()]);
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export interface SubscribeOptions {
  /** Emit a `joined` event for every current peer first (default true), so that nothing is
   * missed between reading the peers and following the stream. */
  replay?: boolean;
  /** Events buffered for a slow reader before it gets a `SubscriberLaggedError`. */
  capacity?: number;
}

interface Entry {
  readonly info: PeerInfo;
  readonly stateKey: string;
  readonly generationId: bigint;
}

/** A running gossip pool.
 *
 * @example
 * ```ts
 * import { GossipPool } from "./pool.ts";
 * const info = (id: bigint, port: number) => ({
 *   nodeId: id, wgPubkey: `key-${id}`, wgEndpoint: `127.0.0.1:${port}`, overlayIp: `10.9.0.${id}`,
 *   labels: {},
 * });
 * const common = { clusterId: "doc-pool", gossipIntervalMs: 50,
 *   failureDetector: { initialIntervalMs: 50 } };
 * const a = await GossipPool.start({ ...common, nodeId: 1n, gossipListen: "127.0.0.1:0",
 *   seeds: [], selfInfo: info(1n, 51820) });
 * const b = await GossipPool.start({ ...common, nodeId: 2n, gossipListen: "127.0.0.1:0",
 *   seeds: [a.gossipAddr], selfInfo: info(2n, 51821) });
 * for await (const event of a.subscribe()) {
 *   if (event.type === "joined") {
 *     console.log("joined", event.peer.nodeId, event.peer.overlayIp); // joined 2n 10.9.0.2
 *     break;
 *   }
 * }
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export class GossipPool {
  readonly #node: GossipNode;
  readonly #nodeId: bigint;
  #peers = new Map<bigint, Entry>();
  readonly #subs = new Set<AsyncQueue<TopologyEvent>>();
  readonly #reported = new Set<string>();
  /** Parsed values by node state and key, reused while the version is unchanged. */
  readonly #parsed = new Map<
    string,
    { version: bigint; info: PeerInfo | undefined; error: unknown }
  >();
  #malformed = 0;
  readonly #warn: (m: string) => void;
  #closing: Promise<void> | undefined;

  private constructor(node: GossipNode, nodeId: bigint, warn: (m: string) => void) {
    this.#node = node;
    this.#nodeId = nodeId;
    this.#warn = warn;
  }

  /** Starts the pool: binds, publishes `selfInfo` and starts gossiping with the seeds. */
  static async start(config: GossipPoolConfig): Promise<GossipPool> {
    const { nodeId, gossipListen, seeds, clusterId, selfInfo, generationId, ...engine } = config;
    if (typeof nodeId !== "bigint" || nodeId < 0n || nodeId >= 1n << 64n) {
      throw new ConfigError("nodeId", `must be a bigint in 0..2^64-1, got ${String(nodeId)}`);
    }
    let info: PeerInfo;
    try {
      info = validatePeerInfo(selfInfo);
    } catch (e) {
      throw new ConfigError("selfInfo", (e as Error).message);
    }
    if (info.nodeId !== nodeId) {
      throw new ConfigError("selfInfo.nodeId", `must equal nodeId ${nodeId}, got ${info.nodeId}`);
    }
    const key = workerKey(nodeId);
    const node = await GossipNode.start({
      ...engine,
      nodeId: key,
      clusterId,
      listenAddr: gossipListen,
      seeds,
      generationId: generationId ?? BigInt(Date.now()),
      initialKeyValues: [[key, encodePeerInfo(info)]],
    });
    const pool = new GossipPool(
      node,
      nodeId,
      config.onWarning ?? ((m) => console.warn(`hearsay pool: ${m}`)),
    );
    node.onLiveNodesChange((nodes) => pool.#refresh(nodes));
    pool.#refresh(node.liveNodes().map((id) => node.nodeState(id)!));
    return pool;
  }

  /** The cluster id. */
  get clusterId(): string {
    return this.#node.clusterId;
  }

  /** This worker's id. */
  get nodeId(): bigint {
    return this.#nodeId;
  }

  /** The gossip address peers use for this worker, `"ip:port"`. */
  get gossipAddr(): string {
    const a = this.#node.chitchatId.gossipAdvertiseAddr;
    return a.ip.includes(":") ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
  }

  /** The underlying gossip node (for metrics, raw keys, or advanced use). */
  get node(): GossipNode {
    return this.#node;
  }

  /** Malformed PeerInfo values seen from peers (each reported once). */
  get malformedPeerInfos(): number {
    return this.#malformed;
  }

  #collect(states: Iterable<NodeState>): Map<bigint, Entry> {
    const out = new Map<bigint, Entry>();
    for (const s of states) {
      if (s.isSelf) continue;
      const stateKey = chitchatIdKey(s.chitchatId);
      for (const [key, value] of s.iterPrefix(WORKER_KEY_PREFIX)) {
        const id = parseWorkerKey(key);
        if (id === undefined || id === this.#nodeId) continue;
        const version = s.getVersioned(key)?.version ?? 0n;
        const cacheKey = `${stateKey}\u0000${key}`;
        let cached = this.#parsed.get(cacheKey);
        if (cached === undefined || cached.version !== version) {
          cached = { version, info: undefined, error: undefined };
          try {
            cached.info = decodePeerInfo(value);
          } catch (e) {
            cached.error = e;
          }
          this.#parsed.set(cacheKey, cached);
        }
        const info = cached.info;
        if (info === undefined) {
          const e = cached.error;
          const tag = `${cacheKey}\u0000${version}`;
          if (!this.#reported.has(tag)) {
            // Remember what was reported, boundedly (a hostile peer can mint new versions).
            if (this.#reported.size >= 10_000) this.#reported.clear();
            this.#reported.add(tag);
            this.#malformed++;
            const why = e instanceof PeerInfoError ? e.message : String(e);
            this.#warn(`ignoring malformed PeerInfo ${key} from ${s.chitchatId.nodeId}: ${why}`);
          }
          continue;
        }
        const prev = out.get(info.nodeId);
        // Two incarnations alive at once: the newer generation wins.
        if (prev !== undefined && prev.generationId > s.chitchatId.generationId) continue;
        out.set(info.nodeId, { info, stateKey, generationId: s.chitchatId.generationId });
      }
    }
    return out;
  }

  /** Forgets parsed values of nodes the engine no longer holds. */
  #pruneParsed(): void {
    const held = new Set(this.#node.nodeStates().map((s) => chitchatIdKey(s.chitchatId)));
    for (const k of this.#parsed.keys()) {
      // The key part is `worker:<digits>`, so the last NUL separates it from the node key.
      if (!held.has(k.slice(0, k.lastIndexOf("\u0000")))) this.#parsed.delete(k);
    }
  }

  #refresh(live: readonly NodeState[]): void {
    if (this.#closing !== undefined && this.#subs.size === 0) return;
    const next = this.#collect(live);
    if (this.#parsed.size > 1_024 + 4 * live.length) this.#pruneParsed();
    const liveKeys = new Set(live.map((s) => chitchatIdKey(s.chitchatId)));
    const events: TopologyEvent[] = [];
    for (const [id, entry] of this.#peers) {
      if (next.has(id)) continue;
      const reason = liveKeys.has(entry.stateKey) ? "left" : "failed";
      events.push({ type: "left", nodeId: id, reason });
    }
    for (const [id, entry] of next) {
      const prev = this.#peers.get(id);
      if (prev === undefined) events.push({ type: "joined", peer: entry.info });
      else if (!peerInfoEquals(prev.info, entry.info)) {
        events.push({ type: "updated", peer: entry.info });
      }
    }
    this.#peers = next;
    for (const e of events) for (const q of this.#subs) q.push(e);
  }

  /**
   * Known peers, never this worker. Live peers only, unless `includeDead` (then every peer
   * still held, as zlayer's `peers()` returns them, newest incarnation first per id).
   */
  peers(options: { includeDead?: boolean } = {}): PeerInfo[] {
    if (!options.includeDead) return [...this.#peers.values()].map((e) => e.info);
    return [...this.#collect(this.#node.nodeStates()).values()].map((e) => e.info);
  }

  /** Topology events as an async iterable. With `replay` (default) the current peers come
   * first as `joined`. Ends when the pool closes or the loop breaks. */
  subscribe(options: SubscribeOptions = {}): AsyncIterableIterator<TopologyEvent> {
    const queue: AsyncQueue<TopologyEvent> = new AsyncQueue<TopologyEvent>({
      ...(options.capacity !== undefined ? { capacity: options.capacity } : {}),
      onReturn: () => this.#subs.delete(queue),
    });
    if (options.replay ?? true) {
      for (const e of this.#peers.values()) queue.push({ type: "joined", peer: e.info });
    }
    if (this.#node.closed) queue.close();
    else this.#subs.add(queue);
    return queue;
  }

  /** Publishes a new PeerInfo for this worker (after a key rotation, new labels...). Its
   * `nodeId` must be this worker's. A no-op when nothing changed. */
  announceSelf(info: PeerInfo): void {
    const p = validatePeerInfo(info);
    if (p.nodeId !== this.#nodeId) {
      throw new PeerInfoError(`announceSelf: nodeId must be ${this.#nodeId}, got ${p.nodeId}`);
    }
    this.#node.set(workerKey(this.#nodeId), encodePeerInfo(p));
  }

  /** This worker's published PeerInfo. */
  selfInfo(): PeerInfo {
    return decodePeerInfo(this.#node.selfNodeState().get(workerKey(this.#nodeId))!);
  }

  /** Engine counters. */
  metrics(): GossipMetrics {
    return this.#node.metrics();
  }

  /**
   * Leaves gracefully and stops: withdraws this worker's PeerInfo (a tombstone, so hearsay
   * pools emit `left` with reason `left` and zlayer's `peers()` drops it at once), pushes that
   * to every live peer (waiting at most `leaveTimeoutMs`, default two gossip intervals), then
   * closes the node and ends every subscription. Idempotent.
   */
  close(options: { leaveTimeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= (async () => {
      if (!this.#node.closed) {
        this.#node.delete(workerKey(this.#nodeId));
        await this.#node.gossipToLiveNodes(
          options.leaveTimeoutMs !== undefined ? { timeoutMs: options.leaveTimeoutMs } : {},
        );
        await this.#node.close();
      }
      for (const q of this.#subs) q.close();
      this.#subs.clear();
    })();
    return this.#closing;
  }
}
