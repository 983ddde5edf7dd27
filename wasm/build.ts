/**
 * Builds `src/codec/hearsay.wasm` from `wasm/assembly/index.ts` with AssemblyScript (pinned version,
 * fetched from npm by Deno). `--check` builds into a temporary directory and exits 1 when the
 * committed artifact differs (the build is byte-for-byte reproducible).
 *
 * Usage: `deno run -A wasm/build.ts [--check]`
 *
 * @module
 */

const ASC = "npm:assemblyscript@0.28.20/asc";
const root = new URL("../", import.meta.url);
const entry = new URL("wasm/assembly/index.ts", root).pathname;
const artifact = new URL("src/codec/hearsay.wasm", root).pathname;
// A module with no imports at all: stub runtime, no abort import, asserts compiled out. SIMD
// (standard WebAssembly, in every V8 since 9.1) speeds up the decoder's string batching.
const FLAGS = ["-O3", "--noAssert", "--runtime", "stub", "--use", "abort=", "--enable", "simd"];

async function compile(out: string): Promise<void> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ASC, entry, "-o", out, ...FLAGS],
    stdout: "inherit",
    stderr: "inherit",
  });
  const { code } = await cmd.output();
  if (code !== 0) throw new Error(`asc failed with exit code ${code}`);
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

if (Deno.args.includes("--check")) {
  const dir = await Deno.makeTempDir({ prefix: "hearsay-wasm-" });
  try {
    const fresh = `${dir}/hearsay.wasm`;
    await compile(fresh);
    const built = await Deno.readFile(fresh);
    let committed: Uint8Array;
    try {
      committed = await Deno.readFile(artifact);
    } catch {
      console.error(`check:wasm: ${artifact} is missing; run \`deno task build:wasm\``);
      Deno.exit(1);
    }
    if (!same(built, committed)) {
      console.error(
        `check:wasm: src/codec/hearsay.wasm is stale (${committed.length} B committed, ${built.length} B ` +
          "built from wasm/assembly/); run `deno task build:wasm` and commit the result",
      );
      Deno.exit(1);
    }
    console.log(`check:wasm: src/codec/hearsay.wasm is up to date (${built.length} B)`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
} else {
  await compile(artifact);
  const size = (await Deno.stat(artifact)).size;
  console.log(`build:wasm: wrote src/codec/hearsay.wasm (${size} B)`);
}
