import assert from "node:assert/strict";
import {
  deltaBudget,
  MAX_DATAGRAM_SIZE,
  MESSAGE_HEADER_BYTES,
  messageEncodedLength,
  MIN_DELTA_BUDGET,
} from "./wire.ts";
import { decodeMessageLeased, encodeAck, encodeSynAck, releaseDigestLease } from "./message.ts";
import { DeltaWriter } from "./delta.ts";
import { encodeDigest } from "./digest.ts";
import { DecodeError } from "../common/errors.ts";
import type { ChitchatId } from "../common/types.ts";

const id = (i: number): ChitchatId => ({
  nodeId: `node-${i}`,
  generationId: 0n,
  gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7000 + (i % 1000) },
});

Deno.test("deltaBudget(): what is left of the datagram after the header and the digest", () => {
  assert.equal(MESSAGE_HEADER_BYTES, 4);
  assert.equal(deltaBudget(MAX_DATAGRAM_SIZE), MAX_DATAGRAM_SIZE - 4);
  assert.equal(deltaBudget(MAX_DATAGRAM_SIZE, 1000), MAX_DATAGRAM_SIZE - 4 - 1000);
  assert.equal(deltaBudget(1400, 1400 - 4 - MIN_DELTA_BUDGET), MIN_DELTA_BUDGET);
  assert.equal(deltaBudget(1400, 1400 - 4 - MIN_DELTA_BUDGET + 1), 0);
  assert.equal(deltaBudget(50), 0);
  assert.equal(deltaBudget(1000, 5000), 0);
});

Deno.test("deltaBudget(): a delta written to the budget makes a reply that fits the datagram", () => {
  const nodes = Array.from({ length: 40 }, (_, i) => ({
    chitchatId: id(i),
    heartbeat: 1n,
    lastGcVersion: 0n,
    maxVersion: 0n,
  }));
  const digest = { nodes };
  const digestLength = messageEncodedLength({
    type: "synAck",
    digest,
    delta: { nodeDeltas: [] },
  }) - MESSAGE_HEADER_BYTES - 1;
  for (const max of [1200, 4000, MAX_DATAGRAM_SIZE]) {
    for (
      const [digestBytes, encode] of [
        [digestLength, (d: Uint8Array) => encodeSynAck(digest, d)],
        [0, (d: Uint8Array) => encodeAck(d)],
      ] as const
    ) {
      const budget = deltaBudget(max, digestBytes);
      if (budget === 0) continue;
      const w = new DeltaWriter({ budget, compress: false });
      for (let i = 0; w.tryAddNode(id(1000 + i), 0n, 0n); i++) {
        w.tryAddKeyValues([{ key: "k", value: "v".repeat(300), version: 1n, status: "set" }]);
      }
      const bytes = encode(w.finish());
      assert.ok(bytes.length <= max, `${bytes.length} > ${max}`);
      assert.ok(bytes.length > max - 400, `${bytes.length} leaves too much of ${max} unused`);
    }
  }
});

Deno.test("decodeMessageLeased() throws only DecodeError and leaves no lease behind", () => {
  for (const bad of [new Uint8Array([0x53]), new Uint8Array(MAX_DATAGRAM_SIZE + 1)]) {
    assert.throws(() => decodeMessageLeased(bad), DecodeError);
  }
  const syn = new Uint8Array([0x53, 0xb0, 0, 0, 0, 0, 0, 0]);
  const r = decodeMessageLeased(syn);
  assert.equal(r.message.type, "syn");
  assert.equal(r.leased, true);
  releaseDigestLease();
  assert.equal(decodeMessageLeased(syn).leased, true);
  releaseDigestLease();
});

Deno.test("deltaBudget() counts the 4-byte header, as chitchat 0.12+ does: a full reply fits", () => {
  // 0.10.1 budgeted 65 507 - 1 (up to 3 bytes over); 0.12+'s delta_mtu is 65 507 - 4 - digest.
  assert.equal(deltaBudget(MAX_DATAGRAM_SIZE), 65_503);
  const noise = () => crypto.getRandomValues(new Uint8Array(300)).toBase64();
  const fill = (budget: number) => {
    const w = new DeltaWriter({ budget });
    for (let i = 0;; i++) {
      if (!w.tryAddNode(id(i), 0n, 0n)) break;
      if (!w.tryAddKeyValue({ key: "k", value: noise(), version: 1n, status: "set" })) break;
    }
    return w.finish();
  };
  const ack = encodeAck(fill(deltaBudget(MAX_DATAGRAM_SIZE)));
  assert.ok(
    ack.length <= MAX_DATAGRAM_SIZE && ack.length > 60_000,
    `${ack.length}`,
  );
  for (const protocolVersion of [0, 1] as const) {
    const digest = {
      nodes: Array.from({ length: 300 }, (_, i) => ({
        chitchatId: id(1000 + i),
        heartbeat: 5n,
        lastGcVersion: 0n,
        maxVersion: 1n,
      })),
    };
    const digestBytes = encodeDigest(digest, { protocolVersion });
    const synAck = encodeSynAck(digest, fill(deltaBudget(MAX_DATAGRAM_SIZE, digestBytes.length)), {
      protocolVersion,
      digestBytes,
    });
    assert.ok(synAck.length <= MAX_DATAGRAM_SIZE, `V${protocolVersion}: ${synAck.length}`);
    assert.ok(synAck.length > 60_000, `V${protocolVersion}: ${synAck.length}`);
  }
});
