/**
 * Everything one node knows about the cluster: a {@link NodeState} per node (its own included),
 * the memory of recently removed nodes, digest and delta computation (chitchat's
 * `ClusterState`).
 *
 * @module
 */
import { chitchatIdKey, compareChitchatIds } from "../common/chitchat_id.ts";
import { ConfigError } from "../common/errors.ts";
import { type KeyChangeHook, NodeState, sharedNodeStateOptions } from "./node_state.ts";
import type { Random } from "../common/random.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { HeldStates } from "./_held_states.ts";
import { intern, internById, type Interned, isAmbiguousHash, keyOfHash } from "./_interned.ts";
import { chitchatIdHash } from "../codec/wire.ts";
import { utf8Length } from "../common/_utf8.ts";
import type { ChitchatId, Delta, Digest, KeyValueMutation, NodeDigest } from "../common/types.ts";

/** How many removed nodes are remembered (with their last heartbeat) so that stale gossip
 * cannot bring them back: 5 000, chitchat 0.11.2+'s `GARBAGE_COLLECTED_NODE_HISTORY_SIZE` (500 up
 * to 0.11.1). */
export const REMOVED_NODE_MEMORY = 5_000;

/** Where {@link ClusterState.computeDelta} writes the delta it selects: a budgeted delta
 * serializer. The codec's `DeltaWriter` is one; the state layer only knows this shape, so that
 * loading it never loads the codec's WASM module.
 *
 * @example
 * ```ts
 * import type { DeltaSink } from "./_cluster_state.ts";
 * import { DeltaWriter } from "../codec/delta.ts";
 * const sink: DeltaSink = new DeltaWriter({ budget: 1000 });
 * console.log(sink.finish()); // Uint8Array(1) [ 0 ]
 * ```
 */
export interface DeltaSink {
  /** Adds a Node op; false when it does not fit. */
  tryAddNode(id: ChitchatId, lastGcVersion: bigint, fromVersionExcluded: bigint): boolean;
  /** Adds `kvs[start..]` in order until one does not fit; returns how many were added. */
  tryAddKeyValues(kvs: readonly KeyValueMutation[], start?: number): number;
  /** Adds a SetMaxVersion op; false when it does not fit. */
  trySetMaxVersion(maxVersion: bigint): boolean;
  /** The delta bytes (blocks + end tag). */
  finish(): Uint8Array;
}

/** Makes the {@link DeltaSink} of one {@link ClusterState.computeDelta} call: at most `budget`
 * bytes, blocks zstd-compressed when `compress`.
 *
 * @example
 * ```ts
 * import type { DeltaSinkFactory } from "./_cluster_state.ts";
 * import { DeltaWriter } from "../codec/delta.ts";
 * const factory: DeltaSinkFactory = (budget, compress) => new DeltaWriter({ budget, compress });
 * console.log(factory(100, false).finish().length); // 1
 * ```
 */
export type DeltaSinkFactory = (budget: number, compress: boolean) => DeltaSink;

/** A held node state: the state itself, with what its cluster keeps about it (one object per
 * held node instead of a state and a record beside it). The extra fields are the cluster's own;
 * code outside this module sees a {@link NodeState}. */
/** A held node state with its key (`chitchatIdKey`). */
export type KeyedNodeState = NodeState & { readonly key: string };

class HeldState extends NodeState {
  /** The state's key (`chitchatIdKey`, the interned string). */
  readonly key: string;
  /** Encoded size of the state's ChitchatId (digest size without re-measuring the id). */
  readonly idBytes: number;
  /** The id's 48-bit hash ({@link chitchatIdHash}), which compact heartbeat entries carry. */
  readonly hash: number;
  /** Where the last stamped digest (scratch of `computeDelta`) mentioned this node: the
   * stamp's base plus the index of the peer's entry in its `nodes`; valid when at least the
   * current base (see `ClusterState.#beginStamp`). One small integer instead of an epoch and
   * an index: a cluster holds one of these per node, and each field costs 8 bytes. An index
   * rather than the object: states are long-lived and decoded digests are not, and
   * old-to-young pointers make every young collection dearer. */
  mark = -1;
  /** The last object equal to the state's id that a digest carried (the decoder hands out one
   * shared object per id), so that the next digest matches by identity. */
  wireId: ChitchatId;

  constructor(shared: Interned, options: ReturnType<typeof sharedNodeStateOptions>) {
    super(shared.id, options);
    this.key = shared.key;
    this.idBytes = shared.idBytes;
    this.hash = shared.hash;
    this.wireId = shared.id;
  }
}

/** Stamp marks stay below this (V8 keeps integers up to 2^31 - 1 unboxed). */
const MAX_MARK = 2 ** 30;

/** The 48-bit hash ({@link chitchatIdHash}) of a digest entry's id: read off the held state
 * when the entry is one (a live digest's entries are), else computed.
 *
 * @example
 * ```ts
 * import { ClusterState, digestEntryHash } from "./_cluster_state.ts";
 * import { chitchatIdHash } from "../codec/wire.ts";
 * import { createRandom } from "../common/random.ts";
 * const self = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
 * const cs = new ClusterState(self, { clockNow: () => 0, random: createRandom(1) });
 * const [entry] = cs.digestWithLength(new Set(), { snapshot: false }).digest.nodes;
 * console.log(digestEntryHash(entry!) === chitchatIdHash(self)); // true
 * ```
 */
export function digestEntryHash(entry: NodeDigest): number {
  return entry instanceof HeldState ? entry.hash : chitchatIdHash(entry.chitchatId);
}

interface Candidate {
  readonly state: NodeState;
  readonly from: bigint;
  readonly unknown: boolean;
  readonly stale: number;
}

/** Replicated cluster state.
 *
 * @example
 * ```ts
 * import { ClusterState } from "./_cluster_state.ts";
 * import { createRandom } from "../common/random.ts";
 * const self = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
 * const cs = new ClusterState(self, { clockNow: () => 0, random: createRandom(1) });
 * cs.selfState.set("k", "v");
 * console.log(cs.digest(new Set()).nodes.length); // 1 (the local node)
 * ```
 */
export class ClusterState {
  /** The local node's id. */
  readonly selfId: ChitchatId;
  /** The local node's key (see `chitchatIdKey`). */
  readonly selfKey: string;
  /** The node states held, by key, in insertion order. */
  readonly #entries = new HeldStates<HeldState>();
  /** The local node's own state (also in `#entries`). */
  readonly #self: HeldState;
  /** `#entries` in ChitchatId order (the digest's wire order). */
  #sorted: HeldState[] = [];
  /** While `reportHeartbeats` runs: the states it added, to go into `#sorted` in one merge at
   * its end (one pass instead of a splice per new node). */
  #pending: HeldState[] | undefined = undefined;
  /** Base of the current digest stamp; the next stamp starts at `#markNext`. */
  #markBase = 0;
  #markNext = 0;
  #version = 0;
  /** Moves when a node state is added or removed. */
  #membership = 0;
  /** The last live digest of every node (see `digestWithLength`). */
  #liveDigest: {
    membership: number;
    nodes: readonly NodeDigest[];
    encodedLength: number;
    entrySizes: Uint16Array | Uint32Array;
  } = { membership: -1, nodes: [], encodedLength: 2, entrySizes: new Uint16Array(0) };
  /** The digest whose entries carry the stamp at `#markBase` (set by `reportHeartbeats`), if still valid. */
  #stamped: Digest | undefined = undefined;
  readonly #removed = new Map<string, bigint>();
  readonly #random: Random;
  /** Options shared by the replicas (and by the local state). */
  readonly #replicaOptions: ReturnType<typeof sharedNodeStateOptions>;
  readonly #selfOptions: ReturnType<typeof sharedNodeStateOptions>;
  readonly #limits: Readonly<Limits>;
  readonly #newDeltaSink: DeltaSinkFactory | undefined;
  /** Inputs refused by a resource limit, by limit name. */
  readonly rejected: Record<string, number> = {};

  /** Creates the state with the local node in it (heartbeat 0). */
  constructor(
    selfId: ChitchatId,
    options: {
      clockNow: () => number;
      random: Random;
      onKeyChange?: KeyChangeHook;
      limits?: Readonly<Limits>;
      /** Where {@link ClusterState.computeDelta} writes (required to compute deltas). */
      newDeltaSink?: DeltaSinkFactory;
    },
  ) {
    this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.#newDeltaSink = options.newDeltaSink;
    this.selfId = selfId;
    const self = intern(chitchatIdKey(selfId), selfId);
    this.selfKey = self.key;
    this.#random = options.random;
    const hook = options.onKeyChange ? { onKeyChange: options.onKeyChange } : {};
    this.#replicaOptions = sharedNodeStateOptions({
      isSelf: false,
      clockNow: options.clockNow,
      ...hook,
    });
    this.#selfOptions = sharedNodeStateOptions({
      isSelf: true,
      clockNow: options.clockNow,
      ...hook,
    });
    this.#self = new HeldState(self, this.#selfOptions);
    this.#add(this.#self);
  }

  #add(entry: HeldState): void {
    this.#version++;
    this.#membership++;
    this.#entries.set(entry);
    if (this.#pending !== undefined) {
      this.#pending.push(entry);
      return;
    }
    const sorted = this.#sorted;
    sorted.splice(this.#insertionPoint(sorted, entry, 0, sorted.length), 0, entry);
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#version++;
    this.#membership++;
    this.#stamped = undefined;
    this.#entries.delete(key);
    this.#sorted.splice(this.#sorted.indexOf(entry), 1);
  }

  /** The entry of `id` (same as looking up `chitchatIdKey(id)`, without building the key). */
  #find(id: ChitchatId): HeldState | undefined {
    // A binary search of `#sorted` (ChitchatId order): no second index to keep per node.
    const sorted = this.#sorted;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = sorted[mid]!;
      if (e.wireId === id) return e;
      const c = compareChitchatIds(e.chitchatId, id);
      if (c === 0) return e;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return undefined;
  }

  /** Merge-join position in `#sorted` for a digest walked in wire order (see `#seek`). */
  #cursor = 0;
  /** The shared record of the last id `#seek` did not find at the cursor. */
  #sought: Interned | undefined = undefined;

  /** Like `#find`, for the entries of one digest in turn (`#cursor = 0` first): a digest comes
   * in ChitchatId order, like `#sorted`, so the entry is usually at the cursor or right after
   * it (matched by identity: the decoder hands out one object per id). Otherwise the id's key
   * finds it (no comparisons; `#sought` keeps the id's record for the caller) and the cursor
   * moves behind it (any order stays correct, only slower). */
  #seek(id: ChitchatId): HeldState | undefined {
    const sorted = this.#sorted;
    const n = sorted.length;
    const i = this.#cursor;
    if (i < n && sorted[i]!.wireId === id) {
      this.#cursor = i + 1;
      return sorted[i];
    }
    if (i + 1 < n && sorted[i + 1]!.wireId === id) {
      this.#cursor = i + 2;
      return sorted[i + 1];
    }
    const shared = internById(id);
    this.#sought = shared;
    const held = this.#entries.get(shared.key);
    if (held === undefined) return undefined;
    held.wireId = id;
    // The cursor goes behind it: a short look ahead by identity, else a binary search (a state
    // added by this same digest is not in `#sorted` yet, and leaves the cursor).
    const end = Math.min(n, i + 64);
    for (let j = i; j < end; j++) {
      if (sorted[j] === held) {
        this.#cursor = j + 1;
        return held;
      }
    }
    const at = this.#insertionPoint(sorted, held, 0, n);
    if (sorted[at] === held) this.#cursor = at + 1;
    return held;
  }

  /** The first index in `sorted[lo..hi)` whose id is not below `entry`'s (binary search). */
  #insertionPoint(sorted: readonly HeldState[], entry: HeldState, lo: number, hi: number): number {
    const id = entry.chitchatId;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareChitchatIds(sorted[mid]!.chitchatId, id) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Puts the states `reportHeartbeats` added into `#sorted`: sorted among themselves (a digest
   * in wire order already is), then merged in one pass, each found from the previous one by a
   * galloping search. */
  #mergePending(): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending === undefined || pending.length === 0) return;
    const old = this.#sorted;
    const n = old.length;
    if (pending.length === 1) {
      const p = pending[0]!;
      old.splice(this.#insertionPoint(old, p, 0, n), 0, p);
      return;
    }
    // Stable: equal ids (which distinct keys do not have) would keep their order.
    pending.sort((x, y) => compareChitchatIds(x.chitchatId, y.chitchatId));
    const merged: HeldState[] = [];
    let from = 0;
    for (const p of pending) {
      const id = p.chitchatId;
      // Gallop: every index below `lo` holds a smaller id; `hi` is past the insertion point.
      let lo = from;
      let hi = from;
      let step = 1;
      while (hi < n && compareChitchatIds(old[hi]!.chitchatId, id) < 0) {
        lo = hi + 1;
        hi = lo + step;
        step *= 2;
      }
      const at = this.#insertionPoint(old, p, lo, Math.min(hi, n));
      for (let j = from; j < at; j++) merged.push(old[j]!);
      merged.push(p);
      from = at;
    }
    for (let j = from; j < n; j++) merged.push(old[j]!);
    this.#sorted = merged;
  }

  /** The key under which the state of `id` is held, or undefined when none is held. Cheaper
   * than `chitchatIdKey` for ids of held nodes. */
  keyOf(id: ChitchatId): string | undefined {
    return this.#find(id)?.key;
  }

  /** The local node's own state. */
  get selfState(): NodeState {
    return this.#self;
  }

  /** Every node state held, keyed by `chitchatIdKey`. */
  get states(): ReadonlyMap<string, NodeState> {
    return this.#entries;
  }

  /** Every node state held (the local node's among them), in ChitchatId order. Read it, do not
   * keep it: the array follows later changes. */
  get sortedStates(): readonly KeyedNodeState[] {
    return this.#sorted;
  }

  /** A counter that moves whenever a node state is added or removed or a delta is applied to
   * one (writes to the local node's own state through `selfState` do not move it): equal values
   * mean the same nodes with the same versions. */
  get version(): number {
    return this.#version;
  }

  /** A counter that moves whenever a node state is added or removed (not when one changes). */
  get membershipVersion(): number {
    return this.#membership;
  }

  /** Number of node states held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The last heartbeat of a recently removed node, if it is remembered. */
  removedHeartbeat(key: string): bigint | undefined {
    return this.#removed.get(key);
  }

  /**
   * Digest rule for one entry about another node: creates the state when needed (unless the
   * node was removed and the heartbeat is not newer) and updates the heartbeat. Returns true
   * when the heartbeat increased (a failure-detector sample).
   */
  reportHeartbeat(key: string, id: ChitchatId, heartbeat: bigint): boolean {
    if (key === this.selfKey) return false;
    const state = this.#entries.get(key) ?? this.#create(intern(key, id), heartbeat);
    return state !== undefined && state.trySetHeartbeat(heartbeat);
  }

  /** A new state for the node of `shared` (held by no state), unless it was removed and
   * `heartbeat` is not newer or the node limit is reached. */
  #create(shared: Interned, heartbeat: bigint): HeldState | undefined {
    const key = shared.key;
    const remembered = this.#removed.get(key);
    if (remembered !== undefined && heartbeat <= remembered) return undefined;
    if (this.#entries.size >= this.#limits.maxNodes) {
      this.#reject("maxNodes");
      return undefined;
    }
    this.#removed.delete(key);
    const state = new HeldState(shared, this.#replicaOptions);
    this.#add(state);
    return state;
  }

  /**
   * Applies the digest rule ({@link ClusterState.reportHeartbeat}) to every entry of `digest`
   * and calls `onSample` with the key of each node whose heartbeat increased.
   */
  reportHeartbeats(digest: Digest, onSample: (key: string) => void): void {
    // Also stamps the entries for a `computeDelta` on the same digest (see `#stamp`).
    const nodes = digest.nodes;
    const base = this.#beginStamp(nodes.length);
    this.#cursor = 0;
    this.#pending = [];
    try {
      for (let i = 0; i < nodes.length; i++) {
        const nd = nodes[i]!;
        let entry = this.#seek(nd.chitchatId);
        if (entry === undefined) {
          // `#seek` looked the id up by key: a node this state does not hold.
          entry = this.#create(this.#sought!, nd.heartbeat);
          if (entry === undefined) continue;
        }
        entry.mark = base + i;
        if (entry.isSelf) continue;
        if (entry.trySetHeartbeat(nd.heartbeat)) onSample(entry.key);
      }
    } finally {
      this.#mergePending();
    }
    this.#stamped = digest;
  }

  /**
   * Applies the digest rule's heartbeat part to compact heartbeat entries (PROTOCOL.md §16,
   * format 2): entry `i` is the id hash `hashes[i]` ({@link chitchatIdHash}) with heartbeat
   * `heartbeats[i]` (a safe integer; NaN: skipped). Only held nodes are updated (a hash this
   * state does not hold, or one two ids share, is ignored: compact entries never add a node)
   * and self is skipped; `onSample` gets the key of each node whose heartbeat increased.
   * Entries in ChitchatId order are matched against the held states in one pass. Returns how
   * many entries named a held node.
   *
   * @example
   * ```ts
   * import { ClusterState } from "./_cluster_state.ts";
   * import { chitchatIdHash } from "../codec/wire.ts";
   * import { createRandom } from "../common/random.ts";
   * const id = (n: string) => ({ nodeId: n, generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } });
   * const cs = new ClusterState(id("a"), { clockNow: () => 0, random: createRandom(1) });
   * cs.reportHeartbeat("b", id("b"), 3n);
   * const hashes = Float64Array.of(chitchatIdHash(id("b")), chitchatIdHash(id("zz")));
   * const samples: string[] = [];
   * console.log(cs.reportHeartbeatsByHash(hashes, Float64Array.of(9, 9), 2, (k) => samples.push(k))); // 1
   * console.log(samples.length, cs.states.get(cs.keyOf(id("b"))!)?.heartbeat); // 1 9n
   * ```
   */
  reportHeartbeatsByHash(
    hashes: Float64Array,
    heartbeats: Float64Array,
    count: number,
    onSample: (key: string) => void,
  ): number {
    if (count > hashes.length || count > heartbeats.length) {
      throw new RangeError(
        `count ${count} exceeds the arrays (${hashes.length} hashes, ${heartbeats.length} heartbeats)`,
      );
    }
    const sorted = this.#sorted;
    const n = sorted.length;
    let c = 0;
    let matched = 0;
    for (let i = 0; i < count; i++) {
      const h = hashes[i]!;
      let e: HeldState | undefined;
      if (c < n && sorted[c]!.hash === h) e = sorted[c++];
      else if (c + 1 < n && sorted[c + 1]!.hash === h) {
        e = sorted[c + 1];
        c += 2;
      } else {
        const key = keyOfHash(h);
        if (key == null) continue;
        e = this.#entries.get(key);
        if (e === undefined) continue;
        // The cursor goes behind it: a short look ahead by identity (the sender's window skips a
        // few of ours), else a binary search.
        const end = Math.min(n, c + 64);
        let j = c;
        while (j < end && sorted[j] !== e) j++;
        if (j < end) c = j + 1;
        else {
          const at = this.#insertionPoint(sorted, e, 0, n);
          if (sorted[at] === e) c = at + 1;
        }
      }
      if (isAmbiguousHash(h)) continue;
      matched++;
      const hb = heartbeats[i]!;
      if (e!.isSelf || Number.isNaN(hb)) continue;
      if (e!.trySetHeartbeat(hb)) onSample(e!.key);
    }
    return matched;
  }

  /** Stamps the entries that `digest` mentions with a new base, each with the index of the
   * peer's (last) entry for it; reuses the stamp of `reportHeartbeats` when no state was added
   * or removed since. Returns the base. */
  #stamp(digest: Digest): number {
    if (this.#stamped === digest) {
      this.#stamped = undefined;
      return this.#markBase;
    }
    this.#stamped = undefined;
    const nodes = digest.nodes;
    const base = this.#beginStamp(nodes.length);
    this.#cursor = 0;
    for (let i = 0; i < nodes.length; i++) {
      const e = this.#seek(nodes[i]!.chitchatId);
      if (e !== undefined) e.mark = base + i;
    }
    return base;
  }

  /** Starts a stamp of `n` entries: marks `base .. base + n - 1` are this stamp's, anything
   * below is an older one's. The bases only grow, so marks stay small integers until they near
   * 2^30; then every mark is cleared and the bases start again from 0. */
  #beginStamp(n: number): number {
    if (this.#markNext + n > MAX_MARK) {
      for (const e of this.#sorted) e.mark = -1;
      this.#markNext = 0;
    }
    this.#markBase = this.#markNext;
    this.#markNext += n;
    return this.#markBase;
  }

  #reject(limit: string): void {
    this.rejected[limit] = (this.rejected[limit] ?? 0) + 1;
  }

  /** Whether applying `nd` to the replica `state` stays within the limits. */
  #withinLimits(state: NodeState, nd: Delta["nodeDeltas"][number]): boolean {
    for (const kv of nd.keyValues) {
      if (
        kv.value.length > this.#limits.maxValueBytes / 3 &&
        utf8Length(kv.value) > this.#limits.maxValueBytes
      ) {
        this.#reject("maxValueBytes");
        return false;
      }
    }
    const after = state.sizeAfter(nd);
    if (after.records > this.#limits.maxKeysPerNode && after.records > state.numRecords) {
      this.#reject("maxKeysPerNode");
      return false;
    }
    if (after.bytes > this.#limits.maxBytesPerNode && after.bytes > state.bytes) {
      this.#reject("maxBytesPerNode");
      return false;
    }
    return true;
  }

  /** Whether a received digest is small enough to process. */
  acceptDigest(digest: Digest): boolean {
    if (digest.nodes.length <= this.#limits.maxDigestEntries) return true;
    this.#reject("maxDigestEntries");
    return false;
  }

  /** Drops a node (dead for too long) and remembers its last heartbeat. */
  removeNode(key: string): void {
    const state = this.#entries.get(key);
    if (state === undefined || key === this.selfKey) return;
    this.#delete(key);
    this.#removed.delete(key);
    this.#removed.set(key, state.heartbeat);
    while (this.#removed.size > REMOVED_NODE_MEMORY) {
      const oldest = this.#removed.keys().next().value as string;
      this.#removed.delete(oldest);
    }
  }

  /** This node's digest, leaving out the nodes scheduled for deletion, in ChitchatId order. */
  digest(scheduledForDeletion: ReadonlySet<string>): Digest {
    return this.digestWithLength(scheduledForDeletion).digest;
  }

  /** {@link ClusterState.digest} and its exact encoded size (`digestEncodedLength`), without
   * measuring every id again, and each entry's encoded size (id and 24 bytes of values), in the
   * digest's order. With `snapshot: false` the entries are the node states themselves
   * (a `NodeState` reads as a `NodeDigest`), in an array shared with later live digests until
   * a node comes or goes: no allocation, but the entries follow later changes, so encode such a
   * digest right away and do not modify it.
   *
   * @example
   * ```ts
   * import { ClusterState } from "./_cluster_state.ts";
   * import { digestEncodedLength } from "../codec/digest.ts";
   * import { createRandom } from "../common/random.ts";
   * const self = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
   * const cs = new ClusterState(self, { clockNow: () => 0, random: createRandom(1) });
   * const { digest, encodedLength } = cs.digestWithLength(new Set());
   * console.log(encodedLength === digestEncodedLength(digest)); // true
   * ```
   */
  digestWithLength(
    scheduledForDeletion: ReadonlySet<string>,
    options: { snapshot?: boolean } = {},
  ): { digest: Digest; encodedLength: number; entrySizes: Uint16Array | Uint32Array } {
    const snapshot = options.snapshot ?? true;
    const skip = scheduledForDeletion.size > 0;
    // A live digest of every node is the same array until a node comes or goes.
    const cached = this.#liveDigest;
    if (!snapshot && !skip && cached.membership === this.#membership) {
      return {
        digest: { nodes: cached.nodes },
        encodedLength: cached.encodedLength,
        entrySizes: cached.entrySizes,
      };
    }
    const nodes: NodeDigest[] = [];
    // Two bytes per entry unless an id is longer than any real one (a u16-prefixed node id).
    let sizes: Uint16Array | Uint32Array = new Uint16Array(this.#sorted.length);
    let length = 2;
    for (const s of this.#sorted) {
      if (skip && scheduledForDeletion.has(s.key)) continue;
      const size = s.idBytes + 24;
      if (size > 0xffff && sizes instanceof Uint16Array) sizes = Uint32Array.from(sizes);
      sizes[nodes.length] = size;
      length += size;
      nodes.push(
        snapshot
          ? {
            chitchatId: s.chitchatId,
            heartbeat: s.heartbeat,
            lastGcVersion: s.lastGcVersion,
            maxVersion: s.maxVersion,
          }
          : s,
      );
    }
    const entrySizes = nodes.length === sizes.length ? sizes : sizes.slice(0, nodes.length);
    if (!snapshot && !skip) {
      this.#liveDigest = { membership: this.#membership, nodes, encodedLength: length, entrySizes };
    }
    return { digest: { nodes }, encodedLength: length, entrySizes };
  }

  /** Runs tombstone GC on every node state. */
  gcKeysMarkedForDeletion(gracePeriodMs: number): void {
    for (const s of this.#entries.values()) s.gcKeysMarkedForDeletion(gracePeriodMs);
  }

  /**
   * Computes what a peer with `digest` is missing, within `budget` bytes of delta, with
   * chitchat's selection and ordering (PROTOCOL.md §5.3). Returns the delta bytes. With
   * `listedOnly` (the digest is partial, PROTOCOL.md §16), only the nodes the
   * digest lists are considered: an absent node is left out, not unknown to the peer.
   */
  computeDelta(
    digest: Digest,
    budget: number,
    scheduledForDeletion: ReadonlySet<string>,
    compress: boolean,
    listedOnly = false,
  ): Uint8Array {
    // Their entry for each of our states, without building keys: stamp the matching entries
    // (a repeated entry wins over an earlier one, as in a map).
    const base = this.#stamp(digest);
    const theirs = digest.nodes;
    const candidates: Candidate[] = [];
    for (const e of this.#entries.values()) {
      const listed = e.mark >= base;
      if (listedOnly && !listed) continue;
      const d = listed ? theirs[e.mark - base] : undefined;
      const state = e;
      const max = d === undefined ? 0n : d.maxVersion;
      const stateMax = state.maxVersion;
      if (stateMax <= max) continue;
      if (scheduledForDeletion.size > 0 && scheduledForDeletion.has(e.key)) continue;
      const gc = d === undefined ? 0n : d.lastGcVersion;
      const stateGc = state.lastGcVersion;
      const reset = gc < stateGc && max < stateGc;
      const from = reset ? 0n : max;
      if (stateMax <= from) continue;
      const unknown = from === 0n;
      candidates.push({ state, from, unknown, stale: unknown ? 0 : state.countStale(from) });
    }
    // Random order first, then a stable sort by priority: equal priorities stay shuffled.
    this.#random.shuffle(candidates);
    candidates.sort((a, b) => {
      if (a.unknown !== b.unknown) return a.unknown ? -1 : 1;
      if (a.unknown) {
        const x = a.state.maxVersion;
        const y = b.state.maxVersion;
        return x < y ? -1 : x > y ? 1 : 0;
      }
      return b.stale - a.stale;
    });
    const newSink = this.#newDeltaSink;
    if (newSink === undefined) {
      throw new ConfigError(
        "newDeltaSink",
        "ClusterState needs a delta sink factory to compute deltas, got none " +
          "(pass e.g. (budget, compress) => new DeltaWriter({ budget, compress }))",
      );
    }
    const writer = newSink(budget, compress);
    for (const c of candidates) {
      if (!writer.tryAddNode(c.state.chitchatId, c.state.lastGcVersion, c.from)) break;
      const records = c.state.staleKeyValues(c.from);
      if (records.length === 0) {
        writer.trySetMaxVersion(c.state.maxVersion);
        continue;
      }
      // A record that does not fit ends the whole delta (chitchat's rule).
      if (writer.tryAddKeyValues(records) < records.length) return writer.finish();
    }
    return writer.finish();
  }

  /** Applies a received delta. Returns whether at least one node state was reset (`reset`) and
   * the node states it changed (`changed`). */
  applyDelta(delta: Delta): { reset: boolean; changed: NodeState[] } {
    let reset = false;
    const changed: NodeState[] = [];
    for (const nd of delta.nodeDeltas) {
      const state = this.#find(nd.chitchatId);
      if (state === undefined) continue;
      if (!state.isSelf && !this.#withinLimits(state, nd)) continue;
      const status = state.applyDelta(nd);
      if (status === "applyAfterReset") reset = true;
      if (status !== "reject") changed.push(state);
    }
    if (changed.length > 0) this.#version++;
    return { reset, changed };
  }
}
