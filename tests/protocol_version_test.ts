/**
 * `protocolVersion` (issue 12): the node option (validated), the wire versions a node sends, mixed
 * V0/V1 clusters of hearsay nodes, the pool's passthrough and the worker's `--protocol-version`.
 * Mixed clusters with real chitchat nodes are in tests/interop_mixed_test.ts.
 */
import assert from "node:assert/strict";
import { GossipNode } from "../src/node/gossip_node.ts";
import { resolveConfig } from "../src/node/config.ts";
import { GossipPool } from "../src/pool/pool.ts";
import { parseWorkerArgs, UsageError } from "../src/cli/worker.ts";
import { ConfigError } from "../src/common/errors.ts";
import { decodeEnvelope } from "../src/codec/message.ts";
import { createRandom } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import type { SocketAddr } from "../src/common/types.ts";

Deno.test("protocolVersion: default 0; 0 and 1 accepted; anything else is a ConfigError", () => {
  const base = { nodeId: "a", clusterId: "c", listenAddr: "127.0.0.1:0" };
  assert.equal(resolveConfig(base).protocolVersion, 0);
  assert.equal(resolveConfig({ ...base, protocolVersion: 0 }).protocolVersion, 0);
  assert.equal(resolveConfig({ ...base, protocolVersion: 1 }).protocolVersion, 1);
  for (const bad of [2, -1, 0.5, "1", 1n, null, NaN, true]) {
    assert.throws(
      () => resolveConfig({ ...base, protocolVersion: bad as unknown as 0 }),
      (e: unknown) =>
        e instanceof ConfigError && e.field === "protocolVersion" &&
        /must be 0 \(V0, every chitchat\) or 1 \(V1, chitchat 0\.12\+\)/.test(e.message),
      String(bad),
    );
  }
});

/** A MemoryNetwork that records the protocol version byte of every datagram, by type. */
function recording(net: MemoryNetwork, addr: SocketAddr, seen: Map<string, Set<number>>) {
  const inner = net.bind(addr);
  return {
    get localAddr() {
      return inner.localAddr;
    },
    get stats() {
      return inner.stats;
    },
    send: (to: SocketAddr, data: Uint8Array) => {
      const key = `${addr.port}->${to.port} ${["syn", "synAck", "ack", "badCluster"][data[3]!]}`;
      let s = seen.get(key);
      if (s === undefined) seen.set(key, s = new Set());
      s.add(data[2]!);
      inner.send(to, data);
    },
    onReceive: (h: Parameters<typeof inner.onReceive>[0]) => inner.onReceive(h),
    close: () => inner.close(),
  };
}

Deno.test("protocolVersion: a mixed V0/V1 hearsay cluster with a V1 seed converges; replies echo the version", async () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 9, delayMs: 1 });
  const addr = (i: number): SocketAddr => ({ ip: "10.0.0.1", port: 7000 + i });
  const seen = new Map<string, Set<number>>();
  const versions: (0 | 1)[] = [1, 0, 1, 0, 1, 0];
  const nodes: GossipNode[] = [];
  for (const [i, v] of versions.entries()) {
    nodes.push(
      await GossipNode.start({
        nodeId: `n${i}`,
        clusterId: "mixed",
        listenAddr: addr(i),
        seeds: i === 0 ? [] : ["10.0.0.1:7000"], // the only seed speaks V1 and has no seeds
        gossipIntervalMs: 100,
        protocolVersion: v,
        transport: recording(net, addr(i), seen),
        clock,
        random: createRandom(40 + i),
        onWarning: (m) => assert.fail(m),
      }),
    );
  }
  try {
    await clock.advance(5_000);
    for (const [i, n] of nodes.entries()) {
      assert.equal(n.liveNodes().length, nodes.length, `n${i} sees everyone`);
      assert.deepEqual(n.metrics().dropped, {}, `n${i} dropped nothing`);
    }
    // Syns are in the sender's version; SynAcks in the Syn's; Acks in the SynAck's.
    for (const [key, vs] of seen) {
      const [from, to] = key.split(" ")[0]!.split("->").map((p) => Number(p) - 7000);
      const type = key.split(" ")[1];
      const expected = type === "syn" || type === "ack" ? versions[from!]! : versions[to!]!;
      assert.deepEqual([...vs], [expected], key);
    }
    assert.ok([...seen.keys()].some((k) => k.endsWith("synAck")));
    // digestBytes measures the node's own version: a V1 digest of 6 short entries is smaller.
    const v1 = nodes[0]!.metrics().digestBytes;
    const v0 = nodes[1]!.metrics().digestBytes;
    assert.equal(v0, 2 + 6 * (2 + 2 + 8 + 7 + 24));
    assert.ok(v1 > 0 && v1 < v0, `V1 ${v1} < V0 ${v0}`);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

Deno.test("protocolVersion: the pool passes it to its node (its Syns are V1 on UDP)", async () => {
  const sink = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (sink.addr as Deno.NetAddr).port;
  const pool = await GossipPool.start({
    nodeId: 1n,
    clusterId: "pool-v1",
    gossipListen: "127.0.0.1:0",
    seeds: [`127.0.0.1:${port}`],
    gossipIntervalMs: 50,
    protocolVersion: 1,
    selfInfo: { nodeId: 1n, wgPubkey: "", wgEndpoint: "0.0.0.0:0", overlayIp: "", labels: {} },
  });
  try {
    const timer = setTimeout(() => sink.close(), 5_000);
    const [data] = await sink.receive().finally(() => clearTimeout(timer));
    const { version, message } = decodeEnvelope(data);
    assert.equal(version, 1);
    assert.equal(message.type, "syn");
    assert.equal(message.type === "syn" && message.digest.nodes[0]?.chitchatId.nodeId, "worker:1");
  } finally {
    await pool.close();
    try {
      sink.close();
    } catch {
      // already closed by the timeout
    }
  }
});

Deno.test("protocolVersion: the worker's --protocol-version (0 or 1; anything else a usage error)", async () => {
  assert.equal(parseWorkerArgs(["--node-id", "1"]).protocolVersion, 0);
  assert.equal(parseWorkerArgs(["--node-id", "1", "--protocol-version", "1"]).protocolVersion, 1);
  assert.equal(parseWorkerArgs(["--node-id", "1", "--protocol-version=0"]).protocolVersion, 0);
  for (const bad of ["2", "v1", "", "01"]) {
    assert.throws(
      () => parseWorkerArgs(["--node-id", "1", "--protocol-version", bad]),
      (e: unknown) =>
        e instanceof UsageError && /--protocol-version must be 0 .* or 1/.test(`${e}`),
      bad,
    );
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../src/cli/worker.ts", import.meta.url).pathname,
      "--node-id",
      "1",
      "--protocol-version",
      "3",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(new TextDecoder().decode(out.stderr), /--protocol-version must be 0/);
});

Deno.test("worker: --past-one-datagram and --fd-backend (defaults off and wasm; bad values are usage errors)", () => {
  const d = parseWorkerArgs(["--node-id", "1"]);
  assert.deepEqual([d.pastOneDatagram, d.fdBackend], ["off", "wasm"]);
  const o = parseWorkerArgs([
    "--node-id",
    "1",
    "--past-one-datagram",
    "rotate",
    "--fd-backend=compact",
  ]);
  assert.deepEqual([o.pastOneDatagram, o.fdBackend], ["rotate", "compact"]);
  for (
    const [flag, bad, says] of [
      [
        "--past-one-datagram",
        "on",
        /--past-one-datagram must be off, rotate, random, compact, got "on"/,
      ],
      ["--fd-backend", "typescript", /--fd-backend must be wasm or compact, got "typescript"/],
    ] as const
  ) {
    assert.throws(
      () => parseWorkerArgs(["--node-id", "1", flag, bad]),
      (e: unknown) => e instanceof UsageError && says.test(e.message),
      `${flag} ${bad}`,
    );
  }
});
