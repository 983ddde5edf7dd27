/**
 * Runs an external command the same way on Deno, Node and Bun: an argv array, never a shell;
 * stdin closed; stdout and stderr collected as text. On Deno it uses `Deno.Command` (needs
 * `--allow-run`); elsewhere `node:child_process` `spawn` (which Bun provides too). Used by the
 * worker's host layer (`ip`) and by the WireGuard runner (`wg`).
 *
 * @module
 */
import { runtime } from "./_runtime.ts";

/** How a command ended. */
export interface CommandOutput {
  /** Exit code (128 + the signal number when a signal ended it). */
  readonly code: number;
  /** Standard output, as text ("" when not collected). */
  readonly stdout: string;
  /** Standard error, as text. */
  readonly stderr: string;
}

/** Options of {@link execCommand}. */
export interface ExecOptions {
  /** Collect stdout (default true); false discards it. */
  readonly stdout?: boolean;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/** Runs `command` with `args`. Resolves with its exit code and output (a non-zero code is not a
 * rejection); rejects when the program cannot be started (not found, not permitted). */
export async function execCommand(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<CommandOutput> {
  const collect = options.stdout !== false;
  const dec = new TextDecoder();
  if (runtime.name === "deno") {
    const out = await new Deno.Command(command, {
      args: [...args],
      stdin: "null",
      stdout: collect ? "piped" : "null",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      stdout: collect ? dec.decode(out.stdout) : "",
      stderr: dec.decode(out.stderr),
    };
  }
  const { spawn } = await import("node:child_process");
  return await new Promise<CommandOutput>((resolve, reject) => {
    const child = spawn(command, [...args], {
      stdio: ["ignore", collect ? "pipe" : "ignore", "pipe"],
      shell: false,
    });
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    child.stdout?.on("data", (c: Uint8Array) => out.push(c));
    child.stderr?.on("data", (c: Uint8Array) => err.push(c));
    child.once("error", reject);
    child.once("close", (code: number | null, signal: string | null) => {
      const text = (chunks: Uint8Array[]) => {
        const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let at = 0;
        for (const c of chunks) {
          all.set(c, at);
          at += c.length;
        }
        return dec.decode(all);
      };
      resolve({
        code: code ?? 128 + (signal !== null ? SIGNALS[signal] ?? 0 : 0),
        stdout: text(out),
        stderr: text(err),
      });
    });
  });
}
