import assert from "node:assert/strict";
import { NodeState, type VersionedValue } from "./node_state.ts";
import { EncodeError, HearsayError } from "../common/errors.ts";
import type { ChitchatId, KeyValueMutation, NodeDelta } from "../common/types.ts";

const ID: ChitchatId = {
  nodeId: "n1",
  generationId: 0n,
  gossipAdvertiseAddr: { ip: "127.0.0.1", port: 10001 },
};

function fresh(isSelf = true, t = { now: 0 }) {
  const events: [string, VersionedValue][] = [];
  const s = new NodeState(ID, {
    isSelf,
    clockNow: () => t.now,
    onKeyChange: (_s, k, v) => events.push([k, v]),
  });
  return { s, events, t };
}

function nd(
  kvs: KeyValueMutation[],
  opts: { gc?: bigint; from?: bigint; max?: bigint } = {},
): NodeDelta {
  const last = kvs.at(-1)?.version ?? 0n;
  return {
    chitchatId: ID,
    lastGcVersion: opts.gc ?? 0n,
    fromVersionExcluded: opts.from ?? 0n,
    keyValues: kvs,
    maxVersion: opts.max ?? last,
  };
}

Deno.test("NodeState.set() bumps the version and is a no-op for the same live value", () => {
  const { s, events } = fresh();
  s.set("a", "1");
  s.set("a", "1");
  assert.equal(s.maxVersion, 1n);
  s.set("a", "2");
  assert.equal(s.maxVersion, 2n);
  assert.equal(s.get("a"), "2");
  assert.deepEqual(events.map(([k, v]) => [k, v.value, v.version]), [["a", "1", 1n], [
    "a",
    "2",
    2n,
  ]]);
});

Deno.test("NodeState.delete() leaves a hidden tombstone with an empty value", () => {
  const { s, events } = fresh();
  s.set("a", "1");
  assert.equal(s.delete("a"), true);
  assert.equal(s.delete("missing"), false);
  assert.equal(s.get("a"), undefined);
  assert.equal(s.containsKey("a"), false);
  const v = s.getVersioned("a")!;
  assert.deepEqual([v.value, v.version, v.status], ["", 2n, "deleted"]);
  assert.equal(events.length, 1, "deletions fire no event");
  // Setting the same value again after a delete creates a new version.
  s.set("a", "1");
  assert.equal(s.get("a"), "1");
  assert.equal(s.maxVersion, 3n);
});

Deno.test("NodeState.deleteAfterTtl() keeps the value visible and set() revives it", () => {
  const { s } = fresh();
  s.set("a", "1");
  s.deleteAfterTtl("a");
  assert.equal(s.get("a"), "1");
  assert.equal(s.getVersioned("a")!.status, "deleteAfterTtl");
  s.set("a", "1");
  assert.equal(s.getVersioned("a")!.status, "set");
  assert.equal(s.maxVersion, 3n);
  s.setWithTtl("b", "x");
  s.setWithTtl("b", "x");
  assert.equal(s.maxVersion, 4n);
});

Deno.test("NodeState.gcKeysMarkedForDeletion() removes old tombstones and raises lastGcVersion", () => {
  const { s, t } = fresh();
  s.set("a", "1");
  s.set("b", "1");
  s.delete("a"); // v3 at t=0
  t.now = 500;
  s.setWithTtl("c", "x"); // v4 at t=500
  s.gcKeysMarkedForDeletion(1000);
  assert.equal(s.lastGcVersion, 0n);
  t.now = 1000;
  s.gcKeysMarkedForDeletion(1000);
  assert.equal(s.lastGcVersion, 3n);
  assert.equal(s.getVersioned("a"), undefined);
  assert.equal(s.get("c"), "x");
  t.now = 1500;
  s.gcKeysMarkedForDeletion(1000);
  assert.equal(s.lastGcVersion, 4n);
  assert.deepEqual(s.keyValues(), [["b", "1"]]);
  assert.equal(s.maxVersion, 4n);
});

Deno.test("NodeState refuses keys that crash Rust receivers and oversized records", () => {
  const { s } = fresh();
  assert.throws(() => s.set("éa", "x"), EncodeError);
  s.set("aé", "x"); // multi-byte after the first character is fine
  assert.throws(() => s.set("big", "x".repeat(70_000)), /at most 60000/);
});

Deno.test("NodeState replicas refuse local writes", () => {
  const { s } = fresh(false);
  assert.throws(() => s.set("a", "1"), HearsayError);
});

Deno.test("NodeState.applyDelta() applies new records and ignores duplicates and stale ones", () => {
  const { s, events } = fresh(false);
  const d1 = nd([
    { key: "a", value: "1", version: 1n, status: "set" },
    { key: "b", value: "2", version: 2n, status: "set" },
  ]);
  assert.equal(s.applyDelta(d1), "apply");
  assert.equal(s.applyDelta(d1), "reject", "a duplicate changes nothing");
  assert.equal(s.maxVersion, 2n);
  // Out of order: a delta starting beyond what we hold is rejected.
  assert.equal(
    s.applyDelta(nd([{ key: "c", value: "3", version: 5n, status: "set" }], { from: 4n })),
    "reject",
  );
  assert.equal(s.get("c"), undefined);
  // An overlapping delta only applies the new part.
  assert.equal(
    s.applyDelta(
      nd([
        { key: "b", value: "OLD", version: 2n, status: "set" },
        { key: "a", value: "", version: 3n, status: "deleted" },
      ], { from: 1n }),
    ),
    "apply",
  );
  assert.equal(s.get("b"), "2");
  assert.equal(s.get("a"), undefined);
  assert.equal(s.maxVersion, 3n);
  assert.deepEqual(events.map(([k]) => k), ["a", "b"]);
});

Deno.test("NodeState.applyDelta() resets when the sender GC'd past what it holds", () => {
  const { s } = fresh(false);
  s.trySetHeartbeat(5n);
  s.applyDelta(nd([{ key: "a", value: "1", version: 1n, status: "set" }]));
  // Sender GC'd up to 4 and we are at 1: only a from=0 delta can bring us up to date.
  assert.equal(
    s.applyDelta(nd([{ key: "z", value: "9", version: 5n, status: "set" }], { gc: 4n, from: 1n })),
    "reject",
  );
  assert.equal(
    s.applyDelta(nd([{ key: "z", value: "9", version: 5n, status: "set" }], { gc: 4n })),
    "applyAfterReset",
  );
  assert.equal(s.get("a"), undefined);
  assert.equal(s.get("z"), "9");
  assert.equal(s.lastGcVersion, 4n);
  assert.equal(s.heartbeat, 0n, "a reset wipes the heartbeat");
});

Deno.test("NodeState.applyDelta() accepts gc == max (0.10.1 rule) and skips GC'd tombstones", () => {
  const { s } = fresh(false);
  s.applyDelta(nd([
    { key: "a", value: "1", version: 1n, status: "set" },
    { key: "b", value: "1", version: 2n, status: "set" },
  ]));
  assert.equal(
    s.applyDelta(nd([{ key: "c", value: "1", version: 3n, status: "set" }], { gc: 2n, from: 2n })),
    "apply",
  );
  // A SetMaxVersion-only delta raises max_version.
  assert.equal(s.applyDelta(nd([], { from: 3n, max: 9n })), "apply");
  assert.equal(s.maxVersion, 9n);
});

Deno.test("NodeState.trySetHeartbeat() stores the first value silently, then only increases", () => {
  const { s } = fresh(false);
  assert.equal(s.trySetHeartbeat(10n), false);
  assert.equal(s.trySetHeartbeat(10n), false);
  assert.equal(s.trySetHeartbeat(9n), false);
  assert.equal(s.trySetHeartbeat(11n), true);
  assert.equal(s.heartbeat, 11n);
});

Deno.test("NodeState.staleKeyValues() lists records above a floor in version order", () => {
  const { s } = fresh();
  s.set("z", "1");
  s.set("a", "2");
  s.set("m", "3");
  s.set("z", "4");
  s.delete("a");
  assert.deepEqual(s.staleKeyValues(2n).map((kv) => [kv.key, kv.version, kv.status]), [
    ["m", 3n, "set"],
    ["z", 4n, "set"],
    ["a", 5n, "deleted"],
  ]);
  assert.equal(s.countStale(2n), 3);
  assert.deepEqual(s.staleKeyValues(5n), []);
});

Deno.test("NodeState.iterPrefix() returns visible keys with the prefix, sorted", () => {
  const { s } = fresh();
  s.set("worker:2", "b");
  s.set("worker:1", "a");
  s.set("other", "c");
  s.set("worker:3", "d");
  s.delete("worker:3");
  assert.deepEqual(s.iterPrefix("worker:"), [["worker:1", "a"], ["worker:2", "b"]]);
  assert.equal(s.numKeyValues, 3);
});

Deno.test("NodeState keeps u64 heartbeats and versions exact on both sides of 2^53", () => {
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  const top = (1n << 64n) - 1n;
  const own = fresh().s;
  for (let i = 0; i < 3; i++) own.incHeartbeat();
  assert.equal(own.heartbeat, 3n);
  const r = fresh(false).s;
  assert.equal(r.trySetHeartbeat(safe - 1n), false);
  assert.equal(r.heartbeat, safe - 1n);
  assert.equal(r.trySetHeartbeat(safe + 2n), true);
  assert.equal(r.heartbeat, safe + 2n);
  assert.equal(r.trySetHeartbeat(safe + 1n), false);
  assert.equal(r.trySetHeartbeat(top), true);
  assert.equal(r.heartbeat, top);
  assert.equal(r.trySetHeartbeat(top - 1n), false);
  // Versions across the boundary: delta status, floor and GC version all compare exactly.
  const kv = (key: string, version: bigint): KeyValueMutation => ({
    key,
    value: "v",
    version,
    status: "set",
  });
  assert.equal(
    r.applyDelta(nd([kv("a", safe), kv("b", safe + 1n)], { gc: safe - 5n })),
    "applyAfterReset",
  );
  assert.equal(r.maxVersion, safe + 1n);
  assert.equal(r.lastGcVersion, safe - 5n);
  assert.equal(r.deltaStatus(nd([kv("c", safe + 1n)], { from: safe })), "reject");
  assert.equal(r.deltaStatus(nd([kv("c", safe + 2n)], { from: safe + 1n })), "apply");
  assert.equal(r.deltaStatus(nd([kv("c", safe + 3n)], { from: safe + 2n })), "reject");
  assert.deepEqual(r.staleKeyValues(safe).map((x) => x.version), [safe + 1n]);
  assert.equal(r.applyDelta(nd([kv("c", top)], { from: safe + 1n })), "apply");
  assert.equal(r.maxVersion, top);
  assert.equal(r.getVersioned("c")?.version, top);
  // The local node's writes count up past 2^53 as bigints.
  const t = { now: 0 };
  const w = fresh(true, t).s;
  w.applyDelta(nd([kv("x", safe)]));
  w.set("y", "1");
  w.delete("x");
  assert.equal(w.maxVersion, safe + 2n);
  assert.deepEqual(w.staleKeyValues(safe).map((x) => [x.key, x.version]), [
    ["y", safe + 1n],
    ["x", safe + 2n],
  ]);
  t.now = 10_000;
  w.gcKeysMarkedForDeletion(1_000);
  assert.equal(w.lastGcVersion, safe + 2n);
  assert.equal(typeof w.heartbeat, "bigint");
});

Deno.test("NodeState keeps its records right across the small-array and Map forms", () => {
  const t = { now: 0 };
  const { s, events } = fresh(true, t);
  const bytes = (n: number) => n; // one-byte keys and values below
  for (let i = 0; i < 20; i++) {
    s.set(String.fromCharCode(97 + i), "x");
    assert.equal(s.numRecords, i + 1);
    assert.equal(s.bytes, bytes(2 * (i + 1)));
    for (let j = 0; j <= i; j++) assert.equal(s.get(String.fromCharCode(97 + j)), "x");
  }
  assert.equal(events.length, 20);
  // The version index is built here and must not survive the writes below.
  assert.equal(s.staleKeyValues(0n).length, 20);
  s.set("c", "y");
  assert.equal(s.get("c"), "y");
  assert.equal(s.bytes, 40);
  assert.equal(s.delete("b"), true);
  assert.equal(s.bytes, 39); // the tombstone keeps its key, its value is empty
  assert.equal(s.delete("zz"), false);
  assert.equal(s.get("b"), undefined);
  assert.equal(s.numKeyValues, 19);
  assert.equal(s.numRecords, 20);
  assert.deepEqual(s.staleKeyValues(20n).map((kv) => [kv.key, kv.version]), [["c", 21n], [
    "b",
    22n,
  ]]);
  t.now = 10_000;
  s.gcKeysMarkedForDeletion(1_000);
  assert.equal(s.numRecords, 19);
  assert.equal(s.bytes, 38);
  assert.equal(s.lastGcVersion, 22n);
  assert.equal(s.countStale(0n), 19);
  // A small replica: one key set, replaced, deleted, collected, then set again.
  const r = fresh(false, t).s;
  const kv = (key: string, version: bigint, status: KeyValueMutation["status"] = "set") => ({
    key,
    value: status === "deleted" ? "" : "v" + version,
    version,
    status,
  });
  assert.equal(r.applyDelta(nd([kv("k", 1n), kv("l", 2n)])), "apply");
  assert.equal(r.applyDelta(nd([kv("k", 3n, "deleted")], { from: 2n })), "apply");
  assert.deepEqual(r.keyValues(), [["l", "v2"]]);
  assert.equal(r.numRecords, 2);
  t.now = 20_000;
  r.gcKeysMarkedForDeletion(1_000);
  assert.equal(r.numRecords, 1);
  assert.deepEqual(r.keyValuesIncludingDeleted().map(([k]) => k), ["l"]);
  assert.equal(r.bytes, 3);
});
