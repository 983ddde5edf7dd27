// One gossip node of the built package on whatever runtime runs this file, for the mixed-runtime
// cluster of tests/runtimes_test.ts. argv: package folder, node id, seed address, the ids of every
// member (comma-separated). It publishes key "runtime" = its runtime's name, prints
// {"port": N} once bound, {"seen": {id: runtime}} once it holds every member's key, and on a
// "stop" line on stdin leaves gracefully, prints {"closed": true} and exits 0.
import process from "node:process";

const [pkg, nodeId, seed, members] = process.argv.slice(2);
const { GossipNode, presets } = await import(`${pkg}/mod.js`);
const runtime = typeof globalThis.Deno !== "undefined"
  ? "deno"
  : process.versions.bun !== undefined
  ? "bun"
  : "node";

const node = await GossipNode.start({
  ...presets.local,
  nodeId,
  clusterId: "runtimes",
  listenAddr: "127.0.0.1:0",
  seeds: [seed],
});
node.set("runtime", runtime);
console.log(JSON.stringify({ port: node.chitchatId.gossipAdvertiseAddr.port }));

const want = members.split(",");
const seen = () => {
  const found = {};
  for (const s of node.nodeStates()) {
    const v = s.get("runtime");
    if (v !== undefined) found[s.chitchatId.nodeId] = v;
  }
  return found;
};
const poll = setInterval(() => {
  const found = seen();
  if (want.every((id) => id in found)) {
    clearInterval(poll);
    console.log(JSON.stringify({ seen: found }));
  }
}, 50);

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", async (chunk) => {
  input += chunk;
  if (!input.includes("stop\n")) return;
  clearInterval(poll);
  await node.close();
  console.log(JSON.stringify({ closed: true }));
  process.exit(0);
});
