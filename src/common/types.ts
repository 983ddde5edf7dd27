/**
 * The logical shapes of chitchat 0.10 protocol data, shared by the codec, the engine and the
 * pool. Every u64 of the wire (versions, heartbeats, generation ids) is a `bigint`.
 *
 * @module
 */

/** A UDP socket address. `ip` is the canonical text form: dotted IPv4, or RFC 5952 IPv6
 * (lowercase, compressed, `::ffff:1.2.3.4` for IPv4-mapped addresses), without brackets.
 *
 * @example
 * ```ts
 * import type { SocketAddr } from "./types.ts";
 * const addr: SocketAddr = { ip: "127.0.0.1", port: 7946 };
 * console.log(addr.port);
 * ```
 */
export interface SocketAddr {
  /** IPv4 or IPv6 address in canonical text form (no brackets). */
  readonly ip: string;
  /** UDP port, 0..65535. */
  readonly port: number;
}

/** The identity of one incarnation of a node: node id, generation and advertised address.
 *
 * @example
 * ```ts
 * import type { ChitchatId } from "./types.ts";
 * const id: ChitchatId = {
 *   nodeId: "worker:42",
 *   generationId: 0n,
 *   gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7946 },
 * };
 * console.log(id.nodeId);
 * ```
 */
export interface ChitchatId {
  /** Cluster-unique node identifier (UTF-8, at most 65 535 bytes). */
  readonly nodeId: string;
  /** Incarnation number (u64); a restarted node should use a higher one. */
  readonly generationId: bigint;
  /** The address peers should gossip to. */
  readonly gossipAdvertiseAddr: SocketAddr;
}

/** One digest entry: what the sender holds about one node.
 *
 * @example
 * ```ts
 * import type { NodeDigest } from "./types.ts";
 * const entry: NodeDigest = {
 *   chitchatId: { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } },
 *   heartbeat: 3n,
 *   lastGcVersion: 0n,
 *   maxVersion: 7n,
 * };
 * console.log(entry.maxVersion);
 * ```
 */
export interface NodeDigest {
  /** The node this entry describes. */
  readonly chitchatId: ChitchatId;
  /** Last accepted heartbeat (u64). */
  readonly heartbeat: bigint;
  /** Version up to which tombstones were garbage-collected (u64). */
  readonly lastGcVersion: bigint;
  /** Highest version applied (u64). */
  readonly maxVersion: bigint;
}

/** A digest: one entry per node the sender holds (order on the wire: ascending ChitchatId).
 *
 * @example
 * ```ts
 * import type { Digest } from "./types.ts";
 * const empty: Digest = { nodes: [] };
 * console.log(empty.nodes.length);
 * ```
 */
export interface Digest {
  /** The entries. */
  readonly nodes: readonly NodeDigest[];
}

/** The kind of a key-value mutation, as carried on the wire (status byte 0, 1, 2).
 *
 * @example
 * ```ts
 * import type { KeyStatus } from "./types.ts";
 * const s: KeyStatus = "deleteAfterTtl";
 * console.log(s);
 * ```
 */
export type KeyStatus = "set" | "deleted" | "deleteAfterTtl";

/** One key-value record inside a node delta.
 *
 * @example
 * ```ts
 * import type { KeyValueMutation } from "./types.ts";
 * const kv: KeyValueMutation = { key: "k", value: "v", version: 1n, status: "set" };
 * console.log(kv.key);
 * ```
 */
export interface KeyValueMutation {
  /** The key (must not start with a multi-byte UTF-8 character when sent to Rust nodes). */
  readonly key: string;
  /** The value (empty for a tombstone). */
  readonly value: string;
  /** The record's version (u64, > 0). */
  readonly version: bigint;
  /** Set, deleted (tombstone) or delete-after-TTL. */
  readonly status: KeyStatus;
}

/** The part of a delta about one node.
 *
 * @example
 * ```ts
 * import type { NodeDelta } from "./types.ts";
 * const nd: NodeDelta = {
 *   chitchatId: { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "::1", port: 1 } },
 *   lastGcVersion: 0n,
 *   fromVersionExcluded: 0n,
 *   keyValues: [{ key: "k", value: "v", version: 1n, status: "set" }],
 *   maxVersion: 1n,
 * };
 * console.log(nd.maxVersion);
 * ```
 */
export interface NodeDelta {
  /** The node the records belong to. */
  readonly chitchatId: ChitchatId;
  /** The sender's last GC version for that node (u64). */
  readonly lastGcVersion: bigint;
  /** Records are those with versions in (fromVersionExcluded, maxVersion]; 0 means reset. */
  readonly fromVersionExcluded: bigint;
  /** Records in strictly increasing version order. */
  readonly keyValues: readonly KeyValueMutation[];
  /** The highest version covered (last record's version, or a SetMaxVersion value). */
  readonly maxVersion: bigint;
}

/** A delta: node deltas in the order they are applied.
 *
 * @example
 * ```ts
 * import type { Delta } from "./types.ts";
 * const empty: Delta = { nodeDeltas: [] };
 * console.log(empty.nodeDeltas.length);
 * ```
 */
export interface Delta {
  /** The node deltas. */
  readonly nodeDeltas: readonly NodeDelta[];
}

/** A chitchat protocol message (one UDP datagram).
 *
 * @example
 * ```ts
 * import type { ChitchatMessage } from "./types.ts";
 * const msg: ChitchatMessage = { type: "syn", clusterId: "c", digest: { nodes: [] } };
 * console.log(msg.type);
 * ```
 */
export type ChitchatMessage =
  | { readonly type: "syn"; readonly clusterId: string; readonly digest: Digest }
  | { readonly type: "synAck"; readonly digest: Digest; readonly delta: Delta }
  | { readonly type: "ack"; readonly delta: Delta }
  | { readonly type: "badCluster" };
