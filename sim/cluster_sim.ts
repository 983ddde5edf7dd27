/**
 * Cluster scenarios for hearsay on the in-memory network and the virtual clock: the real
 * protocol engine (`GossipNode`), many nodes in one process, with chitchat's perf-test
 * configuration by default (300 ms interval, initial interval = interval, seed node 0, MTU
 * 65 507). The figures have the same shape as the interop peer's `sim_run` answer
 * (interop/COMMANDS.md), so `cluster_compare.ts` can put both side by side.
 *
 * Phases, in order, on one cluster: membership (from the first start until each node sees all
 * nodes live), traffic (a steady-state window), propagation (the last node sets a new key) and
 * detection (the last node stops without a word). Each phase has a deadline in simulated time
 * and the run a wall-clock budget; a phase that runs out says so (`timedOut`).
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc sim/cluster_sim.ts --nodes 1000 --interval 1000
 * deno run -A sim/cluster_sim.ts --nodes 100 --loss 0.5 --json
 * ```
 *
 * @module
 */
import { GossipNode } from "../src/node/gossip_node.ts";
import { createRandom } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import type { SocketAddr } from "../src/common/types.ts";

/** The scenarios, in the order they run. */
export const SCENARIOS = ["membership", "traffic", "propagation", "detection"] as const;
/** One scenario name. */
export type Scenario = typeof SCENARIOS[number];

/** The key the propagation scenario sets (same as the interop peer's). */
export const PROPAGATION_KEY = "sim_probe";

/** Options of {@link runHearsaySim} (the same names as the interop peer's `sim_run`). */
export interface ClusterSimOptions {
  /** Cluster size (>= 3). */
  numNodes: number;
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
  /** Wall-clock budget of the whole run. Default 120 000 ms. */
  wallBudgetMs?: number;
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

/** Membership phase figures (ms since the first node started). */
export interface MembershipFigures {
  node1Ms: number | null;
  medianMs: number | null;
  allMs: number | null;
  converged: number;
  liveSeen: { min: number; median: number; max: number } | null;
  timedOut: boolean;
}

/** Steady-state traffic per node per second. `messages`/`bytes`: every send, before loss;
 * `delivered*`: what reached a receiver. */
export interface TrafficFigures {
  windowMs: number;
  windowWallMs: number;
  messagesPerNodePerSec: number;
  bytesPerNodePerSec: number;
  deliveredMessagesPerNodePerSec: number;
  deliveredBytesPerNodePerSec: number;
  synPerNodePerSec: number;
  synAckPerNodePerSec: number;
  ackPerNodePerSec: number;
}

/** When a new key reached a fraction of the nodes (ms after it was set). */
export interface PropagationFigures {
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  p100Ms: number | null;
  reached: number;
  timedOut: boolean;
  /** Every arrival, ascending (the origin at 0). */
  arrivalsMs: number[];
}

/** Dead-node detection delay over all observers (ms after the node stopped). */
export interface DetectionFigures {
  observers: number;
  detected: number;
  node1Ms: number | null;
  medianMs: number | null;
  maxMs: number | null;
  timedOut: boolean;
}

/** Memory held by the cluster (hearsay: JS heap and RSS deltas; chitchat: RSS delta). */
export interface MemoryFigures {
  rssBeforeBytes: number;
  rssConvergedBytes: number;
  perNodeBytes: number;
  heapPerNodeBytes?: number;
}

/** Parameters and timing of a run. `simulatedMs / wallMs` is the speed relative to real time. */
export interface RunFigures {
  implementation: string;
  transport: string;
  numNodes: number;
  gossipIntervalMs: number;
  initialIntervalMs: number;
  phiThreshold: number;
  lossRate: number;
  clock: "real" | "virtual";
  scenarios: string[];
  spawnMs: number;
  spawnWallMs: number;
  simulatedMs: number;
  wallMs: number;
  wallBudgetExhausted: boolean;
}

/** Everything one run measured (phases that did not run are absent). */
export interface ClusterSimResult {
  membership: MembershipFigures;
  memory: MemoryFigures | null;
  traffic?: TrafficFigures;
  propagation?: PropagationFigures;
  detection?: DetectionFigures;
  run: RunFigures;
}

/** The time by which a fraction `q` of `total` items had arrived (nearest rank), or null when
 * fewer arrived. `sorted` holds the arrival times, ascending.
 *
 * @example
 * ```ts
 * import { quantileOfTotal } from "./cluster_sim.ts";
 * console.log(quantileOfTotal([0, 10, 20, 30], 4, 0.5)); // 10
 * console.log(quantileOfTotal([0, 10], 4, 0.99)); // null
 * ```
 */
export function quantileOfTotal(
  sorted: readonly number[],
  total: number,
  q: number,
): number | null {
  const rank = Math.max(1, Math.ceil(q * total));
  return sorted[rank - 1] ?? null;
}

/** The lower median and the max of ascending values (nulls when empty).
 *
 * @example
 * ```ts
 * import { medianMax } from "./cluster_sim.ts";
 * console.log(medianMax([1, 2, 3, 4])); // { median: 2, max: 4 }
 * ```
 */
export function medianMax(
  sorted: readonly number[],
): { median: number | null; max: number | null } {
  if (sorted.length === 0) return { median: null, max: null };
  return { median: sorted[(sorted.length - 1) >> 1]!, max: sorted[sorted.length - 1]! };
}

/** The in-memory address of node `i` (distinct for up to 62 500 nodes).
 *
 * @example
 * ```ts
 * import { simAddr } from "./cluster_sim.ts";
 * console.log(simAddr(0)); // { ip: "127.0.0.1", port: 10000 }
 * ```
 */
export function simAddr(i: number): SocketAddr {
  return { ip: `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 10_000 };
}

/** Arrival times per node, recorded once each. */
class Arrivals {
  readonly #times: (number | null)[];
  #count = 0;
  constructor(n: number) {
    this.#times = new Array<number | null>(n).fill(null);
  }
  record(i: number, ms: number): void {
    if (this.#times[i] !== null) return;
    this.#times[i] = ms;
    this.#count++;
  }
  get count(): number {
    return this.#count;
  }
  get(i: number): number | null {
    return this.#times[i] ?? null;
  }
  sorted(): number[] {
    return this.#times.filter((t): t is number => t !== null).sort((a, b) => a - b);
  }
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Runs one simulated hearsay cluster and measures it. Deterministic in simulated time for a
 * given seed (wall-clock fields aside).
 *
 * @example
 * ```ts
 * import { runHearsaySim } from "./cluster_sim.ts";
 * const r = await runHearsaySim({ numNodes: 5, scenarios: ["propagation"] });
 * console.log(r.membership.converged, r.propagation?.reached); // 5 5
 * ```
 */
export async function runHearsaySim(options: ClusterSimOptions): Promise<ClusterSimResult> {
  const n = options.numNodes;
  if (!Number.isInteger(n) || n < 3) {
    throw new RangeError(`numNodes must be an integer >= 3, got ${n}`);
  }
  const interval = options.gossipIntervalMs ?? 300;
  const initialInterval = options.initialIntervalMs ?? interval;
  const phiThreshold = options.phiThreshold ?? 8;
  const lossRate = options.lossRate ?? 0;
  const seed = options.seed ?? 1;
  const wanted = options.scenarios ?? SCENARIOS;
  const scenarios = SCENARIOS.filter((s) => s === "membership" || wanted.includes(s));
  const phaseTimeout = options.phaseTimeoutMs ?? 60_000;
  const wallBudget = options.wallBudgetMs ?? 120_000;
  const wallStart = performance.now();
  const budgetExhausted = () => performance.now() - wallStart >= wallBudget;
  const step = Math.max(1, Math.floor(interval / 10));
  const stagger = options.startStaggerMs ?? 0;
  if (!(stagger >= 0 && stagger * n < interval)) {
    throw new RangeError(
      `startStaggerMs must be >= 0 and spread the starts over less than one interval, got ${stagger}`,
    );
  }

  const clock = new VirtualClock();
  const net = new MemoryNetwork({
    clock,
    seed,
    loss: lossRate,
    delayMs: options.delayMs ?? 0,
    // The engine never touches a datagram after sending it, and its decoder only reads.
    copy: false,
  });
  /** Advances virtual time until `done()`, the deadline, or the wall budget. */
  const until = async (done: () => boolean, deadline: number): Promise<boolean> => {
    while (!done()) {
      if (clock.now() >= deadline || budgetExhausted()) return false;
      clock.advance(step);
      await Promise.resolve();
    }
    return true;
  };

  /** Advances to the middle of a round (all nodes started at `simStart`, fixed-rate rounds). */
  const toMidRound = () => {
    const into = (clock.now() - simStart) % interval;
    clock.advance((interval / 2 - into + interval) % interval);
  };

  gc();
  const rssBefore = Deno.memoryUsage().rss;
  const heapBefore = Deno.memoryUsage().heapUsed;
  const simStart = clock.now();
  const nodes: GossipNode[] = [];
  const membership = new Arrivals(n);
  for (let i = 0; i < n; i++) {
    const node = await GossipNode.start({
      nodeId: `node_${i}`,
      generationId: 0n,
      clusterId: "default-cluster",
      gossipIntervalMs: interval,
      seeds: ["127.0.0.1:10000"],
      failureDetector: { phiThreshold, initialIntervalMs: initialInterval },
      markedForDeletionGracePeriodMs: 10_000_000,
      transport: net.bind(simAddr(i)),
      clock,
      random: createRandom(seed * 1_000_003 + i),
      onWarning: (m) => {
        throw new Error(`node_${i}: unexpected warning: ${m}`);
      },
    });
    const off = node.onLiveNodesChange((live) => {
      if (live.length === n) {
        membership.record(i, clock.now() - simStart);
        off();
      }
    });
    nodes.push(node);
    if (stagger > 0) clock.advance(stagger);
  }
  const spawnMs = clock.now() - simStart;
  const spawnWallMs = performance.now() - wallStart;
  const converged = await until(() => membership.count === n, simStart + phaseTimeout);
  const sortedMembership = membership.sorted();
  const mm = medianMax(sortedMembership);
  const liveCounts = nodes.map((x) => x.liveNodes().length).sort((a, b) => a - b);
  const result: ClusterSimResult = {
    membership: {
      node1Ms: membership.get(1),
      medianMs: mm.median,
      allMs: converged ? mm.max : null,
      converged: sortedMembership.length,
      liveSeen: {
        min: liveCounts[0]!,
        median: liveCounts[(n - 1) >> 1]!,
        max: liveCounts[n - 1]!,
      },
      timedOut: !converged,
    },
    memory: null,
    run: undefined as unknown as RunFigures,
  };
  gc();
  const usage = Deno.memoryUsage();
  result.memory = {
    rssBeforeBytes: rssBefore,
    rssConvergedBytes: usage.rss,
    perNodeBytes: Math.max(0, usage.rss - rssBefore) / n,
    heapPerNodeBytes: Math.max(0, usage.heapUsed - heapBefore) / n,
  };

  if (converged && scenarios.includes("traffic") && !budgetExhausted()) {
    const totals = () => {
      let messages = 0, bytes = 0, delivered = 0, deliveredBytes = 0, syn = 0, synAck = 0, ack = 0;
      for (const node of nodes) {
        const m = node.metrics();
        messages += m.datagramsOut;
        bytes += m.bytesOut;
        delivered += m.datagramsIn;
        deliveredBytes += m.bytesIn;
        syn += m.messagesOut.syn;
        synAck += m.messagesOut.synAck;
        ack += m.messagesOut.ack;
      }
      return [messages, bytes, delivered, deliveredBytes, syn, synAck, ack];
    };
    const before = totals();
    const t0 = clock.now();
    const w0 = performance.now();
    const window = options.trafficWindowMs ?? 3_000;
    await until(() => clock.now() - t0 >= window, t0 + window);
    const secs = (clock.now() - t0) / 1000;
    const after = totals();
    const per = (k: number) => (after[k]! - before[k]!) / (n * secs);
    result.traffic = {
      windowMs: clock.now() - t0,
      windowWallMs: performance.now() - w0,
      messagesPerNodePerSec: per(0),
      bytesPerNodePerSec: per(1),
      deliveredMessagesPerNodePerSec: per(2),
      deliveredBytesPerNodePerSec: per(3),
      synPerNodePerSec: per(4),
      synAckPerNodePerSec: per(5),
      ackPerNodePerSec: per(6),
    };
  }

  if (converged && scenarios.includes("propagation") && !budgetExhausted()) {
    const origin = n - 1;
    const arrivals = new Arrivals(n);
    toMidRound();
    const t0 = clock.now();
    const offs = nodes.map((node, i) =>
      node.onKeyChange(PROPAGATION_KEY, () => arrivals.record(i, clock.now() - t0))
    );
    nodes[origin]!.set(PROPAGATION_KEY, "1");
    arrivals.record(origin, 0);
    const all = await until(() => arrivals.count === n, t0 + phaseTimeout);
    for (const off of offs) off();
    const sorted = arrivals.sorted();
    result.propagation = {
      p50Ms: quantileOfTotal(sorted, n, 0.5),
      p99Ms: quantileOfTotal(sorted, n, 0.99),
      p999Ms: quantileOfTotal(sorted, n, 0.999),
      p100Ms: all ? quantileOfTotal(sorted, n, 1) : null,
      reached: sorted.length,
      timedOut: !all,
      arrivalsMs: sorted,
    };
  }

  if (converged && scenarios.includes("detection") && !budgetExhausted()) {
    const victim = nodes.pop()!;
    const victimId = victim.chitchatId.nodeId;
    const observers = nodes.length;
    const arrivals = new Arrivals(observers);
    toMidRound();
    const t0 = clock.now();
    await victim.close();
    const offs = nodes.map((node, i) =>
      node.onLiveNodesChange((live) => {
        if (!live.some((s) => s.chitchatId.nodeId === victimId)) {
          arrivals.record(i, clock.now() - t0);
        }
      })
    );
    const all = await until(() => arrivals.count === observers, t0 + phaseTimeout);
    for (const off of offs) off();
    const sorted = arrivals.sorted();
    const dm = medianMax(sorted);
    result.detection = {
      observers,
      detected: sorted.length,
      node1Ms: arrivals.get(1),
      medianMs: dm.median,
      maxMs: all ? dm.max : null,
      timedOut: !all,
    };
  }

  const simulatedMs = clock.now() - simStart;
  const wallMs = performance.now() - wallStart;
  const exhausted = budgetExhausted();
  await Promise.all(nodes.map((x) => x.close()));
  net.close();
  result.run = {
    implementation: "hearsay",
    transport: "MemoryNetwork (in-process, MTU 65507) + VirtualClock",
    numNodes: n,
    gossipIntervalMs: interval,
    initialIntervalMs: initialInterval,
    phiThreshold,
    lossRate,
    clock: "virtual",
    scenarios: [...scenarios],
    spawnMs,
    spawnWallMs,
    simulatedMs,
    wallMs,
    wallBudgetExhausted: exhausted,
  };
  return result;
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The number given as `--name` in `args`, or `fallback`; exits with status 2 when it is not a
 * number (for the simulation scripts' command lines).
 *
 * @example
 * ```ts
 * import { numberFlag } from "./cluster_sim.ts";
 * console.log(numberFlag(["--nodes", "30"], "nodes", 100)); // 30
 * ```
 */
export function numberFlag(args: string[], name: string, fallback: number): number {
  const v = flag(args, name);
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isFinite(x)) {
    console.error(`--${name} must be a number, got ${JSON.stringify(v)}`);
    Deno.exit(2);
  }
  return x;
}

/** The options every simulation script takes on its command line: `--nodes`, `--interval`,
 * `--loss`, `--seed`, `--phase-timeout`, `--wall-budget` and `--scenarios a,b`.
 *
 * @example
 * ```ts
 * import { simOptionsFromArgs } from "./cluster_sim.ts";
 * console.log(simOptionsFromArgs(["--nodes", "30", "--scenarios", "membership"]).numNodes); // 30
 * ```
 */
export function simOptionsFromArgs(args: string[]): ClusterSimOptions {
  const scenarioFlag = flag(args, "scenarios");
  return {
    numNodes: numberFlag(args, "nodes", 100),
    gossipIntervalMs: numberFlag(args, "interval", 300),
    lossRate: numberFlag(args, "loss", 0),
    seed: numberFlag(args, "seed", 1),
    phaseTimeoutMs: numberFlag(args, "phase-timeout", 60_000),
    wallBudgetMs: numberFlag(args, "wall-budget", 120_000),
    startStaggerMs: numberFlag(args, "start-stagger", 0),
    ...(scenarioFlag !== undefined ? { scenarios: scenarioFlag.split(",") as Scenario[] } : {}),
  };
}

/** The summary line of a run: simulated time, wall time and their ratio.
 *
 * @example
 * ```ts ignore
 * import { realTimeLine, runHearsaySim } from "./cluster_sim.ts";
 * console.log(realTimeLine(await runHearsaySim({ numNodes: 3 })));
 * ```
 */
export function realTimeLine(r: ClusterSimResult): string {
  return `simulated ${(r.run.simulatedMs / 1000).toFixed(1)} s in ${
    (r.run.wallMs / 1000).toFixed(1)
  } s wall: ${(r.run.simulatedMs / r.run.wallMs).toFixed(2)}x real time`;
}

if (import.meta.main) {
  const args = Deno.args;
  const r = await runHearsaySim(simOptionsFromArgs(args));
  if (args.includes("--json")) {
    console.log(JSON.stringify(r));
  } else {
    console.log(r);
    console.log(realTimeLine(r));
  }
}
