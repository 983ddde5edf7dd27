// Hostile input: truncation, bit flips, random bytes, oversized datagrams, zstd bombs, fuzzing.
// decodeMessage() must throw only DecodeError, with the right reason, and never hang.
import assert from "node:assert/strict";
import { constants, zstdCompressSync } from "node:zlib";
import { encodeMessage, MAX_DATAGRAM_SIZE } from "./message.ts";
import { decodeDelta } from "./delta.ts";
import { DecodeError } from "../common/errors.ts";
import { reasonOf } from "./_test_decode.ts";
import type { ChitchatMessage } from "../common/types.ts";
import { createRandom, hex, randomMessage, unhex } from "./_test_utils.ts";

const ID1 = "0a006e6f64652d31303030310000000000000000047f0000011127";
const NODE_OP = `00${ID1}${"00".repeat(16)}`; // 44 bytes

const ack = (ops: string) => {
  const body = unhex(ops);
  return unhex(
    `53b00002 02 ${hex(new Uint8Array([body.length & 255, body.length >> 8]))} ${ops} 00`,
  );
};

Deno.test("decodeMessage() rejects a bad magic, version or type", () => {
  assert.equal(reasonOf(unhex("53b10003")), "badMagic");
  assert.equal(reasonOf(unhex("b0530003")), "badMagic");
  assert.equal(reasonOf(unhex("53b00203")), "badVersion");
  assert.equal(reasonOf(unhex("53b0ff03")), "badVersion");
  assert.equal(reasonOf(unhex("53b00004")), "badType");
  assert.equal(reasonOf(unhex("53b000ff")), "badType");
  assert.equal(reasonOf(unhex("")), "tooShort");
  assert.equal(reasonOf(unhex("53b000")), "tooShort");
});

Deno.test("decodeMessage() rejects bad block types, status bytes, IP tags, op tags, UTF-8", () => {
  assert.equal(reasonOf(unhex("53b0000203")), "badBlock");
  assert.equal(reasonOf(ack(`${NODE_OP}0101006b010076010000000000000003`)), "badStatus");
  assert.equal(
    reasonOf(ack(`00${ID1.replace("047f000001", "057f000001")}${"00".repeat(16)}`)),
    "badIpTag",
  );
  assert.equal(reasonOf(ack(`${NODE_OP}03`)), "badOp");
  assert.equal(reasonOf(ack(`${NODE_OP}010100ff01007601000000000000000000`)), "invalidUtf8");
  assert.equal(reasonOf(ack(`${NODE_OP}010100c001007601000000000000000000`)), "invalidUtf8");
  // Surrogate code points encoded in UTF-8 (ED A0 80) are invalid, as in Rust.
  assert.equal(reasonOf(ack(`${NODE_OP}010300eda08001007601000000000000000000`)), "invalidUtf8");
  assert.equal(reasonOf(unhex("53b00000 0000 0200 c328")), "invalidUtf8");
});

Deno.test("decodeMessage() enforces chitchat's delta-builder rules (deltaRule)", () => {
  const kv = (v: number) => `0101006b010076${hex(new Uint8Array([v, 0, 0, 0, 0, 0, 0, 0]))}00`;
  assert.equal(reasonOf(ack(`${NODE_OP}${NODE_OP}`)), "deltaRule"); // duplicate Node op
  assert.equal(reasonOf(ack(kv(1))), "deltaRule"); // KV before any Node
  assert.equal(reasonOf(ack(`02${"07".repeat(8)}`)), "deltaRule"); // SetMax before any Node
  assert.equal(reasonOf(ack(`${NODE_OP}${kv(0)}`)), "deltaRule"); // version 0
  assert.equal(reasonOf(ack(`${NODE_OP}${kv(2)}${kv(2)}`)), "deltaRule"); // not increasing
  assert.equal(reasonOf(ack(`${NODE_OP}02${"05".padEnd(16, "0")}${kv(5)}`)), "deltaRule");
  assert.equal(reasonOf(ack(`${NODE_OP}${kv(2)}${kv(3)}`)), "ok");
  // KV(v=10) then SetMaxVersion(5) parses in chitchat (a sender hazard, not a parse error).
  assert.equal(reasonOf(ack(`${NODE_OP}${kv(10)}02${"05".padEnd(16, "0")}`)), "ok");
  // The same ChitchatId with another port is another node.
  const other = NODE_OP.replace("7f0000011127", "7f0000011227");
  assert.equal(reasonOf(ack(`${NODE_OP}${other}`)), "ok");
});

Deno.test("decodeMessage() ignores trailing bytes and rejects datagrams over 65 507 bytes", () => {
  assert.equal(reasonOf(unhex("53b00003ffffff")), "ok");
  const big = new Uint8Array(MAX_DATAGRAM_SIZE + 1);
  big.set(unhex("53b00003"));
  assert.equal(reasonOf(big), "tooLarge");
  assert.equal(reasonOf(big.subarray(0, MAX_DATAGRAM_SIZE)), "ok");
});

Deno.test("decodeMessage() reports truncation at every offset of valid messages", () => {
  const r = createRandom(77);
  let cases = 0;
  for (let i = 0; i < 60; i++) {
    const msg = randomMessage(r);
    for (const compress of [false, true]) {
      const bytes = encodeMessage(msg, { compress });
      for (let cut = 0; cut < bytes.length; cut++) {
        const reason = reasonOf(bytes.subarray(0, cut));
        const ok = cut < 4 ? "tooShort" : bytes[4] === 1 && compress ? reason : "truncated";
        if (cut >= 4 && reason === "decompression") continue; // a cut zstd frame
        assert.equal(reason, ok, `case ${i}, cut ${cut} of ${bytes.length}`);
        cases++;
      }
    }
  }
  assert.ok(cases > 5000);
});

Deno.test("decodeMessage() rejects zstd bombs (a block that expands past 65 535 bytes)", () => {
  const frame = zstdCompressSync(new Uint8Array(65536), {
    params: { [constants.ZSTD_c_compressionLevel]: 3 },
  });
  assert.ok(frame.length < 100);
  const msg = unhex(`53b00002 01 ${hex(new Uint8Array([frame.length, 0]))} ${hex(frame)} 00`);
  assert.equal(reasonOf(msg), "decompression");
  // 65 535 bytes is fine (and then fails as ops, since zeros are Node ops with empty ids).
  const ok = zstdCompressSync(new Uint8Array(65535).fill(0x02));
  const msg2 = unhex(`53b00002 01 ${hex(new Uint8Array([ok.length, 0]))} ${hex(ok)} 00`);
  assert.equal(reasonOf(msg2), "deltaRule");
  // Garbage inside a compressed block.
  assert.equal(reasonOf(unhex("53b00002 01 0400 01020304 00")), "decompression");
  // Many small bombs, each under the per-block cap, still stay bounded (4 MiB of ops).
  const chunk = zstdCompressSync(new Uint8Array(65535).fill(0x61));
  const parts: string[] = [];
  for (let i = 0; i < 80; i++) {
    parts.push(`01 ${hex(new Uint8Array([chunk.length, 0]))} ${hex(chunk)}`);
  }
  const many = unhex(`53b00002 ${parts.join(" ")} 00`);
  assert.equal(reasonOf(many), "tooLarge");
});

Deno.test("decodeDelta() throws DecodeError on random bytes and bit flips", () => {
  const r = createRandom(3);
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(r.int(200));
    for (let j = 0; j < bytes.length; j++) bytes[j] = r.int(256);
    if (r.int(2) === 0 && bytes.length > 0) bytes[0] = 2;
    try {
      decodeDelta(bytes);
    } catch (e) {
      assert.ok(e instanceof DecodeError, String(e));
    }
  }
});

Deno.test("codec fuzz: 100 000 mutated datagrams decode or throw DecodeError", () => {
  const r = createRandom(20261127);
  const seeds: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    const msg: ChitchatMessage = randomMessage(r);
    seeds.push(encodeMessage(msg, { compress: i % 3 === 0 }));
  }
  const counts: Record<string, number> = {};
  const N = 100_000;
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    const seed = seeds[r.int(seeds.length)]!;
    let bytes: Uint8Array;
    switch (r.int(5)) {
      case 0: { // bit flips
        bytes = seed.slice();
        const flips = 1 + r.int(4);
        for (let f = 0; f < flips; f++) bytes[r.int(bytes.length)]! ^= 1 << r.int(8);
        break;
      }
      case 1: // truncation
        bytes = seed.subarray(0, r.int(seed.length + 1));
        break;
      case 2: { // random bytes after a valid header
        bytes = new Uint8Array(4 + r.int(120));
        for (let j = 0; j < bytes.length; j++) bytes[j] = r.int(256);
        bytes.set([0x53, 0xb0, 0, r.int(4)]);
        break;
      }
      case 3: { // byte overwrite with interesting values
        bytes = seed.slice();
        const vals = [0, 1, 2, 3, 4, 6, 0x7f, 0x80, 0xff];
        bytes[r.int(bytes.length)] = vals[r.int(vals.length)]!;
        break;
      }
      default: { // splice two seeds
        const other = seeds[r.int(seeds.length)]!;
        const cut = r.int(seed.length);
        bytes = new Uint8Array(cut + other.length);
        bytes.set(seed.subarray(0, cut));
        bytes.set(other, cut);
      }
    }
    const reason = reasonOf(bytes);
    counts[reason] = (counts[reason] ?? 0) + 1;
  }
  const ms = performance.now() - start;
  console.log(`codec fuzz: ${N} cases in ${ms.toFixed(0)} ms`, JSON.stringify(counts));
  assert.ok(Object.keys(counts).length >= 8, "the fuzzer reaches many reasons");
});
