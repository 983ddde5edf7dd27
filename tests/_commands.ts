/**
 * Running external commands from the tests that build real networks (tests/netns_test.ts,
 * tests/overlay_netns_test.ts): argv arrays, never a shell.
 *
 * @module
 */

/** Whether `cmd args` runs and exits 0 (false when it cannot start at all). */
export async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/** Runs `cmd args` (with `stdin` as its input when given) and returns its stdout; throws with the
 * command, exit code and stderr when it fails. */
export async function run(cmd: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${text(out.stderr)}`);
  }
  return text(out.stdout);
}
