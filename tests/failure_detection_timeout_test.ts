/**
 * `GossipNode.failureDetectionTimeoutMs()`: chitchat 0.12+'s `Chitchat::failure_detection_timeout`
 * on a running node (the arithmetic itself is tested in src/failure_detector/).
 */
import assert from "node:assert/strict";
import { GossipNode } from "../src/node/gossip_node.ts";
import { createRandom } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import type { SocketAddr } from "../src/common/types.ts";

for (const backend of ["wasm", "compact"] as const) {
  Deno.test(`GossipNode.failureDetectionTimeoutMs() (${backend} backend): phi threshold × smoothed heartbeat interval; none for self, unknown and dead nodes`, async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, seed: 2, delayMs: 1 });
    const addr = (i: number): SocketAddr => ({ ip: "10.0.0.1", port: 7000 + i });
    const nodes: GossipNode[] = [];
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await GossipNode.start({
          nodeId: `n${i}`,
          clusterId: "fdt",
          listenAddr: addr(i),
          seeds: i === 0 ? [] : ["10.0.0.1:7000"],
          gossipIntervalMs: 100,
          failureDetector: { initialIntervalMs: 100, deadNodeGracePeriodMs: 60_000 },
          failureDetectorBackend: backend,
          transport: net.bind(addr(i)),
          clock,
          random: createRandom(i),
        }),
      );
    }
    const [a, b, c] = nodes as [GossipNode, GossipNode, GossipNode];
    try {
      assert.equal(a.failureDetectionTimeoutMs(b.chitchatId), undefined, "nothing heard yet");
      await clock.advance(10_000);
      assert.equal(a.liveNodes().length, 3);
      assert.equal(a.failureDetectionTimeoutMs(a.chitchatId), undefined, "self");
      const unknown = { ...b.chitchatId, nodeId: "nobody" };
      assert.equal(a.failureDetectionTimeoutMs(unknown), undefined, "unknown");
      // Heartbeats arrive about every gossip round (100 ms, three nodes gossiping to each other:
      // often more than once a round); the prior is 100 ms; phi 8: below 8 × 100 ms plus slack.
      const t = a.failureDetectionTimeoutMs(c.chitchatId)!;
      assert.ok(t > 100 && t <= 900, `timeout ${t} ms`);
      // Its meaning: a node silent for longer is declared dead, not before.
      await c.close();
      await clock.advance(Math.floor(t * 0.5));
      assert.ok(a.liveNodes().some((id) => id.nodeId === "n2"), "still alive halfway");
      let deadAfter = 0;
      while (a.liveNodes().some((id) => id.nodeId === "n2")) {
        await clock.advance(10);
        deadAfter += 10;
        assert.ok(deadAfter < 5_000, "declared dead in time");
      }
      assert.ok(
        deadAfter + t * 0.5 >= t * 0.9,
        `dead after ${deadAfter + t * 0.5} ms, timeout ${t}`,
      );
      // Found dead: the samples are dropped, so no timeout any more (chitchat: None).
      assert.equal(a.failureDetectionTimeoutMs(c.chitchatId), undefined);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
}
