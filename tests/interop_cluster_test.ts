/**
 * Mixed clusters on loopback UDP: real chitchat 0.10.1 nodes (through the Rust interop peer)
 * and hearsay nodes seeded off each other.
 */
import assert from "node:assert/strict";
import { InteropPeer } from "../interop/peer.ts";
import { GossipNode } from "../src/node/gossip_node.ts";
import type { GossipNodeOptions } from "../src/node/config.ts";
import { bindUdp } from "../src/transport/udp.ts";
import type { DatagramHandler, Transport } from "../src/transport/transport.ts";
import type { SocketAddr } from "../src/common/types.ts";

const INTERVAL = 100;
const FD = {
  phiThreshold: 8,
  samplingWindowSize: 1000,
  maxIntervalMs: 1_000,
  initialIntervalMs: 100,
  deadNodeGracePeriodMs: 4_000,
};
const TOMBSTONE_MS = 1_000;

interface IdJson {
  nodeId: string;
  generationId: string;
  gossipAdvertiseAddr: SocketAddr;
}
interface KvJson {
  key: string;
  value: string;
  version: string;
  status: string;
}
interface StateJson {
  self: IdJson;
  nodes: { chitchatId: IdJson; keyValues: KvJson[]; maxVersion: string; lastGcVersion: string }[];
  live: IdJson[];
  dead: IdJson[];
}

class RustNode {
  constructor(
    readonly peer: InteropPeer,
    readonly handle: number,
    readonly id: IdJson,
  ) {}
  get addr(): string {
    return `127.0.0.1:${this.id.gossipAdvertiseAddr.port}`;
  }
  state(): Promise<StateJson> {
    return this.peer.request<StateJson>("node_state", { handle: this.handle });
  }
  set(key: string, value: string): Promise<unknown> {
    return this.peer.request("node_set", { handle: this.handle, key, value });
  }
  delete(key: string): Promise<unknown> {
    return this.peer.request("node_delete", { handle: this.handle, key });
  }
  kill(): Promise<unknown> {
    return this.peer.request("node_kill", { handle: this.handle });
  }
}

async function startRust(
  peer: InteropPeer,
  nodeId: string,
  seeds: string[],
  extra: Record<string, unknown> = {},
): Promise<RustNode> {
  const r = await peer.request<{ handle: number; chitchatId: IdJson }>("node_start", {
    nodeId,
    generationId: "0",
    listenPort: 0,
    seeds,
    clusterId: "mixed",
    gossipIntervalMs: INTERVAL,
    markedForDeletionGracePeriodMs: TOMBSTONE_MS,
    ...FD,
    ...extra,
  });
  return new RustNode(peer, r.handle, r.chitchatId);
}

function hearsayOptions(nodeId: string, seeds: string[]): GossipNodeOptions {
  return {
    nodeId,
    clusterId: "mixed",
    generationId: 0n,
    listenAddr: "127.0.0.1:0",
    seeds,
    gossipIntervalMs: INTERVAL,
    markedForDeletionGracePeriodMs: TOMBSTONE_MS,
    failureDetector: FD,
  };
}

function addrOf(n: GossipNode): string {
  return `127.0.0.1:${n.chitchatId.gossipAdvertiseAddr.port}`;
}

/** Polls `check` (real time) until it holds; returns the elapsed ms. */
async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<number> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return performance.now() - start;
}

const names = (ids: { nodeId: string; generationId: string | bigint }[]) =>
  ids.map((i) => `${i.nodeId}@${i.generationId}`).sort();

function rustKv(state: StateJson, owner: string, key: string): KvJson | undefined {
  return state.nodes.find((n) => n.chitchatId.nodeId === owner)?.keyValues.find((kv) =>
    kv.key === key
  );
}

Deno.test("mixed cluster: chitchat and hearsay nodes gossip as one", async (t) => {
  const peer = await InteropPeer.start();
  const hs: GossipNode[] = [];
  try {
    const r0 = await startRust(peer, "rust-0", []);
    const r1 = await startRust(peer, "rust-1", [r0.addr]);
    const h0 = await GossipNode.start(hearsayOptions("hearsay-0", [r0.addr]));
    hs.push(h0);
    const r2 = await startRust(peer, "rust-2", [addrOf(h0)]);
    hs.push(await GossipNode.start(hearsayOptions("hearsay-1", [r0.addr, addrOf(h0)])));
    hs.push(await GossipNode.start(hearsayOptions("hearsay-2", [addrOf(h0)])));
    const rust = [r0, r1, r2];
    const all = ["rust-0", "rust-1", "rust-2", "hearsay-0", "hearsay-1", "hearsay-2"];

    await t.step("every node sees all six live", async () => {
      await waitFor("six live everywhere", async () => {
        for (const h of hs) if (h.liveNodes().length !== 6) return false;
        for (const r of rust) if ((await r.state()).live.length !== 6) return false;
        return true;
      }, 15_000);
      for (const h of hs) {
        assert.deepEqual(names(h.liveNodes()).map((s) => s.split("@")[0]).sort(), [...all].sort());
      }
    });

    await t.step("keys set on either side appear everywhere", async () => {
      await r1.set("from-rust", "ρ-value");
      hs[2]!.set("from-hearsay", "η-value");
      await waitFor("keys everywhere", async () => {
        for (const h of hs) {
          const rs = h.nodeStates().find((s) => s.chitchatId.nodeId === "rust-1");
          const hh = h.nodeStates().find((s) => s.chitchatId.nodeId === "hearsay-2");
          if (rs?.get("from-rust") !== "ρ-value" || hh?.get("from-hearsay") !== "η-value") {
            return false;
          }
        }
        for (const r of rust) {
          const st = await r.state();
          if (rustKv(st, "rust-1", "from-rust")?.value !== "ρ-value") return false;
          if (rustKv(st, "hearsay-2", "from-hearsay")?.value !== "η-value") return false;
        }
        return true;
      }, 10_000);
    });

    await t.step("deletions and TTL deletions propagate, then are GC'd", async () => {
      await r1.delete("from-rust");
      hs[2]!.deleteAfterTtl("from-hearsay");
      await waitFor("tombstones everywhere", async () => {
        for (const h of hs) {
          const rs = h.nodeStates().find((s) => s.chitchatId.nodeId === "rust-1")!;
          const hh = h.nodeStates().find((s) => s.chitchatId.nodeId === "hearsay-2")!;
          const ok = rs.getVersioned("from-rust")?.status === "deleted" ||
            (rs.getVersioned("from-rust") === undefined && rs.lastGcVersion > 0n);
          const ttl = hh.getVersioned("from-hearsay")?.status === "deleteAfterTtl" ||
            (hh.getVersioned("from-hearsay") === undefined && hh.lastGcVersion > 0n);
          if (!ok || !ttl) return false;
        }
        for (const r of rust) {
          const st = await r.state();
          const d = rustKv(st, "rust-1", "from-rust");
          const ttl = rustKv(st, "hearsay-2", "from-hearsay");
          const h2 = st.nodes.find((n) => n.chitchatId.nodeId === "hearsay-2")!;
          const r1s = st.nodes.find((n) => n.chitchatId.nodeId === "rust-1")!;
          if (!(d?.status === "deleted" || (d === undefined && r1s.lastGcVersion !== "0"))) {
            return false;
          }
          if (
            !(ttl?.status === "deleteAfterTtl" || (ttl === undefined && h2.lastGcVersion !== "0"))
          ) return false;
        }
        return true;
      }, 10_000);
      await waitFor("GC everywhere", async () => {
        for (const h of hs) {
          const hh = h.nodeStates().find((s) => s.chitchatId.nodeId === "hearsay-2")!;
          if (hh.getVersioned("from-hearsay") !== undefined) return false;
        }
        for (const r of rust) {
          if (rustKv(await r.state(), "rust-1", "from-rust") !== undefined) return false;
        }
        return true;
      }, 10_000);
    });

    await t.step(
      "a killed node of either kind is declared dead, then removed, by both kinds",
      async () => {
        // Kill one Rust node and one hearsay node at the same moment.
        const victimH = hs.pop()!;
        await Promise.all([r2.kill(), victimH.close()]);
        const killedAt = performance.now();
        const detected = new Map<string, number>();
        await waitFor("both victims dead everywhere", async () => {
          const watchers: [string, string[]][] = [];
          for (const h of hs) watchers.push([h.chitchatId.nodeId, names(h.deadNodes())]);
          for (const r of [r0, r1]) {
            watchers.push([r.id.nodeId, names((await r.state()).dead)]);
          }
          let all = true;
          for (const [who, dead] of watchers) {
            const both = dead.includes("rust-2@0") && dead.includes("hearsay-2@0");
            if (both && !detected.has(who)) detected.set(who, performance.now() - killedAt);
            all &&= both;
          }
          return all;
        }, 15_000);
        const rustTimes = ["rust-0", "rust-1"].map((n) => detected.get(n)!);
        const ourTimes = ["hearsay-0", "hearsay-1"].map((n) => detected.get(n)!);
        // Same formula, same config: hearsay may not be slower than chitchat by more than a few
        // rounds plus the polling period.
        assert.ok(
          Math.max(...ourTimes) <= Math.max(...rustTimes) + 5 * INTERVAL,
          `hearsay detection ${ourTimes} ms vs chitchat ${rustTimes} ms`,
        );
        await waitFor("victims removed everywhere", async () => {
          for (const h of hs) {
            if (h.nodeStates().some((s) => ["rust-2", "hearsay-2"].includes(s.chitchatId.nodeId))) {
              return false;
            }
          }
          for (const r of [r0, r1]) {
            const st = await r.state();
            if (st.nodes.some((n) => ["rust-2", "hearsay-2"].includes(n.chitchatId.nodeId))) {
              return false;
            }
          }
          return true;
        }, FD.deadNodeGracePeriodMs + 5_000);
      },
    );

    await t.step(
      "a hearsay node restarted with a new generation is live; the old one dies",
      async () => {
        const old = hs.pop()!; // hearsay-1
        const port = old.chitchatId.gossipAdvertiseAddr.port;
        await old.close();
        const again = await GossipNode.start({
          ...hearsayOptions("hearsay-1", [r0.addr]),
          generationId: 1n,
          listenAddr: `127.0.0.1:${port}`,
        });
        hs.push(again);
        await waitFor("new generation live, old dead", async () => {
          const h = names(hs[0]!.liveNodes());
          const hd = names(hs[0]!.deadNodes());
          if (!h.includes("hearsay-1@1") || !hd.includes("hearsay-1@0")) return false;
          for (const r of [r0, r1]) {
            const st = await r.state();
            if (
              !names(st.live).includes("hearsay-1@1") || !names(st.dead).includes("hearsay-1@0")
            ) {
              return false;
            }
          }
          return true;
        }, 15_000);
        await waitFor("old generation removed", async () => {
          if (
            hs[0]!.nodeStates().some((s) =>
              s.chitchatId.nodeId === "hearsay-1" && s.chitchatId.generationId === 0n
            )
          ) return false;
          for (const r of [r0, r1]) {
            const st = await r.state();
            if (
              st.nodes.some((n) =>
                n.chitchatId.nodeId === "hearsay-1" && n.chitchatId.generationId === "0"
              )
            ) return false;
          }
          return true;
        }, FD.deadNodeGracePeriodMs + 5_000);
      },
    );
  } finally {
    await Promise.all(hs.map((h) => h.close()));
    await peer.close();
  }
});

/** A UDP transport that can be cut off (both directions) to make a node miss updates. */
class SwitchableTransport implements Transport {
  connected = true;
  #handler: DatagramHandler = () => {};
  constructor(readonly inner: Transport) {
    inner.onReceive((d, from) => {
      if (this.connected) this.#handler(d, from);
    });
  }
  get localAddr(): SocketAddr {
    return this.inner.localAddr;
  }
  get stats() {
    return this.inner.stats;
  }
  send(to: SocketAddr, data: Uint8Array): void {
    if (this.connected) this.inner.send(to, data);
  }
  onReceive(handler: DatagramHandler): void {
    this.#handler = handler;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

Deno.test("mixed cluster: a hearsay node that missed GC'd tombstones is reset by chitchat", async () => {
  const peer = await InteropPeer.start();
  let h: GossipNode | undefined;
  try {
    const r0 = await startRust(peer, "rust-0", [], { deadNodeGracePeriodMs: 60_000 });
    const transport = new SwitchableTransport(await bindUdp({ ip: "127.0.0.1", port: 0 }));
    let catchups = 0;
    h = await GossipNode.start({
      ...hearsayOptions("hearsay-0", [r0.addr]),
      failureDetector: { ...FD, deadNodeGracePeriodMs: 60_000 },
      transport,
      catchupCallback: () => catchups++,
    });
    for (let i = 0; i < 6; i++) await r0.set(`k${i}`, "v");
    const node = h;
    const rustState = () => node.nodeStates().find((s) => s.chitchatId.nodeId === "rust-0");
    await waitFor("initial sync", () => rustState()?.maxVersion === 6n, 10_000);
    transport.connected = false;
    for (let i = 0; i < 3; i++) await r0.delete(`k${i}`);
    await r0.set("after", "x");
    await waitFor("rust GC'd its tombstones", async () => {
      const st = await r0.state();
      return st.nodes.find((n) => n.chitchatId.nodeId === "rust-0")!.lastGcVersion === "9";
    }, 10_000);
    transport.connected = true;
    await waitFor("reset and converged", () => rustState()?.get("after") === "x", 10_000);
    assert.ok(catchups >= 1);
    const s = rustState()!;
    assert.equal(s.get("k0"), undefined);
    assert.equal(s.get("k5"), "v");
    assert.equal(s.lastGcVersion, 9n);
  } finally {
    await h?.close();
    await peer.close();
  }
});

Deno.test("mixed cluster: nodes of another cluster get BadCluster and stay out", async () => {
  const peer = await InteropPeer.start();
  const hs: GossipNode[] = [];
  try {
    const r0 = await startRust(peer, "rust-0", []);
    const h0 = await GossipNode.start(hearsayOptions("hearsay-0", [r0.addr]));
    hs.push(h0);
    const strangerH = await GossipNode.start({
      ...hearsayOptions("stranger-h", [r0.addr, addrOf(h0)]),
      clusterId: "elsewhere",
    });
    hs.push(strangerH);
    const strangerR = await startRust(peer, "stranger-r", [addrOf(h0), r0.addr], {
      clusterId: "elsewhere",
    });
    await waitFor("members see each other", () => h0.liveNodes().length === 2, 10_000);
    await waitFor(
      "stranger told off",
      () => strangerH.metrics().messagesIn.badCluster >= 3,
      10_000,
    );
    assert.ok(h0.metrics().messagesOut.badCluster >= 1, "hearsay answered the Rust stranger");
    const r0State = await r0.state();
    const insiders = [
      ...names(r0State.nodes.map((n) => n.chitchatId)),
      ...names(h0.nodeStates().map((s) => s.chitchatId)),
    ];
    assert.ok(insiders.every((n) => !n.startsWith("stranger")), insiders.join(","));
    assert.equal(
      strangerH.nodeStates().filter((s) => !s.isSelf).every((s) =>
        s.chitchatId.nodeId === "stranger-r"
      ),
      true,
    );
    const sr = await strangerR.state();
    assert.ok(sr.nodes.every((n) => n.chitchatId.nodeId.startsWith("stranger")));
  } finally {
    await Promise.all(hs.map((h) => h.close()));
    await peer.close();
  }
});
