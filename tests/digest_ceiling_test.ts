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
import type { Digest, SocketAddr } from "../src/common/types.ts";
import { encodeSyn } from "../src/codec/message.ts";
import { MAX_DATAGRAM_SIZE } from "../src/codec/wire.ts";

const LIMIT = 700;

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
        transport: net.bind(addr(i), { maxDatagramSize: LIMIT }),
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

// ---------------------------------------------------------------------------------------------
// The measured ceiling per wire version (docs/SECURITY.md states these numbers): how many
// zlayer-style entries (`worker:<20 digits>`, u64 generations, IPv4, 68 bytes each uncompressed)
// fit one 65 507-byte Syn. V0 does not depend on the values; V1 does (it is compressed), so two
// shapes: sequential ids on one address (compress best) and random ids, generations,
// addresses and counters (compress least).

function zlayerDigest(n: number, shape: "sequential" | "random"): Digest {
  const r = createRandom(7);
  const u64 = () => BigInt.asUintN(64, (BigInt(r.int(2 ** 31)) << 33n) ^ BigInt(r.int(2 ** 31)));
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const seq = shape === "sequential";
    const id = 10_000_000_000_000_000_000n +
      (seq ? BigInt(i) * 7919n : u64() % 8_000_000_000_000_000_000n);
    nodes.push({
      chitchatId: {
        nodeId: `worker:${id}`,
        generationId: seq ? 1_700_000_000_000_000_000n + BigInt(i) : u64(),
        gossipAdvertiseAddr: {
          ip: seq ? "10.1.2.3" : `10.${r.int(256)}.${r.int(256)}.${r.int(256)}`,
          port: 7946,
        },
      },
      heartbeat: seq ? 1000n + BigInt(i) : BigInt(r.int(1e9)),
      lastGcVersion: 0n,
      maxVersion: seq ? 50n + BigInt(i) : BigInt(r.int(1e6)),
    });
  }
  return { nodes };
}

/** The most entries whose Syn fits a datagram (a SynAck with an empty delta is 2 bytes shorter
 * than a Syn for cluster "default-cluster" minus its 17-byte cluster id field: the Syn binds). */
function ceiling(shape: "sequential" | "random", protocolVersion: 0 | 1): number {
  let lo = 1;
  let hi = 10_000;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const len = encodeSyn("default-cluster", zlayerDigest(mid, shape), { protocolVersion }).length;
    if (len <= MAX_DATAGRAM_SIZE) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

Deno.test("digest ceiling: zlayer-style ids fit 963 entries in V0, 1 811 to 7 789 in V1", () => {
  const measured = {
    v0: ceiling("sequential", 0),
    v0Random: ceiling("random", 0),
    v1Random: ceiling("random", 1),
    v1Sequential: ceiling("sequential", 1),
  };
  console.log(`entries per 65 507-byte Syn: ${JSON.stringify(measured)}`);
  assert.deepEqual(measured, { v0: 963, v0Random: 963, v1Random: 1811, v1Sequential: 7789 });
});

Deno.test("digest ceiling: a V1 node warns about its V1 digest", async () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 4, delayMs: 1 });
  const addr = (i: number): SocketAddr => ({ ip: "10.0.0.1", port: 7000 + i });
  const warnings: string[] = [];
  const nodes: GossipNode[] = [];
  // Random-looking ids compress little: the V1 digest of 40 of them passes 700 bytes too.
  const r = createRandom(11);
  for (let i = 0; i < 40; i++) {
    nodes.push(
      await GossipNode.start({
        nodeId: `worker:${BigInt(r.int(2 ** 31)) * 4_294_967_296n + BigInt(r.int(2 ** 31))}`,
        generationId: 1_700_000_000_000n + BigInt(r.int(2 ** 31)),
        clusterId: "ceiling-v1",
        listenAddr: addr(i),
        seeds: i === 0 ? [] : ["10.0.0.1:7000"],
        gossipIntervalMs: 200,
        protocolVersion: 1,
        transport: net.bind(addr(i), { maxDatagramSize: LIMIT }),
        clock,
        random: createRandom(200 + i),
        onWarning: i === 0 ? (m) => warnings.push(m) : () => {},
      }),
    );
  }
  try {
    await clock.advance(20_000);
    const m = nodes[0]!.metrics();
    assert.ok(m.digestBytes > LIMIT, `the seed's V1 digest is ${m.digestBytes} bytes`);
    const ceiling = warnings.filter((w) => w.includes("datagram limit"));
    assert.equal(ceiling.length, 1, ceiling.join("\n"));
    assert.match(ceiling[0]!, /this node's V1 digest of \d+ nodes is \d+ bytes/);
    assert.match(ceiling[0]!, /the V1 digest is compressed/);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
