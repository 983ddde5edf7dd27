/**
 * Node 22, Node 24 and Bun from the npm registry, installed once into a cache folder outside the
 * clone (`~/.cache/hearsay/runtimes`, or `$HEARSAY_RUNTIMES_DIR`) with `npm install`, for the
 * runtime tests (tests/runtimes_test.ts) and the runtime benchmark (bench/runtimes_bench.ts). The
 * versions are pinned; a folder holding other versions is reinstalled.
 *
 * Usage: `deno run -A tools/runtimes.ts` installs them (if needed) and prints each binary.
 *
 * @module
 */

/** A runtime to run a built hearsay script with. */
export interface Runtime {
  /** `"node22"`, `"node24"`, `"bun"` or `"deno"`. */
  readonly name: string;
  /** The executable. */
  readonly command: string;
  /** Arguments before the script (`["run", "-A"]` for Deno). */
  readonly args: readonly string[];
  /** The version it reports. */
  readonly version: string;
}

const os = Deno.build.os === "darwin" ? "darwin" : "linux";
const nodeArch = Deno.build.arch === "aarch64" ? "arm64" : "x64";
const bunArch = Deno.build.arch === "aarch64" ? "aarch64" : "x64";

/** npm alias → package@version, and the binary inside it. */
const PACKAGES: { name: string; spec: string; bin: string; version: string }[] = [
  {
    name: "node22",
    spec: `npm:node-${os}-${nodeArch}@22.23.5`,
    bin: "node22/bin/node",
    version: "v22.23.5",
  },
  {
    name: "node24",
    spec: `npm:node-${os}-${nodeArch}@24.22.3`,
    bin: "node24/bin/node",
    version: "v24.22.3",
  },
  {
    name: "bun",
    spec: `npm:@oven/bun-${os}-${bunArch}@1.4.5`,
    bin: "bun/bin/bun",
    version: "1.4.5",
  },
];

/** The cache folder. */
export function runtimesDir(): string {
  return Deno.env.get("HEARSAY_RUNTIMES_DIR") ??
    `${Deno.env.get("HOME") ?? "/tmp"}/.cache/hearsay/runtimes`;
}

async function versionOf(command: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(command, { args: ["--version"], stdout: "piped" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Installs the pinned runtimes into {@link runtimesDir} unless they are there already, and
 * returns them (Node 22, Node 24, Bun). Throws with npm's output when the install fails. */
export async function ensureRuntimes(): Promise<Runtime[]> {
  const dir = runtimesDir();
  const found = async () =>
    await Promise.all(PACKAGES.map(async (p) => {
      const command = `${dir}/node_modules/${p.bin}`;
      return { p, command, version: await versionOf(command) };
    }));
  let have = await found();
  if (have.some((h) => h.version !== h.p.version)) {
    await Deno.mkdir(dir, { recursive: true });
    const out = await new Deno.Command("npm", {
      args: [
        "install",
        "--prefix",
        dir,
        "--no-audit",
        "--no-fund",
        ...PACKAGES.map((p) => `${p.name}@${p.spec}`),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `npm install of ${PACKAGES.map((p) => p.spec).join(", ")} into ${dir} failed:\n` +
          new TextDecoder().decode(out.stderr).trim(),
      );
    }
    have = await found();
    const wrong = have.filter((h) => h.version !== h.p.version);
    if (wrong.length > 0) {
      throw new Error(
        `after npm install: ${
          wrong.map((h) => `${h.command} reports ${h.version}, want ${h.p.version}`).join("; ")
        }`,
      );
    }
  }
  return have.map((h) => ({ name: h.p.name, command: h.command, args: [], version: h.version! }));
}

/** The Deno running this process, as a {@link Runtime}. */
export const denoRuntime: Runtime = {
  name: "deno",
  command: Deno.execPath(),
  args: ["run", "-A"],
  version: Deno.version.deno,
};

if (import.meta.main) {
  for (const r of await ensureRuntimes()) console.log(`${r.name} ${r.version} ${r.command}`);
}
