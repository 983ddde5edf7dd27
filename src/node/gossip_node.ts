/**
 * A gossip node: chitchat's scuttlebutt anti-entropy and phi-accrual failure detection over a
 * {@link Transport}. Byte-compatible with chitchat 0.10 nodes in the same cluster.
 *
 * @module
 */
import { compactU64, type U64 } from "../common/_u64.ts";
import { AsyncQueue } from "../common/async_queue.ts";
import { chitchatIdKey } from "../common/chitchat_id.ts";
import { type Clock, systemClock, type Timer } from "../common/clock.ts";
import { ClusterState } from "../state/_cluster_state.ts";
import { type GossipNodeOptions, resolveConfig, type ResolvedConfig } from "./config.ts";
import { ConfigError, type DecodeError, HearsayError } from "../common/errors.ts";
import { FailureDetector } from "../failure_detector/failure_detector.ts";
import { DeltaWriter } from "../codec/delta.ts";
import {
  decodeMessageLeased,
  MAX_DATAGRAM_SIZE,
  type ProtocolVersion,
  releaseDigestLease,
} from "../codec/message.ts";
import type { NodeState, VersionedValue } from "../state/node_state.ts";
import { defaultRandom, type Random } from "../common/random.ts";
import { formatSocketAddr, parseSocketAddr } from "../common/socket_addr.ts";
import type { Transport } from "../transport/transport.ts";
import { bindUdp } from "../transport/udp.ts";
import type { ChitchatId, ChitchatMessage, SocketAddr } from "../common/types.ts";
import {
  type GossipCandidates,
  gossipCandidates,
  isUnspecified,
  selectGossipTargets,
} from "./peer_selection.ts";
import { resolveSeeds, type SeedSpec, splitSeeds } from "./seeds.ts";
import { ProtocolStep } from "./protocol.ts";
import { Broadcast } from "./broadcast.ts";

export { GOSSIP_FANOUT } from "./peer_selection.ts";

/** A key got a new, non-deleted value (locally or from a peer).
 *
 * @example
 * ```ts
 * import type { KeyChangeEvent } from "./gossip_node.ts";
 * function show(e: KeyChangeEvent) {
 *   console.log(e.chitchatId.nodeId, e.key, e.value);
 * }
 * console.log(typeof show);
 * ```
 */
export interface KeyChangeEvent {
  /** The full key. */
  readonly key: string;
  /** The new value. */
  readonly value: string;
  /** The new version. */
  readonly version: bigint;
  /** `set` or `deleteAfterTtl` (deletions do not fire events). */
  readonly status: "set" | "deleteAfterTtl";
  /** The node that owns the key. */
  readonly chitchatId: ChitchatId;
}

/** Counters of one node (see also the transport's stats).
 *
 * @example
 * ```ts
 * import type { GossipMetrics } from "./gossip_node.ts";
 * function headroom(m: GossipMetrics): number {
 *   return m.datagramLimit - m.digestBytes;
 * }
 * const m = { digestBytes: 65_493, datagramLimit: 65_507 } as GossipMetrics;
 * console.log(headroom(m)); // 14
 * ```
 */
export interface GossipMetrics {
  /** Gossip rounds run. */
  rounds: number;
  /** Duration of the last round's own work, in ms. */
  lastRoundMs: number;
  /** Total time spent in rounds, in ms. */
  roundMsTotal: number;
  /** Datagrams received. */
  datagramsIn: number;
  /** Bytes received. */
  bytesIn: number;
  /** Datagrams sent. */
  datagramsOut: number;
  /** Bytes sent. */
  bytesOut: number;
  /** Sends the transport could not perform. */
  sendErrors: number;
  /** Messages handled, by type. */
  messagesIn: Record<ChitchatMessage["type"], number>;
  /** Messages sent, by type. */
  messagesOut: Record<ChitchatMessage["type"], number>;
  /** Datagrams dropped, by reason (decode error reasons, `messageTooLarge`, ...);
   * `compactSection` counts malformed compact heartbeat sections ignored (PROTOCOL.md §16: the
   * message before them was still handled). */
  dropped: Record<string, number>;
  /** Node states wiped and rebuilt because this node was too far behind. */
  resets: number;
  /** Inputs refused by a resource limit (`maxNodes`, `maxKeysPerNode`, ...), by limit. */
  rejected: Record<string, number>;
  /** Encoded size of this node's digest in its own protocol version (`protocolVersion`: V0
   * uncompressed, V1 compressed), as in its last Syn or last SynAck in that version, in bytes
   * (0 before the first). The chitchat wire sends the whole digest in one datagram: when it nears
   * {@link GossipMetrics.datagramLimit}, the cluster is at its size ceiling. */
  digestBytes: number;
  /** The largest datagram this node's transport carries (65 507 on UDP, less with framing). */
  datagramLimit: number;
}

/** Live nodes (self first, then by ChitchatId) as published by the live-nodes watch. */
export type LiveNodes = readonly NodeState[];

/** The gossip candidates cached by a node, with what they were built from. */
interface CachedCandidates extends GossipCandidates {
  readonly fdVersion: number;
  readonly membershipVersion: number;
  readonly seedMap: ReadonlyMap<string, SocketAddr>;
}

/** Whether two live sets (keys with their max versions) hold the same keys with the same
 * versions, in any order. */
function sameLiveSet(
  aKeys: readonly string[],
  aMax: readonly U64[],
  bKeys: readonly string[],
  bMax: readonly U64[],
): boolean {
  if (aKeys.length !== bKeys.length) return false;
  let i = 0;
  while (i < aKeys.length && aKeys[i] === bKeys[i] && aMax[i] === bMax[i]) i++;
  if (i === aKeys.length) return true;
  // Another order (or a difference): compare as maps from here on.
  const rest = new Map<string, U64>();
  for (let j = i; j < aKeys.length; j++) rest.set(aKeys[j]!, aMax[j]!);
  for (let j = i; j < bKeys.length; j++) {
    const v = rest.get(bKeys[j]!);
    if (v === undefined || v !== bMax[j]) return false;
  }
  return true;
}

/** A chitchat-compatible gossip node.
 *
 * @example
 * ```ts
 * import { GossipNode } from "./gossip_node.ts";
 * const a = await GossipNode.start({ nodeId: "a", clusterId: "doc", listenAddr: "127.0.0.1:0",
 *   gossipIntervalMs: 50 });
 * const b = await GossipNode.start({ nodeId: "b", clusterId: "doc", listenAddr: "127.0.0.1:0",
 *   gossipIntervalMs: 50, seeds: [`127.0.0.1:${a.chitchatId.gossipAdvertiseAddr.port}`] });
 * a.set("greeting", "hello");
 * for await (const e of b.subscribeKeyChanges("greet")) {
 *   console.log(e.chitchatId.nodeId, e.key, e.value); // a greeting hello
 *   break;
 * }
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export class GossipNode {
  /** This node's identity. */
  readonly chitchatId: ChitchatId;
  /** The cluster this node belongs to. */
  readonly clusterId: string;
  readonly #config: ResolvedConfig;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #state: ClusterState;
  readonly #fd: FailureDetector;
  readonly #protocol: ProtocolStep;
  readonly #warn: (message: string) => void;
  #ceilingWarned = false;
  readonly #metrics: Omit<
    GossipMetrics,
    | "datagramsIn"
    | "bytesIn"
    | "datagramsOut"
    | "bytesOut"
    | "sendErrors"
    | "rejected"
    | "digestBytes"
    | "datagramLimit"
  >;
  #seeds: ReadonlyMap<string, SocketAddr> = new Map();
  #seedSpec: SeedSpec = { fixed: new Map(), names: [] };
  #roundTimer: Timer | undefined;
  #seedTimer: Timer | undefined;
  #nextRoundAt = 0;
  #closed = false;
  #pendingDns: Promise<void> | undefined;
  readonly #keySubs = new Broadcast<KeyChangeEvent>();
  readonly #liveSubs = new Broadcast<LiveNodes>();
  /** The live set last published: keys (self first, then in the failure detector's order) and
   * their max versions at the time, numbers while they fit (two arrays, not a map: a node keeps
   * this for every peer, and a map cost ~50 bytes per entry where these cost 16). */
  #previousKeys: string[] = [];
  #previousMax: U64[] = [];
  #liveNodes: LiveNodes = [];
  readonly #closers = new Set<() => void>();

  private constructor(
    config: ResolvedConfig,
    transport: Transport,
    clock: Clock,
    random: Random,
  ) {
    this.#config = config;
    this.#transport = transport;
    this.#clock = clock;
    this.#random = random;
    this.#warn = config.warn;
    const advertise = config.advertiseAddr ?? transport.localAddr;
    if (isUnspecified(advertise)) {
      throw new ConfigError(
        "advertiseAddr",
        `is required when listening on ${formatSocketAddr(transport.localAddr)}: peers cannot ` +
          `reach an unspecified address`,
      );
    }
    this.chitchatId = {
      nodeId: config.nodeId,
      generationId: config.generationId,
      gossipAdvertiseAddr: advertise,
    };
    this.clusterId = config.clusterId;
    this.#metrics = {
      rounds: 0,
      lastRoundMs: 0,
      roundMsTotal: 0,
      messagesIn: { syn: 0, synAck: 0, ack: 0, badCluster: 0 },
      messagesOut: { syn: 0, synAck: 0, ack: 0, badCluster: 0 },
      dropped: {},
      resets: 0,
    };
    this.#state = new ClusterState(this.chitchatId, {
      clockNow: () => clock.now(),
      random,
      onKeyChange: (s, k, v) => this.#emitKeyChange(s, k, v),
      limits: config.limits,
      newDeltaSink: (budget, compress) => new DeltaWriter({ budget, compress }),
    });
    this.#fd = new FailureDetector(config.failureDetector, clock, {
      backend: config.failureDetectorBackend,
    });
    this.#protocol = new ProtocolStep({
      state: this.#state,
      fd: this.#fd,
      config,
      random,
      hooks: {
        onReset: () => {
          this.#metrics.resets++;
          this.#config.catchupCallback?.();
        },
        onLiveNodesChanged: () => this.#publishLiveNodes(),
      },
    });
    const self = this.#state.selfState;
    self.incHeartbeat();
    for (const [k, v] of config.initialKeyValues) self.set(k, v);
  }

  /**
   * Validates the options, binds the transport (UDP unless one is given), resolves the seeds
   * and starts gossiping (the first round runs at once).
   */
  static async start(options: GossipNodeOptions): Promise<GossipNode> {
    const config = resolveConfig(options);
    const clock = options.clock ?? systemClock;
    const random = options.random ?? defaultRandom();
    const transport = options.transport ??
      await bindUdp(config.listenAddr, config.onWarning ? { onWarning: config.onWarning } : {});
    let node: GossipNode;
    try {
      node = new GossipNode(config, transport, clock, random);
    } catch (e) {
      if (options.transport === undefined) await transport.close();
      throw e;
    }
    await node.#initSeeds();
    node.#transport.onReceive((data, from) => node.#onDatagram(data, from));
    node.#scheduleRound(0);
    return node;
  }

  // ---------------------------------------------------------------- seeds

  async #initSeeds(): Promise<void> {
    this.#seedSpec = splitSeeds(this.#config.seeds);
    await this.#resolveSeeds();
    if (this.#seedSpec.names.length > 0) this.#scheduleSeedRefresh();
  }

  async #resolveSeeds(): Promise<void> {
    const next = await resolveSeeds(this.#seedSpec, this.#warn);
    if (!this.#closed) this.#seeds = next;
  }

  #scheduleSeedRefresh(): void {
    this.#seedTimer = this.#clock.setTimer(this.#config.seedRefreshIntervalMs, () => {
      if (this.#closed) return;
      this.#pendingDns = this.#resolveSeeds().finally(() => {
        this.#pendingDns = undefined;
        if (!this.#closed) this.#scheduleSeedRefresh();
      });
    });
  }

  /** The current seed addresses (resolved). */
  seedAddrs(): SocketAddr[] {
    return [...this.#seeds.values()];
  }

  // ---------------------------------------------------------------- rounds

  #scheduleRound(delayMs: number): void {
    if (this.#closed) return;
    this.#nextRoundAt = this.#clock.now() + delayMs;
    this.#roundTimer = this.#clock.setTimer(delayMs, () => this.#round());
  }

  /** The gossip candidates of a round: live, dead and seed addresses (each address once). They
   * only depend on the failure detector's sets, which nodes are held (not their contents) and
   * the seeds, so they are rebuilt only when one of those changed. */
  #candidates: CachedCandidates | undefined = undefined;

  #gossipCandidates(): GossipCandidates {
    const fdVersion = this.#fd.livenessVersion;
    const membershipVersion = this.#state.membershipVersion;
    const cached = this.#candidates;
    if (
      cached !== undefined && cached.fdVersion === fdVersion &&
      cached.membershipVersion === membershipVersion && cached.seedMap === this.#seeds
    ) {
      return cached;
    }
    const fresh: CachedCandidates = {
      ...gossipCandidates({
        selfAddr: formatSocketAddr(this.chitchatId.gossipAdvertiseAddr),
        selfKey: this.#state.selfKey,
        states: this.#state.states,
        liveKeys: this.#fd.liveNodes(),
        deadKeys: this.#fd.deadNodes(),
        seeds: this.#seeds,
      }),
      fdVersion,
      membershipVersion,
      seedMap: this.#seeds,
    };
    this.#candidates = fresh;
    return fresh;
  }

  #round(): void {
    if (this.#closed) return;
    const started = performance.now();
    const c = this.#gossipCandidates();
    const t = selectGossipTargets(this.#random, c);
    this.#state.selfState.incHeartbeat();
    this.#state.gcKeysMarkedForDeletion(this.#config.markedForDeletionGracePeriodMs);
    for (const p of t.peers) this.#sendSyn(p);
    if (t.dead !== undefined) this.#sendSyn(t.dead);
    if (t.seed !== undefined) this.#sendSyn(t.seed);
    this.#updateLiveness();
    this.#metrics.rounds++;
    this.#metrics.lastRoundMs = performance.now() - started;
    this.#metrics.roundMsTotal += this.#metrics.lastRoundMs;
    // Fixed rate: the next round is one interval after the previous one was due, but never
    // more than one interval from now: a clock that stepped back must not stall gossip until
    // its readings catch up again.
    const interval = this.#config.gossipIntervalMs;
    const wait = this.#nextRoundAt + interval - this.#clock.now();
    this.#scheduleRound(Math.min(interval, Math.max(0, wait)));
  }

  #updateLiveness(): void {
    const selfKey = this.#state.selfKey;
    const keys: string[] = [];
    for (const k of this.#state.states.keys()) if (k !== selfKey) keys.push(k);
    this.#fd.updateLiveness(keys);
    this.#publishLiveNodes();
    for (const k of this.#fd.garbageCollect()) {
      if (k !== selfKey) this.#state.removeNode(k);
    }
  }

  /** What the last live-nodes check saw: nothing to publish while it is unchanged. */
  #liveCheck = { fdVersion: -1, stateVersion: -1, selfMax: -1n };

  #publishLiveNodes(): void {
    const check = this.#liveCheck;
    const fdVersion = this.#fd.livenessVersion;
    const stateVersion = this.#state.version;
    const selfMax = this.#state.selfState.maxVersion;
    if (
      check.fdVersion === fdVersion && check.stateVersion === stateVersion &&
      check.selfMax === selfMax
    ) {
      return;
    }
    check.fdVersion = fdVersion;
    check.stateVersion = stateVersion;
    check.selfMax = selfMax;
    const selfKey = this.#state.selfKey;
    // The held states are kept in ChitchatId order: the live ones, self first, need no sort.
    const keys = [selfKey];
    const max = [compactU64(selfMax)];
    const live: NodeState[] = [this.#state.selfState];
    for (const s of this.#state.sortedStates) {
      if (s.isSelf || !this.#fd.isLive(s.key)) continue;
      keys.push(s.key);
      max.push(compactU64(s.maxVersion));
      live.push(s);
    }
    if (sameLiveSet(this.#previousKeys, this.#previousMax, keys, max)) return;
    this.#previousKeys = keys;
    this.#previousMax = max;
    const predicate = this.#config.extraLivenessPredicate;
    const nodes = predicate === undefined ? live : live.filter((s) => predicate(s));
    this.#liveNodes = nodes;
    this.#liveSubs.publish(nodes);
  }

  // ---------------------------------------------------------------- messages

  /** The largest datagram the transport carries (65 507, or less when it adds framing). */
  get #maxDatagram(): number {
    return Math.min(MAX_DATAGRAM_SIZE, this.#transport.maxDatagramSize ?? MAX_DATAGRAM_SIZE);
  }

  /** Sends `bytes` (a `type` message in protocol `version`) unless it exceeds a datagram. */
  #send(
    to: SocketAddr,
    bytes: Uint8Array,
    type: ChitchatMessage["type"],
    version: ProtocolVersion,
  ): void {
    if (bytes.length > this.#maxDatagram) {
      this.#drop("messageTooLarge");
      if ((type === "syn" || type === "synAck") && !this.#ceilingWarned) {
        this.#warnCeiling(bytes, version);
      }
      return;
    }
    if (type === "syn") this.#ceilingWarned = false;
    this.#metrics.messagesOut[type]++;
    this.#transport.send(to, bytes);
  }

  #drop(reason: string): void {
    this.#metrics.dropped[reason] = (this.#metrics.dropped[reason] ?? 0) + 1;
  }

  #sendSyn(to: SocketAddr): void {
    this.#send(to, this.#protocol.syn(this.#maxDatagram), "syn", this.#config.protocolVersion);
  }

  /** Sends a Syn to `addr` now, outside the round schedule. */
  gossip(addr: string | SocketAddr): void {
    this.#assertOpen();
    this.#sendSyn(typeof addr === "string" ? parseSocketAddr(addr) : addr);
  }

  /**
   * Sends a Syn to every live peer now and resolves once each has answered with a SynAck (so
   * this node's Ack, carrying what they miss, is on its way) or after `timeoutMs`. Returns how
   * many peers answered. Used for a graceful leave.
   */
  async gossipToLiveNodes(options: { timeoutMs?: number } = {}): Promise<number> {
    this.#assertOpen();
    const timeoutMs = options.timeoutMs ?? 2 * this.#config.gossipIntervalMs;
    const targets = new Map<string, SocketAddr>();
    for (const id of this.liveNodes()) {
      const a = id.gossipAdvertiseAddr;
      if (id === this.chitchatId || isUnspecified(a)) continue;
      targets.set(formatSocketAddr(a), a);
    }
    if (targets.size === 0) return 0;
    let answered = 0;
    await new Promise<void>((resolve) => {
      const timer = this.#clock.setTimer(timeoutMs, () => finish());
      const finish = () => {
        timer.cancel();
        for (const k of targets.keys()) this.#synAckWaiters.delete(k);
        this.#closers.delete(finish);
        resolve();
      };
      this.#closers.add(finish);
      for (const [k, a] of targets) {
        this.#synAckWaiters.set(k, () => {
          this.#synAckWaiters.delete(k);
          if (++answered === targets.size) finish();
        });
        this.#sendSyn(a);
      }
    });
    return answered;
  }

  readonly #synAckWaiters = new Map<string, () => void>();

  #onDatagram(data: Uint8Array, from: SocketAddr): void {
    if (this.#closed) return;
    let msg: ChitchatMessage;
    let leased = false;
    let version: ProtocolVersion;
    try {
      // The handler only reads the message: its digest entries can be lent objects.
      ({ message: msg, leased, version } = decodeMessageLeased(data));
    } catch (e) {
      // The codec throws only DecodeError (it maps unexpected failures to reason "badOp").
      this.#drop((e as DecodeError).reason);
      return;
    }
    try {
      this.#handle(msg, from, version, data);
    } catch (e) {
      // A bug must not kill the receive path; count it and tell once per occurrence.
      this.#drop("internal");
      this.#warn(`internal error while handling a ${msg.type}: ${(e as Error).stack ?? e}`);
    } finally {
      if (leased) releaseDigestLease();
    }
  }

  /** Handles `msg`, which came in protocol `version` as the bytes `data`: the reply goes out in
   * the same version (chitchat 0.12+'s `Server::handle_envelope`), whatever this node's own
   * setting. */
  #handle(
    msg: ChitchatMessage,
    from: SocketAddr,
    version: ProtocolVersion,
    data: Uint8Array,
  ): void {
    this.#metrics.messagesIn[msg.type]++;
    if (msg.type === "synAck" && this.#synAckWaiters.size > 0) {
      this.#synAckWaiters.get(formatSocketAddr(from))?.();
    }
    const r = this.#protocol.step(msg, this.#maxDatagram, version, data);
    if (r.reply !== undefined) this.#send(from, r.reply, r.replyType!, version);
  }

  // ---------------------------------------------------------------- events

  #emitKeyChange(state: NodeState, key: string, v: VersionedValue): void {
    if (this.#keySubs.size === 0 || v.status === "deleted") return;
    const event: KeyChangeEvent = {
      key,
      value: v.value,
      version: v.version,
      status: v.status,
      chitchatId: state.chitchatId,
    };
    this.#keySubs.publish(event);
  }

  /**
   * Calls `callback` synchronously for every key whose name starts with `prefix` that gets a
   * new non-deleted value, on any node (self included). Returns an unsubscribe function.
   */
  onKeyChange(prefix: string, callback: (event: KeyChangeEvent) => void): () => void {
    this.#assertOpen();
    return this.#keySubs.subscribe((e) => {
      if (e.key.startsWith(prefix)) callback(e);
    });
  }

  /**
   * Key changes under `prefix` as an async iterable, delivered as soon as the delta (or local
   * write) is applied. Ends when the node closes or the loop breaks. A consumer more than
   * `capacity` events behind gets a `SubscriberLaggedError`.
   */
  subscribeKeyChanges(
    prefix: string,
    options: { capacity?: number } = {},
  ): AsyncIterableIterator<KeyChangeEvent> {
    this.#assertOpen();
    let off = (): void => {};
    const queue = new AsyncQueue<KeyChangeEvent>({ ...options, onReturn: () => off() });
    off = this.onKeyChange(prefix, (e) => queue.push(e));
    this.#closers.add(() => queue.close());
    return queue;
  }

  /** Calls `callback` whenever the set of live nodes or one of their max versions changes.
   * Returns an unsubscribe function. */
  onLiveNodesChange(callback: (nodes: LiveNodes) => void): () => void {
    this.#assertOpen();
    return this.#liveSubs.subscribe(callback);
  }

  /** The live-nodes watch: yields the current live nodes first, then every change. Only the
   * latest value matters, so a slow consumer skips intermediate values (never lags). */
  watchLiveNodes(): AsyncIterableIterator<LiveNodes> {
    this.#assertOpen();
    return this.#liveSubs.watch(this.#liveNodes);
  }

  // ---------------------------------------------------------------- state access

  /** This node's own state. */
  selfNodeState(): NodeState {
    return this.#state.selfState;
  }

  /** Sets a key on this node. */
  set(key: string, value: string): void {
    this.#assertOpen();
    this.#state.selfState.set(key, value);
    this.#publishLiveNodes();
  }

  /** Sets a key that is removed after the tombstone grace period. */
  setWithTtl(key: string, value: string): void {
    this.#assertOpen();
    this.#state.selfState.setWithTtl(key, value);
    this.#publishLiveNodes();
  }

  /** Deletes a key of this node; returns false when it did not exist. */
  delete(key: string): boolean {
    this.#assertOpen();
    const r = this.#state.selfState.delete(key);
    this.#publishLiveNodes();
    return r;
  }

  /** Schedules a key of this node for deletion after the grace period, keeping it visible. */
  deleteAfterTtl(key: string): boolean {
    this.#assertOpen();
    const r = this.#state.selfState.deleteAfterTtl(key);
    this.#publishLiveNodes();
    return r;
  }

  /** Every node state held (self included), sorted by ChitchatId. */
  nodeStates(): NodeState[] {
    return [...this.#state.sortedStates];
  }

  /** The state held for `id`, if any. */
  nodeState(id: ChitchatId): NodeState | undefined {
    return this.#state.states.get(chitchatIdKey(id));
  }

  /** Live nodes according to the failure detector, self included (first). */
  liveNodes(): ChitchatId[] {
    const out = [this.chitchatId];
    for (const k of this.#fd.liveNodes()) {
      const s = this.#state.states.get(k);
      if (s !== undefined && !s.isSelf) out.push(s.chitchatId);
    }
    return out;
  }

  /** Nodes the failure detector considers dead (including not-yet-confirmed newcomers). */
  deadNodes(): ChitchatId[] {
    const out: ChitchatId[] = [];
    for (const k of this.#fd.deadNodes()) {
      const s = this.#state.states.get(k);
      if (s !== undefined) out.push(s.chitchatId);
    }
    return out;
  }

  /** Dead nodes past half the dead-node grace period: no longer gossiped about. */
  scheduledForDeletionNodes(): ChitchatId[] {
    const out: ChitchatId[] = [];
    for (const k of this.#fd.scheduledForDeletion()) {
      const s = this.#state.states.get(k);
      if (s !== undefined) out.push(s.chitchatId);
    }
    return out;
  }

  /** The current phi of a node (undefined before it has a heartbeat interval). */
  phi(id: ChitchatId): number | undefined {
    return this.#fd.phi(chitchatIdKey(id));
  }

  /** How long `id` may go without a heartbeat before this node's failure detector declares it
   * dead, in ms, as chitchat 0.12+'s `Chitchat::failure_detection_timeout`: the smoothed mean
   * heartbeat interval × `phiThreshold` (see `FailureDetector.failureDetectionTimeoutMs`). It
   * moves with the heartbeats seen; the declaration itself happens at the next liveness check
   * after that (every gossip round). Undefined for this node itself, unknown nodes, nodes with
   * fewer than two heartbeats, and nodes whose samples were dropped when they were found dead. */
  failureDetectionTimeoutMs(id: ChitchatId): number | undefined {
    const key = chitchatIdKey(id);
    if (key === chitchatIdKey(this.chitchatId)) return undefined;
    return this.#fd.failureDetectionTimeoutMs(key);
  }

  /** Says once (until a Syn fits again) that this node's digest outgrew a datagram; `version`
   * is the protocol version of the message that did not fit. */
  #warnCeiling(bytes: Uint8Array, version: ProtocolVersion): void {
    this.#ceilingWarned = true;
    const digest = this.#protocol.lastDigestBytes;
    const own = this.#config.protocolVersion;
    const advice = version === 0 && own === 0
      ? `about 963 nodes fit with zlayer-style ids "worker:<u64>", more with shorter ids; ` +
        `keep the cluster below that size, use shorter node ids, or, once every node reads V1 ` +
        `(chitchat 0.12+ or hearsay), set protocolVersion 1 (compressed digests, about 7 times ` +
        `more nodes)`
      : version === 0
      ? `this node sends V1 but answers V0 Syns in V0, as chitchat does, with the uncompressed ` +
        `digest: the V0 peers stop getting answers; upgrade them to V1`
      : `the V1 digest is compressed (about 7 times more nodes than V0 with zlayer-style ids); ` +
        `keep the cluster below that size or use shorter node ids`;
    this.#warn(
      `this node's V${version} digest of ${this.#state.states.size} nodes is ${digest} bytes, so ` +
        `its Syn and SynAck (${bytes.length} bytes) exceed the ${this.#maxDatagram}-byte ` +
        `datagram limit and are dropped: peers stop hearing from this node. The chitchat wire ` +
        `sends the whole digest in one datagram (${advice}) ` +
        `(metrics: digestBytes against datagramLimit)`,
    );
  }

  /** Counters (a fresh copy). */
  metrics(): GossipMetrics {
    const t = this.#transport.stats;
    const bad = this.#protocol.compactSectionsRejected;
    const dropped = bad === 0
      ? this.#metrics.dropped
      : { ...this.#metrics.dropped, compactSection: bad };
    return structuredClone({
      ...this.#metrics,
      dropped,
      digestBytes: this.#protocol.ownDigestBytes,
      datagramLimit: this.#maxDatagram,
      datagramsIn: t.datagramsIn,
      bytesIn: t.bytesIn,
      datagramsOut: t.datagramsOut,
      bytesOut: t.bytesOut,
      sendErrors: t.sendErrors,
      rejected: this.#state.rejected,
    });
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new HearsayError(`gossip node ${this.chitchatId.nodeId} is closed`);
  }

  /** Stops gossiping, closes the transport and ends every subscription. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#roundTimer?.cancel();
    this.#seedTimer?.cancel();
    for (const close of this.#closers) close();
    this.#closers.clear();
    this.#keySubs.close();
    this.#liveSubs.close();
    await this.#pendingDns;
    await this.#transport.close();
  }
}
