/**
 * Real chitchat 0.13.0 nodes on loopback UDP (the interop peer's `hearsay-interop-v013`), seen
 * from a raw socket of ours and next to chitchat 0.10.1: the version of the Syns a node sends
 * (`protocolVersion`), the version of its replies (always the version of the message answered),
 * what 0.10.1 does with V1, the per-node failure-detection timeout, zlayer's PeerInfo and the
 * in-process simulation on both wires. Needs `deno task build:interop`.
 */
import assert from "node:assert/strict";
import {
  type ChitchatIdJson,
  InteropPeer,
  type MessageJson,
  type NodeStartResult,
  type ProtocolVersion,
} from "../interop/peer.ts";

const FAST = { gossipIntervalMs: 100, initialIntervalMs: 100 };

async function eventually<T>(
  what: string,
  f: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sameId = (a: ChitchatIdJson, b: ChitchatIdJson) =>
  a.nodeId === b.nodeId && a.generationId === b.generationId &&
  a.gossipAdvertiseAddr.port === b.gossipAdvertiseAddr.port;

const addrOf = (n: NodeStartResult) => `127.0.0.1:${n.chitchatId.gossipAdvertiseAddr.port}`;

/** A raw UDP socket of ours on 127.0.0.1 that queues what it receives. */
class Inbox {
  readonly conn: Deno.DatagramConn;
  readonly #queue: { data: Uint8Array; port: number }[] = [];
  #wake: (() => void) | undefined;
  readonly #loop: Promise<void>;

  constructor() {
    const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    this.conn = conn;
    this.#loop = (async () => {
      try {
        for await (const [data, addr] of conn) {
          this.#queue.push({ data, port: (addr as Deno.NetAddr).port });
          this.#wake?.();
        }
      } catch {
        // Closed.
      }
    })();
  }

  get addr(): string {
    return `127.0.0.1:${(this.conn.addr as Deno.NetAddr).port}`;
  }

  send(bytes: Uint8Array, port: number): Promise<number> {
    return this.conn.send(bytes, { transport: "udp", hostname: "127.0.0.1", port });
  }

  /** The next datagram from `port` whose message type byte is `type`, or undefined after
   * `timeoutMs`; other datagrams are dropped. */
  async next(port: number, type: number, timeoutMs = 3_000): Promise<Uint8Array | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.#queue.findIndex((d) => d.port === port && d.data[3] === type);
      if (i >= 0) return this.#queue.splice(i, 1)[0]!.data;
      this.#queue.length = 0;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async close(): Promise<void> {
    this.conn.close();
    await this.#loop;
  }
}

const SYN = 0, SYN_ACK = 1, ACK = 2, BAD_CLUSTER = 3;

function syn(clusterId = "default-cluster"): MessageJson {
  return { type: "syn", clusterId, digest: { nodes: [] } };
}

Deno.test("v013 nodes: a node answers a Syn in the Syn's version, whatever its own", async () => {
  await using peer = await InteropPeer.start({ version: "0.13.0" });
  const inbox = new Inbox();
  const nodes: NodeStartResult[] = [];
  try {
    for (const own of [0, 1] as ProtocolVersion[]) {
      const node = await peer.nodeStart({ nodeId: `n-v${own}`, ...FAST, protocolVersion: own });
      nodes.push(node);
      const state = await peer.nodeState(node.handle);
      assert.equal(state.chitchatVersion, "0.13.0");
      assert.equal(state.protocolVersion, own);
      const port = node.chitchatId.gossipAdvertiseAddr.port;
      for (const v of [0, 1] as ProtocolVersion[]) {
        await inbox.send((await peer.encode(syn(), v)).bytes, port);
        const reply = await inbox.next(port, SYN_ACK);
        assert.ok(reply !== undefined, `a V${own} node answers a V${v} Syn`);
        assert.equal(reply[2], v, `a V${own} node answers a V${v} Syn in V${v}`);
        const d = await peer.decode(reply);
        assert.ok(d.message.type === "synAck");
        assert.ok(d.message.digest.nodes.some((e) => sameId(e.chitchatId, node.chitchatId)));
        // A Syn for another cluster: BadCluster, in the Syn's version too.
        await inbox.send((await peer.encode(syn("other"), v)).bytes, port);
        const bad = await inbox.next(port, BAD_CLUSTER);
        assert.ok(bad !== undefined);
        assert.equal([...bad].map((b) => b.toString(16).padStart(2, "0")).join(""), `53b00${v}03`);
      }
    }
  } finally {
    for (const n of nodes) await peer.nodeKill(n.handle);
    await inbox.close();
  }
});

Deno.test("v013 nodes: Syns go out in the configured version; the Ack echoes the SynAck's", async () => {
  await using peer = await InteropPeer.start({ version: "0.13.0" });
  const inbox = new Inbox();
  const nodes: NodeStartResult[] = [];
  try {
    for (const own of [0, 1] as ProtocolVersion[]) {
      const node = await peer.nodeStart({
        nodeId: `seeded-v${own}`,
        ...FAST,
        seeds: [inbox.addr],
        protocolVersion: own,
      });
      nodes.push(node);
      const port = node.chitchatId.gossipAdvertiseAddr.port;
      const s = await inbox.next(port, SYN);
      assert.ok(s !== undefined, "the node gossips to its seed");
      assert.equal(s[2], own, `a V${own} node's Syn`);
      const theirSyn = await peer.decode(s);
      assert.ok(theirSyn.message.type === "syn");
      for (const v of [0, 1] as ProtocolVersion[]) {
        const synAck: MessageJson = {
          type: "synAck",
          digest: theirSyn.message.digest,
          delta: { nodeDeltas: [] },
        };
        await inbox.send((await peer.encode(synAck, v)).bytes, port);
        const ack = await inbox.next(port, ACK);
        assert.ok(ack !== undefined, `the node acks a V${v} SynAck`);
        assert.equal(ack[2], v, `a V${own} node acks a V${v} SynAck in V${v}`);
      }
    }
  } finally {
    for (const n of nodes) await peer.nodeKill(n.handle);
    await inbox.close();
  }
});

Deno.test("v013 nodes: chitchat 0.10.1 drops V1 Syns without a word and answers V0", async () => {
  await using old = await InteropPeer.start();
  await using peer = await InteropPeer.start({ version: "0.13.0" });
  const inbox = new Inbox();
  const node = await old.nodeStart({ nodeId: "old", ...FAST });
  try {
    const port = node.chitchatId.gossipAdvertiseAddr.port;
    await inbox.send((await peer.encode(syn(), 1)).bytes, port);
    assert.equal(await inbox.next(port, SYN_ACK, 700), undefined, "no answer to V1");
    await inbox.send((await peer.encode(syn(), 0)).bytes, port);
    const reply = await inbox.next(port, SYN_ACK);
    assert.ok(reply !== undefined && reply[2] === 0, "a V0 answer to V0");
  } finally {
    await old.nodeKill(node.handle);
    await inbox.close();
  }
});

Deno.test("v013 nodes: a V1 node seeded only by a 0.10.1 node stays alone; on V0 it joins", async () => {
  await using old = await InteropPeer.start();
  await using peer = await InteropPeer.start({ version: "0.13.0" });
  const seed = await old.nodeStart({ nodeId: "seed-0.10.1", ...FAST });
  const v1 = await peer.nodeStart({
    nodeId: "z-v1",
    ...FAST,
    seeds: [addrOf(seed)],
    protocolVersion: 1,
  });
  const v0 = await peer.nodeStart({
    nodeId: "y-v0",
    ...FAST,
    seeds: [addrOf(seed)],
    protocolVersion: 0,
  });
  try {
    // The V0 node joins the 0.10.1 seed.
    await eventually("the 0.13 V0 node and the 0.10.1 seed see each other", async () => {
      const a = await old.nodeState(seed.handle);
      const b = await peer.nodeState(v0.handle);
      return a.live.length === 2 && b.live.length === 2 ? true : undefined;
    });
    // The V1 node's Syns all go to the seed, which drops them: nobody ever learns of it, and
    // it learns of nobody (it has no other address).
    await new Promise((r) => setTimeout(r, 1_500));
    const alone = await peer.nodeState(v1.handle);
    assert.deepEqual(alone.live.map((id) => id.nodeId), ["z-v1"]);
    assert.deepEqual(alone.nodes.map((n) => n.chitchatId.nodeId), ["z-v1"]);
    const seedView = await old.nodeState(seed.handle);
    assert.ok(!seedView.nodes.some((n) => n.chitchatId.nodeId === "z-v1"));
    // A 0.13 node on V0 decodes V1: seeded by it, a V1 node joins (and the 0.10.1 seed then
    // learns of it through the V0 node, and talks to it in V0).
    const x = await peer.nodeStart({
      nodeId: "x-v1",
      ...FAST,
      seeds: [addrOf(v0)],
      protocolVersion: 1,
    });
    try {
      await eventually("all three of seed, y-v0 and x-v1 see each other", async () => {
        const views = await Promise.all([
          old.nodeState(seed.handle),
          peer.nodeState(v0.handle),
          peer.nodeState(x.handle),
        ]);
        return views.every((s) => s.live.length === 3) ? true : undefined;
      });
    } finally {
      await peer.nodeKill(x.handle);
    }
  } finally {
    await old.nodeKill(seed.handle);
    await peer.nodeKill(v1.handle);
    await peer.nodeKill(v0.handle);
  }
});

Deno.test("v013 nodes: failureDetectionTimeoutMs per node (0.13 only), null for self and the dead", async () => {
  await using peer = await InteropPeer.start({ version: "0.13.0" });
  const a = await peer.nodeStart({ nodeId: "fd-a", ...FAST, protocolVersion: 1 });
  const b = await peer.nodeStart({
    nodeId: "fd-b",
    ...FAST,
    seeds: [addrOf(a)],
    protocolVersion: 1,
  });
  try {
    // (A node heard of once is first listed dead, with no interval sample: wait until it is live.)
    const seen = await eventually("a sees b live and has a timeout for it", async () => {
      const s = await peer.nodeState(a.handle);
      const bOnA = s.nodes.find((n) => sameId(n.chitchatId, b.chitchatId));
      return typeof bOnA?.failureDetectionTimeoutMs === "number" &&
          s.live.some((id) => sameId(id, b.chitchatId))
        ? s
        : undefined;
    });
    const self = seen.nodes.find((n) => sameId(n.chitchatId, a.chitchatId))!;
    assert.equal(self.failureDetectionTimeoutMs, null, "none for self");
    const timeout = seen.nodes.find((n) => sameId(n.chitchatId, b.chitchatId))!
      .failureDetectionTimeoutMs!;
    // Mean interval (about 100 ms, smoothed towards the 100 ms prior) times phi 8.
    assert.ok(timeout > 400 && timeout < 2_000, `${timeout} ms`);
    await peer.nodeKill(b.handle);
    const after = await eventually("a declares b dead", async () => {
      const s = await peer.nodeState(a.handle);
      return s.dead.some((id) => sameId(id, b.chitchatId)) &&
          !s.live.some((id) => sameId(id, b.chitchatId))
        ? s
        : undefined;
    });
    const deadB = after.nodes.find((n) => sameId(n.chitchatId, b.chitchatId));
    assert.equal(deadB?.failureDetectionTimeoutMs, null, "samples dropped at death");
  } finally {
    await peer.nodeKill(a.handle);
  }
  // 0.10.1 has no such figure: the field is absent.
  await using old = await InteropPeer.start();
  const c = await old.nodeStart({ nodeId: "fd-old" });
  try {
    const s = await old.nodeState(c.handle);
    assert.equal(s.chitchatVersion, "0.10.1");
    assert.equal(s.protocolVersion, 0);
    assert.ok(!("failureDetectionTimeoutMs" in s.nodes[0]!));
    await assert.rejects(
      old.nodeStart({ nodeId: "v1-on-old", protocolVersion: 1 }),
      /knows only protocol version 0/,
    );
  } finally {
    await old.nodeKill(c.handle);
  }
});

Deno.test("v013 nodes: zlayer's PeerInfo between 0.13 V1 nodes and a 0.10.1 node", async () => {
  await using peer = await InteropPeer.start({ version: "0.13.0" });
  await using old = await InteropPeer.start();
  const a = await peer.nodeStart({ nodeId: "worker:1", ...FAST, protocolVersion: 1 });
  const b = await peer.nodeStart({
    nodeId: "worker:2",
    ...FAST,
    seeds: [addrOf(a)],
    protocolVersion: 1,
  });
  // 0.10.1 joins through a V0 Syn to the V1 node a, which answers in V0.
  const c = await old.nodeStart({ nodeId: "worker:3", ...FAST, seeds: [addrOf(a)] });
  try {
    const info = {
      nodeId: "1",
      wgPubkey: "k1",
      wgEndpoint: "10.0.0.1:51820",
      overlayIp: "10.200.0.1",
      labels: { zone: "a" },
    };
    await peer.request("zlayer_announce", { handle: a.handle, info });
    for (const [p, h] of [[peer, b.handle], [old, c.handle]] as const) {
      const peers = await eventually("the PeerInfo arrives", async () => {
        const r = await p.request<{ peers: { nodeId: string; labels: unknown }[] }>(
          "zlayer_peers",
          { handle: h },
        );
        return r.peers.length > 0 ? r.peers : undefined;
      });
      assert.deepEqual(peers.map((x) => [x.nodeId, x.labels]), [["1", { zone: "a" }]]);
    }
  } finally {
    await peer.nodeKill(a.handle);
    await peer.nodeKill(b.handle);
    await old.nodeKill(c.handle);
  }
});

interface SimAnswer {
  membership: { converged: number; timedOut: boolean };
  traffic?: { bytesPerNodePerSec: number; synPerNodePerSec: number };
  run: { implementation: string; protocolVersion: number };
}

Deno.test("v013 sim: 0.13 clusters converge on V0 and V1; V1 sends fewer bytes", async () => {
  await using peer = await InteropPeer.start({ version: "0.13.0" });
  const sim = (protocolVersion: ProtocolVersion) =>
    peer.request<SimAnswer>("sim_run", {
      numNodes: 30,
      clock: "virtual",
      scenarios: ["membership", "traffic"],
      gossipIntervalMs: 300,
      trafficWindowMs: 3_000,
      protocolVersion,
      wallBudgetMs: 60_000,
    });
  const v0 = await sim(0);
  const v1 = await sim(1);
  for (const [v, r] of [[0, v0], [1, v1]] as const) {
    assert.equal(r.run.implementation, "chitchat 0.13.0");
    assert.equal(r.run.protocolVersion, v);
    assert.equal(r.membership.converged, 30, `V${v} converges`);
    assert.ok(r.traffic !== undefined && r.traffic.synPerNodePerSec > 0);
  }
  console.log(
    `v013 sim, 30 nodes: V0 ${v0.traffic!.bytesPerNodePerSec} B/node/s, ` +
      `V1 ${v1.traffic!.bytesPerNodePerSec} B/node/s`,
  );
  assert.ok(v1.traffic!.bytesPerNodePerSec < v0.traffic!.bytesPerNodePerSec);
  // 0.10.1 refuses V1.
  await using old = await InteropPeer.start();
  await assert.rejects(
    old.request("sim_run", { numNodes: 3, clock: "virtual", protocolVersion: 1 }),
    /knows only protocol version 0/,
  );
});

Deno.test("v013 nodes: a V1 node's SynAck to a V0 Syn overflows when its digest is large", async () => {
  // chitchat 0.12+ reserves room for the SynAck's digest at its size in the node's own version
  // (lib.rs, process_message), but sends the reply in the Syn's version. A V1 node that knows
  // 900 zlayer-style nodes reserves ~9 KB (compressed) and writes ~61 KB (V0): no reply fits.
  await using peer = await InteropPeer.start({ version: "0.13.0" });
  const inbox = new Inbox();
  const inboxPort = (inbox.conn.addr as Deno.NetAddr).port;
  const { encodeMessage } = await import("../src/codec/message.ts");
  // Incompressible values, so that the delta fills its whole budget even compressed.
  const noise = () => crypto.getRandomValues(new Uint8Array(75)).toBase64();
  const acks: Uint8Array[] = [];
  for (let batch = 0; batch < 9; batch++) {
    const nodeDeltas = [];
    const digestNodes = [];
    for (let i = batch * 100; i < batch * 100 + 100; i++) {
      const chitchatId = {
        nodeId: `worker:${10_000_000_000_000_000_000n + BigInt(i)}`,
        generationId: 1n,
        gossipAdvertiseAddr: { ip: "127.0.0.1", port: inboxPort },
      };
      digestNodes.push({ chitchatId, heartbeat: 1n, lastGcVersion: 0n, maxVersion: 1n });
      nodeDeltas.push({
        chitchatId,
        lastGcVersion: 0n,
        fromVersionExcluded: 0n,
        keyValues: [{ key: "info", value: noise(), version: 1n, status: "set" as const }],
        maxVersion: 1n,
      });
    }
    // A SynAck: its digest makes the node create the states (chitchat applies a delta only to
    // nodes it already holds), its delta fills them.
    acks.push(
      encodeMessage({ type: "synAck", digest: { nodes: digestNodes }, delta: { nodeDeltas } }),
    );
  }
  const answers: Record<string, boolean> = {};
  const sizes: string[] = [];
  const nodes: NodeStartResult[] = [];
  try {
    for (const own of [0, 1] as ProtocolVersion[]) {
      const node = await peer.nodeStart({ nodeId: `big-v${own}`, protocolVersion: own });
      nodes.push(node);
      const port = node.chitchatId.gossipAdvertiseAddr.port;
      for (const ack of acks) await inbox.send(ack, port);
      await eventually("the node holds the 900 nodes", async () => {
        const s = await peer.nodeState(node.handle);
        return s.nodes.length === 901 ? true : undefined;
      });
      for (const v of [0, 1] as ProtocolVersion[]) {
        await inbox.send((await peer.encode(syn(), v)).bytes, port);
        const reply = await inbox.next(port, SYN_ACK, 1_500);
        answers[`V${own} node, V${v} Syn`] = reply !== undefined;
        if (reply !== undefined) {
          assert.ok(reply.length <= 65_507);
          const d = await peer.decode(reply);
          assert.ok(d.message.type === "synAck");
          sizes.push(
            `V${own} node, V${v} Syn: ${reply.length} B, ${d.message.digest.nodes.length} ` +
              `digest entries, ${d.message.delta.nodeDeltas.length} node deltas`,
          );
        }
      }
    }
  } finally {
    for (const n of nodes) await peer.nodeKill(n.handle);
    await inbox.close();
  }
  console.log(`SynAck sent: ${JSON.stringify(answers)}\n${sizes.join("\n")}`);
  assert.deepEqual(answers, {
    "V0 node, V0 Syn": true,
    "V0 node, V1 Syn": true,
    "V1 node, V0 Syn": false,
    "V1 node, V1 Syn": true,
  });
});
