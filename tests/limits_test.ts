/**
 * Resource limits: one hostile or buggy peer cannot make a node hold unbounded state.
 */
import assert from "node:assert/strict";
import { resolveConfig } from "../src/node/config.ts";
import { ConfigError } from "../src/common/errors.ts";
import { converged, Sim } from "../sim/memory_cluster.ts";

const FD = { deadNodeGracePeriodMs: 120_000 };

Deno.test("GossipNode limits.maxNodes caps the node states held", async () => {
  const sim = new Sim({ seed: 31, node: { failureDetector: FD } });
  const nodes = await sim.startMany(4);
  const capped = await sim.start(4, { limits: { maxNodes: 3 } });
  await sim.run(20_000);
  assert.equal(capped.nodeStates().length, 3);
  assert.ok(capped.metrics().rejected.maxNodes! > 0);
  for (const n of nodes) assert.equal(n.nodeStates().length, 5, "the others are not limited");
  await sim.close();
});

Deno.test("GossipNode limits.maxKeysPerNode and maxBytesPerNode reject whole node deltas", async () => {
  const sim = new Sim({ seed: 37, node: { failureDetector: FD } });
  const [a] = await sim.startMany(1);
  const keys = await sim.start(1, { limits: { maxKeysPerNode: 10 } });
  const bytes = await sim.start(2, { limits: { maxBytesPerNode: 1_000 } });
  const free = await sim.start(3);
  for (let i = 0; i < 50; i++) a!.set(`k${i}`, "v".repeat(100));
  await sim.until(() => free.nodeState(a!.chitchatId)?.numKeyValues === 50, 30_000);
  await sim.run(5_000);
  const k = keys.nodeState(a!.chitchatId)!;
  const b = bytes.nodeState(a!.chitchatId)!;
  assert.ok(k.numRecords <= 10, `held ${k.numRecords} records`);
  assert.ok(b.bytes <= 1_000, `held ${b.bytes} bytes`);
  assert.ok(keys.metrics().rejected.maxKeysPerNode! > 0);
  assert.ok(bytes.metrics().rejected.maxBytesPerNode! > 0);
  // What was accepted is a consistent prefix: versions 1..max, nothing half-applied.
  assert.equal(BigInt(k.numRecords), k.maxVersion);
  await sim.close();
});

Deno.test("GossipNode limits.maxValueBytes rejects oversized values", async () => {
  const sim = new Sim({ seed: 41, node: { failureDetector: FD } });
  const [a] = await sim.startMany(1);
  const small = await sim.start(1, { limits: { maxValueBytes: 1_000 } });
  a!.set("ok", "x".repeat(999));
  await sim.until(() => small.nodeState(a!.chitchatId)?.get("ok") !== undefined, 20_000);
  a!.set("big", "y".repeat(5_000));
  await sim.run(10_000);
  assert.equal(small.nodeState(a!.chitchatId)!.get("big"), undefined);
  assert.ok(small.metrics().rejected.maxValueBytes! > 0);
  await sim.close();
});

Deno.test("GossipNode limits.maxDigestEntries ignores oversized digests' heartbeats", async () => {
  const sim = new Sim({ seed: 43, node: { failureDetector: FD } });
  const nodes = await sim.startMany(4);
  const strict = await sim.start(4, { limits: { maxDigestEntries: 2 } });
  await sim.run(10_000);
  assert.ok(strict.metrics().rejected.maxDigestEntries! > 0);
  // Every digest it receives lists 5 nodes, so it learns nobody: bounded, and counted.
  assert.equal(strict.nodeStates().length, 1);
  assert.ok(converged(nodes));
  assert.ok(nodes.every((n) => n.liveNodes().length === 5), "the others still see everyone");
  await sim.close();
});

Deno.test("resolveConfig() validates limits", () => {
  const base = { nodeId: "a", clusterId: "c", listenAddr: "127.0.0.1:0" };
  assert.throws(() => resolveConfig({ ...base, limits: { maxNodes: 0 } }), ConfigError);
  assert.throws(
    () => resolveConfig({ ...base, limits: { maxKeysPerNode: 1.5 } }),
    /limits\.maxKeysPerNode/,
  );
  assert.equal(resolveConfig(base).limits.maxNodes, 10_000);
});
