// Three pools on loopback UDP, on whatever runtime runs this file, importing the package as built
// by tools/build_npm.ts (its folder is argv[2] on Node/Bun, Deno.args[0] on Deno). They must
// converge, see an update, and see a graceful leave; prints one JSON line of what it saw and
// exits 0, or exits 1 with the reason.
const args = globalThis.Deno?.args ?? globalThis.process.argv.slice(2);
const pkg = args[0];
const { GossipPool, presets } = await import(`${pkg}/mod.js`);

const info = (n) => ({
  nodeId: BigInt(n),
  wgPubkey: `key-${n}`,
  wgEndpoint: `10.1.0.${n}:51820`,
  overlayIp: `10.200.0.${n}`,
  labels: { runtime: "test" },
});
const start = (n, seeds) =>
  GossipPool.start({
    ...presets.local,
    nodeId: BigInt(n),
    gossipListen: "127.0.0.1:0",
    seeds,
    clusterId: "runtimes",
    selfInfo: info(n),
  });

const deadline = setTimeout(() => {
  console.error("timeout: the pools did not converge, update and leave within 15 s");
  globalThis.process?.exit?.(1) ?? globalThis.Deno.exit(1);
}, 15_000);

/** The next event of the subscription `sub` for which `pred` holds. */
async function first(sub, pred) {
  for (;;) {
    const { value, done } = await sub.next();
    if (done) throw new Error("subscription ended");
    if (pred(value)) return value;
  }
}

const a = await start(1, []);
const subA = a.subscribe()[Symbol.asyncIterator]();
const b = await start(2, [a.gossipAddr]);
const c = await start(3, [a.gossipAddr]);
const joined = new Set();
await first(subA, (e) => {
  if (e.type === "joined") joined.add(e.peer.nodeId);
  return joined.size === 2;
});
const until = async (f) => {
  while (!f()) await new Promise((r) => setTimeout(r, 20));
};
await until(() => b.peers().length === 2 && c.peers().length === 2);
await b.announceSelf({ ...info(2), overlayIp: "10.200.9.2" });
const updated = await first(subA, (e) => e.type === "updated");
await c.close();
const left = await first(subA, (e) => e.type === "left");
const seen = {
  joined: [...joined].map(String).sort(),
  updated: [String(updated.peer.nodeId), updated.peer.overlayIp],
  left: [String(left.nodeId), left.reason],
  peersOfA: a.peers().map((p) => String(p.nodeId)).sort(),
};
await Promise.all([a.close(), b.close()]);
clearTimeout(deadline);
console.log(JSON.stringify(seen));
