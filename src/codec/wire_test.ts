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

Deno.test("chitchatIdWireBytes() is the encoder's id layout; chitchatIdHash() is FNV-1a-64 of it, 48 bits", async () => {
  const { chitchatIdHash, chitchatIdWireBytes } = await import("./wire.ts");
  const ids: ChitchatId[] = [
    id(1),
    {
      nodeId: "worker:18446744073709551615",
      generationId: 2n ** 64n - 1n,
      gossipAdvertiseAddr: { ip: "fd00::1", port: 65535 },
    },
    { nodeId: "ünïcode", generationId: 7n, gossipAdvertiseAddr: { ip: "192.168.1.2", port: 1 } },
  ];
  for (const x of ids) {
    const digest = encodeDigest({
      nodes: [{ chitchatId: x, heartbeat: 0n, lastGcVersion: 0n, maxVersion: 0n }],
    });
    // The digest: a u16 count, then the id, then 24 bytes of values.
    assert.deepEqual(chitchatIdWireBytes(x), digest.subarray(2, digest.length - 24));
    const h = chitchatIdHash(x);
    assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 48);
  }
  // Pinned: the hash is a wire fact between hearsay nodes (PROTOCOL.md §16), it must not drift.
  // FNV-1a-64 of the empty input is its offset basis, so a one-byte input is checkable by hand:
  // ((0xcbf29ce484222325 ^ b) * 0x100000001b3) mod 2^64, low 48 bits.
  const byHand = (bytes: number[]) => {
    let h = 0xcbf29ce484222325n;
    for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
    return Number(h & 0xffffffffffffn);
  };
  assert.equal(chitchatIdHash(ids[0]!), byHand([...chitchatIdWireBytes(ids[0]!)]));
  assert.equal(chitchatIdHash(ids[0]!), 0x58bcf579b656);
  assert.notEqual(chitchatIdHash(ids[0]!), chitchatIdHash({ ...ids[0]!, generationId: 1n }));
  assert.throws(() => chitchatIdWireBytes({ ...ids[0]!, nodeId: "x".repeat(65_536) }), /65 535/);
  assert.throws(() => chitchatIdWireBytes({ ...ids[0]!, generationId: -1n }), /u64/);
});
