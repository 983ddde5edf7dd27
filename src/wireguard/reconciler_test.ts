import assert from "node:assert/strict";
import type { PeerInfo } from "../pool/peer_info.ts";
import type { TopologyEvent } from "../pool/pool.ts";
import { AsyncQueue } from "../common/async_queue.ts";
import { type WgResult, type WgRunner, WireGuardReconciler } from "./mod.ts";

const K = (n: number) => {
  const b = new Uint8Array(32).fill(5);
  b[0] = n & 255;
  b[1] = n >> 8;
  return b.toBase64();
};
const peer = (n: number, over: Partial<PeerInfo> = {}): PeerInfo => ({
  nodeId: BigInt(n),
  wgPubkey: K(n),
  wgEndpoint: `10.0.${n >> 8}.${n & 255}:51820`,
  overlayIp: `10.42.${n >> 8}.${n & 255}`,
  labels: {},
  ...over,
});

interface FakePeer {
  endpoint: string;
  ips: string[];
  ka: number;
  hs: number;
}

/** An interface in memory that understands `wg show IF dump` and `wg set IF peer ...`, and
 * records every argv. */
class FakeWg implements WgRunner {
  readonly calls: string[][] = [];
  readonly peers = new Map<string, FakePeer>();
  failNext = 0;
  constructor(readonly iface: string, readonly publicKey: string) {}
  run(args: readonly string[]): Promise<WgResult> {
    this.calls.push([...args]);
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.resolve({ code: 1, stdout: "", stderr: "Unable to modify interface" });
    }
    if (args[1] !== this.iface) {
      return Promise.resolve({ code: 1, stdout: "", stderr: "No such device" });
    }
    if (args[0] === "show" && args[2] === "dump") {
      const lines = [`PRIV\t${this.publicKey}\t51820\toff`];
      for (const [k, p] of this.peers) {
        lines.push(
          `${k}\t(none)\t${p.endpoint}\t${p.ips.join(",") || "(none)"}\t${p.hs}\t0\t0\t${
            p.ka || "off"
          }`,
        );
      }
      return Promise.resolve({ code: 0, stdout: lines.join("\n") + "\n", stderr: "" });
    }
    assert.equal(args[0], "set");
    let cur: FakePeer | undefined;
    for (let i = 2; i < args.length; i++) {
      const a = args[i]!;
      if (a === "peer") {
        const key = args[++i]!;
        cur = this.peers.get(key) ?? { endpoint: "(none)", ips: [], ka: 0, hs: 0 };
        this.peers.set(key, cur);
        if (args[i + 1] === "remove") {
          this.peers.delete(key);
          i++;
        }
      } else if (a === "endpoint") cur!.endpoint = args[++i]!;
      else if (a === "allowed-ips") {
        const ips = args[++i]!.split(",");
        for (const p of this.peers.values()) p.ips = p.ips.filter((x) => !ips.includes(x));
        cur!.ips = ips;
      } else if (a === "persistent-keepalive") {
        const v = args[++i]!;
        cur!.ka = v === "off" ? 0 : Number(v);
      } else throw new Error(`fake wg: unexpected ${a}`);
    }
    return Promise.resolve({ code: 0, stdout: "", stderr: "" });
  }
  sets(): string[][] {
    return this.calls.filter((c) => c[0] === "set");
  }
}

function make(
  fake: FakeWg,
  opts: Partial<ConstructorParameters<typeof WireGuardReconciler>[0]> = {},
) {
  const warnings: string[] = [];
  const wg = new WireGuardReconciler({
    interface: fake.iface,
    runner: fake,
    resyncIntervalMs: 0,
    batchDelayMs: 5,
    onWarning: (m) => warnings.push(m),
    ...opts,
  });
  return { wg, warnings };
}

Deno.test("reconciler: 1000 joins become one wg set; a left peer is removed", async () => {
  const fake = new FakeWg("wgt0", K(1));
  const { wg } = make(fake);
  const peers = Array.from({ length: 1000 }, (_, i) => peer(i + 2));
  for (let i = 1; i <= peers.length; i++) wg.setPeers(peers.slice(0, i));
  await wg.flush();
  assert.equal(fake.sets().length, 1);
  assert.equal(fake.calls.length, 2); // one dump, one set
  assert.equal(fake.peers.size, 1000);
  assert.deepEqual(fake.peers.get(K(2)), {
    endpoint: "10.0.0.2:51820",
    ips: ["10.42.0.2/32"],
    ka: 25,
    hs: 0,
  });
  assert.equal(wg.metrics.peersConfigured, 1000);
  wg.setPeers(peers.slice(1));
  await wg.flush();
  assert.equal(fake.peers.has(K(2)), false);
  assert.equal(fake.peers.size, 999);
  assert.deepEqual(fake.sets().at(-1), ["set", "wgt0", "peer", K(2), "remove"]);
  // Nothing changed: a re-run reads but does not set.
  await wg.reconcile();
  assert.equal(fake.sets().length, 2);
  assert.equal(wg.metrics.runs, 3);
  await wg.close();
});

Deno.test("reconciler: updates change in place or replace the key", async () => {
  const fake = new FakeWg("wgt1", K(1));
  const { wg } = make(fake, { keepaliveSeconds: 10 });
  wg.setPeers([peer(2), peer(3)]);
  await wg.flush();
  wg.setPeers([
    peer(2, { wgEndpoint: "10.0.9.2:51821", overlayIp: "10.42.9.2" }),
    peer(3, { wgPubkey: K(33) }),
  ]);
  await wg.flush();
  assert.deepEqual(fake.sets().at(-1), [
    "set",
    "wgt1",
    "peer",
    K(3),
    "remove",
    "peer",
    K(2),
    "endpoint",
    "10.0.9.2:51821",
    "allowed-ips",
    "10.42.9.2/32",
    "peer",
    K(33),
    "endpoint",
    "10.0.0.3:51820",
    "allowed-ips",
    "10.42.0.3/32",
    "persistent-keepalive",
    "10",
  ]);
  assert.deepEqual([...fake.peers.keys()].sort(), [K(2), K(33)].sort());
  await wg.close();
});

Deno.test("reconciler: converges after manual changes; leaves foreign peers unless prune", async () => {
  const fake = new FakeWg("wgt2", K(1));
  fake.peers.set(K(900), { endpoint: "192.0.2.1:1", ips: ["10.99.0.1/32"], ka: 0, hs: 0 });
  const { wg } = make(fake);
  wg.setPeers([peer(2), peer(3)]);
  await wg.flush();
  fake.peers.delete(K(2)); // someone ran `wg set wgt2 peer K2 remove`
  fake.peers.get(K(3))!.ips = ["10.1.1.1/32"]; // or changed its allowed IPs
  await wg.reconcile();
  assert.deepEqual(fake.peers.get(K(2))?.ips, ["10.42.0.2/32"]);
  assert.deepEqual(fake.peers.get(K(3))?.ips, ["10.42.0.3/32"]);
  assert.ok(fake.peers.has(K(900)), "a peer we did not add stays");
  await wg.close();
  const pruning = make(fake, { prune: true }).wg;
  pruning.setPeers([peer(2), peer(3)]);
  await pruning.flush();
  assert.equal(fake.peers.has(K(900)), false);
  assert.equal(fake.peers.size, 2);
  await pruning.close();
});

Deno.test("reconciler: refusals are counted and reported once, the rest applied", async () => {
  const fake = new FakeWg("wgt3", K(1));
  const { wg, warnings } = make(fake, { selfOverlayIp: "10.42.0.1" });
  const hostile = [
    peer(5, { wgPubkey: "garbage" }),
    peer(6, { overlayIp: "10.42.0.2" }),
    peer(7, { wgPubkey: K(1) }),
    peer(8, { overlayIp: "10.42.0.1" }),
    peer(9, { wgEndpoint: "0.0.0.0:0" }),
  ];
  for (let round = 0; round < 3; round++) {
    wg.setPeers([peer(2), peer(3), ...hostile]);
    await wg.flush();
  }
  assert.deepEqual([...fake.peers.keys()].sort(), [K(2), K(3)].sort());
  const m = wg.metrics;
  assert.equal(m.refused.bad_key, 1);
  assert.equal(m.refused.overlay_ip_conflict, 1);
  assert.equal(m.refused.own_key, 1);
  assert.equal(m.refused.overlay_ip_self, 1);
  assert.equal(m.refused.no_endpoint, 1);
  assert.equal(warnings.filter((w) => w.includes("refusing")).length, 5);
  assert.equal(wg.refused.length, 5);
  assert.deepEqual(wg.tunnels().map((t) => t.nodeId).sort(), [2n, 3n]);
  await wg.close();
});

Deno.test("reconciler: failures are counted, reported once, and a later run recovers", async () => {
  const fake = new FakeWg("wgt4", K(1));
  const { wg, warnings } = make(fake);
  fake.failNext = 2;
  wg.setPeers([peer(2)]);
  await wg.flush();
  await wg.reconcile();
  assert.equal(wg.metrics.failures, 2);
  assert.match(wg.metrics.lastError ?? "", /wg show wgt4 dump failed \(exit 1\): Unable/);
  assert.equal(warnings.filter((w) => w.includes("failed")).length, 1);
  await wg.reconcile();
  assert.equal(wg.metrics.lastError, undefined);
  assert.ok(fake.peers.has(K(2)));
  await wg.close();
  const gone = make(new FakeWg("other", K(1)), { interface: "wgt5" }).wg;
  await gone.reconcile();
  assert.match(gone.metrics.lastError ?? "", /No such device/);
  await gone.close();
});

Deno.test("reconciler: tunnels report handshake age and up", async () => {
  const fake = new FakeWg("wgt6", K(1));
  const now = 1_800_000_000_000;
  const { wg } = make(fake, { now: () => now });
  wg.setPeers([peer(2), peer(3)]);
  await wg.flush();
  fake.peers.get(K(2))!.hs = now / 1000 - 7;
  fake.peers.get(K(3))!.hs = now / 1000 - 500;
  await wg.reconcile();
  const t = new Map(wg.tunnels().map((x) => [x.nodeId, x]));
  assert.equal(t.get(2n)!.handshakeAgeSeconds, 7);
  assert.equal(t.get(2n)!.up, true);
  assert.equal(t.get(3n)!.up, false);
  await wg.close();
});

Deno.test("reconciler: follows a pool-like source and a periodic re-read converges", async () => {
  const fake = new FakeWg("wgt7", K(1));
  let live = [peer(2)];
  const queue = new AsyncQueue<TopologyEvent>();
  const source = { peers: () => live, subscribe: () => queue };
  const { wg } = make(fake, { resyncIntervalMs: 30 });
  wg.follow(source);
  await wg.flush();
  assert.ok(fake.peers.has(K(2)));
  live = [peer(2), peer(3)];
  queue.push({ type: "joined", peer: peer(3) });
  await new Promise((r) => setTimeout(r, 20));
  await wg.flush();
  assert.ok(fake.peers.has(K(3)));
  fake.peers.clear(); // the interface was recreated
  await new Promise((r) => setTimeout(r, 80));
  await wg.flush();
  assert.equal(fake.peers.size, 2);
  await wg.close();
  assert.throws(() => new WireGuardReconciler({ interface: "bad name!" }), /interface/);
  assert.throws(
    () => new WireGuardReconciler({ interface: "wg0", keepaliveSeconds: -1 }),
    /keepalive/,
  );
});

Deno.test("reconciler: with a state file, a restart removes its own stale peers only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hearsay-wgstate-" });
  try {
    const stateFile = `${dir}/sub/wgt7.peers.json`;
    const fake = new FakeWg("wgt7", K(1));
    fake.peers.set(K(900), { endpoint: "192.0.2.1:1", ips: ["10.99.0.1/32"], ka: 0, hs: 0 });
    let now = 1_000_000;
    const first = make(fake, { stateFile, now: () => now }).wg;
    first.setPeers([peer(2), peer(3), peer(4)]);
    await first.flush();
    const recorded = JSON.parse(await Deno.readTextFile(stateFile));
    assert.deepEqual(recorded, {
      version: 1,
      interface: "wgt7",
      peers: [K(2), K(3), K(4)].sort(),
    });
    assert.equal((await Deno.stat(stateFile)).mode! & 0o777, 0o600);
    first.setPeers([peer(2), peer(3)]); // 4 leaves while the worker runs: removed, unrecorded
    await first.flush();
    assert.deepEqual(JSON.parse(await Deno.readTextFile(stateFile)).peers, [K(2), K(3)].sort());
    await first.close(); // the worker stops; peers stay configured
    assert.ok(fake.peers.has(K(3)));

    // Restarted while 3 had left. Within the grace the pool shows only 2: 3 stays for now.
    const calls = fake.calls.length;
    const { wg: second, warnings } = make(fake, { stateFile, now: () => now, staleGraceMs: 5_000 });
    second.setPeers([peer(2)]);
    await second.flush();
    assert.ok(fake.peers.has(K(3)), "a recorded peer waits for the grace");
    assert.deepEqual(fake.calls.slice(calls), [["show", "wgt7", "dump"]]);
    now += 5_000;
    await second.reconcile();
    assert.deepEqual(fake.calls.slice(calls + 1), [
      ["show", "wgt7", "dump"],
      ["set", "wgt7", "peer", K(3), "remove"],
    ]);
    assert.deepEqual([...fake.peers.keys()].sort(), [K(2), K(900)].sort());
    assert.deepEqual(JSON.parse(await Deno.readTextFile(stateFile)).peers, [K(2)]);
    assert.deepEqual(warnings, []);
    await second.close();

    // Without a state file the same restart leaves the stale peer (the old behaviour).
    fake.peers.set(K(5), { endpoint: "10.0.0.5:51820", ips: ["10.42.0.5/32"], ka: 25, hs: 0 });
    const plain = make(fake, { now: () => now + 100_000 }).wg;
    plain.setPeers([peer(2)]);
    await plain.flush();
    assert.ok(fake.peers.has(K(5)));
    await plain.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reconciler: a bad state file is reported and ignored, nothing is removed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hearsay-wgstate-" });
  try {
    const fake = new FakeWg("wgt8", K(1));
    fake.peers.set(K(3), { endpoint: "10.0.0.3:51820", ips: ["10.42.0.3/32"], ka: 25, hs: 0 });
    for (
      const [text, why] of [
        ["not json", /is not JSON/],
        [
          JSON.stringify({ version: 1, interface: "other", peers: [K(3)] }),
          /belongs to interface "other"/,
        ],
        [JSON.stringify({ version: 1, interface: "wgt8", peers: ["short"] }), /32 bytes|key/],
        [JSON.stringify({ peers: [] }), /not a hearsay WireGuard state file/],
      ] as const
    ) {
      const stateFile = `${dir}/wgt8.json`;
      await Deno.writeTextFile(stateFile, text);
      const { wg, warnings } = make(fake, { stateFile, staleGraceMs: 0 });
      wg.setPeers([peer(2)]);
      await wg.flush();
      assert.ok(fake.peers.has(K(3)), `${text}: the foreign peer stays`);
      assert.equal(warnings.length, 1, warnings.join("\n"));
      assert.match(warnings[0]!, why);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(stateFile)).peers, [K(2)]);
      await wg.close();
      fake.peers.delete(K(2));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reconciler: a state file that cannot be written is reported once, peers still set", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hearsay-wgstate-" });
  try {
    await Deno.writeTextFile(`${dir}/file`, "not a folder");
    const fake = new FakeWg("wgt9", K(1));
    const { wg, warnings } = make(fake, { stateFile: `${dir}/file/wgt9.json` });
    for (const n of [2, 3, 4]) {
      wg.setPeers(Array.from({ length: n - 1 }, (_, i) => peer(i + 2)));
      await wg.flush();
    }
    assert.deepEqual([...fake.peers.keys()].sort(), [K(2), K(3), K(4)].sort());
    const writes = warnings.filter((w) => w.startsWith("cannot write the state file"));
    assert.equal(writes.length, 1, warnings.join("\n"));
    assert.match(writes[0]!, /wgt9\.json: /);
    await wg.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
