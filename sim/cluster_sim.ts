/**
 * The cluster scenarios (`scenarios.ts`) for hearsay in one thread: the real protocol engine
 * (`GossipNode`), many nodes on one in-memory network (`MemoryNetwork`) and one virtual clock,
 * with chitchat's perf-test configuration by default (300 ms interval, initial interval =
 * interval, seed node 0, MTU 65 507). The figures (`figures.ts`) have the same shape as the
 * interop peer's `sim_run` answer (interop/COMMANDS.md), so `bench/cluster_compare.ts` can put
 * both side by side. `cluster_shards.ts` runs the same scenarios over several threads.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc sim/cluster_sim.ts --nodes 1000 --interval 1000
 * deno run -A sim/cluster_sim.ts --nodes 100 --loss 0.5 --json
 * deno task sim --nodes 2000 --ids zlayer --interval 1000 --scenarios membership --json
 * deno run -A sim/cluster_sim.ts --help
 * ```
 *
 * @module
 */
import { GossipNode } from "../src/node/gossip_node.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import { MAX_DATAGRAM_SIZE } from "../src/codec/wire.ts";
import { PARTIAL_DIGEST_MODES, type PartialDigestMode } from "../src/node/_partial_digest.ts";
import {
  Arrivals,
  type ClusterSimResult,
  type MemoryFigures,
  realTimeLine,
  type TrafficTotals,
} from "./figures.ts";
import {
  type ClusterSimOptions,
  ID_SHAPES,
  type IdShape,
  PROPAGATION_KEY,
  runScenarios,
  simAddr,
  type SimDriver,
  simNodeOptions,
  type SimSettings,
  simSettings,
  type StartedPhase,
  WallBudget,
} from "./scenarios.ts";
import { parseCli, simOptionsFromFlags } from "./flags.ts";

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** The one-thread driver: every node on one `MemoryNetwork` and one `VirtualClock`; time moves
 * in steps of a tenth of the interval. */
class OneThreadDriver implements SimDriver {
  readonly transport = "MemoryNetwork (in-process, MTU 65507) + VirtualClock";
  spawnMs = 0;
  spawnWallMs = 0;
  readonly membership: Arrivals;
  readonly #s: SimSettings;
  readonly #budget: WallBudget;
  readonly #clock = new VirtualClock();
  readonly #net: MemoryNetwork;
  readonly #nodes: GossipNode[] = [];
  readonly #index = new Map<GossipNode, number>();
  readonly #step: number;
  readonly #bindOptions: { readonly maxDatagramSize?: number };
  #simStart = 0;
  #rssBefore = 0;
  #heapBefore = 0;
  #externalBefore = 0;

  /** Called once per simulated second of `until`, if set. */
  readonly #onProgress: ((p: SimProgress) => void) | undefined;
  #lastProgressSec = -1;

  constructor(
    s: SimSettings,
    budget: WallBudget,
    delayMs: number,
    onProgress?: (p: SimProgress) => void,
  ) {
    this.#s = s;
    this.#onProgress = onProgress;
    this.#budget = budget;
    this.membership = new Arrivals(s.numNodes);
    this.#step = Math.max(1, Math.floor(s.gossipIntervalMs / 10));
    this.#bindOptions = s.datagramLimit < MAX_DATAGRAM_SIZE
      ? { maxDatagramSize: s.datagramLimit }
      : {};
    this.#net = new MemoryNetwork({
      clock: this.#clock,
      seed: s.seed,
      loss: s.lossRate,
      delayMs,
      // The engine never touches a datagram after sending it, and its decoder only reads.
      copy: false,
    });
  }

  /** Starts every node, `stagger` ms apart. */
  async start(stagger: number): Promise<void> {
    const clock = this.#clock;
    const n = this.#s.numNodes;
    gc();
    this.#rssBefore = Deno.memoryUsage().rss;
    this.#heapBefore = Deno.memoryUsage().heapUsed;
    this.#externalBefore = Deno.memoryUsage().external;
    const simStart = this.#simStart = clock.now();
    for (let i = 0; i < n; i++) {
      const node = await GossipNode.start(
        simNodeOptions(i, this.#s, this.#net.bind(simAddr(i), this.#bindOptions), clock),
      );
      const off = node.onLiveNodesChange((live) => {
        if (live.length === n) {
          this.membership.record(i, clock.now() - simStart);
          off();
        }
      });
      this.#nodes.push(node);
      this.#index.set(node, i);
      if (stagger > 0) clock.advance(stagger);
    }
    this.spawnMs = clock.now() - simStart;
    this.spawnWallMs = this.#budget.elapsedMs();
  }

  now(): number {
    return this.#clock.now() - this.#simStart;
  }

  async until(done: () => boolean, limit: number): Promise<boolean> {
    const clock = this.#clock;
    const deadline = this.#simStart + limit;
    while (!done()) {
      if (clock.now() >= deadline || this.#budget.exhausted()) return false;
      clock.advance(this.#step);
      await Promise.resolve();
      if (this.#onProgress !== undefined) {
        const sec = Math.floor(this.now() / 1000);
        if (sec !== this.#lastProgressSec) {
          this.#lastProgressSec = sec;
          this.#onProgress({
            simulatedMs: this.now(),
            wallMs: this.#budget.elapsedMs(),
            converged: this.membership.count,
            rssBytes: Deno.memoryUsage().rss,
          });
        }
      }
    }
    return true;
  }

  snapshot(): Promise<{ liveCounts: number[]; memory: MemoryFigures }> {
    const n = this.#s.numNodes;
    const liveCounts = this.#nodes.map((x) => x.liveNodes().length);
    gc();
    const usage = Deno.memoryUsage();
    const memory = {
      rssBeforeBytes: this.#rssBefore,
      rssConvergedBytes: usage.rss,
      perNodeBytes: Math.max(0, usage.rss - this.#rssBefore) / n,
      heapPerNodeBytes: Math.max(0, usage.heapUsed - this.#heapBefore) / n,
      externalPerNodeBytes: Math.max(0, usage.external - this.#externalBefore) / n,
    };
    return Promise.resolve({ liveCounts, memory });
  }

  bytesOutByNode(): Float64Array {
    return Float64Array.from(this.#nodes, (x) => x.metrics().bytesOut);
  }

  trafficTotals(): TrafficTotals {
    let messages = 0, bytes = 0, delivered = 0, deliveredBytes = 0, syn = 0, synAck = 0, ack = 0;
    for (const node of this.#nodes) {
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
  }

  /** Advances to the middle of a round (all nodes started at the same time, fixed-rate
   * rounds); returns the time reached. */
  #toMidRound(): number {
    const interval = this.#s.gossipIntervalMs;
    const into = this.now() % interval;
    this.#clock.advance((interval / 2 - into + interval) % interval);
    return this.now();
  }

  propagate(origin: number): Promise<StartedPhase> {
    const arrivals = new Arrivals(this.#s.numNodes);
    const t0 = this.#toMidRound();
    const offs = this.#nodes.map((node, i) =>
      node.onKeyChange(PROPAGATION_KEY, () => arrivals.record(i, this.now() - t0))
    );
    this.#nodes[origin]!.set(PROPAGATION_KEY, "1");
    arrivals.record(origin, 0);
    return Promise.resolve({ t0, arrivals, end: () => offs.forEach((off) => off()) });
  }

  async stop(victim: number): Promise<StartedPhase> {
    const node = this.#nodes[victim]!;
    this.#nodes.splice(victim, 1);
    const victimId = node.chitchatId.nodeId;
    const arrivals = new Arrivals(this.#s.numNodes);
    const t0 = this.#toMidRound();
    await node.close();
    const offs = this.#nodes.map((other) => {
      const i = this.#index.get(other)!;
      return other.onLiveNodesChange((live) => {
        if (!live.some((s) => s.chitchatId.nodeId === victimId)) {
          arrivals.record(i, this.now() - t0);
        }
      });
    });
    return { t0, arrivals, end: () => offs.forEach((off) => off()) };
  }

  async close(): Promise<void> {
    await Promise.all(this.#nodes.map((x) => x.close()));
    this.#net.close();
  }
}

/** Where a long run is, reported once per simulated second (`onProgress`, `--progress`). */
export interface SimProgress {
  /** Simulated ms since the first node started. */
  readonly simulatedMs: number;
  /** Wall-clock ms since the run started. */
  readonly wallMs: number;
  /** Nodes that have seen every node live so far. */
  readonly converged: number;
  /** Resident memory of the process now. */
  readonly rssBytes: number;
}

/** One `--progress` line.
 *
 * @example
 * ```ts
 * import { progressLine } from "./cluster_sim.ts";
 * console.log(progressLine({ simulatedMs: 12_000, wallMs: 65_400, converged: 10, rssBytes: 2 ** 30 }, 50));
 * // sim 12.0 s  wall 65.4 s  converged 10/50  rss 1.00 GiB
 * ```
 */
export function progressLine(p: SimProgress, numNodes: number): string {
  return `sim ${(p.simulatedMs / 1000).toFixed(1)} s  wall ${(p.wallMs / 1000).toFixed(1)} s  ` +
    `converged ${p.converged}/${numNodes}  rss ${(p.rssBytes / 2 ** 30).toFixed(2)} GiB`;
}

/** Runs the cluster scenarios on one simulated hearsay cluster in this thread and measures
 * them. Deterministic in simulated time for a given seed (wall-clock fields aside).
 *
 * @example
 * ```ts
 * import { runHearsaySim } from "./cluster_sim.ts";
 * const r = await runHearsaySim({ numNodes: 5, scenarios: ["propagation"] });
 * console.log(r.membership.converged, r.propagation?.reached); // 5 5
 * ```
 */
export async function runHearsaySim(
  options: ClusterSimOptions,
  onProgress?: (p: SimProgress) => void,
): Promise<ClusterSimResult> {
  const s = simSettings(options);
  const budget = new WallBudget(s.wallBudgetMs);
  const stagger = options.startStaggerMs ?? 0;
  if (!(stagger >= 0 && stagger * s.numNodes < s.gossipIntervalMs)) {
    throw new RangeError(
      `startStaggerMs must be >= 0 and spread the starts over less than one interval, got ${stagger}`,
    );
  }
  const driver = new OneThreadDriver(s, budget, options.delayMs ?? 0, onProgress);
  await driver.start(stagger);
  return await runScenarios(driver, s, budget);
}

if (import.meta.main) {
  const { options, json, progress } = parseCli(
    "sim/cluster_sim.ts",
    "the cluster scenarios on hearsay nodes in one thread (virtual clock)",
    Deno.args,
    (f) => {
      const options = simOptionsFromFlags(f);
      const ids = f.string(
        "ids",
        `shape of the node ids: ${ID_SHAPES.join(" or ")} (default short)`,
      );
      if (ids !== undefined) {
        if ((ID_SHAPES as readonly string[]).includes(ids)) options.ids = ids as IdShape;
        else f.reject("ids", ID_SHAPES.join(" or "), ids);
      }
      const settle = f.number(
        "settle",
        0,
        "simulated ms to gossip after membership before measuring memory",
        { min: 0 },
      );
      if (settle > 0) options.settleMs = settle;
      const past = f.string(
        "past-one-datagram",
        `once a digest outgrows a datagram: ${PARTIAL_DIGEST_MODES.join(", ")} (default compact)`,
      );
      if (past !== undefined) {
        if ((PARTIAL_DIGEST_MODES as readonly string[]).includes(past)) {
          options.pastOneDatagram = past as PartialDigestMode;
        } else f.reject("past-one-datagram", PARTIAL_DIGEST_MODES.join(", "), past);
      }
      const limit = f.number(
        "datagram-limit",
        MAX_DATAGRAM_SIZE,
        "largest datagram each node's transport reports, bytes (default 65507; lower puts a small cluster past one datagram)",
        { integer: true, min: 1, max: MAX_DATAGRAM_SIZE },
      );
      if (limit !== MAX_DATAGRAM_SIZE) options.datagramLimit = limit;
      const progress = f.boolean(
        "progress",
        "print one line per simulated second to stderr (simulated and wall time, converged, RSS)",
      );
      return { options, json: f.boolean("json", "print the result as JSON"), progress };
    },
  );
  const r = await runHearsaySim(
    options,
    progress ? (p) => console.error(progressLine(p, options.numNodes)) : undefined,
  );
  if (json) {
    console.log(JSON.stringify(r));
  } else {
    console.log(r);
    console.log(realTimeLine(r));
  }
}
