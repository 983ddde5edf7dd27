/**
 * How the reconciler runs `wg`: an argv array, never a shell. A small interface, so tests can
 * record the invocations instead of running them.
 *
 * @module
 */
import { execCommand } from "../common/_command.ts";
import { WgCommandError } from "./errors.ts";

/** What one `wg` invocation gave back.
 *
 * @example
 * ```ts
 * import { runWg, WgCommandError, type WgResult } from "./mod.ts";
 * const failed: WgResult = { code: 1, stdout: "", stderr: "Unable to access interface: No such device\n" };
 * try {
 *   await runWg({ run: () => Promise.resolve(failed) }, ["show", "wg9", "dump"]);
 * } catch (e) {
 *   console.log(e instanceof WgCommandError && e.code, (e as Error).message);
 *   // 1 wg show wg9 dump failed (exit 1): Unable to access interface: No such device
 * }
 * ```
 */
export interface WgResult {
  /** Exit code. */
  readonly code: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
}

/** Runs `wg` with an argv (without the program name).
 *
 * @example
 * ```ts
 * import { runWg, type WgRunner, wgSetArgs } from "./mod.ts";
 * const calls: string[] = [];
 * const recorder: WgRunner = { // records argv instead of running wg
 *   run(args) {
 *     calls.push(args.join(" "));
 *     return Promise.resolve({ code: 0, stdout: "", stderr: "" });
 *   },
 * };
 * for (const args of wgSetArgs("wg0", { remove: ["K9="], set: [] })) await runWg(recorder, args);
 * console.log(calls); // ["set wg0 peer K9= remove"]
 * ```
 */
export interface WgRunner {
  /** Runs `wg ...args` and resolves with its result (a non-zero code is not a rejection). */
  run(args: readonly string[]): Promise<WgResult>;
}

/** Runs the real `wg`: with `Deno.Command` on Deno (needs `--allow-run`), with
 * `node:child_process` on Node and Bun; changing an interface needs root or CAP_NET_ADMIN.
 *
 * @example
 * ```ts
 * import { CommandWgRunner } from "./mod.ts";
 * const wg = new CommandWgRunner({ command: "wg" });
 * console.log(wg.command); // wg
 * ```
 */
export class CommandWgRunner implements WgRunner {
  /** The program run. */
  readonly command: string;
  /** Creates a runner for `command` (default `wg`, found on PATH). */
  constructor(options: { command?: string } = {}) {
    this.command = options.command ?? "wg";
  }
  /** Runs it; a program that cannot be started rejects with a {@link WgCommandError}. */
  async run(args: readonly string[]): Promise<WgResult> {
    try {
      return await execCommand(this.command, args);
    } catch (e) {
      throw new WgCommandError(args, -1, `cannot run ${this.command}: ${(e as Error).message}`);
    }
  }
}

/** Runs `wg`, throwing a {@link WgCommandError} unless it exits 0; returns its stdout.
 *
 * @example
 * ```ts
 * import { runWg, type WgRunner } from "./mod.ts";
 * const fake: WgRunner = { run: () => Promise.resolve({ code: 0, stdout: "ok\n", stderr: "" }) };
 * console.log(await runWg(fake, ["show", "wg0", "public-key"])); // "ok\n"
 * ```
 */
export async function runWg(runner: WgRunner, args: readonly string[]): Promise<string> {
  const r = await runner.run(args);
  if (r.code !== 0) throw new WgCommandError(args, r.code, r.stderr);
  return r.stdout;
}
