/**
 * The cluster scenarios (`scenarios.ts`) spread over K threads (Deno Workers, one per core), so
 * a virtual-time simulation of a large cluster uses every core; the phases and figures are the
 * ones `cluster_sim.ts` runs in one thread.
 *
 * Each shard thread (`shard_thread.ts`) owns the nodes `i` with `i % K === shard`, each a real
 * `GossipNode` on the thread's own `VirtualClock`. Every datagram, within a shard or across, is
 * delivered exactly `delayMs` (d, an integer >= 1) after it was sent, so the figures do not
 * depend on the sharding. The coordinator uses conservative synchronisation with lookahead d:
 * it takes the earliest pending event time m over all shards (timers and routed datagrams),
 * lets every shard run everything due before m + d, then routes the datagrams the window sent
 * (one transferred ArrayBuffer per source and destination shard). Whatever a window sends
 * arrives at m + d or later, so no shard ever receives a datagram from its past. Empty
 * stretches of virtual time are skipped in one step.
 *
 * Differences from `runHearsaySim`: datagrams take d ms (default 1) instead of 0; loss is drawn
 * per sending node, so with loss the exact run does not depend on K either; a phase ends right
 * after the window in which it completed (not at the next tenth of an interval); "mid-round" is
 * `floor(interval / 2)` into a round so times stay integers.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc sim/cluster_shards.ts --nodes 1000 --interval 1000 \
 *   --scenarios membership,traffic --threads 2
 * deno run -A sim/cluster_shards.ts --help
 * ```
 *
 * @module
 */
import { HearsayError } from "../src/common/errors.ts";
import { MAX_DATAGRAM_SIZE } from "../src/codec/wire.ts";
import {
  Arrivals,
  type ClusterSimResult,
  type MemoryFigures,
  realTimeLine,
  type TrafficTotals,
} from "./figures.ts";
import {
  type ClusterSimOptions,
  runScenarios,
  type SimDriver,
  type SimSettings,
  simSettings,
  type StartedPhase,
  WallBudget,
} from "./scenarios.ts";
import { parseCli, simOptionsFromFlags } from "./flags.ts";
import type { ShardConfig, ShardCounters, ShardReply, ShardRequest } from "./shard_thread.ts";

/** Options of {@link runShardedSim}: those of `runHearsaySim` plus the sharding.
 *
 * @example
 * ```ts
 * import { runShardedSim, type ShardedSimOptions } from "./cluster_shards.ts";
 * const o: ShardedSimOptions = { numNodes: 6, threads: 2, scenarios: ["membership"] };
 * console.log((await runShardedSim(o)).sharding.threads); // 2
 * ```
 */
export interface ShardedSimOptions extends Omit<ClusterSimOptions, "delayMs" | "startStaggerMs"> {
  /** Number of shard threads (Deno Workers). Default 2. */
  threads?: number;
  /** Delay of every datagram, an integer >= 1 ms; it is also the synchronisation lookahead.
   * Default 1. (Other options: as {@link ClusterSimOptions}; times must be integer ms.) */
  delayMs?: number;
  /** Longest wait for one answer of a thread (starting its nodes included). Default 60 000 ms. */
  requestTimeoutMs?: number;
}

/** How one shard thread spent the wall time of the simulation loop.
 *
 * @example
 * ```ts
 * import type { ShardFigures } from "./cluster_shards.ts";
 * const s: ShardFigures = {
 *   shard: 0, nodes: 50, busyMs: 900, waitMs: 100, imbalanceMs: 60, steps: 40,
 *   crossDatagrams: 10, crossBytes: 9000,
 * };
 * console.log(s.busyMs / (s.busyMs + s.waitMs)); // 0.9
 * ```
 */
export interface ShardFigures {
  /** Shard index. */
  shard: number;
  /** Nodes it owns. */
  nodes: number;
  /** Wall time spent processing windows (scheduling inbound, running timers, batching). */
  busyMs: number;
  /** Wall time of the windows not spent processing: waiting at the barriers for the other
   * shards, plus messaging and routing (`windowsWallMs - busyMs`). */
  waitMs: number;
  /** The part of `waitMs` spent waiting for a slower shard: the sum over the windows of the
   * slowest shard's processing time minus this one's. */
  imbalanceMs: number;
  /** Windows this shard processed. */
  steps: number;
  /** Datagrams it sent to other shards (those lost on the way not counted). */
  crossDatagrams: number;
  /** Bytes it sent to other shards. */
  crossBytes: number;
}

/** Sharding figures of a run: the synchronisation and how balanced the split was.
 *
 * @example
 * ```ts
 * import type { ShardingFigures } from "./cluster_shards.ts";
 * function idle(s: ShardingFigures): number[] {
 *   return s.shards.map((x) => x.waitMs / s.windowsWallMs);
 * }
 * const shard = { nodes: 5, imbalanceMs: 0, steps: 10, crossDatagrams: 0, crossBytes: 0 };
 * console.log(idle({
 *   threads: 2, delayMs: 1, windows: 10, windowsWallMs: 100, overheadMs: 5, loopWallMs: 120,
 *   shards: [{ ...shard, shard: 0, busyMs: 80, waitMs: 20 }, { ...shard, shard: 1, busyMs: 50, waitMs: 50 }],
 * })); // [ 0.2, 0.5 ]
 * ```
 */
export interface ShardingFigures {
  /** Number of shard threads. */
  threads: number;
  /** Datagram delay = lookahead, ms. */
  delayMs: number;
  /** Synchronisation windows (barriers) run. */
  windows: number;
  /** Wall time of all windows (from sending the step requests to the last answer). */
  windowsWallMs: number;
  /** The part of `windowsWallMs` not covered by the slowest shard's processing in each window:
   * messaging, routing, and whatever the threads do between requests (GC tasks). */
  overheadMs: number;
  /** Wall time of the simulation loop: the windows plus phase set-up and the memory report
   * (which runs a GC in each thread); start-up excluded. */
  loopWallMs: number;
  /** Per shard thread. */
  shards: ShardFigures[];
}

/** What {@link runShardedSim} returns: the figures of `runHearsaySim` plus the sharding. In
 * `memory`, `heapPerNodeBytes` is the sum over the threads of their JS heap growth from before
 * the nodes started to convergence (after a GC when `--expose-gc` is given), divided by the
 * node count; `perNodeBytes` is the process RSS growth over the same span per node.
 *
 * @example
 * ```ts
 * import { runShardedSim } from "./cluster_shards.ts";
 * const r = await runShardedSim({ numNodes: 6, threads: 3, scenarios: ["membership"] });
 * console.log(r.sharding.shards.map((s) => s.nodes)); // [ 2, 2, 2 ]
 * ```
 */
export interface ShardedSimResult extends ClusterSimResult {
  /** The synchronisation figures. */
  sharding: ShardingFigures;
}

/** A failure of the sharded simulation machinery: a shard thread that threw, crashed or did not
 * answer in time.
 *
 * @example
 * ```ts
 * import { ShardError } from "./cluster_shards.ts";
 * const e = new ShardError("shard 1 did not answer \"step\" within 60000 ms");
 * console.log(e.name); // ShardError
 * ```
 */
export class ShardError extends HearsayError {}

type Stepped = Extract<ShardReply, { type: "stepped" }>;

/** One shard thread and its single outstanding request. */
class ShardHandle {
  readonly thread: Worker;
  readonly index: number;
  #pending:
    | {
      resolve: (r: ShardReply) => void;
      reject: (e: Error) => void;
      timer: ReturnType<typeof setTimeout>;
    }
    | null = null;
  #failed: Error | null = null;

  constructor(index: number) {
    this.index = index;
    this.thread = new Worker(new URL("./shard_thread.ts", import.meta.url).href, {
      type: "module",
    });
    this.thread.onmessage = (e: MessageEvent<ShardReply>) => {
      const r = e.data;
      if (r.type === "error") this.#settle(new ShardError(`shard ${index}: ${r.message}`));
      else this.#settle(r);
    };
    this.thread.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#settle(new ShardError(`shard ${index} crashed: ${e.message}`));
    };
    this.thread.onmessageerror = () => {
      this.#settle(new ShardError(`shard ${index}: a message could not be deserialised`));
    };
  }

  #settle(r: ShardReply | Error): void {
    const p = this.#pending;
    if (p === null) {
      if (r instanceof Error) this.#failed ??= r;
      return;
    }
    this.#pending = null;
    clearTimeout(p.timer);
    if (r instanceof Error) p.reject(r);
    else p.resolve(r);
  }

  request(req: ShardRequest, transfer: Transferable[], timeoutMs: number): Promise<ShardReply> {
    if (this.#failed !== null) return Promise.reject(this.#failed);
    if (this.#pending !== null) {
      return Promise.reject(new ShardError(`shard ${this.index}: a request is already pending`));
    }
    const { promise, resolve, reject } = Promise.withResolvers<ShardReply>();
    const timer = setTimeout(() => {
      this.#pending = null;
      const e = new ShardError(
        `shard ${this.index} did not answer "${req.type}" within ${timeoutMs} ms`,
      );
      this.#failed = e;
      reject(e);
    }, timeoutMs);
    this.#pending = { resolve, reject, timer };
    this.thread.postMessage(req, transfer);
    return promise;
  }

  terminate(): void {
    const p = this.#pending;
    if (p !== null) {
      this.#pending = null;
      clearTimeout(p.timer);
      p.reject(new ShardError(`shard ${this.index} terminated`));
    }
    this.thread.terminate();
  }
}

function expect<T extends ShardReply["type"]>(
  r: ShardReply,
  type: T,
): Extract<ShardReply, { type: T }> {
  if (r.type !== type) throw new ShardError(`expected a "${type}" answer, got "${r.type}"`);
  return r as Extract<ShardReply, { type: T }>;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function checkInt(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  }
  return v;
}

/** The sharded driver: the coordinator's side of the lookahead synchronisation. */
class ShardedDriver implements SimDriver {
  readonly transport: string;
  readonly spawnMs = 0;
  spawnWallMs = 0;
  readonly membership: Arrivals;
  readonly #s: SimSettings;
  readonly #budget: WallBudget;
  readonly #shards: ShardHandle[];
  readonly #k: number;
  readonly #d: number;
  readonly #timeout: number;
  // ---- the synchronisation state
  #now = 0; // every event before `now` has run, none at or after it
  readonly #next: number[];
  #inbound: ArrayBuffer[][];
  readonly #inboundMin: number[];
  readonly #counters: ShardCounters[];
  readonly #busy: number[];
  readonly #steps: number[];
  readonly #imbalance: number[];
  #windows = 0;
  #windowsWallMs = 0;
  #overheadMs = 0;
  #loopStart = 0;
  #loopWallMs = 0;
  #propagation: Arrivals;
  #detection: Arrivals;
  #heapBefore: number[] = [];
  #rssBefore = 0;

  constructor(
    s: SimSettings,
    budget: WallBudget,
    shards: ShardHandle[],
    d: number,
    timeout: number,
  ) {
    const k = shards.length;
    this.#s = s;
    this.#budget = budget;
    this.#shards = shards;
    this.#k = k;
    this.#d = d;
    this.#timeout = timeout;
    this.transport = `${k} thread${k === 1 ? "" : "s"}, in-memory, uniform delay ${d} ms, ` +
      "VirtualClock per thread, conservative lookahead sync";
    this.#next = new Array<number>(k).fill(Infinity);
    this.#inbound = shards.map(() => []);
    this.#inboundMin = new Array<number>(k).fill(Infinity);
    this.#counters = shards.map(() => [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    this.#busy = new Array<number>(k).fill(0);
    this.#steps = new Array<number>(k).fill(0);
    this.#imbalance = new Array<number>(k).fill(0);
    this.membership = new Arrivals(s.numNodes);
    this.#propagation = new Arrivals(s.numNodes);
    this.#detection = new Arrivals(s.numNodes);
  }

  /** Sends a request to every shard and checks the answers' type. */
  #all<T extends ShardReply["type"]>(
    make: (s: number) => ShardRequest,
    type: T,
  ): Promise<Extract<ShardReply, { type: T }>[]> {
    return Promise.all(
      this.#shards.map(async (h, s) => expect(await h.request(make(s), [], this.#timeout), type)),
    );
  }

  /** Initialises every shard and starts every node at virtual time 0. */
  async start(): Promise<void> {
    const s = this.#s;
    const ready = await this.#all((shard) => {
      const config: ShardConfig = {
        shard,
        threads: this.#k,
        numNodes: s.numNodes,
        gossipIntervalMs: s.gossipIntervalMs,
        initialIntervalMs: s.initialIntervalMs,
        phiThreshold: s.phiThreshold,
        lossRate: s.lossRate,
        seed: s.seed,
        delayMs: this.#d,
      };
      return { type: "init", config };
    }, "ready");
    this.#heapBefore = ready.map((r) => r.heapUsed);
    gc();
    this.#rssBefore = Deno.memoryUsage().rss;
    const started = await this.#all(() => ({ type: "start" }), "stepped");
    started.forEach((r, shard) => this.#absorb(shard, r));
    this.spawnWallMs = this.#budget.elapsedMs();
    this.#loopStart = performance.now();
  }

  #absorb(s: number, r: Stepped): void {
    this.#next[s] = r.next ?? Infinity;
    for (const b of r.out) {
      this.#inbound[b.shard]!.push(b.buf);
      this.#inboundMin[b.shard] = Math.min(this.#inboundMin[b.shard]!, b.min);
    }
    this.membership.recordPairs(r.membership);
    this.#propagation.recordPairs(r.propagation);
    this.#detection.recordPairs(r.detection);
    this.#counters[s] = r.counters;
    this.#busy[s]! += r.busyMs;
  }

  /** Runs one window below `limit`; false when nothing is due before it. */
  async #window(limit: number): Promise<boolean> {
    const k = this.#k;
    let m = Infinity;
    for (let s = 0; s < k; s++) m = Math.min(m, this.#next[s]!, this.#inboundMin[s]!);
    if (m >= limit) {
      if (Number.isFinite(limit)) this.#now = Math.max(this.#now, limit);
      return false;
    }
    if (m < this.#now) throw new ShardError(`event at ${m} is before the global time ${this.#now}`);
    const end = Math.min(m + this.#d, limit);
    const w0 = performance.now();
    const active: number[] = [];
    for (let s = 0; s < k; s++) {
      if (this.#next[s]! < end || this.#inbound[s]!.length > 0) active.push(s);
    }
    const replies = await Promise.all(active.map(async (s) => {
      const bufs = this.#inbound[s]!;
      this.#inbound[s] = [];
      this.#inboundMin[s] = Infinity;
      const r = await this.#shards[s]!.request(
        { type: "step", end, inbound: bufs },
        bufs,
        this.#timeout,
      );
      return expect(r, "stepped");
    }));
    let slowest = 0;
    for (const r of replies) slowest = Math.max(slowest, r.busyMs);
    const activeSet = new Set(active);
    for (let s = 0; s < k; s++) {
      this.#imbalance[s]! += slowest -
        (activeSet.has(s) ? replies[active.indexOf(s)]!.busyMs : 0);
    }
    replies.forEach((r, j) => {
      const s = active[j]!;
      this.#steps[s]!++;
      this.#absorb(s, r);
    });
    this.#windows++;
    const wall = performance.now() - w0;
    this.#windowsWallMs += wall;
    this.#overheadMs += Math.max(0, wall - slowest);
    this.#now = end;
    return true;
  }

  now(): number {
    return this.#now;
  }

  async until(done: () => boolean, limit: number): Promise<boolean> {
    while (!done()) {
      if (this.#budget.exhausted()) return false;
      if (!(await this.#window(limit))) return done();
    }
    return true;
  }

  async snapshot(): Promise<{ liveCounts: number[]; memory: MemoryFigures }> {
    const n = this.#s.numNodes;
    const reports = await this.#all(() => ({ type: "report" }), "report");
    const liveCounts = reports.flatMap((r) => r.liveCounts);
    gc();
    const rss = Deno.memoryUsage().rss;
    const heapGrowth = reports.reduce((sum, r, s) => sum + r.heapUsed - this.#heapBefore[s]!, 0);
    const memory = {
      rssBeforeBytes: this.#rssBefore,
      rssConvergedBytes: rss,
      perNodeBytes: Math.max(0, rss - this.#rssBefore) / n,
      heapPerNodeBytes: Math.max(0, heapGrowth) / n,
    };
    return { liveCounts, memory };
  }

  trafficTotals(): TrafficTotals {
    const t: TrafficTotals = [0, 0, 0, 0, 0, 0, 0];
    for (const c of this.#counters) for (let j = 0; j < 7; j++) t[j]! += c[j]!;
    return t;
  }

  /** Brings every shard to the middle of a round (all events before it have run) and starts
   * the phase there. */
  async #phase(kind: "propagation" | "detection", target: number): Promise<number> {
    const interval = this.#s.gossipIntervalMs;
    const half = Math.floor(interval / 2);
    const into = this.#now % interval;
    const t0 = this.#now + (half - into + interval) % interval;
    // Not cut short by the wall budget: at most one interval, and the phase needs it.
    while (await this.#window(t0));
    this.#now = t0;
    const replies = await this.#all(() => ({ type: "phase", kind, t0, target }), "stepped");
    replies.forEach((r, s) => this.#absorb(s, r));
    return t0;
  }

  async propagate(origin: number): Promise<StartedPhase> {
    const arrivals = this.#propagation = new Arrivals(this.#s.numNodes);
    const t0 = await this.#phase("propagation", origin);
    return { t0, arrivals, end: () => {} };
  }

  async stop(victim: number): Promise<StartedPhase> {
    const arrivals = this.#detection = new Arrivals(this.#s.numNodes);
    const t0 = await this.#phase("detection", victim);
    return { t0, arrivals, end: () => {} };
  }

  async close(): Promise<void> {
    this.#loopWallMs = performance.now() - this.#loopStart;
    await this.#all(() => ({ type: "close" }), "closed");
  }

  sharding(): ShardingFigures {
    const n = this.#s.numNodes;
    const k = this.#k;
    return {
      threads: k,
      delayMs: this.#d,
      windows: this.#windows,
      windowsWallMs: this.#windowsWallMs,
      overheadMs: this.#overheadMs,
      loopWallMs: this.#loopWallMs,
      shards: this.#shards.map((_, s) => ({
        shard: s,
        nodes: Math.floor((n - 1 - s) / k) + 1,
        busyMs: this.#busy[s]!,
        waitMs: Math.max(0, this.#windowsWallMs - this.#busy[s]!),
        imbalanceMs: this.#imbalance[s]!,
        steps: this.#steps[s]!,
        crossDatagrams: this.#counters[s]![7],
        crossBytes: this.#counters[s]![8],
      })),
    };
  }
}

/** Runs the cluster scenarios of `runHearsaySim` on `threads` shard threads with conservative
 * lookahead synchronisation, and measures them. Deterministic in simulated time for a given
 * seed, whatever the thread count. The threads are terminated before it returns or throws.
 *
 * @example
 * ```ts
 * import { runShardedSim } from "./cluster_shards.ts";
 * const r = await runShardedSim({ numNodes: 6, threads: 2, scenarios: ["propagation"] });
 * console.log(r.membership.converged, r.propagation?.reached); // 6 6
 * ```
 */
export async function runShardedSim(options: ShardedSimOptions): Promise<ShardedSimResult> {
  const budget = new WallBudget(options.wallBudgetMs ?? 120_000);
  const s = simSettings(options);
  const k = checkInt("threads", options.threads ?? 2, 1);
  const d = checkInt("delayMs", options.delayMs ?? 1, 1);
  checkInt("gossipIntervalMs", s.gossipIntervalMs, 1);
  if (s.datagramLimit !== MAX_DATAGRAM_SIZE) {
    throw new RangeError(
      `datagramLimit is not supported by the sharded simulator (its nodes use ${MAX_DATAGRAM_SIZE}), got ${s.datagramLimit}`,
    );
  }
  if (!(s.lossRate >= 0 && s.lossRate <= 1)) {
    throw new RangeError(`lossRate must be in [0, 1], got ${s.lossRate}`);
  }
  const timeout = options.requestTimeoutMs ?? 60_000;
  const shards: ShardHandle[] = [];
  try {
    for (let i = 0; i < k; i++) shards.push(new ShardHandle(i));
    const driver = new ShardedDriver(s, budget, shards, d, timeout);
    await driver.start();
    const { membership, memory, run, ...phases } = await runScenarios(driver, s, budget);
    return { membership, memory, run, sharding: driver.sharding(), ...phases };
  } finally {
    for (const h of shards) h.terminate();
  }
}

if (import.meta.main) {
  const { options, json } = parseCli(
    "sim/cluster_shards.ts",
    "the cluster scenarios on hearsay nodes spread over shard threads (virtual clocks)",
    Deno.args,
    (f) => {
      f.alias("workers", "threads");
      const options: ShardedSimOptions = {
        ...simOptionsFromFlags(f, { stagger: false, integerTimes: true }),
        threads: f.number("threads", 2, "shard threads (--workers: the same)", {
          integer: true,
          min: 1,
        }),
        delayMs: f.number("delay-ms", 1, "delay of every datagram (the lookahead), ms", {
          integer: true,
          min: 1,
        }),
      };
      const stagger = f.number("start-stagger", 0, "not supported here: must be 0", { min: 0 });
      if (stagger !== 0) {
        f.reject("start-stagger", "0 (the sharded simulator needs integer times)", `${stagger}`);
      }
      return { options, json: f.boolean("json", "print the result as JSON") };
    },
  );
  const r = await runShardedSim(options);
  if (json) {
    console.log(JSON.stringify(r));
  } else {
    console.log(r);
    const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const waits = r.sharding.shards.map((s) =>
      `shard ${s.shard}: busy ${sec(s.busyMs)}, waiting ${sec(s.waitMs)} ` +
      `(${sec(s.imbalanceMs)} for slower shards)`
    ).join("; ");
    console.log(
      `${r.sharding.windows} windows in ${sec(r.sharding.windowsWallMs)} ` +
        `(sync overhead ${sec(r.sharding.overheadMs)}); ${waits}`,
    );
    console.log(realTimeLine(r));
  }
}
