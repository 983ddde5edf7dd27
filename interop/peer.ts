/**
 * Drives the Rust interop peer over its JSON-lines protocol (see `COMMANDS.md` next to this file).
 * The peer is built against two real chitchat crates:
 * `hearsay-interop` (0.10.1, the default) and `hearsay-interop-v013` (0.13.0, which also speaks
 * protocol version 1); choose with `InteropPeer.start({ version: "0.13.0" })`. Build both first
 * with `deno task build:interop`.
 *
 * @module
 */
import type {
  ChitchatId,
  ChitchatMessage,
  Delta,
  Digest,
  KeyStatus,
  KeyValueMutation,
  SocketAddr,
} from "../src/common/types.ts";
import { type ChitchatVersion, DEFAULT_CHITCHAT_VERSION, interopBinaryPath } from "./paths.ts";

export { CHITCHAT_VERSIONS, type ChitchatVersion, DEFAULT_CHITCHAT_VERSION } from "./paths.ts";

/** A chitchat protocol version: header byte 2 of every message. V0 sends the Syn's and SynAck's
 * digest as a count and entries; V1 (chitchat >= 0.12) sends it as a compressed block stream.
 *
 * @example
 * ```ts
 * import type { ProtocolVersion } from "./peer.ts";
 * const v: ProtocolVersion = 1;
 * console.log(v);
 * ```
 */
export type ProtocolVersion = 0 | 1;

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
} from "../src/common/types.ts";

/** A socket address as the peer writes it (same shape as the TS type).
 *
 * @example
 * ```ts
 * import type { SocketAddrJson } from "./peer.ts";
 * const a: SocketAddrJson = { ip: "127.0.0.1", port: 7946 };
 * console.log(a.port);
 * ```
 */
export interface SocketAddrJson {
  /** Rust's `Display` of the IP address, without brackets. */
  ip: string;
  /** UDP port. */
  port: number;
}

/** A ChitchatId as the peer writes it (u64 as a decimal string).
 *
 * @example
 * ```ts
 * import type { ChitchatIdJson } from "./peer.ts";
 * const id: ChitchatIdJson = {
 *   nodeId: "a",
 *   generationId: "0",
 *   gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 },
 * };
 * console.log(id.nodeId);
 * ```
 */
export interface ChitchatIdJson {
  /** Node id. */
  nodeId: string;
  /** Generation (u64, decimal). */
  generationId: string;
  /** Advertised gossip address. */
  gossipAdvertiseAddr: SocketAddrJson;
}

/** One digest entry as the peer writes it.
 *
 * @example
 * ```ts
 * import type { NodeDigestJson } from "./peer.ts";
 * const d: NodeDigestJson = {
 *   chitchatId: { nodeId: "a", generationId: "0", gossipAdvertiseAddr: { ip: "::1", port: 1 } },
 *   heartbeat: "7",
 *   lastGcVersion: "0",
 *   maxVersion: "1",
 * };
 * console.log(d.heartbeat);
 * ```
 */
export interface NodeDigestJson {
  /** The node. */
  chitchatId: ChitchatIdJson;
  /** Heartbeat (u64, decimal). */
  heartbeat: string;
  /** Last GC version (u64, decimal). */
  lastGcVersion: string;
  /** Max version (u64, decimal). */
  maxVersion: string;
}

/** A digest as the peer writes it (Rust order: ascending ChitchatId, duplicates merged).
 *
 * @example
 * ```ts
 * import type { DigestJson } from "./peer.ts";
 * const d: DigestJson = { nodes: [] };
 * console.log(d.nodes.length);
 * ```
 */
export interface DigestJson {
  /** Entries. */
  nodes: NodeDigestJson[];
}

/** A key-value mutation as the peer writes it.
 *
 * @example
 * ```ts
 * import type { KeyValueMutationJson } from "./peer.ts";
 * const kv: KeyValueMutationJson = { key: "k", value: "v", version: "1", status: "set" };
 * console.log(kv.status);
 * ```
 */
export interface KeyValueMutationJson {
  /** Key. */
  key: string;
  /** Value. */
  value: string;
  /** Version (u64, decimal). */
  version: string;
  /** Wire status. */
  status: KeyStatus;
}

/** A node delta as the peer writes it.
 *
 * @example
 * ```ts
 * import type { NodeDeltaJson } from "./peer.ts";
 * const nd: NodeDeltaJson = {
 *   chitchatId: { nodeId: "a", generationId: "0", gossipAdvertiseAddr: { ip: "::1", port: 1 } },
 *   lastGcVersion: "0",
 *   fromVersionExcluded: "0",
 *   keyValues: [],
 *   maxVersion: "3",
 * };
 * console.log(nd.maxVersion);
 * ```
 */
export interface NodeDeltaJson {
  /** The node. */
  chitchatId: ChitchatIdJson;
  /** Last GC version (u64, decimal). */
  lastGcVersion: string;
  /** From version, excluded (u64, decimal). */
  fromVersionExcluded: string;
  /** Records. */
  keyValues: KeyValueMutationJson[];
  /** Max version (u64, decimal). */
  maxVersion: string;
}

/** A delta as the peer writes it.
 *
 * @example
 * ```ts
 * import type { DeltaJson } from "./peer.ts";
 * const d: DeltaJson = { nodeDeltas: [] };
 * console.log(d.nodeDeltas.length);
 * ```
 */
export interface DeltaJson {
  /** Node deltas in wire order. */
  nodeDeltas: NodeDeltaJson[];
}

/** A message as the peer writes it.
 *
 * @example
 * ```ts
 * import type { MessageJson } from "./peer.ts";
 * const m: MessageJson = { type: "badCluster" };
 * console.log(m.type);
 * ```
 */
export type MessageJson =
  | { type: "syn"; clusterId: string; digest: DigestJson }
  | { type: "synAck"; digest: DigestJson; delta: DeltaJson }
  | { type: "ack"; delta: DeltaJson }
  | { type: "badCluster" };

/** The answer to `decode`.
 *
 * @example
 * ```ts
 * import type { DecodeResult } from "./peer.ts";
 * const r: DecodeResult = {
 *   version: 0,
 *   message: { type: "badCluster" },
 *   reserialized: new Uint8Array([0x53, 0xb0, 0, 3]),
 *   reserializedVersion: 0,
 *   debug: "BadCluster",
 * };
 * console.log(r.debug);
 * ```
 */
export interface DecodeResult {
  /** The protocol version in the input's header (byte 2). */
  version: ProtocolVersion;
  /** The message chitchat parsed. */
  message: MessageJson;
  /** chitchat's own serialization of the parsed message, in {@link reserializedVersion}. */
  reserialized: Uint8Array;
  /** The version `reserialized` is written in: the input's, unless another was asked for. */
  reserializedVersion: ProtocolVersion;
  /** chitchat's `Debug` text of the parsed message. */
  debug: string;
}

/** Options of {@link InteropPeer.decode}.
 *
 * @example
 * ```ts
 * import type { DecodeOptions } from "./peer.ts";
 * const o: DecodeOptions = { reserializeVersion: 1 };
 * console.log(o.reserializeVersion);
 * ```
 */
export interface DecodeOptions {
  /** Write `reserialized` in this version instead of the input's (1 needs the 0.13.0 peer). */
  reserializeVersion?: ProtocolVersion;
}

/** The answer to `encode`: chitchat's own bytes for a message.
 *
 * @example
 * ```ts
 * import type { EncodeResult } from "./peer.ts";
 * const r: EncodeResult = {
 *   version: 1,
 *   bytes: new Uint8Array([0x53, 0xb0, 1, 3]),
 *   message: { type: "badCluster" },
 *   debug: "BadCluster",
 * };
 * console.log(r.bytes.length);
 * ```
 */
export interface EncodeResult {
  /** The protocol version the bytes are written in. */
  version: ProtocolVersion;
  /** chitchat's serialization. */
  bytes: Uint8Array;
  /** chitchat's reading of the message given (digest sorted by ChitchatId, duplicates merged). */
  message: MessageJson;
  /** chitchat's `Debug` text of the message. */
  debug: string;
}

/** Options of {@link InteropPeer.start}.
 *
 * @example
 * ```ts
 * import type { InteropPeerOptions } from "./peer.ts";
 * const o: InteropPeerOptions = { version: "0.13.0" };
 * console.log(o.version);
 * ```
 */
export interface InteropPeerOptions {
  /** The chitchat crate the peer runs: "0.10.1" (default) or "0.13.0". */
  version?: ChitchatVersion;
}

/** The answer to `bench_codec` (timed inside Rust).
 *
 * @example
 * ```ts
 * import type { BenchCodecResult } from "./peer.ts";
 * const r: BenchCodecResult = { decodeNsPerOp: 900, encodeNsPerOp: 1100, bytes: 127 };
 * console.log(r.bytes);
 * ```
 */
export interface BenchCodecResult {
  /** Mean nanoseconds per `deserialize`. */
  decodeNsPerOp: number;
  /** Mean nanoseconds per `serialize` of the parsed message. */
  encodeNsPerOp: number;
  /** Size of the input datagram. */
  bytes: number;
}

/** Options of `node_start`. All but `nodeId` are optional: chitchat's
 * `FailureDetectorConfig::default()`, a 1 s gossip interval, a 2 h tombstone grace period,
 * cluster `"default-cluster"`, generation 0 and a free loopback port are the defaults. Seeds must
 * be loopback `"ip:port"` strings.
 *
 * @example
 * ```ts
 * import type { NodeStartOptions } from "./peer.ts";
 * const o: NodeStartOptions = { nodeId: "rust-1", gossipIntervalMs: 100, seeds: [] };
 * console.log(o.nodeId);
 * ```
 */
export interface NodeStartOptions {
  /** Node id. */
  nodeId: string;
  /** Generation (u64). */
  generationId?: bigint | string;
  /** UDP port on 127.0.0.1; 0 picks a free one. */
  listenPort?: number;
  /** Seed addresses, `"127.0.0.1:port"`. */
  seeds?: string[];
  /** Cluster id. */
  clusterId?: string;
  /** Gossip round period. */
  gossipIntervalMs?: number;
  /** Tombstone / TTL lifetime. */
  markedForDeletionGracePeriodMs?: number;
  /** Phi threshold. */
  phiThreshold?: number;
  /** Failure-detector window size (>= 1). */
  samplingWindowSize?: number;
  /** Longest heartbeat interval kept. */
  maxIntervalMs?: number;
  /** Prior interval of the failure detector. */
  initialIntervalMs?: number;
  /** Dead-node grace period. */
  deadNodeGracePeriodMs?: number;
  /** Key-values set at start. */
  initialKeyValues?: [string, string][];
  /** chitchat's `ChitchatConfig::protocol_version`: the version of the Syns this node sends
   * (replies always echo the version of the message they answer). 0 (default) or 1; 1 needs the
   * 0.13.0 peer. */
  protocolVersion?: ProtocolVersion;
}

/** The answer to `node_start`.
 *
 * @example
 * ```ts
 * import type { NodeStartResult } from "./peer.ts";
 * const r: NodeStartResult = {
 *   handle: 1,
 *   chitchatId: { nodeId: "a", generationId: "0", gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } },
 * };
 * console.log(r.handle);
 * ```
 */
export interface NodeStartResult {
  /** The handle naming this node in later commands. */
  handle: number;
  /** The node's identity (its port is the bound one). */
  chitchatId: ChitchatIdJson;
}

/** One node's state as a Rust node holds it (key-values include tombstones).
 *
 * @example
 * ```ts
 * import type { NodeStateJson } from "./peer.ts";
 * const s: NodeStateJson = {
 *   chitchatId: { nodeId: "a", generationId: "0", gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } },
 *   heartbeat: "3",
 *   maxVersion: "0",
 *   lastGcVersion: "0",
 *   keyValues: [],
 * };
 * console.log(s.heartbeat);
 * ```
 */
export interface NodeStateJson {
  /** The node. */
  chitchatId: ChitchatIdJson;
  /** Heartbeat (u64, decimal). */
  heartbeat: string;
  /** Max version (u64, decimal). */
  maxVersion: string;
  /** Last GC version (u64, decimal). */
  lastGcVersion: string;
  /** Key-values in key order, tombstones included. */
  keyValues: KeyValueMutationJson[];
  /** 0.13.0 peer only: chitchat's `failure_detection_timeout` for this node, in ms (mean
   * heartbeat interval times the phi threshold); null for self, for nodes without an interval
   * sample yet and for nodes whose samples were dropped when they were declared dead. */
  failureDetectionTimeoutMs?: number | null;
}

/** The answer to `node_state`: what one Rust node knows about the cluster.
 *
 * @example
 * ```ts
 * import type { ClusterStateJson } from "./peer.ts";
 * const id = { nodeId: "a", generationId: "0", gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
 * const s: ClusterStateJson = { self: id, nodes: [], live: [id], dead: [], scheduledForDeletion: [] };
 * console.log(s.live.length);
 * ```
 */
export interface ClusterStateJson {
  /** The chitchat crate the node runs (absent from peers older than this field). */
  chitchatVersion?: ChitchatVersion;
  /** The version of the Syns this node sends. */
  protocolVersion?: ProtocolVersion;
  /** The node answering. */
  self: ChitchatIdJson;
  /** Every node state it holds, ordered by ChitchatId. */
  nodes: NodeStateJson[];
  /** chitchat's `live_nodes()` (self first). */
  live: ChitchatIdJson[];
  /** chitchat's `dead_nodes()`. */
  dead: ChitchatIdJson[];
  /** chitchat's `scheduled_for_deletion_nodes()`. */
  scheduledForDeletion: ChitchatIdJson[];
}

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** How long a request may wait for its answer (bench commands included). */
const REQUEST_TIMEOUT_MS = 120_000;

/** A running `hearsay-interop` process. Requests may be sent concurrently; the peer answers
 * them in order and each answer is matched to its request by id.
 *
 * @example
 * ```ts
 * import { InteropPeer } from "./peer.ts";
 * const peer = await InteropPeer.start();
 * try {
 *   const r = await peer.decode(new Uint8Array([0x53, 0xb0, 0x00, 0x03]));
 *   console.log(r.message.type); // "badCluster"
 * } finally {
 *   await peer.close();
 * }
 * ```
 */
export class InteropPeer {
  readonly #version: ChitchatVersion;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, Pending>();
  readonly #reading: Promise<void>;
  #nextId = 0;
  #closing: Promise<void> | undefined;
  #ended: Error | undefined;

  private constructor(child: Deno.ChildProcess, version: ChitchatVersion) {
    this.#version = version;
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reading = this.#readAnswers();
  }

  /** Spawns the built peer binary for a chitchat version (default 0.10.1). Throws if it was not
   * built (`deno task build:interop`).
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start({ version: "0.13.0" });
   * console.log(peer.version); // "0.13.0"
   * await peer.close();
   * ```
   */
  static async start(options: InteropPeerOptions = {}): Promise<InteropPeer> {
    const version = options.version ?? DEFAULT_CHITCHAT_VERSION;
    const path = interopBinaryPath(version);
    try {
      const info = await Deno.stat(path);
      if (!info.isFile) throw new Deno.errors.NotFound(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(
          `the interop peer binary is missing at ${path}; run \`deno task build:interop\` first`,
        );
      }
      throw error;
    }
    const child = new Deno.Command(path, {
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    return new InteropPeer(child, version);
  }

  /** The chitchat crate this peer runs.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * await using peer = await InteropPeer.start();
   * console.log(peer.version); // "0.10.1"
   * ```
   */
  get version(): ChitchatVersion {
    return this.#version;
  }

  /** Asks the running binary which chitchat it was built against and which protocol versions it
   * can send.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * await using peer = await InteropPeer.start({ version: "0.13.0" });
   * console.log(await peer.hello()); // { chitchat: "0.13.0", protocolVersions: [0, 1] }
   * ```
   */
  async hello(): Promise<{ chitchat: string; protocolVersions: ProtocolVersion[] }> {
    const r = await this.request<{ chitchat: string; protocolVersions: ProtocolVersion[] }>(
      "version",
    );
    return { chitchat: r.chitchat, protocolVersions: r.protocolVersions };
  }

  /** Sends one command; resolves to the answer's fields (without `id` and `ok`), rejects with
   * the peer's error text when it answers `ok: false`. Bigints in `args` are sent as decimal
   * strings. The answer must come within `options.timeoutMs` (default 120 000 ms: raise it for
   * long simulations).
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const r = await peer.request<{ debug: string }>("decode", { hex: "53b00003" });
   *   console.log(r.debug); // "BadCluster"
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  request<T>(
    cmd: string,
    args: Record<string, unknown> = {},
    options: { timeoutMs?: number } = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    if (this.#ended !== undefined) return Promise.reject(this.#ended);
    if (this.#closing !== undefined) {
      return Promise.reject(new Error(`interop peer is closed; cannot send ${cmd}`));
    }
    const id = ++this.#nextId;
    const line = JSON.stringify(
      { ...args, id, cmd },
      (_key, value: unknown) => typeof value === "bigint" ? value.toString() : value,
    ) + "\n";
    return new Promise<T>((resolve, reject) => {
      // Nothing may hang: an answer that does not come within the timeout fails the request.
      const timer = setTimeout(() => {
        if (this.#pending.delete(id)) {
          reject(new Error(`interop peer did not answer ${cmd} within ${timeoutMs} ms`));
        }
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#writer.write(new TextEncoder().encode(line)).catch((error: unknown) => {
        if (this.#pending.delete(id)) {
          reject(new Error(`cannot send ${cmd} to the interop peer: ${String(error)}`));
        }
      });
    });
  }

  /** Parses a datagram with chitchat; see {@link DecodeResult}.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const r = await peer.decode(new Uint8Array([0x53, 0xb0, 0x00, 0x02, 0x00]));
   *   console.log(r.message.type); // "ack"
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  async decode(bytes: Uint8Array, options: DecodeOptions = {}): Promise<DecodeResult> {
    const r = await this.request<{
      version: ProtocolVersion;
      message: MessageJson;
      reserialized: string;
      reserializedVersion: ProtocolVersion;
      debug: string;
    }>("decode", { hex: bytes.toHex(), reserializeVersion: options.reserializeVersion });
    return {
      version: r.version,
      message: r.message,
      reserialized: Uint8Array.fromHex(r.reserialized),
      reserializedVersion: r.reserializedVersion,
      debug: r.debug,
    };
  }

  /** chitchat's own bytes for a message given in the peer's JSON shape, in a protocol version
   * (default 0; 1 needs the 0.13.0 peer).
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * await using peer = await InteropPeer.start({ version: "0.13.0" });
   * const r = await peer.encode({ type: "syn", clusterId: "c", digest: { nodes: [] } }, 1);
   * console.log(r.bytes.toHex()); // "53b0010000010063": header, empty block stream, "c"
   * ```
   */
  async encode(message: MessageJson, protocolVersion: ProtocolVersion = 0): Promise<EncodeResult> {
    const r = await this.request<{
      version: ProtocolVersion;
      hex: string;
      message: MessageJson;
      debug: string;
    }>("encode", { message, protocolVersion });
    return {
      version: r.version,
      bytes: Uint8Array.fromHex(r.hex),
      message: r.message,
      debug: r.debug,
    };
  }

  /** Times chitchat's deserialize and serialize of a datagram, `iterations` times each. The
   * 0.10.1 peer only: 0.13.0 keeps its message (de)serializer crate-private, and its peer
   * answers with an error saying so.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const r = await peer.benchCodec(new Uint8Array([0x53, 0xb0, 0x00, 0x03]), 10);
   *   console.log(r.bytes); // 4
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  benchCodec(bytes: Uint8Array, iterations: number): Promise<BenchCodecResult> {
    return this.request<BenchCodecResult>("bench_codec", { hex: bytes.toHex(), iterations });
  }

  /** Starts a real chitchat node on loopback UDP.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const node = await peer.nodeStart({ nodeId: "doc-node", gossipIntervalMs: 100 });
   *   console.log(node.chitchatId.gossipAdvertiseAddr.port > 0);
   *   await peer.nodeStop(node.handle);
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  nodeStart(opts: NodeStartOptions): Promise<NodeStartResult> {
    return this.request<NodeStartResult>("node_start", { ...opts });
  }

  /** Sets a key on a node's own state.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const { handle } = await peer.nodeStart({ nodeId: "doc-node" });
   *   await peer.nodeSet(handle, "k", "v");
   *   await peer.nodeKill(handle);
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  async nodeSet(handle: number, key: string, value: string): Promise<void> {
    await this.request("node_set", { handle, key, value });
  }

  /** Sets a key that will be deleted after the grace period (`set_with_ttl`).
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const { handle } = await peer.nodeStart({ nodeId: "doc-node" });
   *   await peer.nodeSetWithTtl(handle, "k", "v");
   *   await peer.nodeKill(handle);
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  async nodeSetWithTtl(handle: number, key: string, value: string): Promise<void> {
    await this.request("node_set_with_ttl", { handle, key, value });
  }

  /** Deletes a key (leaves a tombstone).
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const { handle } = await peer.nodeStart({ nodeId: "doc-node" });
   *   await peer.nodeSet(handle, "k", "v");
   *   await peer.nodeDelete(handle, "k");
   *   await peer.nodeKill(handle);
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  async nodeDelete(handle: number, key: string): Promise<void> {
    await this.request("node_delete", { handle, key });
  }

  /** Schedules a key for deletion after the grace period (`delete_after_ttl`).
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const { handle } = await peer.nodeStart({ nodeId: "doc-node" });
   *   await peer.nodeSet(handle, "k", "v");
   *   await peer.nodeDeleteAfterTtl(handle, "k");
   *   await peer.nodeKill(handle);
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  async nodeDeleteAfterTtl(handle: number, key: string): Promise<void> {
    await this.request("node_delete_after_ttl", { handle, key });
  }

  /** What a node knows about the cluster.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const { handle } = await peer.nodeStart({ nodeId: "doc-node" });
   *   const state = await peer.nodeState(handle);
   *   console.log(state.self.nodeId); // "doc-node"
   *   await peer.nodeKill(handle);
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  nodeState(handle: number): Promise<ClusterStateJson> {
    return this.request<ClusterStateJson>("node_state", { handle });
  }

  /** Stops a node gracefully (`shutdown()`); its handle is released.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const { handle } = await peer.nodeStart({ nodeId: "doc-node" });
   *   await peer.nodeStop(handle);
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  async nodeStop(handle: number): Promise<void> {
    await this.request("node_stop", { handle });
  }

  /** Aborts a node's task at once (a crash: nothing more is sent); its handle is released.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * try {
   *   const { handle } = await peer.nodeStart({ nodeId: "doc-node" });
   *   await peer.nodeKill(handle);
   * } finally {
   *   await peer.close();
   * }
   * ```
   */
  async nodeKill(handle: number): Promise<void> {
    await this.request("node_kill", { handle });
  }

  /** Ends stdin (the peer exits, dropping its nodes) and waits for the process and for all
   * stream reads to finish. Requests still unanswered are rejected. Safe to call twice.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * const peer = await InteropPeer.start();
   * await peer.close();
   * await peer.close();
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#writer.close();
      } catch {
        // The process is already gone; its exit status is collected below.
      }
      await this.#child.status;
      await this.#reading;
    })();
    return this.#closing;
  }

  /** Same as {@link close}, for `await using`.
   *
   * @example
   * ```ts
   * import { InteropPeer } from "./peer.ts";
   * {
   *   await using peer = await InteropPeer.start();
   *   console.log((await peer.decode(new Uint8Array([0x53, 0xb0, 0, 3]))).debug);
   * }
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #readAnswers(): Promise<void> {
    const reader = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        let newline = buffered.indexOf("\n");
        while (newline >= 0) {
          this.#onLine(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf("\n");
        }
      }
    } catch (error) {
      this.#ended = new Error(`reading the interop peer's answers failed: ${String(error)}`);
    } finally {
      reader.releaseLock();
    }
    this.#ended ??= new Error("the interop peer exited (its stdout closed)");
    for (const pending of this.#pending.values()) pending.reject(this.#ended);
    this.#pending.clear();
  }

  #onLine(line: string): void {
    if (line.trim() === "") return;
    let answer: Record<string, unknown>;
    try {
      answer = JSON.parse(line) as Record<string, unknown>;
    } catch {
      console.error(`interop peer wrote a line that is not JSON: ${line.slice(0, 200)}`);
      return;
    }
    const id = answer["id"];
    const pending = typeof id === "number" ? this.#pending.get(id) : undefined;
    if (pending === undefined) {
      console.error(`interop peer answered an unknown request: ${line.slice(0, 200)}`);
      return;
    }
    this.#pending.delete(id as number);
    if (answer["ok"] === true) {
      const { id: _id, ok: _ok, ...fields } = answer;
      pending.resolve(fields);
    } else {
      const error = typeof answer["error"] === "string" ? answer["error"] : line;
      pending.reject(new Error(`interop peer: ${error}`));
    }
  }
}

/** Converts a hearsay `SocketAddr` to the peer's JSON shape.
 *
 * @example
 * ```ts
 * import { socketAddrToJson } from "./peer.ts";
 * console.log(socketAddrToJson({ ip: "::1", port: 7 })); // { ip: "::1", port: 7 }
 * ```
 */
export function socketAddrToJson(addr: SocketAddr): SocketAddrJson {
  return { ip: addr.ip, port: addr.port };
}

/** Converts a hearsay `ChitchatId` to the peer's JSON shape.
 *
 * @example
 * ```ts
 * import { chitchatIdToJson } from "./peer.ts";
 * const j = chitchatIdToJson({
 *   nodeId: "a",
 *   generationId: 5n,
 *   gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 },
 * });
 * console.log(j.generationId); // "5"
 * ```
 */
export function chitchatIdToJson(id: ChitchatId): ChitchatIdJson {
  return {
    nodeId: id.nodeId,
    generationId: id.generationId.toString(),
    gossipAdvertiseAddr: socketAddrToJson(id.gossipAdvertiseAddr),
  };
}

/** Converts a hearsay `Digest` to the peer's JSON shape, keeping its order (see
 * {@link sortDigestJson} to compare with Rust's).
 *
 * @example
 * ```ts
 * import { digestToJson } from "./peer.ts";
 * console.log(digestToJson({ nodes: [] })); // { nodes: [] }
 * ```
 */
export function digestToJson(digest: Digest): DigestJson {
  return {
    nodes: digest.nodes.map((n) => ({
      chitchatId: chitchatIdToJson(n.chitchatId),
      heartbeat: n.heartbeat.toString(),
      lastGcVersion: n.lastGcVersion.toString(),
      maxVersion: n.maxVersion.toString(),
    })),
  };
}

function keyValueToJson(kv: KeyValueMutation): KeyValueMutationJson {
  return { key: kv.key, value: kv.value, version: kv.version.toString(), status: kv.status };
}

/** Converts a hearsay `Delta` to the peer's JSON shape.
 *
 * @example
 * ```ts
 * import { deltaToJson } from "./peer.ts";
 * console.log(deltaToJson({ nodeDeltas: [] })); // { nodeDeltas: [] }
 * ```
 */
export function deltaToJson(delta: Delta): DeltaJson {
  return {
    nodeDeltas: delta.nodeDeltas.map((nd) => ({
      chitchatId: chitchatIdToJson(nd.chitchatId),
      lastGcVersion: nd.lastGcVersion.toString(),
      fromVersionExcluded: nd.fromVersionExcluded.toString(),
      keyValues: nd.keyValues.map(keyValueToJson),
      maxVersion: nd.maxVersion.toString(),
    })),
  };
}

/** Converts a hearsay `ChitchatMessage` to the exact JSON shape the peer's `decode` answers with
 * (bigints become decimal strings). Digest order is kept as is: pass the digest through
 * {@link sortDigestJson} before comparing with Rust's.
 *
 * @example
 * ```ts
 * import { messageToJson } from "./peer.ts";
 * const j = messageToJson({ type: "syn", clusterId: "c", digest: { nodes: [] } });
 * console.log(j); // { type: "syn", clusterId: "c", digest: { nodes: [] } }
 * ```
 */
export function messageToJson(msg: ChitchatMessage): MessageJson {
  switch (msg.type) {
    case "syn":
      return { type: "syn", clusterId: msg.clusterId, digest: digestToJson(msg.digest) };
    case "synAck":
      return { type: "synAck", digest: digestToJson(msg.digest), delta: deltaToJson(msg.delta) };
    case "ack":
      return { type: "ack", delta: deltaToJson(msg.delta) };
    case "badCluster":
      return { type: "badCluster" };
  }
}

const utf8 = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Parses IPv4 dotted text to 4 bytes or IPv6 text (with `::` and an optional trailing dotted
 * quad) to 16 bytes. */
function ipBytes(ip: string): Uint8Array {
  const v4 = (text: string): number[] | undefined => {
    const parts = text.split(".");
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
      return undefined;
    }
    return parts.map(Number);
  };
  if (!ip.includes(":")) {
    const b = v4(ip);
    if (b === undefined) throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
    return new Uint8Array(b);
  }
  const groups = (text: string): number[] => {
    if (text === "") return [];
    const out: number[] = [];
    for (const g of text.split(":")) {
      if (g.includes(".")) {
        const b = v4(g);
        if (b === undefined) throw new Error(`not an IPv6 address: ${JSON.stringify(ip)}`);
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
        out.push(parseInt(g, 16));
      } else {
        throw new Error(`not an IPv6 address: ${JSON.stringify(ip)}`);
      }
    }
    return out;
  };
  const halves = ip.split("::");
  let words: number[];
  if (halves.length === 1) {
    words = groups(ip);
  } else if (halves.length === 2) {
    const head = groups(halves[0]!);
    const tail = groups(halves[1]!);
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    throw new Error(`not an IPv6 address: ${JSON.stringify(ip)}`);
  }
  if (words.length !== 8) throw new Error(`not an IPv6 address: ${JSON.stringify(ip)}`);
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Orders two ChitchatIds the way Rust's derived `Ord` does: node id (UTF-8 bytes), then
 * generation, then address (every IPv4 before every IPv6; then address bytes; then port).
 *
 * @example
 * ```ts
 * import { compareChitchatIdJson } from "./peer.ts";
 * const a = { nodeId: "a", generationId: "5", gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7000 } };
 * const b = { nodeId: "a", generationId: "5", gossipAdvertiseAddr: { ip: "::1", port: 7000 } };
 * console.log(compareChitchatIdJson(a, b) < 0); // true
 * ```
 */
export function compareChitchatIdJson(a: ChitchatIdJson, b: ChitchatIdJson): number {
  const byId = compareBytes(utf8.encode(a.nodeId), utf8.encode(b.nodeId));
  if (byId !== 0) return byId;
  const ga = BigInt(a.generationId);
  const gb = BigInt(b.generationId);
  if (ga !== gb) return ga < gb ? -1 : 1;
  const ia = ipBytes(a.gossipAdvertiseAddr.ip);
  const ib = ipBytes(b.gossipAdvertiseAddr.ip);
  if (ia.length !== ib.length) return ia.length - ib.length;
  const byIp = compareBytes(ia, ib);
  if (byIp !== 0) return byIp;
  return a.gossipAdvertiseAddr.port - b.gossipAdvertiseAddr.port;
}

/** Normalises a digest the way chitchat's parser does (it reads entries into a `BTreeMap`):
 * sorted by ChitchatId, and for a repeated id the last entry wins.
 *
 * @example
 * ```ts
 * import { sortDigestJson } from "./peer.ts";
 * const id = (n: string) => ({ nodeId: n, generationId: "0", gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } });
 * const e = (n: string, hb: string) => ({ chitchatId: id(n), heartbeat: hb, lastGcVersion: "0", maxVersion: "0" });
 * const sorted = sortDigestJson({ nodes: [e("b", "1"), e("a", "1"), e("b", "2")] });
 * console.log(sorted.nodes.map((n) => n.chitchatId.nodeId + n.heartbeat)); // ["a1", "b2"]
 * ```
 */
export function sortDigestJson(digest: DigestJson): DigestJson {
  const byId = new Map<string, NodeDigestJson>();
  for (const node of digest.nodes) {
    const id = node.chitchatId;
    const key = JSON.stringify([
      id.nodeId,
      BigInt(id.generationId).toString(),
      Array.from(ipBytes(id.gossipAdvertiseAddr.ip)),
      id.gossipAdvertiseAddr.port,
    ]);
    byId.delete(key);
    byId.set(key, node);
  }
  return {
    nodes: [...byId.values()].sort((x, y) => compareChitchatIdJson(x.chitchatId, y.chitchatId)),
  };
}
