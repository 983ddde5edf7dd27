/**
 * The codec against the real chitchat 0.10.1 crate (through the Rust interop peer, built by
 * `deno task build:interop`): what we encode, chitchat parses to the same structure; what
 * chitchat serializes, we decode to the same structure; both reject the same hostile bytes.
 */
import assert from "node:assert/strict";
import { decodeEnvelope, decodeMessage, encodeMessage } from "../src/codec/message.ts";
import { DecodeError } from "../src/common/errors.ts";
import type { ChitchatMessage } from "../src/common/types.ts";
import { sortDigestJson } from "../interop/peer.ts";
import { VECTORS } from "../src/codec/_test_vectors.ts";
import { createRandom, hex, randomMessage } from "../src/codec/_test_utils.ts";
import {
  decodeBoth,
  mutatedDatagrams,
  normalized,
  realisticDelta,
  rustJson,
  withPeer,
} from "./_interop_codec.ts";

Deno.test("interop: every §11.1 vector both ways, byte for byte", async () => {
  await withPeer(async (peer) => {
    for (const v of VECTORS) {
      const ours = encodeMessage(v.msg);
      const r = await peer.decode(ours);
      assert.deepEqual(r.message, rustJson(v.msg), v.name);
      assert.equal(hex(r.reserialized), hex(ours), `${v.name}: chitchat re-serializes our bytes`);
      assert.deepEqual(decodeMessage(r.reserialized), normalized(v.msg), v.name);
    }
  });
});

Deno.test("interop: 400 random messages both ways (raw and compressed blocks)", async () => {
  await withPeer(async (peer) => {
    const r = createRandom(1127);
    let sameBytes = 0;
    let compressedBlocks = 0;
    for (let i = 0; i < 400; i++) {
      const msg = randomMessage(r);
      const ours = encodeMessage(msg, { compress: i % 2 === 0 });
      const res = await peer.decode(ours);
      assert.deepEqual(res.message, rustJson(msg), `case ${i}`);
      assert.deepEqual(decodeMessage(res.reserialized), normalized(msg), `case ${i}`);
      if (i % 2 === 0 && hex(res.reserialized) === hex(ours)) sameBytes++;
      if (res.reserialized.includes(0x28)) compressedBlocks++;
    }
    // Our compress-or-raw decision matches libzstd's on these small deltas.
    console.log(`interop: ${sameBytes}/200 compressed encodings identical to chitchat's bytes`);
    assert.ok(sameBytes >= 190, `${sameBytes}/200 identical`);
    assert.ok(compressedBlocks >= 0);
  });
});

Deno.test("interop: chitchat's zstd blocks of a large delta decode; ours decode in chitchat", async () => {
  await withPeer(async (peer) => {
    const delta = realisticDelta(400);
    const msg: ChitchatMessage = { type: "ack", delta };
    const raw = encodeMessage(msg, { compress: false });
    assert.ok(raw.length > 60000 && raw.length <= 65507, `${raw.length}`);
    const res = await peer.decode(raw);
    assert.deepEqual(res.message, rustJson(msg));
    // chitchat re-serializes with compression: several type-01 blocks.
    assert.equal(res.reserialized[4], 1, "chitchat compressed the first block");
    assert.ok(res.reserialized.length < raw.length / 2);
    assert.deepEqual(decodeMessage(res.reserialized), msg);
    // Our own compressed encoding decodes in chitchat, and has the same block structure.
    const packed = encodeMessage(msg);
    assert.equal(packed[4], 1);
    const res2 = await peer.decode(packed);
    assert.deepEqual(res2.message, rustJson(msg));
    console.log(
      `interop: 64 KiB delta: raw ${raw.length} B, chitchat ${res.reserialized.length} B, ` +
        `hearsay ${packed.length} B, identical bytes: ${hex(packed) === hex(res.reserialized)}`,
    );
    // Same block cutting and the same compress-or-raw decisions (the zstd versions may differ
    // in the exact frame bytes, so only the sizes of the block headers are compared).
    assert.equal(packed.length, res.reserialized.length);
  });
});

Deno.test("interop: chitchat and hearsay accept and reject the same mutated datagrams", async () => {
  await withPeer(async (peer) => {
    let rejected = 0;
    for (const [i, bytes] of mutatedDatagrams(555).entries()) {
      const { ours, theirs } = await decodeBoth(peer, bytes);
      if (ours instanceof DecodeError) {
        rejected++;
        assert.ok(
          theirs instanceof Error,
          `case ${i}: we reject (${ours.reason}), chitchat accepts ${hex(bytes)}`,
        );
      } else if (bytes[2] === 1) {
        // A flip of byte 2 to 1 makes a V1 datagram: chitchat 0.10.1 refuses the version, hearsay
        // reads V1 as chitchat 0.12+ does (checked against 0.13.0 in interop_v013_peer_test.ts).
        assert.ok(
          theirs instanceof Error && /invalid protocol version/.test(theirs.message),
          `case ${i}: a V1 datagram 0.10.1 must refuse for its version: ${hex(bytes)}`,
        );
        assert.deepEqual(decodeEnvelope(bytes).version, 1);
      } else {
        assert.ok(
          !(theirs instanceof Error),
          `case ${i}: chitchat rejects (${theirs}), we accept ${hex(bytes)}`,
        );
        assert.deepEqual(rustJson(ours), {
          ...theirs,
          ...(theirs.type === "syn" || theirs.type === "synAck"
            ? { digest: sortDigestJson(theirs.digest) }
            : {}),
        });
      }
    }
    assert.ok(rejected > 300);
  });
});
