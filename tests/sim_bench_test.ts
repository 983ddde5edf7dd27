/**
 * The cluster-benchmark machinery itself: the statistics helpers, hearsay's simulation on a small
 * cluster, and the interop peer's `sim_run` (real chitchat nodes on its channel transport, paused
 * clock). Needs `deno task build:interop` (the test task runs it).
 */
import assert from "node:assert/strict";
import { progressLine, runHearsaySim, type SimProgress } from "../sim/cluster_sim.ts";
import { type ClusterSimResult, medianMax, quantileOfTotal } from "../sim/figures.ts";
import { simAddr } from "../sim/scenarios.ts";
import { meanOf, ratio } from "../sim/compare.ts";
import { behindDigest, loadedClusterState } from "../sim/fixtures.ts";
import { decodeDelta } from "../src/codec/delta.ts";
import { InteropPeer } from "../interop/peer.ts";

Deno.test("quantileOfTotal() counts nodes that never got the value as missing", () => {
  assert.equal(quantileOfTotal([0, 5, 9, 12], 4, 0.5), 5);
  assert.equal(quantileOfTotal([0, 5, 9, 12], 4, 1), 12);
  assert.equal(quantileOfTotal([0, 5, 9], 4, 1), null);
  assert.equal(quantileOfTotal([0, 5, 9], 100, 0.5), null);
  assert.equal(quantileOfTotal([7], 1, 0.01), 7);
});

Deno.test("medianMax() takes the lower median and the max", () => {
  assert.deepEqual(medianMax([]), { median: null, max: null });
  assert.deepEqual(medianMax([3]), { median: 3, max: 3 });
  assert.deepEqual(medianMax([1, 2, 3, 10]), { median: 2, max: 10 });
});

Deno.test("meanOf() is null when one run lacks the figure; ratio() is hearsay over chitchat", () => {
  const r = (allMs: number | null) => ({ membership: { allMs } }) as unknown as ClusterSimResult;
  assert.equal(meanOf([r(100), r(300)], (x) => x.membership.allMs), 200);
  assert.equal(meanOf([r(100), r(null)], (x) => x.membership.allMs), null);
  assert.equal(ratio(150, 100), "1.50");
  assert.equal(ratio(1, 0), "n/a");
});

Deno.test("simAddr() gives distinct addresses to a thousand nodes", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) seen.add(`${simAddr(i).ip}:${simAddr(i).port}`);
  assert.equal(seen.size, 1000);
});

Deno.test("behindDigest() makes computeDelta() send exactly the missing records", () => {
  const state = loadedClusterState(10, 5);
  const delta = decodeDelta(state.computeDelta(behindDigest(state, 13), 65_000, new Set(), false));
  const records = delta.nodeDeltas.reduce((sum, nd) => sum + nd.keyValues.length, 0);
  assert.equal(records, 13);
  const none = decodeDelta(state.computeDelta(behindDigest(state, 0), 65_000, new Set(), false));
  assert.equal(none.nodeDeltas.length, 0);
});

Deno.test("runHearsaySim() measures membership, traffic, propagation and detection", async () => {
  const r = await runHearsaySim({ numNodes: 6, gossipIntervalMs: 100, seed: 3 });
  assert.equal(r.membership.converged, 6);
  assert.equal(r.membership.timedOut, false);
  assert.ok(r.membership.allMs! > 0 && r.membership.allMs! <= 5_000);
  assert.ok(r.membership.medianMs! <= r.membership.allMs!);
  // Three peers a round, each Syn answered: ~3 Syn, 3 SynAck, 3 Ack per node per 100 ms.
  assert.ok(
    Math.abs(r.traffic!.messagesPerNodePerSec - 90) < 10,
    `${r.traffic!.messagesPerNodePerSec}`,
  );
  assert.equal(r.traffic!.messagesPerNodePerSec, r.traffic!.deliveredMessagesPerNodePerSec);
  assert.equal(r.propagation!.reached, 6);
  assert.equal(r.propagation!.arrivalsMs[0], 0);
  assert.ok(r.propagation!.p50Ms! <= r.propagation!.p100Ms!);
  assert.equal(r.detection!.observers, 5);
  assert.equal(r.detection!.detected, 5);
  assert.ok(r.detection!.medianMs! > 100, "detection needs missed heartbeats, not an instant");
  assert.equal(r.run.wallBudgetExhausted, false);
  // Deterministic for a seed.
  const again = await runHearsaySim({ numNodes: 6, gossipIntervalMs: 100, seed: 3 });
  assert.deepEqual(again.propagation!.arrivalsMs, r.propagation!.arrivalsMs);
  assert.equal(again.detection!.maxMs, r.detection!.maxMs);
});

Deno.test("runHearsaySim() under loss counts sends before loss and deliveries after", async () => {
  const r = await runHearsaySim({
    numNodes: 5,
    gossipIntervalMs: 100,
    lossRate: 0.5,
    scenarios: ["traffic"],
  });
  assert.equal(r.propagation, undefined);
  const t = r.traffic!;
  const kept = t.deliveredMessagesPerNodePerSec / t.messagesPerNodePerSec;
  assert.ok(kept > 0.3 && kept < 0.7, `delivered fraction ${kept}`);
});

Deno.test("runHearsaySim() stops at the phase deadline and says so", async () => {
  // An interval so long that membership cannot complete within 50 simulated ms.
  const r = await runHearsaySim({ numNodes: 4, gossipIntervalMs: 10_000, phaseTimeoutMs: 50 });
  assert.equal(r.membership.timedOut, true);
  assert.equal(r.membership.allMs, null);
  assert.equal(r.traffic, undefined);
});

Deno.test("interop sim_run runs chitchat nodes on the paused clock and reports every phase", async () => {
  await using peer = await InteropPeer.start();
  const r = await peer.request<ClusterSimResult>("sim_run", {
    numNodes: 6,
    gossipIntervalMs: 100,
    clock: "virtual",
  });
  assert.equal(r.run.clock, "virtual");
  assert.equal(r.membership.converged, 6);
  assert.equal(r.membership.timedOut, false);
  assert.ok(Math.abs(r.traffic!.messagesPerNodePerSec - 90) < 10);
  assert.equal(r.propagation!.reached, 6);
  assert.equal(r.detection!.detected, 5);
  await assert.rejects(
    peer.request("sim_run", { numNodes: 2 }),
    /numNodes` must be in 3\.\.=5000/,
  );
  await assert.rejects(
    peer.request("sim_run", { numNodes: 5, scenario: "chaos" }),
    /unknown scenario "chaos"/,
  );
});

Deno.test("interop sim_run gives chitchat nodes the zlayer id shape when asked, as hearsay's sim", async () => {
  await using peer = await InteropPeer.start();
  const run = (ids: string) =>
    peer.request<ClusterSimResult>("sim_run", {
      numNodes: 12,
      gossipIntervalMs: 100,
      clock: "virtual",
      scenarios: ["traffic"],
      ids,
    });
  const short = await run("short");
  const zlayer = await run("zlayer");
  const hearsay = await runHearsaySim({
    numNodes: 12,
    gossipIntervalMs: 100,
    ids: "zlayer",
    scenarios: ["traffic"],
  });
  assert.equal(zlayer.run.ids, "zlayer");
  assert.equal(zlayer.membership.converged, 12);
  const perMessage = (r: ClusterSimResult) =>
    r.traffic!.bytesPerNodePerSec / r.traffic!.messagesPerNodePerSec;
  // 68-byte digest entries instead of 47 (`node_<i>`, generation 0): 12 of them in every Syn and
  // SynAck, ~250 bytes more, ~170 on average over Syns, SynAcks and Acks.
  assert.ok(
    perMessage(zlayer) > 1.3 * perMessage(short),
    `${perMessage(zlayer)} ${perMessage(short)}`,
  );
  // The same wire and the same ids on both sides: bytes per message within 15%.
  const r = perMessage(hearsay) / perMessage(zlayer);
  assert.ok(r > 0.85 && r < 1.15, `hearsay/chitchat bytes per message ${r}`);
  await assert.rejects(
    peer.request("sim_run", { numNodes: 5, ids: "long" }),
    /`ids` must be "short" or "zlayer", got "long"/,
  );
});

Deno.test("runHearsaySim() bounds the start stagger, and still converges and detects with one", async () => {
  await assert.rejects(
    runHearsaySim({ numNodes: 10, startStaggerMs: 40 }),
    /startStaggerMs must be >= 0 and spread the starts over less than one interval, got 40/,
  );
  const same = await runHearsaySim({
    numNodes: 20,
    seed: 4,
    scenarios: ["membership", "detection"],
  });
  const staggered = await runHearsaySim({
    numNodes: 20,
    seed: 4,
    scenarios: ["membership", "detection"],
    startStaggerMs: 0.0001,
  });
  assert.equal(same.membership.converged, 20);
  assert.equal(staggered.membership.converged, 20);
  assert.equal(staggered.detection?.detected, 19);
  // The stagger only reorders events within an instant: same rounds, so detection stays within a
  // few rounds of the unstaggered run.
  assert.ok(
    Math.abs(staggered.detection!.medianMs! - same.detection!.medianMs!) <= 900,
    `${staggered.detection!.medianMs} vs ${same.detection!.medianMs}`,
  );
});

Deno.test("runHearsaySim reports progress once per simulated second, up to convergence", async () => {
  const seen: SimProgress[] = [];
  const r = await runHearsaySim(
    { numNodes: 12, gossipIntervalMs: 1000, scenarios: ["membership"] },
    (p) => seen.push(p),
  );
  assert.equal(r.membership.converged, 12);
  const seconds = seen.map((p) => Math.floor(p.simulatedMs / 1000));
  assert.deepEqual(seconds, [...new Set(seconds)].sort((a, b) => a - b)); // one per second
  assert.ok(seconds.length >= r.membership.allMs! / 1000, `${seconds.length} reports`);
  const converged = seen.map((p) => p.converged);
  assert.deepEqual(converged, [...converged].sort((a, b) => a - b));
  assert.ok(converged[0]! < 12 && converged.at(-1)! >= 11, String(converged));
  assert.ok(seen.every((p) => p.rssBytes > 0 && p.wallMs >= 0));
  assert.equal(
    progressLine(seen.at(-1)!, 12).split("  ")[2],
    `converged ${seen.at(-1)!.converged}/12`,
  );
});
