// The runtime benchmark's workload (bench/runtimes_bench.ts runs it on Deno, Node and Bun against
// the package built by tools/build_npm.ts, argv[2]). Prints one JSON line of medians.
import process from "node:process";

const pkg = process.argv[2];
const { GossipNode } = await import(`${pkg}/mod.js`);
const { decodeMessage, encodeMessage } = await import(`${pkg}/src/codec/mod.js`);
const { createRandom, MemoryNetwork, VirtualClock } = await import(`${pkg}/src/testing/mod.js`);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median microseconds per call of `f` over `batches` batches of `n` calls, after a warm-up. */
function time(f, n, batches = 15) {
  for (let i = 0; i < n * 3; i++) f();
  const per = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    per.push(((performance.now() - t0) * 1000) / n);
  }
  return median(per);
}

// An Ack near a datagram: 240 zlayer-style records (worker:<id> -> base64url JSON) of 3 nodes.
const id = (i) => ({
  nodeId: `worker:${1000 + i}`,
  generationId: 1700000000000n + BigInt(i),
  gossipAdvertiseAddr: { ip: `10.1.${i >> 8}.${i & 255}`, port: 7946 },
});
const value = (i) =>
  btoa(JSON.stringify({
    node_id: 1000 + i,
    wg_pubkey: `${String(i).padStart(4, "0")}AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ab=`,
    wg_endpoint: `10.1.0.${i & 255}:51820`,
    overlay_ip: `10.200.${i >> 8}.${i & 255}`,
    labels: { zone: `z${i % 3}` },
  })).replace(/=+$/, "");
const ack = {
  type: "ack",
  delta: {
    nodeDeltas: [0, 1, 2].map((n) => ({
      chitchatId: id(n),
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      maxVersion: 80n,
      keyValues: Array.from({ length: 80 }, (_, k) => ({
        key: `worker:${1000 + n * 80 + k}`,
        value: value(n * 80 + k),
        version: BigInt(k + 1),
        status: "set",
      })),
    })),
  },
};
const bytes = encodeMessage(ack);
const encodeUs = time(() => encodeMessage(ack), 50);
const decodeUs = time(() => decodeMessage(bytes), 50);

// 100 nodes on the in-memory network and a virtual clock, 100 ms rounds: wall time until every
// node holds every node's key, then per simulated round once converged.
const N = 100;
const clock = new VirtualClock();
const net = new MemoryNetwork({ clock, seed: 1, delayMs: { min: 1, max: 3 } });
const nodes = [];
for (let i = 0; i < N; i++) {
  nodes.push(
    await GossipNode.start({
      nodeId: `n${i}`,
      generationId: 0n,
      clusterId: "bench",
      gossipIntervalMs: 100,
      seeds: i === 0 ? [] : ["10.0.0.0:7946"],
      transport: net.bind({ ip: `10.0.${i >> 8}.${i & 255}`, port: 7946 }),
      clock,
      random: createRandom(i + 1),
      failureDetector: { initialIntervalMs: 100 },
    }),
  );
  nodes[i].set("role", `r${i}`);
}
const converged = () =>
  nodes.every((n) => n.nodeStates().length === N && n.liveNodes().length === N);
const t0 = performance.now();
let rounds = 0;
while (!converged()) {
  if (rounds >= 600) throw new Error("100 nodes did not converge in 60 simulated seconds");
  clock.advance(100);
  await Promise.resolve();
  rounds++;
}
const convergeMs = performance.now() - t0;
const steady = 50;
const t1 = performance.now();
for (let r = 0; r < steady; r++) {
  clock.advance(100);
  await Promise.resolve();
}
const roundMs = (performance.now() - t1) / steady;
await Promise.all(nodes.map((n) => n.close()));
net.close();

process.stdout.write(
  JSON.stringify({
    ackBytes: bytes.length,
    encodeUs,
    decodeUs,
    convergeRounds: rounds,
    convergeMs,
    roundMs,
  }) +
    "\n",
);
