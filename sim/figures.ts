/**
 * The figures of the cluster simulations, one definition for both simulators (one thread,
 * `cluster_sim.ts`; sharded over threads, `cluster_shards.ts`) and for chitchat's side (the
 * interop peer's `sim_run` answers in the same shape, interop/COMMANDS.md): the result types,
 * the per-node arrival record, and the statistics that turn arrivals and counters into figures.
 *
 * @module
 */

/** Membership phase figures (ms since the first node started).
 *
 * @example
 * ```ts
 * import { membershipFigures, Arrivals } from "./figures.ts";
 * const seen = new Arrivals(3);
 * seen.record(0, 900);
 * seen.record(1, 1200);
 * seen.record(2, 1000);
 * const m = membershipFigures(seen, [3, 3, 3], true);
 * console.log(m.node1Ms, m.medianMs, m.allMs); // 1200 1000 1200
 * ```
 */
export interface MembershipFigures {
  /** When node 1 saw every node live (null: never). */
  node1Ms: number | null;
  /** When the median node did. */
  medianMs: number | null;
  /** When the last node did (null when not all did). */
  allMs: number | null;
  /** How many nodes saw every node live. */
  converged: number;
  /** Live nodes seen by each node at the end of the phase: min, lower median, max. */
  liveSeen: { min: number; median: number; max: number } | null;
  /** Whether the phase ran out of simulated or wall time. */
  timedOut: boolean;
}

/** Steady-state traffic per node per second. `messages`/`bytes`: every send, before loss;
 * `delivered*`: what reached a receiver.
 *
 * @example
 * ```ts
 * import { trafficFigures } from "./figures.ts";
 * const t = trafficFigures([0, 0, 0, 0, 0, 0, 0], [90, 9000, 90, 9000, 30, 30, 30], {
 *   nodes: 10, windowMs: 1000, windowWallMs: 5,
 * });
 * console.log(t.messagesPerNodePerSec, t.synPerNodePerSec); // 9 3
 * ```
 */
export interface TrafficFigures {
  /** Length of the window, simulated ms. */
  windowMs: number;
  /** Wall time the window took. */
  windowWallMs: number;
  /** Datagrams sent (before loss). */
  messagesPerNodePerSec: number;
  /** Bytes sent (before loss). */
  bytesPerNodePerSec: number;
  /** Datagrams that reached a receiver. */
  deliveredMessagesPerNodePerSec: number;
  /** Bytes that reached a receiver. */
  deliveredBytesPerNodePerSec: number;
  /** Syn messages sent. */
  synPerNodePerSec: number;
  /** SynAck messages sent. */
  synAckPerNodePerSec: number;
  /** Ack messages sent. */
  ackPerNodePerSec: number;
  /** Bytes sent by the busiest node, per second (when the simulator reports per node). */
  maxBytesPerNodePerSec?: number;
}

/** When a new key reached a fraction of the nodes (ms after it was set).
 *
 * @example
 * ```ts
 * import { Arrivals, propagationFigures } from "./figures.ts";
 * const a = new Arrivals(4);
 * a.record(3, 0);
 * a.record(0, 150);
 * const p = propagationFigures(a, false);
 * console.log(p.p50Ms, p.p100Ms, p.reached, p.timedOut); // 150 null 2 true
 * ```
 */
export interface PropagationFigures {
  /** When half the nodes held the key. */
  p50Ms: number | null;
  /** When 99% did. */
  p99Ms: number | null;
  /** When 99.9% did. */
  p999Ms: number | null;
  /** When every node did (null when not all did). */
  p100Ms: number | null;
  /** How many nodes got the key. */
  reached: number;
  /** Whether the phase ran out of time. */
  timedOut: boolean;
  /** Every arrival, ascending (the origin at 0). */
  arrivalsMs: number[];
}

/** Dead-node detection delay over all observers (ms after the node stopped).
 *
 * @example
 * ```ts
 * import { Arrivals, detectionFigures } from "./figures.ts";
 * const a = new Arrivals(3); // node 2 is the victim
 * a.record(0, 5000);
 * a.record(1, 6000);
 * console.log(detectionFigures(a, 2, true)); // node1Ms 6000, medianMs 5000, maxMs 6000
 * ```
 */
export interface DetectionFigures {
  /** Nodes watching the victim. */
  observers: number;
  /** How many of them saw it go. */
  detected: number;
  /** When node 1 did. */
  node1Ms: number | null;
  /** When the median observer did. */
  medianMs: number | null;
  /** When the last one did (null when not all did). */
  maxMs: number | null;
  /** Whether the phase ran out of time. */
  timedOut: boolean;
}

/** Memory held by the cluster (hearsay: JS heap and RSS deltas; chitchat: RSS delta).
 *
 * @example
 * ```ts
 * import type { MemoryFigures } from "./figures.ts";
 * const m: MemoryFigures = {
 *   rssBeforeBytes: 50e6, rssConvergedBytes: 150e6, perNodeBytes: 100e3, heapPerNodeBytes: 40e3,
 * };
 * console.log((m.rssConvergedBytes - m.rssBeforeBytes) / m.perNodeBytes); // 1000 nodes
 * ```
 */
export interface MemoryFigures {
  /** Process RSS before the nodes started. */
  rssBeforeBytes: number;
  /** Process RSS once membership converged. */
  rssConvergedBytes: number;
  /** RSS growth per node. */
  perNodeBytes: number;
  /** JS heap growth per node (hearsay only). */
  heapPerNodeBytes?: number;
  /** Growth of the memory V8 holds outside its heap per node: ArrayBuffers and the WASM
   * module's memory, where the failure detectors keep their interval rings (hearsay, one
   * thread only). */
  externalPerNodeBytes?: number;
}

/** Parameters and timing of a run. `simulatedMs / wallMs` is the speed relative to real time.
 *
 * @example
 * ```ts ignore
 * import { runHearsaySim } from "./cluster_sim.ts";
 * const { run } = await runHearsaySim({ numNodes: 5 });
 * console.log(run.simulatedMs / run.wallMs);
 * ```
 */
export interface RunFigures {
  /** "hearsay" or "chitchat". */
  implementation: string;
  /** How the nodes were connected. */
  transport: string;
  /** Cluster size. */
  numNodes: number;
  /** Shape of the node ids (`short`, `zlayer`; absent: chitchat's perf-test ids). */
  ids?: string;
  /** What hearsay nodes did past one datagram (`off`, `rotate`, `random`). */
  pastOneDatagram?: string;
  /** The largest datagram the nodes' transports reported, when below the UDP limit
   * (`--datagram-limit`). */
  datagramLimit?: number;
  /** Gossip interval, ms. */
  gossipIntervalMs: number;
  /** Failure detector's initial interval, ms. */
  initialIntervalMs: number;
  /** Phi threshold. */
  phiThreshold: number;
  /** Probability that a datagram was lost. */
  lossRate: number;
  /** Which clock drove the nodes. */
  clock: "real" | "virtual";
  /** The scenarios that were asked for (membership always). */
  scenarios: string[];
  /** Simulated ms from the first start to the last. */
  spawnMs: number;
  /** Wall ms to set up and start every node. */
  spawnWallMs: number;
  /** Simulated ms of the whole run. */
  simulatedMs: number;
  /** Wall ms of the whole run. */
  wallMs: number;
  /** Whether the wall budget cut the run short. */
  wallBudgetExhausted: boolean;
}

/** Everything one run measured (phases that did not run are absent).
 *
 * @example
 * ```ts
 * import { realTimeLine } from "./figures.ts";
 * import { runHearsaySim } from "./cluster_sim.ts";
 * const r = await runHearsaySim({ numNodes: 4, scenarios: ["membership"] });
 * console.log(r.membership.converged, r.traffic); // 4 undefined
 * console.log(realTimeLine(r).startsWith("simulated ")); // true
 * ```
 */
export interface ClusterSimResult {
  /** The membership phase. */
  membership: MembershipFigures;
  /** Memory once membership converged. */
  memory: MemoryFigures | null;
  /** The traffic phase. */
  traffic?: TrafficFigures;
  /** The propagation phase. */
  propagation?: PropagationFigures;
  /** The detection phase. */
  detection?: DetectionFigures;
  /** Parameters and timing. */
  run: RunFigures;
}

/** The time by which a fraction `q` of `total` items had arrived (nearest rank), or null when
 * fewer arrived. `sorted` holds the arrival times, ascending.
 *
 * @example
 * ```ts
 * import { quantileOfTotal } from "./figures.ts";
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
 * import { medianMax } from "./figures.ts";
 * console.log(medianMax([1, 2, 3, 4])); // { median: 2, max: 4 }
 * ```
 */
export function medianMax(
  sorted: readonly number[],
): { median: number | null; max: number | null } {
  if (sorted.length === 0) return { median: null, max: null };
  return { median: sorted[(sorted.length - 1) >> 1]!, max: sorted[sorted.length - 1]! };
}

/** When each of `n` nodes saw something, recorded once per node (later records are ignored).
 *
 * @example
 * ```ts
 * import { Arrivals } from "./figures.ts";
 * const a = new Arrivals(3);
 * a.record(2, 40);
 * a.recordPairs([0, 10, 2, 99]); // node 2 already arrived: 99 is ignored
 * console.log(a.count, a.get(2), a.get(1), a.sorted()); // 2 40 null [ 10, 40 ]
 * ```
 */
export class Arrivals {
  readonly #times: Float64Array;
  #count = 0;

  /** An empty record for nodes `0..n-1`. */
  constructor(n: number) {
    this.#times = new Float64Array(n).fill(NaN);
  }

  /** Records that node `i` arrived at `ms`, unless it already did. */
  record(i: number, ms: number): void {
    if (!Number.isNaN(this.#times[i]!)) return;
    this.#times[i] = ms;
    this.#count++;
  }

  /** Records flat `[node, ms, node, ms, ...]` pairs (as the shard threads report them). */
  recordPairs(pairs: readonly number[]): void {
    for (let k = 0; k + 1 < pairs.length; k += 2) this.record(pairs[k]!, pairs[k + 1]!);
  }

  /** How many nodes the record is for. */
  get size(): number {
    return this.#times.length;
  }

  /** How many nodes arrived. */
  get count(): number {
    return this.#count;
  }

  /** When node `i` arrived, or null. */
  get(i: number): number | null {
    const v = this.#times[i];
    return v === undefined || Number.isNaN(v) ? null : v;
  }

  /** Every arrival time, ascending. */
  sorted(): number[] {
    return [...this.#times].filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  }
}

/** The membership figures from each node's arrival at "sees all", the live-node count of every
 * node at the end of the phase, and whether every node arrived.
 *
 * @example
 * ```ts
 * import { Arrivals, membershipFigures } from "./figures.ts";
 * const seen = new Arrivals(3);
 * seen.recordPairs([0, 900, 2, 1000]); // node 1 never saw everybody
 * const m = membershipFigures(seen, [3, 2, 3], false);
 * console.log(m.node1Ms, m.allMs, m.converged, m.liveSeen); // null null 2 { min: 2, median: 3, max: 3 }
 * ```
 */
export function membershipFigures(
  arrivals: Arrivals,
  liveCounts: readonly number[],
  converged: boolean,
): MembershipFigures {
  const sorted = arrivals.sorted();
  const mm = medianMax(sorted);
  const live = [...liveCounts].sort((a, b) => a - b);
  const n = live.length;
  return {
    node1Ms: arrivals.get(1),
    medianMs: mm.median,
    allMs: converged ? mm.max : null,
    converged: sorted.length,
    liveSeen: { min: live[0]!, median: live[(n - 1) >> 1]!, max: live[n - 1]! },
    timedOut: !converged,
  };
}

/** Cumulative traffic counters of a cluster, in this order: datagrams sent (before loss), bytes
 * sent, datagrams delivered, bytes delivered, Syn, SynAck and Ack sent.
 *
 * @example
 * ```ts
 * import type { TrafficTotals } from "./figures.ts";
 * const t: TrafficTotals = [9, 900, 9, 900, 3, 3, 3];
 * console.log(t[4] + t[5] + t[6] === t[0]); // true
 * ```
 */
export type TrafficTotals = [number, number, number, number, number, number, number];

/** The traffic figures of a window from the cluster's counters at its start and end.
 *
 * @example
 * ```ts
 * import { trafficFigures } from "./figures.ts";
 * const t = trafficFigures([10, 1000, 10, 1000, 4, 3, 3], [100, 10000, 50, 5000, 34, 33, 33], {
 *   nodes: 10, windowMs: 1000, windowWallMs: 2,
 * });
 * console.log(t.messagesPerNodePerSec, t.deliveredMessagesPerNodePerSec); // 9 4
 * // With each node's bytes sent: the busiest node's rate.
 * const b = trafficFigures([0, 0, 0, 0, 0, 0, 0], [2, 300, 2, 300, 2, 0, 0], {
 *   nodes: 2, windowMs: 2000, windowWallMs: 1,
 * }, { before: [0, 0], after: [100, 200] });
 * console.log(b.bytesPerNodePerSec, b.maxBytesPerNodePerSec); // 75 100
 * ```
 */
export function trafficFigures(
  before: Readonly<TrafficTotals>,
  after: Readonly<TrafficTotals>,
  window: { nodes: number; windowMs: number; windowWallMs: number },
  perNode?: { before: ArrayLike<number>; after: ArrayLike<number> },
): TrafficFigures {
  const secs = window.windowMs / 1000;
  const per = (k: number) => (after[k]! - before[k]!) / (window.nodes * secs);
  let max: number | undefined;
  if (perNode !== undefined) {
    if (perNode.before.length !== perNode.after.length) {
      throw new RangeError(
        `per-node counters: ${perNode.before.length} before, ${perNode.after.length} after`,
      );
    }
    max = 0;
    for (let i = 0; i < perNode.after.length; i++) {
      max = Math.max(max, (perNode.after[i]! - perNode.before[i]!) / secs);
    }
  }
  return {
    ...(max === undefined ? {} : { maxBytesPerNodePerSec: max }),
    windowMs: window.windowMs,
    windowWallMs: window.windowWallMs,
    messagesPerNodePerSec: per(0),
    bytesPerNodePerSec: per(1),
    deliveredMessagesPerNodePerSec: per(2),
    deliveredBytesPerNodePerSec: per(3),
    synPerNodePerSec: per(4),
    synAckPerNodePerSec: per(5),
    ackPerNodePerSec: per(6),
  };
}

/** The propagation figures from each node's arrival (the origin at 0) and whether every node
 * got the key. The quantiles count the nodes that never got it as missing.
 *
 * @example
 * ```ts
 * import { Arrivals, propagationFigures } from "./figures.ts";
 * const a = new Arrivals(3);
 * a.recordPairs([2, 0, 0, 300, 1, 450]);
 * const p = propagationFigures(a, true);
 * console.log(p.p50Ms, p.p100Ms, p.arrivalsMs); // 300 450 [ 0, 300, 450 ]
 * ```
 */
export function propagationFigures(arrivals: Arrivals, all: boolean): PropagationFigures {
  const sorted = arrivals.sorted();
  const n = arrivals.size;
  return {
    p50Ms: quantileOfTotal(sorted, n, 0.5),
    p99Ms: quantileOfTotal(sorted, n, 0.99),
    p999Ms: quantileOfTotal(sorted, n, 0.999),
    p100Ms: all ? quantileOfTotal(sorted, n, 1) : null,
    reached: sorted.length,
    timedOut: !all,
    arrivalsMs: sorted,
  };
}

/** The detection figures from each observer's arrival at "the victim is gone".
 *
 * @example
 * ```ts
 * import { Arrivals, detectionFigures } from "./figures.ts";
 * const a = new Arrivals(4); // node 3 stopped; node 2 did not notice in time
 * a.record(0, 5000);
 * a.record(1, 7000);
 * const d = detectionFigures(a, 3, false);
 * console.log(d.detected, d.medianMs, d.maxMs, d.timedOut); // 2 5000 null true
 * ```
 */
export function detectionFigures(
  arrivals: Arrivals,
  observers: number,
  all: boolean,
): DetectionFigures {
  const sorted = arrivals.sorted();
  const dm = medianMax(sorted);
  return {
    observers,
    detected: sorted.length,
    node1Ms: arrivals.get(1),
    medianMs: dm.median,
    maxMs: all ? dm.max : null,
    timedOut: !all,
  };
}

/** The summary line of a run: simulated time, wall time and their ratio.
 *
 * @example
 * ```ts
 * import { realTimeLine } from "./figures.ts";
 * import type { ClusterSimResult } from "./figures.ts";
 * const r = { run: { simulatedMs: 13_000, wallMs: 10_000 } } as ClusterSimResult;
 * console.log(realTimeLine(r)); // simulated 13.0 s in 10.0 s wall: 1.30x real time
 * ```
 */
export function realTimeLine(r: ClusterSimResult): string {
  return `simulated ${(r.run.simulatedMs / 1000).toFixed(1)} s in ${
    (r.run.wallMs / 1000).toFixed(1)
  } s wall: ${(r.run.simulatedMs / r.run.wallMs).toFixed(2)}x real time`;
}
