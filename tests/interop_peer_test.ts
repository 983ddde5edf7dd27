/**
 * The Rust interop peer itself: it decodes the hand-derived vectors of the spec (PROTOCOL.md
 * §11.1) the way we expect, answers errors as `ok: false`, and runs real chitchat nodes that
 * gossip with each other on loopback. Needs `deno task build:interop` (the test task runs it).
 */
import assert from "node:assert/strict";
import {
  type ChitchatIdJson,
  type ClusterStateJson,
  compareChitchatIdJson,
  type DigestJson,
  InteropPeer,
  type MessageJson,
  messageToJson,
  type NodeDigestJson,
  sortDigestJson,
} from "../interop/peer.ts";
import type { ChitchatMessage } from "../src/common/types.ts";

// ---------------------------------------------------------------------------------------------
// Hex of the spec's vectors (PROTOCOL.md §11.1), written out by hand.

const ID1 = "0a00" + "6e6f64652d3130303031" + "0000000000000000" + "04" + "7f000001" + "1127";
const Z8 = "0000000000000000";
const CLUSTER_A = "0900" + "636c75737465722d61";
const V6 = "53b00002024200000a006e6f64652d31303030310000000000000000047f000001112700000000000000" +
  "0000000000000000000103006b6579050076616c756501000000000000000100";
const V7 =
  "53b0000101000a006e6f64652d31303030310000000000000000047f000001112700000000000000000000" +
  "0000000000000000000000000000024200000a006e6f64652d31303030310000000000000000047f00000111270" +
  "00000000000000000000000000000000103006b6579050076616c756501000000000000000100";
const WORKER_ID = "0900" + "776f726b65723a3432" + Z8 + "04" + "00000000" + "0a1f";
const V10_ID = "0100" + "6e" + "0100000000000000" + "06" + "20010db8000000000000000000000001" +
  "0a1f";

const VECTORS: Record<string, string> = {
  V1: "53b00003",
  V2: "53b00000" + "0000" + CLUSTER_A,
  V3: "53b00000" + "0100" + ID1 + Z8 + Z8 + Z8 + CLUSTER_A,
  V4: "53b00001000000",
  V5: "53b0000200",
  V6,
  V7,
  // V8 is a bare delta: sent here as the delta of an Ack.
  V8: "53b00002" + "023500" + "00" + ID1 + "5000000000000000" + "3200000000000000" + "02" +
    "6400000000000000" + "00",
  V9: "53b00000" + "0100" + WORKER_ID + "0700000000000000" + Z8 + "0100000000000000" +
    "0f00" + "64656661756c742d636c7573746572",
  // V10 is a bare ChitchatId: sent here as the one digest entry of a Syn (hb 3, gc 2, max 4).
  V10: "53b00000" + "0100" + V10_ID + "0300000000000000" + "0200000000000000" +
    "0400000000000000" + "0100" + "63",
};

function hex(text: string): Uint8Array {
  return Uint8Array.fromHex(text);
}

// ---------------------------------------------------------------------------------------------
// Expected JSON, by hand from the spec.

const id1: ChitchatIdJson = {
  nodeId: "node-10001",
  generationId: "0",
  gossipAdvertiseAddr: { ip: "127.0.0.1", port: 10001 },
};
const id1Digest: DigestJson = {
  nodes: [{ chitchatId: id1, heartbeat: "0", lastGcVersion: "0", maxVersion: "0" }],
};
const v6Delta = {
  nodeDeltas: [{
    chitchatId: id1,
    lastGcVersion: "0",
    fromVersionExcluded: "0",
    keyValues: [{ key: "key", value: "value", version: "1", status: "deleted" as const }],
    maxVersion: "1",
  }],
};

const EXPECTED: Record<string, MessageJson> = {
  V1: { type: "badCluster" },
  V2: { type: "syn", clusterId: "cluster-a", digest: { nodes: [] } },
  V3: { type: "syn", clusterId: "cluster-a", digest: id1Digest },
  V4: { type: "synAck", digest: { nodes: [] }, delta: { nodeDeltas: [] } },
  V5: { type: "ack", delta: { nodeDeltas: [] } },
  V6: { type: "ack", delta: v6Delta },
  V7: { type: "synAck", digest: id1Digest, delta: v6Delta },
  V8: {
    type: "ack",
    delta: {
      nodeDeltas: [{
        chitchatId: id1,
        lastGcVersion: "80",
        fromVersionExcluded: "50",
        keyValues: [],
        maxVersion: "100",
      }],
    },
  },
  V9: {
    type: "syn",
    clusterId: "default-cluster",
    digest: {
      nodes: [{
        chitchatId: {
          nodeId: "worker:42",
          generationId: "0",
          gossipAdvertiseAddr: { ip: "0.0.0.0", port: 7946 },
        },
        heartbeat: "7",
        lastGcVersion: "0",
        maxVersion: "1",
      }],
    },
  },
  V10: {
    type: "syn",
    clusterId: "c",
    digest: {
      nodes: [{
        chitchatId: {
          nodeId: "n",
          generationId: "1",
          gossipAdvertiseAddr: { ip: "2001:db8::1", port: 7946 },
        },
        heartbeat: "3",
        lastGcVersion: "2",
        maxVersion: "4",
      }],
    },
  },
};

// ---------------------------------------------------------------------------------------------
// A minimal test-only encoder (uncompressed blocks only) for inputs the vectors do not cover.

class Bytes {
  readonly parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v);
    return this;
  }
  u16(v: number): this {
    return this.u8(v & 0xff).u8(v >> 8);
  }
  u64(v: bigint): this {
    for (let i = 0n; i < 8n; i++) this.u8(Number((v >> (8n * i)) & 0xffn));
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.u16(b.length);
    for (const x of b) this.u8(x);
    return this;
  }
  raw(b: Uint8Array): this {
    for (const x of b) this.u8(x);
    return this;
  }
  id(nodeId: string, gen: bigint, ip4: [number, number, number, number], port: number): this {
    return this.str(nodeId).u64(gen).u8(4).raw(new Uint8Array(ip4)).u16(port);
  }
  id6(nodeId: string, gen: bigint, ip6: string, port: number): this {
    return this.str(nodeId).u64(gen).u8(6).raw(hex(ip6)).u16(port);
  }
  done(): Uint8Array {
    return new Uint8Array(this.parts);
  }
}

/** An Ack whose delta is `ops` in one uncompressed block. */
function ackOf(ops: Uint8Array): Uint8Array {
  return new Bytes().raw(hex("53b00002")).u8(2).u16(ops.length).raw(ops).u8(0).done();
}

// ---------------------------------------------------------------------------------------------

Deno.test("InteropPeer decodes the hand-derived vectors V1-V10 of PROTOCOL.md §11.1", async (t) => {
  const peer = await InteropPeer.start();
  try {
    for (const [name, text] of Object.entries(VECTORS)) {
      await t.step(name, async () => {
        const r = await peer.decode(hex(text));
        assert.deepStrictEqual(r.message, EXPECTED[name]);
        // Every block in these vectors is uncompressed, so chitchat re-encodes them unchanged.
        assert.equal(r.reserialized.toHex(), text);
        assert.ok(r.debug.length > 0);
      });
    }
  } finally {
    await peer.close();
  }
});

Deno.test("InteropPeer decode rejects a bad magic with chitchat's error", async () => {
  await using peer = await InteropPeer.start();
  await assert.rejects(peer.decode(hex("ffff0003")), /invalid chitchat magic number/);
  // The peer keeps answering after an error.
  assert.equal((await peer.decode(hex(VECTORS.V1!))).message.type, "badCluster");
});

Deno.test("InteropPeer answers malformed requests with ok:false", async () => {
  await using peer = await InteropPeer.start();
  await assert.rejects(peer.request("no_such_command"), /unknown command/);
  await assert.rejects(peer.request("decode", { hex: "53b0zz" }), /not a hex digit/);
  await assert.rejects(peer.request("decode", {}), /missing argument `hex`/);
  await assert.rejects(peer.decode(hex("53b00002")), /./); // truncated: no delta
  await assert.rejects(peer.nodeState(999), /no running node with handle 999/);
  await assert.rejects(
    peer.nodeStart({ nodeId: "x", seeds: ["10.1.2.3:7946"] }),
    /loopback/,
  );
});

Deno.test("InteropPeer decode reads node ids and strings that need escaping in Debug", async () => {
  await using peer = await InteropPeer.start();
  const nodeId = 'we:ird "node" \\ id\n\t\r\0 é 🦀 \u0301 \u0007:1:[x]';
  const key = "k\"\\'\u{7f}\u{200b}";
  const value = "line1\nline2\u0000\u{10ffff}\u{1f600}";
  const ops = new Bytes()
    .u8(0).id(nodeId, 12345678901234567890n, [10, 0, 0, 1], 65535).u64(3n).u64(2n)
    .u8(1).str(key).str(value).u64(4n).u8(2)
    .u8(1).str("").str("").u64(5n).u8(1)
    .u8(0).id6("v6", 0n, "00000000000000000000ffff01020304", 1).u64(0n).u64(0n)
    .u8(2).u64(9n)
    .done();
  const r = await peer.decode(ackOf(ops));
  const expected: MessageJson = {
    type: "ack",
    delta: {
      nodeDeltas: [
        {
          chitchatId: {
            nodeId,
            generationId: "12345678901234567890",
            gossipAdvertiseAddr: { ip: "10.0.0.1", port: 65535 },
          },
          lastGcVersion: "3",
          fromVersionExcluded: "2",
          keyValues: [
            { key, value, version: "4", status: "deleteAfterTtl" },
            { key: "", value: "", version: "5", status: "deleted" },
          ],
          maxVersion: "5",
        },
        {
          chitchatId: {
            nodeId: "v6",
            generationId: "0",
            gossipAdvertiseAddr: { ip: "::ffff:1.2.3.4", port: 1 },
          },
          lastGcVersion: "0",
          fromVersionExcluded: "0",
          keyValues: [],
          maxVersion: "9",
        },
      ],
    },
  };
  assert.deepStrictEqual(r.message, expected);
});

Deno.test("InteropPeer decode refuses node ids it cannot read back from Debug text", async () => {
  await using peer = await InteropPeer.start();
  // The documented limitation (interop/src/debug_text.rs): a node id containing the text
  // that follows it in chitchat's Debug output. It must be an error, never a wrong decode.
  const inDelta = new Bytes()
    .u8(0).id("a, from_version_excluded: 1", 0n, [127, 0, 0, 1], 1).u64(0n).u64(0n)
    .u8(2).u64(1n)
    .done();
  await assert.rejects(peer.decode(ackOf(inDelta)), /ChitchatId|Debug text/);
  const inDigest = new Bytes().raw(hex("53b00000")).u16(1)
    .id("b: NodeDigest { heartbeat: Heartbeat(", 0n, [127, 0, 0, 1], 1)
    .u64(0n).u64(0n).u64(0n).str("c")
    .done();
  await assert.rejects(peer.decode(inDigest), /ChitchatId|Debug text/);
});

Deno.test("InteropPeer decode re-serializes a delta that chitchat would compress", async () => {
  await using peer = await InteropPeer.start();
  // The spec's V11 ops (zlayer's first PeerInfo): chitchat compresses this block, so the
  // uncompressed input cannot come back byte for byte; chitchat's own bytes must still decode
  // to the same message.
  const b64 = "eyJub2RlX2lkIjo0Miwid2dfcHVia2V5IjoiIiwid2dfZW5kcG9pbnQiOiIwLjAuMC4wOjAiLCJvdmVy" +
    "bGF5X2lwIjoiIiwibGFiZWxzIjp7fX0";
  const ops = new Bytes()
    .u8(0).id("worker:42", 0n, [0, 0, 0, 0], 7946).u64(0n).u64(0n)
    .u8(1).str("worker:42").str(b64).u64(1n).u8(0)
    .done();
  assert.equal(ops.length, 177);
  const input = ackOf(ops);
  const r = await peer.decode(input);
  assert.equal(r.reserialized[4], 1, "chitchat's writer should pick a compressed block");
  assert.ok(r.reserialized.length < input.length);
  const again = await peer.decode(r.reserialized);
  assert.deepStrictEqual(again.message, r.message);
  assert.deepStrictEqual(again.reserialized, r.reserialized);
  const bench = await peer.benchCodec(input, 20);
  assert.equal(bench.bytes, input.length);
  assert.ok(bench.decodeNsPerOp > 0 && bench.encodeNsPerOp > 0);
});

Deno.test("messageToJson() gives the peer's JSON shape for a hearsay message", async () => {
  await using peer = await InteropPeer.start();
  const id = {
    nodeId: "node-10001",
    generationId: 0n,
    gossipAdvertiseAddr: id1.gossipAdvertiseAddr,
  };
  const msg: ChitchatMessage = {
    type: "synAck",
    digest: { nodes: [{ chitchatId: id, heartbeat: 0n, lastGcVersion: 0n, maxVersion: 0n }] },
    delta: {
      nodeDeltas: [{
        chitchatId: id,
        lastGcVersion: 0n,
        fromVersionExcluded: 0n,
        keyValues: [{ key: "key", value: "value", version: 1n, status: "deleted" }],
        maxVersion: 1n,
      }],
    },
  };
  assert.deepStrictEqual(messageToJson(msg), EXPECTED.V7);
  assert.deepStrictEqual((await peer.decode(hex(V7))).message, messageToJson(msg));
});

Deno.test("sortDigestJson() orders and merges a digest the way chitchat's parser does", async () => {
  await using peer = await InteropPeer.start();
  // Spec §11.2 item 2, plus a duplicate id (the last one wins in Rust's BTreeMap).
  const entries: [string, bigint, "v4" | "v6", number, bigint][] = [
    ["b", 0n, "v4", 7000, 1n],
    ["a", 5n, "v6", 7000, 2n],
    ["a", 5n, "v4", 7000, 3n],
    ["a", 10n, "v4", 6999, 4n],
    ["é", 0n, "v4", 1, 5n],
    ["z", 0n, "v4", 1, 6n],
    ["b", 0n, "v4", 7000, 7n],
  ];
  const body = new Bytes().u16(entries.length);
  const input: NodeDigestJson[] = [];
  for (const [nodeId, gen, family, port, hb] of entries) {
    if (family === "v4") body.id(nodeId, gen, [10, 0, 0, 1], port);
    else body.id6(nodeId, gen, "00000000000000000000000000000001", port);
    body.u64(hb).u64(0n).u64(0n);
    input.push({
      chitchatId: {
        nodeId,
        generationId: gen.toString(),
        gossipAdvertiseAddr: { ip: family === "v4" ? "10.0.0.1" : "::1", port },
      },
      heartbeat: hb.toString(),
      lastGcVersion: "0",
      maxVersion: "0",
    });
  }
  body.str("c");
  const bytes = new Bytes().raw(hex("53b00000")).raw(body.done()).done();
  const r = await peer.decode(bytes);
  assert.equal(r.message.type, "syn");
  const expected = sortDigestJson({ nodes: input });
  assert.deepStrictEqual(
    expected.nodes.map((n) => `${n.chitchatId.nodeId}/${n.heartbeat}`),
    ["a/3", "a/2", "a/4", "b/7", "z/6", "é/5"],
  );
  if (r.message.type === "syn") assert.deepStrictEqual(r.message.digest, expected);
});

// ---------------------------------------------------------------------------------------------
// Real chitchat nodes.

const FAST = {
  gossipIntervalMs: 100,
  initialIntervalMs: 100,
  maxIntervalMs: 1_000,
  clusterId: "interop-peer-test",
};

/** Polls `probe` until it returns a value (not undefined) or `timeoutMs` passes. */
async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function sameId(a: ChitchatIdJson, b: ChitchatIdJson): boolean {
  return compareChitchatIdJson(a, b) === 0 && a.nodeId === b.nodeId;
}

function assertStateShape(state: ClusterStateJson): void {
  const isU64 = (s: unknown) => typeof s === "string" && /^\d+$/.test(s);
  const isId = (id: ChitchatIdJson) =>
    typeof id.nodeId === "string" && isU64(id.generationId) &&
    typeof id.gossipAdvertiseAddr.ip === "string" &&
    Number.isInteger(id.gossipAdvertiseAddr.port);
  assert.ok(isId(state.self));
  for (const list of [state.live, state.dead, state.scheduledForDeletion]) {
    assert.ok(Array.isArray(list) && list.every(isId));
  }
  for (const node of state.nodes) {
    assert.deepStrictEqual(
      Object.keys(node).sort(),
      ["chitchatId", "heartbeat", "keyValues", "lastGcVersion", "maxVersion"],
    );
    assert.ok(isId(node.chitchatId));
    assert.ok(isU64(node.heartbeat) && isU64(node.maxVersion) && isU64(node.lastGcVersion));
    for (const kv of node.keyValues) {
      assert.ok(typeof kv.key === "string" && typeof kv.value === "string" && isU64(kv.version));
      assert.ok(["set", "deleted", "deleteAfterTtl"].includes(kv.status));
    }
  }
}

Deno.test("InteropPeer runs two chitchat nodes that gossip on loopback", async () => {
  await using peer = await InteropPeer.start();
  const a = await peer.nodeStart({
    nodeId: "rust-a",
    generationId: 7n,
    ...FAST,
    initialKeyValues: [["role", "a"]],
  });
  assert.equal(a.chitchatId.nodeId, "rust-a");
  assert.equal(a.chitchatId.generationId, "7");
  assert.equal(a.chitchatId.gossipAdvertiseAddr.ip, "127.0.0.1");
  const aAddr = `127.0.0.1:${a.chitchatId.gossipAdvertiseAddr.port}`;
  const b = await peer.nodeStart({ nodeId: "rust-b", ...FAST, seeds: [aAddr] });
  try {
    // Each sees the other live.
    for (const [me, other] of [[a, b], [b, a]] as const) {
      await eventually(`${me.chitchatId.nodeId} sees ${other.chitchatId.nodeId} live`, async () => {
        const s = await peer.nodeState(me.handle);
        return s.live.some((id) => sameId(id, other.chitchatId)) ? s : undefined;
      });
    }

    // A key set on b reaches a; a's initial key reached b.
    await peer.nodeSet(b.handle, "color", "blue");
    const seen = await eventually("a learns b's key", async () => {
      const s = await peer.nodeState(a.handle);
      const bState = s.nodes.find((n) => sameId(n.chitchatId, b.chitchatId));
      return bState?.keyValues.some((kv) => kv.key === "color" && kv.value === "blue")
        ? s
        : undefined;
    });
    assertStateShape(seen);
    assert.deepStrictEqual(seen.self, a.chitchatId);
    assert.deepStrictEqual(seen.live[0], a.chitchatId, "live_nodes() lists self first");
    const bOnA = seen.nodes.find((n) => sameId(n.chitchatId, b.chitchatId))!;
    assert.deepStrictEqual(bOnA.keyValues, [
      { key: "color", value: "blue", version: "1", status: "set" },
    ]);
    assert.equal(bOnA.maxVersion, "1");

    const bView = await peer.nodeState(b.handle);
    assertStateShape(bView);
    const aOnB = bView.nodes.find((n) => sameId(n.chitchatId, a.chitchatId))!;
    assert.deepStrictEqual(aOnB.keyValues, [
      { key: "role", value: "a", version: "1", status: "set" },
    ]);

    // Tombstones are listed, and TTL statuses are reported.
    await peer.nodeDelete(b.handle, "color");
    await peer.nodeSetWithTtl(b.handle, "temp", "x");
    const own = (await peer.nodeState(b.handle)).nodes.find((n) =>
      sameId(n.chitchatId, b.chitchatId)
    )!;
    assert.deepStrictEqual(own.keyValues, [
      { key: "color", value: "", version: "2", status: "deleted" },
      { key: "temp", value: "x", version: "3", status: "deleteAfterTtl" },
    ]);
  } finally {
    await peer.nodeStop(a.handle);
    await peer.nodeKill(b.handle);
  }
  // Released handles are gone.
  await assert.rejects(peer.nodeState(a.handle), /no running node/);
  await assert.rejects(peer.nodeKill(b.handle), /no running node/);
});
