/**
 * Draws the SVG plots of docs/BENCHMARKS.md from the raw results of bench/cluster_compare.ts
 * (a `CompareReport` of sim/compare.ts):
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/cluster_compare.ts --out docs/data/cluster_compare.json
 * deno run -A tools/plot.ts docs/data/cluster_compare.json docs/plots
 * ```
 *
 * Writes `convergence.svg` (share of nodes holding a new key against time, 100 nodes),
 * `detection.svg` (dead-node detection delay against cluster size) and `bandwidth.svg` (bytes
 * sent per node per second against cluster size, with chitchat's perf-test limits).
 *
 * @module
 */
import type { CompareReport } from "../sim/compare.ts";
import type { ClusterSimResult } from "../sim/figures.ts";
import { parseCli } from "../sim/flags.ts";

/** One line of a chart.
 *
 * @example
 * ```ts
 * import { lineChart, type Series } from "./plot.ts";
 * const cdf: Series = { name: "arrivals", color: "#1f77b4", step: true, points: [[0, 10], [300, 100]] };
 * console.log(lineChart("t", "ms", "%", [cdf]).includes("arrivals")); // true
 * ```
 */
export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
  /** Draw as a step function (for cumulative arrivals). */
  step?: boolean;
}

const W = 640, H = 400, L = 70, R = 20, T = 40, B = 55;

function niceMax(x: number): number {
  if (x <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A line chart as SVG text: linear y from 0, linear or log10 x.
 *
 * @example
 * ```ts
 * import { lineChart } from "./plot.ts";
 * const svg = lineChart("t", "x", "y", [{ name: "a", color: "#000", points: [[1, 1], [2, 3]] }]);
 * console.log(svg.startsWith("<svg"));
 * ```
 */
export function lineChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
  opts: { logX?: boolean; yFormat?: (y: number) => string } = {},
): string {
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const fx = opts.logX ? Math.log10 : (x: number) => x;
  const x0 = opts.logX ? Math.min(...xs) : 0;
  const x1 = opts.logX ? Math.max(...xs) : niceMax(Math.max(...xs));
  const y1 = niceMax(Math.max(...all.map((p) => p[1])) * 1.05);
  const px = (x: number) => L + ((fx(x) - fx(x0)) / (fx(x1) - fx(x0) || 1)) * (W - L - R);
  const py = (y: number) => H - B - (y / y1) * (H - T - B);
  const yFmt = opts.yFormat ?? ((y: number) => String(+y.toPrecision(3)));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const y = (y1 * i) / 5;
    out.push(
      `<line x1="${L}" x2="${W - R}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${py(y) + 4}" text-anchor="end">${esc(yFmt(y))}</text>`,
    );
  }
  const xTicks = opts.logX
    ? [...new Set(xs)].sort((a, b) => a - b)
    : [0, 1, 2, 3, 4, 5].map((i) => (x1 * i) / 5);
  for (const x of xTicks) {
    out.push(
      `<line x1="${px(x)}" x2="${px(x)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`,
      `<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${+x.toPrecision(4)}</text>`,
    );
  }
  out.push(
    `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`,
    `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" ` +
      `transform="rotate(-90 16 ${(T + H - B) / 2})">${esc(yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const pts: [number, number][] = [];
    s.points.forEach(([x, y], j) => {
      if (s.step && j > 0) pts.push([x, s.points[j - 1]![1]]);
      pts.push([x, y]);
    });
    const d = pts.map(([x, y], j) =>
      `${j === 0 ? "M" : "L"}${px(x).toFixed(1)},${py(y).toFixed(1)}`
    )
      .join(" ");
    out.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"` +
        `${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
    );
    if (!s.step) {
      for (const [x, y] of s.points) {
        out.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${s.color}"/>`);
      }
    }
    const ly = T + 8 + i * 16;
    out.push(
      `<line x1="${L + 12}" x2="${L + 36}" y1="${ly}" y2="${ly}" stroke="${s.color}" ` +
        `stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
      `<text x="${L + 42}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

const HEARSAY = "#1f77b4", CHITCHAT = "#d62728";

function cdf(r: ClusterSimResult | undefined): [number, number][] {
  const a = r?.propagation?.arrivalsMs ?? [];
  const n = r?.run.numNodes ?? 1;
  return a.map((t, i) => [t, (100 * (i + 1)) / n]);
}

/** The three plots of BENCHMARKS.md, by file name.
 *
 * @example
 * ```ts
 * import { plots } from "./plot.ts";
 * const report = { date: "", machine: "", runs: [], chitchatRealClock: [], speed: null };
 * console.log(Object.keys(plots(report))); // [ "convergence.svg", "detection.svg", "bandwidth.svg" ]
 * ```
 */
export function plots(report: CompareReport): Record<string, string> {
  const at = (n: number, loss: number) =>
    report.runs.find((r) => r.options.numNodes === n && (r.options.lossRate ?? 0) === loss);
  const out: Record<string, string> = {};
  const conv: Series[] = [];
  for (const loss of [0, 0.5]) {
    const run = at(100, loss);
    if (run === undefined) continue;
    const tag = loss === 0 ? "" : ", 50% loss";
    conv.push(
      {
        name: `hearsay${tag}`,
        color: HEARSAY,
        points: cdf(run.hearsay[0]),
        step: true,
        dashed: loss > 0,
      },
      {
        name: `chitchat${tag}`,
        color: CHITCHAT,
        points: cdf(run.chitchat[0]),
        step: true,
        dashed: loss > 0,
      },
    );
  }
  out["convergence.svg"] = lineChart(
    "New key on one node: share of 100 nodes holding it (300 ms rounds)",
    "ms after the key was set",
    "% of nodes",
    conv,
  );
  const sizes = [...new Set(report.runs.map((r) => r.options.numNodes))].sort((a, b) => a - b);
  const det: Series[] = [];
  for (const [who, color] of [["hearsay", HEARSAY], ["chitchat", CHITCHAT]] as const) {
    for (const loss of [0, 0.5]) {
      for (const [stat, key] of [["median", "medianMs"], ["max", "maxMs"]] as const) {
        const points: [number, number][] = [];
        for (const n of sizes) {
          const runs = at(n, loss)?.[who] ?? [];
          const vals = runs.map((r) => r.detection?.[key]).filter((x): x is number => x != null);
          if (vals.length === runs.length && vals.length > 0) {
            points.push([n, vals.reduce((a, b) => a + b, 0) / vals.length]);
          }
        }
        if (points.length === 0) continue;
        det.push({
          name: `${who} ${stat}${loss > 0 ? ", 50% loss" : ""}`,
          color: stat === "max" ? (who === "hearsay" ? "#6baed6" : "#fc9272") : color,
          points,
          ...(loss > 0 ? { dashed: true } : {}),
        });
      }
    }
  }
  out["detection.svg"] = lineChart(
    "Dead-node detection delay over all observers (300 ms rounds)",
    "cluster size (nodes, log scale)",
    "ms",
    det,
    { logX: true },
  );
  const bw: Series[] = [];
  for (const [who, color] of [["hearsay", HEARSAY], ["chitchat", CHITCHAT]] as const) {
    const points: [number, number][] = [];
    for (const n of sizes) {
      const runs = at(n, 0)?.[who] ?? [];
      const vals = runs.map((r) => r.traffic?.bytesPerNodePerSec).filter((x): x is number =>
        x != null
      );
      if (vals.length === runs.length && vals.length > 0) {
        points.push([n, vals.reduce((a, b) => a + b, 0) / vals.length / 1000]);
      }
    }
    bw.push({ name: who, color, points });
  }
  bw.push({
    name: "chitchat perf-test limit",
    color: "#777",
    dashed: true,
    points: [[10, 15], [20, 25], [40, 50], [100, 120]],
  });
  out["bandwidth.svg"] = lineChart(
    "Bytes sent per node per second, steady state (300 ms rounds)",
    "cluster size (nodes, log scale)",
    "KB/s per node",
    bw,
    { logX: true },
  );
  return out;
}

if (import.meta.main) {
  const { input, dir } = parseCli(
    "tools/plot.ts",
    "draws the SVG plots from a bench/cluster_compare.ts --out file",
    Deno.args,
    (f) => ({
      input: f.argument("input", "the JSON results (cluster_compare.json)"),
      dir: f.argument("dir", "the directory to write the SVG files to"),
    }),
  );
  const report = JSON.parse(await Deno.readTextFile(input)) as CompareReport;
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, svg] of Object.entries(plots(report))) {
    await Deno.writeTextFile(`${dir}/${name}`, svg);
    console.error(`plot: wrote ${dir}/${name}`);
  }
}
