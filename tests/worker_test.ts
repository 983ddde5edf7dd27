/**
 * The worker end to end, as subprocesses on loopback.
 */
import { readLines } from "../sim/lines.ts";
import assert from "node:assert/strict";
import { eventToJsonLine, parseWorkerArgs, UsageError, WORKER_HELP } from "../src/cli/worker.ts";

const SCRIPT = new URL("../src/cli/worker.ts", import.meta.url).pathname;

class WorkerProc {
  readonly proc: Deno.ChildProcess;
  readonly events: Record<string, unknown>[] = [];
  stderr = "";
  gossipAddr = "";
  statusUrl = "";
  readonly #done: Promise<unknown>;
  #waiters: (() => void)[] = [];

  constructor(args: string[], denoFlags: string[] = []) {
    this.proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...denoFlags, SCRIPT, ...args],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    this.#done = Promise.all([
      this.#read(this.proc.stdout, (l) => {
        // node_id can exceed 2^53: keep its digits exact.
        this.events.push(JSON.parse(l.replace(/"node_id":(\d+)/, '"node_id":"$1"')));
      }),
      this.#read(this.proc.stderr, (l) => {
        this.stderr += l + "\n";
        const g = /gossiping on (\S+),/.exec(l);
        if (g) this.gossipAddr = g[1]!;
        const s = /status on (\S+)/.exec(l);
        if (s) this.statusUrl = s[1]!;
      }),
    ]);
  }

  async #read(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void) {
    await readLines(stream, (line) => {
      onLine(line);
      this.notify();
    });
    this.notify();
  }

  /** Wakes waiters so they re-check their condition. */
  notify(): void {
    this.#waiters.splice(0).forEach((w) => w());
  }

  async waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!check()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; stderr:\n${this.stderr}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#waiters.push(r)),
        new Promise<void>((r) => (timer = setTimeout(r, Math.min(left, 200)))),
      ]);
      clearTimeout(timer);
    }
  }

  async finish(): Promise<Deno.CommandStatus> {
    await this.#done;
    return await this.proc.status;
  }
}

async function run(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("worker: a bad flag or value gets one line and exit code 2", async () => {
  for (
    const args of [
      ["--bogus"],
      [],
      ["--node-id", "x"],
      ["--node-id", "1", "--listen", "nowhere"],
      ["--node-id", "1", "--label", "novalue"],
      ["--node-id", "1", "--status-addr", "0.0.0.0:9000"],
      ["--node-id", "1", "--interval-ms", "0"],
    ]
  ) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^hearsay worker: /);
  }
});

Deno.test("worker: --help documents every flag", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0);
  for (
    const f of [
      "--node-id",
      "--listen",
      "--seed",
      "--cluster-id",
      "--wg-pubkey",
      "--wg-endpoint",
      "--overlay-ip",
      "--label",
      "--interval-ms",
      "--status-addr",
    ]
  ) assert.ok(r.stdout.includes(f), f);
  assert.equal(r.stdout.trim(), WORKER_HELP.trim());
});

Deno.test("parseWorkerArgs() reads repeated flags and exact u64 ids", () => {
  const o = parseWorkerArgs([
    "--node-id=18446744073709551615",
    "--seed",
    "127.0.0.1:1",
    "--seed",
    "localhost:2",
    "--label",
    "a=b=c",
    "--wg-endpoint",
    "[::1]:51820",
  ]);
  assert.equal(o.nodeId, 18446744073709551615n);
  assert.deepEqual(o.seeds, ["127.0.0.1:1", "localhost:2"]);
  assert.deepEqual(o.selfInfo.labels, { a: "b=c" });
  assert.throws(() => parseWorkerArgs(["--node-id", "18446744073709551616"]), UsageError);
  assert.throws(
    () => parseWorkerArgs(["--node-id", "1", "--listen", "a", "--listen", "b"]),
    /twice/,
  );
});

Deno.test("eventToJsonLine() prints zlayer's PeerInfo fields with an exact node_id", () => {
  const line = eventToJsonLine({
    type: "joined",
    peer: {
      nodeId: 9007199254740993n,
      wgPubkey: "k",
      wgEndpoint: "1.2.3.4:5",
      overlayIp: "10.0.0.1",
      labels: { z: "1" },
    },
  });
  assert.equal(
    line,
    '{"event":"joined","node_id":9007199254740993,"wg_pubkey":"k","wg_endpoint":"1.2.3.4:5","overlay_ip":"10.0.0.1","labels":{"z":"1"}}',
  );
});

Deno.test("worker: three processes discover each other, serve /peers and /metrics, leave on SIGTERM", async () => {
  const common = ["--listen", "127.0.0.1:0", "--cluster-id", "wtest", "--interval-ms", "100"];
  const a = new WorkerProc([...common, "--node-id", "1", "--status-addr", "127.0.0.1:0"]);
  const procs = [a];
  try {
    await a.waitFor("a listening", () => a.gossipAddr !== "" && a.statusUrl !== "");
    const b = new WorkerProc([
      ...common,
      "--node-id",
      "2",
      "--seed",
      a.gossipAddr,
      "--label",
      "x=y",
    ]);
    // Run like a user who imports from JSR: no deno.json, so no --unstable-net. The worker falls
    // back to node:dgram (and says so once) and still interoperates.
    const c = new WorkerProc([
      ...common,
      "--node-id",
      "18446744073709551615",
      "--seed",
      a.gossipAddr,
      "--wg-endpoint",
      "[::1]:51820",
    ], ["--no-config"]);
    procs.push(b, c);
    const joined = (w: WorkerProc, id: string) => () =>
      w.events.some((e) => e.event === "joined" && e.node_id === id);
    await a.waitFor(
      "a sees b and c",
      () => joined(a, "2")() && joined(a, "18446744073709551615")(),
    );
    await b.waitFor("b sees c", joined(b, "18446744073709551615"));
    await c.waitFor("c sees b", joined(c, "2"));
    assert.equal(c.stderr.match(/node:dgram/g)?.length, 1, c.stderr);
    const bEvent = a.events.find((e) => e.node_id === "2")!;
    assert.deepEqual(bEvent.labels, { x: "y" });

    const peers = await (await fetch(`${a.statusUrl}/peers`)).text();
    assert.match(peers, /"node_id":18446744073709551615,/);
    assert.match(peers, /"wg_endpoint":"\[::1\]:51820"/);
    assert.equal(JSON.parse(peers).length, 2);
    const metrics = await (await fetch(`${a.statusUrl}/metrics`)).text();
    for (
      const name of [
        'hearsay_peers{state="live"} 2',
        'hearsay_datagrams_total{direction="in"}',
        'hearsay_bytes_total{direction="out"}',
        "hearsay_datagrams_dropped_total",
        "hearsay_gossip_round_duration_seconds_count",
        "# TYPE hearsay_limit_rejections_total counter",
        "hearsay_datagram_limit_bytes 65507",
      ]
    ) assert.ok(metrics.includes(name), `${name} missing from:\n${metrics}`);
    const digestBytes = Number(metrics.match(/^hearsay_digest_bytes (\d+)$/m)?.[1]);
    assert.ok(digestBytes > 0 && digestBytes < 65_507, `digest size ${digestBytes}`);
    const missing = await fetch(`${a.statusUrl}/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();

    b.proc.kill("SIGTERM");
    const bStatus = await b.finish();
    assert.equal(bStatus.code, 0, b.stderr);
    await a.waitFor(
      "a sees b leave",
      () => a.events.some((e) => e.event === "left" && e.node_id === "2" && e.reason === "left"),
    );
    await c.waitFor(
      "c sees b leave",
      () => c.events.some((e) => e.event === "left" && e.node_id === "2"),
    );
  } finally {
    for (const p of procs) {
      try {
        p.proc.kill("SIGTERM");
      } catch { /* already exited */ }
    }
    for (const p of procs) await p.finish();
  }
});

Deno.test("worker: --keyring-file encrypts gossip; a worker without the key stays out", async () => {
  const { generateKey } = await import("../src/transport/keyring.ts");
  const dir = await Deno.makeTempDir();
  const key = generateKey(32).toBase64();
  const file = `${dir}/keyring.json`;
  await Deno.writeTextFile(file, JSON.stringify({ primary: key, keys: [key] }));
  const bad = `${dir}/bad.json`;
  await Deno.writeTextFile(bad, JSON.stringify({ primary: "nope", keys: ["nope"] }));
  const common = ["--listen", "127.0.0.1:0", "--cluster-id", "ktest", "--interval-ms", "100"];
  const r = await run([...common, "--node-id", "9", "--keyring-file", bad]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.ok(!r.stderr.includes(key), "no key material in messages");
  const a = new WorkerProc([...common, "--node-id", "1", "--keyring-file", file]);
  const procs = [a];
  let sentByPlain = 0;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const url = procs[2]?.statusUrl;
      if (url) {
        const text = await (await fetch(`${url}/metrics`)).text();
        sentByPlain = Number(
          /hearsay_datagrams_total\{direction="out"\} (\d+)/.exec(text)?.[1] ?? 0,
        );
        procs[2]!.notify();
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  try {
    await a.waitFor("a listening", () => a.gossipAddr !== "");
    const b = new WorkerProc([
      ...common,
      "--node-id",
      "2",
      "--seed",
      a.gossipAddr,
      "--keyring-file",
      file,
    ]);
    const plain = new WorkerProc([
      ...common,
      "--node-id",
      "3",
      "--seed",
      a.gossipAddr,
      "--status-addr",
      "127.0.0.1:0",
    ]);
    procs.push(b, plain);
    await a.waitFor(
      "a sees b",
      () => a.events.some((e) => e.event === "joined" && e.node_id === "2"),
    );
    await b.waitFor(
      "b sees a",
      () => b.events.some((e) => e.event === "joined" && e.node_id === "1"),
    );
    // Let the plain worker try for a while (20 datagrams sent), then nobody may have seen it.
    await plain.waitFor("plain status", () => plain.statusUrl !== "");
    await plain.waitFor("plain gossiped", () => sentByPlain >= 20);
    assert.ok(!a.events.some((e) => e.node_id === "3"));
    assert.ok(!b.events.some((e) => e.node_id === "3"));
    assert.deepEqual(plain.events, []);
  } finally {
    polling = false;
    await poll;
    for (const p of procs) {
      try {
        p.proc.kill("SIGTERM");
      } catch { /* already exited */ }
    }
    for (const p of procs) await p.finish();
    await Deno.remove(dir, { recursive: true });
  }
});
