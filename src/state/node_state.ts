/**
 * The replicated state of one node: a versioned key-value map with tombstones, plus the node's
 * heartbeat, max version and last GC version (chitchat's `NodeState`).
 *
 * Only the owner writes its own state (through {@link GossipNode}); every other node holds a
 * replica that changes only when deltas are applied.
 *
 * @module
 */
import { compareUtf8 } from "../common/chitchat_id.ts";
import { utf8Length } from "../common/_utf8.ts";
import { compactU64 as store, expandU64 as load, type U64 } from "../common/_u64.ts";
import { EncodeError, HearsayError } from "../common/errors.ts";
import type { ChitchatId, KeyStatus, KeyValueMutation, NodeDelta } from "../common/types.ts";

/** A stored value with its version and status.
 *
 * @example
 * ```ts
 * import type { VersionedValue } from "./node_state.ts";
 * const v: VersionedValue = { value: "x", version: 3n, status: "set", statusChangedAtMs: 0 };
 * console.log(v.version);
 * ```
 */
export interface VersionedValue {
  /** The value ("" for a tombstone written by `delete`). */
  readonly value: string;
  /** The record's version within its node. */
  readonly version: bigint;
  /** Live, tombstone, or visible-until-TTL. */
  readonly status: KeyStatus;
  /** Local clock reading (ms) when the status became `deleted` / `deleteAfterTtl` (or was
   * stored); tombstone age is measured from here on every node independently. */
  readonly statusChangedAtMs: number;
}

/** How a node delta was handled by {@link NodeState.applyDelta}.
 *
 * @example
 * ```ts
 * import type { DeltaStatus } from "./node_state.ts";
 * const s: DeltaStatus = "applyAfterReset";
 * console.log(s);
 * ```
 */
export type DeltaStatus = "reject" | "apply" | "applyAfterReset";

/** Called whenever a stored key gets a newer, non-deleted value. */
export type KeyChangeHook = (state: NodeState, key: string, value: VersionedValue) => void;

/** Largest key + value size, in UTF-8 bytes, that a local write accepts. A larger record could
 * never fit into a delta datagram and would block gossip for the whole node (PROTOCOL.md §5.3). */
export const MAX_KEY_VALUE_BYTES = 60_000;

function checkLocalKeyValue(key: string, value: string): void {
  const first = key.codePointAt(0);
  if (first !== undefined && first > 0x7f) {
    throw new EncodeError(
      `key ${JSON.stringify(key)} starts with a multi-byte character; chitchat 0.10 nodes crash ` +
        `on such keys, so keys must start with an ASCII character`,
    );
  }
  const keyBytes = utf8Length(key);
  const valueBytes = utf8Length(value);
  if (keyBytes > 65_535) {
    throw new EncodeError(`key is ${keyBytes} UTF-8 bytes; at most 65535 are allowed`);
  }
  if (keyBytes + valueBytes > MAX_KEY_VALUE_BYTES) {
    throw new EncodeError(
      `key + value are ${keyBytes + valueBytes} UTF-8 bytes; at most ${MAX_KEY_VALUE_BYTES} ` +
        `fit into one gossip datagram`,
    );
  }
}

/** `v + 1` in compact form. */
function next(v: U64): U64 {
  return typeof v === "number" && v < Number.MAX_SAFE_INTEGER ? v + 1 : store(load(v) + 1n);
}

/** A state's records: while there are few, a flat array `[key0, value0, key1, value1, ...]` in
 * insertion order (a replica in a large cluster holds one or two keys, and a Map of one entry
 * costs about three times the array); a Map past {@link FLAT_RECORDS}. Both keep insertion
 * order, an overwrite keeping its place. */
type Records = ManyRecords | Flat;
type Flat = (string | VersionedValue)[];
/** Records kept in a flat array at most. */
const FLAT_RECORDS = 8;

/** The Map form of a state's records, with what a large state keeps beside them: the UTF-8
 * byte count of its keys and values and its records in version order (built on demand). Kept
 * on the container rather than on every state: most states hold a flat handful of records or
 * none, and for those both are cheaper to recompute than two fields on each of a cluster's
 * states are to hold. */
class ManyRecords extends Map<string, VersionedValue> {
  /** UTF-8 bytes of the keys and values held. */
  bytes = 0;
  /** The records in ascending version order; undefined after a write. */
  byVersion: [string, VersionedValue][] | undefined = undefined;
}

/** Read-only stand-in for the records of a state that holds none (never mutated). */
const NO_RECORDS: Flat = Object.freeze([]) as unknown as Flat;

function recordOf(r: Records, key: string): VersionedValue | undefined {
  if (!Array.isArray(r)) return r.get(key);
  for (let i = 0; i < r.length; i += 2) if (r[i] === key) return r[i + 1] as VersionedValue;
  return undefined;
}

function recordCount(r: Records): number {
  return Array.isArray(r) ? r.length >>> 1 : r.size;
}

/** UTF-8 bytes of the keys and values in `r`. */
function recordBytes(r: Records): number {
  if (!Array.isArray(r)) return r.bytes;
  let n = 0;
  for (let i = 0; i < r.length; i += 2) {
    n += utf8Length(r[i] as string) + utf8Length((r[i + 1] as VersionedValue).value);
  }
  return n;
}

/** `r` with `key` set to `vv` (the same container, or a new one when it had to grow). */
function withRecord(r: Records, key: string, vv: VersionedValue): Records {
  if (!Array.isArray(r)) {
    const prev = r.get(key);
    r.bytes += (prev === undefined ? utf8Length(key) : -utf8Length(prev.value)) +
      utf8Length(vv.value);
    r.byVersion = undefined;
    return r.set(key, vv);
  }
  for (let i = 0; i < r.length; i += 2) {
    if (r[i] === key) {
      r[i + 1] = vv;
      return r;
    }
  }
  if (r.length < FLAT_RECORDS * 2) return r.concat(key, vv);
  const m = new ManyRecords();
  for (let i = 0; i < r.length; i += 2) m.set(r[i] as string, r[i + 1] as VersionedValue);
  m.bytes = recordBytes(r);
  return withRecord(m, key, vv);
}

/** `r` without `key`. */
function withoutRecord(r: Records, key: string): Records {
  if (!Array.isArray(r)) {
    const prev = r.get(key);
    if (prev === undefined) return r;
    r.bytes -= utf8Length(key) + utf8Length(prev.value);
    r.byVersion = undefined;
    r.delete(key);
    return r;
  }
  for (let i = 0; i < r.length; i += 2) {
    if (r[i] === key) return r.length === 2 ? NO_RECORDS : r.slice(0, i).concat(r.slice(i + 2));
  }
  return r;
}

/** The records of `r` in ascending version order (cached on a Map until its next write). */
function recordsByVersion(r: Records): [string, VersionedValue][] {
  if (!Array.isArray(r) && r.byVersion !== undefined) return r.byVersion;
  const sorted = recordPairs(r).sort((a, b) =>
    a[1].version < b[1].version ? -1 : a[1].version > b[1].version ? 1 : 0
  );
  if (!Array.isArray(r)) r.byVersion = sorted;
  return sorted;
}

/** Calls `fn` with every record in insertion order. */
function eachRecord(r: Records, fn: (key: string, vv: VersionedValue) => void): void {
  if (!Array.isArray(r)) {
    r.forEach((vv, key) => fn(key, vv));
    return;
  }
  for (let i = 0; i < r.length; i += 2) fn(r[i] as string, r[i + 1] as VersionedValue);
}

/** The records as `[key, record]` pairs in insertion order (a new array). */
function recordPairs(r: Records): [string, VersionedValue][] {
  if (!Array.isArray(r)) return [...r.entries()];
  const out: [string, VersionedValue][] = [];
  for (let i = 0; i < r.length; i += 2) out.push([r[i] as string, r[i + 1] as VersionedValue]);
  return out;
}

/** The options of {@link NodeState}'s constructor. */
interface NodeStateContext {
  readonly isSelf: boolean;
  readonly clockNow: () => number;
  readonly onKeyChange?: KeyChangeHook | undefined;
}

/** Option objects made by {@link sharedNodeStateOptions}: frozen, so a state may keep the object
 * itself instead of a copy of its three fields. */
const SHARED_OPTIONS = new WeakSet<object>();

/** Options for {@link NodeState}'s constructor that many states can share: a state built with
 * them keeps a reference to this one frozen object instead of its own copy of the fields (a
 * cluster holds a replica per node, all with the same clock and hook).
 *
 * @example
 * ```ts
 * import { NodeState, sharedNodeStateOptions } from "./node_state.ts";
 * const options = sharedNodeStateOptions({ isSelf: false, clockNow: () => 0 });
 * const id = { nodeId: "b", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 2 } };
 * const s = new NodeState(id, options);
 * console.log(s.isSelf, Object.isFrozen(options)); // false true
 * ```
 */
export function sharedNodeStateOptions(
  options: { isSelf: boolean; clockNow: () => number; onKeyChange?: KeyChangeHook },
): {
  readonly isSelf: boolean;
  readonly clockNow: () => number;
  readonly onKeyChange?: KeyChangeHook;
} {
  const shared: {
    readonly isSelf: boolean;
    readonly clockNow: () => number;
    readonly onKeyChange?: KeyChangeHook;
  } = Object.freeze({
    isSelf: options.isSelf,
    clockNow: options.clockNow,
    ...(options.onKeyChange ? { onKeyChange: options.onKeyChange } : {}),
  });
  SHARED_OPTIONS.add(shared);
  return shared;
}

/** The replicated state of one node.
 *
 * @example
 * ```ts
 * import { NodeState } from "./node_state.ts";
 * const id = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
 * const s = new NodeState(id, { isSelf: true, clockNow: () => 0 });
 * s.set("color", "blue");
 * console.log(s.get("color"), s.maxVersion);
 * ```
 */
export class NodeState {
  /** The node this state belongs to. */
  readonly chitchatId: ChitchatId;
  /** The records; the shared empty map until the first write (most replicas in a large
   * cluster hold few keys, and an empty Map costs more than the rest of the state). */
  #kv: Records = NO_RECORDS;
  #heartbeat: U64 = 0;
  #maxVersion: U64 = 0;
  #lastGcVersion: U64 = 0;
  /** isSelf, clock and hook: shared by the states of one cluster (see `sharedNodeStateOptions`). */
  readonly #ctx: NodeStateContext;

  /** Creates an empty state. `isSelf` allows local writes; `clockNow` timestamps tombstones. */
  constructor(
    chitchatId: ChitchatId,
    options: { isSelf: boolean; clockNow: () => number; onKeyChange?: KeyChangeHook },
  ) {
    this.chitchatId = chitchatId;
    this.#ctx = SHARED_OPTIONS.has(options) ? options : {
      isSelf: options.isSelf,
      clockNow: options.clockNow,
      onKeyChange: options.onKeyChange,
    };
  }

  /** Last heartbeat accepted for this node (its own counter when this is the local node). */
  get heartbeat(): bigint {
    return load(this.#heartbeat);
  }
  /** Highest version applied. */
  get maxVersion(): bigint {
    return load(this.#maxVersion);
  }
  /** Version up to which tombstones were garbage-collected here. */
  get lastGcVersion(): bigint {
    return load(this.#lastGcVersion);
  }
  /** Whether this is the local node's own state. */
  get isSelf(): boolean {
    return this.#ctx.isSelf;
  }

  /** The visible value of `key` (undefined when missing or deleted). */
  get(key: string): string | undefined {
    const v = recordOf(this.#kv, key);
    return v === undefined || v.status === "deleted" ? undefined : v.value;
  }

  /** The stored record of `key`, tombstones included. */
  getVersioned(key: string): VersionedValue | undefined {
    return recordOf(this.#kv, key);
  }

  /** Whether `key` holds a visible value. */
  containsKey(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Records held, tombstones included. */
  get numRecords(): number {
    return recordCount(this.#kv);
  }

  /** UTF-8 bytes of the keys and values held. */
  get bytes(): number {
    return recordBytes(this.#kv);
  }

  /** What applying `nd` would leave: record count and bytes (for resource limits). */
  sizeAfter(nd: NodeDelta): { records: number; bytes: number } {
    const status = this.deltaStatus(nd);
    if (status === "reject") return { records: recordCount(this.#kv), bytes: this.bytes };
    const fresh = status === "applyAfterReset";
    let records = fresh ? 0 : recordCount(this.#kv);
    let bytes = fresh ? 0 : this.bytes;
    const floor = fresh ? 0n : this.#maxVersion;
    const seen = new Set<string>();
    for (const kv of nd.keyValues) {
      if (kv.version <= floor) continue;
      const prev = fresh || seen.has(kv.key) ? undefined : recordOf(this.#kv, kv.key);
      if (prev === undefined && !seen.has(kv.key)) records++;
      if (prev !== undefined) bytes -= utf8Length(prev.value);
      else bytes += utf8Length(kv.key);
      bytes += utf8Length(kv.value);
      seen.add(kv.key);
    }
    return { records, bytes };
  }

  /** Number of visible keys. */
  get numKeyValues(): number {
    let n = 0;
    eachRecord(this.#kv, (_k, v) => {
      if (v.status !== "deleted") n++;
    });
    return n;
  }

  /** Visible `[key, value]` pairs, sorted by key. */
  keyValues(): [string, string][] {
    return this.iterPrefix("");
  }

  /** Every stored record, tombstones included, sorted by key. */
  keyValuesIncludingDeleted(): [string, VersionedValue][] {
    return recordPairs(this.#kv).sort((a, b) => compareUtf8(a[0], b[0]));
  }

  /** Visible `[key, value]` pairs whose key starts with `prefix`, sorted by key. */
  iterPrefix(prefix: string): [string, string][] {
    const out: [string, string][] = [];
    eachRecord(this.#kv, (k, v) => {
      if (v.status !== "deleted" && k.startsWith(prefix)) out.push([k, v.value]);
    });
    return out.sort((a, b) => compareUtf8(a[0], b[0]));
  }

  static #checkWritable(s: NodeState): void {
    if (!s.#ctx.isSelf) {
      throw new HearsayError(
        `node state of ${s.chitchatId.nodeId} is a replica; only the owner writes its keys`,
      );
    }
  }

  /** Sets `key` to `value` (no-op when it already holds that value, live). */
  set(key: string, value: string): void {
    NodeState.#checkWritable(this);
    checkLocalKeyValue(key, value);
    const prev = recordOf(this.#kv, key);
    if (prev !== undefined && prev.status === "set" && prev.value === value) return;
    NodeState.#store(this, key, {
      value,
      version: load(this.#maxVersion) + 1n,
      status: "set",
      statusChangedAtMs: this.#ctx.clockNow(),
    });
  }

  /** Sets `key` to a value that stays visible and is removed after the tombstone grace period. */
  setWithTtl(key: string, value: string): void {
    NodeState.#checkWritable(this);
    checkLocalKeyValue(key, value);
    const prev = recordOf(this.#kv, key);
    if (prev !== undefined && prev.status === "deleteAfterTtl" && prev.value === value) return;
    NodeState.#store(this, key, {
      value,
      version: load(this.#maxVersion) + 1n,
      status: "deleteAfterTtl",
      statusChangedAtMs: this.#ctx.clockNow(),
    });
  }

  /** Deletes `key` (a tombstone is kept for the grace period). Returns false if it was missing. */
  delete(key: string): boolean {
    NodeState.#checkWritable(this);
    if (recordOf(this.#kv, key) === undefined) return false;
    this.#maxVersion = next(this.#maxVersion);
    NodeState.#put(this, key, {
      value: "",
      version: load(this.#maxVersion),
      status: "deleted",
      statusChangedAtMs: this.#ctx.clockNow(),
    });
    return true;
  }

  /** Keeps `key` visible but schedules its removal after the grace period. Returns false if it
   * was missing. */
  deleteAfterTtl(key: string): boolean {
    NodeState.#checkWritable(this);
    const prev = recordOf(this.#kv, key);
    if (prev === undefined) return false;
    this.#maxVersion = next(this.#maxVersion);
    NodeState.#put(this, key, {
      value: prev.value,
      version: load(this.#maxVersion),
      status: "deleteAfterTtl",
      statusChangedAtMs: this.#ctx.clockNow(),
    });
    return true;
  }

  /** Increments the own heartbeat (local node only). */
  incHeartbeat(): void {
    this.#heartbeat = next(this.#heartbeat);
  }

  /** Digest rule for remote heartbeats: the first value is stored silently (returns false),
   * later ones only when strictly greater (returns true: a failure-detector sample). A number
   * must be a non-negative safe integer (a RangeError otherwise): what compact heartbeat
   * entries carry, without a bigint per value. */
  trySetHeartbeat(heartbeat: bigint | number): boolean {
    let v: U64;
    if (typeof heartbeat === "number") {
      if (!(Number.isSafeInteger(heartbeat) && heartbeat >= 0)) {
        throw new RangeError(`heartbeat must be a non-negative safe integer, got ${heartbeat}`);
      }
      v = heartbeat;
    } else v = store(heartbeat);
    if (this.#heartbeat === 0) {
      this.#heartbeat = v;
      return false;
    }
    if (v > this.#heartbeat) {
      this.#heartbeat = v;
      return true;
    }
    return false;
  }

  /** The heartbeat as a number while it is a safe integer (no allocation), else the bigint:
   * for writers of compact heartbeat entries that read thousands a message.
   *
   * @example
   * ```ts
   * import { NodeState } from "./node_state.ts";
   * const id = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "10.0.0.1", port: 1 } };
   * const s = new NodeState(id, { isSelf: false, clockNow: () => 0 });
   * s.trySetHeartbeat(5n);
   * console.log(s.trySetHeartbeat(7), s.heartbeatValue, s.heartbeat); // true 7 7n
   * ```
   */
  get heartbeatValue(): number | bigint {
    return this.#heartbeat;
  }

  static #store(s: NodeState, key: string, vv: VersionedValue): void {
    if (vv.version > s.#maxVersion) s.#maxVersion = store(vv.version);
    const prev = recordOf(s.#kv, key);
    if (prev !== undefined && prev.version >= vv.version) return;
    NodeState.#put(s, key, vv);
    if (vv.status !== "deleted") s.#ctx.onKeyChange?.(s, key, vv);
  }

  /** The one place records are written (the container keeps its byte count and version
   * index right). */
  static #put(s: NodeState, key: string, vv: VersionedValue): void {
    s.#kv = withRecord(s.#kv, key, vv);
  }

  /** Decides how a node delta relates to this state (PROTOCOL.md §4.5). */
  deltaStatus(nd: NodeDelta): DeltaStatus {
    if (nd.fromVersionExcluded > this.#maxVersion) return "reject";
    const compatible = nd.lastGcVersion <= this.#lastGcVersion ||
      nd.lastGcVersion <= this.#maxVersion;
    if (!compatible) return nd.fromVersionExcluded === 0n ? "applyAfterReset" : "reject";
    return this.#maxVersion < nd.maxVersion ? "apply" : "reject";
  }

  /** Applies a node delta received from a peer; returns what was done. Never lowers
   * `(lastGcVersion, maxVersion)`. */
  applyDelta(nd: NodeDelta): DeltaStatus {
    const status = this.deltaStatus(nd);
    if (status === "reject") return status;
    if (status === "applyAfterReset") {
      this.#kv = NO_RECORDS;
      this.#maxVersion = 0;
      this.#heartbeat = 0;
      this.#lastGcVersion = store(nd.lastGcVersion);
    }
    const floor = this.#maxVersion;
    const now = this.#ctx.clockNow();
    for (const kv of nd.keyValues) {
      if (kv.version <= floor) continue;
      if (kv.status !== "set" && kv.version <= this.#lastGcVersion) continue;
      NodeState.#store(this, kv.key, {
        value: kv.value,
        version: kv.version,
        status: kv.status,
        statusChangedAtMs: now,
      });
    }
    // The codec guarantees nd.maxVersion >= every key version of the delta.
    if (nd.maxVersion > this.#maxVersion) this.#maxVersion = store(nd.maxVersion);
    return status;
  }

  /** Removes tombstones and TTL'd keys older than `gracePeriodMs`; raises `lastGcVersion`. */
  gcKeysMarkedForDeletion(gracePeriodMs: number): void {
    const now = this.#ctx.clockNow();
    let maxRemoved: U64 = this.#lastGcVersion;
    for (const [k, v] of recordPairs(this.#kv)) {
      if (v.status === "set") continue;
      if (now < v.statusChangedAtMs + gracePeriodMs) continue;
      if (v.version > maxRemoved) maxRemoved = v.version;
      this.#kv = withoutRecord(this.#kv, k);
    }
    this.#lastGcVersion = typeof maxRemoved === "bigint" ? store(maxRemoved) : maxRemoved;
  }

  /** Records with a version above `floor` (tombstones included), in ascending version order. */
  staleKeyValues(floor: bigint): KeyValueMutation[] {
    const all = recordsByVersion(this.#kv);
    // Binary search for the first record above the floor.
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (all[mid]![1].version <= floor) lo = mid + 1;
      else hi = mid;
    }
    const out: KeyValueMutation[] = [];
    for (let i = lo; i < all.length; i++) {
      const [key, v] = all[i]!;
      out.push({ key, value: v.value, version: v.version, status: v.status });
    }
    return out;
  }

  /** Number of records (tombstones included) with a version above `floor`. */
  countStale(floor: bigint): number {
    let n = 0;
    eachRecord(this.#kv, (_k, v) => {
      if (v.version > floor) n++;
    });
    return n;
  }
}
