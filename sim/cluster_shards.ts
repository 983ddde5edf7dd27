/**
 * The cluster scenarios of `cluster_sim.ts`, spread over K Deno Workers (one per core) so a
 * virtual-time simulation of a large cluster uses every core.
 *
 * Each worker (`cluster_shard_worker.ts`) owns the nodes `i` with `i % K === shard`, each a real
 * `GossipNode` on the worker's own `VirtualClock`. Every datagram, within a shard or across, is
 * delivered exactly `delayMs` (d, an integer >= 1) after it was sent, so the figures do not
 * depend on the sharding. The coordinator uses conservative synchronisation with lookahead d:
 * it takes the earliest pending event time m over all shards (timers and routed datagrams),
 * lets every shard run everything due before m + d, then routes the datagrams the window sent
 * (one transferred ArrayBuffer per source and destination shard). Whatever a window sends
 * arrives at m + d or later, so no shard ever receives a datagram from its past. Empty
 * stretches of virtual time are skipped in one step.
 *
 * Differences from `runHearsaySim`: datagrams take d ms (default 1) instead of 0; loss is drawn
 * per sending shard, so with loss the exact run depends on K; a phase ends right after the
 * window in which it completed (not at the next tenth of an interval); "mid-round" is
 * `floor(interval / 2)` into a round so times stay integers.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc sim/cluster_shards.ts --nodes 1000 --interval 1000 \
 *   --scenarios membership,traffic --workers 2
 * ```
 *
 * @module
 */
import {
  type ClusterSimOptions,
  type ClusterSimResult,
  medianMax,
  numberFlag,
  quantileOfTotal,
  realTimeLine,
  type RunFigures,
  SCENARIOS,
  simOptionsFromArgs,
} from "./cluster_sim.ts";
import { HearsayError } from "../src/common/errors.ts";
import type { ShardConfig, ShardCounters, ShardReply, ShardRequest } from "./shard_thread.ts";

/** Options of {@link runShardedSim}: those of `runHearsaySim` plus the sharding.
 *
 * @example
 * ```ts
 * import type { ShardedSimOptions } from "./cluster_shards.ts";
 * const o: ShardedSimOptions = { numNodes: 100, workers: 2, gossipIntervalMs: 1000 };
 * console.log(o.workers);
 * ```
 */
export interface ShardedSimOptions extends Omit<ClusterSimOptions, "delayMs" | "startStaggerMs"> {
  /** Number of Deno Workers (shards). Default 2. */
  workers?: number;
  /** Delay of every datagram, an integer >= 1 ms; it is also the synchronisation lookahead.
   * Default 1. (Other options: as {@link ClusterSimOptions}; times must be integer ms.) */
  delayMs?: number;
  /** Longest wait for one answer of a worker (starting its nodes included). Default 60 000 ms. */
  requestTimeoutMs?: number;
}

/** How one worker spent the wall time of the simulation loop.
 *
 * @example
 * ```ts
 * import type { ShardFigures } from "./cluster_shards.ts";
 * const s: ShardFigures = {
 *   shard: 0, nodes: 50, busyMs: 900, waitMs: 100, imbalanceMs: 60, steps: 40,
 *   crossDatagrams: 10, crossBytes: 9000,
 * };
 * console.log(s.busyMs / (s.busyMs + s.waitMs));
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
  /** Datagrams it sent to other shards (before loss is not counted: only those sent on). */
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
 * console.log(typeof idle);
 * ```
 */
export interface ShardingFigures {
  /** Number of workers. */
  workers: number;
  /** Datagram delay = lookahead, ms. */
  delayMs: number;
  /** Synchronisation windows (barriers) run. */
  windows: number;
  /** Wall time of all windows (from sending the step requests to the last answer). */
  windowsWallMs: number;
  /** The part of `windowsWallMs` not covered by the slowest shard's processing in each window:
   * messaging, routing, and whatever the workers do between requests (GC tasks). */
  overheadMs: number;
  /** Wall time of the simulation loop: the windows plus phase set-up and the memory report
   * (which runs a GC in each worker); start-up excluded. */
  loopWallMs: number;
  /** Per worker. */
  shards: ShardFigures[];
}

/** What {@link runShardedSim} returns: the figures of `runHearsaySim` plus the sharding. In
 * `memory`, `heapPerNodeBytes` is the sum over the workers of their JS heap growth from before
 * the nodes started to convergence (after a GC when `--expose-gc` is given), divided by the
 * node count; `perNodeBytes` is the process RSS growth over the same span per node.
 *
 * @example
 * ```ts
 * import type { ShardedSimResult } from "./cluster_shards.ts";
 * function speed(r: ShardedSimResult): number {
 *   return r.run.simulatedMs / r.run.wallMs;
 * }
 * console.log(typeof speed);
 * ```
 */
export interface ShardedSimResult extends ClusterSimResult {
  /** The synchronisation figures. */
  sharding: ShardingFigures;
}

/** A failure of the sharded simulation machinery: a worker that threw, crashed or did not
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

/** One worker and its single outstanding request. */
class ShardHandle {
  readonly worker: Worker;
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
    this.worker = new Worker(new URL("./shard_thread.ts", import.meta.url).href, {
      type: "module",
    });
    this.worker.onmessage = (e: MessageEvent<ShardReply>) => {
      const r = e.data;
      if (r.type === "error") this.#settle(new ShardError(`shard ${index}: ${r.message}`));
      else this.#settle(r);
    };
    this.worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#settle(new ShardError(`shard ${index} crashed: ${e.message}`));
    };
    this.worker.onmessageerror = () => {
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
    this.worker.postMessage(req, transfer);
    return promise;
  }

  terminate(): void {
    const p = this.#pending;
    if (p !== null) {
      this.#pending = null;
      clearTimeout(p.timer);
      p.reject(new ShardError(`shard ${this.index} terminated`));
    }
    this.worker.terminate();
  }
}

function expect<T extends ShardReply["type"]>(
  r: ShardReply,
  type: T,
): Extract<ShardReply, { type: T }> {
  if (r.type !== type) throw new ShardError(`expected a "${type}" answer, got "${r.type}"`);
  return r as Extract<ShardReply, { type: T }>;
}

/** Per-node arrival times (NaN = not yet). */
class Times {
  readonly t: Float64Array;
  count = 0;
  constructor(n: number) {
    this.t = new Float64Array(n).fill(NaN);
  }
  add(pairs: readonly number[]): void {
    for (let k = 0; k + 1 < pairs.length; k += 2) {
      const i = pairs[k]!;
      if (Number.isNaN(this.t[i]!)) {
        this.t[i] = pairs[k + 1]!;
        this.count++;
      }
    }
  }
  get(i: number): number | null {
    const v = this.t[i];
    return v === undefined || Number.isNaN(v) ? null : v;
  }
  sorted(): number[] {
    return [...this.t].filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  }
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

/** Runs the cluster scenarios of `runHearsaySim` on `workers` Deno Workers with conservative
 * lookahead synchronisation, and measures them. Deterministic in simulated time for a given
 * seed and worker count. The workers are terminated before it returns or throws.
 *
 * @example
 * ```ts
 * import { runShardedSim } from "./cluster_shards.ts";
 * const r = await runShardedSim({ numNodes: 6, workers: 2, scenarios: ["propagation"] });
 * console.log(r.membership.converged, r.propagation?.reached); // 6 6
 * ```
 */
export async function runShardedSim(options: ShardedSimOptions): Promise<ShardedSimResult> {
  const n = checkInt("numNodes", options.numNodes, 3);
  const k = checkInt("workers", options.workers ?? 2, 1);
  const d = checkInt("delayMs", options.delayMs ?? 1, 1);
  const interval = checkInt("gossipIntervalMs", options.gossipIntervalMs ?? 300, 1);
  const initialInterval = options.initialIntervalMs ?? interval;
  const phiThreshold = options.phiThreshold ?? 8;
  const lossRate = options.lossRate ?? 0;
  if (!(lossRate >= 0 && lossRate <= 1)) {
    throw new RangeError(`lossRate must be in [0, 1], got ${lossRate}`);
  }
  const seed = options.seed ?? 1;
  const wanted = options.scenarios ?? SCENARIOS;
  const scenarios = SCENARIOS.filter((s) => s === "membership" || wanted.includes(s));
  const phaseTimeout = options.phaseTimeoutMs ?? 60_000;
  const wallBudget = options.wallBudgetMs ?? 120_000;
  const timeout = options.requestTimeoutMs ?? 60_000;
  const wallStart = performance.now();
  const budgetExhausted = () => performance.now() - wallStart >= wallBudget;

  const shards: ShardHandle[] = [];
  try {
    for (let s = 0; s < k; s++) shards.push(new ShardHandle(s));
    const all = <T extends ShardReply["type"]>(
      make: (s: number) => ShardRequest,
      type: T,
      transfer: (s: number) => Transferable[] = () => [],
    ): Promise<Extract<ShardReply, { type: T }>[]> =>
      Promise.all(
        shards.map(async (h, s) => expect(await h.request(make(s), transfer(s), timeout), type)),
      );

    const heapBefore = await all((s) => {
      const config: ShardConfig = {
        shard: s,
        workers: k,
        numNodes: n,
        gossipIntervalMs: interval,
        initialIntervalMs: initialInterval,
        phiThreshold,
        lossRate,
        seed,
        delayMs: d,
      };
      return { type: "init", config };
    }, "ready");
    gc();
    const rssBefore = Deno.memoryUsage().rss;

    // ---- the synchronisation state
    let now = 0; // every event before `now` has run, none at or after it
    const next = new Array<number>(k).fill(Infinity);
    const inbound: ArrayBuffer[][] = shards.map(() => []);
    const inboundMin = new Array<number>(k).fill(Infinity);
    const counters: ShardCounters[] = shards.map(() => [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const busy = new Array<number>(k).fill(0);
    const steps = new Array<number>(k).fill(0);
    let windows = 0;
    let windowsWallMs = 0;
    let overheadMs = 0;
    const imbalance = new Array<number>(k).fill(0);
    const membership = new Times(n);
    let propagation = new Times(n);
    let detection = new Times(n);

    const absorb = (s: number, r: Stepped) => {
      next[s] = r.next ?? Infinity;
      for (const b of r.out) {
        inbound[b.shard]!.push(b.buf);
        inboundMin[b.shard] = Math.min(inboundMin[b.shard]!, b.min);
      }
      membership.add(r.membership);
      propagation.add(r.propagation);
      detection.add(r.detection);
      counters[s] = r.counters;
      busy[s]! += r.busyMs;
    };

    /** Runs one window below `limit`; false when nothing is due before it. */
    const window = async (limit: number): Promise<boolean> => {
      let m = Infinity;
      for (let s = 0; s < k; s++) m = Math.min(m, next[s]!, inboundMin[s]!);
      if (m >= limit) {
        if (Number.isFinite(limit)) now = Math.max(now, limit);
        return false;
      }
      if (m < now) throw new ShardError(`event at ${m} is before the global time ${now}`);
      const end = Math.min(m + d, limit);
      const w0 = performance.now();
      const active: number[] = [];
      for (let s = 0; s < k; s++) {
        if (next[s]! < end || inbound[s]!.length > 0) active.push(s);
      }
      const replies = await Promise.all(active.map(async (s) => {
        const bufs = inbound[s]!;
        inbound[s] = [];
        inboundMin[s] = Infinity;
        const r = await shards[s]!.request({ type: "step", end, inbound: bufs }, bufs, timeout);
        return expect(r, "stepped");
      }));
      let slowest = 0;
      for (const r of replies) slowest = Math.max(slowest, r.busyMs);
      const activeSet = new Set(active);
      for (let s = 0; s < k; s++) {
        imbalance[s]! += slowest - (activeSet.has(s) ? replies[active.indexOf(s)]!.busyMs : 0);
      }
      replies.forEach((r, j) => {
        const s = active[j]!;
        steps[s]!++;
        absorb(s, r);
      });
      windows++;
      const wall = performance.now() - w0;
      windowsWallMs += wall;
      overheadMs += Math.max(0, wall - slowest);
      now = end;
      return true;
    };

    /** Runs windows until `done()`, the time `limit` or the wall budget. */
    const until = async (done: () => boolean, limit: number): Promise<boolean> => {
      while (!done()) {
        if (budgetExhausted()) return false;
        if (!(await window(limit))) return done();
      }
      return true;
    };

    /** Brings every shard to the middle of a round: all events before it have run. */
    const toMidRound = async (): Promise<number> => {
      const half = Math.floor(interval / 2);
      const into = now % interval;
      const t0 = now + (half - into + interval) % interval;
      // Not cut short by the wall budget: at most one interval, and the phase needs it.
      while (await window(t0));
      now = t0;
      return t0;
    };

    // ---- start every node at virtual time 0
    const started = await all(() => ({ type: "start" }), "stepped");
    started.forEach((r, s) => absorb(s, r));
    const spawnWallMs = performance.now() - wallStart;
    const loopStart = performance.now();

    const converged = await until(() => membership.count === n, phaseTimeout);
    const sortedMembership = membership.sorted();
    const mm = medianMax(sortedMembership);
    const reports = await all(() => ({ type: "report" }), "report");
    const liveCounts = reports.flatMap((r) => r.liveCounts).sort((a, b) => a - b);
    gc();
    const rss = Deno.memoryUsage().rss;
    const heapGrowth = reports.reduce((sum, r, s) => sum + r.heapUsed - heapBefore[s]!.heapUsed, 0);
    const result: ShardedSimResult = {
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
      memory: {
        rssBeforeBytes: rssBefore,
        rssConvergedBytes: rss,
        perNodeBytes: Math.max(0, rss - rssBefore) / n,
        heapPerNodeBytes: Math.max(0, heapGrowth) / n,
      },
      run: undefined as unknown as RunFigures,
      sharding: undefined as unknown as ShardingFigures,
    };

    if (converged && scenarios.includes("traffic") && !budgetExhausted()) {
      const totals = () => {
        const t = [0, 0, 0, 0, 0, 0, 0];
        for (const c of counters) for (let j = 0; j < 7; j++) t[j]! += c[j]!;
        return t;
      };
      const before = totals();
      const t0 = now;
      const w0 = performance.now();
      const windowMs = options.trafficWindowMs ?? 3_000;
      await until(() => false, t0 + windowMs);
      const secs = (now - t0) / 1000;
      const after = totals();
      const per = (j: number) => (after[j]! - before[j]!) / (n * secs);
      result.traffic = {
        windowMs: now - t0,
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

    const phase = async (kind: "propagation" | "detection", target: number): Promise<number> => {
      const t0 = await toMidRound();
      const replies = await all(() => ({ type: "phase", kind, t0, target }), "stepped");
      replies.forEach((r, s) => absorb(s, r));
      return t0;
    };

    if (converged && scenarios.includes("propagation") && !budgetExhausted()) {
      propagation = new Times(n);
      const t0 = await phase("propagation", n - 1);
      const reachedAll = await until(() => propagation.count === n, t0 + phaseTimeout);
      const sorted = propagation.sorted();
      result.propagation = {
        p50Ms: quantileOfTotal(sorted, n, 0.5),
        p99Ms: quantileOfTotal(sorted, n, 0.99),
        p999Ms: quantileOfTotal(sorted, n, 0.999),
        p100Ms: reachedAll ? quantileOfTotal(sorted, n, 1) : null,
        reached: sorted.length,
        timedOut: !reachedAll,
        arrivalsMs: sorted,
      };
    }

    if (converged && scenarios.includes("detection") && !budgetExhausted()) {
      detection = new Times(n);
      const observers = n - 1;
      const t0 = await phase("detection", n - 1);
      const allSeen = await until(() => detection.count === observers, t0 + phaseTimeout);
      const sorted = detection.sorted();
      const dm = medianMax(sorted);
      result.detection = {
        observers,
        detected: sorted.length,
        node1Ms: detection.get(1),
        medianMs: dm.median,
        maxMs: allSeen ? dm.max : null,
        timedOut: !allSeen,
      };
    }

    const loopWallMs = performance.now() - loopStart;
    const wallMs = performance.now() - wallStart;
    const exhausted = budgetExhausted();
    await all(() => ({ type: "close" }), "closed");
    result.run = {
      implementation: "hearsay",
      transport: `${k} worker${k === 1 ? "" : "s"}, in-memory, uniform delay ${d} ms, ` +
        "VirtualClock per worker, conservative lookahead sync",
      numNodes: n,
      gossipIntervalMs: interval,
      initialIntervalMs: initialInterval,
      phiThreshold,
      lossRate,
      clock: "virtual",
      scenarios: [...scenarios],
      spawnMs: 0,
      spawnWallMs,
      simulatedMs: now,
      wallMs,
      wallBudgetExhausted: exhausted,
    };
    result.sharding = {
      workers: k,
      delayMs: d,
      windows,
      windowsWallMs,
      overheadMs,
      loopWallMs,
      shards: shards.map((_, s) => ({
        shard: s,
        nodes: Math.floor((n - 1 - s) / k) + 1,
        busyMs: busy[s]!,
        waitMs: Math.max(0, windowsWallMs - busy[s]!),
        imbalanceMs: imbalance[s]!,
        steps: steps[s]!,
        crossDatagrams: counters[s]![7],
        crossBytes: counters[s]![8],
      })),
    };
    return result;
  } finally {
    for (const h of shards) h.terminate();
  }
}

if (import.meta.main) {
  const args = Deno.args;
  const { startStaggerMs, ...common } = simOptionsFromArgs(args);
  if (startStaggerMs !== undefined && startStaggerMs !== 0) {
    console.error(
      "--start-stagger is not supported here (the sharded simulator needs integer times)",
    );
    Deno.exit(2);
  }
  const r = await runShardedSim({
    ...common,
    workers: numberFlag(args, "workers", 2),
    delayMs: numberFlag(args, "delay-ms", 1),
  });
  if (args.includes("--json")) {
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
