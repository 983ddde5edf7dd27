/**
 * The cluster scenarios, written once for both simulators: the options and their defaults, how
 * every simulated node is configured, and the phases in order (membership, traffic, propagation,
 * detection) with their deadlines and the wall budget. A simulator supplies a {@link SimDriver}
 * (how simulated time moves and how nodes are observed: one thread in `cluster_sim.ts`, shard
 * threads in `cluster_shards.ts`) and {@link runScenarios} runs the phases on it and computes the
 * figures (`figures.ts`).
 *
 * @module
 */
import type { GossipNodeOptions } from "../src/node/config.ts";
import type { Clock } from "../src/common/clock.ts";
import { createRandom } from "../src/common/random.ts";
import type { SocketAddr } from "../src/common/types.ts";
import type { Transport } from "../src/transport/transport.ts";
import { MAX_DATAGRAM_SIZE } from "../src/codec/wire.ts";
import type { PartialDigestMode } from "../src/node/_partial_digest.ts";
import {
  type Arrivals,
  type ClusterSimResult,
  detectionFigures,
  membershipFigures,
  type MemoryFigures,
  propagationFigures,
  trafficFigures,
  type TrafficTotals,
} from "./figures.ts";

/** The scenarios, in the order they run.
 *
 * @example
 * ```ts
 * import { SCENARIOS } from "./scenarios.ts";
 * console.log(SCENARIOS.join(" -> ")); // membership -> traffic -> propagation -> detection
 * ```
 */
export const SCENARIOS = ["membership", "traffic", "propagation", "detection"] as const;

/** One scenario name.
 *
 * @example
 * ```ts
 * import { SCENARIOS, type Scenario } from "./scenarios.ts";
 * const s: Scenario = "propagation";
 * console.log(SCENARIOS.indexOf(s)); // 2
 * ```
 */
export type Scenario = typeof SCENARIOS[number];

/** The shapes of simulated node ids: `short` is chitchat's perf test (`node_<i>`, generation 0,
 * a 25-byte V0 digest entry for `node_1000`); `zlayer` is a container platform's worker tier
 * (`worker:<u64>` with a 20-digit id, a u64 generation id, IPv4 address: 68-byte V0 digest
 * entries, so about 963 fill one 65 507-byte datagram).
 *
 * @example
 * ```ts
 * import { ID_SHAPES } from "./scenarios.ts";
 * console.log(ID_SHAPES.join(",")); // short,zlayer
 * ```
 */
export const ID_SHAPES = ["short", "zlayer"] as const;

/** One id shape (see {@link ID_SHAPES}).
 *
 * @example
 * ```ts
 * import type { IdShape } from "./scenarios.ts";
 * const shape: IdShape = "zlayer";
 * console.log(shape); // zlayer
 * ```
 */
export type IdShape = typeof ID_SHAPES[number];

/** The first zlayer-style worker id: the smallest 20-digit u64. */
const ZLAYER_BASE = 10_000_000_000_000_000_000n;

/** The node id of simulated node `i` in the given shape.
 *
 * @example
 * ```ts
 * import { simNodeId } from "./scenarios.ts";
 * console.log(simNodeId(7, "short"), simNodeId(7, "zlayer")); // node_7 worker:10000000000007000049
 * ```
 */
export function simNodeId(i: number, ids: IdShape = "short"): string {
  return ids === "short" ? `node_${i}` : `worker:${ZLAYER_BASE + BigInt(i) * 1_000_007n}`;
}

/** The generation id of simulated node `i`: 0 (short) or a start time in ns (zlayer, u64).
 *
 * @example
 * ```ts
 * import { simGenerationId } from "./scenarios.ts";
 * console.log(simGenerationId(3, "short"), simGenerationId(3, "zlayer")); // 0n 1764633600000000003n
 * ```
 */
export function simGenerationId(i: number, ids: IdShape = "short"): bigint {
  return ids === "short" ? 0n : 1_764_633_600_000_000_000n + BigInt(i);
}

/** The key the propagation scenario sets (same as the interop peer's).
 *
 * @example
 * ```ts
 * import { PROPAGATION_KEY } from "./scenarios.ts";
 * console.log(PROPAGATION_KEY); // sim_probe
 * ```
 */
export const PROPAGATION_KEY = "sim_probe";

/** Options of the cluster simulations (the same names as the interop peer's `sim_run`).
 *
 * @example
 * ```ts
 * import { simSettings, type ClusterSimOptions } from "./scenarios.ts";
 * const o: ClusterSimOptions = { numNodes: 100, gossipIntervalMs: 1000, scenarios: ["traffic"] };
 * console.log(simSettings(o).scenarios); // [ "membership", "traffic" ]
 * ```
 */
export interface ClusterSimOptions {
  /** Cluster size (>= 3). */
  numNodes: number;
  /** Shape of the node ids (see {@link ID_SHAPES}). Default `short`. */
  ids?: IdShape;
  /** What nodes do once their digest outgrows a datagram (`GossipNodeOptions.pastOneDatagram`).
   * Default `compact` (below the ceiling the same bytes as `off`; docs/BENCHMARKS.md "Past one
   * datagram: compact heartbeats" says why). */
  pastOneDatagram?: PartialDigestMode;
  /** Gossip interval. Default 300 ms (chitchat's perf test). */
  gossipIntervalMs?: number;
  /** Failure detector's initial interval. Default: the gossip interval. */
  initialIntervalMs?: number;
  /** Phi threshold. Default 8. */
  phiThreshold?: number;
  /** Probability that a datagram is lost. Default 0. */
  lossRate?: number;
  /** Seed of the network faults and of every node's randomness. Default 1. */
  seed?: number;
  /** Scenarios to run (membership always runs). Default: all. */
  scenarios?: readonly Scenario[];
  /** Deadline of one phase, in simulated ms. Default 60 000. */
  phaseTimeoutMs?: number;
  /** Length of the traffic window, in simulated ms. Default 3 000. */
  trafficWindowMs?: number;
  /** Simulated ms to keep gossiping after membership converged before the memory snapshot
   * (steady state: the failure detectors' interval windows fill up). Default 0. */
  settleMs?: number;
  /** Wall-clock budget of the whole run. Default {@link defaultWallBudgetMs}(numNodes). */
  wallBudgetMs?: number;
  /** The largest datagram each node's transport reports (`Transport.maxDatagramSize`), bytes.
   * Default 65 507, the UDP limit. Below it a small cluster is as far past one datagram as a
   * large one: 1 000 zlayer-id nodes on 13 100 bytes send a fifth of their digest per message,
   * as 5 000 do on 65 507 (a cheap model of the large cluster's digest windows, not of its
   * cost). */
  datagramLimit?: number;
  /** Datagram delay on the in-memory network. Default 0 (delivered from a clock timer at the
   * same virtual instant, like chitchat's channel transport under a paused clock). */
  delayMs?: number;
  /** Start node i this many ms after node i-1 (default 0: all at the same instant). With every
   * node at the same instant, each node runs its round before it handles the datagrams of that
   * instant; a tiny stagger (e.g. 0.0001) lets later nodes handle earlier nodes' datagrams first,
   * as chitchat's node loop does for about half of them (its `tokio::select!` picks the tick or
   * the inbound message at random). */
  startStaggerMs?: number;
}

/** The options every simulator shares, with their defaults filled in.
 *
 * @example
 * ```ts
 * import { simSettings, type SimSettings } from "./scenarios.ts";
 * const s: SimSettings = simSettings({ numNodes: 10, gossipIntervalMs: 500 });
 * console.log(s.initialIntervalMs, s.phaseTimeoutMs, s.seed); // 500 60000 1
 * ```
 */
export interface SimSettings {
  /** Cluster size. */
  numNodes: number;
  /** Shape of the node ids. */
  ids: IdShape;
  /** What nodes do past one datagram. */
  pastOneDatagram: PartialDigestMode;
  /** Gossip interval, ms. */
  gossipIntervalMs: number;
  /** Failure detector's initial interval, ms. */
  initialIntervalMs: number;
  /** Phi threshold. */
  phiThreshold: number;
  /** Probability that a datagram is lost. */
  lossRate: number;
  /** Seed of the faults and of node randomness. */
  seed: number;
  /** The scenarios to run, in running order, membership first. */
  scenarios: Scenario[];
  /** Deadline of one phase, simulated ms. */
  phaseTimeoutMs: number;
  /** Length of the traffic window, simulated ms. */
  trafficWindowMs: number;
  /** Simulated ms run after membership, before the memory snapshot. */
  settleMs: number;
  /** Wall-clock budget of the run, ms. */
  wallBudgetMs: number;
  /** The largest datagram a node's transport reports, bytes (65 507: the UDP limit). */
  datagramLimit: number;
}

/** The shared options of `options` with their defaults; throws a RangeError when `numNodes` is
 * not an integer >= 3. Unknown scenario names are ignored.
 *
 * @example
 * ```ts
 * import { simSettings } from "./scenarios.ts";
 * const s = simSettings({ numNodes: 5, scenarios: ["detection", "membership"] });
 * console.log(s.gossipIntervalMs, s.scenarios); // 300 [ "membership", "detection" ]
 * ```
 */
export function simSettings(options: Omit<ClusterSimOptions, "delayMs">): SimSettings {
  const n = options.numNodes;
  if (!Number.isInteger(n) || n < 3) {
    throw new RangeError(`numNodes must be an integer >= 3, got ${n}`);
  }
  const interval = options.gossipIntervalMs ?? 300;
  const limit = options.datagramLimit;
  if (
    limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= MAX_DATAGRAM_SIZE)
  ) {
    throw new RangeError(
      `datagramLimit must be an integer in 1..${MAX_DATAGRAM_SIZE} bytes, got ${limit}`,
    );
  }
  const wanted = options.scenarios ?? SCENARIOS;
  return {
    numNodes: n,
    ids: options.ids ?? "short",
    pastOneDatagram: options.pastOneDatagram ?? "compact",
    gossipIntervalMs: interval,
    initialIntervalMs: options.initialIntervalMs ?? interval,
    phiThreshold: options.phiThreshold ?? 8,
    lossRate: options.lossRate ?? 0,
    seed: options.seed ?? 1,
    scenarios: SCENARIOS.filter((s) => s === "membership" || wanted.includes(s)),
    phaseTimeoutMs: options.phaseTimeoutMs ?? 60_000,
    trafficWindowMs: options.trafficWindowMs ?? 3_000,
    settleMs: options.settleMs ?? 0,
    wallBudgetMs: options.wallBudgetMs ?? defaultWallBudgetMs(n),
    datagramLimit: options.datagramLimit ?? MAX_DATAGRAM_SIZE,
  };
}

/** The default wall-clock budget of a run of `numNodes` nodes: 120 s up to 500 nodes, then
 * growing with the square of the size, as the work of a simulated second does (every node
 * handles digests of up to every other node): 480 s at 1 000, 32 min at 2 000, 3 h 20 min at
 * 5 000. It is a backstop that ends a run which stopped making progress; every phase is also
 * bounded in simulated time (`phaseTimeoutMs`).
 *
 * @example
 * ```ts
 * import { defaultWallBudgetMs } from "./scenarios.ts";
 * console.log(defaultWallBudgetMs(100), defaultWallBudgetMs(2000)); // 120000 1920000
 * ```
 */
export function defaultWallBudgetMs(numNodes: number): number {
  return Math.round(120_000 * Math.max(1, (numNodes / 500) ** 2));
}

/** The in-memory address of node `i` (distinct for up to 62 500 nodes).
 *
 * @example
 * ```ts
 * import { simAddr } from "./scenarios.ts";
 * console.log(simAddr(0), simAddr(250).ip); // { ip: "127.0.0.1", port: 10000 } 127.0.1.1
 * ```
 */
export function simAddr(i: number): SocketAddr {
  return { ip: `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 10_000 };
}

/** The options of simulated node `i`: chitchat's perf-test node (id `node_<i>`, generation 0,
 * seed node 0; or the zlayer id shape when `s.ids` says so, see {@link simNodeId}), its own
 * seeded randomness, and any warning treated as a bug.
 *
 * @example
 * ```ts
 * import { simNodeOptions, simSettings } from "./scenarios.ts";
 * import { VirtualClock } from "../src/common/virtual_clock.ts";
 * import { MemoryNetwork } from "../src/transport/memory.ts";
 * import { GossipNode } from "../src/node/gossip_node.ts";
 * const clock = new VirtualClock();
 * const net = new MemoryNetwork({ clock, seed: 1 });
 * const s = simSettings({ numNodes: 3 });
 * const node = await GossipNode.start(simNodeOptions(2, s, net.bind({ ip: "127.0.0.3", port: 10000 }), clock));
 * console.log(node.chitchatId.nodeId); // node_2
 * await node.close();
 * ```
 */
export function simNodeOptions(
  i: number,
  s:
    & Pick<SimSettings, "gossipIntervalMs" | "initialIntervalMs" | "phiThreshold" | "seed">
    & Partial<Pick<SimSettings, "ids" | "pastOneDatagram">>,
  transport: Transport,
  clock: Clock,
): GossipNodeOptions {
  const nodeId = simNodeId(i, s.ids);
  return {
    nodeId,
    generationId: simGenerationId(i, s.ids),
    clusterId: "default-cluster",
    gossipIntervalMs: s.gossipIntervalMs,
    seeds: ["127.0.0.1:10000"],
    failureDetector: { phiThreshold: s.phiThreshold, initialIntervalMs: s.initialIntervalMs },
    markedForDeletionGracePeriodMs: 10_000_000,
    pastOneDatagram: s.pastOneDatagram ?? "compact",
    // 100 bytes per (node, peer) instead of ~8 KB: what lets thousands of nodes share a process.
    failureDetectorBackend: "compact",
    transport,
    clock,
    random: createRandom(s.seed * 1_000_003 + i),
    onWarning: (m) => {
      throw new Error(`${nodeId}: unexpected warning: ${m}`);
    },
  };
}

/** The wall-clock budget of a run, counted from its creation.
 *
 * @example
 * ```ts
 * import { WallBudget } from "./scenarios.ts";
 * const b = new WallBudget(60_000);
 * console.log(b.exhausted(), b.elapsedMs() < 60_000); // false true
 * ```
 */
export class WallBudget {
  readonly #start: number = performance.now();
  readonly #budgetMs: number;

  /** A budget of `budgetMs` wall ms from now. */
  constructor(budgetMs: number) {
    this.#budgetMs = budgetMs;
  }

  /** Wall ms since the start. */
  elapsedMs(): number {
    return performance.now() - this.#start;
  }

  /** Whether the budget is used up. */
  exhausted(): boolean {
    return performance.now() - this.#start >= this.#budgetMs;
  }
}

/** A propagation or detection phase once started: when (simulated ms), the arrivals the driver
 * records as time runs, and how to stop recording.
 *
 * @example
 * ```ts
 * import type { StartedPhase } from "./scenarios.ts";
 * import { Arrivals } from "./figures.ts";
 * const phase: StartedPhase = { t0: 1500, arrivals: new Arrivals(3), end: () => {} };
 * phase.arrivals.record(2, 0); // the origin, at t0
 * console.log(phase.arrivals.count, phase.t0); // 1 1500
 * ```
 */
export interface StartedPhase {
  /** Simulated time the phase started (the key was set, the node stopped). */
  t0: number;
  /** Per node: ms after `t0` at which it saw the key / saw the victim gone. */
  arrivals: Arrivals;
  /** Stops recording (unsubscribes). */
  end(): void;
}

/** How a simulator moves simulated time and observes its nodes; {@link runScenarios} runs the
 * phases on it. Times are simulated ms since the first node started.
 *
 * @example
 * ```ts ignore
 * import { runScenarios, simSettings, WallBudget } from "./scenarios.ts";
 * const settings = simSettings({ numNodes: 10 });
 * const budget = new WallBudget(settings.wallBudgetMs);
 * const driver = await startMyDriver(settings, budget); // a SimDriver with its nodes started
 * console.log((await runScenarios(driver, settings, budget)).membership.allMs);
 * ```
 */
export interface SimDriver {
  /** What carries the datagrams (the `transport` of the run figures). */
  readonly transport: string;
  /** Simulated ms between the first and the last node start. */
  readonly spawnMs: number;
  /** Wall ms it took to set up and start every node. */
  readonly spawnWallMs: number;
  /** Each node's arrival at "sees every node live" (ms since the first start), filled as time
   * runs. */
  readonly membership: Arrivals;
  /** The current simulated time. */
  now(): number;
  /** Runs simulated time until `done()` (true), or until `limit` or the end of the wall budget
   * (false). */
  until(done: () => boolean, limit: number): Promise<boolean>;
  /** Every node's live-node count now and the memory figures (called after membership). */
  snapshot(): Promise<{ liveCounts: number[]; memory: MemoryFigures }>;
  /** The cluster's cumulative traffic counters. */
  trafficTotals(): TrafficTotals;
  /** Each node's cumulative bytes sent, when the simulator can tell (the traffic figures then
   * include the busiest node's rate). */
  bytesOutByNode?(): Float64Array;
  /** Moves to the middle of a round and has node `origin` set {@link PROPAGATION_KEY}. */
  propagate(origin: number): Promise<StartedPhase>;
  /** Moves to the middle of a round and stops node `victim` without a word. */
  stop(victim: number): Promise<StartedPhase>;
  /** Closes every node (the run is over). */
  close(): Promise<void>;
}

/** Runs the phases in order on a driver whose nodes just started (at simulated time 0), and
 * measures them. Each phase has a deadline in simulated time (`phaseTimeoutMs`), the run the
 * wall budget; a phase that runs out says so (`timedOut`), and later phases are skipped.
 * Closes the driver at the end.
 *
 * @example
 * ```ts ignore
 * import { runScenarios } from "./scenarios.ts";
 * const r = await runScenarios(driver, settings, budget);
 * console.log(r.propagation?.p99Ms);
 * ```
 */
export async function runScenarios(
  driver: SimDriver,
  s: SimSettings,
  budget: WallBudget,
): Promise<ClusterSimResult> {
  const n = s.numNodes;
  const membership = driver.membership;
  const converged = await driver.until(() => membership.count === n, s.phaseTimeoutMs);
  if (converged && s.settleMs > 0) {
    const t0 = driver.now();
    await driver.until(() => driver.now() - t0 >= s.settleMs, t0 + s.settleMs);
  }
  const { liveCounts, memory } = await driver.snapshot();
  const result: ClusterSimResult = {
    membership: membershipFigures(membership, liveCounts, converged),
    memory,
    run: undefined as unknown as ClusterSimResult["run"],
  };
  const runs = (phase: Scenario) => converged && s.scenarios.includes(phase) && !budget.exhausted();

  if (runs("traffic")) {
    const before = driver.trafficTotals();
    const nodesBefore = driver.bytesOutByNode?.();
    const t0 = driver.now();
    const w0 = performance.now();
    const window = s.trafficWindowMs;
    await driver.until(() => driver.now() - t0 >= window, t0 + window);
    const windowMs = driver.now() - t0;
    const after = driver.trafficTotals();
    const nodesAfter = driver.bytesOutByNode?.();
    result.traffic = trafficFigures(
      before,
      after,
      { nodes: n, windowMs, windowWallMs: performance.now() - w0 },
      nodesBefore === undefined || nodesAfter === undefined
        ? undefined
        : { before: nodesBefore, after: nodesAfter },
    );
  }

  if (runs("propagation")) {
    const phase = await driver.propagate(n - 1);
    const all = await driver.until(() => phase.arrivals.count === n, phase.t0 + s.phaseTimeoutMs);
    phase.end();
    result.propagation = propagationFigures(phase.arrivals, all);
  }

  if (runs("detection")) {
    const observers = n - 1;
    const phase = await driver.stop(n - 1);
    const all = await driver.until(
      () => phase.arrivals.count === observers,
      phase.t0 + s.phaseTimeoutMs,
    );
    phase.end();
    result.detection = detectionFigures(phase.arrivals, observers, all);
  }

  const simulatedMs = driver.now();
  const wallMs = budget.elapsedMs();
  const exhausted = budget.exhausted();
  await driver.close();
  result.run = {
    implementation: "hearsay",
    transport: driver.transport,
    numNodes: n,
    ids: s.ids,
    pastOneDatagram: s.pastOneDatagram,
    ...(s.datagramLimit < MAX_DATAGRAM_SIZE ? { datagramLimit: s.datagramLimit } : {}),
    gossipIntervalMs: s.gossipIntervalMs,
    initialIntervalMs: s.initialIntervalMs,
    phiThreshold: s.phiThreshold,
    lossRate: s.lossRate,
    clock: "virtual",
    scenarios: [...s.scenarios],
    spawnMs: driver.spawnMs,
    spawnWallMs: driver.spawnWallMs,
    simulatedMs,
    wallMs,
    wallBudgetExhausted: exhausted,
  };
  return result;
}
