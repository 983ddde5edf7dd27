/**
 * Builds the package the way JSR's npm compatibility layer ships it to Node and Bun: every
 * published TypeScript file (deno.json's `publish.exclude` applied to the tracked files)
 * transpiled on its own to JavaScript with esbuild (from npm), its relative `.ts` import
 * specifiers rewritten to `.js` so the module graph stays the same, every other published file
 * copied unchanged, and a `package.json` whose `exports` mirror deno.json's. No bundling and no
 * type checking (JSR also emits `.d.ts` files, which running the code does not need).
 *
 * Usage: `deno run -A tools/build_npm.ts [--out DIR]` (default `target/npm/`, git-ignored). Prints
 * the output folder.
 *
 * @module
 */
import * as esbuild from "esbuild";
import { repoFiles } from "../sim/repo_files.ts";

const root = new URL("../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname);

interface DenoJson {
  name: string;
  version: string;
  description?: string;
  license: string;
  exports: Record<string, string>;
  exclude?: string[];
  publish?: { exclude?: string[] };
}

/** A deno.json exclude pattern as a test on a repository-relative path. */
function matcher(pattern: string): (path: string) => boolean {
  if (pattern.endsWith("/")) return (p) => p.startsWith(pattern);
  const re = new RegExp(
    "^" +
      pattern.split("**/").map((part) =>
        part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")
      ).join("(?:.*/)?") + "(?:/.*)?$",
  );
  return (p) => re.test(p);
}

function trackedFiles(): Promise<string[]> {
  return repoFiles(root);
}

/** `.ts` → `.js` in relative import and export specifiers of emitted code. */
export function rewriteSpecifiers(code: string): string {
  return code.replace(
    /((?:\bfrom|\bimport)\s*\(?\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g,
    (_m, head: string, q: string, spec: string) => `${head}${q}${spec}.js${q}`,
  );
}

/** Builds the package into `out` (emptied first); returns how many files were transpiled and
 * copied. */
export async function buildNpm(out: string): Promise<{ transpiled: number; copied: number }> {
  const config = JSON.parse(await Deno.readTextFile(rootPath + "deno.json")) as DenoJson;
  const excluded = [...(config.exclude ?? []), ...(config.publish?.exclude ?? []), ".git"]
    .map(matcher);
  const files = (await trackedFiles()).filter((f) => !excluded.some((m) => m(f)));
  await Deno.remove(out, { recursive: true }).catch(() => {});
  let transpiled = 0, copied = 0;
  try {
    for (const f of files) {
      const dest = `${out}/${f.replace(/\.ts$/, ".js")}`;
      await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
      if (f.endsWith(".ts")) {
        const source = await Deno.readTextFile(rootPath + f);
        const { code } = await esbuild.transform(source, {
          loader: "ts",
          format: "esm",
          target: "es2022",
          sourcefile: f,
        });
        await Deno.writeTextFile(dest, rewriteSpecifiers(code));
        transpiled++;
      } else {
        await Deno.copyFile(rootPath + f, dest);
        copied++;
      }
    }
  } finally {
    await esbuild.stop();
  }
  const exports: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.exports)) exports[k] = v.replace(/\.ts$/, ".js");
  const pkg = {
    name: config.name,
    version: config.version,
    ...(config.description !== undefined ? { description: config.description } : {}),
    license: config.license,
    type: "module",
    exports,
  };
  await Deno.writeTextFile(`${out}/package.json`, JSON.stringify(pkg, null, 2) + "\n");
  return { transpiled, copied };
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--out");
  const out = i >= 0 ? Deno.args[i + 1] : `${rootPath}target/npm`;
  if (out === undefined || out === "") {
    console.error("usage: deno run -A tools/build_npm.ts [--out DIR]");
    Deno.exit(2);
  }
  const { transpiled, copied } = await buildNpm(out);
  console.error(`build_npm: ${transpiled} files transpiled, ${copied} copied`);
  console.log(out);
}
