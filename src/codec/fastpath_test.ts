// The decoder's fast paths (src/codec/_decode.ts): strings materialised in one JSON batch (escapes, IPv4
// text, sizes), and the reused zstd decompression context (errors must not poison later decodes).
import assert from "node:assert/strict";
import { zstdCompressSync } from "node:zlib";
import { decodeMessage, encodeAck, encodeMessage, encodeSyn } from "./message.ts";
import { decodeDelta, encodeDelta } from "./delta.ts";
import { DecodeError } from "../common/errors.ts";
import type { ChitchatMessage, Delta, KeyValueMutation, NodeDigest } from "../common/types.ts";

/** Every ASCII byte, including the ones JSON must escape, at every offset of a 16-byte lane. */
function awkwardStrings(): string[] {
  const all = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join("");
  const out = [all, all.split("").reverse().join(""), '"', "\\", "\u0000", "\u001f", "\u007f"];
  for (let pad = 0; pad < 34; pad++) {
    out.push("x".repeat(pad) + '"' + "y".repeat(33 - pad));
    out.push("x".repeat(pad) + "\\" + "\n");
    out.push("é".repeat(pad) + "\u0001" + "😀");
  }
  return out;
}

function kvDelta(values: string[]): Delta {
  const keyValues: KeyValueMutation[] = values.map((v, i) => ({
    key: "k" + v,
    value: v,
    version: BigInt(i + 1),
    status: "set",
  }));
  return {
    nodeDeltas: [{
      chitchatId: {
        nodeId: 'n"\\\u0002é',
        generationId: 3n,
        gossipAdvertiseAddr: { ip: "255.255.255.255", port: 65535 },
      },
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      keyValues,
      maxVersion: BigInt(keyValues.length),
    }],
  };
}

Deno.test("decodeMessage() returns strings with quotes, backslashes and control characters intact", () => {
  const delta = kvDelta(awkwardStrings());
  for (const compress of [false, true]) {
    const msg: ChitchatMessage = { type: "ack", delta };
    assert.deepEqual(decodeMessage(encodeMessage(msg, { compress })), msg);
  }
});

Deno.test("decodeMessage() formats IPv4 and IPv6 addresses of digest entries", () => {
  const ips = ["0.0.0.0", "1.2.3.4", "10.0.0.100", "99.199.255.9", "255.255.255.255", "::1"];
  const nodes: NodeDigest[] = ips.map((ip, i) => ({
    chitchatId: { nodeId: `n${i}\u0000"`, generationId: 0n, gossipAdvertiseAddr: { ip, port: i } },
    heartbeat: 1n,
    lastGcVersion: 0n,
    maxVersion: 0n,
  }));
  const bytes = encodeSyn('cl"\\uster', { nodes });
  assert.deepEqual(decodeMessage(bytes), {
    type: "syn",
    clusterId: 'cl"\\uster',
    digest: { nodes },
  });
});

Deno.test("decodeDelta() materialises more than 1 MiB of escaped string text (exact sizing)", () => {
  // Control characters compress well: 4 nodes x 60 000 bytes of them fit in one datagram.
  const big = '\u0001"\\'.repeat(20000);
  const delta: Delta = {
    nodeDeltas: [0, 1, 2, 3].map((n) => ({
      chitchatId: {
        nodeId: `n${n}`,
        generationId: 0n,
        gossipAdvertiseAddr: { ip: "::1", port: n },
      },
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      keyValues: [{ key: "k", value: big, version: 1n, status: "set" as const }],
      maxVersion: 1n,
    })),
  };
  const bytes = encodeDelta(delta);
  assert.ok(bytes.length < 65507, `${bytes.length} bytes`);
  assert.deepEqual(decodeDelta(bytes), delta);
});

/** An Ack whose only block is the given zstd frame. */
function ackWithFrame(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 3 + frame.length + 1);
  out.set([0x53, 0xb0, 0, 2, 1, frame.length & 0xff, frame.length >> 8]);
  out.set(frame, 7);
  return out;
}

Deno.test("decodeMessage() recovers after corrupt and oversized zstd blocks", () => {
  const delta = kvDelta(["a".repeat(5000), "b".repeat(3000)]);
  const good = encodeAck(encodeDelta(delta));
  assert.equal(good[4], 1, "the fixture must use a compressed block");
  const want: ChitchatMessage = { type: "ack", delta };
  assert.deepEqual(decodeMessage(good), want);

  // Corrupt the compressed content but keep the frame structure (header, block sizes).
  const corrupt = good.slice();
  for (let i = 20; i < corrupt.length - 8; i += 7) corrupt[i] = corrupt[i]! ^ 0x5a;
  const oversized = ackWithFrame(
    new Uint8Array(zstdCompressSync(new Uint8Array(70000), { pledgedSrcSize: 70000 } as never)),
  );
  for (const bad of [corrupt, oversized, corrupt]) {
    assert.throws(() => decodeMessage(bad), (e: unknown) => {
      assert.ok(e instanceof DecodeError, String(e));
      return true;
    });
    // The next good block decodes: a failed block does not poison later ones.
    assert.deepEqual(decodeMessage(good), want);
  }
});

Deno.test("decodeMessage() decompresses a 65 535-byte block and refuses a 65 536-byte one", () => {
  for (const size of [65535, 65536]) {
    const raw = new Uint8Array(size);
    const frame = new Uint8Array(zstdCompressSync(raw, { pledgedSrcSize: size } as never));
    const bytes = ackWithFrame(frame);
    if (size === 65535) {
      // 65 535 zero bytes decompress, then fail as ops (a Node op with a truncated id).
      assert.throws(() => decodeMessage(bytes), (e: unknown) => {
        assert.ok(e instanceof DecodeError);
        assert.notEqual(e.reason, "decompression");
        return true;
      });
    } else {
      assert.throws(() => decodeMessage(bytes), (e: unknown) => {
        assert.ok(e instanceof DecodeError);
        assert.equal(e.reason, "decompression");
        return true;
      });
    }
  }
});
