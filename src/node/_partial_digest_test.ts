/**
 * Past one datagram: below the ceiling the bytes are today's; past it, a cluster whose digest is
 * several times a datagram converges, propagates a key and detects a dead node. The ceiling is
 * reached cheaply with a transport that carries at most 700 bytes (about 9 zlayer-style entries).
 */
import assert from "node:assert/strict";
import { GossipNode } from "./gossip_node.ts";
import {
  COMPACT_FRAMING,
  COMPACT_TRAILER,
  CompactSectionReader,
  CompactSectionWriter,
  DigestPicker,
  hasPartialTrailer,
  PARTIAL_TRAILER,
  type PartialDigestMode,
  partialTrailerFormat,
} from "./_partial_digest.ts";
import { chitchatIdHash } from "../codec/wire.ts";
import { createRandom } from "../common/random.ts";
import { VirtualClock } from "../common/virtual_clock.ts";
import { MemoryNetwork } from "../transport/memory.ts";
import type { SocketAddr } from "../common/types.ts";
import { decodeMessage, encodeAck } from "../codec/message.ts";
import { withDatagramLimit } from "../transport/_test_limit.ts";

async function cluster(
  n: number,
  limit: number,
  mode: PartialDigestMode,
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
  for (const mode of ["off", "rotate", "compact"] as const) {
    const c = await cluster(6, 65_507, mode);
    await c.clock.advance(5_000);
    runs.push(c.sent);
    await Promise.all(c.nodes.map((x) => x.close()));
  }
  assert.ok(runs[0]!.flat().length > 100);
  assert.deepEqual(runs[1], runs[0]);
  assert.deepEqual(runs[2], runs[0]);
  assert.ok(runs[0]!.flat().every((d) => !hasPartialTrailer(d)));
});

for (const mode of ["rotate", "random", "compact"] as const) {
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
      if (mode === "compact") {
        // Format 2: every partial digest carries compact heartbeat entries, and they were read.
        const partial = sent[0]!.filter((d) => partialTrailerFormat(d) !== 0);
        assert.ok(partial.length > 50, `${partial.length}`);
        assert.ok(partial.every((d) => partialTrailerFormat(d) === 2));
      } else assert.ok(sent[0]!.some(hasPartialTrailer));
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

Deno.test("compact sections: written and read back, within the budget, framed by the trailer", () => {
  const w = new CompactSectionWriter();
  w.begin();
  const hashes = [0, 1, 2 ** 48 - 1, 0x1234_5678_9abc];
  const beats: (number | bigint)[] = [0, 127, 128, 2 ** 53 - 1];
  for (let i = 0; i < 4; i++) assert.ok(w.tryAdd(hashes[i]!, beats[i]!, 1000));
  // A bigint below 2^53 reads as that number; one above 2^53 - 1 reads as NaN (left to the
  // digest entries); 2^64 - 1 is the largest a reader takes.
  assert.ok(w.tryAdd(5, 300n, 1000));
  assert.ok(w.tryAdd(6, 2n ** 60n, 1000));
  assert.ok(w.tryAdd(7, 2n ** 64n - 1n, 1000));
  const before = w.length;
  // Budget: an entry that would pass it is not written.
  assert.ok(!w.tryAdd(8, 1, before + 6));
  assert.equal(w.length, before);
  const trailer = w.finish();
  assert.equal(trailer.length, before + COMPACT_FRAMING);
  assert.deepEqual(trailer.subarray(trailer.length - 8), COMPACT_TRAILER);
  const message = encodeAck(new Uint8Array([0]));
  const datagram = new Uint8Array([...message, ...trailer]);
  assert.equal(partialTrailerFormat(datagram), 2);
  assert.equal(partialTrailerFormat(message), 0);
  const r = new CompactSectionReader();
  assert.equal(r.read(datagram, message.length), 7);
  assert.deepEqual([...r.hashes.subarray(0, 7)], [...hashes, 5, 6, 7]);
  assert.deepEqual([...r.heartbeats.subarray(0, 7)], [0, 127, 128, 2 ** 53 - 1, 300, NaN, NaN]);
  // chitchat reads the message and ignores the rest.
  assert.deepEqual(decodeMessage(datagram), decodeMessage(message));
  // An empty section is valid.
  w.begin();
  assert.equal(r.read(new Uint8Array([...message, ...w.finish()]), message.length), 0);
});

Deno.test("compact sections: malformed ones are refused, never read past their bounds", () => {
  const r = new CompactSectionReader();
  const frame = (entries: number[], count = entries.length) =>
    new Uint8Array([
      9,
      9,
      9,
      9,
      9,
      9,
      ...entries,
      count & 0xff,
      (count >>> 8) & 0xff,
      (count >>> 16) & 0xff,
      count >>> 24,
      ...COMPACT_TRAILER,
    ]);
  const ok = frame([1, 2, 3, 4, 5, 6, 7]);
  assert.equal(r.read(ok, 6), 1);
  assert.equal(r.hashes[0], 0x060504030201);
  assert.equal(r.heartbeats[0], 7);
  // The count reaches into the message, or past the datagram's start.
  assert.equal(r.read(frame([1, 2, 3, 4, 5, 6, 7], 8), 6), -1);
  assert.equal(r.read(frame([1, 2, 3, 4, 5, 6, 7], 0xffff_ffff), 6), -1);
  // A cut entry, a heartbeat without its last byte, an 11-byte heartbeat, one of 2^64.
  assert.equal(r.read(frame([1, 2, 3, 4, 5, 6]), 6), -1);
  assert.equal(r.read(frame([1, 2, 3, 4, 5, 6, 0x80]), 6), -1);
  assert.equal(r.read(frame([1, 2, 3, 4, 5, 6, ...new Array(10).fill(0x80), 1]), 6), -1);
  assert.equal(
    r.read(frame([1, 2, 3, 4, 5, 6, ...new Array(9).fill(0xff), 0x02]), 6),
    -1,
    "2^64 does not fit a u64",
  );
  assert.equal(r.read(frame([1, 2, 3, 4, 5, 6, ...new Array(9).fill(0xff), 0x01]), 6), 1);
  // Too short for the framing: no trailer format, and the reader refuses it.
  assert.equal(partialTrailerFormat(new Uint8Array([0, 0, 0, 0, ...COMPACT_TRAILER])), 0);
  assert.equal(r.read(new Uint8Array([0, 0, 0, 0, ...COMPACT_TRAILER]), 4), -1);
});

Deno.test("compact mode: the picker writes the entries after its window and moves past them", () => {
  const entry = (i: number) => ({
    chitchatId: {
      nodeId: `n${String(i).padStart(3, "0")}`,
      generationId: 0n,
      gossipAdvertiseAddr: { ip: "10.0.0.1", port: i },
    },
    heartbeat: BigInt(1000 + i),
    lastGcVersion: 0n,
    maxVersion: 0n,
  });
  const all = Array.from({ length: 100 }, (_, i) => entry(i));
  const picker = new DigestPicker("compact", createRandom(4));
  const writer = new CompactSectionWriter();
  const reader = new CompactSectionReader();
  const covered = new Set<number>();
  let next = 1;
  for (let k = 0; k < 6; k++) {
    // Room for self and 3 whole entries, and 20 compact ones of 8 bytes (6 + a 2-byte beat).
    const p = picker.pick(all, all[0]!, 2 + 4 * 45, undefined, { writer, budget: 20 * 8 });
    assert.equal(p.nodes.length, 4);
    const window = p.nodes.slice(1).map((e) => all.indexOf(e));
    // The window starts where the previous message's window ended.
    assert.equal(window[0], next);
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, ...writer.finish()]);
    assert.equal(reader.read(bytes, 6), 20);
    // The compact entries are the 20 entries right after the window, never self.
    const expected: number[] = [];
    for (let i = window[2]! + 1; expected.length < 20; i = (i + 1) % 100) {
      if (i !== 0) expected.push(i);
    }
    assert.deepEqual(
      [...reader.hashes.subarray(0, 20)],
      expected.map((i) => chitchatIdHash(all[i]!.chitchatId)),
    );
    assert.deepEqual([...reader.heartbeats.subarray(0, 20)], expected.map((i) => 1000 + i));
    for (const i of window) covered.add(i);
    next = window[2]! + 1;
  }
  // 6 windows of 3: the whole entries moved on by 3 a message.
  assert.equal(covered.size, 18);
  assert.equal(next, 19);
  // A small cluster: the compact entries cover everything after the window (and stop before
  // coming back to it); the windows still take turns, so every entry comes as a whole one.
  const few = all.slice(0, 12);
  const small = new DigestPicker("compact", createRandom(4));
  const whole = new Set<number>();
  for (let k = 0; k < 4; k++) {
    const p = small.pick(few, few[0]!, 2 + 4 * 45, undefined, { writer, budget: 20 * 8 });
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, ...writer.finish()]);
    assert.equal(reader.read(bytes, 6), 11 - 3, "the rest of the entries, once each");
    for (const e of p.nodes.slice(1)) whole.add(few.indexOf(e));
  }
  assert.equal(whole.size, 11, "every entry but self as a whole entry within 4 messages");
  assert.throws(
    () => new DigestPicker("off" as "rotate", createRandom(1)),
    /rotate, random or compact/,
  );
});
