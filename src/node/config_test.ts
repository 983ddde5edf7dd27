import assert from "node:assert/strict";
import { resolveConfig } from "./config.ts";
import { ConfigError } from "../common/errors.ts";
import { GossipNode } from "./gossip_node.ts";
import { MemoryNetwork } from "../transport/memory.ts";
import { VirtualClock } from "../common/virtual_clock.ts";
import { createRandom } from "../common/random.ts";
import type { SocketAddr } from "../common/types.ts";

const base = { nodeId: "a", clusterId: "c", listenAddr: "127.0.0.1:7000" };

Deno.test("config: failureDetectorBackend defaults to wasm; wasm, compact and typescript accepted", () => {
  assert.equal(resolveConfig(base).failureDetectorBackend, "wasm");
  for (const b of ["wasm", "compact", "typescript"] as const) {
    assert.equal(resolveConfig({ ...base, failureDetectorBackend: b }).failureDetectorBackend, b);
  }
  assert.throws(
    () => resolveConfig({ ...base, failureDetectorBackend: "gpu" as never }),
    (e: unknown) =>
      e instanceof ConfigError && e.field === "failureDetectorBackend" &&
      e.message.includes('"wasm", "compact" or "typescript"') && e.message.includes('"gpu"'),
  );
});

Deno.test("config: pastOneDatagram defaults to off and refuses other modes", () => {
  assert.equal(resolveConfig(base).pastOneDatagram, "off");
  assert.throws(
    () => resolveConfig({ ...base, pastOneDatagram: "sometimes" as never }),
    (e: unknown) => e instanceof ConfigError && e.field === "pastOneDatagram",
  );
});

Deno.test("config: nodes on the compact backend detect a stopped peer like wasm ones", async () => {
  for (const backend of ["wasm", "compact"] as const) {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, seed: 3, delayMs: 1 });
    const addr = (i: number): SocketAddr => ({ ip: "10.0.0.1", port: 7000 + i });
    const nodes: GossipNode[] = [];
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await GossipNode.start({
          nodeId: `n${i}`,
          clusterId: "be",
          listenAddr: addr(i),
          seeds: i === 0 ? [] : ["10.0.0.1:7000"],
          gossipIntervalMs: 100,
          failureDetector: { initialIntervalMs: 100 },
          failureDetectorBackend: backend,
          transport: net.bind(addr(i)),
          clock,
          random: createRandom(i),
        }),
      );
    }
    const [a, b, c] = nodes as [GossipNode, GossipNode, GossipNode];
    await clock.advance(5_000);
    assert.deepEqual(nodes.map((n) => n.liveNodes().length), [3, 3, 3], backend);
    const t = a.failureDetectionTimeoutMs(c.chitchatId)!;
    assert.ok(t > 100 && t <= 900, `${backend}: timeout ${t} ms`);
    await c.close();
    await clock.advance(5_000);
    assert.deepEqual([a.liveNodes().length, b.liveNodes().length], [2, 2], backend);
    await Promise.all([a.close(), b.close()]);
  }
});
