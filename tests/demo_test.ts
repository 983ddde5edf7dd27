/**
 * The README's first command runs to completion: `deno task demo` (here with --fast, which only
 * drops the pauses a person needs to read along).
 */
import assert from "node:assert/strict";

Deno.test("demo: the cluster converges, sees a leave, a rejoin and a failure, then exits", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../tools/demo.ts", import.meta.url).pathname, "--fast"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
  for (
    const line of [
      /converged: every worker sees \d+ peers/,
      /left +worker 3 \(left\)/,
      /cluster whole again/,
      /left +worker 5 \(failed\)/,
      /summary/,
    ]
  ) assert.match(text, line);
});
