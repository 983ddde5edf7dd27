/**
 * The layering rules of docs/ARCHITECTURE.md, checked on the real tree: which folders may import
 * which, that only the codec loads the WASM module, that state never reaches it (not even
 * transitively), and that no source file under `src/` grows past 800 lines.
 *
 * The import graph is read from the sources (comments stripped, so doc examples do not count);
 * type-only imports are kept apart because they load nothing at run time.
 */
import assert from "node:assert/strict";
import { repoFiles } from "../sim/repo_files.ts";

const root = new URL("../", import.meta.url);

interface Edge {
  to: string;
  typeOnly: boolean;
}

function trackedFiles(): Promise<string[]> {
  return repoFiles(root);
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

function normalize(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

const IMPORT_PATTERNS: RegExp[] = [
  /\b(import|export)\s+(type\s+)?[^;"'`]*?\bfrom\s*"(\.{1,2}\/[^"]+)"/g,
  /\bimport\s*"(\.{1,2}\/[^"]+)"/g,
  /\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g,
  /\bnew URL\(\s*"(\.{1,2}\/[^"]+)"\s*,\s*import\.meta\.url/g,
];

function edgesOf(file: string, source: string): Edge[] {
  const code = stripComments(source);
  const edges: Edge[] = [];
  for (const [i, pattern] of IMPORT_PATTERNS.entries()) {
    for (const m of code.matchAll(pattern)) {
      const spec = i === 0 ? m[3]! : m[1]!;
      const typeOnly = i === 0 && m[2] !== undefined;
      edges.push({ to: normalize(`${dirOf(file)}/${spec}`), typeOnly });
    }
  }
  return edges;
}

/** The generated module that inlines and instantiates the codec's WASM (wasm/build.ts). */
const WASM_MODULE = "src/codec/_wasm.ts";
/** The WASM module itself, in whatever form: the generated module or a `.wasm` file. */
const isWasm = (t: string): boolean => t === WASM_MODULE || t.endsWith(".wasm");

const files = (await trackedFiles()).filter((f) => f.endsWith(".ts") && !f.startsWith("wasm/"));
const graph = new Map<string, Edge[]>();
for (const f of files) graph.set(f, edgesOf(f, await Deno.readTextFile(new URL(f, root))));

function top(path: string): string {
  return path.split("/")[0]!;
}

function violations(from: (f: string) => boolean, to: (t: string) => boolean): string[] {
  const found: string[] = [];
  for (const [f, edges] of graph) {
    if (!from(f)) continue;
    for (const e of edges) if (to(e.to)) found.push(`${f} -> ${e.to}`);
  }
  return found.sort();
}

/** Files reachable from `start` through imports that load code at run time. */
function runtimeClosure(start: string): Set<string> {
  const seen = new Set<string>([start]);
  const stack = [start];
  while (stack.length > 0) {
    const f = stack.pop()!;
    for (const e of graph.get(f) ?? []) {
      if (e.typeOnly || seen.has(e.to)) continue;
      seen.add(e.to);
      stack.push(e.to);
    }
  }
  return seen;
}

Deno.test("layering: the graph was read (the checks below are not vacuous)", () => {
  assert(graph.size > 50, `only ${graph.size} TypeScript files found`);
  const node = graph.get("src/node/gossip_node.ts");
  assert(node !== undefined && node.length > 5, "gossip_node.ts imports were not parsed");
  assert(
    [...graph.values()].flat().some((e) => e.to === WASM_MODULE),
    `no module imports ${WASM_MODULE}: the WASM checks below would pass vacuously`,
  );
});

Deno.test("layering: src/ imports nothing outside src/", () => {
  assert.deepEqual(violations((f) => top(f) === "src", (t) => top(t) !== "src"), []);
});

Deno.test("layering: sim/ and interop/ import nothing from tests/, bench/ or tools/", () => {
  const upper = new Set(["tests", "bench", "tools"]);
  assert.deepEqual(
    violations((f) => top(f) === "sim" || top(f) === "interop", (t) => upper.has(top(t))),
    [],
  );
  assert.deepEqual(violations((f) => top(f) === "interop", (t) => top(t) === "sim"), []);
});

Deno.test("layering: bench/ and tools/ import nothing from tests/; tools/ nothing from bench/", () => {
  assert.deepEqual(
    violations((f) => top(f) === "bench" || top(f) === "tools", (t) => top(t) === "tests"),
    [],
  );
  assert.deepEqual(violations((f) => top(f) === "tools", (t) => top(t) === "bench"), []);
});

Deno.test("layering: only src/codec/ imports the WASM module", () => {
  assert.deepEqual(
    violations((f) => !f.startsWith("src/codec/"), isWasm),
    [],
  );
});

Deno.test("layering: src/common/ imports only src/common/", () => {
  assert.deepEqual(
    violations(
      (f) => f.startsWith("src/common/") && !f.endsWith("_test.ts"),
      (t) => !t.startsWith("src/common/"),
    ),
    [],
  );
});

Deno.test("layering: loading the state layer never loads the WASM module", () => {
  const state = files.filter((f) =>
    f.startsWith("src/state/") && !f.endsWith("_test.ts") && !f.includes("/_test_")
  );
  assert(state.length >= 2, `state modules not found: ${state.join(", ")}`);
  for (const f of state) {
    const reached = [...runtimeClosure(f)].filter(isWasm);
    assert.deepEqual(reached, [], `${f} loads the WASM module at run time`);
  }
});

Deno.test("layering: no source file under src/ is longer than 800 lines", async () => {
  const long: string[] = [];
  for (const f of files.filter((f) => top(f) === "src")) {
    const lines = (await Deno.readTextFile(new URL(f, root))).split("\n").length - 1;
    if (lines > 800) long.push(`${f}: ${lines} lines`);
  }
  assert.deepEqual(long, []);
});
