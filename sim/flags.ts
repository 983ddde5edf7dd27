/**
 * Command-line flags, parsed one way for every script (the simulators, the compare benchmark,
 * the UDP benchmark, the demo and the plots): `--name value` or `--name=value`, booleans as a
 * bare `--name`, lists as `a,b,c`. A script declares each flag with its default and what it
 * expects; a bad value, a missing value, an unknown flag or a stray argument stops the script
 * with a message that names the flag and says what was expected (exit code 2), and `--help`
 * prints every flag.
 *
 * Also the flags the cluster simulators share ({@link simOptionsFromFlags}).
 *
 * @module
 */
import { HearsayError } from "../src/common/errors.ts";
import {
  type ClusterSimOptions,
  defaultWallBudgetMs,
  type Scenario,
  SCENARIOS,
} from "./scenarios.ts";

/** A command line that does not match the script's flags: names the flag (or argument) and says
 * what was expected.
 *
 * @example
 * ```ts
 * import { FlagError } from "./flags.ts";
 * console.log(FlagError.expected("nodes", "an integer >= 3", "2").message);
 * // --nodes expects an integer >= 3, got "2"
 * console.log(new FlagError("json", "--json takes no value").flag); // json
 * ```
 */
export class FlagError extends HearsayError {
  /** The flag, without its dashes (or the argument's name, or the stray text). */
  readonly flag: string;

  /** An error about `flag` with the whole message given. */
  constructor(flag: string, message: string) {
    super(message);
    this.flag = flag;
  }

  /** `--flag` (or the positional argument `<flag>` when `positional`) expects `expected` and
   * got `got` (undefined: nothing given).
   *
   * @example
   * ```ts
   * import { FlagError } from "./flags.ts";
   * console.log(FlagError.expected("out", "a file name", undefined).message);
   * // --out needs a value: a file name
   * ```
   */
  static expected(
    flag: string,
    expected: string,
    got: string | undefined,
    positional = false,
  ): FlagError {
    const name = positional ? `<${flag}>` : `--${flag}`;
    return new FlagError(
      flag,
      got === undefined
        ? `${name} ${positional ? "is missing" : "needs a value"}: ${expected}`
        : `${name} expects ${expected}, got ${JSON.stringify(got)}`,
    );
  }
}

/** Limits of a numeric flag.
 *
 * @example
 * ```ts
 * import { Flags, type NumberRule } from "./flags.ts";
 * const rule: NumberRule = { integer: true, min: 1 };
 * console.log(new Flags(["--repeat", "3"]).number("repeat", 1, "seeds", rule)); // 3
 * ```
 */
export interface NumberRule {
  /** Whole numbers only. */
  integer?: boolean;
  /** Smallest value allowed. */
  min?: number;
  /** Values must be larger than this. */
  above?: number;
  /** Largest value allowed. */
  max?: number;
}

function describe(rule: NumberRule, plural = false): string {
  const what = plural
    ? (rule.integer ? "integers" : "numbers")
    : (rule.integer ? "an integer" : "a number");
  if (rule.min !== undefined && rule.max !== undefined) {
    return `${what} in [${rule.min}, ${rule.max}]`;
  }
  if (rule.min !== undefined) return `${what} >= ${rule.min}`;
  if (rule.above !== undefined) return `${what} > ${rule.above}`;
  if (rule.max !== undefined) return `${what} <= ${rule.max}`;
  return what;
}

function fits(x: number, rule: NumberRule): boolean {
  return Number.isFinite(x) && (!rule.integer || Number.isInteger(x)) &&
    (rule.min === undefined || x >= rule.min) && (rule.max === undefined || x <= rule.max) &&
    (rule.above === undefined || x > rule.above);
}

interface Declared {
  name: string;
  usage: string;
  help: string;
}

/** The flags of one command line. Each read declares a flag (for `--help` and for the unknown-
 * flag check) and returns its value or the default; a bad value is remembered, and
 * {@link Flags.finish} throws the first problem as a {@link FlagError}. Scripts normally use
 * {@link parseCli}, which also prints the error or the help and exits.
 *
 * @example
 * ```ts
 * import { Flags } from "./flags.ts";
 * const f = new Flags(["--nodes=30", "--json", "--sizes", "10,100"]);
 * const nodes = f.number("nodes", 100, "cluster size", { integer: true, min: 3 });
 * const json = f.boolean("json", "print JSON");
 * const sizes = f.numbers("sizes", [10], "cluster sizes", { integer: true });
 * f.finish();
 * console.log(nodes, json, sizes); // 30 true [ 10, 100 ]
 * ```
 */
export class Flags {
  readonly #args: readonly string[];
  readonly #used: boolean[];
  readonly #declared: Declared[] = [];
  readonly #aliases = new Map<string, string>();
  #error: FlagError | null = null;
  #positional = 0;

  /** The flags in `args` (normally `Deno.args`). */
  constructor(args: readonly string[]) {
    this.#args = args;
    this.#used = args.map(() => false);
  }

  /** Whether `--help` (or `-h`) was given. */
  get helpRequested(): boolean {
    return this.#args.some((a) => a === "--help" || a === "-h");
  }

  #fail(e: FlagError): void {
    this.#error ??= e;
  }

  #declare(name: string, usage: string, help: string): void {
    this.#declared.push({ name, usage, help });
  }

  /** The raw text of `--name` (last one wins), true when given without a value, or undefined. */
  #raw(name: string, takesValue: boolean): string | true | undefined {
    let found: string | true | undefined;
    const names = [name, ...[...this.#aliases].filter(([, to]) => to === name).map(([a]) => a)];
    for (let i = 0; i < this.#args.length; i++) {
      const a = this.#args[i]!;
      for (const n of names) {
        if (a === `--${n}`) {
          this.#used[i] = true;
          const next = this.#args[i + 1];
          if (takesValue && next !== undefined && !next.startsWith("--")) {
            this.#used[i + 1] = true;
            found = next;
            i++;
          } else {
            found = true;
          }
        } else if (a.startsWith(`--${n}=`)) {
          this.#used[i] = true;
          found = a.slice(n.length + 3);
        }
      }
    }
    return found;
  }

  /** Accepts `--old` as another spelling of `--name` (declare the alias before reading). */
  alias(old: string, name: string): void {
    this.#aliases.set(old, name);
  }

  /** A numeric flag, `fallback` when absent. */
  number(name: string, fallback: number, help: string, rule: NumberRule = {}): number {
    const expected = describe(rule);
    this.#declare(
      name,
      `--${name} <${rule.integer ? "int" : "number"}>`,
      `${help} (default ${fallback})`,
    );
    const v = this.#raw(name, true);
    if (v === undefined) return fallback;
    if (v === true) {
      this.#fail(FlagError.expected(name, expected, undefined));
      return fallback;
    }
    const x = v.trim() === "" ? NaN : Number(v);
    if (!fits(x, rule)) {
      this.#fail(FlagError.expected(name, expected, v));
      return fallback;
    }
    return x;
  }

  /** A comma-separated list of numbers, `fallback` when absent. */
  numbers(name: string, fallback: number[], help: string, rule: NumberRule = {}): number[] {
    const expected = `a comma-separated list of ${describe(rule, true)}`;
    this.#declare(name, `--${name} <a,b,...>`, `${help} (default ${fallback.join(",")})`);
    const v = this.#raw(name, true);
    if (v === undefined) return fallback;
    if (v === true) {
      this.#fail(FlagError.expected(name, expected, undefined));
      return fallback;
    }
    const parts = v.split(",");
    const xs = parts.map((p) => (p.trim() === "" ? NaN : Number(p)));
    if (!xs.every((x) => fits(x, rule))) {
      this.#fail(FlagError.expected(name, expected, v));
      return fallback;
    }
    return xs;
  }

  /** A comma-separated list of names out of `choices`, undefined when absent. */
  choices<T extends string>(name: string, choices: readonly T[], help: string): T[] | undefined {
    const expected = `a comma-separated list of ${choices.join(", ")}`;
    this.#declare(name, `--${name} <a,b,...>`, `${help} (${choices.join(", ")})`);
    const v = this.#raw(name, true);
    if (v === undefined) return undefined;
    if (v === true) {
      this.#fail(FlagError.expected(name, expected, undefined));
      return undefined;
    }
    const parts = v.split(",");
    if (!parts.every((p) => (choices as readonly string[]).includes(p))) {
      this.#fail(FlagError.expected(name, expected, v));
      return undefined;
    }
    return parts as T[];
  }

  /** A text flag, undefined when absent. */
  string(name: string, help: string): string | undefined {
    this.#declare(name, `--${name} <text>`, help);
    const v = this.#raw(name, true);
    if (v === true) {
      this.#fail(FlagError.expected(name, "a value", undefined));
      return undefined;
    }
    return v;
  }

  /** A flag without a value: true when given. */
  boolean(name: string, help: string): boolean {
    this.#declare(name, `--${name}`, help);
    const v = this.#raw(name, false);
    if (v === undefined || v === true) return v === true;
    if (v === "true" || v === "false") return v === "true";
    this.#fail(FlagError.expected(name, "no value (or =true / =false)", v));
    return false;
  }

  /** The next positional argument (not a flag, not a flag's value); a problem when there is
   * none (the empty string is returned then). Read positionals after the flags, so flag values
   * are not mistaken for them. */
  argument(name: string, help: string): string {
    this.#declare(name, `<${name}>`, help);
    for (let i = this.#positional; i < this.#args.length; i++) {
      if (this.#used[i] || this.#args[i]!.startsWith("--")) continue;
      this.#used[i] = true;
      this.#positional = i + 1;
      return this.#args[i]!;
    }
    this.#positional = this.#args.length;
    this.#fail(FlagError.expected(name, help, undefined, true));
    return "";
  }

  /** Records a problem with `--name` found by the script itself (a value that the flag's type
   * accepts but the script does not). */
  reject(name: string, expected: string, got: string): void {
    this.#fail(FlagError.expected(name, expected, got));
  }

  /** Throws the first problem: a bad value, then an unknown flag or a stray argument. */
  finish(): void {
    if (this.#error !== null) throw this.#error;
    for (let i = 0; i < this.#args.length; i++) {
      if (this.#used[i]) continue;
      const a = this.#args[i]!;
      if (a === "--help" || a === "-h") continue;
      if (a.startsWith("-")) {
        const known = this.#declared.filter((d) => !d.usage.startsWith("<")).map((d) =>
          `--${d.name}`
        );
        throw new FlagError(
          a.replace(/^-+/, "").split("=")[0]!,
          `unknown flag ${JSON.stringify(a)}; the flags are ${known.join(", ")} and --help`,
        );
      }
      const taken = this.#declared.filter((d) => d.usage.startsWith("<")).length;
      throw new FlagError(
        a,
        `unexpected argument ${JSON.stringify(a)}: ${
          taken === 0 ? "no positional arguments are taken" : `only ${taken} are taken`
        }`,
      );
    }
  }

  /** The usage text: one line per declared flag. */
  usage(program: string, summary: string): string {
    const width = Math.max(0, ...this.#declared.map((d) => d.usage.length));
    const lines = this.#declared.map((d) => `  ${d.usage.padEnd(width)}  ${d.help}`);
    return [`${program}: ${summary}`, "", ...lines, `  ${"--help".padEnd(width)}  this text`]
      .join("\n");
  }
}

/** Reads a script's command line with `read` (which declares the flags on the {@link Flags}
 * it gets and returns the script's options). On `--help` prints the usage and exits 0; on a
 * {@link FlagError} prints `program: message` and exits 2.
 *
 * @example
 * ```ts
 * import { parseCli } from "./flags.ts";
 * const o = parseCli("demo", "an example", ["--nodes", "5"], (f) => ({
 *   nodes: f.number("nodes", 3, "cluster size", { integer: true, min: 3 }),
 * }));
 * console.log(o.nodes); // 5
 * ```
 */
export function parseCli<T>(
  program: string,
  summary: string,
  args: readonly string[],
  read: (flags: Flags) => T,
): T {
  const f = new Flags(args);
  const value = read(f);
  if (f.helpRequested) {
    console.log(f.usage(program, summary));
    Deno.exit(0);
  }
  try {
    f.finish();
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    console.error(`${program}: ${e.message} (--help lists the flags)`);
    Deno.exit(2);
  }
  return value;
}

/** Reads the flags every cluster simulator takes: `--nodes`, `--interval`, `--loss`, `--seed`,
 * `--phase-timeout`, `--wall-budget`, `--scenarios a,b`, and
 * `--start-stagger` when `stagger` is true (the sharded simulator needs integer times, so it
 * passes false and `integerTimes`).
 *
 * @example
 * ```ts
 * import { Flags, simOptionsFromFlags } from "./flags.ts";
 * const f = new Flags(["--nodes", "30", "--scenarios", "membership,traffic"]);
 * const o = simOptionsFromFlags(f);
 * f.finish();
 * console.log(o.numNodes, o.gossipIntervalMs, o.scenarios); // 30 300 [ "membership", "traffic" ]
 * ```
 */
export function simOptionsFromFlags(
  f: Flags,
  { stagger = true, integerTimes = false }: {
    /** Read `--start-stagger` (default true). */
    stagger?: boolean;
    /** The interval must be a whole number of ms (default false). */
    integerTimes?: boolean;
  } = {},
): ClusterSimOptions {
  const scenarios: Scenario[] | undefined = f.choices(
    "scenarios",
    SCENARIOS,
    "scenarios to run (membership always runs; default all)",
  );
  const numNodes = f.number("nodes", 100, "cluster size", { integer: true, min: 3 });
  const options: ClusterSimOptions = {
    numNodes,
    gossipIntervalMs: f.number("interval", 300, "gossip interval, ms", {
      integer: integerTimes,
      above: 0,
    }),
    lossRate: f.number("loss", 0, "probability that a datagram is lost", { min: 0, max: 1 }),
    seed: f.number("seed", 1, "seed of the faults and of every node", { integer: true }),
    phaseTimeoutMs: f.number("phase-timeout", 60_000, "deadline of one phase, simulated ms", {
      min: 0,
    }),
    wallBudgetMs: f.number(
      "wall-budget",
      defaultWallBudgetMs(numNodes),
      "wall-clock budget of the run, ms: 120 000 up to 500 nodes, x (nodes/500)^2 above",
      { min: 0 },
    ),
    ...(scenarios !== undefined ? { scenarios } : {}),
  };
  if (stagger) {
    options.startStaggerMs = f.number(
      "start-stagger",
      0,
      "start node i this many ms after node i-1",
      { min: 0 },
    );
  }
  return options;
}
