/**
 * Where the interop peer's build lives. Shared by `build.ts` (which builds it) and `peer.ts`
 * (which runs it). The cargo target directory is outside the clone so CI can cache and reuse it.
 * One cargo build produces one binary per chitchat release the peer is built against (see
 * {@link CHITCHAT_VERSIONS}).
 *
 * @module
 */

/** The chitchat releases the interop peer is built against, oldest first.
 *
 * @example
 * ```ts
 * import { CHITCHAT_VERSIONS } from "./paths.ts";
 * console.log(CHITCHAT_VERSIONS); // ["0.10.1", "0.13.0"]
 * ```
 */
export const CHITCHAT_VERSIONS: readonly ["0.10.1", "0.13.0"] = ["0.10.1", "0.13.0"];

/** One of {@link CHITCHAT_VERSIONS}.
 *
 * @example
 * ```ts
 * import type { ChitchatVersion } from "./paths.ts";
 * const v: ChitchatVersion = "0.13.0";
 * console.log(v);
 * ```
 */
export type ChitchatVersion = typeof CHITCHAT_VERSIONS[number];

/** The version existing callers get: the one zlayer asks for (`^0.10`).
 *
 * @example
 * ```ts
 * import { DEFAULT_CHITCHAT_VERSION } from "./paths.ts";
 * console.log(DEFAULT_CHITCHAT_VERSION); // "0.10.1"
 * ```
 */
export const DEFAULT_CHITCHAT_VERSION: ChitchatVersion = "0.10.1";

const BINARY_NAMES: Record<ChitchatVersion, string> = {
  "0.10.1": "hearsay-interop",
  "0.13.0": "hearsay-interop-v013",
};

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

/** The path of the release binary that `deno task build:interop` produces for a chitchat
 * version: `hearsay-interop` (0.10.1, the default) or `hearsay-interop-v013` (0.13.0).
 *
 * @example
 * ```ts
 * import { interopBinaryPath } from "./paths.ts";
 * console.log(interopBinaryPath().endsWith("/release/hearsay-interop")); // true (on Unix)
 * console.log(interopBinaryPath("0.13.0").endsWith("/release/hearsay-interop-v013")); // true
 * ```
 */
export function interopBinaryPath(version: ChitchatVersion = DEFAULT_CHITCHAT_VERSION): string {
  const name = BINARY_NAMES[version];
  if (name === undefined) {
    throw new Error(
      `no interop peer for chitchat ${JSON.stringify(version)}; expected one of ` +
        CHITCHAT_VERSIONS.join(", "),
    );
  }
  const exe = Deno.build.os === "windows" ? ".exe" : "";
  return `${interopTargetDir()}/release/${name}${exe}`;
}

function fileUrlToPath(url: URL): string {
  const path = decodeURIComponent(url.pathname);
  // file:///C:/x -> C:/x on Windows.
  return Deno.build.os === "windows" ? path.replace(/^\/([A-Za-z]:)/, "$1") : path;
}
