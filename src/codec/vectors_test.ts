// PROTOCOL.md §11.1 vectors: encoded and decoded byte for byte.
import assert from "node:assert/strict";
import { decodeMessage, encodeMessage, messageEncodedLength } from "./message.ts";
import { decodeDelta, DeltaWriter, encodeDelta } from "./delta.ts";
import { decodeDigest, encodeDigest } from "./digest.ts";
import type { ChitchatMessage, Delta } from "../common/types.ts";
import { hex, id, unhex } from "./_test_utils.ts";
import { ID1, id1, VECTORS, worker42 } from "./_test_vectors.ts";

const V8_DELTA: Delta = {
  nodeDeltas: [{
    chitchatId: id1,
    lastGcVersion: 80n,
    fromVersionExcluded: 50n,
    keyValues: [],
    maxVersion: 100n,
  }],
};
const V8_HEX = `02 3500 00 ${ID1} 5000000000000000 3200000000000000 02 6400000000000000 00`;

for (const v of VECTORS) {
  Deno.test(`encodeMessage() writes ${v.name} byte for byte`, () => {
    assert.equal(hex(encodeMessage(v.msg)), hex(unhex(v.hex)));
    assert.equal(hex(encodeMessage(v.msg, { compress: false })), hex(unhex(v.hex)));
    assert.equal(messageEncodedLength(v.msg), unhex(v.hex).length);
  });
  Deno.test(`decodeMessage() reads ${v.name}`, () => {
    assert.deepEqual(decodeMessage(unhex(v.hex)), v.msg);
  });
}

Deno.test("vector lengths match upstream assertions (V2 17, V3 68, V6 74, V7 127, V9 73)", () => {
  const len = (name: string) => unhex(VECTORS.find((v) => v.name.startsWith(name))!.hex).length;
  assert.deepEqual([len("V2"), len("V3"), len("V6"), len("V7"), len("V9")], [17, 68, 74, 127, 73]);
});

Deno.test("encodeDelta() and DeltaWriter write V8 (SetMaxVersion only), decodeDelta() reads it", () => {
  assert.equal(hex(encodeDelta(V8_DELTA)), hex(unhex(V8_HEX)));
  const w = new DeltaWriter({ budget: 198 });
  assert.ok(w.tryAddNode(id1, 80n, 50n));
  assert.ok(w.trySetMaxVersion(100n));
  assert.equal(hex(w.finish()), hex(unhex(V8_HEX)));
  assert.deepEqual(w.delta, V8_DELTA);
  assert.deepEqual(decodeDelta(unhex(V8_HEX)), V8_DELTA);
});

Deno.test("V10 IPv6 ChitchatId encodes to 30 bytes", () => {
  const v10 = id("n", 1n, "2001:db8::1", 7946);
  const want = "0100 6e 0100000000000000 06 20010db8000000000000000000000001 0a1f";
  const digest = { nodes: [{ chitchatId: v10, heartbeat: 0n, lastGcVersion: 0n, maxVersion: 0n }] };
  assert.equal(hex(encodeDigest(digest)), hex(unhex(`0100 ${want} ${"00".repeat(24)}`)));
  assert.deepEqual(decodeDigest(unhex(`0100 ${want} ${"00".repeat(24)}`)), digest);
});

Deno.test("V11 zlayer PeerInfo Ack: 177 op bytes; raw form decodes to the same ops", () => {
  const json =
    '{"node_id":42,"wg_pubkey":"","wg_endpoint":"0.0.0.0:0","overlay_ip":"","labels":{}}';
  const b = new TextEncoder().encode(json).toBase64({ alphabet: "base64url", omitPadding: true });
  assert.equal(b.length, 111);
  const delta: Delta = {
    nodeDeltas: [{
      chitchatId: worker42,
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      keyValues: [{ key: "worker:42", value: b, version: 1n, status: "set" }],
      maxVersion: 1n,
    }],
  };
  const raw = encodeMessage({ type: "ack", delta }, { compress: false });
  assert.equal(raw.length, 185);
  assert.equal(hex(raw.subarray(0, 7)), "53b0000202b100");
  assert.deepEqual(decodeMessage(raw), { type: "ack", delta });
  // With compression the block is a zstd frame (as a Rust node would most likely send).
  const packed = encodeMessage({ type: "ack", delta });
  assert.equal(packed[4], 1, "type-01 block");
  assert.ok(packed.length < raw.length);
  assert.deepEqual(decodeMessage(packed), { type: "ack", delta });
});

Deno.test("decodeMessage() orders nothing: digest entries come back in wire order", () => {
  const a = id("a", 5n, "10.0.0.1", 7000);
  const a6 = id("a", 5n, "::1", 7000);
  const b = id("b", 0n, "10.0.0.2", 7000);
  const entry = (x: typeof a, n: bigint) => ({
    chitchatId: x,
    heartbeat: n,
    lastGcVersion: n + 1n,
    maxVersion: n + 2n,
  });
  const msg: ChitchatMessage = {
    type: "syn",
    clusterId: "c",
    digest: { nodes: [entry(b, 1n), entry(a, 2n), entry(a6, 3n)] },
  };
  const decoded = decodeMessage(encodeMessage(msg));
  assert.ok(decoded.type === "syn");
  assert.deepEqual(decoded.digest.nodes.map((n) => n.chitchatId), [a, a6, b]);
});
