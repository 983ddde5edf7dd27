/**
 * Builds the Rust interop peer (`deno task build:interop`): runs
 * `cargo build --release --locked` on `interop/Cargo.toml` with the target directory from
 * `paths.ts`, streams cargo's output to stderr, exits non-zero on failure and prints the
 * binary's path on stdout. When nothing changed, cargo's own no-op check makes this fast.
 *
 * @module
 */
import { interopBinaryPath, interopCrateDir, interopTargetDir } from "./paths.ts";

/** Runs the cargo build; resolves to the binary path, or rejects with what went wrong.
 *
 * @example
 * ```ts ignore
 * import { buildInteropPeer } from "./build.ts";
 * console.log(await buildInteropPeer());
 * ```
 */
export async function buildInteropPeer(): Promise<string> {
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
  return interopBinaryPath();
}

if (import.meta.main) {
  try {
    console.log(await buildInteropPeer());
  } catch (error) {
    console.error(`build:interop: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
