// The V1 wire (chitchat 0.12+): compressed digests. Format in docs/CHITCHAT_VERSIONS.md; checked
// byte for byte against chitchat 0.13.0 in tests/interop_v013_peer_test.ts. Here: round trips,
// block cutting, the envelope's version, and malformed V1 input (DecodeError only, with a reason).
import assert from "node:assert/strict";
import { constants, zstdCompressSync } from "node:zlib";
import {
  decodeEnvelope,
  decodeMessage,
  decodeMessageLeased,
  encodeAck,
  encodeMessage,
  encodeSyn,
  encodeSynAck,
  releaseDigestLease,
} from "./message.ts";
import { encodeDigest } from "./digest.ts";
import { digestEncodedLength } from "./wire.ts";
import { reasonOf } from "./_test_decode.ts";
import type { ChitchatMessage, Digest } from "../common/types.ts";
import { createRandom, hex, id, randomMessage, unhex } from "./_test_utils.ts";
import { MAX_V1_DIGEST_BYTES } from "./_decode.ts";

/** `n` zlayer-style entries (`worker:<20 digits>`, u64 generations, IPv4): 68 bytes each. */
function zlayerDigest(n: number): Digest {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    nodes.push({
      chitchatId: id(
        `worker:${10_000_000_000_000_000_000n + BigInt(i) * 7919n}`,
        1_700_000_000_000_000_000n + BigInt(i),
        "10.1.2.3",
        7946,
      ),
      heartbeat: 1000n + BigInt(i),
      lastGcVersion: 0n,
      maxVersion: 50n + BigInt(i),
    });
  }
  return { nodes };
}

const normalized = (m: ChitchatMessage) =>
  JSON.parse(JSON.stringify(m, (_k, v) => typeof v === "bigint" ? `${v}n` : v));

/** The blocks of the stream at `at`: [type, stored length] each, and where the stream ends. */
function blocks(b: Uint8Array, at: number): { shape: [number, number][]; end: number } {
  const shape: [number, number][] = [];
  for (;;) {
    const t = b[at]!;
    if (t === 0) return { shape, end: at + 1 };
    const n = b[at + 1]! | (b[at + 2]! << 8);
    shape.push([t, n]);
    at += 3 + n;
  }
}

const len16 = (n: number) => hex(new Uint8Array([n & 0xff, n >> 8]));
/** One zlayer entry's 68 plain bytes. */
const ENTRY = hex(encodeDigest(zlayerDigest(1)).subarray(2));
const synV1 = (stream: string) => unhex(`53b00100 ${stream} 010063`);

Deno.test("V1: the empty messages are chitchat's bytes; Ack and BadCluster differ from V0 in byte 2 only", () => {
  assert.equal(hex(encodeSyn("c", { nodes: [] }, { protocolVersion: 1 })), "53b00100000100" + "63");
  assert.equal(
    hex(encodeSynAck({ nodes: [] }, new Uint8Array([0]), { protocolVersion: 1 })),
    "53b0010100" + "00",
  );
  assert.equal(hex(encodeAck(new Uint8Array([0]), { protocolVersion: 1 })), "53b0010200");
  assert.equal(hex(encodeMessage({ type: "badCluster" }, { protocolVersion: 1 })), "53b00103");
  assert.deepEqual(decodeEnvelope(unhex("53b00103")), {
    version: 1,
    message: { type: "badCluster" },
  });
  assert.deepEqual(decodeEnvelope(unhex("53b00003")), {
    version: 0,
    message: { type: "badCluster" },
  });
  assert.equal(decodeEnvelope(unhex("53b0010200")).message.type, "ack");
});

Deno.test("V1: 300 random messages round-trip, compressed and raw, and equal their V0 decoding", () => {
  const r = createRandom(99);
  for (let i = 0; i < 300; i++) {
    const msg = randomMessage(r);
    for (const compress of [true, false]) {
      const v1 = encodeMessage(msg, { protocolVersion: 1, compress });
      const v0 = encodeMessage(msg, { compress });
      assert.equal(v1[2], 1);
      const e = decodeEnvelope(v1);
      assert.equal(e.version, 1);
      assert.deepEqual(normalized(e.message), normalized(decodeMessage(v0)), `case ${i}`);
      if (msg.type === "ack" || msg.type === "badCluster") {
        assert.equal(hex(v1.subarray(3)), hex(v0.subarray(3)), "only byte 2 differs");
      }
    }
  }
});

Deno.test("V1: digests are cut every 16 384 plain bytes (mid-entry), compressed when that shrinks them", () => {
  // 68-byte entries: 240 fill 16 320 bytes (one block), 241 need a second block of 4 bytes.
  for (
    const [n, plain] of [[240, [16320]], [241, [16384, 4]], [963, [
      16384,
      16384,
      16384,
      16332,
    ]]] as const
  ) {
    const d = zlayerDigest(n);
    const bytes = encodeDigest(d, { protocolVersion: 1 });
    const { shape, end } = blocks(bytes, 0);
    assert.equal(end, bytes.length);
    assert.equal(shape.length, plain.length, `${n} entries`);
    // Full blocks compress; the 4-byte remainder stays raw.
    shape.forEach(([t, stored], i) => {
      if (plain[i]! === 4) assert.deepEqual([t, stored], [2, 4]);
      else assert.ok(t === 1 && stored < plain[i]! / 4, `${n}: block ${i} compressed (${stored})`);
    });
    const raw = encodeDigest(d, { protocolVersion: 1, compress: false });
    assert.deepEqual(blocks(raw, 0).shape, plain.map((p) => [2, p]));
    assert.equal(raw.length, digestEncodedLength(d) - 2 + 3 * plain.length + 1);
    // Both decode to the same digest as V0.
    for (const b of [bytes, raw]) {
      const syn = encodeSyn("c", d, { protocolVersion: 1, digestBytes: b });
      const m = decodeMessage(syn);
      assert.ok(m.type === "syn" && m.clusterId === "c");
      assert.deepEqual(m.digest, d);
    }
  }
  // The 963-entry Syn that just fits V0 (65 493 bytes) is a fraction of that in V1.
  assert.equal(encodeSyn("c", zlayerDigest(963)).length, 65_493);
  assert.ok(encodeSyn("c", zlayerDigest(963), { protocolVersion: 1 }).length < 65_493 / 5);
});

Deno.test("V1: a SynAck built from pre-encoded digest bytes equals the one encoded from entries", () => {
  const d = zlayerDigest(50);
  const delta = encodeMessage({ type: "ack", delta: { nodeDeltas: [] } }).subarray(4);
  const a = encodeSynAck(d, delta, { protocolVersion: 1 });
  const b = encodeSynAck({ nodes: [] }, delta, {
    protocolVersion: 1,
    digestBytes: encodeDigest(d, { protocolVersion: 1 }),
  });
  assert.equal(hex(a), hex(b));
  const shared = encodeSynAck(d, delta, { protocolVersion: 1, shared: true });
  assert.equal(hex(shared), hex(a));
});

Deno.test("V1: any cutting decodes: empty raw and zstd blocks, 1-byte blocks, mixed types", () => {
  const e = unhex(ENTRY);
  const frame = (b: Uint8Array) => hex(zstdCompressSync(b));
  const parts = [
    `02${len16(0)}`,
    `02${len16(1)}${hex(e.subarray(0, 1))}`,
    `01${len16(zstdCompressSync(e.subarray(1, 30)).length)}${frame(e.subarray(1, 30))}`,
    `01${len16(0)}`,
    `02${len16(38)}${hex(e.subarray(30))}`,
  ];
  const m = decodeMessage(synV1(`${parts.join("")} 00`));
  assert.ok(m.type === "syn");
  assert.deepEqual(m.digest, zlayerDigest(1));
  // Duplicates come back as sent (in wire order), as in V0.
  const twice = decodeMessage(synV1(`02${len16(136)}${ENTRY}${ENTRY} 00`));
  assert.ok(twice.type === "syn" && twice.digest.nodes.length === 2);
});

Deno.test("V1: malformed digests fail with DecodeError and a reason, never another error", () => {
  // A partial entry at the end of the stream (trailing garbage inside the digest).
  assert.equal(reasonOf(synV1(`02${len16(67)}${ENTRY.slice(0, 134)} 00`)), "truncated");
  assert.equal(reasonOf(synV1(`02${len16(70)}${ENTRY}abcd 00`)), "truncated");
  // A block type other than 0, 1, 2.
  assert.equal(reasonOf(synV1(`03${len16(68)}${ENTRY} 00`)), "badBlock");
  // A block longer than the datagram; a stream without its end tag.
  assert.equal(reasonOf(synV1(`02${len16(200)}${ENTRY} 00`)), "truncated");
  assert.equal(reasonOf(unhex(`53b00100 02${len16(68)}${ENTRY}`)), "truncated");
  assert.equal(reasonOf(unhex(`53b00100 02${len16(68)}`)), "truncated");
  assert.equal(reasonOf(unhex(`53b00100`)), "truncated");
  // A zstd block that is not a zstd frame, or a frame followed by garbage.
  assert.equal(reasonOf(synV1(`01${len16(4)}00000000 00`)), "decompression");
  const f = zstdCompressSync(unhex(ENTRY));
  assert.equal(reasonOf(synV1(`01${len16(f.length + 3)}${hex(f)}aabbcc 00`)), "decompression");
  // A block that expands past 65 535 bytes (chitchat's per-block bound) ...
  const big = zstdCompressSync(new Uint8Array(65536));
  assert.equal(reasonOf(synV1(`01${len16(big.length)}${hex(big)} 00`)), "decompression");
  // ... while 65 535 is allowed by the block bound (then fails as entries: zeros are not entries).
  const max = zstdCompressSync(new Uint8Array(65535));
  assert.notEqual(reasonOf(synV1(`01${len16(max.length)}${hex(max)} 00`)), "decompression");
  // Many blocks within one datagram expanding past the total bound: refused before it is built.
  const z = zstdCompressSync(new Uint8Array(65535), {
    params: { [constants.ZSTD_c_compressionLevel]: 19 },
  });
  const count = Math.ceil(MAX_V1_DIGEST_BYTES / 65535) + 1;
  const bomb = `01${len16(z.length)}${hex(z)}`.repeat(count);
  assert.ok(bomb.length / 2 < 65_000, `a ${bomb.length / 2}-byte datagram`);
  assert.equal(reasonOf(synV1(`${bomb} 00`)), "tooLarge");
  // A bad IP tag and invalid UTF-8 inside an entry.
  // (the tag of a 27-byte node id is at 2 + 27 + 8 = 37)
  const badTag = ENTRY.slice(0, 2 * 37) + "05" + ENTRY.slice(2 * 38);
  assert.equal(reasonOf(synV1(`02${len16(68)}${badTag} 00`)), "badIpTag");
  const badUtf8 = ENTRY.slice(0, 4) + "ff" + ENTRY.slice(6);
  assert.equal(reasonOf(synV1(`02${len16(68)}${badUtf8} 00`)), "invalidUtf8");
  // The Syn's cluster id after the digest: missing, short, not UTF-8.
  assert.equal(reasonOf(unhex("53b00100 00")), "truncated");
  assert.equal(reasonOf(unhex("53b00100 00 0500 6363")), "truncated");
  assert.equal(reasonOf(unhex("53b00100 00 0100 ff")), "invalidUtf8");
  // A SynAck whose delta is bad after a good V1 digest.
  assert.equal(reasonOf(unhex(`53b00101 02${len16(68)}${ENTRY} 00 07`)), "badBlock");
  // Bytes after a complete message are ignored, as chitchat and V0 do.
  assert.equal(reasonOf(unhex("53b00100 00 0100 63 ffff")), "ok");
});

Deno.test("V1: 2 000 mutated V1 datagrams throw nothing but DecodeError", () => {
  const r = createRandom(4242);
  const seeds = [
    encodeSyn("cluster", zlayerDigest(300), { protocolVersion: 1 }),
    encodeMessage(randomMessage(createRandom(1)), { protocolVersion: 1 }),
    synV1(`02${len16(68)}${ENTRY} 00`),
  ];
  for (let i = 0; i < 2000; i++) {
    const b = seeds[i % seeds.length]!.slice();
    const flips = 1 + r.int(4);
    for (let k = 0; k < flips; k++) b[4 + r.int(b.length - 4)] = r.int(256);
    const cut = r.int(3) === 0 ? b.subarray(0, r.int(b.length)) : b;
    reasonOf(cut);
  }
});

Deno.test("V1: the leased decode lends V1 digest entries and reports the version", () => {
  const syn = encodeSyn("c", zlayerDigest(3), { protocolVersion: 1 });
  const r = decodeMessageLeased(syn);
  assert.equal(r.version, 1);
  assert.equal(r.leased, true);
  assert.ok(r.message.type === "syn" && r.message.digest.nodes.length === 3);
  releaseDigestLease();
  assert.equal(decodeMessageLeased(encodeAck(new Uint8Array([0]))).version, 0);
});
