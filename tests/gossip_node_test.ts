/**
 * GossipNode API details: config validation, host-name seeds, the live-nodes watch, the extra
 * liveness predicate, and shutdown.
 */
import assert from "node:assert/strict";
import { GossipNode, type LiveNodes } from "../src/node/gossip_node.ts";
import { ConfigError } from "../src/common/errors.ts";
import { presets } from "../src/node/config.ts";
import { Sim } from "../sim/memory_cluster.ts";

Deno.test("GossipNode.start() names the wrong field", async () => {
  const base = { nodeId: "a", clusterId: "c", listenAddr: "127.0.0.1:0" };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ nodeId: "" }, /nodeId/],
    [{ clusterId: 5 }, /clusterId/],
    [{ listenAddr: "nowhere" }, /listenAddr/],
    [{ seeds: ["no-port"] }, /seeds\[0\]/],
    [{ gossipIntervalMs: -1 }, /gossipIntervalMs/],
    [{ failureDetector: { phiThreshold: 0 } }, /failureDetector\.phiThreshold/],
    [{ generationId: -1n }, /generationId/],
    [{ markedForDeletionGracePeriodMs: Infinity }, /markedForDeletionGracePeriodMs/],
  ];
  for (const [patch, field] of cases) {
    await assert.rejects(
      () => GossipNode.start({ ...base, ...patch } as Parameters<typeof GossipNode.start>[0]),
      (e: unknown) => e instanceof ConfigError && field.test(e.message),
      JSON.stringify(patch, (_k, v) => typeof v === "bigint" ? String(v) : v),
    );
  }
  // Listening on an unspecified address needs an advertised one; the socket is released.
  await assert.rejects(
    () => GossipNode.start({ ...base, listenAddr: "0.0.0.0:0" }),
    /advertiseAddr is required/,
  );
});

Deno.test("GossipNode resolves host-name seeds", async () => {
  const a = await GossipNode.start({
    ...presets.local,
    nodeId: "a",
    clusterId: "dns",
    listenAddr: "127.0.0.1:0",
  });
  const b = await GossipNode.start({
    ...presets.local,
    nodeId: "b",
    clusterId: "dns",
    listenAddr: "127.0.0.1:0",
    seeds: [`localhost:${a.chitchatId.gossipAdvertiseAddr.port}`],
  });
  try {
    assert.ok(b.seedAddrs().some((s) => s.port === a.chitchatId.gossipAdvertiseAddr.port));
    for await (const live of a.watchLiveNodes()) {
      if (live.some((s) => s.chitchatId.nodeId === "b")) break;
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("GossipNode.watchLiveNodes() yields the current set, then changes, filtered by the predicate", async () => {
  const sim = new Sim({ seed: 51 });
  const [a] = await sim.startMany(1, {
    extraLivenessPredicate: (s) => s.get("ready") === "yes",
  });
  for (let i = 1; i <= 3; i++) await sim.start(i);
  const watch = a!.watchLiveNodes();
  const first = await watch.next();
  assert.equal(first.done, false);
  assert.deepEqual(first.value, [], "self is not ready yet");
  a!.set("ready", "yes");
  const second = await watch.next();
  assert.deepEqual((second.value as LiveNodes).map((s) => s.chitchatId.nodeId), ["node-0"]);
  sim.nodes[2]!.set("ready", "yes");
  await sim.until(() => a!.liveNodes().length === 4, 30_000);
  let latest = (await watch.next()).value as LiveNodes;
  while (latest.length < 2) {
    sim.clock.advance(100);
    latest = (await watch.next()).value as LiveNodes;
  }
  assert.deepEqual(latest.map((s) => s.chitchatId.nodeId), ["node-0", "node-2"]);
  await sim.close();
  assert.equal((await watch.next()).done, true, "close() ends the watch");
});

Deno.test("GossipNode.close() ends subscriptions and refuses further use", async () => {
  const sim = new Sim({ seed: 53 });
  const [a] = await sim.startMany(1);
  const changes = a!.subscribeKeyChanges("");
  a!.set("k", "v");
  assert.equal((await changes.next()).value!.key, "k");
  const pending = changes.next();
  await a!.close();
  assert.equal((await pending).done, true);
  assert.throws(() => a!.set("k", "w"), /closed/);
  await a!.close(); // idempotent
  assert.equal(sim.clock.pendingTimers, 0, "no timer left behind");
});
