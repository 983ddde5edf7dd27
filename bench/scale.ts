/**
 * Cluster size against what the cluster does: hearsay's simulator at each size of `--sizes`
 * (zlayer-style ids, 1 s interval by default, every size in its own process so one size's memory
 * never counts against the next), real chitchat nodes (the interop peer's `sim_run`, paused tokio
 * clock) at each size of `--chitchat-sizes`, the same scenarios and ids on both sides. Writes the
 * raw results as JSON, prints a markdown table and, with `--plots`, draws three SVG plots.
 *
 * ```sh
 * deno run -A bench/scale.ts --sizes 1000,2000,5000 --chitchat-sizes 500,900,1000 \
 *   --out docs/data/scale.json --plots docs/plots
 * deno run -A bench/scale.ts --help
 * ```
 *
 * Figures per row: time until every node sees every other (and the median node); a key set on
 * one node reaching 50 / 99 / 100 % of the nodes; the delay until the others find a killed node
 * dead (median, max); messages and bytes sent per node per second in steady state; the wall time
 * of the steady-state window per node per round (one thread, so the CPU a round costs a node,
 * simulator included); JS heap and outside-heap bytes per (node, peer) pair at convergence; peak
 * RSS of the process.
 *
 * @module
 */
import { InteropPeer } from "../interop/peer.ts";
import type { ClusterSimResult } from "../sim/figures.ts";
import { parseCli } from "../sim/flags.ts";
import { type Scenario, SCENARIOS } from "../sim/scenarios.ts";
import { lineChart, type Series } from "../tools/plot.ts";

/** One measured row: an implementation at one size, with the peak RSS of its process.
 *
 * @example
 * ```ts
 * import type { ScaleRow } from "./scale.ts";
 * const row: ScaleRow = { implementation: "hearsay", numNodes: 3, peakRssBytes: null, result: null, error: "x" };
 * console.log(row.result === null); // true
 * ```
 */
export interface ScaleRow {
  /** `hearsay` or `chitchat <version>`. */
  implementation: string;
  /** Cluster size. */
  numNodes: number;
  /** Peak resident memory of the simulating process (hearsay only: its own process). */
  peakRssBytes: number | null;
  /** The run's figures, or null when it failed. */
  result: ClusterSimResult | null;
  /** Why the run failed (its stderr's tail), when it did. */
  error?: string;
  /** When the row was measured (ISO time), and at which commit (null outside a git clone). */
  measuredAt?: string;
  /** The commit measured (`git rev-parse --short HEAD`), null when unknown. */
  commit?: string | null;
  /** hearsay's V8 old-space limit in MB for this row, when one was set (`--heap-mb`). */
  heapLimitMb?: number;
}

/** What {@link runScale} measures. */
export interface ScaleOptions {
  /** hearsay cluster sizes. */
  sizes: number[];
  /** chitchat cluster sizes (at most 5 000, the interop peer's limit). */
  chitchatSizes: number[];
  /** Gossip interval, ms. */
  gossipIntervalMs: number;
  /** Scenarios on both sides. */
  scenarios: Scenario[];
  /** Id shape on both sides. */
  ids: "short" | "zlayer";
  /** Simulated ms per phase. */
  phaseTimeoutMs: number;
  /** Wall budget of each chitchat run, ms (hearsay's grows with the size by default). */
  chitchatWallBudgetMs: number;
  /** Extra flags for hearsay's simulator (e.g. `--past-one-datagram`). */
  hearsayFlags: string[];
  /** V8 old-space limit of each hearsay process, MB (`--max-old-space-size`): a limit makes the
   * collector run before the heap outgrows the machine; none leaves V8's default. */
  heapLimitMb?: number;
}

/** The peak RSS of process `pid` so far (`VmHWM`), or null off Linux or once it exited. */
async function peakRss(pid: number): Promise<number | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Environment of the simulator's process, the same as `deno task sim` sets: glibc serves
 * allocations of 8 KiB and more with their own mappings, so that the datagram and table
 * buffers the simulator frees go back to the system instead of fragmenting the heap (measured
 * at 1,000 zlayer nodes: resident memory at convergence 1.84 GB without, 0.97 GB with; peak and
 * every simulated figure unchanged). Other C libraries ignore the variable. */
const SIM_ENV: Record<string, string> = { MALLOC_MMAP_THRESHOLD_: "8192" };

/** Runs hearsay's one-thread simulator in its own process and returns its figures. */
async function runHearsay(n: number, o: ScaleOptions): Promise<ScaleRow> {
  const args = [
    "run",
    "-A",
    o.heapLimitMb === undefined
      ? "--v8-flags=--expose-gc"
      : `--v8-flags=--expose-gc,--max-old-space-size=${o.heapLimitMb}`,
    new URL("../sim/cluster_sim.ts", import.meta.url).pathname,
    "--nodes",
    String(n),
    "--ids",
    o.ids,
    "--interval",
    String(o.gossipIntervalMs),
    "--scenarios",
    o.scenarios.join(","),
    "--phase-timeout",
    String(o.phaseTimeoutMs),
    ...o.hearsayFlags,
    "--json",
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
    env: SIM_ENV,
  }).spawn();
  let peak: number | null = null;
  const poll = setInterval(async () => {
    const now = await peakRss(child.pid);
    if (now !== null) peak = Math.max(peak ?? 0, now);
  }, 500);
  const out = await child.output();
  clearInterval(poll);
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const row = {
    implementation: "hearsay",
    numNodes: n,
    peakRssBytes: peak,
    ...(o.heapLimitMb === undefined ? {} : { heapLimitMb: o.heapLimitMb }),
  };
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr);
    return { ...row, result: null, error: `exit ${out.code}: ${stderr.slice(-400)}` };
  }
  const result = JSON.parse(stdout.slice(stdout.lastIndexOf("\n") + 1)) as ClusterSimResult;
  return { ...row, result };
}

/** The short commit of the working tree, or null outside a git clone. */
async function currentCommit(): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

/** `old` rows with `fresh` in place of the rows of the same implementation family and size
 * (a re-measured size replaces its old row; other sizes stay as they were measured).
 *
 * @example
 * ```ts
 * import { mergeRows } from "./scale.ts";
 * const row = (impl: string, n: number, error: string) =>
 *   ({ implementation: impl, numNodes: n, peakRssBytes: null, result: null, error });
 * const merged = mergeRows([row("hearsay", 1000, "old"), row("hearsay", 2000, "old")], [row("hearsay", 2000, "new")]);
 * console.log(merged.map((r) => `${r.numNodes} ${r.error}`)); // [ "1000 old", "2000 new" ]
 * ```
 */
export function mergeRows(old: ScaleRow[], fresh: ScaleRow[]): ScaleRow[] {
  const family = (r: ScaleRow) => r.implementation.split(" ")[0];
  const kept = old.filter((o) =>
    !fresh.some((f) => f.numNodes === o.numNodes && family(f) === family(o))
  );
  return [...kept, ...fresh];
}

/** Runs every size on both implementations, one at a time (each run has the whole machine).
 *
 * @example
 * ```ts ignore
 * import { runScale } from "./scale.ts";
 * const rows = await runScale({
 *   sizes: [20], chitchatSizes: [20], gossipIntervalMs: 1000, scenarios: ["membership"],
 *   ids: "zlayer", phaseTimeoutMs: 60_000, chitchatWallBudgetMs: 60_000, hearsayFlags: [],
 * });
 * console.log(rows.map((r) => r.result?.membership.converged)); // [ 20, 20 ]
 * ```
 */
export async function runScale(
  o: ScaleOptions,
  progress: (row: ScaleRow) => void = () => {},
): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = [];
  const commit = await currentCommit();
  const stamp = (row: ScaleRow): ScaleRow => ({
    ...row,
    measuredAt: new Date().toISOString(),
    commit,
  });
  for (const n of o.sizes) {
    const row = stamp(await runHearsay(n, o));
    progress(row);
    rows.push(row);
  }
  if (o.chitchatSizes.length > 0) {
    await using peer = await InteropPeer.start();
    for (const n of o.chitchatSizes) {
      let row: ScaleRow;
      try {
        const result = await peer.request<ClusterSimResult>("sim_run", {
          numNodes: n,
          gossipIntervalMs: o.gossipIntervalMs,
          clock: "virtual",
          scenarios: o.scenarios,
          ids: o.ids,
          phaseTimeoutMs: o.phaseTimeoutMs,
          wallBudgetMs: o.chitchatWallBudgetMs,
        }, { timeoutMs: o.chitchatWallBudgetMs + 120_000 });
        row = {
          implementation: result.run.implementation,
          numNodes: n,
          peakRssBytes: null,
          result,
        };
      } catch (e) {
        row = {
          implementation: "chitchat",
          numNodes: n,
          peakRssBytes: null,
          result: null,
          error: String(e),
        };
      }
      row = stamp(row);
      progress(row);
      rows.push(row);
    }
  }
  return rows;
}

const s = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? "—" : `${(ms / 1000).toFixed(1)} s`;

/** The rows as a markdown table (one line a row, sizes ascending, hearsay first).
 *
 * @example
 * ```ts
 * import { scaleTable } from "./scale.ts";
 * const t = scaleTable([{ implementation: "hearsay", numNodes: 5, peakRssBytes: null, result: null, error: "boom" }]);
 * console.log(t.split("\n")[2]!.includes("boom")); // true
 * ```
 */
export function scaleTable(rows: ScaleRow[]): string {
  const head = [
    "implementation",
    "nodes",
    "all see all (median node)",
    "key at 50 / 99 / 100 %",
    "detection median / max (found by)",
    "msgs / node / s",
    "KB / node / s (busiest node)",
    "µs / node / round",
    "heap + outside B / pair",
    "peak RSS",
    "simulated in wall",
  ];
  const lines = [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`];
  const sorted = [...rows].sort((a, b) =>
    a.numNodes - b.numNodes || Number(b.implementation === "hearsay") -
      Number(a.implementation === "hearsay")
  );
  for (const row of sorted) {
    const r = row.result;
    if (r === null) {
      lines.push(
        `| ${row.implementation} | ${row.numNodes} | failed: ${
          (row.error ?? "").replace(/\s+/g, " ").replace(/\|/g, "/").slice(0, 160)
        } |${" |".repeat(head.length - 3)}`,
      );
      continue;
    }
    const m = r.membership;
    const n = row.numNodes;
    const membership = m.timedOut || m.allMs === null
      ? `not all: ${m.converged} of ${n} nodes saw everyone; live seen min ${
        m.liveSeen?.min ?? "?"
      }`
      : `${s(m.allMs)} (${s(m.medianMs)})`;
    const p = r.propagation;
    const key = p ? `${s(p.p50Ms)} / ${s(p.p99Ms)} / ${s(p.p100Ms)}` : "—";
    const d = r.detection;
    const detection = d
      ? `${s(d.medianMs)} / ${s(d.maxMs)} (${d.detected} of ${d.observers})`
      : "—";
    const t = r.traffic;
    const rounds = t ? (t.windowMs / r.run.gossipIntervalMs) * n : 0;
    const perRound = t && rounds > 0 ? `${Math.round((t.windowWallMs * 1000) / rounds)}` : "—";
    const mem = r.memory;
    const heap = mem?.heapPerNodeBytes;
    const pairs = n - 1;
    const perPair = mem === null
      ? "—"
      : heap !== undefined
      ? `${Math.round(heap / pairs)} + ${Math.round((mem.externalPerNodeBytes ?? 0) / pairs)}`
      : `RSS ${Math.round(mem.perNodeBytes / pairs)}`;
    const rss = row.peakRssBytes !== null
      ? `${(row.peakRssBytes / 2 ** 30).toFixed(1)} GiB`
      : mem !== null
      ? `${(mem.rssConvergedBytes / 2 ** 30).toFixed(1)} GiB at convergence`
      : "—";
    lines.push(
      `| ${row.implementation} | ${n} | ${membership} | ${key} | ${detection} | ${
        t ? t.messagesPerNodePerSec.toFixed(1) : "—"
      } | ${
        t
          ? `${(t.bytesPerNodePerSec / 1000).toFixed(1)}${
            t.maxBytesPerNodePerSec === undefined
              ? ""
              : ` (${(t.maxBytesPerNodePerSec / 1000).toFixed(1)})`
          }`
          : "—"
      } | ${perRound} | ${perPair} | ${rss} | ${s(r.run.simulatedMs)} in ${s(r.run.wallMs)}${
        r.run.wallBudgetExhausted ? " (wall budget hit)" : ""
      } |`,
    );
  }
  return lines.join("\n");
}

/** The three plots of a scale run: membership time, detection delay and bytes per node per
 * second against cluster size (log x), hearsay and chitchat.
 *
 * @example
 * ```ts
 * import { scalePlots } from "./scale.ts";
 * const plots = scalePlots([]);
 * console.log(Object.keys(plots)); // [ "scale_membership.svg", "scale_detection.svg", "scale_bandwidth.svg" ]
 * ```
 */
export function scalePlots(rows: ScaleRow[]): Record<string, string> {
  const series = (
    pick: (r: ClusterSimResult) => number | null | undefined,
    name: string,
    dashed: boolean,
  ): Series[] => {
    const out: Series[] = [];
    for (const [impl, color] of [["hearsay", "#1f77b4"], ["chitchat", "#d62728"]] as const) {
      const points = rows
        .filter((r) => r.implementation.startsWith(impl) && r.result !== null)
        .map((r) => [r.numNodes, pick(r.result!)] as const)
        .filter((p): p is readonly [number, number] => typeof p[1] === "number")
        .map(([x, y]) => [x, y] as [number, number])
        .sort((a, b) => a[0] - b[0]);
      if (points.length > 0) {
        out.push({ name: `${impl}: ${name}`, color, points, ...(dashed ? { dashed } : {}) });
      }
    }
    return out;
  };
  const sec = (ms: number | null | undefined) => ms === null || ms === undefined ? null : ms / 1000;
  return {
    "scale_membership.svg": lineChart(
      "Time until every node sees every other (zlayer ids, 1 s rounds)",
      "cluster size (nodes, log scale)",
      "seconds",
      [
        ...series(
          (r) => (r.membership.timedOut ? null : sec(r.membership.allMs)),
          "last node",
          false,
        ),
        ...series(
          (r) => (r.membership.timedOut ? null : sec(r.membership.medianMs)),
          "median node",
          true,
        ),
      ],
      { logX: true },
    ),
    "scale_detection.svg": lineChart(
      "Delay until the others find a killed node dead",
      "cluster size (nodes, log scale)",
      "seconds",
      [
        ...series((r) => sec(r.detection?.maxMs), "last observer", false),
        ...series((r) => sec(r.detection?.medianMs), "median observer", true),
      ],
      { logX: true },
    ),
    "scale_bandwidth.svg": lineChart(
      "Bytes sent per node per second, steady state",
      "cluster size (nodes, log scale)",
      "KB/s per node",
      series((r) => (r.traffic ? r.traffic.bytesPerNodePerSec / 1000 : null), "mean", false),
      { logX: true },
    ),
  };
}

if (import.meta.main) {
  const { options, merge, out, plotsDir } = parseCli(
    "bench/scale.ts",
    "hearsay and chitchat clusters of growing size, side by side",
    Deno.args,
    (f) => {
      const scenarios = f.string("scenarios", "scenarios on both sides (default all)");
      const chosen = (scenarios ?? SCENARIOS.join(",")).split(",") as Scenario[];
      for (const x of chosen) {
        if (!(SCENARIOS as readonly string[]).includes(x)) {
          f.reject("scenarios", SCENARIOS.join(","), x);
        }
      }
      const ids = f.string("ids", "id shape: short or zlayer (default zlayer)") ?? "zlayer";
      if (ids !== "short" && ids !== "zlayer") f.reject("ids", "short or zlayer", ids);
      const past = f.string("past-one-datagram", "hearsay past one datagram (default compact)");
      const options: ScaleOptions = {
        sizes: f.numbers("sizes", [1000, 2000, 5000], "hearsay sizes", { integer: true, min: 3 }),
        chitchatSizes: f.numbers("chitchat-sizes", [500, 900, 1000], "chitchat sizes", {
          integer: true,
          min: 3,
          max: 5000,
        }),
        gossipIntervalMs: f.number("interval", 1000, "gossip interval, ms", {
          integer: true,
          min: 1,
        }),
        scenarios: chosen,
        ids: ids === "short" ? "short" : "zlayer",
        phaseTimeoutMs: f.number("phase-timeout", 60_000, "simulated ms per phase", {
          integer: true,
          min: 1,
        }),
        chitchatWallBudgetMs: f.number(
          "chitchat-wall-budget",
          1_800_000,
          "wall budget of one chitchat run, ms",
          { integer: true, min: 1 },
        ),
        hearsayFlags: past === undefined ? [] : ["--past-one-datagram", past],
      };
      if (f.boolean("hearsay-only", "run no chitchat size")) options.chitchatSizes = [];
      const heap = f.number("heap-mb", 0, "V8 old-space limit of each hearsay run, MB (0: none)", {
        integer: true,
        min: 0,
      });
      if (heap > 0) options.heapLimitMb = heap;
      return {
        options,
        merge: f.string(
          "merge",
          "rows measured before (a JSON file this tool wrote): kept, except where a size is run again",
        ),
        out: f.string("out", "write the rows as JSON to this file"),
        plotsDir: f.string("plots", "write the SVG plots to this directory"),
      };
    },
  );
  const earlier = merge === undefined
    ? []
    : (JSON.parse(await Deno.readTextFile(merge)) as { rows: ScaleRow[] }).rows;
  const measured = await runScale(options, (row) => {
    const r = row.result;
    console.error(
      `scale: ${row.implementation} ${row.numNodes}: ${
        r
          ? `${r.membership.converged} converged, ${(r.run.wallMs / 1000).toFixed(0)} s wall`
          : row.error
      }`,
    );
  });
  const rows = mergeRows(earlier, measured);
  if (out !== undefined) {
    await Deno.writeTextFile(
      out,
      JSON.stringify({ measuredAt: new Date().toISOString(), options, rows }, null, 1) + "\n",
    );
  }
  if (plotsDir !== undefined) {
    await Deno.mkdir(plotsDir, { recursive: true });
    for (const [name, svg] of Object.entries(scalePlots(rows))) {
      await Deno.writeTextFile(`${plotsDir}/${name}`, svg);
    }
  }
  console.log(scaleTable(rows));
}
