/**
 * Hearsay clusters on real UDP sockets on 127.0.0.1, with chitchat's perf-test configuration
 * (300 ms interval, failure-detector initial interval = interval, phi 8, node 0 the seed).
 *
 * For each cluster size: time until every node sees all nodes live (membership), messages and
 * bytes sent per node per second over a 3 s window (`GossipNode.metrics()`), then one node is
 * closed without a word and the delay until each other node drops it from `liveNodes()`
 * (polled every 50 ms; median and max over observers). Saturation shows as event-loop lag
 * (largest lateness of a 50 ms timer) and CPU time per wall second (`process.cpuUsage`).
 * Sizes grow until membership does not converge within the bound.
 *
 * `--processes P` spreads the nodes over P child processes (this file with `--host`), each
 * running its share of the nodes and reporting a JSON snapshot every 100 ms on stdout; the
 * parent sends `kill <node>` and `exit` on their stdin.
 *
 * ```sh
 * deno run -A --unstable-net bench/udp_cluster.ts                       # one process, 10..
 * deno run -A --unstable-net bench/udp_cluster.ts --nodes 100 --processes 2
 * ```
 *
 * @module
 */
import process from "node:process";
import { GossipNode } from "../src/node/gossip_node.ts";
import { readLines } from "../sim/lines.ts";
import { parseCli } from "../sim/flags.ts";

/** Convergence bound of one size. */
const CONVERGE_MS = 30_000;
/** Detection bound. */
const DETECT_MS = 30_000;
/** Traffic window. */
const WINDOW_MS = 3_000;
/** Snapshot period of a host. */
const POLL_MS = 50;

/** What one host (a process, or the parent in one-process mode) reports. */
interface Snapshot {
  /** Per hosted node (open or closed): live count, and whether it still sees the victim. */
  nodes: { id: string; live: number; seesVictim: boolean; closed: boolean }[];
  datagramsOut: number;
  bytesOut: number;
  /** Largest timer lateness since the previous snapshot, ms. */
  lagMs: number;
  /** process CPU (user + system) in ms since the host started. */
  cpuMs: number;
  rssBytes: number;
  warnings: number;
  /** Port of the first node of host 0 (the seed). */
  seedPort: number;
}

/** N nodes in this process, seeded off `seed` (or off its own first node). */
class Host {
  nodes: GossipNode[] = [];
  victim: string | undefined;
  warnings = 0;
  #lag = 0;
  #timer: ReturnType<typeof setInterval>;
  #expected = performance.now() + POLL_MS;

  constructor() {
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#lag = Math.max(this.#lag, now - this.#expected);
      this.#expected = now + POLL_MS;
    }, POLL_MS);
  }

  async start(ids: string[], seed: string | undefined, intervalMs: number): Promise<void> {
    for (const nodeId of ids) {
      const node = await GossipNode.start({
        nodeId,
        generationId: 1n,
        clusterId: "udp-bench",
        listenAddr: "127.0.0.1:0",
        gossipIntervalMs: intervalMs,
        failureDetector: { initialIntervalMs: intervalMs, phiThreshold: 8 },
        seeds: seed === undefined ? [] : [seed],
        onWarning: () => this.warnings++,
      });
      this.nodes.push(node);
      seed ??= `127.0.0.1:${node.chitchatId.gossipAdvertiseAddr.port}`;
    }
  }

  async kill(id: string): Promise<void> {
    this.victim = id;
    for (const n of this.nodes) if (n.chitchatId.nodeId === id) await n.close();
  }

  snapshot(): Snapshot {
    let datagramsOut = 0;
    let bytesOut = 0;
    const nodes = this.nodes.map((n) => {
      if (n.closed) return { id: n.chitchatId.nodeId, live: 0, seesVictim: false, closed: true };
      const m = n.metrics();
      datagramsOut += m.datagramsOut;
      bytesOut += m.bytesOut;
      const live = n.liveNodes();
      const v = this.victim;
      return {
        id: n.chitchatId.nodeId,
        live: live.length,
        seesVictim: v !== undefined && live.some((c) => c.nodeId === v),
        closed: false,
      };
    });
    const cpu = process.cpuUsage();
    const lagMs = this.#lag;
    this.#lag = 0;
    return {
      nodes,
      datagramsOut,
      bytesOut,
      lagMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      rssBytes: Deno.memoryUsage().rss,
      warnings: this.warnings,
      seedPort: this.nodes[0]?.chitchatId.gossipAdvertiseAddr.port ?? 0,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.nodes.map((n) => n.close()));
  }
}

/** The parent's handle on the hosts: local (one process) or child processes. */
interface Cluster {
  /** Latest snapshot of every host. */
  snapshots(): Promise<Snapshot[]>;
  kill(id: string): Promise<void>;
  close(): Promise<void>;
}

async function localCluster(n: number, intervalMs: number): Promise<Cluster> {
  const host = new Host();
  try {
    await host.start(Array.from({ length: n }, (_, i) => `node_${i}`), undefined, intervalMs);
  } catch (e) {
    await host.close();
    throw e;
  }
  return {
    snapshots: () => Promise.resolve([host.snapshot()]),
    kill: (id) => host.kill(id),
    close: () => host.close(),
  };
}

interface Child {
  proc: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  latest: Snapshot | undefined;
  first: Promise<void>;
  reading: Promise<void>;
}

function spawnHost(ids: string[], seed: string | undefined, intervalMs: number): Child {
  const args = ["run", "-A", "--unstable-net", import.meta.filename!, "--host"];
  args.push("--ids", ids.join(","), "--interval-ms", String(intervalMs));
  if (seed !== undefined) args.push("--seed", seed);
  const proc = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let gotFirst: () => void = () => {};
  const child: Child = {
    proc,
    stdin: proc.stdin.getWriter(),
    latest: undefined,
    first: new Promise<void>((r) => (gotFirst = r)),
    reading: Promise.resolve(),
  };
  child.reading = readLines(proc.stdout, (line) => {
    child.latest = JSON.parse(line) as Snapshot;
    gotFirst();
  }).catch(() => {});
  return child;
}

async function processCluster(n: number, p: number, intervalMs: number): Promise<Cluster> {
  const children: Child[] = [];
  const enc = new TextEncoder();
  const close = async () => {
    for (const c of children) {
      await c.stdin.write(enc.encode("exit\n")).catch(() => {});
      await c.stdin.close().catch(() => {});
    }
    const timer = setTimeout(() => {
      for (const c of children) {
        try {
          c.proc.kill("SIGKILL");
        } catch { /* already gone */ }
      }
    }, 10_000);
    await Promise.all(children.map((c) => c.proc.status));
    await Promise.all(children.map((c) => c.reading));
    clearTimeout(timer);
  };
  try {
    const share = (h: number) =>
      Array.from({ length: n }, (_, i) => i).filter((i) => i % p === h).map((i) => `node_${i}`);
    children.push(spawnHost(share(0), undefined, intervalMs));
    await withTimeout(children[0]!.first, 60_000, "host 0 did not report");
    const seed = `127.0.0.1:${children[0]!.latest!.seedPort}`;
    for (let h = 1; h < p; h++) children.push(spawnHost(share(h), seed, intervalMs));
    await withTimeout(Promise.all(children.map((c) => c.first)), 60_000, "a host did not report");
  } catch (e) {
    await close();
    throw e;
  }
  return {
    snapshots: () => Promise.resolve(children.map((c) => c.latest!)),
    kill: async (id) => {
      for (const c of children) await c.stdin.write(enc.encode(`kill ${id}\n`));
    },
    close,
  };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The figures of one size. */
interface Row {
  nodes: number;
  processes: number;
  convergedMs: number | null;
  convergedNodes: number;
  /** Median over nodes of the live count each saw last in the membership phase. */
  medianLiveSeen: number;
  msgsPerNodePerSec: number | null;
  bytesPerNodePerSec: number | null;
  detectMedianMs: number | null;
  detectMaxMs: number | null;
  detected: number;
  maxLagMs: number;
  cpuPerWallSec: number;
  rssMiB: number;
  warnings: number;
}

async function runSize(n: number, p: number, intervalMs: number): Promise<Row> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const cluster = p <= 1
    ? await localCluster(n, intervalMs)
    : await processCluster(n, p, intervalMs);
  const row: Row = {
    nodes: n,
    processes: Math.max(1, p),
    convergedMs: null,
    convergedNodes: 0,
    medianLiveSeen: 0,
    msgsPerNodePerSec: null,
    bytesPerNodePerSec: null,
    detectMedianMs: null,
    detectMaxMs: null,
    detected: 0,
    maxLagMs: 0,
    cpuPerWallSec: 0,
    rssMiB: 0,
    warnings: 0,
  };
  const snap = async () => {
    const s = await cluster.snapshots();
    row.maxLagMs = Math.max(row.maxLagMs, ...s.map((x) => x.lagMs));
    row.warnings = s.reduce((a, x) => a + x.warnings, 0);
    row.rssMiB = s.reduce((a, x) => a + x.rssBytes, 0) / 2 ** 20;
    return s;
  };
  try {
    // membership
    while (performance.now() - t0 < CONVERGE_MS) {
      const s = await snap();
      const nodes = s.flatMap((x) => x.nodes);
      row.convergedNodes = nodes.filter((x) => x.live === n).length;
      row.medianLiveSeen = median(nodes.map((x) => x.live)) ?? 0;
      if (row.convergedNodes === n) {
        row.convergedMs = Math.round(performance.now() - t0);
        break;
      }
      await sleep(POLL_MS);
    }
    if (row.convergedMs === null) {
      const s = await snap();
      const wall = (performance.now() - t0) / 1000;
      const cpu1 = process.cpuUsage();
      row.cpuPerWallSec = p <= 1
        ? (s[0]!.cpuMs - (cpu0.user + cpu0.system) / 1000) / 1000 / wall
        : (s.reduce((t, x) => t + x.cpuMs, 0) +
          (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1000) / 1000 / wall;
      return row;
    }
    // traffic
    const a = await snap();
    const wa = performance.now();
    await sleep(WINDOW_MS);
    const b = await snap();
    const sec = (performance.now() - wa) / 1000;
    const sum = (s: Snapshot[], f: (x: Snapshot) => number) => s.reduce((t, x) => t + f(x), 0);
    row.msgsPerNodePerSec = (sum(b, (x) => x.datagramsOut) - sum(a, (x) => x.datagramsOut)) /
      n / sec;
    row.bytesPerNodePerSec = (sum(b, (x) => x.bytesOut) - sum(a, (x) => x.bytesOut)) / n / sec;
    // detection: the last node goes silent
    const victim = `node_${n - 1}`;
    const tk = performance.now();
    await cluster.kill(victim);
    const delays = new Map<string, number>();
    await sleep(POLL_MS * 3); // let the hosts learn the victim's name before judging them
    while (performance.now() - tk < DETECT_MS) {
      const s = await snap();
      const observers = s.flatMap((x) => x.nodes).filter((x) => !x.closed && x.id !== victim);
      for (const o of observers) {
        if (!o.seesVictim && !delays.has(o.id)) delays.set(o.id, performance.now() - tk);
      }
      if (delays.size >= n - 1) break;
      await sleep(POLL_MS);
    }
    const d = [...delays.values()];
    row.detected = d.length;
    if (d.length > 0) {
      row.detectMedianMs = Math.round(median(d)!);
      row.detectMaxMs = Math.round(Math.max(...d));
    }
    const last = await snap();
    const wall = (performance.now() - t0) / 1000;
    const cpu1 = process.cpuUsage();
    const parentCpu = p <= 1 ? 0 : (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1000;
    const hostsCpu = p <= 1
      ? last[0]!.cpuMs - (cpu0.user + cpu0.system) / 1000
      : last.reduce((t, x) => t + x.cpuMs, 0);
    row.cpuPerWallSec = (hostsCpu + parentCpu) / 1000 / wall;
    return row;
  } finally {
    await cluster.close();
  }
}

function fmt(x: number | null, digits = 0): string {
  return x === null ? "—" : x.toFixed(digits);
}

function table(rows: Row[]): string {
  const head = "| nodes | processes | all live after (ms) | msgs/s per node | bytes/s per node | " +
    "detection median / max (ms) | max event-loop lag (ms) | CPU s per wall s | RSS (MiB) |";
  const sep = "|" + "---|".repeat(9);
  const lines = rows.map((r) =>
    `| ${r.nodes} | ${r.processes} | ${
      r.convergedMs === null
        ? `not within ${CONVERGE_MS} (${r.convergedNodes}/${r.nodes} nodes; median sees ${r.medianLiveSeen})`
        : r.convergedMs
    } | ${fmt(r.msgsPerNodePerSec, 1)} | ${fmt(r.bytesPerNodePerSec)} | ${
      fmt(r.detectMedianMs)
    } / ${fmt(r.detectMaxMs)}${
      r.detected < r.nodes - 1 && r.convergedMs !== null ? ` (${r.detected}/${r.nodes - 1})` : ""
    } | ${r.maxLagMs.toFixed(0)} | ${r.cpuPerWallSec.toFixed(2)} | ${r.rssMiB.toFixed(0)} |`
  );
  return [head, sep, ...lines].join("\n");
}

async function hostMain(
  ids: string[],
  seed: string | undefined,
  intervalMs: number,
): Promise<void> {
  const host = new Host();
  const enc = new TextEncoder();
  const out = Deno.stdout;
  const report = setInterval(() => {
    out.writeSync(enc.encode(JSON.stringify(host.snapshot()) + "\n"));
  }, 100);
  try {
    await host.start(ids, seed, intervalMs);
    await readLines(Deno.stdin.readable, (line) => {
      const [cmd, arg] = line.split(" ");
      if (cmd === "kill" && arg !== undefined) void host.kill(arg);
      if (cmd === "exit") Deno.stdin.close();
    }).catch(() => {});
  } finally {
    clearInterval(report);
    await host.close();
  }
}

async function main(args: string[]): Promise<void> {
  const o = parseCli(
    "bench/udp_cluster.ts",
    "hearsay clusters on real UDP sockets on 127.0.0.1, growing until they do not converge",
    args,
    (f) => ({
      nodes: f.numbers("nodes", [10, 50, 100, 200, 300, 400, 600, 800, 1000], "cluster sizes", {
        integer: true,
        min: 3,
      }),
      processes: f.number("processes", 1, "child processes to spread the nodes over", {
        integer: true,
        min: 1,
      }),
      intervalMs: f.number("interval-ms", 300, "gossip interval, ms", { above: 0 }),
      // Internal: how the parent starts a child process.
      host: f.boolean("host", "run as a child process (internal)"),
      ids: f.string("ids", "the node indexes of a child process (internal, with --host)"),
      seed: f.string("seed", "the seed address of a child process (internal, with --host)"),
    }),
  );
  if (o.host) {
    const ids = (o.ids ?? "").split(",").filter((s) => s !== "");
    return await hostMain(ids, o.seed, o.intervalMs);
  }
  const intervalMs = o.intervalMs;
  const p = o.processes;
  const sizes = o.nodes;
  const rows: Row[] = [];
  for (const n of sizes) {
    console.error(`udp_cluster: ${n} nodes in ${p} process(es)...`);
    const row = await runSize(n, p, intervalMs);
    rows.push(row);
    console.error(JSON.stringify(row));
    if (row.convergedMs === null) break;
  }
  console.log(`Command: deno run -A --unstable-net bench/udp_cluster.ts ${args.join(" ")}`);
  console.log(`Date: ${new Date().toISOString()}, ${navigator.hardwareConcurrency} CPUs\n`);
  console.log(table(rows));
}

if (import.meta.main) await main(Deno.args);
