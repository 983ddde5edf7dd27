/**
 * Configuration of a {@link GossipNode}: one options object with chitchat's defaults, named
 * presets, and validation that says which field is wrong and why.
 *
 * @module
 */
import type { Clock } from "../common/clock.ts";
import { ConfigError } from "../common/errors.ts";
import {
  DEFAULT_FAILURE_DETECTOR_CONFIG,
  type FailureDetectorConfig,
  type PhiBackend,
  validateFailureDetectorConfig,
} from "../failure_detector/failure_detector.ts";
import { DEFAULT_LIMITS, type Limits } from "../state/limits.ts";
import type { NodeState } from "../state/node_state.ts";
import type { Random } from "../common/random.ts";
import { parseSocketAddr } from "../common/socket_addr.ts";
import type { Transport } from "../transport/transport.ts";
import type { SocketAddr } from "../common/types.ts";
import { PARTIAL_DIGEST_MODES, type PartialDigestMode } from "./_partial_digest.ts";

export { DEFAULT_LIMITS, type Limits } from "../state/limits.ts";

/** Options of {@link GossipNode.start}. Only `nodeId`, `clusterId` and an address (or a
 * transport) are required.
 *
 * @example
 * ```ts
 * import type { GossipNodeOptions } from "./config.ts";
 * const options: GossipNodeOptions = {
 *   nodeId: "node-1",
 *   clusterId: "demo",
 *   listenAddr: "127.0.0.1:0",
 *   seeds: ["127.0.0.1:7946"],
 *   gossipIntervalMs: 500,
 * };
 * console.log(options.nodeId);
 * ```
 */
export interface GossipNodeOptions {
  /** Cluster-unique node id. Must start with an ASCII character. */
  nodeId: string;
  /** Incarnation number (u64). Default: the start time in milliseconds since the epoch, so a
   * restarted node is a new incarnation (chitchat's recommendation). */
  generationId?: bigint;
  /** Only nodes with the same cluster id talk to each other. */
  clusterId: string;
  /** UDP address to bind, `"ip:port"` (port 0 picks a free one). Default `"0.0.0.0:7946"`. */
  listenAddr?: string | SocketAddr;
  /** Address peers should gossip to. Default: the bound address; required when listening on
   * an unspecified address (0.0.0.0 or ::), which peers cannot reach. */
  advertiseAddr?: string | SocketAddr;
  /** Seed nodes, `"ip:port"` or `"host:port"` (names are re-resolved every
   * `seedRefreshIntervalMs`). */
  seeds?: readonly string[];
  /** Gossip round period. Default 1000 ms. */
  gossipIntervalMs?: number;
  /** How long tombstones and TTL'd keys live before GC. Default 2 h. */
  markedForDeletionGracePeriodMs?: number;
  /** Failure detector settings (chitchat's defaults for missing fields). */
  failureDetector?: Partial<FailureDetectorConfig>;
  /** Where the failure detector keeps its windows and computes phi: `"wasm"` (default,
   * chitchat's exact window of `samplingWindowSize` intervals, 8 bytes each, about 8 KB per
   * peer once full) or `"compact"` (100 bytes per peer, the mean over the last 876 to 1 000
   * intervals instead of exactly 1 000; for clusters of thousands) or `"typescript"` (the WASM
   * layout computed in TypeScript, for cross-checks). */
  failureDetectorBackend?: "wasm" | "compact" | "typescript";
  /** Key-values set at start, in order (versions 1..n). */
  initialKeyValues?: readonly (readonly [string, string])[];
  /** Called when applying a delta had to wipe and rebuild a node state (this node was too far
   * behind). */
  catchupCallback?: () => void;
  /** Extra condition for a node to appear in the live-nodes watch (self included). */
  extraLivenessPredicate?: (state: NodeState) => boolean;
  /** How often host-name seeds are re-resolved. Default 60 000 ms. */
  seedRefreshIntervalMs?: number;
  /** Compress delta blocks (and V1 digest blocks) with zstd when it pays (chitchat does).
   * Default true. */
  compress?: boolean;
  /** The chitchat protocol version of the Syns this node sends: 0 (V0, every chitchat; the
   * default) or 1 (V1, chitchat 0.12+: the digest is compressed, about 7 times smaller with
   * zlayer-style ids, so a cluster can grow that much further before its digest outgrows a
   * datagram). Replies always go out in the version of the message they answer, as chitchat
   * 0.12+ does, and both versions are always read. Keep 0 until every node reads V1 (chitchat
   * ≥ 0.12 or hearsay): chitchat 0.10/0.11 drop V1 datagrams unread, so a V1 node whose seeds
   * are all older stays alone. To switch, restart the node with the new value (chitchat has no
   * setter either). */
  protocolVersion?: 0 | 1;
  /** What to do once this node's V0 digest no longer fits one datagram (PROTOCOL.md §16: past one
   * datagram): `"off"` (default, chitchat's behaviour: the Syn or SynAck is dropped and the
   * node warns once), `"rotate"`, `"random"` or `"compact"` (send a partial digest, marked by a
   * trailer that chitchat ignores; `"compact"` also carries compact heartbeat entries for many
   * more nodes in that trailer; below the ceiling the bytes are the same as with `"off"`). */
  pastOneDatagram?: PartialDigestMode;
  /** Resource bounds (defaults: {@link DEFAULT_LIMITS}). */
  limits?: Partial<Limits>;
  /** Use this transport instead of binding UDP (in-memory network, custom sockets). The node
   * takes ownership: `close()` closes it. */
  transport?: Transport;
  /** Time source. Default: the system clock. */
  clock?: Clock;
  /** Randomness (peer selection, delta shuffling). Default: seeded from WebCrypto. */
  random?: Random;
  /** Where warnings go (bad datagrams are counted, not logged). Default `console.warn`. */
  onWarning?: (message: string) => void;
}

/** The options after defaults were applied and validated. */
export interface ResolvedConfig {
  /** See {@link GossipNodeOptions.nodeId}. */
  readonly nodeId: string;
  /** See {@link GossipNodeOptions.generationId}. */
  readonly generationId: bigint;
  /** See {@link GossipNodeOptions.clusterId}. */
  readonly clusterId: string;
  /** See {@link GossipNodeOptions.listenAddr}. */
  readonly listenAddr: SocketAddr;
  /** See {@link GossipNodeOptions.advertiseAddr}; undefined = the bound address. */
  readonly advertiseAddr: SocketAddr | undefined;
  /** See {@link GossipNodeOptions.seeds}. */
  readonly seeds: readonly string[];
  /** See {@link GossipNodeOptions.gossipIntervalMs}. */
  readonly gossipIntervalMs: number;
  /** See {@link GossipNodeOptions.markedForDeletionGracePeriodMs}. */
  readonly markedForDeletionGracePeriodMs: number;
  /** See {@link GossipNodeOptions.failureDetector}. */
  readonly failureDetector: FailureDetectorConfig;
  /** See {@link GossipNodeOptions.failureDetectorBackend}. */
  readonly failureDetectorBackend: PhiBackend;
  /** See {@link GossipNodeOptions.seedRefreshIntervalMs}. */
  readonly seedRefreshIntervalMs: number;
  /** See {@link GossipNodeOptions.compress}. */
  readonly compress: boolean;
  /** See {@link GossipNodeOptions.protocolVersion}. */
  readonly protocolVersion: 0 | 1;
  /** See {@link GossipNodeOptions.pastOneDatagram}. */
  readonly pastOneDatagram: PartialDigestMode;
  /** See {@link GossipNodeOptions.limits}. */
  readonly limits: Readonly<Limits>;
  /** See {@link GossipNodeOptions.initialKeyValues} (validated pairs; empty when not given). */
  readonly initialKeyValues: readonly (readonly [string, string])[];
  /** See {@link GossipNodeOptions.catchupCallback}; undefined = nothing to call. */
  readonly catchupCallback: (() => void) | undefined;
  /** See {@link GossipNodeOptions.extraLivenessPredicate}; undefined = every live node counts. */
  readonly extraLivenessPredicate: ((state: NodeState) => boolean) | undefined;
  /** The warning hook the user gave ({@link GossipNodeOptions.onWarning}), undefined = none
   * (the node then warns on `console.warn`; see {@link ResolvedConfig.warn}). */
  readonly onWarning: ((message: string) => void) | undefined;
  /** Where this node's warnings go: the user's hook, or `console.warn` with a `hearsay:` prefix. */
  readonly warn: (message: string) => void;
}

function partialDigestMode(value: PartialDigestMode | undefined): PartialDigestMode {
  if (value === undefined) return "off";
  if (PARTIAL_DIGEST_MODES.includes(value)) return value;
  throw new ConfigError(
    "pastOneDatagram",
    `must be one of ${PARTIAL_DIGEST_MODES.map((m) => JSON.stringify(m)).join(", ")}, got ${
      JSON.stringify(value)
    }`,
  );
}

function phiBackend(value: PhiBackend | undefined): PhiBackend {
  if (value === undefined || value === "wasm" || value === "compact" || value === "typescript") {
    return value ?? "wasm";
  }
  throw new ConfigError(
    "failureDetectorBackend",
    `must be "wasm", "compact" or "typescript", got ${JSON.stringify(value)}`,
  );
}

function optionalFunction<F>(name: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new ConfigError(name, `must be a function, got ${typeof value}`);
  }
  return value;
}

/** Named option sets, to spread into {@link GossipNodeOptions}.
 *
 * - `lan`: chitchat's defaults (1 s rounds, phi 8, 24 h dead-node grace, 2 h tombstones).
 * - `local`: one machine or tests on loopback: 100 ms rounds, dead nodes forgotten after 10 s.
 * - `wan`: slow links: 2 s rounds, phi 12.
 *
 * @example
 * ```ts
 * import { presets } from "./config.ts";
 * const options = { ...presets.local, nodeId: "a", clusterId: "c", listenAddr: "127.0.0.1:0" };
 * console.log(options.gossipIntervalMs);
 * ```
 */
export const presets: {
  readonly lan: Partial<GossipNodeOptions>;
  readonly local: Partial<GossipNodeOptions>;
  readonly wan: Partial<GossipNodeOptions>;
} = {
  lan: {},
  local: {
    gossipIntervalMs: 100,
    markedForDeletionGracePeriodMs: 10_000,
    failureDetector: {
      initialIntervalMs: 100,
      maxIntervalMs: 1_000,
      deadNodeGracePeriodMs: 10_000,
    },
  },
  wan: {
    gossipIntervalMs: 2_000,
    failureDetector: { phiThreshold: 12, maxIntervalMs: 20_000, initialIntervalMs: 10_000 },
  },
};

function positive(field: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(field, `must be a finite number > 0, got ${String(value)}`);
  }
  return v;
}

function address(field: string, value: string | SocketAddr): SocketAddr {
  if (typeof value === "string") {
    try {
      return parseSocketAddr(value);
    } catch (e) {
      throw new ConfigError(
        field,
        `must be "ip:port" or "[ipv6]:port", got ${JSON.stringify(value)} ` +
          `(${(e as Error).message})`,
      );
    }
  }
  if (
    typeof value !== "object" || value === null || typeof value.ip !== "string" ||
    !Number.isInteger(value.port) || value.port < 0 || value.port > 65_535
  ) {
    throw new ConfigError(field, `must be { ip, port } with a port in 0..65535`);
  }
  return address(
    field,
    value.ip.includes(":") ? `[${value.ip}]:${value.port}` : `${value.ip}:${value.port}`,
  );
}

function protocolVersion(value: unknown): 0 | 1 {
  if (value === undefined) return 0;
  if (value === 0 || value === 1) return value;
  throw new ConfigError(
    "protocolVersion",
    `must be 0 (V0, every chitchat) or 1 (V1, chitchat 0.12+), got ${
      typeof value === "bigint" ? `${value}n` : JSON.stringify(value) ?? String(value)
    }`,
  );
}

/** Applies defaults and validates; throws {@link ConfigError} naming the field.
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * const cfg = resolveConfig({ nodeId: "a", clusterId: "c", listenAddr: "127.0.0.1:0" });
 * console.log(cfg.gossipIntervalMs);
 * ```
 */
export function resolveConfig(options: GossipNodeOptions): ResolvedConfig {
  if (typeof options !== "object" || options === null) {
    throw new ConfigError("options", "must be an object");
  }
  const { nodeId, clusterId } = options;
  if (typeof nodeId !== "string" || nodeId.length === 0) {
    throw new ConfigError("nodeId", `must be a non-empty string, got ${JSON.stringify(nodeId)}`);
  }
  if (new TextEncoder().encode(nodeId).length > 65_535) {
    throw new ConfigError("nodeId", "must be at most 65535 UTF-8 bytes");
  }
  if (typeof clusterId !== "string") {
    throw new ConfigError("clusterId", `must be a string, got ${typeof clusterId}`);
  }
  if (new TextEncoder().encode(clusterId).length > 65_535) {
    throw new ConfigError("clusterId", "must be at most 65535 UTF-8 bytes");
  }
  const generationId = options.generationId ?? BigInt(Date.now());
  if (typeof generationId !== "bigint" || generationId < 0n || generationId >= 1n << 64n) {
    throw new ConfigError("generationId", "must be a bigint in 0..2^64-1");
  }
  const listenAddr = address("listenAddr", options.listenAddr ?? "0.0.0.0:7946");
  const advertiseAddr = options.advertiseAddr === undefined
    ? undefined
    : address("advertiseAddr", options.advertiseAddr);
  const seeds = options.seeds ?? [];
  if (!Array.isArray(seeds)) throw new ConfigError("seeds", "must be an array of strings");
  seeds.forEach((s, i) => {
    if (typeof s !== "string" || !/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(s)) {
      throw new ConfigError(
        `seeds[${i}]`,
        `must be "host:port", "ip:port" or "[ipv6]:port", got ${JSON.stringify(s)}`,
      );
    }
    const port = Number(s.slice(s.lastIndexOf(":") + 1));
    if (port < 1 || port > 65_535) {
      throw new ConfigError(`seeds[${i}]`, `port must be in 1..65535, got ${port}`);
    }
  });
  const failureDetector = { ...DEFAULT_FAILURE_DETECTOR_CONFIG, ...options.failureDetector };
  try {
    validateFailureDetectorConfig(failureDetector);
  } catch (e) {
    if (e instanceof ConfigError) {
      const problem = e.message.slice(`invalid config: ${e.field} `.length);
      throw new ConfigError(`failureDetector.${e.field}`, problem);
    }
    throw e;
  }
  for (const [i, kv] of (options.initialKeyValues ?? []).entries()) {
    if (!Array.isArray(kv) || typeof kv[0] !== "string" || typeof kv[1] !== "string") {
      throw new ConfigError(`initialKeyValues[${i}]`, "must be a [key, value] pair of strings");
    }
  }
  const onWarning = optionalFunction("onWarning", options.onWarning);
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isInteger(v) || v < 1) {
      throw new ConfigError(`limits.${k}`, `must be an integer >= 1, got ${String(v)}`);
    }
  }
  if (limits.maxNodes < 2) throw new ConfigError("limits.maxNodes", "must be at least 2");
  return {
    nodeId,
    generationId,
    limits,
    clusterId,
    listenAddr,
    advertiseAddr,
    seeds: [...seeds],
    gossipIntervalMs: positive("gossipIntervalMs", options.gossipIntervalMs, 1_000),
    markedForDeletionGracePeriodMs: positive(
      "markedForDeletionGracePeriodMs",
      options.markedForDeletionGracePeriodMs,
      2 * 3_600_000,
    ),
    failureDetector,
    failureDetectorBackend: phiBackend(options.failureDetectorBackend),
    seedRefreshIntervalMs: positive("seedRefreshIntervalMs", options.seedRefreshIntervalMs, 60_000),
    compress: options.compress ?? true,
    protocolVersion: protocolVersion(options.protocolVersion),
    pastOneDatagram: partialDigestMode(options.pastOneDatagram),
    initialKeyValues: [...(options.initialKeyValues ?? [])],
    catchupCallback: optionalFunction("catchupCallback", options.catchupCallback),
    extraLivenessPredicate: optionalFunction(
      "extraLivenessPredicate",
      options.extraLivenessPredicate,
    ),
    onWarning,
    warn: onWarning ?? ((m) => console.warn(`hearsay: ${m}`)),
  };
}
