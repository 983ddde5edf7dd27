/**
 * The digest ceiling is never silent: when a node's digest no longer fits one datagram, its Syns
 * and SynAcks are dropped (the chitchat wire sends the whole digest at once), and the node says so
 * once through `onWarning`, with the sizes, and exports both sizes in `metrics()`.
 *
 * The ceiling is reached cheaply by giving the nodes a transport that carries at most 700 bytes
 * (as a framing transport would report through `maxDatagramSize`), instead of 964 zlayer-style
 * nodes on 65,507 bytes.
 */
import assert from "node:assert/strict";
import { GossipNode } from "../src/node/gossip_node.ts";
import { createRandom } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import type { Transport } from "../src/transport/transport.ts";
import type { SocketAddr } from "../src/common/types.ts";

const LIMIT = 700;

/** A MemoryNetwork endpoint that declares a small datagram limit. */
function smallDatagrams(inner: Transport): Transport {
  return {
    get localAddr() {
      return inner.localAddr;
    },
    get stats() {
      return inner.stats;
    },
    maxDatagramSize: LIMIT,
    send: (to, data) => inner.send(to, data),
    onReceive: (handler) => inner.onReceive(handler),
    close: () => inner.close(),
  };
}

Deno.test("digest ceiling: one warning with the sizes, metrics show digest against limit", async () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 3, delayMs: 1 });
  const addr = (i: number): SocketAddr => ({ ip: "10.0.0.1", port: 7000 + i });
  const warnings: string[][] = [];
  const nodes: GossipNode[] = [];
  // zlayer-style ids: about 68 bytes per digest entry, so ~10 nodes fill 700 bytes.
  for (let i = 0; i < 16; i++) {
    const seen: string[] = [];
    warnings.push(seen);
    nodes.push(
      await GossipNode.start({
        nodeId: `worker:${18_446_744_073_709_551_000n + BigInt(i)}`,
        generationId: 1_700_000_000_000n + BigInt(i),
        clusterId: "ceiling",
        listenAddr: addr(i),
        seeds: i === 0 ? [] : ["10.0.0.1:7000"],
        gossipIntervalMs: 200,
        transport: smallDatagrams(net.bind(addr(i))),
        clock,
        random: createRandom(100 + i),
        onWarning: (m) => seen.push(m),
      }),
    );
  }
  try {
    await clock.advance(20_000);
    const seed = nodes[0]!;
    const m = seed.metrics();
    assert.equal(m.datagramLimit, LIMIT);
    assert.ok(m.digestBytes > LIMIT, `seed's digest is ${m.digestBytes} bytes`);
    assert.ok((m.dropped["messageTooLarge"] ?? 0) > 5, JSON.stringify(m.dropped));
    const ceiling = warnings[0]!.filter((w) => w.includes("datagram limit"));
    assert.equal(ceiling.length, 1, `the seed warned ${ceiling.length} times: ${ceiling}`);
    assert.match(ceiling[0]!, new RegExp(`digest of \\d+ nodes is ${"\\d+"} bytes`));
    assert.match(ceiling[0]!, /exceed the 700-byte datagram limit/);
    assert.match(ceiling[0]!, /digestBytes against datagramLimit/);
    // A node whose digest still fits warns nothing and reports a digest below the limit.
    const small = nodes.find((n) => n.metrics().digestBytes <= LIMIT && n !== seed);
    if (small !== undefined) {
      const i = nodes.indexOf(small);
      assert.deepEqual(warnings[i]!.filter((w) => w.includes("datagram limit")), []);
    }
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
