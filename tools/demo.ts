/**
 * `deno task demo`: a local hearsay cluster you can watch. Starts worker processes on loopback
 * UDP (plus a real Rust chitchat node publishing a zlayer-style PeerInfo when the interop peer
 * is built), waits for every worker to know every other, stops one worker gracefully, brings
 * it back, and prints a summary of the timings. Exits by itself.
 *
 * Run as root with wireguard-go, wg and ping installed, it shows the WireGuard overlay instead
 * (tools/_demo_overlay.ts): hosts in network namespaces meshed by their workers, pings over
 * WireGuard, a host killed and removed, a key rotation.
 *
 * Flags: --workers N (default 5, 2..20), --interval-ms MS (default 200), --no-rust, --fast (no
 * pauses between phases), --overlay (the overlay demo, or exit 1 saying why it cannot run),
 * --no-overlay (the loopback demo even as root).
 */
import { encodePeerInfo, workerKey } from "../src/pool/peer_info.ts";
import { InteropPeer } from "../interop/peer.ts";
import { readLines } from "../sim/lines.ts";
import { parseCli } from "../sim/flags.ts";
import { wireGuardLabUnavailable } from "../sim/netns_lab.ts";
import { bold, cyan, dim, elapsedMs, green, red, say, yellow } from "./_demo_style.ts";
import { runOverlayDemo } from "./_demo_overlay.ts";

const flags = parseCli(
  "tools/demo.ts",
  "a local hearsay pool of worker processes on loopback UDP, watched phase by phase",
  Deno.args,
  (f) => ({
    workers: f.number("workers", 5, "pool members (worker processes), kept within 2..20", {
      integer: true,
    }),
    intervalMs: f.number("interval-ms", 200, "gossip interval, ms", { integer: true, min: 1 }),
    noRust: f.boolean("no-rust", "leave out the Rust chitchat node"),
    fast: f.boolean("fast", "no pauses between the phases"),
    overlay: f.boolean("overlay", "the WireGuard overlay demo (root, wireguard-go and wg needed)"),
    noOverlay: f.boolean("no-overlay", "the loopback demo even when the overlay one could run"),
  }),
);
const WORKERS = Math.min(20, Math.max(2, flags.workers));
const INTERVAL = flags.intervalMs;
const DEADLINE_MS = 50_000;
const RUST_ID = 99n;

if (flags.overlay && flags.noOverlay) {
  console.error("tools/demo.ts: --overlay and --no-overlay exclude each other");
  Deno.exit(2);
}
const overlayMissing = flags.noOverlay ? "--no-overlay" : await wireGuardLabUnavailable();
if (overlayMissing === undefined) {
  Deno.exit(await runOverlayDemo({ intervalMs: INTERVAL, fast: flags.fast }));
} else if (flags.overlay) {
  console.error(`tools/demo.ts: --overlay: cannot run the WireGuard demo: ${overlayMissing}`);
  Deno.exit(1);
}

/** One pool member: a src/cli/worker.ts process. */
interface WorkerProcess {
  id: bigint;
  proc: Deno.ChildProcess;
  addr: string;
  peers: Set<bigint>;
  done: Promise<void>;
}
const workers = new Map<bigint, WorkerProcess>();
const waiters: (() => void)[] = [];
const notify = () => waiters.splice(0).forEach((w) => w());

async function until(what: string, check: () => boolean): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (elapsedMs() > DEADLINE_MS) throw new Error(`demo timed out waiting: ${what}`);
    const timer = new Promise<void>((r) => setTimeout(r, 250));
    await Promise.race([new Promise<void>((r) => waiters.push(r)), timer]);
  }
  return performance.now() - start;
}

const workerScript = new URL("../src/cli/worker.ts", import.meta.url).pathname;
let seedAddr: string | undefined;
let rustAddr: string | undefined;

async function startWorker(id: bigint): Promise<WorkerProcess> {
  const seeds = [seedAddr, rustAddr].filter((s): s is string => s !== undefined);
  const proc = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      workerScript,
      "--node-id",
      String(id),
      "--listen",
      "127.0.0.1:0",
      "--cluster-id",
      "demo",
      "--interval-ms",
      String(INTERVAL),
      "--initial-interval-ms",
      String(INTERVAL),
      "--wg-endpoint",
      `127.0.0.1:${51_820 + Number(id)}`,
      "--overlay-ip",
      `10.42.0.${id}`,
      "--label",
      `zone=${["north", "south", "east"][Number(id) % 3]}`,
      ...seeds.flatMap((s) => ["--seed", s]),
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const { promise: listening, resolve: onListening } = Promise.withResolvers<string>();
  const w: WorkerProcess = { id, proc, addr: "", peers: new Set(), done: Promise.resolve() };
  const out = readLines(proc.stdout, (line) => {
    const e = JSON.parse(line.replace(/"node_id":(\d+)/, '"node_id":"$1"'));
    const peer = BigInt(e.node_id);
    if (e.event === "joined") w.peers.add(peer);
    if (e.event === "left") w.peers.delete(peer);
    const what = e.event === "joined"
      ? green("joined ")
      : e.event === "left"
      ? red("left   ")
      : yellow("updated");
    const extra = e.event === "left" ? dim(`(${e.reason})`) : dim(`overlay ${e.overlay_ip}`);
    const name = peer === RUST_ID ? cyan(`rust ${peer}`) : `worker ${peer}`;
    say(`worker ${id}  ${what}  ${name} ${extra}`);
    notify();
  });
  const err = readLines(proc.stderr, (line) => {
    const m = /gossiping on (\S+),/.exec(line);
    if (m) onListening(m[1]!);
    else if (!/left the pool|status on/.test(line)) say(dim(`worker ${id}: ${line}`));
  });
  w.done = Promise.all([out, err, proc.status]).then(() => {});
  const timeout = setTimeout(() => onListening(""), 15_000);
  w.addr = await listening;
  clearTimeout(timeout);
  if (!w.addr) throw new Error(`worker ${id} did not start`);
  workers.set(id, w);
  return w;
}

async function stopWorker(w: WorkerProcess, signal: Deno.Signal): Promise<void> {
  w.proc.kill(signal);
  await w.done;
  workers.delete(w.id);
}

const everyoneKnowsEveryone = (expected: bigint[]) => () =>
  [...workers.values()].every((w) => expected.every((id) => id === w.id || w.peers.has(id)));

console.log(bold(`hearsay demo: ${WORKERS} workers, ${INTERVAL} ms gossip interval, loopback UDP`));
if (!flags.noOverlay) {
  console.log(dim(
    `(WireGuard overlay demo skipped: ${overlayMissing}. To see it: apt-get install -y ` +
      "wireguard-go wireguard-tools iputils-ping, then run as root: sudo deno task demo)",
  ));
}
let peer: InteropPeer | undefined;
let rustHandle: number | undefined;
if (!flags.noRust) {
  try {
    peer = await InteropPeer.start();
    const key = workerKey(RUST_ID);
    const info = encodePeerInfo({
      nodeId: RUST_ID,
      wgPubkey: "rust-chitchat-node",
      wgEndpoint: "127.0.0.1:51999",
      overlayIp: `10.42.0.${RUST_ID}`,
      labels: {},
    });
    const r = await peer.request<
      { handle: number; chitchatId: { gossipAdvertiseAddr: { port: number } } }
    >(
      "node_start",
      {
        nodeId: key,
        generationId: "0",
        listenPort: 0,
        seeds: [],
        clusterId: "demo",
        gossipIntervalMs: INTERVAL,
        initialIntervalMs: INTERVAL,
        initialKeyValues: [[key, info]],
      },
    );
    rustAddr = `127.0.0.1:${r.chitchatId.gossipAdvertiseAddr.port}`;
    rustHandle = r.handle;
    say(
      cyan(`rust chitchat 0.10.1 node worker:${RUST_ID} up on ${rustAddr} (zlayer-style PeerInfo)`),
    );
  } catch (e) {
    say(yellow(`no Rust chitchat node (${(e as Error).message.split("\n")[0]})`));
    peer = undefined;
  }
}

const summary: [string, number][] = [];
/** A short breath between phases, so a person can read along. */
const pause = () => new Promise((r) => setTimeout(r, flags.fast ? 0 : 1000));
try {
  const ids = Array.from({ length: WORKERS }, (_, i) => BigInt(i + 1));
  const startAt = performance.now();
  for (const id of ids) {
    const w = await startWorker(id);
    seedAddr ??= w.addr;
    say(`worker ${id} started on ${w.addr}`);
  }
  const expected = peer ? [...ids, RUST_ID] : ids;
  await until("convergence", everyoneKnowsEveryone(expected));
  const converge = performance.now() - startAt;
  summary.push([`${expected.length} members know each other (from first start)`, converge]);
  say(bold(green(`converged: every worker sees ${expected.length - 1} peers`)));
  await pause();

  const victim = workers.get(ids[Math.floor(ids.length / 2)]!)!;
  say(bold(`stopping worker ${victim.id} (SIGTERM: graceful leave)`));
  const leftAt = performance.now();
  await stopWorker(victim, "SIGTERM");
  await until("left", () => [...workers.values()].every((w) => !w.peers.has(victim.id)));
  summary.push([`everyone saw worker ${victim.id} leave (graceful)`, performance.now() - leftAt]);
  say(bold(`bringing worker ${victim.id} back (new generation)`));
  const backAt = performance.now();
  await startWorker(victim.id);
  await until("rejoin", everyoneKnowsEveryone(expected));
  summary.push([`everyone saw worker ${victim.id} join again`, performance.now() - backAt]);
  say(bold(green("cluster whole again")));
  await pause();

  const crashed = workers.get(ids[ids.length - 1]!)!;
  say(bold(`killing worker ${crashed.id} (SIGKILL: no goodbye, the failure detector must notice)`));
  const killAt = performance.now();
  await stopWorker(crashed, "SIGKILL");
  await until(
    "failure detection",
    () => [...workers.values()].every((w) => !w.peers.has(crashed.id)),
  );
  summary.push([`everyone detected worker ${crashed.id} as failed`, performance.now() - killAt]);
  await pause();
  if (peer !== undefined && rustHandle !== undefined) {
    const st = await peer.request<{ live: { nodeId: string }[] }>("node_state", {
      handle: rustHandle,
    });
    say(
      cyan(
        `the Rust chitchat node sees ${st.live.length} live nodes: ${
          st.live.map((n) => n.nodeId).sort().join(" ")
        }`,
      ),
    );
  }
  say(bold("stopping the cluster"));
} finally {
  for (const w of [...workers.values()]) await stopWorker(w, "SIGTERM");
  await peer?.close();
}
console.log("\n" + bold("summary"));
for (const [what, ms] of summary) console.log(`  ${(ms / 1000).toFixed(2).padStart(6)} s  ${what}`);
console.log(dim(`  total ${(elapsedMs() / 1000).toFixed(1)} s`));
