// The decoder decompresses zstd blocks with one reused context (src/codec/_zstd.ts). A bad frame must
// not poison it and must not cost a new context: it is reset, and the next good frame decodes
// exactly.
import assert from "node:assert/strict";
import { zstdCompressSync } from "node:zlib";
import { decodeDelta, encodeDelta } from "./delta.ts";
import { DecodeError } from "../common/errors.ts";
import { reusedZstdOpens } from "./_zstd.ts";
import type { Delta } from "../common/types.ts";
import { id } from "./_test_utils.ts";

/** A delta whose ops compress well: one zstd block. */
const DELTA: Delta = {
  nodeDeltas: [{
    chitchatId: id("zstd-reuse", 1n, "10.7.7.7", 7000),
    lastGcVersion: 0n,
    fromVersionExcluded: 0n,
    maxVersion: 200n,
    keyValues: Array.from({ length: 200 }, (_, i) => ({
      key: `key-${String(i).padStart(3, "0")}`,
      value: "the same value, again and again",
      version: BigInt(i + 1),
      status: "set" as const,
    })),
  }],
};

/** A delta of one compressed block holding `frame`. */
function block(frame: Uint8Array): Uint8Array {
  return new Uint8Array([1, frame.length & 0xff, frame.length >> 8, ...frame, 0]);
}

Deno.test("decodeDelta() resets the reused zstd context after bad frames instead of reopening it", () => {
  const good = encodeDelta(DELTA);
  assert.equal(good[0], 1, "the test delta is one compressed block");
  const want = decodeDelta(good);
  const opens = reusedZstdOpens();
  // Corrupt frames: damaged content, and a frame that expands past the 65 535-byte block limit.
  const corrupt = good.slice();
  for (let i = 20; i < corrupt.length - 10; i += 7) corrupt[i]! ^= 0x5a;
  const huge = block(new Uint8Array(zstdCompressSync(new Uint8Array(100_000))));
  for (let round = 0; round < 200; round++) {
    assert.throws(() => decodeDelta(round % 2 === 0 ? corrupt : huge), DecodeError);
    assert.deepEqual(decodeDelta(good), want);
  }
  assert.ok(
    reusedZstdOpens() - opens <= 1,
    `the reused context was opened ${reusedZstdOpens() - opens} times for 200 bad frames`,
  );
});
