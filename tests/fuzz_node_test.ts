/**
 * Fuzzing a live node's receive path: structure-aware mutations of valid chitchat messages and
 * random bytes, seeded and bounded. Set HEARSAY_FUZZ_DATAGRAMS for a longer run.
 */
import assert from "node:assert/strict";
import { GossipNode } from "../src/node/gossip_node.ts";
import { encodeDelta } from "../src/codec/delta.ts";
import {
  decodeMessage,
  encodeAck,
  encodeMessage,
  encodeSyn,
  encodeSynAck,
} from "../src/codec/message.ts";
import { createRandom, type Random } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import type { DatagramHandler, Transport, TransportStats } from "../src/transport/transport.ts";
import type { ChitchatId, Delta, Digest, SocketAddr } from "../src/common/types.ts";

const COUNT = Number(Deno.env.get("HEARSAY_FUZZ_DATAGRAMS") ?? 1_000_000);

/** A transport the test drives by hand: it injects datagrams and collects what is sent. */
class InjectTransport implements Transport {
  readonly localAddr: SocketAddr = { ip: "127.0.0.1", port: 7946 };
  readonly stats: TransportStats = {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    sendErrors: 0,
  };
  handler: DatagramHandler | undefined;
  lastSent: Uint8Array | undefined;
  send(_to: SocketAddr, data: Uint8Array): void {
    this.stats.datagramsOut++;
    this.stats.bytesOut += data.length;
    this.lastSent = data;
  }
  onReceive(handler: DatagramHandler): void {
    this.handler = handler;
  }
  inject(data: Uint8Array, from: SocketAddr): void {
    this.stats.datagramsIn++;
    this.stats.bytesIn += data.length;
    this.handler!(data, from);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function id(n: number): ChitchatId {
  return {
    nodeId: `peer-${n}`,
    generationId: BigInt(n),
    gossipAdvertiseAddr: n % 2 ? { ip: "127.0.0.2", port: 7000 + n } : { ip: "::1", port: n },
  };
}

function corpus(): Uint8Array[] {
  const digest: Digest = {
    nodes: [1, 2, 3].map((n) => ({
      chitchatId: id(n),
      heartbeat: BigInt(n * 10),
      lastGcVersion: 0n,
      maxVersion: BigInt(n),
    })),
  };
  const delta: Delta = {
    nodeDeltas: [1, 2, 3].map((n) => ({
      chitchatId: id(n),
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      keyValues: Array.from({ length: n }, (_, i) => ({
        key: `key-${i}`,
        value: `value-${n}-${i}`.repeat(n * 20),
        version: BigInt(i + 1),
        status: (["set", "deleted", "deleteAfterTtl"] as const)[i % 3]!,
      })),
      maxVersion: BigInt(n),
    })),
  };
  return [
    encodeSyn("fuzz", digest),
    encodeSyn("fuzz", { nodes: [] }),
    encodeSyn("other", digest),
    encodeSynAck(digest, encodeDelta(delta, { compress: false })),
    encodeSynAck(digest, encodeDelta(delta, { compress: true })),
    encodeAck(encodeDelta(delta, { compress: false })),
    encodeAck(encodeDelta(delta, { compress: true })),
    encodeMessage({ type: "badCluster" }),
  ];
}

/** Live heap after a full collection (the test task runs with --expose-gc), so garbage that is
 * merely not collected yet does not count as growth. */
function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc to measure memory");
  gc();
  return Deno.memoryUsage().heapUsed;
}

const INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x06, 0x04, 0x7f, 0x80, 0xff, 0xfe];

function mutate(r: Random, seeds: Uint8Array[]): Uint8Array {
  const base = seeds[r.int(seeds.length)]!;
  switch (r.int(10)) {
    case 0: { // pure random bytes
      const out = new Uint8Array(r.int(200));
      for (let i = 0; i < out.length; i++) out[i] = r.int(256);
      return out;
    }
    case 1: // truncation
      return base.slice(0, r.int(base.length + 1));
    case 2: { // bit flips
      const out = base.slice();
      for (let k = 1 + r.int(4); k > 0; k--) out[r.int(out.length)]! ^= 1 << r.int(8);
      return out;
    }
    case 3: { // interesting byte values (tags, status, block types)
      const out = base.slice();
      out[r.int(out.length)] = INTERESTING[r.int(INTERESTING.length)]!;
      return out;
    }
    case 4: { // corrupt a u16 length field somewhere: small, huge, off by one
      const out = base.slice();
      const at = r.int(Math.max(1, out.length - 1));
      const v = [0, 1, 0xffff, 0x7fff, 0x4000, out[at]! + 1][r.int(6)]!;
      out[at] = v & 0xff;
      if (at + 1 < out.length) out[at + 1] = v >> 8;
      return out;
    }
    case 5: { // splice two messages
      const other = seeds[r.int(seeds.length)]!;
      const cut = r.int(base.length);
      const out = new Uint8Array(cut + other.length - Math.min(cut, other.length));
      out.set(base.subarray(0, cut));
      out.set(other.subarray(Math.min(cut, other.length)), cut);
      return out;
    }
    case 6: { // duplicate a chunk in place (repeated ops, repeated digest entries)
      const a = r.int(base.length);
      const b = Math.min(base.length, a + 1 + r.int(64));
      const out = new Uint8Array(base.length + (b - a));
      out.set(base.subarray(0, b));
      out.set(base.subarray(a), b);
      return out;
    }
    case 7: { // trailing junk
      const out = new Uint8Array(base.length + 1 + r.int(32));
      out.set(base);
      for (let i = base.length; i < out.length; i++) out[i] = r.int(256);
      return out;
    }
    case 8: { // valid header, random body
      const out = new Uint8Array(4 + r.int(300));
      out.set(base.subarray(0, 4));
      for (let i = 4; i < out.length; i++) out[i] = r.int(256);
      return out;
    }
    default: // the valid message itself
      return base;
  }
}

Deno.test(`GossipNode survives ${COUNT} fuzzed datagrams with every drop counted`, async () => {
  const clock = new VirtualClock();
  const transport = new InjectTransport();
  const warnings: string[] = [];
  const node = await GossipNode.start({
    nodeId: "target",
    clusterId: "fuzz",
    generationId: 1n,
    transport,
    clock,
    random: createRandom(5),
    limits: { maxNodes: 32 },
    onWarning: (m) => warnings.push(m),
  });
  const r = createRandom(20261127);
  const seeds = corpus();
  const from = { ip: "127.0.0.9", port: 9999 };
  const started = performance.now();
  let heapAfterWarmup = 0;
  for (let i = 0; i < COUNT; i++) {
    transport.inject(mutate(r, seeds), from);
    if (i % 1000 === 999) {
      clock.advance(100); // rounds, GC and liveness keep running
      // Let the event loop run, as it does between datagrams in a real node (node:zlib frees
      // dropped decompression streams from it).
      await new Promise((res) => setTimeout(res, 0));
    }
    if (i === Math.min(COUNT - 1, 100_000)) heapAfterWarmup = heapAfterGc();
  }
  const seconds = (performance.now() - started) / 1000;
  const m = node.metrics();
  const handled = Object.values(m.messagesIn).reduce((a, b) => a + b, 0);
  const dropped = Object.values(m.dropped).reduce((a, b) => a + b, 0);
  console.log(
    `node fuzz: ${COUNT} datagrams in ${seconds.toFixed(1)} s; handled ${handled}; dropped ` +
      `${dropped} by reason ${JSON.stringify(m.dropped)}; limits ${JSON.stringify(m.rejected)}`,
  );
  assert.equal(handled + dropped, COUNT, "every datagram is either handled or counted");
  assert.equal(m.dropped.internal ?? 0, 0, "no internal error");
  assert.deepEqual(warnings, []);
  assert.ok(handled > COUNT / 20, "the mutations still reach the protocol logic");
  assert.ok(node.nodeStates().length <= 32, "bounded by limits.maxNodes");
  const growth = heapAfterGc() - heapAfterWarmup;
  assert.ok(growth < 64 * 1024 * 1024, `heap grew ${growth} bytes after warm-up`);
  // Still a working node: a valid Syn gets a SynAck.
  transport.inject(seeds[0]!, from);
  assert.equal(decodeMessage(transport.lastSent!).type, "synAck");
  await node.close();
});
