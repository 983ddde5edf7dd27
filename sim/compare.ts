/**
 * hearsay and chitchat side by side, measured in the same run on this machine: the same cluster
 * scenarios (`scenarios.ts`; `cluster_sim.ts` for hearsay, the interop peer's `sim_run` for
 * chitchat 0.10.1 on its `ChannelTransport`), with chitchat's perf-test configuration (300 ms
 * interval, initial interval = interval, seed node 0). Both run on a virtual clock (hearsay:
 * `VirtualClock`; chitchat: tokio's paused clock), so the protocol figures do not depend on this
 * machine's speed; the wall time each simulation took is reported too. A short real-clock
 * chitchat run checks that the paused clock gives chitchat's real-time figures.
 *
 * The library: {@link runCompare} measures, {@link reportMarkdown} prints markdown tables. The
 * command line is `bench/cluster_compare.ts` (`deno task bench` runs it; tools/plot.ts draws
 * the plots from its JSON).
 *
 * @module
 */
import { InteropPeer } from "../interop/peer.ts";
import type { ClusterSimResult } from "./figures.ts";
import type { ClusterSimOptions } from "./scenarios.ts";
import { runHearsaySim } from "./cluster_sim.ts";
import { runShardedSim } from "./cluster_shards.ts";

/** One compared configuration and what each side measured.
 *
 * @example
 * ```ts
 * import type { ComparedRun } from "./compare.ts";
 * import { runHearsaySim } from "./cluster_sim.ts";
 * const options = { numNodes: 4, scenarios: ["membership"] as const };
 * const run: ComparedRun = {
 *   label: "4 nodes", options, hearsay: [await runHearsaySim(options)], chitchat: [],
 *   chitchatError: "not run in this example",
 * };
 * console.log(run.hearsay[0]!.membership.converged); // 4
 * ```
 */
export interface ComparedRun {
  /** The configuration, as the table heading shows it. */
  label: string;
  /** The options both sides ran with (the seed aside). */
  options: ClusterSimOptions;
  /** One result per seed (the tables show the mean of each figure). */
  hearsay: ClusterSimResult[];
  /** chitchat's results, one per seed (empty when it could not run). */
  chitchat: ClusterSimResult[];
  /** Why chitchat could not run. */
  chitchatError?: string;
}

/** Everything one compare run produced (`bench/cluster_compare.ts --out` saves it as JSON).
 *
 * @example
 * ```ts
 * import { type CompareReport, reportMarkdown } from "./compare.ts";
 * const empty: CompareReport = {
 *   date: "2026-12-02", machine: "test", runs: [], chitchatRealClock: [], speed: null,
 * };
 * console.log(reportMarkdown(empty).split("\n")[0]);
 * // ### Cluster scenarios, hearsay vs chitchat 0.10.1 (2026-12-02)
 * ```
 */
export interface CompareReport {
  /** When the run started (ISO 8601). */
  date: string;
  /** Cores, CPU model, OS and Deno version. */
  machine: string;
  /** The compared configurations. */
  runs: ComparedRun[];
  /** chitchat on the real clock (10 and 100 nodes), to check its paused clock against. */
  chitchatRealClock: ClusterSimResult[];
  /** The real-time check (`speedNodes` at a 1 s interval, membership and traffic): hearsay in
   * one thread, hearsay over 2 threads (sim/cluster_shards.ts), chitchat on its paused clock. */
  speed: ClusterSimResult | null;
  /** The real-time check over 2 shard threads. */
  speedSharded?: ClusterSimResult | null;
  /** The real-time check for chitchat. */
  speedChitchat?: ClusterSimResult | null;
  /** Why chitchat's real-time check could not run. */
  speedChitchatError?: string;
}

/** Runs chitchat's side of a configuration through the interop peer.
 *
 * @example
 * ```ts
 * import { InteropPeer } from "../interop/peer.ts";
 * import { runChitchatSim } from "./compare.ts";
 * await using peer = await InteropPeer.start();
 * const r = await runChitchatSim(peer, { numNodes: 4, scenarios: ["membership"] }, "virtual");
 * console.log(r.run.implementation, r.membership.converged); // chitchat 0.10.1 4
 * ```
 */
export function runChitchatSim(
  peer: InteropPeer,
  options: ClusterSimOptions,
  clock: "real" | "virtual",
): Promise<ClusterSimResult> {
  const { delayMs: _ignored, ...rest } = options;
  return peer.request<ClusterSimResult>("sim_run", { ...rest, clock });
}

/** Formats a number for a table: ms as ms or s, bytes as KB/MB, blanks for null.
 *
 * @example
 * ```ts
 * import { fmt } from "./compare.ts";
 * console.log(fmt(1234, "ms"), fmt(2048, "B"), fmt(null, "ms")); // 1.23 s 2.0 KB n/a
 * ```
 */
export function fmt(x: number | null | undefined, unit: "ms" | "B" | "/s" | "x" | ""): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "n/a";
  switch (unit) {
    case "ms":
      return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`;
    case "B":
      return x >= 1e6 ? `${(x / 1e6).toFixed(2)} MB` : `${(x / 1e3).toFixed(1)} KB`;
    case "/s":
      return x.toFixed(1);
    case "x":
      return `${x.toFixed(2)}x`;
    default:
      return String(x);
  }
}

/** hearsay / chitchat, or n/a.
 *
 * @example
 * ```ts
 * import { ratio } from "./compare.ts";
 * console.log(ratio(150, 100), ratio(1, null)); // 1.50 n/a
 * ```
 */
export function ratio(h: number | null | undefined, c: number | null | undefined): string {
  if (h === null || h === undefined || c === null || c === undefined || c === 0) return "n/a";
  return (h / c).toFixed(2);
}

/** The mean of a figure over runs (null when any run lacks it: a mean of what was reached would
 * flatter the side that timed out).
 *
 * @example
 * ```ts
 * import { meanOf } from "./compare.ts";
 * import { runHearsaySim } from "./cluster_sim.ts";
 * const runs = [1, 2].map((seed) => runHearsaySim({ numNodes: 4, seed, scenarios: ["membership"] }));
 * const results = await Promise.all(runs);
 * console.log(meanOf(results, (r) => r.membership.converged)); // 4
 * console.log(meanOf(results, (r) => r.propagation?.p99Ms)); // null (not measured)
 * ```
 */
export function meanOf(
  runs: readonly ClusterSimResult[],
  get: (r: ClusterSimResult) => number | null | undefined,
): number | null {
  if (runs.length === 0) return null;
  let sum = 0;
  for (const r of runs) {
    const x = get(r);
    if (x === null || x === undefined || !Number.isFinite(x)) return null;
    sum += x;
  }
  return sum / runs.length;
}

type Row = [string, (r: ClusterSimResult) => number | null | undefined, Parameters<typeof fmt>[1]];

const ROWS: Row[] = [
  ["membership: node 1 sees all (ms)", (r) => r.membership.node1Ms, "ms"],
  ["membership: median node sees all", (r) => r.membership.medianMs, "ms"],
  ["membership: every node sees all", (r) => r.membership.allMs, "ms"],
  ["membership: live nodes seen (median, at end)", (r) => r.membership.liveSeen?.median, ""],
  ["new key reaches 50% of nodes", (r) => r.propagation?.p50Ms, "ms"],
  ["new key reaches 99%", (r) => r.propagation?.p99Ms, "ms"],
  ["new key reaches 100%", (r) => r.propagation?.p100Ms, "ms"],
  ["dead node detected: median observer", (r) => r.detection?.medianMs, "ms"],
  ["dead node detected: last observer", (r) => r.detection?.maxMs, "ms"],
  ["messages sent / node / s", (r) => r.traffic?.messagesPerNodePerSec, "/s"],
  ["bytes sent / node / s", (r) => r.traffic?.bytesPerNodePerSec, "B"],
  [
    "memory / node (hearsay: JS heap; chitchat: RSS)",
    (r) => r.memory?.heapPerNodeBytes ?? r.memory?.perNodeBytes,
    "B",
  ],
  ["simulated time", (r) => r.run.simulatedMs, "ms"],
  ["wall time of the simulation", (r) => r.run.wallMs, "ms"],
  ["speed (simulated / wall)", (r) => r.run.simulatedMs / r.run.wallMs, "x"],
];

/** Markdown table of one compared run.
 *
 * @example
 * ```ts
 * import { compareTable } from "./compare.ts";
 * import { runHearsaySim } from "./cluster_sim.ts";
 * const options = { numNodes: 4, scenarios: ["membership"] as const };
 * const table = compareTable({
 *   label: "4 nodes", options, hearsay: [await runHearsaySim(options)], chitchat: [],
 * });
 * console.log(table.split("\n").slice(0, 3).join("\n"));
 * // #### 4 nodes
 * //
 * // | figure | hearsay | chitchat | ratio (h/c) |
 * ```
 */
export function compareTable(run: ComparedRun): string {
  const lines = [
    `#### ${run.label}`,
    "",
    "| figure | hearsay | chitchat | ratio (h/c) |",
    "|---|---|---|---|",
  ];
  for (const [name, get, unit] of ROWS) {
    const h = meanOf(run.hearsay, get);
    const c = meanOf(run.chitchat, get);
    lines.push(`| ${name} | ${fmt(h, unit)} | ${fmt(c, unit)} | ${ratio(h, c)} |`);
  }
  const notes: string[] = [];
  const all = [
    ...run.hearsay.map((r) => ["hearsay", r] as const),
    ...run.chitchat.map((r) => ["chitchat", r] as const),
  ];
  for (const [who, r] of all) {
    const phases = [
      r.membership.timedOut ? "membership" : "",
      r.propagation?.timedOut ? "propagation" : "",
      r.detection?.timedOut ? "detection" : "",
    ].filter((x) => x !== "");
    if (r.run.wallBudgetExhausted || phases.length > 0) {
      notes.push(
        `${who}: stopped by its limits (${phases.join(", ") || "wall budget"}) after ` +
          `${fmt(r.run.simulatedMs, "ms")} simulated in ${fmt(r.run.wallMs, "ms")} wall; live ` +
          `nodes seen min/median/max ${r.membership.liveSeen?.min}/` +
          `${r.membership.liveSeen?.median}/${r.membership.liveSeen?.max} of ${r.run.numNodes}`,
      );
    }
  }
  if (run.chitchatError !== undefined) notes.push(`chitchat: ${run.chitchatError}`);
  if (notes.length > 0) lines.push("", ...notes.map((n) => `- ${n}`));
  return lines.join("\n");
}

async function machine(): Promise<string> {
  let cpu = "";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = /model name\s*:\s*(.*)/.exec(info)?.[1] ?? "";
  } catch {
    // Not Linux: the CPU model is not essential.
  }
  return `${navigator.hardwareConcurrency} cores ${cpu}, ${Deno.build.os}, Deno ${Deno.version.deno}`;
}

/** What {@link runCompare} measures.
 *
 * @example
 * ```ts
 * import type { CompareOptions } from "./compare.ts";
 * const quick: CompareOptions = {
 *   sizes: [10], losses: [0], budgetMs: 10_000, speedNodes: 0, realClock: false, repeat: 1,
 * };
 * console.log(quick.sizes.length * quick.losses.length * quick.repeat); // 1 configuration
 * ```
 */
export interface CompareOptions {
  /** Cluster sizes (500 and more: membership and traffic only, no loss, one seed). */
  sizes: number[];
  /** Loss rates. */
  losses: number[];
  /** Wall budget of one simulation of 500+ nodes, ms. */
  budgetMs: number;
  /** Nodes of the real-time check at a 1 s interval (0: skipped). */
  speedNodes: number;
  /** Whether to run chitchat on the real clock too (10 and 100 nodes). */
  realClock: boolean;
  /** Seeds per configuration below 500 nodes. */
  repeat: number;
  /** hearsay only: `startStaggerMs` of every run (see `ClusterSimOptions`). Default 0. */
  hearsayStartStaggerMs?: number;
}

/** Runs every configuration on both sides; logs progress to stderr. Needs the interop peer
 * (`deno task build:interop`).
 *
 * @example
 * ```ts
 * import { runCompare } from "./compare.ts";
 * const report = await runCompare({ sizes: [5], losses: [0], budgetMs: 10_000, speedNodes: 0,
 *   realClock: false, repeat: 1 });
 * console.log(report.runs.length, report.runs[0]!.chitchat.length); // 1 1
 * ```
 */
export async function runCompare(opts: CompareOptions): Promise<CompareReport> {
  const peer = await InteropPeer.start();
  const report: CompareReport = {
    date: new Date().toISOString(),
    machine: await machine(),
    runs: [],
    chitchatRealClock: [],
    speed: null,
  };
  try {
    for (const n of opts.sizes) {
      for (const loss of opts.losses) {
        // Big clusters: membership and traffic only, under the wall budget.
        const big = n >= 500;
        const options: ClusterSimOptions = {
          numNodes: n,
          gossipIntervalMs: 300,
          lossRate: loss,
          wallBudgetMs: big ? opts.budgetMs : 120_000,
          ...(big ? { scenarios: ["membership", "traffic"] as const } : {}),
        };
        if (big && loss > 0) continue;
        const label = `${n} nodes, ${loss * 100}% loss, 300 ms interval`;
        console.error(`cluster_compare: ${label} ...`);
        const repeat = big ? 1 : opts.repeat;
        const run: ComparedRun = {
          label: repeat > 1 ? `${label} (mean of ${repeat} seeds)` : label,
          options,
          hearsay: [],
          chitchat: [],
        };
        for (let seed = 1; seed <= repeat; seed++) {
          run.hearsay.push(
            await runHearsaySim({
              ...options,
              seed,
              startStaggerMs: opts.hearsayStartStaggerMs ?? 0,
            }),
          );
          try {
            run.chitchat.push(await runChitchatSim(peer, { ...options, seed }, "virtual"));
          } catch (e) {
            run.chitchatError = (e as Error).message;
          }
        }
        report.runs.push(run);
      }
    }
    if (opts.realClock) {
      for (const n of [10, 100]) {
        console.error(`cluster_compare: chitchat ${n} nodes on the real clock ...`);
        report.chitchatRealClock.push(
          await runChitchatSim(peer, { numNodes: n, gossipIntervalMs: 300 }, "real"),
        );
      }
    }
    if (opts.speedNodes > 0) {
      console.error(`cluster_compare: chitchat ${opts.speedNodes} nodes at a 1 s interval ...`);
      try {
        report.speedChitchat = await runChitchatSim(peer, speedOptions(opts), "virtual");
      } catch (e) {
        report.speedChitchatError = (e as Error).message;
      }
    }
  } finally {
    await peer.close();
  }
  if (opts.speedNodes > 0) {
    console.error(`cluster_compare: hearsay ${opts.speedNodes} nodes at a 1 s interval ...`);
    report.speed = await runHearsaySim(speedOptions(opts));
    console.error(`cluster_compare: the same on 2 threads ...`);
    report.speedSharded = await runShardedSim({ ...speedOptions(opts), threads: 2 });
  }
  return report;
}

function speedOptions(opts: { speedNodes: number; budgetMs: number }): ClusterSimOptions {
  return {
    numNodes: opts.speedNodes,
    gossipIntervalMs: 1000,
    scenarios: ["membership", "traffic"],
    wallBudgetMs: opts.budgetMs,
  };
}

/** The whole report as markdown.
 *
 * @example
 * ```ts
 * import { reportMarkdown } from "./compare.ts";
 * import { runHearsaySim } from "./cluster_sim.ts";
 * const options = { numNodes: 4, scenarios: ["membership"] as const };
 * const hearsay = [await runHearsaySim(options)];
 * const md = reportMarkdown({
 *   date: "today", machine: "here", runs: [{ label: "4 nodes", options, hearsay, chitchat: [] }],
 *   chitchatRealClock: [], speed: null,
 * });
 * console.log(md.includes("#### 4 nodes")); // true
 * ```
 */
export function reportMarkdown(report: CompareReport): string {
  const out = [`### Cluster scenarios, hearsay vs chitchat 0.10.1 (${report.date})`, ""];
  out.push(`Machine: ${report.machine}. Virtual clocks on both sides.`, "");
  for (const run of report.runs) out.push(compareTable(run), "");
  if (report.chitchatRealClock.length > 0) {
    out.push("#### chitchat on the real clock vs its paused clock (same scenarios)", "");
    out.push(
      "| nodes | clock | membership all | key 100% | detection median / max | msg/s | B/s |",
    );
    out.push("|---|---|---|---|---|---|---|");
    for (const r of report.chitchatRealClock) {
      const v = report.runs.find((x) =>
        x.options.numNodes === r.run.numNodes && x.options.lossRate === 0
      )?.chitchat[0];
      for (const [clock, x] of [["real", r], ["virtual", v]] as const) {
        if (x === undefined || x === null) continue;
        out.push(
          `| ${r.run.numNodes} | ${clock} | ${fmt(x.membership.allMs, "ms")} | ` +
            `${fmt(x.propagation?.p100Ms, "ms")} | ${fmt(x.detection?.medianMs, "ms")} / ` +
            `${fmt(x.detection?.maxMs, "ms")} | ${fmt(x.traffic?.messagesPerNodePerSec, "/s")} | ` +
            `${fmt(x.traffic?.bytesPerNodePerSec, "B")} |`,
        );
      }
    }
    out.push("");
  }
  const s = report.speed;
  if (s !== null) {
    out.push(`#### Simulation speed: ${s.run.numNodes} nodes, 1 s interval`, "");
    out.push(
      "| simulator | whole run (from cold start) | steady state (3 s window after convergence) | every node sees all | transport |",
    );
    out.push("|---|---|---|---|---|");
    const row = (name: string, r: ClusterSimResult | null | undefined, note = "") => {
      if (r === null || r === undefined) {
        out.push(`| ${name} | n/a${note ? ` (${note})` : ""} | | | |`);
        return;
      }
      const steady = r.traffic === undefined ? null : r.traffic.windowMs / r.traffic.windowWallMs;
      out.push(
        `| ${name} | ${fmt(r.run.simulatedMs, "ms")} in ${fmt(r.run.wallMs, "ms")} wall = ` +
          `**${fmt(r.run.simulatedMs / r.run.wallMs, "x")}** real time` +
          (r.run.wallBudgetExhausted ? " (stopped by the wall budget)" : "") +
          ` | ${steady === null ? "n/a" : `**${fmt(steady, "x")}**`} | ` +
          `${fmt(r.membership.allMs, "ms")}${
            r.membership.timedOut
              ? ` (not reached; median node sees ${r.membership.liveSeen?.median})`
              : ""
          } | ${r.run.transport} |`,
      );
    };
    row("hearsay, 1 thread", s);
    row("hearsay, 2 threads", report.speedSharded);
    row("chitchat 0.10.1 (paused tokio clock)", report.speedChitchat, report.speedChitchatError);
    out.push("");
  }
  return out.join("\n");
}
