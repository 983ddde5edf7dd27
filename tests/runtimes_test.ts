/**
 * hearsay on real Node 22, Node 24 and Bun, imported the way JSR's npm layer ships it: the package
 * is built with tools/build_npm.ts (each file transpiled on its own, the module graph kept) and
 * the runtimes come from the npm registry into a cache folder outside the clone
 * (tools/runtimes.ts). The scripts in tests/runtimes/ import the built package; Deno runs the
 * same scripts on the built package too. When the runtimes cannot be installed (no npm registry),
 * the tests are skipped with the reason printed.
 */
import assert from "node:assert/strict";
import { readLines } from "../sim/lines.ts";
import { buildNpm } from "../tools/build_npm.ts";
import { denoRuntime, ensureRuntimes, type Runtime } from "../tools/runtimes.ts";
import { InteropPeer } from "../interop/peer.ts";
import { GossipPool } from "../src/pool/pool.ts";
import type { TopologyEvent } from "../src/pool/pool.ts";
import { decodeDelta, encodeDelta } from "../src/codec/delta.ts";
import { decodeMessage, encodeMessage } from "../src/codec/message.ts";
import { createRandom, hex, randomDelta, randomMessage, unhex } from "../src/codec/_test_utils.ts";
import { VECTORS } from "../src/codec/_test_vectors.ts";
import type { ChitchatMessage, Delta } from "../src/common/types.ts";
import { wgPublicKey } from "../src/wireguard/key.ts";

const SCRIPTS = new URL("./runtimes/", import.meta.url).pathname;

let runtimes: Runtime[] = [];
let skip: string | undefined;
const pkg = await Deno.makeTempDir({ prefix: "hearsay-npm-" });
try {
  [runtimes] = await Promise.all([ensureRuntimes(), buildNpm(pkg)]);
} catch (e) {
  skip = (e as Error).message;
  console.warn(`runtimes_test: SKIPPED, the runtimes could not be installed: ${skip}`);
}
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(pkg, { recursive: true });
  } catch {
    // already gone
  }
});

const ignore = skip !== undefined;

/** A script of tests/runtimes/ (or the built worker) running as a child process. */
class Proc {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  stderr = "";
  readonly #done: Promise<unknown>;
  #waiters: (() => void)[] = [];

  constructor(readonly runtime: Runtime, script: string, args: string[], stdin = false) {
    this.child = new Deno.Command(runtime.command, {
      args: [...runtime.args, script, ...args],
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const wake = () => this.#waiters.splice(0).forEach((w) => w());
    this.#done = Promise.all([
      readLines(this.child.stdout, (l) => {
        this.lines.push(l);
        wake();
      }).finally(wake),
      readLines(this.child.stderr, (l) => {
        this.stderr += l + "\n";
        wake();
      }).finally(wake),
    ]);
  }

  /** Waits (bounded) until `check` holds, re-checking whenever the process prints. */
  async waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!check()) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(
          `${this.runtime.name}: timed out waiting for ${what}; stdout:\n${
            this.lines.join("\n").slice(0, 2000)
          }\nstderr:\n${this.stderr}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#waiters.push(r)),
        new Promise<void>((r) => (timer = setTimeout(r, Math.min(left, 200)))),
      ]);
      clearTimeout(timer);
    }
  }

  /** The first stdout line that parses as JSON with `key`. */
  json<T>(key: string): T | undefined {
    for (const l of this.lines) {
      if (!l.startsWith("{")) continue;
      const v = JSON.parse(l) as Record<string, unknown>;
      if (key in v) return v as T;
    }
    return undefined;
  }

  async send(text: string): Promise<void> {
    const w = this.child.stdin.getWriter();
    await w.write(new TextEncoder().encode(text));
    w.releaseLock();
  }

  /** Waits for the exit (bounded), then for all output. */
  async finish(timeoutMs = 15_000): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        reject(new Error(`${this.runtime.name}: did not exit; stderr:\n${this.stderr}`));
      }, timeoutMs);
    });
    try {
      const status = await Promise.race([this.child.status, timeout]);
      await this.#done;
      return status;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch {
      // already exited
    }
  }
}

const runtimeNames = (): string => runtimes.map((r) => `${r.name} ${r.version}`).join(", ");

Deno.test({
  name: "runtimes: pools converge, update and leave on Node 22, Node 24, Bun and Deno",
  ignore,
  async fn() {
    const all = [...runtimes, denoRuntime];
    assert.deepEqual(all.map((r) => r.name), ["node22", "node24", "bun", "deno"], runtimeNames());
    const procs = all.map((r) => new Proc(r, `${SCRIPTS}pools.mjs`, [pkg]));
    const want = {
      joined: ["2", "3"],
      updated: ["2", "10.200.9.2"],
      left: ["3", "left"],
      peersOfA: ["2"],
    };
    await Promise.all(procs.map(async (p) => {
      const status = await p.finish(25_000);
      assert.equal(status.code, 0, `${p.runtime.name} ${p.runtime.version}:\n${p.stderr}`);
      assert.deepEqual(p.json("joined"), want, p.runtime.name);
    }));
  },
});

// ---------------------------------------------------------------- codec

const toJson = (value: unknown): string =>
  JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? { $u64: v.toString() } : v));

interface CodecOut {
  messages: { hex: string; decoded: unknown }[];
  deltas: { hex: string; decoded: unknown }[];
  decoded: unknown[];
}

Deno.test({
  name:
    "runtimes: the codec gives Deno's bytes and values on every runtime (vectors, random, zstd)",
  ignore,
  async fn() {
    const random = createRandom(13n);
    const messages: ChitchatMessage[] = [
      ...VECTORS.map((v) => v.msg),
      ...Array.from({ length: 150 }, () => randomMessage(random)),
    ];
    // Deltas that compress: zstd blocks, written with the reused compressor on Deno and with the
    // one-shot API on Node and Bun (src/codec/_zstd.ts); the bytes must be the same.
    const deltas: Delta[] = [
      ...Array.from({ length: 6 }, () => randomDelta(random, 3, 40, true)),
      {
        nodeDeltas: [{
          chitchatId: {
            nodeId: "zstd",
            generationId: 1n,
            gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7000 },
          },
          lastGcVersion: 0n,
          fromVersionExcluded: 0n,
          maxVersion: 400n,
          keyValues: Array.from({ length: 400 }, (_, i) => ({
            key: `key-${String(i).padStart(3, "0")}`,
            value: `the same value, again and again ${i % 7}`,
            version: BigInt(i + 1),
            status: "set" as const,
          })),
        }],
      },
    ];
    const want: CodecOut = { messages: [], deltas: [], decoded: [] };
    for (const msg of messages) {
      const bytes = encodeMessage(msg);
      want.messages.push({ hex: hex(bytes), decoded: decodeMessage(bytes) });
    }
    for (const d of deltas) {
      const bytes = encodeDelta(d);
      want.deltas.push({ hex: hex(bytes), decoded: decodeDelta(bytes) });
    }
    for (const v of VECTORS) want.decoded.push(decodeMessage(unhex(v.hex)));
    // Not vacuous: the vectors encode as written, and most deltas hold zstd blocks (first byte 1).
    VECTORS.forEach((v, i) => assert.equal(want.messages[i]!.hex, v.hex.replace(/ /g, ""), v.name));
    assert.ok(want.deltas.filter((d) => d.hex.startsWith("01")).length >= 4, "too few zstd blocks");
    const wantJson = JSON.parse(toJson(want));

    const cases = await Deno.makeTempFile({ suffix: ".json" });
    try {
      await Deno.writeTextFile(
        cases,
        toJson({ messages, deltas, decode: VECTORS.map((v) => v.hex.replace(/ /g, "")) }),
      );
      await Promise.all([...runtimes, denoRuntime].map(async (r) => {
        const p = new Proc(r, `${SCRIPTS}codec.mjs`, [pkg, cases]);
        const status = await p.finish(25_000);
        assert.equal(status.code, 0, `${r.name}:\n${p.stderr}`);
        assert.equal(p.lines.length, 2, `${r.name}: ${p.lines.length} lines`);
        const got = JSON.parse(p.lines[0]!) as CodecOut;
        // The paths differ by runtime (reuse on Deno, decompression reuse on Node, one-shot calls
        // on Bun) while the bytes compared below are the same.
        const paths = r.name === "deno"
          ? { decompress: true, compress: true }
          : r.name === "bun"
          ? { decompress: false, compress: false }
          : { decompress: true, compress: false };
        assert.deepEqual(JSON.parse(p.lines[1]!), { allowed: paths, inUse: paths }, r.name);
        got.messages.forEach((m, i) =>
          assert.equal(m.hex, want.messages[i]!.hex, `${r.name} msg ${i}`)
        );
        got.deltas.forEach((d, i) =>
          assert.equal(d.hex, want.deltas[i]!.hex, `${r.name} delta ${i}`)
        );
        assert.deepEqual(got, wantJson, `${r.name}: decoded values differ`);
      }));
    } finally {
      await Deno.remove(cases);
    }
  },
});

// ---------------------------------------------------------------- mixed cluster

Deno.test({
  name: "runtimes: one cluster of a Node, a Bun, a Deno and a Rust chitchat node",
  ignore,
  async fn() {
    const peer = await InteropPeer.start();
    const procs: Proc[] = [];
    try {
      const rust = await peer.nodeStart({
        nodeId: "rust",
        clusterId: "runtimes",
        gossipIntervalMs: 100,
        initialIntervalMs: 100,
        maxIntervalMs: 1_000,
        initialKeyValues: [["runtime", "rust"]],
      });
      const seed = `127.0.0.1:${rust.chitchatId.gossipAdvertiseAddr.port}`;
      const members = ["rust", "node", "bun", "deno"];
      const node24 = runtimes.find((r) => r.name === "node24")!;
      const bun = runtimes.find((r) => r.name === "bun")!;
      for (const [r, id] of [[node24, "node"], [bun, "bun"], [denoRuntime, "deno"]] as const) {
        procs.push(new Proc(r, `${SCRIPTS}node.mjs`, [pkg, id, seed, members.join(",")], true));
      }
      const want = { rust: "rust", node: "node", bun: "bun", deno: "deno" };
      await Promise.all(procs.map(async (p) => {
        await p.waitFor("every member's key", () => p.json("seen") !== undefined);
        assert.deepEqual(p.json<{ seen: unknown }>("seen")!.seen, want, p.runtime.name);
      }));
      const state = await peer.request<{
        nodes: { chitchatId: { nodeId: string }; keyValues: { key: string; value: string }[] }[];
      }>("node_state", { handle: rust.handle });
      const rustSees: Record<string, string> = {};
      for (const n of state.nodes) {
        const kv = n.keyValues.find((k) => k.key === "runtime");
        if (kv !== undefined) rustSees[n.chitchatId.nodeId] = kv.value;
      }
      assert.deepEqual(rustSees, want, "the chitchat node's view");
      await Promise.all(procs.map(async (p) => {
        await p.send("stop\n");
        await p.child.stdin.close();
        const status = await p.finish();
        assert.equal(status.code, 0, `${p.runtime.name}:\n${p.stderr}`);
        assert.ok(p.json("closed") !== undefined, p.runtime.name);
      }));
      await peer.nodeStop(rust.handle);
    } finally {
      for (const p of procs) p.kill("SIGKILL");
      await Promise.allSettled(procs.map((p) => p.finish()));
      await peer.close();
    }
  },
});

// ---------------------------------------------------------------- WireGuard host side

Deno.test({
  name: "runtimes: wg runs by argv, key and state files are written the same on every runtime",
  ignore,
  async fn() {
    await Promise.all([...runtimes, denoRuntime].map(async (r) => {
      const dir = await Deno.makeTempDir({ prefix: `hearsay-wg-${r.name}-` });
      try {
        const p = new Proc(r, `${SCRIPTS}wireguard.mjs`, [pkg, dir]);
        const status = await p.finish(25_000);
        assert.equal(status.code, 0, `${r.name}:\n${p.stderr}`);
        assert.equal(p.lines.length, 1, `${r.name}: ${p.lines.join("\n")}`);
        const got = JSON.parse(p.lines[0]!) as { publicKey: string };
        const peers = [got.publicKey, "A".repeat(43) + "="].sort();
        assert.deepEqual(got, {
          printf: { code: 0, stdout: "a b|$HOME;x\n", stderr: "" },
          failing: { code: 3, stdout: "", stderr: "bad\n" },
          missing: { wgError: true, code: -1, cannotRun: true },
          keyFile: { sameKey: true, mode: 0o600, text: true },
          badKey: true,
          stateMissing: [],
          state: {
            read: peers,
            text: JSON.stringify({ version: 1, interface: "wg0", peers }) + "\n",
            mode: 0o600,
            files: ["wg0.peers.json"],
          },
          otherInterface: true,
          publicKey: got.publicKey,
        }, r.name);
        // The key file holds a real WireGuard key: Deno's WebCrypto derives the same public key.
        const text = (await Deno.readTextFile(`${dir}/wg.key`)).trim();
        assert.equal(await wgPublicKey(text), got.publicKey, r.name);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }));
  },
});

// ---------------------------------------------------------------- worker

Deno.test({
  name:
    "runtimes: the worker on Node 22, Node 24 and Bun prints events, serves /peers, leaves on SIGTERM",
  ignore,
  async fn() {
    const events: TopologyEvent[] = [];
    const pool = await GossipPool.start({
      nodeId: 1n,
      gossipListen: "127.0.0.1:0",
      seeds: [],
      clusterId: "runtimes",
      gossipIntervalMs: 100,
      failureDetector: { initialIntervalMs: 100 },
      selfInfo: {
        nodeId: 1n,
        wgPubkey: "k1",
        wgEndpoint: "10.1.0.1:51820",
        overlayIp: "10.9.0.1",
        labels: {},
      },
    });
    const watching = (async () => {
      for await (const e of pool.subscribe()) events.push(e);
    })();
    const workers = runtimes.map((r, i) =>
      new Proc(r, `${pkg}/src/cli/worker.js`, [
        "--node-id",
        String(10 + i),
        "--listen",
        "127.0.0.1:0",
        "--seed",
        pool.gossipAddr,
        "--cluster-id",
        "runtimes",
        "--overlay-ip",
        `10.9.0.${10 + i}`,
        "--label",
        `runtime=${r.name}`,
        "--interval-ms",
        "100",
        "--initial-interval-ms",
        "100",
        "--status-addr",
        "127.0.0.1:0",
      ])
    );
    try {
      await Promise.all(workers.map(async (w, i) => {
        const id = 10 + i;
        const event = (type: string, nodeId: number) =>
          w.lines.some((l) =>
            l.includes(`"event":"${type}"`) && l.includes(`"node_id":${nodeId},`)
          );
        await w.waitFor("the pool's node joined on stdout", () => event("joined", 1));
        const url = /status on (\S+)/.exec(w.stderr)?.[1];
        assert.ok(url !== undefined, `${w.runtime.name}: no status line:\n${w.stderr}`);
        const res = await fetch(`${url}/peers`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /application\/json/);
        const peers = await res.json() as { node_id: number; overlay_ip: string }[];
        assert.ok(
          peers.some((p) => p.node_id === 1 && p.overlay_ip === "10.9.0.1"),
          JSON.stringify(peers),
        );
        const metrics = await (await fetch(`${url}/metrics`)).text();
        assert.match(metrics, /hearsay_peers\{state="live"\}/);
        assert.equal(
          await fetch(`${url}/peers`, { method: "POST" }).then(async (r) => {
            await r.body?.cancel();
            return r.status;
          }),
          405,
        );
        await waitUntil(
          `the pool sees worker ${id}`,
          () => pool.peers().some((p) => p.nodeId === BigInt(id)),
        );
        w.kill("SIGTERM");
        const status = await w.finish();
        assert.equal(status.code, 0, `${w.runtime.name}: exit ${status.code}\n${w.stderr}`);
        assert.match(w.stderr, new RegExp(`hearsay worker ${id} left the pool`));
        await waitUntil(
          `the pool sees worker ${id} leave`,
          () =>
            events.some((e) => e.type === "left" && e.nodeId === BigInt(id) && e.reason === "left"),
        );
      }));
    } finally {
      for (const w of workers) w.kill("SIGKILL");
      await Promise.allSettled(workers.map((w) => w.finish()));
      await pool.close();
      await watching;
    }
  },
});

async function waitUntil(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// ---------------------------------------------------------------- an older Node

const systemNode = await (async () => {
  try {
    const out = await new Deno.Command("node", { args: ["--version"], stdout: "piped" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
})();
const oldNode = systemNode !== undefined && /^v(1\d|20|21)\./.test(systemNode);

Deno.test({
  name: `runtimes: an older Node (${
    systemNode ?? "none on PATH"
  }) gets an error naming the version needed`,
  ignore: ignore || !oldNode,
  async fn() {
    const out = await new Deno.Command("node", {
      args: ["--input-type=module", "-e", `await import(${JSON.stringify(`${pkg}/mod.js`)});`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.success, false);
    assert.match(stderr, /UnsupportedRuntimeError: hearsay needs zstd in node:zlib/);
    assert.match(stderr, /Node 22\.15 or later/);
    assert.ok(stderr.includes(systemNode!.slice(1)), stderr);
  },
});
