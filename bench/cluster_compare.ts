/**
 * The hearsay-vs-chitchat cluster comparison on the command line (the measuring is
 * `sim/compare.ts`): prints markdown tables; `--out file.json` also saves every raw result
 * (tools/plot.ts reads it). `deno task bench` runs it.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/cluster_compare.ts            # about 7 minutes
 * deno run -A bench/cluster_compare.ts --sizes 10,100 --out /tmp/r.json  # quick
 * deno run -A bench/cluster_compare.ts --help
 * ```
 * Flags: `--sizes 10,20,40,100,1000`, `--losses 0,0.5`, `--budget-ms 45000` (wall budget of one
 * 1000+ node simulation per implementation), `--hearsay-start-stagger <ms>` (see
 * `startStaggerMs` in sim/scenarios.ts), `--speed-nodes 1000` (0 = skip the real-time check of
 * hearsay at a 1 s interval), `--repeat 3` (seeds per configuration below 500 nodes),
 * `--no-real` (skip the real-clock chitchat check), `--out <file>`.
 *
 * @module
 */
import { type CompareOptions, reportMarkdown, runCompare } from "../sim/compare.ts";
import { parseCli } from "../sim/flags.ts";

if (import.meta.main) {
  const { options, out } = parseCli(
    "bench/cluster_compare.ts",
    "hearsay and chitchat on the same cluster scenarios, side by side",
    Deno.args,
    (f) => {
      const options: CompareOptions = {
        sizes: f.numbers("sizes", [10, 20, 40, 100, 1000], "cluster sizes", {
          integer: true,
          min: 3,
        }),
        losses: f.numbers("losses", [0, 0.5], "loss rates", { min: 0, max: 1 }),
        budgetMs: f.number("budget-ms", 45_000, "wall budget of one 500+ node simulation, ms", {
          above: 0,
        }),
        speedNodes: f.number("speed-nodes", 1000, "nodes of the real-time check (0: skip it)", {
          integer: true,
          min: 0,
        }),
        realClock: !f.boolean("no-real", "skip the real-clock chitchat check"),
        repeat: f.number("repeat", 3, "seeds per configuration below 500 nodes", {
          integer: true,
          min: 1,
        }),
        hearsayStartStaggerMs: f.number(
          "hearsay-start-stagger",
          0,
          "hearsay's start stagger, ms (startStaggerMs)",
          { min: 0 },
        ),
      };
      return { options, out: f.string("out", "also save the raw results as JSON here") };
    },
  );
  const report = await runCompare(options);
  console.log(reportMarkdown(report));
  if (out !== undefined) {
    await Deno.writeTextFile(out, JSON.stringify(report, null, 1) + "\n");
    console.error(`cluster_compare: raw results in ${out}`);
  }
}
