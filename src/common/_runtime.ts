/**
 * Which JavaScript runtime runs hearsay, read once from its globals (no feature is probed by
 * calling it). Used where runtimes differ in ways that cannot be detected safely: node:zlib's
 * native zstd handles, signals, the HTTP server and the process API.
 *
 * @module
 */

/** The runtime's name and version (`"2.9.6"`, `"22.23.5"`, `"1.4.5"`). */
export interface RuntimeInfo {
  /** `"deno"`, `"node"` or `"bun"`; `"unknown"` for anything else. */
  readonly name: "deno" | "node" | "bun" | "unknown";
  /** The runtime's own version ("" when unknown). */
  readonly version: string;
}

interface Globals {
  Deno?: { version?: { deno?: string } };
  Bun?: { version?: string };
  process?: { versions?: { node?: string; bun?: string } };
}

function detect(): RuntimeInfo {
  const g = globalThis as Globals;
  const deno = g.Deno?.version?.deno;
  if (typeof deno === "string") return { name: "deno", version: deno };
  const bun = g.Bun?.version ?? g.process?.versions?.bun;
  if (typeof bun === "string") return { name: "bun", version: bun };
  const node = g.process?.versions?.node;
  if (typeof node === "string") return { name: "node", version: node };
  return { name: "unknown", version: "" };
}

/** The runtime running this process. */
export const runtime: RuntimeInfo = detect();

/** `version` (`"22.15.0"`, a leading `v` allowed) as at least `[major, minor]`. */
export function atLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = version.replace(/^v/, "").split(".").map((p) => parseInt(p, 10));
  if (a === undefined || Number.isNaN(a)) return false;
  return a > major || (a === major && (b ?? 0) >= minor);
}
