/**
 * One gossip exchange's CPU (`deno bench -A bench/round_bench.ts`) between two real
 * `GossipNode`s that each hold a cluster of N nodes (10 keys each) and agree on it: A sends a
 * Syn (digest of N entries), B answers a SynAck (its digest and an empty delta), A sends an Ack.
 * Measured end to end through encode, the in-memory network, decode, heartbeat reporting,
 * failure-detector samples and delta computation on both sides. A round costs a node about
 * three exchanges (it starts three, and on average answers three), so per node per round the CPU
 * is about 3x the exchange time. Also: digest + Syn encode, and Syn decode alone.
 *
 * @module
 */
import { GossipNode } from "../src/node/gossip_node.ts";
import { decodeMessage, encodeAck, encodeSyn } from "../src/codec/message.ts";
import { encodeDelta } from "../src/codec/delta.ts";
import { createRandom } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import type { SocketAddr } from "../src/common/types.ts";
import { benchId, clusterDeltas, loadedClusterState } from "../sim/fixtures.ts";

const NONE: ReadonlySet<string> = new Set();

const KEYS = 10;

async function loadedPair(n: number) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1 });
  const start = (i: number) =>
    GossipNode.start({
      nodeId: benchId(i).nodeId,
      generationId: 0n,
      clusterId: "default-cluster",
      // Rounds far apart: the bench drives the exchanges itself.
      gossipIntervalMs: 3_600_000,
      failureDetector: { deadNodeGracePeriodMs: 1e12, initialIntervalMs: 1000 },
      transport: net.bind(benchId(i).gossipAdvertiseAddr),
      clock,
      random: createRandom(i + 1),
      onWarning: (m) => {
        throw new Error(m);
      },
    });
  const a = await start(0);
  const b = await start(1);
  const injector = net.bind({ ip: "127.0.250.1", port: 1 });
  injector.onReceive(() => {});
  const others = clusterDeltas(2, n - 2, KEYS, 150);
  const addrOf = (node: GossipNode): SocketAddr => node.chitchatId.gossipAdvertiseAddr;
  for (const target of [a, b]) {
    // Heartbeats for everyone, so the digests carry non-zero heartbeats.
    const digest = {
      nodes: [...Array(n - 2).keys()].map((i) => ({
        chitchatId: benchId(i + 2),
        heartbeat: 5n,
        lastGcVersion: 0n,
        maxVersion: BigInt(KEYS),
      })),
    };
    injector.send(addrOf(target), encodeSyn("default-cluster", digest));
    clock.advance(1);
    // Then their keys (a delta about an unknown node is ignored).
    for (const d of others) injector.send(addrOf(target), encodeAck(encodeDelta(d)));
  }
  clock.advance(1);
  // Let A and B learn each other and agree.
  for (let i = 0; i < 3; i++) {
    a.gossip(addrOf(b));
    b.gossip(addrOf(a));
    clock.advance(1);
  }
  for (const node of [a, b]) {
    const states = node.nodeStates();
    const keys = states.reduce((sum, s) => sum + s.keyValuesIncludingDeleted().length, 0);
    if (states.length !== n || keys < (n - 2) * KEYS) {
      throw new Error(`fixture: expected ${n} nodes x ${KEYS} keys, got ${states.length}, ${keys}`);
    }
  }
  return { clock, net, a, b, bAddr: addrOf(b) };
}

for (const n of [10, 100, 1000]) {
  const pair = await loadedPair(n);
  Deno.bench({
    name: `gossip exchange (Syn + SynAck + Ack, both sides): ${n} nodes`,
    group: "exchange",
    fn: () => {
      pair.a.gossip(pair.bAddr);
      pair.clock.advance(0);
    },
  });
  const state = loadedClusterState(n, KEYS);
  const syn = encodeSyn("default-cluster", state.digest(NONE));
  Deno.bench({
    name: `Syn decode: ${n} nodes (${syn.length} B)`,
    group: "syn",
    fn: () => {
      decodeMessage(syn);
    },
  });
  Deno.bench({
    name: `digest + Syn encode: ${n} nodes`,
    group: "syn",
    fn: () => {
      encodeSyn("default-cluster", state.digest(NONE));
    },
  });
  // Closed when the process ends: deno bench has no per-file teardown.
  globalThis.addEventListener("unload", () => {
    pair.a.close();
    pair.b.close();
  });
}
