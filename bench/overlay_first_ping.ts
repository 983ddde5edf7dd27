/**
 * `deno run -A bench/overlay_first_ping.ts [--runs N]` (as root, with wireguard-go, wg and ping):
 * the time from a peer's first `joined` to the first ping answered over the overlay, on the
 * namespace cluster of sim/netns_lab.ts.
 *
 * Hosts a and b run wireguard-go and a worker each (gossip every 200 ms, as in
 * tests/overlay_netns_test.ts). Each run starts a worker on host c with a fresh key (so c is a new
 * WireGuard peer to a), while host a sends a ping to c's overlay address every 10 ms (`ping -D`
 * stamps each reply). Measured per run: from the arrival of a's `joined` line for c to the
 * first reply's timestamp (both wall clock on this machine; the ping stream gives 10 ms
 * resolution), and, for context, from starting c's worker to a's `joined`. Then c stops
 * gracefully and a removes it before the next run. Every wait is bounded (15 s).
 */
import { parseCli } from "../sim/flags.ts";
import { until, type WgLabHost, WireGuardLab, wireGuardLabUnavailable } from "../sim/netns_lab.ts";
import type { NsProcess } from "../sim/netns_lab.ts";

const flags = parseCli(
  "bench/overlay_first_ping.ts",
  "time from a peer's first joined to the first ping answered over WireGuard (root)",
  Deno.args,
  (f) => ({
    runs: f.number("runs", 5, "measured runs, 1..20", { integer: true, min: 1 }),
  }),
);
const RUNS = Math.min(20, flags.runs);
const WAIT_MS = 15_000;
const WORKER = new URL("../src/cli/worker.ts", import.meta.url).pathname;

const missing = await wireGuardLabUnavailable();
if (missing !== undefined) {
  console.error(`overlay_first_ping: cannot run: ${missing}`);
  Deno.exit(1);
}

const lab = new WireGuardLab({
  prefix: `hfp${Deno.pid % 100_000}`,
  subnet: "10.213.3",
  overlaySubnet: "10.215.3",
});
const startWorker = (h: WgLabHost): NsProcess =>
  lab.spawn(h, Deno.execPath(), [
    "run",
    "-A",
    WORKER,
    ...lab.workerFlags(h, { nodeId: h.index + 1, clusterId: "first-ping", intervalMs: 200 }),
    "--wg-state-file",
    "off",
  ]);
const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const toFirstPing: number[] = [];
const toJoined: number[] = [];
try {
  const hosts = [await lab.addWgHost(), await lab.addWgHost(), await lab.addWgHost()];
  const [a, b, c] = hosts as [WgLabHost, WgLabHost, WgLabHost];
  const wa = startWorker(a);
  startWorker(b);
  await until("a and b mesh", () => lab.ping(a, b, "0.2"), WAIT_MS);
  for (let run = 1; run <= RUNS; run++) {
    await Deno.remove(c.keyFile).catch(() => {}); // a fresh key: a new WireGuard peer to a
    const pinger = lab.spawn(a, "ping", [
      "-D",
      "-n",
      "-i",
      "0.01",
      "-W",
      "1",
      "-w",
      "15",
      c.overlay,
    ]);
    const mark = wa.stdout.length;
    const startAt = Date.now();
    const wc = startWorker(c);
    let joinedAt: number | undefined;
    await until(
      "a's joined line for c",
      () => {
        for (let i = mark; i < wa.stdout.length; i++) {
          if (/"event":"joined","node_id":3,/.test(wa.stdout[i]!)) joinedAt = wa.times[i];
        }
        return joinedAt !== undefined;
      },
      WAIT_MS,
      5,
    );
    let answeredAt: number | undefined;
    await until(
      "the first ping a -> c answered",
      () => {
        const reply = pinger.stdout.find((l) => l.includes("bytes from"));
        const m = reply === undefined ? null : /^\[(\d+\.\d+)\]/.exec(reply);
        if (m !== null) answeredAt = Number(m[1]) * 1000;
        return answeredAt !== undefined;
      },
      WAIT_MS,
      5,
    );
    pinger.kill("SIGINT");
    await pinger.done;
    toJoined.push(joinedAt! - startAt);
    toFirstPing.push(answeredAt! - joinedAt!);
    console.log(
      `run ${run}: worker start -> a's joined ${joinedAt! - startAt} ms; ` +
        `joined -> first ping answered ${(answeredAt! - joinedAt!).toFixed(1)} ms`,
    );
    const key = await lab.publicKey(c);
    wc.kill("SIGTERM");
    await wc.done;
    await until("a removes c", async () => !(await lab.dump(a)).has(key), WAIT_MS);
  }
} finally {
  const errors = await lab.tearDown();
  for (const e of errors) console.error(`cleanup: ${e}`);
}
const f = (xs: number[]) =>
  `median ${median(xs).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
console.log(`joined -> first ping answered over WireGuard, ${RUNS} runs: ${f(toFirstPing)}`);
console.log(`worker start -> a's joined, ${RUNS} runs: ${f(toJoined)}`);
