/**
 * The repository's files as git sees them (tracked, plus untracked ones it does not ignore) that
 * exist in the work tree: what the layering and docs tests read and what the npm build copies.
 *
 * @example
 * ```ts
 * import { repoFiles } from "./repo_files.ts";
 * const files = await repoFiles(new URL("../", import.meta.url));
 * console.log(files.includes("deno.json")); // true
 * ```
 *
 * @module
 */

/** Paths relative to `root` (a directory URL ending in `/`), in git's order. Throws when git
 * fails. */
export async function repoFiles(root: URL): Promise<string[]> {
  const out = await new Deno.Command("git", {
    args: ["ls-files", "--cached", "--others", "--exclude-standard"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `git ls-files failed in ${root.pathname}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const present: string[] = [];
  for (const f of new TextDecoder().decode(out.stdout).split("\n")) {
    if (f === "") continue;
    try {
      if ((await Deno.stat(new URL(f, root))).isFile) present.push(f);
    } catch {
      // deleted in the work tree but still in the index
    }
  }
  return present;
}
