/**
 * The references of the documentation, checked on whatever tree the test runs in (the file list
 * comes from git at run time, so files moved by later work are checked where they are):
 *
 * - every section citation (a `§` followed by a section number) in a tracked `.ts`, `.rs` or `.md`
 *   file names a heading of docs/PROTOCOL.md, every cited test vector (`V11`) is one of its
 *   vectors, and every mention of a protocol file means docs/PROTOCOL.md;
 * - quoted section names cited from the interop peer's COMMANDS.md are headings there;
 * - in README.md, docs/*.md and interop/COMMANDS.md, every relative link (and its `#anchor`),
 *   every repository path (`src/...`, `sim/...`, `tests/...`, ...) and every relative import in a
 *   code example exists.
 *
 * The checks are plain functions over text; the first tests feed them broken references to show
 * that they catch them.
 */
import assert from "node:assert/strict";
import { repoFiles } from "../sim/repo_files.ts";

const root = new URL("../", import.meta.url);

function trackedFiles(): Promise<string[]> {
  return repoFiles(root);
}

function normalize(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) return "../"; // above the repository: never exists
      parts.pop();
    } else parts.push(part);
  }
  return parts.join("/");
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

// Built at run time so that this file's own text holds no citation or mention to check.
const SECTION = "\u00a7";
const PROTOCOL_MD = ["PROTOCOL", "md"].join(".");
const COMMANDS_MD = ["COMMANDS", "md"].join(".");

// ---------------------------------------------------------------- headings

/** Section numbers of the headings of a markdown text (`## 5. Title` gives "5",
 * `### 5.2 Title` gives "5.2"). */
function headingNumbers(markdown: string): Set<string> {
  const found = new Set<string>();
  for (const m of stripFences(markdown).matchAll(/^#{1,6}[ \t]+(\d+(?:\.\d+)*)\.?[ \t]/gm)) {
    found.add(m[1]!);
  }
  return found;
}

/** Names of the test vectors a markdown text defines (`**V6 ...**`). */
function vectorNames(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/\*\*(V\d+)\b/g)].map((m) => m[1]!));
}

/** Heading texts of a markdown text, as written. */
function headingTexts(markdown: string): string[] {
  return [...stripFences(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)].map((m) =>
    m[1]!
  );
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats
 * numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const text of headingTexts(markdown)) {
    const plain = text.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
    const base = plain.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Replaces the contents of fenced code blocks with blank lines (line numbers stay right). */
function stripFences(markdown: string): string {
  return markdown.replace(
    /^([ \t]*)(```|~~~)[^\n]*\n[\s\S]*?^\1\2[ \t]*$/gm,
    (block) => block.replace(/[^\n]/g, ""),
  );
}

// ---------------------------------------------------------------- citation checks

interface Problem {
  file: string;
  line: number;
  what: string;
}

function show(problems: Problem[]): string[] {
  return problems.map((p) => `${p.file}:${p.line}: ${p.what}`);
}

/** Section citations, vector citations and protocol-file mentions of one file that do not
 * resolve into docs/PROTOCOL.md (given its section numbers and vector names). */
function citationProblems(
  file: string,
  text: string,
  sections: ReadonlySet<string>,
  vectors: ReadonlySet<string>,
): { problems: Problem[]; citations: number } {
  const problems: Problem[] = [];
  let citations = 0;
  for (const m of text.matchAll(new RegExp(`${SECTION}[ \\t]?(\\d+(?:\\.\\d+)*)`, "g"))) {
    citations++;
    if (!sections.has(m[1]!)) {
      problems.push({
        file,
        line: lineOf(text, m.index),
        what: `cites ${SECTION}${m[1]}, which is not a heading of docs/PROTOCOL.md`,
      });
    }
  }
  // A vector right after a citation of the protocol file or of one of its sections.
  const vectorCitation = new RegExp(
    `(?:PROTOCOL\\.md|${SECTION}[ \\t]?\\d+(?:\\.\\d+)*)[\\s*/!#>(,]*(V\\d+)\\b`,
    "g",
  );
  for (const m of text.matchAll(vectorCitation)) {
    citations++;
    if (!vectors.has(m[1]!)) {
      problems.push({
        file,
        line: lineOf(text, m.index),
        what: `cites vector ${m[1]}, which docs/PROTOCOL.md does not define`,
      });
    }
  }
  // Every mention of a protocol file: with a path, the path must lead to docs/PROTOCOL.md; bare, it
  // must be a citation (followed by a section or a vector) or resolve next to the file.
  for (const m of text.matchAll(/(?<![\w./-])([\w./-]*?)PROTOCOL\.md(?=[\s*/!#>(,]*(.?))/g)) {
    const prefix = m[1]!;
    const next = m[2]!;
    const candidates = [normalize(`${dirOf(file)}/${prefix}${PROTOCOL_MD}`)];
    if (prefix !== "" && !prefix.startsWith(".")) {
      candidates.push(normalize(`${prefix}${PROTOCOL_MD}`));
    }
    const resolves = candidates.includes("docs/PROTOCOL.md");
    const cites = prefix === "" && (next === SECTION || next === "V");
    if (!resolves && !cites) {
      problems.push({
        file,
        line: lineOf(text, m.index),
        what: `mentions ${prefix}${PROTOCOL_MD}, which is not docs/PROTOCOL.md ` +
          `(cite it as "${PROTOCOL_MD} ${SECTION}N" or link docs/PROTOCOL.md)`,
      });
    }
  }
  return { problems, citations };
}

/** Citations of a section of interop/COMMANDS.md by its quoted name that start none of its
 * headings. */
function commandSectionProblems(
  file: string,
  text: string,
  headings: readonly string[],
): { problems: Problem[]; citations: number } {
  const problems: Problem[] = [];
  let citations = 0;
  for (const m of text.matchAll(/COMMANDS\.md,[\s*/!]*"([^"\n]+)"/g)) {
    citations++;
    if (!headings.some((h) => h.startsWith(m[1]!))) {
      problems.push({
        file,
        line: lineOf(text, m.index),
        what: `cites section "${m[1]}" of interop/COMMANDS.md, which has no such heading`,
      });
    }
  }
  return { problems, citations };
}

// ---------------------------------------------------------------- path checks

const TOP_FOLDERS = ["src", "sim", "tests", "bench", "tools", "wasm", "interop", "docs", ".ci"];
const REPO_PATH = new RegExp(
  String.raw`(?<![\w./@:~$-])((?:\.{1,2}/)*(?:${
    TOP_FOLDERS.map((f) => f.replace(".", "\\.")).join("|")
  })/[\w./-]*)`,
  "g",
);

interface Mention {
  line: number;
  target: string;
  /** Only relative to the markdown file (links, `./` and `../` paths, imports). */
  fileRelative: boolean;
  anchor?: string;
  kind: string;
}

/** Relative links, repository paths and relative imports of code examples in one markdown text. */
function mentions(text: string): Mention[] {
  const found: Mention[] = [];
  const prose = stripFences(text);
  for (const m of prose.matchAll(/!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, jsr:, ...
    const hash = target.indexOf("#");
    const path = hash < 0 ? target : target.slice(0, hash);
    const mention: Mention = {
      line: lineOf(prose, m.index),
      target: path,
      fileRelative: true,
      kind: "link",
    };
    if (hash >= 0) mention.anchor = target.slice(hash + 1);
    found.push(mention);
  }
  for (const m of text.matchAll(REPO_PATH)) {
    let path = m[1]!;
    const after = text[m.index + path.length] ?? "";
    if ("*{<[".includes(after) && after !== "") continue; // a glob or a template, not a path
    path = path.replace(/[.]+$/, ""); // the end of a sentence
    found.push({
      line: lineOf(text, m.index),
      target: path,
      fileRelative: path.startsWith("."),
      kind: "path",
    });
  }
  const fences = text.matchAll(/^([ \t]*)(```|~~~)[^\n]*\n([\s\S]*?)^\1\2[ \t]*$/gm);
  for (const fence of fences) {
    const body = fence[3]!;
    const start = fence.index + fence[0].indexOf(body);
    for (const m of body.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)"(\.{1,2}\/[^"]+)"/g)) {
      found.push({
        line: lineOf(text, start + m.index),
        target: m[1]!,
        fileRelative: true,
        kind: "import",
      });
    }
  }
  return found;
}

/** Mentions of one markdown file that do not exist in `exists` (files and folders). */
function pathProblems(
  file: string,
  text: string,
  exists: (path: string) => boolean,
  anchorsOf: (path: string) => Set<string> | undefined,
): { problems: Problem[]; checked: number } {
  const problems: Problem[] = [];
  const list = mentions(text);
  for (const m of list) {
    const candidates = m.target === "" ? [file] : [normalize(`${dirOf(file)}/${m.target}`)];
    if (!m.fileRelative) candidates.push(normalize(m.target));
    const hit = candidates.find(exists);
    if (hit === undefined) {
      problems.push({ file, line: m.line, what: `${m.kind} ${m.target} does not exist` });
      continue;
    }
    if (m.anchor !== undefined && m.anchor !== "") {
      const known = anchorsOf(hit);
      if (known !== undefined && !known.has(m.anchor)) {
        problems.push({
          file,
          line: m.line,
          what: `${m.kind} ${m.target}#${m.anchor}: no heading with that anchor`,
        });
      }
    }
  }
  return { problems, checked: list.length };
}

// ---------------------------------------------------------------- the checkers can fail

Deno.test("docs checks: broken citations are found", () => {
  const sections = headingNumbers(
    "# T\n\n## 4. Delta\n\n### 4.3 Blocks\n\n```\n## 9. fenced\n```\n",
  );
  assert.deepEqual([...sections].sort(), ["4", "4.3"]);
  const vectors = vectorNames("**V1 BadCluster** and **V11 zlayer**");
  const text = [
    `// ${PROTOCOL_MD} ${SECTION}4.3 and ${SECTION}4 are fine`,
    `// ${PROTOCOL_MD} ${SECTION}4.4 is not`,
    ` * the spec (${PROTOCOL_MD}`,
    ` * ${SECTION}9)`,
    `// ${PROTOCOL_MD} V11 is fine, ${PROTOCOL_MD} V12 is not`,
    `// see interop/${PROTOCOL_MD} and ../shared/spec/${PROTOCOL_MD} and bare ${PROTOCOL_MD}`,
    `// docs/${PROTOCOL_MD} is fine, but not ../docs/${PROTOCOL_MD} from src/x/`,
  ].join("\n");
  const { problems, citations } = citationProblems("src/x/y.ts", text, sections, vectors);
  assert.equal(citations, 6);
  assert.deepEqual(show(problems), [
    `src/x/y.ts:2: cites ${SECTION}4.4, which is not a heading of docs/PROTOCOL.md`,
    `src/x/y.ts:4: cites ${SECTION}9, which is not a heading of docs/PROTOCOL.md`,
    "src/x/y.ts:5: cites vector V12, which docs/PROTOCOL.md does not define",
    ...["interop/", "../shared/spec/", ""].map((p) =>
      `src/x/y.ts:6: mentions ${p}${PROTOCOL_MD}, which is not docs/PROTOCOL.md ` +
      `(cite it as "${PROTOCOL_MD} ${SECTION}N" or link docs/PROTOCOL.md)`
    ),
    // From src/x/ that is src/docs/..., and a path starting with ../ is not read from the root.
    `src/x/y.ts:7: mentions ../docs/${PROTOCOL_MD}, which is not docs/PROTOCOL.md ` +
    `(cite it as "${PROTOCOL_MD} ${SECTION}N" or link docs/PROTOCOL.md)`,
  ]);
  const cmd = commandSectionProblems(
    "interop/src/a.rs",
    `//! (${COMMANDS_MD},\n//! "Node commands") and (${COMMANDS_MD}, "Nope")`,
    ["Node commands (real chitchat nodes)", "Codec commands"],
  );
  assert.equal(cmd.citations, 2);
  assert.deepEqual(show(cmd.problems), [
    `interop/src/a.rs:2: cites section "Nope" of interop/COMMANDS.md, which has no such heading`,
  ]);
});

Deno.test("docs checks: broken links, paths, anchors and example imports are found", () => {
  const files = new Set(["README.md", "mod.ts", "docs/A.md", "docs/B.md", "src/codec/message.ts"]);
  const dirs = new Set(["docs", "src", "src/codec"]);
  const exists = (p: string) => files.has(p) || dirs.has(p);
  const anchorsOf = (p: string) =>
    p === "docs/B.md" ? anchors("# B\n\n## Encryption (opt-in)\n") : undefined;
  const text = [
    "See [B](B.md#encryption-opt-in), [B](B.md#nope), [C](C.md) and [web](https://x.y/z.md).",
    "Code in `src/codec/message.ts`, `src/codec/`, `src/codec/gone.ts`, src/state/ and globs",
    "like `src/**/*.ts` or `bench/*` or `src/<layer>/`. Run `deno run -A tools/demo.ts`.",
    "Anchors here: [x](#b) and [y](#missing).",
    "```ts",
    'import { a } from "../mod.ts";',
    'import { b } from "./mod.ts";',
    "```",
    "The end is at docs/A.md.",
  ].join("\n");
  const anchorsSelf = (p: string) => p === "docs/A.md" ? anchors("# B\n") : anchorsOf(p);
  const { problems, checked } = pathProblems("docs/A.md", text, exists, anchorsSelf);
  assert.equal(checked, 13);
  assert.deepEqual(show(problems), [
    "docs/A.md:1: link B.md#nope: no heading with that anchor",
    "docs/A.md:1: link C.md does not exist",
    "docs/A.md:4: link #missing: no heading with that anchor",
    "docs/A.md:2: path src/codec/gone.ts does not exist",
    "docs/A.md:2: path src/state/ does not exist",
    "docs/A.md:3: path tools/demo.ts does not exist",
    "docs/A.md:7: import ./mod.ts does not exist",
  ]);
  assert.deepEqual(
    [...anchors(
      "# A `x` b\n## Plain mode (the default, wire-compatible with chitchat 0.10.1)\n## A x b\n",
    )],
    ["a-x-b", "plain-mode-the-default-wire-compatible-with-chitchat-0101", "a-x-b-1"],
  );
});

// ---------------------------------------------------------------- the repository

const tracked = await trackedFiles();
const trackedSet = new Set(tracked);
const trackedDirs = new Set<string>();
for (const f of tracked) {
  for (let d = dirOf(f); d !== ""; d = dirOf(d)) trackedDirs.add(d);
}
const read = (f: string) => Deno.readTextFile(new URL(f, root));

Deno.test("docs: every protocol citation resolves to a heading of docs/PROTOCOL.md", async () => {
  assert(trackedSet.has("docs/PROTOCOL.md"), "docs/PROTOCOL.md is missing");
  const spec = await read("docs/PROTOCOL.md");
  const sections = headingNumbers(spec);
  const vectors = vectorNames(spec);
  assert(sections.size > 40, `only ${sections.size} numbered headings in docs/PROTOCOL.md`);
  assert(vectors.size >= 11, `only ${vectors.size} vectors in docs/PROTOCOL.md`);
  const strays = tracked.filter((f) => /(^|\/)PROTOCOL\.md$/.test(f) && f !== "docs/PROTOCOL.md");
  assert.deepEqual(strays, [], "a protocol file outside docs/ would make citations ambiguous");
  const problems: Problem[] = [];
  let citations = 0;
  for (const f of tracked.filter((f) => /\.(ts|rs|md)$/.test(f))) {
    const r = citationProblems(f, await read(f), sections, vectors);
    problems.push(...r.problems);
    citations += r.citations;
  }
  assert(citations > 20, `only ${citations} citations found: the scan is not reading the tree`);
  assert.deepEqual(show(problems), []);
});

Deno.test("docs: section names cited from interop/COMMANDS.md are its headings", async () => {
  assert(trackedSet.has("interop/COMMANDS.md"), "interop/COMMANDS.md is missing");
  const headings = headingTexts(await read("interop/COMMANDS.md"));
  const problems: Problem[] = [];
  let citations = 0;
  for (const f of tracked.filter((f) => /\.(ts|rs|md)$/.test(f))) {
    const r = commandSectionProblems(f, await read(f), headings);
    problems.push(...r.problems);
    citations += r.citations;
  }
  assert(citations >= 3, `only ${citations} section citations of interop/COMMANDS.md found`);
  assert.deepEqual(show(problems), []);
});

Deno.test("docs: links, repository paths and example imports in README.md and docs/ exist", async () => {
  const docs = tracked.filter((f) =>
    f === "README.md" || f === "interop/COMMANDS.md" || /^docs\/[^/]+\.md$/.test(f)
  );
  assert(docs.includes("docs/ARCHITECTURE.md"), "docs/ARCHITECTURE.md is missing");
  const anchorCache = new Map<string, Set<string>>();
  for (const f of tracked.filter((f) => f.endsWith(".md"))) {
    anchorCache.set(f, anchors(await read(f)));
  }
  const exists = (p: string) => trackedSet.has(p) || trackedDirs.has(p);
  const problems: Problem[] = [];
  let checked = 0;
  for (const f of docs) {
    const r = pathProblems(f, await read(f), exists, (p) => anchorCache.get(p));
    problems.push(...r.problems);
    checked += r.checked;
  }
  assert(checked > 50, `only ${checked} references found in ${docs.join(", ")}`);
  assert.deepEqual(show(problems), []);
});
