/**
 * Memory per (node, peer) pair: what one node holds for each other node, measured two ways.
 *
 * - `--mode sim`: the one-thread simulator (`sim/cluster_sim.ts`) to full membership, then
 *   `--settle` more simulated ms of gossip (the failure detectors' interval windows fill), then
 *   the JS heap, the memory outside the heap (ArrayBuffers, the WASM memory holding the interval
 *   rings) and RSS growth, divided by `nodes × (nodes − 1)`.
 * - `--mode parts`: each structure alone, built the way the engine builds it, for `--owners`
 *   owners of `--nodes − 1` peers each: the cluster state fed by the same digest (interned ids),
 *   and a failure detector with `--samples` heartbeat intervals per peer.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/memory_per_peer.ts --mode sim --nodes 1000 --ids zlayer --settle 60000
 * deno run -A --v8-flags=--expose-gc bench/memory_per_peer.ts --mode parts --nodes 1000 --owners 100 --samples 1000
 * ```
 *
 * @module
 */
import { runHearsaySim } from "../sim/cluster_sim.ts";
import { ID_SHAPES, type IdShape, simAddr, simGenerationId, simNodeId } from "../sim/scenarios.ts";
import { parseCli } from "../sim/flags.ts";
import { ClusterState } from "../src/state/_cluster_state.ts";
import { DeltaWriter } from "../src/codec/delta.ts";
import {
  DEFAULT_FAILURE_DETECTOR_CONFIG,
  FailureDetector,
  type PhiBackend,
} from "../src/failure_detector/failure_detector.ts";
import { chitchatIdKey } from "../src/common/chitchat_id.ts";
import { createRandom } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import type { Digest, NodeDigest } from "../src/common/types.ts";

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Heap, external and RSS now (after two collections). */
function usage(): { heap: number; external: number; rss: number } {
  gc();
  gc();
  const u = Deno.memoryUsage();
  return { heap: u.heapUsed, external: u.external, rss: u.rss };
}

/** Bytes per pair between two usages. */
function perPair(
  before: ReturnType<typeof usage>,
  after: ReturnType<typeof usage>,
  pairs: number,
): { heap: number; external: number; rss: number; total: number } {
  const heap = (after.heap - before.heap) / pairs;
  const external = (after.external - before.external) / pairs;
  const rss = (after.rss - before.rss) / pairs;
  return {
    heap: Math.round(heap),
    external: Math.round(external),
    rss: Math.round(rss),
    total: Math.round(heap + external),
  };
}

const NONE: ReadonlySet<string> = new Set();

function digestOf(n: number, ids: IdShape): Digest {
  const nodes: NodeDigest[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({
      chitchatId: {
        nodeId: simNodeId(i, ids),
        generationId: simGenerationId(i, ids),
        gossipAdvertiseAddr: simAddr(i),
      },
      heartbeat: 100n + BigInt(i),
      lastGcVersion: 0n,
      maxVersion: 3n,
    });
  }
  return { nodes };
}

/** The structures alone: `owners` cluster states and failure detectors of `n - 1` peers. */
function parts(
  n: number,
  owners: number,
  samples: number,
  ids: IdShape,
  backend: PhiBackend,
  records: number,
): Record<string, unknown> {
  const digest = digestOf(n, ids);
  const pairs = owners * (n - 1);
  const clock = new VirtualClock();
  const out: Record<string, unknown> = { nodes: n, owners, samples, ids, backend, records };
  // `records` keys per peer, as a pool publishes `worker:<id>` (one delta, applied by every owner).
  const delta = {
    nodeDeltas: digest.nodes.map((d, i) => ({
      chitchatId: d.chitchatId,
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      maxVersion: BigInt(records),
      keyValues: Array.from({ length: records }, (_, r) => ({
        key: r === 0 ? `worker:${i}` : `key-${r}`,
        value: `value-${i}-${r}`,
        version: BigInt(r + 1),
        status: "set" as const,
      })),
    })),
  };

  let before = usage();
  const states: ClusterState[] = [];
  for (let o = 0; o < owners; o++) {
    const self = digest.nodes[o]!.chitchatId;
    const s = new ClusterState(self, {
      clockNow: () => clock.now(),
      random: createRandom(o),
      newDeltaSink: (budget, compress) => new DeltaWriter({ budget, compress }),
    });
    s.reportHeartbeats(digest, () => {});
    // A second digest with higher heartbeats: every peer's heartbeat is a fresh u64 value.
    // Answered as the engine answers a digest (a delta for it), which also lets the state drop
    // its reference to the digest.
    const second = { nodes: digest.nodes.map((d) => ({ ...d, heartbeat: d.heartbeat + 7n })) };
    s.reportHeartbeats(second, () => {});
    s.computeDelta(second, 60_000, NONE, false);
    if (records > 0) s.applyDelta(delta);
    states.push(s);
  }
  out.clusterState = perPair(before, usage(), pairs);

  const keys = digest.nodes.map((d) => chitchatIdKey(d.chitchatId));
  before = usage();
  const fds: FailureDetector[] = [];
  for (let o = 0; o < owners; o++) {
    fds.push(
      new FailureDetector(
        { ...DEFAULT_FAILURE_DETECTOR_CONFIG, initialIntervalMs: 1000 },
        clock,
        { backend },
      ),
    );
  }
  const empty = usage();
  const random = createRandom(9);
  const peersOf = fds.map((_, o) => keys.filter((_, i) => i !== o));
  for (let beat = 0; beat <= samples; beat++) {
    for (let o = 0; o < owners; o++) {
      const fd = fds[o]!;
      for (const k of peersOf[o]!) fd.reportHeartbeat(k);
      // A round (and its liveness pass) every six heartbeat increases, as in a 1 s round with
      // three Syns out and three in.
      if (beat % 6 === 5) fd.updateLiveness(peersOf[o]!);
    }
    clock.advance(150 + random.int(100));
  }
  for (let o = 0; o < owners; o++) fds[o]!.updateLiveness(peersOf[o]!);
  const live = fds[0]!.liveNodes().length;
  if (live !== n - 1) throw new Error(`bench setup: ${live} of ${n - 1} peers live`);
  out.failureDetector = perPair(before, usage(), pairs);
  out.failureDetectorEmpty = perPair(before, empty, pairs);
  // Keep both alive until measured.
  out.held = states.length + fds.length;
  return out;
}

if (import.meta.main) {
  const o = parseCli(
    "bench/memory_per_peer.ts",
    "memory per (node, peer) pair, in the simulator or per structure",
    Deno.args,
    (f) => {
      const mode = f.string("mode", "sim (the whole simulator) or parts (each structure alone)") ??
        "sim";
      if (mode !== "sim" && mode !== "parts") f.reject("mode", "sim or parts", mode);
      const ids = f.string("ids", `id shape: ${ID_SHAPES.join(" or ")} (default zlayer)`) ??
        "zlayer";
      if (!(ID_SHAPES as readonly string[]).includes(ids)) {
        f.reject("ids", ID_SHAPES.join(" or "), ids);
      }
      return {
        mode,
        ids: ids as IdShape,
        nodes: f.number("nodes", 500, "cluster size", { integer: true, min: 3 }),
        interval: f.number("interval", 1000, "gossip interval, ms", { above: 0 }),
        settle: f.number("settle", 60_000, "sim: simulated ms after membership", { min: 0 }),
        owners: f.number("owners", 50, "parts: owners of a view", { integer: true, min: 1 }),
        samples: f.number("samples", 1000, "parts: intervals per peer", { integer: true, min: 1 }),
        records: f.number("records", 0, "parts: keys per peer", { integer: true, min: 0 }),
        backend: (f.string("backend", "parts: failure detector backend (default compact)") ??
          "compact") as PhiBackend,
        wallBudget: f.number("wall-budget", 600_000, "sim: wall budget, ms", { min: 0 }),
      };
    },
  );
  if (o.mode === "parts") {
    console.log(
      JSON.stringify(
        parts(o.nodes, Math.min(o.owners, o.nodes), o.samples, o.ids, o.backend, o.records),
      ),
    );
  } else {
    const before = usage();
    const r = await runHearsaySim({
      numNodes: o.nodes,
      ids: o.ids,
      gossipIntervalMs: o.interval,
      scenarios: ["membership"],
      settleMs: o.settle,
      wallBudgetMs: o.wallBudget,
    });
    const pairs = o.nodes * (o.nodes - 1);
    const m = r.memory!;
    console.log(JSON.stringify({
      nodes: o.nodes,
      ids: o.ids,
      settleMs: o.settle,
      converged: r.membership.converged,
      allMs: r.membership.allMs,
      perPair: {
        heap: Math.round((m.heapPerNodeBytes ?? 0) * o.nodes / pairs),
        external: Math.round((m.externalPerNodeBytes ?? 0) * o.nodes / pairs),
        rss: Math.round(m.perNodeBytes * o.nodes / pairs),
      },
      rssBeforeSimBytes: before.rss,
      wallMs: Math.round(r.run.wallMs),
    }));
  }
}
