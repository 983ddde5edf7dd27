// DeltaWriter: chitchat's budget accounting, partial nodes, refusals.
import assert from "node:assert/strict";
import { decodeDelta, DeltaWriter, encodeDelta } from "./delta.ts";
import { ConfigError, EncodeError } from "../common/errors.ts";
import type { ChitchatId, KeyValueMutation } from "../common/types.ts";
import { createRandom, id, randomString } from "./_test_utils.ts";

const n1 = id("node-1", 0n, "127.0.0.1", 10001);
const n2 = id("node-2", 0n, "::1", 10002);

/** An independent model of chitchat's upper bound, in plain numbers. */
class BoundModel {
  O = 0;
  P = 0;
  constructor(readonly budget: number, readonly T = Math.min(16384, budget)) {}
  fits(n: number): boolean {
    const bound = this.P + n > this.T
      ? this.O + 3 + this.P + 3 + n + 1
      : this.O + 3 + this.P + n + 1;
    return bound <= this.budget;
  }
  add(n: number): void {
    this.P += n;
    while (this.P > this.T) {
      this.O += 3 + this.T; // raw blocks (an upper bound of compressed ones)
      this.P -= this.T;
    }
  }
}

const utf8 = (s: string) => new TextEncoder().encode(s).length;
const kvSize = (kv: KeyValueMutation) => 1 + 2 + utf8(kv.key) + 2 + utf8(kv.value) + 9;
const nodeSize = (x: ChitchatId) =>
  1 + 2 + utf8(x.nodeId) + 8 + (x.gossipAdvertiseAddr.ip.includes(":") ? 19 : 7) + 16;

Deno.test("DeltaWriter rejects a budget under 100 with a ConfigError", () => {
  assert.throws(() => new DeltaWriter({ budget: 99 }), ConfigError);
  assert.throws(() => new DeltaWriter({ budget: 100.5 }), ConfigError);
  new DeltaWriter({ budget: 100 }).finish();
});

Deno.test("DeltaWriter accepts exactly what chitchat's bound accepts, for 400 random budgets", () => {
  const r = createRandom(4242);
  for (let round = 0; round < 400; round++) {
    const budget = 100 + r.int(round % 4 === 0 ? 70000 : 3000);
    const compress = round % 2 === 0;
    const w = new DeltaWriter({ budget, compress });
    const model = new BoundModel(budget);
    let version = 0n;
    let stopped = false;
    let accepted = 0;
    for (let node = 0; node < 50 && !stopped; node++) {
      const nid = id(`w:${node}/` + randomString(r, 2), 0n, node % 2 ? "10.0.0.1" : "::1", 7946);
      const ns = nodeSize(nid);
      const fitsNode = w.tryAddNode(nid, 0n, 0n);
      // With compression, flushed blocks count at their compressed size: the writer accepts
      // at least what the raw model accepts. Without, exactly the same.
      if (!compress || model.fits(ns)) assert.equal(fitsNode, model.fits(ns));
      if (!fitsNode) break;
      model.add(ns);
      version = 0n;
      const count = r.int(30);
      for (let k = 0; k < count; k++) {
        version += 1n;
        const kv: KeyValueMutation = {
          key: `key${k}` + randomString(r, 3),
          value: r.int(8) === 0 ? "v".repeat(r.int(20000)) : randomString(r, 30),
          version,
          status: "set",
        };
        const s = kvSize(kv);
        const fits = w.tryAddKeyValue(kv);
        if (!compress || model.fits(s)) assert.equal(fits, model.fits(s), `round ${round}`);
        if (!fits) {
          stopped = true;
          break;
        }
        model.add(s);
        accepted++;
      }
      if (!stopped && count === 0) {
        const fits = w.trySetMaxVersion(7n);
        if (!compress || model.fits(9)) assert.equal(fits, model.fits(9));
        if (fits) model.add(9);
      }
    }
    const bytes = w.finish();
    assert.ok(bytes.length <= budget, `round ${round}: ${bytes.length} > ${budget}`);
    if (!compress) assert.equal(bytes.length, model.O + (model.P > 0 ? 3 + model.P : 0) + 1);
    assert.deepEqual(decodeDelta(bytes), w.delta);
    assert.equal(w.delta.nodeDeltas.reduce((a, n) => a + n.keyValues.length, 0), accepted);
  }
});

Deno.test("DeltaWriter: a partial node carries the last included version; a KV that does not fit stops", () => {
  const w = new DeltaWriter({ budget: 400, compress: false });
  assert.ok(w.tryAddNode(n1, 0n, 0n));
  let v = 0n;
  const value = "x".repeat(50);
  while (w.tryAddKeyValue({ key: "k" + v, value, version: v + 1n, status: "set" })) v++;
  assert.ok(v > 2n);
  const bytes = w.finish();
  assert.ok(bytes.length <= 400);
  const decoded = decodeDelta(bytes);
  assert.equal(decoded.nodeDeltas.length, 1);
  assert.equal(decoded.nodeDeltas[0]!.maxVersion, v);
  assert.equal(decoded.nodeDeltas[0]!.keyValues.length, Number(v));
});

Deno.test("DeltaWriter: two writers interleaved keep their own bytes", () => {
  const a = new DeltaWriter({ budget: 65000, compress: false });
  const b = new DeltaWriter({ budget: 65000 });
  a.tryAddNode(n1, 0n, 0n);
  b.tryAddNode(n2, 1n, 2n);
  for (let i = 1; i < 300; i++) {
    a.tryAddKeyValue({ key: `a${i}`, value: "A".repeat(100), version: BigInt(i), status: "set" });
    b.tryAddKeyValue({
      key: `b${i}`,
      value: "B".repeat(90),
      version: BigInt(i),
      status: "deleted",
    });
  }
  const bytesB = b.finish();
  const bytesA = a.finish();
  assert.deepEqual(decodeDelta(bytesA), a.delta);
  assert.deepEqual(decodeDelta(bytesB), b.delta);
  assert.equal(a.delta.nodeDeltas[0]!.keyValues.length, 299);
  assert.throws(() => a.tryAddNode(n2, 0n, 0n), EncodeError);
});

Deno.test("DeltaWriter refuses ops chitchat receivers would drop or crash on", () => {
  const kv = (key: string, version: bigint): KeyValueMutation => ({
    key,
    value: "v",
    version,
    status: "set",
  });
  const fresh = () => {
    const w = new DeltaWriter({ budget: 65000 });
    w.tryAddNode(n1, 0n, 0n);
    return w;
  };
  assert.throws(() => fresh().tryAddKeyValue(kv("é-key", 1n)), /multi-byte/);
  assert.throws(() => fresh().tryAddKeyValue(kv("😀", 1n)), /multi-byte/);
  fresh().tryAddKeyValue(kv("ké", 1n)); // multi-byte after the first character is fine
  assert.throws(() => fresh().tryAddKeyValue(kv("k", 0n)), /strictly increasing/);
  let w = fresh();
  w.tryAddKeyValue(kv("a", 5n));
  assert.throws(() => w.tryAddKeyValue(kv("b", 5n)), /strictly increasing/);
  assert.throws(() => w.trySetMaxVersion(9n), /SetMaxVersion must not follow/);
  assert.throws(() => w.trySetMaxVersion(1n), EncodeError);
  w = fresh();
  w.trySetMaxVersion(3n);
  assert.throws(() => w.tryAddKeyValue(kv("a", 4n)), EncodeError);
  assert.throws(() => fresh().tryAddNode(n1, 0n, 0n), /already in this delta/);
  assert.throws(
    () => new DeltaWriter({ budget: 1000 }).tryAddKeyValue(kv("a", 1n)),
    /needs a Node first/,
  );
  assert.throws(
    () => fresh().tryAddKeyValue({ ...kv("a", 1n), value: "x".repeat(65536) }),
    /65 535/,
  );
  assert.throws(
    () => fresh().tryAddKeyValue({ ...kv("a", 1n), value: "é".repeat(32768) }),
    /65 535/,
  );
  fresh().tryAddKeyValue({ ...kv("a", 1n), value: "x".repeat(65535) }); // exactly the limit
  assert.throws(
    () => new DeltaWriter({ budget: 1000 }).tryAddNode(id("x".repeat(70000), 0n, "::1", 1), 0n, 0n),
    /65 535/,
  );
  assert.throws(() => fresh().tryAddKeyValue(kv("a", 1n << 64n)), /u64/);
  assert.throws(() => fresh().tryAddKeyValue(kv("a", -1n)), /u64/);
});

Deno.test("encodeDelta() refuses a maxVersion that differs from the last key-value version", () => {
  const nd = {
    chitchatId: n1,
    lastGcVersion: 0n,
    fromVersionExcluded: 0n,
    keyValues: [{ key: "k", value: "v", version: 3n, status: "set" as const }],
    maxVersion: 4n,
  };
  assert.throws(() => encodeDelta({ nodeDeltas: [nd] }), /must equal the last/);
  assert.throws(() => encodeDelta({ nodeDeltas: [{ ...nd, maxVersion: 2n }] }), EncodeError);
  assert.throws(
    () => encodeDelta({ nodeDeltas: [{ ...nd, maxVersion: 3n }, { ...nd, maxVersion: 3n }] }),
    /already/,
  );
});
