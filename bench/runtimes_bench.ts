/**
 * Speed per runtime, side by side in one run: builds the package as JSR's npm layer ships it
 * (tools/build_npm.ts), installs Node 22, Node 24 and Bun from npm if needed (tools/runtimes.ts),
 * and runs bench/runtimes/bench.mjs on Deno, Node 22, Node 24 and Bun one after the other (never
 * at once): codec encode and decode of a zlayer-style Ack (240 records, zstd-compressed), and a
 * 100-node gossip cluster on the in-memory network with a virtual clock (wall time to converge,
 * then per simulated 100 ms round). Prints a Markdown table.
 *
 * Usage: `deno run -A bench/runtimes_bench.ts [--runs N]` (default 3 runs per runtime, the median
 * of each figure is shown).
 *
 * @module
 */
import { buildNpm } from "../tools/build_npm.ts";
import { denoRuntime, ensureRuntimes, type Runtime } from "../tools/runtimes.ts";

interface Figures {
  ackBytes: number;
  encodeUs: number;
  decodeUs: number;
  convergeRounds: number;
  convergeMs: number;
  roundMs: number;
}

const runsAt = Deno.args.indexOf("--runs");
const RUNS = runsAt >= 0 ? Number(Deno.args[runsAt + 1]) : 3;
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error("usage: deno run -A bench/runtimes_bench.ts [--runs N]");
  Deno.exit(2);
}
const script = new URL("./runtimes/bench.mjs", import.meta.url).pathname;

async function runOnce(r: Runtime, pkg: string): Promise<Figures> {
  const out = await new Deno.Command(r.command, {
    args: [...r.args, script, pkg],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`${r.name}: exit ${out.code}\n${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout)) as Figures;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const pkg = await Deno.makeTempDir({ prefix: "hearsay-npm-bench-" });
try {
  const [runtimes] = await Promise.all([ensureRuntimes(), buildNpm(pkg)]);
  const all = [denoRuntime, ...runtimes];
  const results = new Map<Runtime, Figures[]>(all.map((r) => [r, []]));
  // Interleaved, so a slow phase of the machine hits every runtime alike.
  for (let i = 0; i < RUNS; i++) for (const r of all) results.get(r)!.push(await runOnce(r, pkg));
  const first = results.get(denoRuntime)![0]!;
  console.log(
    `Ack of ${first.ackBytes} B (240 records, zstd); 100 nodes converged in ` +
      `${first.convergeRounds} simulated rounds; median of ${RUNS} runs\n`,
  );
  console.log(
    "| runtime | encode Ack (µs) | decode Ack (µs) | 100 nodes: converge (ms wall) | 100 nodes: one round (ms wall) |",
  );
  console.log("|---|---|---|---|---|");
  for (const [r, figs] of results) {
    const m = (k: keyof Figures) => median(figs.map((f) => f[k]));
    console.log(
      `| ${r.name === "deno" ? "Deno" : r.name === "bun" ? "Bun" : "Node"} ${r.version} | ` +
        `${m("encodeUs").toFixed(0)} | ${m("decodeUs").toFixed(0)} | ${
          m("convergeMs").toFixed(0)
        } | ` +
        `${m("roundMs").toFixed(1)} |`,
    );
  }
} finally {
  await Deno.remove(pkg, { recursive: true });
}
