// The decoder interns ChitchatIds (wasm/assembly/intern.ts + src/codec/_decode.ts): a known id is handed
// out as the object decoded first. These tests check that interning never changes what is
// decoded, whatever the sequence: repeats, table overflow, ids too long to intern, failures in
// the middle of a message, and that it does give back the same object.
import assert from "node:assert/strict";
import { decodeMessage, encodeMessage, encodeSyn } from "./message.ts";
import { decodeDelta, encodeDelta } from "./delta.ts";
import { decodeDigest, encodeDigest } from "./digest.ts";
import { DecodeError } from "../common/errors.ts";
import type { ChitchatId, Delta, Digest } from "../common/types.ts";
import { createRandom, id, randomMessage } from "./_test_utils.ts";

function digestOf(ids: readonly ChitchatId[], hb = 1n): Digest {
  return {
    nodes: ids.map((c) => ({ chitchatId: c, heartbeat: hb, lastGcVersion: 0n, maxVersion: 3n })),
  };
}

/** Plain copies (no shared objects), for deepEqual against decoded values. */
const plain = <T>(v: T): T => structuredClone(v);

Deno.test("decodeMessage() hands out one object per id across messages", () => {
  const ids = Array.from(
    { length: 50 },
    (_, i) => id(`intern-same-${String(i).padStart(2, "0")}`, 7n, "10.1.2.3", 9000 + i),
  );
  const a = decodeMessage(encodeSyn("c", digestOf(ids, 1n)));
  const b = decodeMessage(encodeSyn("c", digestOf(ids, 2n)));
  assert.equal(a.type, "syn");
  assert.equal(b.type, "syn");
  if (a.type !== "syn" || b.type !== "syn") return;
  for (let i = 0; i < ids.length; i++) {
    assert.strictEqual(a.digest.nodes[i]!.chitchatId, b.digest.nodes[i]!.chitchatId);
    assert.deepEqual(plain(a.digest.nodes[i]!.chitchatId), plain(ids[i]!));
  }
  assert.equal(b.digest.nodes[0]!.heartbeat, 2n);
  // The same id inside a delta (op stream) is the same object too.
  const delta: Delta = {
    nodeDeltas: [{
      chitchatId: ids[3]!,
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      maxVersion: 1n,
      keyValues: [{ key: "k", value: "v", version: 1n, status: "set" }],
    }],
  };
  const d = decodeDelta(encodeDelta(delta));
  assert.strictEqual(d.nodeDeltas[0]!.chitchatId, a.digest.nodes[3]!.chitchatId);
});

Deno.test("decodeMessage() decodes ids that differ only in generation, IP or port apart", () => {
  const base = id("intern-near", 1n, "10.0.0.1", 7000);
  const ids = [
    base,
    id("intern-near", 2n, "10.0.0.1", 7000),
    id("intern-near", 1n, "10.0.0.2", 7000),
    id("intern-near", 1n, "10.0.0.1", 7001),
    id("intern-near", 1n, "::ffff:10.0.0.1", 7000),
    id("intern-near", 1n, "2001:db8::1", 7000),
  ];
  for (let round = 0; round < 3; round++) {
    // Different orders each round: the sequential guess must not match a neighbour.
    const order = round === 1 ? [...ids].reverse() : ids;
    const got = decodeDigest(encodeDigest(digestOf(order))).nodes.map((n) => plain(n.chitchatId));
    const want = decodeDigest(encodeDigest(digestOf(order))).nodes.map((n) => plain(n.chitchatId));
    assert.deepEqual(got, want);
    assert.equal(
      new Set(got.map((g) => JSON.stringify(g, (_, v) => typeof v === "bigint" ? `${v}` : v))).size,
      ids.length,
    );
  }
});

Deno.test("decodeMessage() stays exact when the intern table overflows and starts over", () => {
  // 16 384 ids fit; send 3 x 9 000 distinct ids in digests of 1 000, then the first ones again.
  const all: ChitchatId[] = [];
  for (let i = 0; i < 27_000; i++) {
    all.push(id(`ovf-${i}`, BigInt(i), "192.168.0.1", 1 + (i % 60000)));
  }
  const decoded: ChitchatId[] = [];
  for (let at = 0; at < all.length; at += 1000) {
    const m = decodeMessage(encodeSyn("c", digestOf(all.slice(at, at + 1000))));
    if (m.type !== "syn") throw new Error("not a syn");
    decoded.push(...m.digest.nodes.map((n) => n.chitchatId));
  }
  assert.equal(decoded.length, all.length);
  // Every decoded id equals its source (digests come back in wire order = sorted per chunk).
  const byName = new Map(all.map((c) => [c.nodeId, c]));
  for (const d of decoded) assert.deepEqual(plain(d), plain(byName.get(d.nodeId)!));
  // Old ids again after the table started over: still exact.
  const again = decodeMessage(encodeSyn("c", digestOf(all.slice(0, 1000))));
  if (again.type !== "syn") throw new Error("not a syn");
  for (const n of again.digest.nodes) {
    assert.deepEqual(plain(n.chitchatId), plain(byName.get(n.chitchatId.nodeId)!));
  }
});

Deno.test("decodeMessage() decodes ids too long to intern, every time afresh", () => {
  const long = id("L".repeat(500) + "é", 3n, "2001:db8::7", 1234);
  const a = decodeMessage(encodeSyn("c", digestOf([long])));
  const b = decodeMessage(encodeSyn("c", digestOf([long])));
  if (a.type !== "syn" || b.type !== "syn") throw new Error("not a syn");
  assert.deepEqual(plain(a.digest.nodes[0]!.chitchatId), plain(long));
  assert.deepEqual(plain(b.digest.nodes[0]!.chitchatId), plain(long));
  assert.notStrictEqual(a.digest.nodes[0]!.chitchatId, b.digest.nodes[0]!.chitchatId);
});

Deno.test("decodeMessage() recovers ids interned by a message whose delta then failed", () => {
  const ids = Array.from({ length: 5 }, (_, i) => id(`half-${i}`, 1n, "10.9.9.9", 100 + i));
  const good = encodeMessage({
    type: "synAck",
    digest: digestOf(ids),
    delta: { nodeDeltas: [] },
  });
  // Cut the delta's end tag: the digest parses (and is interned), the delta fails.
  const bad = good.subarray(0, good.length - 1);
  assert.throws(() => decodeMessage(bad), DecodeError);
  const m = decodeMessage(good);
  if (m.type !== "synAck") throw new Error("not a synAck");
  assert.deepEqual(m.digest.nodes.map((n) => plain(n.chitchatId)), ids.map(plain));
  // A delta whose Node ops name ids that a failed op stream interned.
  const delta: Delta = {
    nodeDeltas: ids.map((c) => ({
      chitchatId: c,
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      maxVersion: 0n,
      keyValues: [],
    })),
  };
  const bytes = encodeDelta(delta, { compress: false });
  assert.throws(() => decodeDelta(bytes.subarray(0, bytes.length - 3)), DecodeError);
  assert.deepEqual(
    decodeDelta(bytes).nodeDeltas.map((n) => plain(n.chitchatId)),
    ids.map(plain),
  );
});

Deno.test("decodeMessage() with interning matches a plain re-decode on random messages", () => {
  const r = createRandom(2026_11_27);
  for (let i = 0; i < 400; i++) {
    const msg = randomMessage(r);
    const bytes = encodeMessage(msg);
    const first = decodeMessage(bytes);
    const second = decodeMessage(bytes);
    assert.deepEqual(plain(second), plain(first));
    assert.deepEqual(encodeMessage(second), bytes);
  }
});

Deno.test("wasmDecodeMessageLeased() lends entry objects once, and fresh ones while lent", async () => {
  const { releaseDigestLease, wasmDecodeMessageLeased } = await import("./_decode.ts");
  const ids = Array.from({ length: 4 }, (_, i) => id(`lease-${i}`, 1n, "10.4.4.4", 40 + i));
  const bytesA = encodeSyn("c", digestOf(ids, 5n));
  const bytesB = encodeSyn("c", digestOf(ids, 6n));
  const a = wasmDecodeMessageLeased(bytesA);
  assert.equal(a.leased, true);
  // Nested (a handler further up still reads `a`): fresh objects, `a` untouched.
  const b = wasmDecodeMessageLeased(bytesB);
  assert.equal(b.leased, false);
  if (a.message.type !== "syn" || b.message.type !== "syn") throw new Error("not a syn");
  assert.equal(a.message.digest.nodes[0]!.heartbeat, 5n);
  assert.equal(b.message.digest.nodes[0]!.heartbeat, 6n);
  releaseDigestLease();
  // Lent again: the same entry objects, now with the new values.
  const c = wasmDecodeMessageLeased(bytesB);
  assert.equal(c.leased, true);
  if (c.message.type !== "syn") throw new Error("not a syn");
  assert.strictEqual(c.message.digest.nodes[0], a.message.digest.nodes[0]);
  assert.equal(a.message.digest.nodes[0]!.heartbeat, 6n);
  releaseDigestLease();
  // An Ack has no digest: nothing is lent.
  const ack = wasmDecodeMessageLeased(new Uint8Array([0x53, 0xb0, 0, 2, 0]));
  assert.equal(ack.leased, false);
  // A failed decode lends nothing either.
  assert.throws(() => wasmDecodeMessageLeased(bytesA.subarray(0, 10)), DecodeError);
  assert.equal(wasmDecodeMessageLeased(bytesA).leased, true);
  releaseDigestLease();
});
