/**
 * Engine scenarios on the in-memory network with a virtual clock (deterministic from a seed):
 * what chitchat's own cluster tests cover, written again for hearsay.
 */
import assert from "node:assert/strict";
import { converged, fullyLive, Sim, viewOf } from "../sim/memory_cluster.ts";
import { createRandom } from "../src/common/random.ts";

const FD = { deadNodeGracePeriodMs: 120_000 };

Deno.test("GossipNode cluster converges: all nodes live, every key everywhere", async () => {
  const sim = new Sim({ seed: 7, node: { failureDetector: FD } });
  const nodes = await sim.startMany(10);
  nodes.forEach((n, i) => n.set(`key-${i}`, `value-${i}`));
  const took = await sim.until(() => fullyLive(nodes) && converged(nodes), 30_000);
  assert.ok(took <= 30_000);
  for (const n of nodes) {
    for (let i = 0; i < 10; i++) {
      const owner = n.nodeStates().find((s) => s.chitchatId.nodeId === `node-${i}`)!;
      assert.equal(owner.get(`key-${i}`), `value-${i}`);
    }
  }
  await sim.close();
});

Deno.test("GossipNode cluster converges under 50% loss and declares nobody dead", async () => {
  const sim = new Sim({ seed: 11, loss: 0.5, node: { failureDetector: FD } });
  const nodes = await sim.startMany(10);
  nodes.forEach((n, i) => n.set(`k${i}`, "v"));
  await sim.until(() => fullyLive(nodes) && converged(nodes), 120_000);
  // A long window under loss: membership must hold at every second.
  for (let s = 0; s < 300; s++) {
    await sim.run(1000);
    assert.ok(fullyLive(nodes), `a live node was declared dead at +${s}s under 50% loss`);
  }
  await sim.close();
});

Deno.test("GossipNode cluster heals after a partition into one consistent state", async () => {
  const sim = new Sim({ seed: 3, node: { failureDetector: FD } });
  const nodes = await sim.startMany(6);
  await sim.until(() => fullyLive(nodes), 30_000);
  const left = [0, 1, 2].map(Sim.addr);
  const right = [3, 4, 5].map(Sim.addr);
  sim.net.partition(left, right);
  nodes[0]!.set("during", "left");
  nodes[4]!.set("during", "right");
  await sim.until(() => nodes.every((n) => n.liveNodes().length === 3), 60_000);
  assert.equal(nodes[0]!.deadNodes().length, 3);
  sim.net.heal();
  await sim.until(() => fullyLive(nodes) && converged(nodes), 60_000);
  assert.match(viewOf(nodes[5]!), /node-0@0:during=left/);
  assert.match(viewOf(nodes[1]!), /node-4@0:during=right/);
  await sim.close();
});

Deno.test("GossipNode ignores duplicated and reordered deltas without harm", async () => {
  const sim = new Sim({
    seed: 5,
    duplicate: 0.5,
    delayMs: { min: 1, max: 2_500 },
    node: { failureDetector: FD },
  });
  const nodes = await sim.startMany(5);
  for (let round = 0; round < 20; round++) {
    nodes[round % 5]!.set(`counter-${round % 5}`, String(round));
    await sim.run(300);
  }
  await sim.until(() => converged(nodes) && fullyLive(nodes), 60_000);
  for (const n of nodes) {
    const s = n.nodeStates().find((x) => x.chitchatId.nodeId === "node-4")!;
    assert.equal(s.get("counter-4"), "19");
  }
  await sim.close();
});

Deno.test("GossipNode syncs a node with thousands of keys across MTU-truncated deltas", async () => {
  const sim = new Sim({ seed: 9, node: { failureDetector: FD } });
  const [a, b] = await sim.startMany(2);
  // ~5000 records of ~220 random bytes: about 1.1 MB (~0.8 MB after zstd), so many datagrams.
  const rnd = createRandom(99);
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (let i = 0; i < 5000; i++) {
    let value = "";
    for (let j = 0; j < 200; j++) value += alphabet[rnd.int(alphabet.length)];
    a!.set(`key-${String(i).padStart(5, "0")}`, value);
  }
  const took = await sim.until(() => converged([a!, b!]), 120_000);
  const replica = b!.nodeState(a!.chitchatId)!;
  assert.equal(replica.numKeyValues, 5000);
  assert.equal(replica.maxVersion, 5000n);
  assert.equal(sim.net.stats.dropped.mtu, 0, "no datagram over the MTU");
  const acksAndSynAcks = a!.metrics().messagesOut.synAck + a!.metrics().messagesOut.ack;
  assert.ok(acksAndSynAcks >= 12, `only ${acksAndSynAcks} deltas carried ~0.8 MB`);
  assert.ok(took >= 3_000, `synced in ${took} ms`);
  await sim.close();
});

Deno.test("GossipNode propagates deletions and TTL deletions, then GCs them", async () => {
  const sim = new Sim({
    seed: 13,
    node: { failureDetector: FD, markedForDeletionGracePeriodMs: 10_000 },
  });
  const nodes = await sim.startMany(4);
  nodes[0]!.set("gone", "1");
  nodes[0]!.set("ttl", "2");
  await sim.until(() => converged(nodes), 20_000);
  nodes[0]!.delete("gone");
  nodes[0]!.deleteAfterTtl("ttl");
  await sim.until(() => converged(nodes), 20_000);
  for (const n of nodes) {
    const s = n.nodeState(nodes[0]!.chitchatId)!;
    assert.equal(s.get("gone"), undefined);
    assert.equal(s.get("ttl"), "2", "a TTL'd key stays visible until GC");
  }
  await sim.run(15_000);
  for (const n of nodes) {
    const s = n.nodeState(nodes[0]!.chitchatId)!;
    assert.equal(s.get("ttl"), undefined);
    assert.equal(s.getVersioned("gone"), undefined);
    assert.equal(s.lastGcVersion, 4n);
  }
  await sim.close();
});

Deno.test("GossipNode resets a node that missed GC'd tombstones and calls catchupCallback", async () => {
  let catchups = 0;
  const sim = new Sim({
    seed: 17,
    node: {
      failureDetector: { deadNodeGracePeriodMs: 600_000 },
      markedForDeletionGracePeriodMs: 5_000,
    },
  });
  const [a, b] = await sim.startMany(2);
  const c = await sim.start(2, { catchupCallback: () => catchups++ });
  const nodes = [a!, b!, c];
  for (let i = 0; i < 10; i++) a!.set(`k${i}`, "v");
  await sim.until(() => converged(nodes), 20_000);
  sim.net.partition([Sim.addr(2)], [Sim.addr(0), Sim.addr(1)]);
  for (let i = 0; i < 5; i++) a!.delete(`k${i}`);
  a!.set("after", "x");
  await sim.run(20_000); // tombstones GC'd on a and b while c is away
  assert.equal(a!.selfNodeState().lastGcVersion, 15n);
  assert.equal(catchups, 0);
  sim.net.heal();
  await sim.until(() => converged(nodes), 30_000);
  assert.ok(catchups >= 1, "c had to be reset");
  const replica = c.nodeState(a!.chitchatId)!;
  assert.equal(replica.get("k0"), undefined);
  assert.equal(replica.get("k9"), "v");
  assert.equal(replica.get("after"), "x");
  assert.ok(c.metrics().resets >= 1);
  await sim.close();
});

Deno.test("GossipNode dead-node lifecycle: dead, no longer gossiped, then removed", async () => {
  const grace = 60_000;
  const sim = new Sim({ seed: 19, node: { failureDetector: { deadNodeGracePeriodMs: grace } } });
  const nodes = await sim.startMany(4);
  await sim.until(() => fullyLive(nodes), 30_000);
  const victim = nodes[3]!;
  const id = victim.chitchatId;
  await victim.close();
  const others = nodes.slice(0, 3);
  const detect = await sim.until(
    () => others.every((n) => n.deadNodes().some((d) => d.nodeId === id.nodeId)),
    60_000,
  );
  assert.ok(detect < 40_000, `detection took ${detect} ms`);
  await sim.until(() => others.every((n) => n.scheduledForDeletionNodes().length === 1), grace);
  assert.ok(others.every((n) => n.nodeState(id) !== undefined), "scheduled, not yet removed");
  await sim.until(() => others.every((n) => n.nodeState(id) === undefined), grace);
  // Removed for good: gossip between the survivors does not bring it back.
  await sim.run(10_000);
  assert.ok(others.every((n) => n.nodeState(id) === undefined));
  await sim.close();
});

Deno.test("GossipNode answers another cluster with BadCluster and keeps it out", async () => {
  const sim = new Sim({ seed: 23, node: { failureDetector: FD } });
  const nodes = await sim.startMany(3);
  const stranger = await sim.start(3, { clusterId: "other" });
  await sim.run(10_000);
  for (const n of nodes) {
    assert.ok(n.nodeStates().every((s) => s.chitchatId.nodeId !== "node-3"));
  }
  assert.ok(stranger.metrics().messagesIn.badCluster > 0);
  assert.equal(stranger.nodeStates().length, 1);
  await sim.close();
});

Deno.test("GossipNode restarted with a new generation is live while the old one dies", async () => {
  const grace = 60_000;
  const sim = new Sim({ seed: 29, node: { failureDetector: { deadNodeGracePeriodMs: grace } } });
  const nodes = await sim.startMany(4);
  nodes[2]!.set("incarnation", "first");
  await sim.until(() => fullyLive(nodes) && converged(nodes), 30_000);
  const old = nodes[2]!.chitchatId;
  await nodes[2]!.close();
  const fresh = await sim.start(2, { generationId: 1n });
  fresh.set("incarnation", "second");
  const survivors = [nodes[0]!, nodes[1]!, nodes[3]!];
  await sim.until(
    () =>
      survivors.every((n) =>
        n.liveNodes().some((x) => x.nodeId === "node-2" && x.generationId === 1n) &&
        n.deadNodes().some((x) => x.nodeId === "node-2" && x.generationId === 0n)
      ),
    60_000,
  );
  await sim.until(() => survivors.every((n) => n.nodeState(old) === undefined), 2 * grace);
  for (const n of survivors) {
    assert.equal(n.nodeState(fresh.chitchatId)!.get("incarnation"), "second");
  }
  await sim.close();
});
