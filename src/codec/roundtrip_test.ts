// Randomized round trips from fixed seeds, and exact size functions.
import assert from "node:assert/strict";
import {
  decodeMessage,
  encodeMessage,
  MAX_DATAGRAM_SIZE,
  messageEncodedLength,
} from "./message.ts";
import { decodeDelta, deltaEncodedLength, encodeDelta } from "./delta.ts";
import { decodeDigest, digestEncodedLength, encodeDigest, sortedDigestEntries } from "./digest.ts";
import type { ChitchatMessage, Delta, NodeDelta } from "../common/types.ts";
import {
  createRandom,
  id,
  randomDelta,
  randomDigest,
  randomMessage,
  U64_MAX,
} from "./_test_utils.ts";

/** What decoding an encoded message gives back: digests sorted, SetMaxVersion 0 dropped. */
function expected(msg: ChitchatMessage): ChitchatMessage {
  if (msg.type === "syn") return { ...msg, digest: { nodes: sortedDigestEntries(msg.digest) } };
  if (msg.type === "synAck") {
    return { ...msg, digest: { nodes: sortedDigestEntries(msg.digest) } };
  }
  return msg;
}

Deno.test("codec generators are deterministic for a seed", () => {
  assert.deepEqual(randomMessage(createRandom(7)), randomMessage(createRandom(7)));
});

Deno.test("encodeMessage()/decodeMessage() round-trip 3000 random messages, both block kinds", () => {
  const r = createRandom(20261127);
  let bytes = 0;
  for (let i = 0; i < 3000; i++) {
    const msg = randomMessage(r);
    const raw = encodeMessage(msg, { compress: false });
    assert.equal(raw.length, messageEncodedLength(msg), `case ${i}`);
    assert.deepEqual(decodeMessage(raw), expected(msg), `case ${i}`);
    const packed = encodeMessage(msg);
    assert.ok(packed.length <= raw.length);
    assert.deepEqual(decodeMessage(packed), expected(msg), `case ${i}`);
    // Trailing bytes are ignored, like chitchat.
    const extra = new Uint8Array(raw.length + 3);
    extra.set(raw);
    extra.set([1, 2, 3], raw.length);
    assert.deepEqual(decodeMessage(extra), expected(msg));
    bytes += raw.length;
  }
  assert.ok(bytes > 100_000);
});

Deno.test("encodeDelta() round-trips empty and 60 KB values, u64 extremes, many nodes", () => {
  const r = createRandom(99);
  for (let i = 0; i < 20; i++) {
    const delta = randomDelta(r, 1, 2, true);
    const raw = encodeDelta(delta, { compress: false });
    assert.equal(raw.length, deltaEncodedLength(delta));
    assert.ok(raw.length <= MAX_DATAGRAM_SIZE);
    assert.deepEqual(decodeDelta(raw), delta);
    assert.deepEqual(decodeDelta(encodeDelta(delta)), delta);
  }
  const many: NodeDelta[] = [];
  for (let i = 0; i < 900; i++) {
    many.push({
      chitchatId: id(`worker:${i}`, 0n, i % 2 ? "10.0.0.1" : "::ffff:10.0.0.1", 7946),
      lastGcVersion: i % 3 ? 0n : U64_MAX,
      fromVersionExcluded: 0n,
      keyValues: [],
      maxVersion: BigInt(i),
    });
  }
  const delta: Delta = { nodeDeltas: many };
  const raw = encodeDelta(delta, { compress: false });
  assert.ok(raw.length > 16384 * 3, "several blocks");
  assert.equal(raw.length, deltaEncodedLength(delta));
  assert.deepEqual(decodeDelta(raw), delta);
  const packed = encodeDelta(delta);
  assert.equal(packed[0], 1, "first block compressed");
  assert.ok(packed.length < raw.length / 3);
  assert.deepEqual(decodeDelta(packed), delta);
});

Deno.test("encodeDigest()/decodeDigest() round-trip 1000 nodes with exact length", () => {
  const r = createRandom(5);
  for (let i = 0; i < 200; i++) {
    const digest = randomDigest(r, 30);
    const bytes = encodeDigest(digest);
    assert.equal(bytes.length, digestEncodedLength(digest));
    assert.deepEqual(decodeDigest(bytes), { nodes: sortedDigestEntries(digest) });
  }
  const nodes = [];
  for (let i = 0; i < 1000; i++) {
    nodes.push({
      chitchatId: id(`worker:${i}`, 0n, "0.0.0.0", 7946),
      heartbeat: BigInt(i),
      lastGcVersion: 0n,
      maxVersion: 1n,
    });
  }
  const bytes = encodeDigest({ nodes });
  assert.equal(bytes.length, digestEncodedLength({ nodes }));
  assert.equal(decodeDigest(bytes).nodes.length, 1000);
});
