/**
 * Where the interop peer's build lives. Shared by `build.ts` (which builds it) and `peer.ts`
 * (which runs it). The cargo target directory is outside the clone so CI can cache and reuse it.
 *
 * @module
 */

/** The folder holding the peer's `Cargo.toml`, as a file-system path.
 *
 * @example
 * ```ts
 * import { interopCrateDir } from "./paths.ts";
 * console.log(interopCrateDir().endsWith("interop"));
 * ```
 */
export function interopCrateDir(): string {
  return fileUrlToPath(new URL(".", import.meta.url)).replace(/[\\/]$/, "");
}

/** The cargo `--target-dir`: `$HEARSAY_INTEROP_TARGET`, or `$HOME/.cache/hearsay/interop-target`.
 *
 * @example
 * ```ts
 * import { interopTargetDir } from "./paths.ts";
 * console.log(interopTargetDir().length > 0);
 * ```
 */
export function interopTargetDir(): string {
  const explicit = Deno.env.get("HEARSAY_INTEROP_TARGET");
  if (explicit !== undefined && explicit !== "") return explicit;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (home === undefined || home === "") {
    throw new Error(
      "cannot place the interop build: neither HEARSAY_INTEROP_TARGET nor HOME is set; " +
        "set HEARSAY_INTEROP_TARGET to a writable folder",
    );
  }
  return `${home}/.cache/hearsay/interop-target`;
}

/** The path of the release binary `hearsay-interop` that `deno task build:interop` produces.
 *
 * @example
 * ```ts
 * import { interopBinaryPath } from "./paths.ts";
 * console.log(interopBinaryPath().includes("hearsay-interop"));
 * ```
 */
export function interopBinaryPath(): string {
  const exe = Deno.build.os === "windows" ? ".exe" : "";
  return `${interopTargetDir()}/release/hearsay-interop${exe}`;
}

function fileUrlToPath(url: URL): string {
  const path = decodeURIComponent(url.pathname);
  // file:///C:/x -> C:/x on Windows.
  return Deno.build.os === "windows" ? path.replace(/^\/([A-Za-z]:)/, "$1") : path;
}
