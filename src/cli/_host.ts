/**
 * The worker's view of its process, the same on Deno, Node and Bun: arguments, exit, stdout,
 * signals, an HTTP server for the status endpoint, and external commands (src/common/_command.ts). On Deno it uses the
 * `Deno` namespace (as the worker always did); elsewhere `node:process`, `node:http` and
 * `node:child_process` (which Bun provides too). Which one is chosen by the runtime's name
 * (`src/common/_runtime.ts`).
 *
 * @module
 */
import process from "node:process";
import { pathToFileURL } from "node:url";
import { execCommand } from "../common/_command.ts";
import { runtime } from "../common/_runtime.ts";

const onDeno = runtime.name === "deno";

/** The command-line arguments after the script. */
export function processArgs(): string[] {
  return onDeno ? [...Deno.args] : process.argv.slice(2);
}

/** Ends the process with `code`. */
export function exitProcess(code: number): never {
  if (onDeno) Deno.exit(code);
  process.exit(code);
}

/** Whether the module at `url` is the program's entry (`import.meta.main` where the runtime has
 * it; on Node before 24.2, the script path in `process.argv[1]`). */
export function isEntry(url: string, main: boolean | undefined): boolean {
  if (typeof main === "boolean") return main;
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(script).href === url;
}

/** Whether stdout is a terminal. */
export function stdoutIsTerminal(): boolean {
  return onDeno ? Deno.stdout.isTerminal() : process.stdout.isTTY === true;
}

const encoder = new TextEncoder();

/** Writes `line` and a newline to stdout before returning (Node writes pipes and files
 * synchronously on Linux, as Deno's `writeSync` does). */
export function writeLine(line: string): void {
  const bytes = encoder.encode(line + "\n");
  if (onDeno) {
    let n = 0;
    while (n < bytes.length) n += Deno.stdout.writeSync(bytes.subarray(n));
  } else {
    process.stdout.write(bytes);
  }
}

/** The signals the worker listens to. */
export type WorkerSignal = "SIGINT" | "SIGTERM" | "SIGHUP";

/** Calls `f` on `signal` (instead of the default action) until the returned function is called. */
export function onSignal(signal: WorkerSignal, f: () => void): () => void {
  if (onDeno) {
    Deno.addSignalListener(signal, f);
    return () => Deno.removeSignalListener(signal, f);
  }
  process.on(signal, f);
  return () => {
    process.off(signal, f);
  };
}

/** A running HTTP server. */
export interface HttpServer {
  /** Stops accepting connections, closes open ones, and resolves when it has stopped. */
  shutdown(): Promise<void>;
}

/** Where an HTTP server listens and what it says when it does. */
export interface ServeOptions {
  hostname: string;
  port: number;
  /** Called once listening, with the bound port. */
  onListen(addr: { port: number }): void;
}

/** Serves `handler` (a GET-style handler: requests carry no body) over HTTP/1.1. */
export async function serveHttp(
  options: ServeOptions,
  handler: (req: Request) => Response,
): Promise<HttpServer> {
  if (onDeno) {
    const server = Deno.serve(options, handler);
    return { shutdown: () => server.shutdown() };
  }
  const http = await import("node:http");
  const server = http.createServer((req, res) => {
    let response: Response;
    try {
      response = handler(
        new Request(`http://${options.hostname}${req.url ?? "/"}`, { method: req.method ?? "GET" }),
      );
    } catch (e) {
      response = new Response(`internal error: ${(e as Error).message}\n`, { status: 500 });
    }
    response.arrayBuffer().then((body) => {
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(new Uint8Array(body));
    }, () => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address();
  options.onListen({
    port: typeof bound === "object" && bound !== null ? bound.port : options.port,
  });
  return {
    shutdown: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** How an external command ended. */
export interface CommandResult {
  success: boolean;
  /** Its standard error, as text. */
  stderr: string;
}

/** Runs `command` with `args` (an argv array, never a shell), stdout discarded. Never throws: a
 * command that cannot start is a failure with the reason in `stderr`. */
export async function runCommand(command: string, args: readonly string[]): Promise<CommandResult> {
  try {
    const out = await execCommand(command, args, { stdout: false });
    return {
      success: out.code === 0,
      stderr: out.code !== 0 && out.stderr === ""
        ? `${command} exited with code ${out.code}`
        : out.stderr,
    };
  } catch (e) {
    return { success: false, stderr: (e as Error).message };
  }
}
