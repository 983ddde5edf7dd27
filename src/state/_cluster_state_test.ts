import assert from "node:assert/strict";
import { ClusterState } from "./_cluster_state.ts";
import { DEFAULT_LIMITS } from "./limits.ts";
import { decodeDelta, DeltaWriter } from "../codec/delta.ts";
import { createRandom } from "../common/random.ts";
import type { ChitchatId, Digest, NodeDigest } from "../common/types.ts";

const NONE: ReadonlySet<string> = new Set();

function id(i: number, ip = i === 7 ? "fd00::7" : `10.0.${i >> 8}.${i & 255}`): ChitchatId {
  return {
    nodeId: `n${(i * 7919) % 101}`,
    generationId: BigInt(i % 3),
    gossipAdvertiseAddr: { ip, port: 7000 + i },
  };
}

/** A state that holds nodes 0..n-1 (heartbeat 5) and whose replicas got keys through deltas. */
function loaded(n: number, seed: number): ClusterState {
  const cs = new ClusterState(id(1000), {
    clockNow: () => 0,
    random: createRandom(seed),
    newDeltaSink: (budget, compress) => new DeltaWriter({ budget, compress }),
  });
  const nodes: NodeDigest[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({ chitchatId: id(i), heartbeat: 5n, lastGcVersion: 0n, maxVersion: 0n });
  }
  cs.reportHeartbeats({ nodes }, () => {});
  cs.applyDelta({
    nodeDeltas: nodes.map((nd, i) => ({
      chitchatId: nd.chitchatId,
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      keyValues: [...Array(1 + (i % 4)).keys()].map((k) => ({
        key: `k${k}`,
        value: `v${i}`,
        version: BigInt(k + 1),
        status: "set" as const,
      })),
      maxVersion: BigInt(1 + (i % 4)),
    })),
  });
  cs.selfState.set("own", "x");
  return cs;
}

/** A peer digest about nodes 0..n+extra-1 (some unknown to `loaded`), partly behind. */
function peerDigest(n: number, extra: number): NodeDigest[] {
  const out: NodeDigest[] = [];
  for (let i = 0; i < n + extra; i++) {
    out.push({
      chitchatId: id(i),
      heartbeat: BigInt(6 + (i % 2)),
      lastGcVersion: 0n,
      maxVersion: BigInt(i % 3),
    });
  }
  return out;
}

function run(order: (d: NodeDigest[]) => NodeDigest[]) {
  const cs = loaded(60, 3);
  const nodes = order(peerDigest(60, 5));
  // The same node written with another IP spelling, and a repeated entry (the last one counts).
  nodes.push({
    chitchatId: id(7, "fd00:0:0::7"),
    heartbeat: 9n,
    lastGcVersion: 0n,
    maxVersion: 0n,
  });
  nodes.push({ chitchatId: id(2), heartbeat: 8n, lastGcVersion: 0n, maxVersion: 4n });
  const digest: Digest = { nodes };
  const samples: string[] = [];
  cs.reportHeartbeats(digest, (k) => samples.push(k));
  const delta = decodeDelta(cs.computeDelta(digest, 60_000, NONE, false));
  const heartbeats = [...cs.states].map(([k, s]) => `${k}=${s.heartbeat}`).sort();
  return { samples: samples.sort(), delta, heartbeats, size: cs.size };
}

Deno.test("ClusterState.reportHeartbeats() and computeDelta() do not depend on the digest's order", () => {
  const wire = run((d) => d);
  assert.equal(wire.size, 60 + 5 + 1);
  assert.ok(wire.samples.length > 0);
  assert.ok(wire.delta.nodeDeltas.length > 0);
  const reversed = run((d) => d.slice().reverse());
  const shuffled = run((d) => {
    const r = createRandom(9);
    const c = d.slice();
    r.shuffle(c);
    return c;
  });
  for (const other of [reversed, shuffled]) {
    assert.deepEqual(other.heartbeats, wire.heartbeats);
    // Same candidates in the same pre-shuffle order (state order), same random draws.
    assert.deepEqual(other.delta, wire.delta);
  }
});

Deno.test("ClusterState.computeDelta() on a fresh digest after reportHeartbeats() on another", () => {
  const cs = loaded(20, 4);
  const a: Digest = { nodes: peerDigest(20, 0) };
  cs.reportHeartbeats(a, () => {});
  // A different digest object: the stamp of `a` must not be reused.
  const empty: Digest = { nodes: [] };
  const full = decodeDelta(cs.computeDelta(empty, 60_000, NONE, false));
  assert.equal(full.nodeDeltas.length, 21, "a peer that knows nothing gets every node");
  const none = decodeDelta(
    cs.computeDelta(
      {
        nodes: [...cs.states.values()].map((s) => ({
          chitchatId: s.chitchatId,
          heartbeat: s.heartbeat,
          lastGcVersion: s.lastGcVersion,
          maxVersion: s.maxVersion,
        })),
      },
      60_000,
      NONE,
      false,
    ),
  );
  assert.equal(none.nodeDeltas.length, 0, "an up-to-date peer gets nothing");
});

Deno.test("ClusterState.digestWithLength() measures exactly, with snapshots or live states", async () => {
  const { digestEncodedLength } = await import("../codec/digest.ts");
  const cs = loaded(40, 9);
  const scheduled = new Set([[...cs.states.keys()].find((k) => k !== cs.selfKey)!]);
  for (const skip of [NONE, scheduled]) {
    const snap = cs.digestWithLength(skip);
    const live = cs.digestWithLength(skip, { snapshot: false });
    assert.equal(snap.encodedLength, digestEncodedLength(snap.digest));
    assert.equal(live.encodedLength, snap.encodedLength);
    assert.equal(snap.digest.nodes.length, cs.size - skip.size);
    assert.deepEqual(
      live.digest.nodes.map((n) => [n.chitchatId, n.heartbeat, n.lastGcVersion, n.maxVersion]),
      snap.digest.nodes.map((n) => [n.chitchatId, n.heartbeat, n.lastGcVersion, n.maxVersion]),
    );
    assert.deepEqual(cs.digest(skip), snap.digest);
  }
  // A snapshot keeps its values; live entries follow the state.
  const snap = cs.digestWithLength(NONE).digest;
  const live = cs.digestWithLength(NONE, { snapshot: false }).digest;
  const self = (d: Digest) => d.nodes.find((n) => n.chitchatId === cs.selfState.chitchatId)!;
  const before = self(snap).heartbeat;
  cs.selfState.incHeartbeat();
  assert.equal(self(snap).heartbeat, before);
  assert.equal(self(live).heartbeat, before + 1n);
  // Live digests are shared until a node comes or goes.
  assert.strictEqual(cs.digestWithLength(NONE, { snapshot: false }).digest.nodes, live.nodes);
  cs.reportHeartbeats(
    { nodes: peerDigest(40, 1).map((n) => ({ ...n, heartbeat: 99n })) },
    () => {},
  );
  const grown = cs.digestWithLength(NONE, { snapshot: false });
  assert.equal(grown.digest.nodes.length, live.nodes.length + 1);
  assert.equal(grown.encodedLength, digestEncodedLength(cs.digest(NONE)));
  cs.removeNode([...cs.states.keys()].find((k) => k !== cs.selfKey)!);
  assert.equal(
    cs.digestWithLength(NONE, { snapshot: false }).digest.nodes.length,
    live.nodes.length,
  );
});

Deno.test("ClusterState.reportHeartbeats() samples each node whose heartbeat rose, once", () => {
  const cs = loaded(10, 4);
  const bump = (hb: bigint, count: number) => {
    const samples: string[] = [];
    const nodes = peerDigest(10, 2).map((n, i) => ({ ...n, heartbeat: i < count ? hb : 1n }));
    cs.reportHeartbeats({ nodes }, (key) => samples.push(key));
    return samples;
  };
  // The ten held nodes rose; the two new ones are created, their first heartbeat no sample.
  const first = bump(20n, 12);
  assert.equal(first.length, 10);
  assert.equal(cs.size, 13);
  const all = bump(21n, 12);
  assert.equal(all.length, 12);
  assert.equal(new Set(all).size, 12);
  assert.ok(all.every((k) => cs.states.has(k) && k !== cs.selfKey));
  // The same heartbeats again: nothing rose.
  assert.deepEqual(bump(21n, 12), []);
  // Only the first five rise.
  assert.deepEqual(bump(22n, 5), all.slice(0, 5));
});

Deno.test("ClusterState.version moves when nodes come and go and when deltas apply", () => {
  const cs = loaded(5, 1);
  let v = cs.version;
  const moved = () => {
    const m = cs.version !== v;
    v = cs.version;
    return m;
  };
  // Heartbeats alone: no move.
  cs.reportHeartbeats({ nodes: peerDigest(5, 0).map((n) => ({ ...n, heartbeat: 50n })) }, () => {});
  assert.equal(moved(), false);
  // A new node: moves.
  cs.reportHeartbeats({ nodes: peerDigest(5, 1).map((n) => ({ ...n, heartbeat: 51n })) }, () => {});
  assert.equal(moved(), true);
  // A delta with a new key: moves; the same delta again (nothing new): no move.
  const delta = {
    nodeDeltas: [{
      chitchatId: id(0),
      lastGcVersion: 0n,
      fromVersionExcluded: 1n,
      keyValues: [{ key: "new", value: "x", version: 9n, status: "set" as const }],
      maxVersion: 9n,
    }],
  };
  assert.equal(cs.applyDelta(delta).changed.length, 1);
  assert.equal(moved(), true);
  const again = cs.applyDelta(delta).changed.length;
  assert.equal(moved(), again > 0);
  // A delta moves the version but not the membership version.
  const m2 = cs.membershipVersion;
  cs.applyDelta({
    nodeDeltas: [{
      ...delta.nodeDeltas[0]!,
      fromVersionExcluded: 9n,
      maxVersion: 10n,
      keyValues: [{ key: "n2", value: "y", version: 10n, status: "set" as const }],
    }],
  });
  assert.equal(moved(), true);
  assert.equal(cs.membershipVersion, m2);
  // Removal: moves.
  const members = cs.membershipVersion;
  cs.removeNode([...cs.states.keys()].find((k) => k !== cs.selfKey)!);
  assert.equal(moved(), true);
  assert.notEqual(cs.membershipVersion, members);
});

Deno.test("ClusterState remembers the last 5 000 removed nodes (chitchat 0.11.2+), not 500", () => {
  const n = 5_001;
  const cs = new ClusterState(id(7_000), {
    clockNow: () => 0,
    random: createRandom(9),
    newDeltaSink: (budget, compress) => new DeltaWriter({ budget, compress }),
    limits: { ...DEFAULT_LIMITS, maxNodes: 10_000, maxDigestEntries: 10_000 },
  });
  const nodes: NodeDigest[] = Array.from({ length: n }, (_, i) => ({
    chitchatId: id(i),
    heartbeat: 5n,
    lastGcVersion: 0n,
    maxVersion: 0n,
  }));
  cs.reportHeartbeats({ nodes }, () => {});
  const keys = [...cs.states.keys()].filter((k) => k !== cs.selfKey);
  assert.equal(keys.length, n);
  for (const k of keys) cs.removeNode(k);
  assert.equal(cs.size, 1);
  // Stale gossip about every removed node: only the oldest one, forgotten, comes back.
  cs.reportHeartbeats({ nodes }, () => {});
  assert.deepEqual([...cs.states.keys()].filter((k) => k !== cs.selfKey), [keys[0]]);
  assert.equal(cs.removedHeartbeat(keys[1]!), 5n);
  // A newer heartbeat brings a remembered node back.
  cs.reportHeartbeats({ nodes: [{ ...nodes[1]!, heartbeat: 6n }] }, () => {});
  assert.equal(cs.size, 3);
});

Deno.test("ClusterState.sortedStates: every held state, self included, in ChitchatId order", async () => {
  const { compareChitchatIds } = await import("../common/chitchat_id.ts");
  const cs = loaded(60, 11);
  const check = () => {
    const sorted = cs.sortedStates;
    assert.equal(sorted.length, cs.size);
    assert.deepEqual(
      [...sorted],
      [...cs.states.values()].sort((a, b) => compareChitchatIds(a.chitchatId, b.chitchatId)),
    );
    for (const s of sorted) assert.equal(cs.states.get(s.key), s);
  };
  check();
  for (const k of [...cs.states.keys()].filter((k) => k !== cs.selfKey).slice(0, 20)) {
    cs.removeNode(k);
  }
  check();
  assert.ok(cs.sortedStates.some((s) => s === cs.selfState));
});

Deno.test("ClusterState.reportHeartbeats: new nodes among held ones, in any order, twice in one digest", async () => {
  const { compareChitchatIds } = await import("../common/chitchat_id.ts");
  const cs = loaded(40, 12);
  const inOrder = () => {
    const s = cs.sortedStates;
    for (let i = 1; i < s.length; i++) {
      assert.ok(compareChitchatIds(s[i - 1]!.chitchatId, s[i]!.chitchatId) < 0, `at ${i}`);
    }
    assert.equal(s.length, cs.size);
  };
  const entry = (i: number, hb: bigint): NodeDigest => ({
    chitchatId: id(i),
    heartbeat: hb,
    lastGcVersion: 0n,
    maxVersion: 0n,
  });
  // Held 0..39; the digest interleaves them with 40..89, sorted, then reversed, then shuffled,
  // with one new node listed twice (fresh objects and shared ones alike).
  const r = createRandom(3);
  const orders = [
    (xs: NodeDigest[]) => xs.sort((a, b) => compareChitchatIds(a.chitchatId, b.chitchatId)),
    (xs: NodeDigest[]) => xs.sort((a, b) => compareChitchatIds(b.chitchatId, a.chitchatId)),
    (xs: NodeDigest[]) => r.shuffle(xs),
  ];
  let next = 40;
  for (const order of orders) {
    const nodes = [
      ...Array.from({ length: 40 }, (_, i) => entry(i, 9n)),
      ...Array.from({ length: 50 }, (_, i) => entry(next + i, 3n)),
      entry(next, 4n),
    ];
    const sampled: string[] = [];
    cs.reportHeartbeats({ nodes: order(nodes) }, (k) => sampled.push(k));
    inOrder();
    assert.equal(cs.size, next + 50 + 1, "self and every node once");
    assert.equal(cs.states.get(cs.keyOf(id(next))!)!.heartbeat, 4n);
    // A first heartbeat is no sample (chitchat's rule); a second, higher one is. The held nodes
    // went from 5 to 9 in the first digest.
    const keys = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => cs.keyOf(id(from + i))!);
    assert.deepEqual(sampled.filter((k) => keys(next + 1, next + 50).includes(k)), []);
    if (next === 40) { for (const k of keys(0, 40)) assert.ok(sampled.includes(k), k); }
    else assert.ok(sampled.every((k) => k === cs.keyOf(id(next))), `${sampled}`);
    next += 50;
  }
});

Deno.test("ClusterState.reportHeartbeatsByHash: held nodes only, in any order, self skipped", async () => {
  const { chitchatIdHash } = await import("../codec/wire.ts");
  const { compareChitchatIds } = await import("../common/chitchat_id.ts");
  const cs = loaded(50, 5);
  const held = [...cs.sortedStates];
  const before = cs.size;
  const hb = (s: { chitchatId: ChitchatId }) => cs.states.get(cs.keyOf(s.chitchatId)!)!.heartbeat;
  // In ChitchatId order (the fast path), then shuffled, then reversed: each rises once more.
  const r = createRandom(9);
  const orders = [
    (xs: ChitchatId[]) => xs,
    (xs: ChitchatId[]) => r.shuffle(xs),
    (xs: ChitchatId[]) => xs.reverse(),
  ];
  let beat = 10;
  for (const order of orders) {
    const ids = order(held.map((s) => s.chitchatId));
    // A node this state does not hold, and NaN (a heartbeat above 2^53 - 1) for node 3.
    ids.splice(7, 0, id(900));
    const hashes = Float64Array.from(ids, (x) => chitchatIdHash(x));
    const beats = Float64Array.from(ids, (x) => (x === held[3]!.chitchatId ? NaN : beat));
    const sampled: string[] = [];
    const matched = cs.reportHeartbeatsByHash(hashes, beats, ids.length, (k) => sampled.push(k));
    assert.equal(matched, held.length, "every held node, self included, was named");
    assert.equal(cs.size, before, "compact entries never add a node");
    const others = held.filter((s) => !s.isSelf && s !== held[3]);
    assert.deepEqual(sampled.sort(), others.map((s) => s.key).sort());
    for (const s of others) assert.equal(hb(s), BigInt(beat));
    assert.equal(hb(held[3]!), 5n, "NaN leaves the heartbeat alone");
    assert.equal(cs.selfState.heartbeat, 0n, "self is never set from outside");
    beat++;
  }
  // Not higher: no sample. A count beyond the arrays is refused.
  const again = Float64Array.from(held, () => 1);
  const hashes = Float64Array.from(held, (s) => chitchatIdHash(s.chitchatId));
  const none: string[] = [];
  cs.reportHeartbeatsByHash(hashes, again, held.length, (k) => none.push(k));
  assert.deepEqual(none, []);
  assert.throws(() => cs.reportHeartbeatsByHash(hashes, again, held.length + 1, () => {}), /count/);
  assert.ok(
    held.every((s, i) => i === 0 || compareChitchatIds(held[i - 1]!.chitchatId, s.chitchatId) < 0),
  );
});
