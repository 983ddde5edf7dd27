/**
 * The sharded cluster simulation (sim/cluster_shards.ts): real GossipNodes on several Deno
 * Workers (threads), synchronised in virtual time.
 */
import assert from "node:assert/strict";
import { runShardedSim, type ShardedSimResult, ShardError } from "./cluster_shards.ts";

const INTERVAL = 1000;

/** The figures that must not depend on the sharding (wall-clock and per-shard fields aside). */
function simulatedFigures(r: ShardedSimResult): unknown {
  const traffic = r.traffic === undefined ? undefined : { ...r.traffic, windowWallMs: 0 };
  return {
    membership: r.membership,
    traffic,
    propagation: r.propagation,
    detection: r.detection,
    simulatedMs: r.run.simulatedMs,
    windows: r.sharding.windows,
  };
}

Deno.test("runShardedSim() converges 24 nodes over 2 threads", async () => {
  const r = await runShardedSim({
    numNodes: 24,
    threads: 2,
    gossipIntervalMs: INTERVAL,
    scenarios: ["membership", "traffic"],
  });
  const m = r.membership;
  assert.equal(m.timedOut, false);
  assert.equal(m.converged, 24);
  assert.deepEqual(m.liveSeen, { min: 24, median: 24, max: 24 });
  // The first round cannot finish before the seed answers: a few rounds at least, far below the
  // phase deadline.
  assert.ok(m.allMs !== null && m.allMs >= INTERVAL && m.allMs <= 20 * INTERVAL, `${m.allMs}`);
  assert.ok(m.medianMs !== null && m.medianMs <= m.allMs);
  // Steady state: every node starts one round a second, and each Syn is answered by a SynAck
  // and an Ack, over both shards.
  const t = r.traffic!;
  assert.equal(t.windowMs, 3000);
  assert.ok(Math.abs(t.synPerNodePerSec - 3) < 0.5, `syn/s ${t.synPerNodePerSec}`);
  assert.ok(Math.abs(t.ackPerNodePerSec - t.synPerNodePerSec) < 0.5);
  // No loss: what was sent arrived (up to the datagrams in flight at the window's edges).
  const delivered = t.deliveredMessagesPerNodePerSec / t.messagesPerNodePerSec;
  assert.ok(delivered > 0.95 && delivered <= 1.05, `delivered ${delivered}`);
  assert.equal(r.sharding.threads, 2);
  assert.deepEqual(r.sharding.shards.map((s) => s.nodes), [12, 12]);
  for (const s of r.sharding.shards) {
    assert.ok(s.crossDatagrams > 0, `shard ${s.shard} sent nothing to the other shard`);
    assert.ok(s.steps > 0 && s.busyMs > 0);
  }
  assert.ok(r.run.simulatedMs >= m.allMs + 3000);
  assert.match(r.run.transport, /^2 threads, .*delay 1 ms/);
});

Deno.test("runShardedSim() propagates a key to every node", async () => {
  const r = await runShardedSim({
    numNodes: 20,
    threads: 2,
    gossipIntervalMs: INTERVAL,
    scenarios: ["propagation"],
  });
  const p = r.propagation!;
  assert.equal(p.timedOut, false);
  assert.equal(p.reached, 20);
  assert.equal(p.arrivalsMs.length, 20);
  assert.equal(p.arrivalsMs[0], 0); // the origin
  // Set mid-round: the next round starts half an interval later, and a delta takes a Syn
  // (1 ms) and a SynAck (1 ms) or an Ack (2 ms) to land.
  assert.ok(p.arrivalsMs[1]! >= INTERVAL / 2 + 1, `${p.arrivalsMs}`);
  assert.ok(p.p100Ms !== null && p.p100Ms <= 10 * INTERVAL, `${p.p100Ms}`);
  assert.ok(p.p50Ms! <= p.p99Ms! && p.p99Ms! <= p.p100Ms);
});

Deno.test("runShardedSim() detects a stopped node across shards", async () => {
  const r = await runShardedSim({
    numNodes: 16,
    threads: 2,
    gossipIntervalMs: INTERVAL,
    scenarios: ["detection"],
  });
  const d = r.detection!;
  assert.equal(d.timedOut, false);
  assert.equal(d.observers, 15);
  assert.equal(d.detected, 15);
  // The victim (node 15) lives on shard 1; node 1 too, node 0 on shard 0: all see it go.
  // Phi 8 needs several missed heartbeats: not before 2 intervals, well within the deadline.
  assert.ok(d.node1Ms !== null && d.node1Ms >= 2 * INTERVAL, `${d.node1Ms}`);
  assert.ok(d.maxMs !== null && d.maxMs <= 30 * INTERVAL, `${d.maxMs}`);
});

Deno.test("runShardedSim() gives the same figures on 1 and 3 threads, with loss", async () => {
  const options = {
    numNodes: 15,
    gossipIntervalMs: INTERVAL,
    lossRate: 0.2,
    seed: 7,
    trafficWindowMs: 2000,
  };
  const three = await runShardedSim({ ...options, threads: 3 });
  assert.equal(three.membership.converged, 15);
  assert.deepEqual(three.sharding.shards.map((s) => s.nodes), [5, 5, 5]);
  const t = three.traffic!;
  // 20 % of the datagrams are lost on the way.
  const lost = 1 - t.deliveredMessagesPerNodePerSec / t.messagesPerNodePerSec;
  assert.ok(lost > 0.05 && lost < 0.4, `lost ${lost}`);
  assert.equal(three.propagation?.reached, 15);
  assert.equal(three.detection?.detected, 14);
  const one = await runShardedSim({ ...options, threads: 1 });
  assert.equal(one.sharding.shards[0]!.crossDatagrams, 0);
  assert.deepEqual(simulatedFigures(one), simulatedFigures(three));
});

Deno.test("runShardedSim() refuses a zero lookahead", async () => {
  await assert.rejects(
    () => runShardedSim({ numNodes: 5, delayMs: 0 }),
    (e: unknown) => e instanceof RangeError && /delayMs must be an integer >= 1/.test(e.message),
  );
});

Deno.test("runShardedSim() gives up on a thread that does not answer in time", async () => {
  // Starting a thread takes far longer than 1 ms: the first request times out, and every thread
  // is terminated (the leak sanitizer checks it).
  await assert.rejects(
    () => runShardedSim({ numNodes: 5, threads: 2, requestTimeoutMs: 1 }),
    (e: unknown) => e instanceof ShardError && /did not answer "init" within 1 ms/.test(e.message),
  );
});
