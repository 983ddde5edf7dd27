/**
 * Builds the Rust interop peer (`deno task build:interop`) against every chitchat release in
 * `CHITCHAT_VERSIONS`: one `cargo build --release --locked` on `interop/Cargo.toml` (one package,
 * one binary per release, dependencies compiled once) with the target directory from `paths.ts`.
 * Streams cargo's output to stderr, exits non-zero on failure and prints each binary's path on
 * stdout, one line per version, oldest first. When nothing changed, cargo's own no-op check makes
 * this fast; after the first fetch it needs no network (`--locked`, crates in cargo's cache).
 *
 * @module
 */
import {
  CHITCHAT_VERSIONS,
  type ChitchatVersion,
  interopBinaryPath,
  interopCrateDir,
  interopTargetDir,
} from "./paths.ts";

/** Runs the cargo build; resolves to the binary path of each version, or rejects with what went
 * wrong.
 *
 * @example
 * ```ts ignore
 * import { buildInteropPeer } from "./build.ts";
 * const paths = await buildInteropPeer();
 * console.log(paths["0.13.0"]);
 * ```
 */
export async function buildInteropPeer(): Promise<Record<ChitchatVersion, string>> {
  const args = [
    "build",
    "--release",
    "--locked",
    "--manifest-path",
    `${interopCrateDir()}/Cargo.toml`,
    "--target-dir",
    interopTargetDir(),
  ];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("cargo", { args, stdin: "null", stdout: "piped", stderr: "inherit" })
      .spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        "cargo was not found on PATH; the interop peer needs a Rust toolchain (>= 1.86), " +
          "e.g. from https://rustup.rs",
      );
    }
    throw error;
  }
  // Cargo's own stdout (rarely used) goes to our stderr, keeping our stdout for the path.
  await child.stdout.pipeTo(Deno.stderr.writable, { preventClose: true });
  const status = await child.status;
  if (!status.success) {
    throw new Error(`cargo ${args.join(" ")} failed with exit code ${status.code}`);
  }
  const paths = {} as Record<ChitchatVersion, string>;
  for (const version of CHITCHAT_VERSIONS) paths[version] = interopBinaryPath(version);
  return paths;
}

if (import.meta.main) {
  try {
    const paths = await buildInteropPeer();
    for (const version of CHITCHAT_VERSIONS) console.log(paths[version]);
  } catch (error) {
    console.error(`build:interop: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
