/**
 * Mixed clusters on loopback UDP (issue 12): real chitchat 0.10.1 and 0.13.0 nodes (the interop
 * peer's node runner, `deno task build:interop`) and hearsay nodes, on the V0 and the V1 wire:
 *
 * (a) 0.10.1 + 0.13.0 on V0 + hearsay converge;
 * (b) 0.13.0 on V1 + hearsay on V1, a seedless hearsay node the only seed: everyone learns everyone;
 * (c) a rolling upgrade V0 → V1, one node at a time (restarted with the new version): the cluster
 *     stays whole after every step;
 * (d) a killed node of each kind is found dead by every other kind (and before that, hearsay and
 *     0.13 give a failure-detection timeout of the same order);
 * (e) the pool's PeerInfo (`worker:<id>`, base64url JSON) crosses between hearsay and 0.13 V1.
 *
 * Every wait polls with a deadline and fails saying who misses whom.
 */
import assert from "node:assert/strict";
import { type ChitchatIdJson, InteropPeer, type NodeStartResult } from "../interop/peer.ts";
import { GossipNode } from "../src/node/gossip_node.ts";
import { GossipPool } from "../src/pool/pool.ts";
import type { ChitchatId } from "../src/common/types.ts";

const INTERVAL_MS = 100;
const CLUSTER = "default-cluster"; // the runner's default cluster id

type Kind = "chitchat 0.10.1" | "chitchat 0.13.0" | "hearsay";

/** One running node of any kind, seen through what it reports. */
interface Member {
  readonly name: string;
  readonly kind: Kind;
  readonly version: 0 | 1;
  /** `nodeId/generation/port` of this incarnation. */
  readonly key: string;
  readonly port: number;
  live(): Promise<string[]>;
  dead(): Promise<string[]>;
  /** Stops it at once (chitchat: the task is aborted; hearsay: closed without a word). */
  kill(): Promise<void>;
}

const keyOf = (id: ChitchatId | ChitchatIdJson) =>
  `${id.nodeId}/${id.generationId}/${id.gossipAdvertiseAddr.port}`;

let generation = 1_000;
/** The runner handle of the last chitchat member started. */
let lastHandle = -1;

async function chitchatMember(
  peer: InteropPeer,
  kind: Kind,
  name: string,
  version: 0 | 1,
  seeds: readonly Member[],
  port = 0,
): Promise<Member> {
  const n: NodeStartResult = await peer.nodeStart({
    nodeId: name,
    generationId: String(generation++),
    listenPort: port,
    seeds: seeds.map((s) => `127.0.0.1:${s.port}`),
    gossipIntervalMs: INTERVAL_MS,
    initialIntervalMs: INTERVAL_MS,
    ...(version === 1 ? { protocolVersion: 1 } : {}),
  });
  lastHandle = n.handle;
  return {
    name,
    kind,
    version,
    key: keyOf(n.chitchatId),
    port: n.chitchatId.gossipAdvertiseAddr.port,
    live: async () => (await peer.nodeState(n.handle)).live.map(keyOf),
    dead: async () => (await peer.nodeState(n.handle)).dead.map(keyOf),
    kill: () => peer.nodeKill(n.handle),
  };
}

const hearsayNodes = new Set<GossipNode>();

async function hearsayMember(
  name: string,
  version: 0 | 1,
  seeds: readonly Member[],
  port = 0,
): Promise<Member> {
  const node = await GossipNode.start({
    nodeId: name,
    generationId: BigInt(generation++),
    clusterId: CLUSTER,
    listenAddr: `127.0.0.1:${port}`,
    seeds: seeds.map((s) => `127.0.0.1:${s.port}`),
    gossipIntervalMs: INTERVAL_MS,
    failureDetector: { initialIntervalMs: INTERVAL_MS },
    protocolVersion: version,
    onWarning: (m) => console.error(`${name}: ${m}`),
  });
  hearsayNodes.add(node);
  return {
    name,
    kind: "hearsay",
    version,
    key: keyOf(node.chitchatId),
    port: node.chitchatId.gossipAdvertiseAddr.port,
    live: () => Promise.resolve(node.liveNodes().map(keyOf)),
    dead: () => Promise.resolve(node.deadNodes().map(keyOf)),
    kill: async () => {
      hearsayNodes.delete(node);
      await node.close();
    },
  };
}

async function closeHearsay(): Promise<void> {
  await Promise.all([...hearsayNodes].map((n) => n.close()));
  hearsayNodes.clear();
}

/** Polls `check` (which returns what is still wrong, or undefined) until it holds or
 * `timeoutMs` passes; then fails with the last complaint. */
async function until(what: string, check: () => Promise<string | undefined>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const wrong = await check();
    if (wrong === undefined) return;
    if (Date.now() > deadline) {
      assert.fail(`timed out after ${timeoutMs} ms waiting until ${what}: ${wrong}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const label = (m: Member) => `${m.name} (${m.kind} V${m.version})`;

/** Every member sees every member live (itself included). */
function whole(members: readonly Member[]): () => Promise<string | undefined> {
  return async () => {
    const missing: string[] = [];
    for (const m of members) {
      const live = new Set(await m.live());
      const lacks = members.filter((o) => !live.has(o.key)).map((o) => o.name);
      if (lacks.length > 0) missing.push(`${label(m)} does not see ${lacks.join(", ")}`);
    }
    return missing.length === 0 ? undefined : missing.join("; ");
  };
}

Deno.test("mixed (a): chitchat 0.10.1 + chitchat 0.13.0 on V0 + hearsay converge", async () => {
  await using old = await InteropPeer.start();
  await using v13 = await InteropPeer.start({ version: "0.13.0" });
  try {
    const c10 = await chitchatMember(old, "chitchat 0.10.1", "a-c10", 0, []);
    const c13 = await chitchatMember(v13, "chitchat 0.13.0", "a-c13", 0, [c10]);
    const h1 = await hearsayMember("a-h1", 0, [c10]);
    const h2 = await hearsayMember("a-h2", 0, [c13]);
    const c10b = await chitchatMember(old, "chitchat 0.10.1", "a-c10b", 0, [h1]);
    const c13b = await chitchatMember(v13, "chitchat 0.13.0", "a-c13b", 0, [h2]);
    await until("all six see each other", whole([c10, c13, h1, h2, c10b, c13b]), 10_000);
  } finally {
    await closeHearsay();
  }
});

Deno.test("mixed (b): chitchat 0.13.0 on V1 + hearsay on V1, a seedless hearsay node the only seed", async () => {
  await using v13 = await InteropPeer.start({ version: "0.13.0" });
  try {
    const seed = await hearsayMember("b-seed", 1, []);
    const members = [seed];
    for (let i = 0; i < 3; i++) {
      members.push(await chitchatMember(v13, "chitchat 0.13.0", `b-c13-${i}`, 1, [seed]));
    }
    members.push(await hearsayMember("b-h1", 1, [seed]));
    await until("everyone learns everyone through the hearsay seed", whole(members), 10_000);
  } finally {
    await closeHearsay();
  }
});

Deno.test("mixed (c): a rolling upgrade V0 → V1, one node at a time; the cluster stays whole", async () => {
  await using v13 = await InteropPeer.start({ version: "0.13.0" });
  try {
    const h0 = await hearsayMember("c-h0", 0, []);
    const c0 = await chitchatMember(v13, "chitchat 0.13.0", "c-c0", 0, [h0]);
    const members: Member[] = [
      h0,
      c0,
      await hearsayMember("c-h1", 0, [h0, c0]),
      await chitchatMember(v13, "chitchat 0.13.0", "c-c1", 0, [h0, c0]),
    ];
    await until("the V0 cluster is whole", whole(members), 10_000);
    // Upgrade in the order c0, c-h1, c-c1, then the seed h0 itself; each restarts on its port
    // with a new generation, seeded like before.
    for (const i of [1, 2, 3, 0]) {
      const m = members[i]!;
      await m.kill();
      const seeds = i === 0 ? [] : [h0, c0];
      members[i] = m.kind === "hearsay"
        ? await hearsayMember(m.name, 1, seeds, m.port)
        : await chitchatMember(v13, m.kind, m.name, 1, seeds, m.port);
      const versions = members.map((x) => `${x.name} V${x.version}`).join(", ");
      await until(
        `the cluster is whole again after upgrading ${m.name} (${versions})`,
        whole(members),
        10_000,
      );
    }
    assert.ok(members.every((m) => m.version === 1));
  } finally {
    await closeHearsay();
  }
});

Deno.test("mixed (d): a killed node of each kind is found dead by every other kind", async () => {
  await using old = await InteropPeer.start();
  await using v13 = await InteropPeer.start({ version: "0.13.0" });
  try {
    // The V1 nodes are seeded by the hearsay V0 node, which reads V1 (0.10.1 would drop them).
    const ha = await hearsayMember("d-ha", 0, []);
    const haNode = () => [...hearsayNodes].find((n) => keyOf(n.chitchatId) === ha.key)!;
    const a10 = await chitchatMember(old, "chitchat 0.10.1", "d-a10", 0, [ha]);
    const a13 = await chitchatMember(v13, "chitchat 0.13.0", "d-a13", 0, [ha]);
    const a13Handle = lastHandle;
    const b10 = await chitchatMember(old, "chitchat 0.10.1", "d-b10", 0, [ha]);
    const b13 = await chitchatMember(v13, "chitchat 0.13.0", "d-b13", 1, [ha]);
    const hb = await hearsayMember("d-hb", 1, [ha]);
    await until("the six see each other", whole([ha, a10, a13, b10, b13, hb]), 10_000);
    // The failure-detection timeout (0.12+), as hearsay and chitchat 0.13 compute it for the
    // same kind of peer: both about phi 8 × the ~100 ms heartbeat interval.
    const rustState = await v13.nodeState(a13Handle);
    const rustTimeout = rustState.nodes.find((n) => keyOf(n.chitchatId) === ha.key)
      ?.failureDetectionTimeoutMs;
    const oursTimeout = haNode().failureDetectionTimeoutMs(
      haNode().liveNodes().find((id) => keyOf(id) === a13.key)!,
    );
    for (const [who, t] of [["chitchat 0.13", rustTimeout], ["hearsay", oursTimeout]] as const) {
      assert.ok(typeof t === "number" && t >= 100 && t <= 2_000, `${who}'s timeout: ${t} ms`);
    }
    const killed = [b10, b13, hb];
    const survivors = [ha, a10, a13];
    await Promise.all(killed.map((k) => k.kill()));
    await until("every survivor finds every killed node dead", async () => {
      const wrong: string[] = [];
      for (const s of survivors) {
        const live = new Set(await s.live());
        const dead = new Set(await s.dead());
        for (const k of killed) {
          if (live.has(k.key) || !dead.has(k.key)) {
            wrong.push(`${label(s)} still has ${label(k)} live`);
          }
        }
        for (const o of survivors) {
          if (!live.has(o.key)) wrong.push(`${label(s)} lost survivor ${o.name}`);
        }
      }
      return wrong.length === 0 ? undefined : wrong.join("; ");
    }, 15_000);
  } finally {
    await closeHearsay();
  }
});

Deno.test("mixed (e): the pool's PeerInfo crosses between hearsay and chitchat 0.13 V1 nodes", async () => {
  await using v13 = await InteropPeer.start({ version: "0.13.0" });
  const pool = await GossipPool.start({
    nodeId: 1n,
    clusterId: CLUSTER,
    gossipListen: "127.0.0.1:0",
    seeds: [],
    gossipIntervalMs: INTERVAL_MS,
    failureDetector: { initialIntervalMs: INTERVAL_MS },
    protocolVersion: 1,
    selfInfo: {
      nodeId: 1n,
      wgPubkey: "hearsay-key",
      wgEndpoint: "127.0.0.1:51820",
      overlayIp: "10.200.0.1",
      labels: { kind: "hearsay" },
    },
  });
  try {
    const rust = await v13.nodeStart({
      nodeId: "worker:2",
      seeds: [pool.gossipAddr],
      gossipIntervalMs: INTERVAL_MS,
      initialIntervalMs: INTERVAL_MS,
      protocolVersion: 1,
    });
    await v13.request("zlayer_announce", {
      handle: rust.handle,
      info: {
        nodeId: "2",
        wgPubkey: "rust-key",
        wgEndpoint: "127.0.0.1:51821",
        overlayIp: "10.200.0.2",
        labels: { kind: "chitchat" },
      },
    });
    // hearsay reads chitchat's.
    await until("the pool lists worker 2", () => {
      const p = pool.peers().find((x) => x.nodeId === 2n);
      return Promise.resolve(p === undefined ? `peers: ${pool.peers().length}` : undefined);
    }, 10_000);
    assert.deepEqual(pool.peers().find((x) => x.nodeId === 2n), {
      nodeId: 2n,
      wgPubkey: "rust-key",
      wgEndpoint: "127.0.0.1:51821",
      overlayIp: "10.200.0.2",
      labels: { kind: "chitchat" },
    });
    // chitchat reads hearsay's (zlayer's peers() walk in Rust, serde + base64url).
    type Peers = { peers: Record<string, unknown>[]; errors: string[] };
    let seen: Peers | undefined;
    await until("chitchat 0.13 lists worker 1", async () => {
      seen = await v13.request<Peers>("zlayer_peers", { handle: rust.handle });
      return seen.peers.length > 0 ? undefined : `errors: ${JSON.stringify(seen.errors)}`;
    }, 10_000);
    assert.deepEqual(seen!.errors, []);
    const { owner: _owner, ...info } = seen!.peers[0]!;
    assert.deepEqual(info, {
      nodeId: "1",
      wgPubkey: "hearsay-key",
      wgEndpoint: "127.0.0.1:51820",
      overlayIp: "10.200.0.1",
      labels: { kind: "hearsay" },
    });
    await v13.nodeKill(rust.handle);
  } finally {
    await pool.close();
  }
});
