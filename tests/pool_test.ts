/**
 * GossipPool semantics on the in-memory network with a virtual clock.
 */
import assert from "node:assert/strict";
import { GossipPool, type TopologyEvent } from "../src/pool/pool.ts";
import type { PeerInfo } from "../src/pool/peer_info.ts";
import { createRandom } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import { Sim } from "../sim/memory_cluster.ts";

function info(id: bigint, extra: Partial<PeerInfo> = {}): PeerInfo {
  return {
    nodeId: id,
    wgPubkey: `pub-${id}`,
    wgEndpoint: `127.0.0.1:${51_000 + Number(id % 1000n)}`,
    overlayIp: `10.0.0.${id % 250n}`,
    labels: {},
    ...extra,
  };
}

class PoolSim {
  readonly clock = new VirtualClock();
  readonly net = new MemoryNetwork({ clock: this.clock, seed: 42, delayMs: { min: 1, max: 5 } });
  readonly pools = new Map<bigint, GossipPool>();
  readonly warnings: string[] = [];
  #seed = 1;

  async start(id: bigint, i: number, extra: { generationId?: bigint } = {}): Promise<GossipPool> {
    const pool = await GossipPool.start({
      nodeId: id,
      gossipListen: "127.0.0.1:7946",
      seeds: i === 0 ? [] : ["127.0.0.1:7946"],
      clusterId: "pool",
      selfInfo: info(id),
      generationId: extra.generationId ?? 0n,
      gossipIntervalMs: 1000,
      failureDetector: { deadNodeGracePeriodMs: 60_000 },
      transport: this.net.bind(Sim.addr(i)),
      clock: this.clock,
      random: createRandom(this.#seed++),
      onWarning: (m) => this.warnings.push(m),
    });
    this.pools.set(id, pool);
    return pool;
  }

  async until(predicate: () => boolean, maxMs: number): Promise<number> {
    const start = this.clock.now();
    while (!predicate()) {
      if (this.clock.now() - start > maxMs) throw new Error(`not within ${maxMs} ms`);
      this.clock.advance(100);
      await Promise.resolve();
    }
    return this.clock.now() - start;
  }

  allSeeAll(): boolean {
    const ids = [...this.pools.keys()];
    return [...this.pools.values()].every((p) => {
      const seen = new Set(p.peers().map((x) => x.nodeId));
      return ids.every((id) => id === p.nodeId || seen.has(id));
    });
  }

  /** Closes pools while advancing virtual time, so graceful leaves can finish. */
  async closePools(pools: GossipPool[]): Promise<void> {
    let done = false;
    const closing = Promise.all(pools.map((p) => p.close())).then(() => (done = true));
    while (!done) {
      this.clock.advance(50);
      await new Promise((r) => setTimeout(r, 0));
    }
    await closing;
  }

  close(): Promise<void> {
    return this.closePools([...this.pools.values()]);
  }
}

async function collect(it: AsyncIterableIterator<TopologyEvent>, into: TopologyEvent[]) {
  for await (const e of it) into.push(e);
}

Deno.test("GossipPool.peers() lists every other live worker, never self", async () => {
  const sim = new PoolSim();
  for (let i = 0; i < 5; i++) await sim.start(BigInt(i + 1), i);
  await sim.until(() => sim.allSeeAll(), 30_000);
  const p1 = sim.pools.get(1n)!;
  assert.deepEqual(p1.peers().map((p) => p.nodeId).sort(), [2n, 3n, 4n, 5n]);
  assert.deepEqual(p1.peers().find((p) => p.nodeId === 3n), info(3n));
  assert.equal(p1.clusterId, "pool");
  await sim.close();
});

Deno.test("GossipPool.subscribe() replays current peers, then joined/updated/left without gaps", async () => {
  const sim = new PoolSim();
  const a = await sim.start(1n, 0);
  await sim.start(2n, 1);
  await sim.until(() => sim.allSeeAll(), 30_000);
  const events: TopologyEvent[] = [];
  const done = collect(a.subscribe(), events);
  await Promise.resolve();
  assert.deepEqual(events, [{ type: "joined", peer: info(2n) }]);
  // A third worker joins, the second rotates its key, then leaves gracefully.
  const c = await sim.start(3n, 2);
  await sim.until(() => a.peers().length === 2, 30_000);
  sim.pools.get(2n)!.announceSelf(info(2n, { wgPubkey: "rotated" }));
  await sim.until(() => a.peers().find((p) => p.nodeId === 2n)?.wgPubkey === "rotated", 10_000);
  const leaving = sim.pools.get(2n)!.close();
  await sim.until(() => a.peers().length === 1, 10_000);
  await leaving;
  sim.pools.delete(2n);
  // The third crashes (no goodbye): the failure detector reports it.
  await c.node.close();
  sim.pools.delete(3n);
  await sim.until(() => events.some((e) => e.type === "left" && e.nodeId === 3n), 60_000);
  await sim.close();
  await done;
  const brief = events.map((e) =>
    e.type === "left" ? `left ${e.nodeId} ${e.reason}` : `${e.type} ${e.peer.nodeId}`
  );
  assert.deepEqual(brief, [
    "joined 2",
    "joined 3",
    "updated 2",
    "left 2 left",
    "left 3 failed",
  ]);
  const updated = events[2] as { peer: PeerInfo };
  assert.equal(updated.peer.wgPubkey, "rotated");
});

Deno.test("GossipPool emits joined again when a failed worker comes back", async () => {
  const sim = new PoolSim();
  const a = await sim.start(1n, 0);
  const b = await sim.start(2n, 1);
  await sim.until(() => sim.allSeeAll(), 30_000);
  const events: TopologyEvent[] = [];
  const done = collect(a.subscribe({ replay: false }), events);
  await b.node.close(); // crash
  sim.pools.delete(2n);
  await sim.until(() => a.peers().length === 0, 60_000);
  await sim.start(2n, 1, { generationId: 1n });
  await sim.until(() => a.peers().length === 1, 30_000);
  const seen = events.map((e) => e.type === "left" ? `left ${e.reason}` : e.type);
  await sim.close();
  await done;
  assert.deepEqual(seen, ["left failed", "joined"]);
});

Deno.test("GossipPool reports a malformed PeerInfo once and keeps the other peers", async () => {
  const sim = new PoolSim();
  const a = await sim.start(1n, 0);
  const b = await sim.start(2n, 1);
  await sim.start(3n, 2);
  await sim.until(() => sim.allSeeAll(), 30_000);
  // Worker 2 publishes garbage under its key (a buggy or hostile peer).
  b.node.set("worker:2", "!!not-base64!!");
  b.node.set("worker:77", "eyJub2RlX2lkIjo3N30"); // {"node_id":77}: fields missing
  await sim.until(() => a.peers().every((p) => p.nodeId !== 2n), 10_000);
  sim.clock.advance(5_000);
  assert.deepEqual(a.peers().map((p) => p.nodeId), [3n]);
  assert.equal(a.malformedPeerInfos, 2);
  assert.equal(sim.warnings.filter((w) => w.includes("from worker:2")).length >= 2, true);
  const before = sim.warnings.length;
  sim.clock.advance(5_000);
  assert.equal(sim.warnings.length, before, "reported once, not every round");
  await sim.close();
});

Deno.test("GossipPool.announceSelf() refuses another worker's id and bad endpoints", async () => {
  const sim = new PoolSim();
  const a = await sim.start(1n, 0);
  assert.throws(() => a.announceSelf(info(2n)), /nodeId must be 1/);
  assert.throws(() => a.announceSelf(info(1n, { wgEndpoint: "example.com:1" })), /wgEndpoint/);
  a.announceSelf(info(1n, { labels: { edge_cache: "true" } }));
  assert.deepEqual(a.selfInfo().labels, { edge_cache: "true" });
  await sim.close();
});

Deno.test("GossipPool.start() validates its config", async () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1 });
  const base = {
    nodeId: 1n,
    gossipListen: "127.0.0.1:7946",
    seeds: [],
    clusterId: "x",
    selfInfo: info(1n),
    clock,
  };
  await assert.rejects(() => GossipPool.start({ ...base, selfInfo: info(2n) }), /selfInfo.nodeId/);
  await assert.rejects(() => GossipPool.start({ ...base, nodeId: -1n }), /nodeId/);
  await assert.rejects(
    () => GossipPool.start({ ...base, seeds: ["nope"], transport: net.bind(Sim.addr(0)) }),
    /seeds\[0\]/,
  );
  await assert.rejects(
    () => GossipPool.start({ ...base, gossipIntervalMs: 0, transport: net.bind(Sim.addr(1)) }),
    /gossipIntervalMs/,
  );
});
