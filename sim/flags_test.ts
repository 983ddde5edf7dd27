/**
 * The command-line parser every script uses (sim/flags.ts), and the scripts' exit code on a bad
 * flag.
 */
import assert from "node:assert/strict";
import { FlagError, Flags, simOptionsFromFlags } from "./flags.ts";

function problem(args: string[], read: (f: Flags) => unknown): string {
  const f = new Flags(args);
  read(f);
  try {
    f.finish();
  } catch (e) {
    assert.ok(e instanceof FlagError, `not a FlagError: ${e}`);
    return e.message;
  }
  assert.fail(`no error for ${JSON.stringify(args)}`);
}

Deno.test("Flags reads numbers, lists, choices, text and booleans, with defaults", () => {
  const f = new Flags(["--nodes", "30", "--loss=0.5", "--sizes", "10,100", "--json", "--out", "x"]);
  assert.equal(f.number("nodes", 100, "", { integer: true, min: 3 }), 30);
  assert.equal(f.number("loss", 0, "", { min: 0, max: 1 }), 0.5);
  assert.equal(f.number("seed", 1, ""), 1);
  assert.deepEqual(f.numbers("sizes", [1], "", { integer: true }), [10, 100]);
  assert.deepEqual(f.numbers("losses", [0, 0.5], ""), [0, 0.5]);
  assert.equal(f.choices("scenarios", ["a", "b"], ""), undefined);
  assert.equal(f.boolean("json", ""), true);
  assert.equal(f.boolean("no-real", ""), false);
  assert.equal(f.string("out", ""), "x");
  assert.equal(f.string("other", ""), undefined);
  f.finish();
});

Deno.test("Flags: negative numbers are values; the last repeat wins; aliases", () => {
  const f = new Flags(["--seed", "-3", "--seed", "4", "--workers", "3"]);
  assert.equal(f.number("seed", 1, "", { integer: true }), 4);
  f.alias("workers", "threads");
  assert.equal(f.number("threads", 2, "", { integer: true, min: 1 }), 3);
  f.finish();
  const g = new Flags(["--seed", "-3"]);
  assert.equal(g.number("seed", 1, "", { integer: true }), -3);
  g.finish();
});

Deno.test("Flags names the flag and what it expected", () => {
  const nodes = (f: Flags) => f.number("nodes", 100, "", { integer: true, min: 3 });
  assert.equal(problem(["--nodes", "2"], nodes), `--nodes expects an integer >= 3, got "2"`);
  assert.equal(problem(["--nodes", "3.5"], nodes), `--nodes expects an integer >= 3, got "3.5"`);
  assert.equal(problem(["--nodes="], nodes), `--nodes expects an integer >= 3, got ""`);
  assert.equal(problem(["--nodes"], nodes), "--nodes needs a value: an integer >= 3");
  assert.equal(
    problem(["--nodes", "--json"], (f) => [nodes(f), f.boolean("json", "")]),
    "--nodes needs a value: an integer >= 3",
  );
  assert.equal(
    problem(["--loss", "2"], (f) => f.number("loss", 0, "", { min: 0, max: 1 })),
    `--loss expects a number in [0, 1], got "2"`,
  );
  assert.equal(
    problem(["--interval", "0"], (f) => f.number("interval", 300, "", { above: 0 })),
    `--interval expects a number > 0, got "0"`,
  );
  assert.equal(
    problem(["--sizes", "10,,20"], (f) => f.numbers("sizes", [], "", { integer: true, min: 3 })),
    `--sizes expects a comma-separated list of integers >= 3, got "10,,20"`,
  );
  assert.equal(
    problem(["--scenarios", "membership,chaos"], (f) => f.choices("scenarios", ["membership"], "")),
    `--scenarios expects a comma-separated list of membership, got "membership,chaos"`,
  );
  assert.equal(
    problem(["--json=yes"], (f) => f.boolean("json", "")),
    `--json expects no value (or =true / =false), got "yes"`,
  );
});

Deno.test("Flags refuses unknown flags and stray arguments, and reports the first problem", () => {
  assert.equal(
    problem(["--nodse", "3"], (f) => f.number("nodes", 100, "")),
    `unknown flag "--nodse"; the flags are --nodes and --help`,
  );
  assert.equal(
    problem(["stray"], (f) => f.number("nodes", 100, "")),
    `unexpected argument "stray": no positional arguments are taken`,
  );
  assert.equal(
    problem(["--nodes", "x", "--bogus"], (f) => f.number("nodes", 100, "")),
    `--nodes expects a number, got "x"`,
  );
  assert.equal(
    problem(["--nodes", "5"], (f) => {
      const n = f.number("nodes", 100, "");
      if (n === 5) f.reject("nodes", "anything but 5", "5");
    }),
    `--nodes expects anything but 5, got "5"`,
  );
});

Deno.test("Flags reads positional arguments around flags, and says which is missing", () => {
  const f = new Flags(["in.json", "--json", "out"]);
  const json = f.boolean("json", "");
  assert.deepEqual([f.argument("input", ""), f.argument("dir", ""), json], [
    "in.json",
    "out",
    true,
  ]);
  f.finish();
  assert.equal(
    problem(["in.json"], (g) => [g.argument("input", ""), g.argument("dir", "an output dir")]),
    "<dir> is missing: an output dir",
  );
  assert.equal(
    problem(["a", "b"], (g) => g.argument("input", "")),
    `unexpected argument "b": only 1 are taken`,
  );
});

Deno.test("simOptionsFromFlags() gives the simulators' defaults and refuses bad scenarios", () => {
  const f = new Flags([]);
  assert.deepEqual(simOptionsFromFlags(f), {
    numNodes: 100,
    gossipIntervalMs: 300,
    lossRate: 0,
    seed: 1,
    phaseTimeoutMs: 60_000,
    wallBudgetMs: 120_000,
    startStaggerMs: 0,
  });
  f.finish();
  assert.equal(
    problem(["--start-stagger", "0.1"], (g) => simOptionsFromFlags(g, { stagger: false })),
    `unknown flag "--start-stagger"; the flags are --scenarios, --nodes, --interval, --loss, ` +
      "--seed, --phase-timeout, --wall-budget and --help",
  );
  assert.equal(
    problem(["--interval", "2.5"], (g) => simOptionsFromFlags(g, { integerTimes: true })),
    `--interval expects an integer > 0, got "2.5"`,
  );
});

Deno.test("a script given a bad flag exits with status 2 and names the flag", async () => {
  for (
    const [script, args, expected] of [
      ["./cluster_sim.ts", ["--nodes", "two"], `--nodes expects an integer >= 3, got "two"`],
      ["./cluster_shards.ts", ["--threads", "0"], `--threads expects an integer >= 1, got "0"`],
      ["../bench/cluster_compare.ts", ["--losses", "2"], "--losses expects"],
      ["../tools/plot.ts", [], "<input> is missing"],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(script, import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, `${script}: ${stderr}`);
    assert.ok(stderr.includes(expected), `${script}: ${stderr}`);
  }
});
