/**
 * Past one datagram: below the ceiling the bytes are today's; past it, a cluster whose digest is
 * several times a datagram converges, propagates a key and detects a dead node. The ceiling is
 * reached cheaply with a transport that carries at most 700 bytes (about 9 zlayer-style entries).
 */
import assert from "node:assert/strict";
import { GossipNode } from "./gossip_node.ts";
import { DigestPicker, hasPartialTrailer, PARTIAL_TRAILER } from "./_partial_digest.ts";
import { createRandom } from "../common/random.ts";
import { VirtualClock } from "../common/virtual_clock.ts";
import { MemoryNetwork } from "../transport/memory.ts";
import type { SocketAddr } from "../common/types.ts";
import { decodeMessage, encodeAck } from "../codec/message.ts";
import { withDatagramLimit } from "../transport/_test_limit.ts";

async function cluster(
  n: number,
  limit: number,
  mode: "off" | "rotate" | "random",
  seed = 3,
): Promise<{ clock: VirtualClock; nodes: GossipNode[]; sent: Uint8Array[][] }> {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed, delayMs: 1 });
  const addr = (i: number): SocketAddr => ({ ip: "10.0.0.1", port: 7000 + i });
  const nodes: GossipNode[] = [];
  const sent: Uint8Array[][] = [];
  for (let i = 0; i < n; i++) {
    sent.push([]);
    nodes.push(
      await GossipNode.start({
        nodeId: `worker:${18_446_744_073_709_551_000n + BigInt(i)}`,
        generationId: 1_700_000_000_000n + BigInt(i),
        clusterId: "past",
        listenAddr: addr(i),
        seeds: i === 0 ? [] : ["10.0.0.1:7000"],
        gossipIntervalMs: 200,
        failureDetector: { initialIntervalMs: 200 },
        pastOneDatagram: mode,
        transport: withDatagramLimit(net.bind(addr(i)), limit, (d) => sent[i]!.push(d)),
        clock,
        random: createRandom(100 + i),
        onWarning: (m) => {
          throw new Error(`node ${i}: unexpected warning: ${m}`);
        },
      }),
    );
  }
  return { clock, nodes, sent };
}

Deno.test("past one datagram: below the ceiling every byte sent is the same as with it off", async () => {
  const runs = [];
  for (const mode of ["off", "rotate"] as const) {
    const c = await cluster(6, 65_507, mode);
    await c.clock.advance(5_000);
    runs.push(c.sent);
    await Promise.all(c.nodes.map((x) => x.close()));
  }
  assert.ok(runs[0]!.flat().length > 100);
  assert.deepEqual(runs[1], runs[0]);
  assert.ok(runs[0]!.flat().every((d) => !hasPartialTrailer(d)));
});

for (const mode of ["rotate", "random"] as const) {
  Deno.test(`past one datagram (${mode}): 40 zlayer nodes on 700-byte datagrams converge, propagate, detect`, async () => {
    const { clock, nodes, sent } = await cluster(40, 700, mode);
    try {
      const all = () => nodes.every((x) => x.closed || x.liveNodes().length === 40);
      for (let t = 0; t < 60_000 && !all(); t += 200) await clock.advance(200);
      assert.ok(all(), `live counts ${nodes.map((x) => x.liveNodes().length)}`);
      // The digest is ~4x the datagram, and nothing was dropped for size.
      const seed = nodes[0]!.metrics();
      assert.ok(seed.digestBytes > 2_500, `${seed.digestBytes}`);
      assert.deepEqual(seed.dropped, {});
      for (const out of sent) {
        for (const d of out) {
          assert.ok(d.length <= 700, `${d.length}`);
          // chitchat reads the message and never sees the trailer.
          decodeMessage(d);
        }
      }
      assert.ok(sent[0]!.some(hasPartialTrailer));
      nodes[5]!.set("color", "blue");
      const reached = () =>
        nodes.every((x) => x.nodeState(nodes[5]!.chitchatId)?.get("color") === "blue");
      for (let t = 0; t < 30_000 && !reached(); t += 200) await clock.advance(200);
      assert.ok(reached(), "the key reached every node");
      const victim = nodes[7]!;
      await victim.close();
      const gone = () =>
        nodes.every((x) =>
          x.closed || !x.liveNodes().some((id) => id.nodeId === victim.chitchatId.nodeId)
        );
      for (let t = 0; t < 60_000 && !gone(); t += 200) await clock.advance(200);
      assert.ok(gone(), "every node saw the victim go");
    } finally {
      await Promise.all(nodes.map((x) => x.close()));
    }
  });
}

Deno.test("partial digests: the trailer, and the pickers cover every entry", () => {
  assert.equal(PARTIAL_TRAILER.length, 8);
  const m = new Uint8Array(20).fill(7);
  assert.ok(!hasPartialTrailer(m));
  assert.ok(hasPartialTrailer(new Uint8Array([...m, ...PARTIAL_TRAILER])));
  // As the node sends it: the encoder writes the trailer behind the message.
  const ack = encodeAck(new Uint8Array([0]));
  assert.ok(!hasPartialTrailer(ack));
  const marked = encodeAck(new Uint8Array([0]), { trailer: PARTIAL_TRAILER });
  assert.ok(hasPartialTrailer(marked));
  assert.deepEqual(marked.subarray(0, ack.length), ack);
  const entry = (i: number) => ({
    chitchatId: {
      nodeId: `n${String(i).padStart(3, "0")}`,
      generationId: 0n,
      gossipAdvertiseAddr: { ip: "10.0.0.1", port: i },
    },
    heartbeat: 1n,
    lastGcVersion: 0n,
    maxVersion: 0n,
  });
  const all = Array.from({ length: 100 }, (_, i) => entry(i));
  const sizes = new Uint16Array(100).fill(45);
  for (const mode of ["rotate", "random"] as const) {
    const picker = new DigestPicker(mode, createRandom(4));
    // The same picks when the sizes are given.
    const sized = new DigestPicker(mode, createRandom(4));
    const seen = new Set<string>();
    for (let k = 0; k < 60; k++) {
      const p = picker.pick(all, all[42]!, 2 + 10 * 45);
      assert.equal(p.nodes[0], all[42]);
      assert.equal(p.nodes.length, 10);
      assert.equal(new Set(p.nodes).size, 10);
      assert.equal(p.encodedLength, 2 + 10 * 45);
      assert.deepEqual(p.indices?.map((i) => all[i]), p.nodes);
      assert.deepEqual(sized.pick(all, all[42]!, 2 + 10 * 45, sizes), p);
      for (const e of p.nodes) seen.add(e.chitchatId.nodeId);
    }
    assert.equal(seen.size, 100, mode);
  }
  // Sizes decide the picks: larger entries, fewer of them.
  const big = new DigestPicker("rotate", createRandom(4)).pick(
    all,
    all[0]!,
    2 + 10 * 45,
    new Uint16Array(100).fill(90),
  );
  assert.equal(big.nodes.length, 5);
  assert.throws(
    () => new DigestPicker("rotate", createRandom(4)).pick(all, all[0]!, 100, sizes.subarray(1)),
    /entrySizes holds 99 sizes for 100 entries/,
  );
  // A self that is not one of the entries: no indices, the entries still picked.
  const stranger = entry(500);
  const p = new DigestPicker("rotate", createRandom(4)).pick(all, stranger, 2 + 3 * 45);
  assert.equal(p.indices, undefined);
  assert.deepEqual(p.nodes, [stranger, all[0], all[1]]);
});
