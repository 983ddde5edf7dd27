/**
 * The codec against the real chitchat 0.13.0 crate (the interop peer's `hearsay-interop-v013`
 * binary, built by `deno task build:interop`), in three clearly separated parts:
 *
 * 1. **V0 against 0.13.0**: the same vectors, randomized round trips, large deltas and hostile
 *    bytes as `codec_interop_test.ts` (0.10.1). They pass unchanged: 0.13's V0 is 0.10.1's wire.
 * 2. **The V1 wire, chitchat only**: what chitchat 0.13.0 writes and accepts on protocol version 1,
 *    checked against a small reference reader/writer written here from the crate's sources
 *    (docs/CHITCHAT_VERSIONS.md). These pin the format independently of hearsay's codec.
 * 3. **hearsay and V1**: hearsay's V1 codec against chitchat 0.13.0, both directions: chitchat's
 *    V1 datagrams (vectors, 200 random messages, 963 zlayer entries) decode in hearsay, and
 *    hearsay's V1 datagrams decode in chitchat with the same block cutting.
 */
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { decodeEnvelope, decodeMessage, encodeMessage } from "../src/codec/message.ts";
import { DecodeError } from "../src/common/errors.ts";
import type { ChitchatMessage, Digest } from "../src/common/types.ts";
import { digestToJson, InteropPeer, sortDigestJson } from "../interop/peer.ts";
import { VECTORS } from "../src/codec/_test_vectors.ts";
import { createRandom, hex, id, randomMessage, unhex } from "../src/codec/_test_utils.ts";
import {
  decodeBoth,
  mutatedDatagrams,
  normalized,
  realisticDelta,
  rustJson,
  withPeer,
} from "./_interop_codec.ts";

// ---------------------------------------------------------------------------------------------
// Shared helpers

const v013 = (f: (peer: InteropPeer) => Promise<void>) => withPeer(f, "0.13.0");

/** A digest of `n` zlayer-style entries (`worker:<u64>`, u64 generations, IPv4): 68 bytes each. */
function zlayerDigest(n: number, seed = 1n): Digest {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const nodeId = `worker:${10_000_000_000_000_000_000n + BigInt(i) * 7919n + seed}`;
    nodes.push({
      chitchatId: id(nodeId, 1_700_000_000_000_000_000n + BigInt(i), "10.1.2.3", 7946),
      heartbeat: 1000n + BigInt(i),
      lastGcVersion: BigInt(i % 3),
      maxVersion: 50n + BigInt(i),
    });
  }
  return { nodes };
}

// ---------------------------------------------------------------------------------------------
// A reference V1 reader/writer, written from chitchat 0.13.0's sources (digest.rs, serialize.rs,
// message_serialize.rs) for these tests only. It converts between V1 and V0 datagrams, which
// differ only in header byte 2 and in the Syn's / SynAck's digest:
//   V0 digest: u16 LE entry count, then the entries;
//   V1 digest: a block stream of the same entries (no count): blocks of [type u8][len u16 LE]
//   [bytes], type 1 = zstd frame, 2 = raw, ended by a single 0 byte.
// An entry is a ChitchatId (u16 LE length + UTF-8 node id, u64 LE generation, address tag 4 or 6,
// 4 or 16 address bytes, u16 LE port) then heartbeat, last GC version, max version (u64 LE each).

const u16le = (n: number) => new Uint8Array([n & 0xff, n >> 8]);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The length of the entry at `at` in a plain entry stream. */
function entryLength(b: Uint8Array, at: number): number {
  const idLen = b[at]! | (b[at + 1]! << 8);
  let p = at + 2 + idLen + 8;
  const tag = b[p];
  if (tag !== 4 && tag !== 6) throw new Error(`bad address tag ${tag} at ${p}`);
  p += 1 + (tag === 4 ? 4 : 16) + 2 + 24;
  if (p > b.length) throw new Error("entry runs past the stream");
  return p - at;
}

function countEntries(plain: Uint8Array): number {
  let n = 0;
  for (let at = 0; at < plain.length; n++) at += entryLength(plain, at);
  return n;
}

interface BlockInfo {
  type: 1 | 2;
  stored: number;
  plain: number;
}

/** Reads a block stream at `at`: the concatenated plain bytes, its blocks, and where it ends. */
function readBlockStream(b: Uint8Array, at: number) {
  const parts: Uint8Array[] = [];
  const blocks: BlockInfo[] = [];
  for (;;) {
    const type = b[at++];
    if (type === 0) break;
    if (type !== 1 && type !== 2) throw new Error(`bad block type ${type}`);
    const len = b[at]! | (b[at + 1]! << 8);
    const body = b.subarray(at + 2, at + 2 + len);
    at += 2 + len;
    const plain = type === 1 ? new Uint8Array(zlib.zstdDecompressSync(body)) : body;
    parts.push(plain);
    blocks.push({ type, stored: len, plain: plain.length });
  }
  return { plain: concat(...parts), blocks, end: at };
}

/** A V1 datagram as the equivalent V0 datagram. */
function v1ToV0(v1: Uint8Array): Uint8Array {
  assert.equal(v1[2], 1, "a V1 header");
  const head = new Uint8Array([v1[0]!, v1[1]!, 0, v1[3]!]);
  if (v1[3] !== 0 && v1[3] !== 1) return concat(head, v1.subarray(4));
  const { plain, end } = readBlockStream(v1, 4);
  return concat(head, u16le(countEntries(plain)), plain, v1.subarray(end));
}

/** How a hand-built V1 digest is cut into blocks: plain lengths, and which to compress. */
type Cutting = { sizes: number[]; compress: (i: number) => boolean };

/** A V0 datagram as a V1 datagram, with the digest cut and compressed as `cutting` says (the rest
 * of the plain stream goes into one last block; `sizes` may hold 0 for an empty raw block). */
function v0ToV1(v0: Uint8Array, cutting: Cutting): Uint8Array {
  const head = new Uint8Array([v0[0]!, v0[1]!, 1, v0[3]!]);
  if (v0[3] !== 0 && v0[3] !== 1) return concat(head, v0.subarray(4));
  const count = v0[4]! | (v0[5]! << 8);
  let end = 6;
  for (let i = 0; i < count; i++) end += entryLength(v0, end);
  const plain = v0.subarray(6, end);
  const blocks: Uint8Array[] = [];
  let at = 0;
  const sizes = [...cutting.sizes, plain.length];
  for (let i = 0; i < sizes.length && (at < plain.length || i < cutting.sizes.length); i++) {
    const piece = plain.subarray(at, Math.min(plain.length, at + sizes[i]!));
    at += piece.length;
    const body = cutting.compress(i) ? new Uint8Array(zlib.zstdCompressSync(piece)) : piece;
    blocks.push(concat(new Uint8Array([cutting.compress(i) ? 1 : 2]), u16le(body.length), body));
  }
  return concat(head, ...blocks, new Uint8Array([0]), v0.subarray(end));
}

const raw = (sizes: number[] = []): Cutting => ({ sizes, compress: () => false });
const packed = (sizes: number[] = []): Cutting => ({ sizes, compress: () => true });

// =============================================================================================
// Part 1: V0 against chitchat 0.13.0 (same as codec_interop_test.ts, which runs 0.10.1)

Deno.test("v013: the peer runs chitchat 0.13.0 and can send V0 and V1", async () => {
  await v013(async (peer) => {
    assert.equal(peer.version, "0.13.0");
    assert.deepEqual(await peer.hello(), { chitchat: "0.13.0", protocolVersions: [0, 1] });
  });
  await withPeer(async (peer) => {
    assert.deepEqual(await peer.hello(), { chitchat: "0.10.1", protocolVersions: [0] });
  });
});

Deno.test("v013 V0: every §11.1 vector both ways, byte for byte", async () => {
  await v013(async (peer) => {
    for (const v of VECTORS) {
      const ours = encodeMessage(v.msg);
      const r = await peer.decode(ours);
      assert.equal(r.version, 0, v.name);
      assert.equal(r.reserializedVersion, 0, v.name);
      assert.deepEqual(r.message, rustJson(v.msg), v.name);
      assert.equal(hex(r.reserialized), hex(ours), `${v.name}: chitchat re-serializes our bytes`);
      assert.deepEqual(decodeMessage(r.reserialized), normalized(v.msg), v.name);
      const e = await peer.encode(rustJson(v.msg));
      assert.equal(hex(e.bytes), hex(encodeMessage(normalized(v.msg))), `${v.name}: encode`);
    }
  });
});

Deno.test("v013 V0: 400 random messages both ways (raw and compressed blocks)", async () => {
  await v013(async (peer) => {
    const r = createRandom(1127);
    let sameBytes = 0;
    for (let i = 0; i < 400; i++) {
      const msg = randomMessage(r);
      const ours = encodeMessage(msg, { compress: i % 2 === 0 });
      const res = await peer.decode(ours);
      assert.deepEqual(res.message, rustJson(msg), `case ${i}`);
      assert.deepEqual(decodeMessage(res.reserialized), normalized(msg), `case ${i}`);
      if (i % 2 === 0 && hex(res.reserialized) === hex(ours)) sameBytes++;
    }
    console.log(`v013: ${sameBytes}/200 compressed encodings identical to chitchat 0.13's bytes`);
    assert.ok(sameBytes >= 190, `${sameBytes}/200 identical`);
  });
});

Deno.test("v013 V0: 0.10.1 and 0.13.0 write the same bytes for the same messages", async () => {
  const old = await InteropPeer.start();
  try {
    await v013(async (peer) => {
      const r = createRandom(4242);
      for (let i = 0; i < 150; i++) {
        const bytes = encodeMessage(randomMessage(r), { compress: i % 3 !== 0 });
        const [a, b] = await Promise.all([old.decode(bytes), peer.decode(bytes)]);
        assert.equal(hex(b.reserialized), hex(a.reserialized), `case ${i}`);
        assert.deepEqual(b.message, a.message, `case ${i}`);
        assert.equal(b.debug, a.debug, `case ${i}`);
      }
    });
  } finally {
    await old.close();
  }
});

Deno.test("v013 V0: a 64 KiB delta: chitchat's zstd blocks decode, ours decode in chitchat", async () => {
  await v013(async (peer) => {
    const msg: ChitchatMessage = { type: "ack", delta: realisticDelta(400) };
    const rawBytes = encodeMessage(msg, { compress: false });
    assert.ok(rawBytes.length > 60000 && rawBytes.length <= 65507, `${rawBytes.length}`);
    // chitchat's serializer asserts on a delta cut differently: the peer's canonical fallback.
    const res = await peer.decode(rawBytes);
    assert.deepEqual(res.message, rustJson(msg));
    assert.equal(res.reserialized[4], 1, "chitchat compressed the first block");
    assert.ok(res.reserialized.length < rawBytes.length / 2);
    assert.deepEqual(decodeMessage(res.reserialized), msg);
    const ours = encodeMessage(msg);
    const res2 = await peer.decode(ours);
    assert.deepEqual(res2.message, rustJson(msg));
    assert.equal(ours.length, res.reserialized.length, "same block cutting and decisions");
  });
});

Deno.test("v013: chitchat 0.13 and hearsay accept and reject the same mutated datagrams (V0 and V1)", async () => {
  await v013(async (peer) => {
    let rejected = 0;
    for (const [i, bytes] of mutatedDatagrams(555).entries()) {
      const { ours, theirs } = await decodeBoth(peer, bytes);
      if (ours instanceof DecodeError) {
        rejected++;
        assert.ok(theirs instanceof Error, `case ${i}: we reject (${ours.reason}), 0.13 accepts`);
      } else {
        assert.ok(!(theirs instanceof Error), `case ${i}: 0.13 rejects (${theirs}), we accept`);
        assert.deepEqual(rustJson(ours), {
          ...theirs,
          ...(theirs.type === "syn" || theirs.type === "synAck"
            ? { digest: sortDigestJson(theirs.digest) }
            : {}),
        });
      }
    }
    assert.ok(rejected > 300, `${rejected}`);
  });
});

Deno.test("v013: rejections carry chitchat's error text; bench_codec is refused", async () => {
  await v013(async (peer) => {
    await assert.rejects(peer.decode(unhex("53b1")), /buffer too small/);
    await assert.rejects(peer.decode(unhex("53b10003")), /invalid chitchat magic number/);
    await assert.rejects(peer.decode(unhex("53b00203")), /invalid protocol version/);
    await assert.rejects(peer.decode(unhex("53b00009")), /invalid message type/);
    await assert.rejects(peer.benchCodec(unhex("53b00003"), 1), /crate-private/);
    await assert.rejects(peer.decode(new Uint8Array(65_508)), /at most 65507 bytes/);
    // The peer still answers afterwards.
    assert.equal((await peer.decode(unhex("53b00003"))).message.type, "badCluster");
  });
});

// =============================================================================================
// Part 2: the V1 wire, chitchat only (hearsay has no V1 yet)

Deno.test("v1 wire: each vector in V1 differs from V0 only in byte 2 and the digest", async () => {
  await v013(async (peer) => {
    for (const v of VECTORS) {
      const v0 = encodeMessage(normalized(v.msg));
      const e = await peer.encode(rustJson(v.msg), 1);
      assert.equal(e.version, 1);
      assert.equal(e.bytes[2], 1, `${v.name}: header byte 2`);
      assert.equal(hex(v1ToV0(e.bytes)), hex(v0), `${v.name}: same message as V0`);
      if (v.msg.type === "ack" || v.msg.type === "badCluster") {
        assert.equal(hex(e.bytes.subarray(3)), hex(v0.subarray(3)), `${v.name}: same body`);
      }
      // chitchat reads its own V1 back, and writes V0 from it on request.
      const d = await peer.decode(e.bytes, { reserializeVersion: 0 });
      assert.equal(d.version, 1);
      assert.equal(d.reserializedVersion, 0);
      assert.equal(hex(d.reserialized), hex(v0));
    }
  });
});

Deno.test("v1 wire: the empty digest is one 0 byte; a small one is one zstd block", async () => {
  await v013(async (peer) => {
    const empty = await peer.encode({ type: "syn", clusterId: "c", digest: { nodes: [] } }, 1);
    assert.equal(hex(empty.bytes), "53b0010000010063");
    const ack = await peer.encode({
      type: "synAck",
      digest: { nodes: [] },
      delta: { nodeDeltas: [] },
    }, 1);
    assert.equal(hex(ack.bytes), "53b001010000", "V1 empty SynAck: 6 bytes (V0: 7)");
    const ten = zlayerDigest(10);
    const e = await peer.encode({ type: "syn", clusterId: "c", digest: digestToJson(ten) }, 1);
    const { blocks, plain } = readBlockStream(e.bytes, 4);
    assert.deepEqual(blocks.map((b) => [b.type, b.plain]), [[1, 680]], "one compressed block");
    assert.equal(countEntries(plain), 10);
    assert.ok(e.bytes.length < encodeMessage({ type: "syn", clusterId: "c", digest: ten }).length);
  });
});

Deno.test("v1 wire: blocks hold 16 384 plain bytes, cut mid-entry; the last holds the rest", async () => {
  await v013(async (peer) => {
    for (const n of [240, 241, 700, 963]) {
      const digest = zlayerDigest(n, BigInt(n));
      const e = await peer.encode({ type: "syn", clusterId: "c", digest: digestToJson(digest) }, 1);
      const { blocks, plain } = readBlockStream(e.bytes, 4);
      const total = n * 68;
      const full = Math.ceil(total / 16_384) - 1;
      assert.deepEqual(
        blocks.map((b) => b.plain),
        [...new Array<number>(full).fill(16_384), total - full * 16_384],
        `${n} entries`,
      );
      // zstd level 0 into a buffer the size of the block: full blocks shrink (type 1); a last
      // block too small to shrink is stored raw (type 2).
      for (const b of blocks) {
        assert.equal(b.type, b.stored < b.plain ? 1 : 2, `${n} entries: block type`);
        if (b.plain === 16_384) assert.equal(b.type, 1, `${n} entries: full blocks shrink`);
      }
      assert.equal(countEntries(plain), n);
      const d = await peer.decode(e.bytes);
      assert.equal(d.message.type, "syn");
      assert.equal(
        hex(v1ToV0(e.bytes)),
        hex(encodeMessage(normalized({
          type: "syn",
          clusterId: "c",
          digest,
        }))),
      );
      console.log(
        `v1 wire: ${n} zlayer entries: V0 Syn ${6 + total + 3} B, V1 Syn ${e.bytes.length} B, ` +
          `blocks ${JSON.stringify(blocks.map((b) => [b.type, b.plain, b.stored]))}`,
      );
    }
  });
});

Deno.test("v1 wire: chitchat reads any cutting: raw or zstd blocks, empty raw blocks, mid-entry cuts", async () => {
  await v013(async (peer) => {
    const r = createRandom(99);
    const cuttings: Cutting[] = [
      raw(),
      packed(),
      raw([0]),
      raw([1, 0, 7]),
      packed([100, 3000]),
      { sizes: [50, 50, 50], compress: (i) => i % 2 === 1 },
    ];
    let n = 0;
    for (let i = 0; i < 120; i++) {
      const msg = randomMessage(r);
      if (msg.type !== "syn" && msg.type !== "synAck") continue;
      const v0 = encodeMessage(msg);
      for (const cutting of cuttings) {
        const v1 = v0ToV1(v0, cutting);
        const d = await peer.decode(v1, { reserializeVersion: 0 });
        assert.equal(d.version, 1);
        assert.deepEqual(d.message, rustJson(msg), `case ${i}`);
        assert.equal(hex(d.reserialized), hex(encodeMessage(normalized(msg))), `case ${i}`);
        n++;
      }
    }
    assert.ok(n > 300, `${n}`);
  });
});

Deno.test("v1 wire: decompression is bounded per block (65 535 bytes), not per stream", async () => {
  await v013(async (peer) => {
    // 42-byte entries: node id "n", distinct generations, IPv4.
    const entries = (count: number, extraIdBytes = 0): Digest => ({
      nodes: Array.from({ length: count }, (_, i) => ({
        chitchatId: id(i === 0 ? "n" + "x".repeat(extraIdBytes) : "n", BigInt(i), "1.2.3.4", 1),
        heartbeat: 1n,
        lastGcVersion: 0n,
        maxVersion: 0n,
      })),
    });
    const syn = (d: Digest) => ({ type: "syn" as const, clusterId: "c", digest: d });
    // One zstd block of 1560 * 42 + 15 = 65 535 plain bytes: accepted.
    const fits = entries(1560, 15);
    const oneBlock = v0ToV1Unbounded(fits, packed());
    assert.deepEqual((await peer.decode(oneBlock)).message, rustJson(syn(fits)));
    // 65 536 plain bytes and more in one block: chitchat refuses it.
    const over = v0ToV1Unbounded(entries(1560, 16), packed());
    await assert.rejects(peer.decode(over), /failed to decompress block/);
    // The same 65 562 bytes in three blocks: accepted (no bound on the sum).
    const many = entries(1561);
    const threeBlocks = v0ToV1Unbounded(many, packed([30_000, 30_000]));
    assert.ok(threeBlocks.length < 65_507);
    assert.equal((await peer.decode(threeBlocks)).message.type, "syn");
    const d = await peer.decode(threeBlocks);
    assert.ok(d.message.type === "syn" && d.message.digest.nodes.length === 1561);
  });
});

/** `v0ToV1` for a digest too large for a V0 datagram: builds the plain stream directly. */
function v0ToV1Unbounded(digest: Digest, cutting: Cutting): Uint8Array {
  const entryBytes = digest.nodes.map((n) => {
    const one = encodeMessage({ type: "syn", clusterId: "", digest: { nodes: [n] } });
    return one.subarray(6, one.length - 2);
  });
  const plain = concat(...entryBytes);
  const blocks: Uint8Array[] = [];
  const sizes = [...cutting.sizes, plain.length];
  let at = 0;
  for (let i = 0; at < plain.length; i++) {
    const piece = plain.subarray(at, Math.min(plain.length, at + sizes[i]!));
    at += piece.length;
    const body = cutting.compress(i) ? new Uint8Array(zlib.zstdCompressSync(piece)) : piece;
    blocks.push(concat(new Uint8Array([cutting.compress(i) ? 1 : 2]), u16le(body.length), body));
  }
  return concat(unhex("53b00100"), ...blocks, new Uint8Array([0]), unhex("010063"));
}

Deno.test("v1 wire: malformed V1 digests are rejected with chitchat's reasons", async () => {
  await v013(async (peer) => {
    const one = encodeMessage({ type: "syn", clusterId: "c", digest: zlayerDigest(1) });
    const entry = one.subarray(6, one.length - 3);
    const syn = (stream: string) => unhex(`53b00100 ${stream} 010063`);
    const e = hex(entry);
    const len = (n: number) => hex(u16le(n));
    // A partial entry at the end of the stream.
    await assert.rejects(peer.decode(syn(`02${len(67)}${e.slice(0, 134)} 00`)), /./);
    // A block type other than 0, 1, 2.
    await assert.rejects(peer.decode(syn(`03${len(68)}${e} 00`)), /invalid block type/);
    // A zero-length zstd block is accepted as no bytes (libzstd decompresses empty input to
    // nothing), like a zero-length raw block.
    const empty = await peer.decode(syn(`01${len(0)} 01${len(0)} 02${len(0)} 00`));
    assert.deepEqual(empty.message, { type: "syn", clusterId: "c", digest: { nodes: [] } });
    // A zstd block that is not a zstd frame.
    await assert.rejects(peer.decode(syn(`01${len(4)}00000000 00`)), /failed to decompress block/);
    // A block longer than the datagram.
    await assert.rejects(peer.decode(syn(`02${len(200)}${e} 00`)), /buffer too short/);
    // No terminating 0 before the cluster id.
    await assert.rejects(peer.decode(unhex(`53b00100 02${len(68)}${e}`)), /./);
    // The well-formed stream for comparison: accepted, duplicates merged (last wins).
    const twice = await peer.decode(syn(`02${len(68)}${e} 02${len(68)}${e} 00`));
    assert.ok(twice.message.type === "syn" && twice.message.digest.nodes.length === 1);
  });
});

Deno.test("v1 wire: chitchat 0.10.1 rejects every V1 datagram, even bodies that are V0-identical", async () => {
  await withPeer(async (peer) => {
    for (const v of VECTORS) {
      const v1 = v0ToV1(encodeMessage(v.msg), raw());
      await assert.rejects(peer.decode(v1), /invalid protocol version/, v.name);
    }
  });
});

// =============================================================================================
// Part 3: hearsay and V1, both directions: chitchat 0.13's V1 datagrams decode in hearsay, and
// hearsay's V1 datagrams decode in chitchat 0.13 with the same block cutting.

/** Every V1 case the tests use, written by chitchat 0.13.0: the vectors and 200 random messages. */
async function chitchatV1Cases(peer: InteropPeer) {
  const cases: { name: string; msg: ChitchatMessage; v1: Uint8Array }[] = [];
  for (const v of VECTORS) {
    cases.push({ name: v.name, msg: v.msg, v1: (await peer.encode(rustJson(v.msg), 1)).bytes });
  }
  const r = createRandom(31337);
  for (let i = 0; i < 200; i++) {
    const msg = randomMessage(r);
    cases.push({ name: `random ${i}`, msg, v1: (await peer.encode(rustJson(msg), 1)).bytes });
  }
  cases.push({
    name: "963 zlayer entries",
    msg: { type: "syn", clusterId: "c", digest: zlayerDigest(963) },
    v1: (await peer.encode(
      { type: "syn", clusterId: "c", digest: digestToJson(zlayerDigest(963)) },
      1,
    )).bytes,
  });
  return cases;
}

Deno.test("hearsay V1: chitchat's V1 datagrams decode in hearsay, as V1", async () => {
  await v013(async (peer) => {
    const cases = await chitchatV1Cases(peer);
    for (const c of cases) {
      assert.deepEqual(normalized(decodeMessage(c.v1)), normalized(c.msg), c.name);
      assert.equal(decodeEnvelope(c.v1).version, 1, c.name);
    }
    assert.equal(cases.length, VECTORS.length + 201);
  });
});

Deno.test({
  name: "hearsay V1: hearsay's V1 datagrams decode in chitchat 0.13",
  fn: async () => {
    await v013(async (peer) => {
      const r = createRandom(2718);
      let sameBytes = 0;
      let total = 0;
      const msgs: ChitchatMessage[] = [...VECTORS.map((v) => v.msg)];
      for (let i = 0; i < 300; i++) msgs.push(randomMessage(r));
      msgs.push({ type: "syn", clusterId: "c", digest: zlayerDigest(963) });
      for (const [i, msg] of msgs.entries()) {
        const ours = encodeMessage(msg, { protocolVersion: 1 });
        assert.equal(ours[2], 1, `case ${i}: a V1 header`);
        const d = await peer.decode(ours);
        assert.equal(d.version, 1);
        assert.deepEqual(d.message, rustJson(msg), `case ${i}`);
        assert.deepEqual(normalized(decodeMessage(d.reserialized)), normalized(msg), `case ${i}`);
        total++;
        if (msg.type === "syn" || msg.type === "synAck") {
          // Same block cutting and compress-or-raw decisions as chitchat (frame bytes may differ
          // between zstd builds; chitchat's reserialization of our bytes is its own V1).
          const shape = (b: Uint8Array) =>
            readBlockStream(b, 4).blocks.map((x) => [x.type, x.plain]);
          assert.deepEqual(shape(ours), shape(d.reserialized), `case ${i}: block structure`);
        }
        if (hex(d.reserialized) === hex(ours)) sameBytes++;
      }
      console.log(`hearsay V1: ${sameBytes}/${total} encodings identical to chitchat 0.13's`);
      // Same zstd (libzstd level 3, pledged size) and the same block writer: every byte agrees.
      assert.equal(sameBytes, total, "hearsay's V1 bytes are chitchat 0.13's");
    });
  },
});
