/**
 * `deno task sim` (issue 14): the one-thread simulator as a task, its JSON shape, and the zlayer
 * id shape (`worker:<u64>` with a 20-digit id, u64 generation, IPv4) really giving 68-byte V0
 * digest entries, the size that puts chitchat's ceiling at about 963 nodes.
 */
import assert from "node:assert/strict";
import { encodeDigest } from "../src/codec/digest.ts";
import { encodeSyn, MAX_DATAGRAM_SIZE } from "../src/codec/message.ts";
import { simAddr, simGenerationId, simNodeId } from "../sim/scenarios.ts";

const root = new URL("..", import.meta.url).pathname;

async function task(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "sim", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("deno task sim --ids zlayer --json: 50 nodes converge, the JSON has the phases asked for", async () => {
  const r = await task([
    "--nodes",
    "50",
    "--ids",
    "zlayer",
    "--interval",
    "1000",
    "--scenarios",
    "membership,propagation,detection,traffic",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.membership.converged, 50);
  assert.equal(j.membership.timedOut, false);
  assert.equal(typeof j.membership.allMs, "number");
  assert.ok(j.membership.allMs > 0 && j.membership.allMs <= 60_000, `${j.membership.allMs}`);
  assert.equal(j.run.ids, "zlayer");
  assert.equal(j.run.numNodes, 50);
  assert.equal(j.run.gossipIntervalMs, 1000);
  assert.equal(j.propagation.reached, 50);
  assert.equal(j.detection.detected, 49);
  assert.ok(j.traffic.bytesPerNodePerSec > 0);
  // The busiest node sends at least the mean, and not more than the whole cluster does.
  assert.ok(j.traffic.maxBytesPerNodePerSec >= j.traffic.bytesPerNodePerSec);
  assert.ok(j.traffic.maxBytesPerNodePerSec <= j.traffic.bytesPerNodePerSec * 50);
});

Deno.test("deno task sim: membership only leaves the other phases out; a bad --ids is refused", async () => {
  const r = await task(["--nodes", "10", "--scenarios", "membership", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.membership.converged, 10);
  assert.equal(j.run.ids, "short");
  assert.equal(j.traffic, undefined);
  assert.equal(j.detection, undefined);
  const bad = await task(["--nodes", "10", "--ids", "long"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--ids expects short or zlayer, got "long"/);
});

Deno.test("zlayer ids: worker:<20 digits>, u64 generations, IPv4; 68-byte V0 digest entries", () => {
  for (const i of [0, 1, 999, 9_999]) {
    const nodeId = simNodeId(i, "zlayer");
    assert.match(nodeId, /^worker:\d{20}$/);
    assert.ok(BigInt(nodeId.slice("worker:".length)) < 2n ** 64n);
    const generationId = simGenerationId(i, "zlayer");
    assert.ok(generationId > 2n ** 32n && generationId < 2n ** 64n);
    const entry = {
      chitchatId: { nodeId, generationId, gossipAdvertiseAddr: simAddr(i) },
      heartbeat: 12n,
      lastGcVersion: 0n,
      maxVersion: 3n,
    };
    assert.match(entry.chitchatId.gossipAdvertiseAddr.ip, /^\d+\.\d+\.\d+\.\d+$/);
    // A digest is a u16 count and its entries.
    assert.equal(encodeDigest({ nodes: [entry] }).length - 2, 68);
  }
  assert.equal(simNodeId(3, "short"), "node_3");
  // 963 such entries fit one datagram, 964 do not.
  const syn = (n: number) =>
    encodeSyn("default-cluster", {
      nodes: Array.from({ length: n }, (_, i) => ({
        chitchatId: {
          nodeId: simNodeId(i, "zlayer"),
          generationId: simGenerationId(i, "zlayer"),
          gossipAdvertiseAddr: simAddr(i),
        },
        heartbeat: 5n,
        lastGcVersion: 0n,
        maxVersion: 2n,
      })),
    }).length;
  assert.ok(syn(963) <= MAX_DATAGRAM_SIZE, `${syn(963)}`);
  assert.ok(syn(964) > MAX_DATAGRAM_SIZE, `${syn(964)}`);
});

// The command as it stands (no --wall-budget: the default grows with the size): 2000
Deno.test("deno task sim --datagram-limit: 120 zlayer nodes past one datagram, compact heartbeats, converge", async () => {
  // 120 x 68 bytes of digest on 2 000-byte datagrams: each Syn carries about a quarter of it.
  const r = await task([
    "--nodes",
    "120",
    "--ids",
    "zlayer",
    "--interval",
    "1000",
    "--datagram-limit",
    "2000",
    "--past-one-datagram",
    "compact",
    "--scenarios",
    "membership,propagation,detection",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.run.datagramLimit, 2000);
  assert.equal(j.run.pastOneDatagram, "compact");
  assert.equal(j.membership.converged, 120);
  assert.equal(j.propagation.reached, 120);
  assert.equal(j.detection.detected, 119);
  const bad = await task(["--nodes", "10", "--datagram-limit", "70000"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--datagram-limit/);
  const mode = await task(["--nodes", "10", "--past-one-datagram", "sometimes"]);
  assert.equal(mode.code, 2);
  assert.match(mode.stderr, /off, rotate, random, compact/);
});

// zlayer-id nodes, twice the 963-entry ceiling, so every node gossips partial digests (about half
// of its digest per Syn). Measured alone on this machine: 16 s simulated in 154 s wall, 5.6 GB RSS.
Deno.test("deno task sim: 2000 zlayer-id nodes (past one datagram) all converge", async () => {
  const r = await task([
    "--nodes",
    "2000",
    "--ids",
    "zlayer",
    "--interval",
    "1000",
    "--scenarios",
    "membership",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.run.pastOneDatagram, "compact");
  assert.equal(j.run.wallBudgetExhausted, false);
  assert.equal(j.membership.timedOut, false);
  assert.equal(j.membership.converged, 2000);
  assert.ok(j.membership.allMs <= 60_000, `${j.membership.allMs}`);
});
