/**
 * The README's first command runs to completion: `deno task demo` (here with --fast, which only
 * drops the pauses a person needs to read along), in both modes: the loopback cluster
 * (`--no-overlay`), and, as root with wireguard-go, wg and ping, the WireGuard overlay on
 * namespace hosts (`--overlay`).
 */
import assert from "node:assert/strict";
import { wireGuardLabUnavailable } from "../sim/netns_lab.ts";

const DEMO = new URL("../tools/demo.ts", import.meta.url).pathname;

async function demo(args: string[]): Promise<{ code: number; text: string; ms: number }> {
  const start = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DEMO, "--fast", ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text, ms: performance.now() - start };
}

Deno.test("demo: the cluster converges, sees a leave, a rejoin and a failure, then exits", async () => {
  const { code, text } = await demo(["--no-overlay"]);
  assert.equal(code, 0, text);
  for (
    const line of [
      /converged: every worker sees \d+ peers/,
      /left +worker 3 \(left\)/,
      /cluster whole again/,
      /left +worker 5 \(failed\)/,
      /summary/,
    ]
  ) assert.match(text, line);
  assert.doesNotMatch(text, /overlay demo skipped/, "--no-overlay asks for no hint");
});

const overlaySkip = await wireGuardLabUnavailable();
if (overlaySkip !== undefined) {
  console.log(
    `demo_test: the overlay demo is SKIPPED (${overlaySkip}); run as root with wireguard-go, ` +
      "wireguard-tools and iputils-ping to test it",
  );
}

Deno.test({
  name: "demo --overlay: meshes namespace hosts, pings, a kill and a rotation, in under 60 s",
  ignore: overlaySkip !== undefined,
  async fn() {
    const { code, text, ms } = await demo(["--overlay"]);
    assert.equal(code, 0, text);
    for (
      const line of [
        /host d: namespace \S+, underlay 10\.213\.2\.4, wireguard-go/,
        /host a +joined +host b \(worker 2\) overlay 10\.42\.0\.\d+/,
        /meshed: every host pings every other over WireGuard/,
        /ping from a \(10\.42\.0\.\d+\) over WireGuard: b [\d.]+ ms +c [\d.]+ ms +d [\d.]+ ms/,
        /peer \S+ +endpoint 10\.213\.2\.\d:51820 +allowed ips 10\.42\.0\.\d+\/32/,
        /left +host d \(worker 4\) \(failed\)/,
        /host d's peer \S+ is gone from wg show on a, b, c/,
        /host c: key \S+ → \S+, the others moved to the new one/,
        /pings a → c during the rotation: (1[5-9]|20) of 20 answered/,
        /summary/,
      ]
    ) assert.match(text, line);
    assert.ok(ms < 60_000, `the overlay demo took ${ms} ms`);
    const ns = new TextDecoder().decode(
      (await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output()).stdout,
    );
    assert.doesNotMatch(ns, /^hd\d+-/m, "the demo left namespaces behind");
  },
});
