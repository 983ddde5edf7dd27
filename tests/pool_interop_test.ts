/**
 * GossipPool against a real chitchat 0.10.1 node that publishes and reads PeerInfo exactly as
 * zlayer's Rust pool does (serde JSON, base64url without padding, `worker:<id>`).
 */
import assert from "node:assert/strict";
import { InteropPeer } from "../interop/peer.ts";
import { GossipPool, type TopologyEvent } from "../src/pool/pool.ts";
import type { PeerInfo } from "../src/pool/peer_info.ts";

const INTERVAL = 100;
const BIG = 9007199254740993n; // 2^53 + 1: a float would round it

interface RustPeer {
  nodeId: string;
  wgPubkey: string;
  wgEndpoint: string;
  overlayIp: string;
  labels: Record<string, string>;
  owner: { nodeId: string };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function info(id: bigint, extra: Partial<PeerInfo> = {}): PeerInfo {
  return {
    nodeId: id,
    wgPubkey: `key-${id}`,
    wgEndpoint: id % 2n ? `10.0.0.${id}:51820` : "[2001:db8::5]:51820",
    overlayIp: `10.200.0.${id}`,
    labels: { zone: "a", edge_cache: "true", "edge_cache_geo": "eu-west" },
    ...extra,
  };
}

Deno.test("GossipPool and zlayer's Rust pool read each other's PeerInfo", async () => {
  const peer = await InteropPeer.start();
  const pools: GossipPool[] = [];
  try {
    const rust = await peer.request<
      { handle: number; chitchatId: { gossipAdvertiseAddr: { port: number } } }
    >(
      "node_start",
      {
        nodeId: `worker:${BIG}`,
        generationId: "0",
        listenPort: 0,
        clusterId: "zl",
        gossipIntervalMs: INTERVAL,
        initialIntervalMs: INTERVAL,
      },
    );
    await peer.request("zlayer_announce", {
      handle: rust.handle,
      info: {
        nodeId: String(BIG),
        wgPubkey: "rust-key",
        wgEndpoint: "[::1]:51820",
        overlayIp: "10.200.0.99",
        labels: { a: "1", b: "2", c: "3", d: "4" },
      },
    });
    const seed = `127.0.0.1:${rust.chitchatId.gossipAdvertiseAddr.port}`;
    const common = {
      gossipListen: "127.0.0.1:0",
      seeds: [seed],
      clusterId: "zl",
      gossipIntervalMs: INTERVAL,
      failureDetector: { initialIntervalMs: INTERVAL },
    };
    const warnings: string[] = [];
    const one = await GossipPool.start({
      ...common,
      nodeId: 1n,
      selfInfo: info(1n),
      onWarning: (m) => warnings.push(m),
    });
    pools.push(one);
    const two = await GossipPool.start({ ...common, nodeId: 2n, selfInfo: info(2n) });
    pools.push(two);
    const events: TopologyEvent[] = [];
    const reading = (async () => {
      for await (const e of one.subscribe()) events.push(e);
    })();

    // hearsay reads zlayer's value (serde field order, random HashMap label order, u64 > 2^53).
    await waitFor("pool one sees the Rust worker", () => one.peers().some((p) => p.nodeId === BIG));
    assert.deepEqual(one.peers().find((p) => p.nodeId === BIG), {
      nodeId: BIG,
      wgPubkey: "rust-key",
      wgEndpoint: "[::1]:51820",
      overlayIp: "10.200.0.99",
      labels: { a: "1", b: "2", c: "3", d: "4" },
    });

    // zlayer's reader (serde, URL_SAFE_NO_PAD) accepts ours.
    const rustPeers =
      async () => (await peer.request<{ peers: RustPeer[]; errors: string[] }>("zlayer_peers", {
        handle: rust.handle,
      }));
    await waitFor("Rust reads both pools", async () => (await rustPeers()).peers.length === 2);
    const seen = await rustPeers();
    assert.deepEqual(seen.errors, []);
    const two1 = seen.peers.find((p) => p.nodeId === "2")!;
    assert.deepEqual(
      { ...two1, owner: two1.owner.nodeId },
      {
        nodeId: "2",
        wgPubkey: "key-2",
        wgEndpoint: "[2001:db8::5]:51820",
        overlayIp: "10.200.0.2",
        labels: info(2n).labels,
        owner: "worker:2",
      },
    );

    // A key rotation reaches the Rust reader.
    one.announceSelf(info(1n, { wgPubkey: "rotated" }));
    await waitFor(
      "Rust sees the rotation",
      async () =>
        (await rustPeers()).peers.some((p) => p.nodeId === "1" && p.wgPubkey === "rotated"),
    );

    // A graceful leave: zlayer's peers() drops the worker at once (its key is a tombstone),
    // and hearsay says "left" with reason "left".
    await two.close();
    pools.splice(pools.indexOf(two), 1);
    await waitFor(
      "Rust drops worker 2",
      async () => (await rustPeers()).peers.every((p) => p.nodeId !== "2"),
    );
    await waitFor(
      "pool one sees worker 2 leave",
      () => events.some((e) => e.type === "left" && e.nodeId === 2n && e.reason === "left"),
    );

    // A malformed value from the Rust side is reported once and hides nothing else.
    await peer.request("node_set", { handle: rust.handle, key: "worker:77", value: "%%%" });
    await waitFor("malformed counted", () => one.malformedPeerInfos === 1);
    assert.ok(one.peers().some((p) => p.nodeId === BIG));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /worker:77 .*not base64url/);
    await one.close();
    await reading;
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await peer.close();
  }
});
