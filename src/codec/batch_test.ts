// DeltaWriter.tryAddKeyValues (batched key-values) must behave exactly like a loop of
// tryAddKeyValue calls: same bytes, same count, same refusals, same logical delta.
import assert from "node:assert/strict";
import { decodeDelta, DeltaWriter } from "./delta.ts";
import { EncodeError } from "../common/errors.ts";
import type { KeyValueMutation } from "../common/types.ts";
import { createRandom, id, randomString } from "./_test_utils.ts";

const n1 = id("node-1", 0n, "127.0.0.1", 10001);
const n2 = id("node-2", 0n, "::1", 10002);

/** Adds with single calls, stopping at the first false; returns how many were added. */
function oneByOne(w: DeltaWriter, kvs: readonly KeyValueMutation[], start = 0): number {
  let i = start;
  while (i < kvs.length && w.tryAddKeyValue(kvs[i]!)) i++;
  return i - start;
}

function randomKvs(seed: number, n: number, ascii: boolean): KeyValueMutation[] {
  const r = createRandom(seed);
  const kvs: KeyValueMutation[] = [];
  let version = 0n;
  for (let i = 0; i < n; i++) {
    version += BigInt(1 + r.int(3));
    const big = r.int(40) === 0;
    const value = big
      ? "v".repeat(5000 + r.int(20000))
      : ascii
      ? "x".repeat(r.int(200)) + String(i)
      : randomString(r, 30);
    kvs.push({
      key: "k" + (ascii ? String(r.int(1e6)) : randomString(r, 4)),
      value,
      version,
      status: (["set", "deleted", "deleteAfterTtl"] as const)[r.int(3)]!,
    });
  }
  return kvs;
}

Deno.test("tryAddKeyValues() gives the bytes and counts of one-by-one adds, for 300 budgets", () => {
  const r = createRandom(31337);
  for (let c = 0; c < 300; c++) {
    const budget = 100 + r.int(c % 3 === 0 ? 200_000 : 65_000);
    const compress = r.int(2) === 0;
    const kvs = randomKvs(c, 1 + r.int(400), c % 4 !== 0);
    const start = r.int(3);
    const a = new DeltaWriter({ budget, compress });
    const b = new DeltaWriter({ budget, compress });
    assert.equal(a.tryAddNode(n1, 0n, 0n), b.tryAddNode(n1, 0n, 0n));
    const added = a.tryAddKeyValues(kvs, start);
    assert.equal(added, oneByOne(b, kvs, start), `case ${c}`);
    if (added === kvs.length - start && a.tryAddNode(n2, 1n, 2n)) {
      assert.ok(b.tryAddNode(n2, 1n, 2n));
      const more = kvs.slice(0, 20);
      assert.equal(a.tryAddKeyValues(more), oneByOne(b, more), `case ${c}, second node`);
    }
    const bytes = a.finish();
    assert.deepEqual(bytes, b.finish(), `case ${c}`);
    assert.deepEqual(a.delta, b.delta);
    if (bytes.length <= 65507) assert.deepEqual(decodeDelta(bytes), a.delta);
  }
});

Deno.test("tryAddKeyValues() keeps the key-values before a refused one, then throws", () => {
  const ok = (v: bigint, key = "k"): KeyValueMutation => ({
    key,
    value: "value",
    version: v,
    status: "set",
  });
  // "repeat": a version equal to the previous one (0 when it comes first).
  const cases: [KeyValueMutation | "repeat", RegExp][] = [
    ["repeat", /strictly increasing/],
    [ok(1n << 64n), /u64/],
    [ok(-1n), /u64/],
    [{ ...ok(9999n), status: "bogus" as never }, /unknown key status/],
    [ok(9999n, "é"), /multi-byte/],
    [{ ...ok(9999n), value: "x".repeat(65536) }, /65 535/],
  ];
  for (const [bad, message] of cases) {
    for (const at of [0, 1, 5, 300]) {
      const fixed = Array.from({ length: at }, (_, i) => ok(BigInt(i + 1), `k${i}`));
      fixed.push(bad === "repeat" ? ok(BigInt(at)) : bad);
      const w = new DeltaWriter({ budget: 200_000 });
      w.tryAddNode(n1, 0n, 0n);
      assert.throws(() => w.tryAddKeyValues(fixed), (e: unknown) => {
        assert.ok(e instanceof EncodeError, String(e));
        assert.match(e.message, message);
        return true;
      }, `${message} at ${at}`);
      assert.equal(w.delta.nodeDeltas[0]!.keyValues.length, at, `${message} at ${at}`);
      const bytes = w.finish();
      assert.deepEqual(decodeDelta(bytes), w.delta);
    }
  }
});

Deno.test("tryAddKeyValues() needs a node and an unfinished writer, and accepts an empty run", () => {
  const w = new DeltaWriter({ budget: 1000 });
  assert.throws(
    () => w.tryAddKeyValues([{ key: "a", value: "", version: 1n, status: "set" }]),
    /needs a Node first/,
  );
  assert.equal(w.tryAddKeyValues([]), 0);
  w.tryAddNode(n1, 0n, 0n);
  assert.equal(w.tryAddKeyValues([{ key: "a", value: "", version: 1n, status: "set" }], 1), 0);
  w.finish();
  assert.throws(() => w.tryAddKeyValues([]), /already called/);
});
