/**
 * The worker's WireGuard mode (`--wg-interface`) on Node 22, Bun and Deno at once, on a real
 * network: three Linux network namespace hosts (sim/netns_lab.ts, underlay 10.213.3.0/24, overlay
 * 10.217.0.0/24, both existing only inside those namespaces), each running userspace WireGuard
 * (`wireguard-go`) and the worker as JSR's npm layer ships it (tools/build_npm.ts), on Node 22 on
 * the first host, on Bun on the second and on Deno on the third (runtimes from tools/runtimes.ts).
 * Pings must cross the overlay between every pair; each worker creates its key file (mode 0600)
 * and records its peers in its state file; a worker killed with -9 must leave the others'
 * `wg show` after failure detection.
 *
 * Needs root, `ip netns`, `wireguard-go`, `wg`, `ping` and the runtimes (npm registry or the
 * cache). Skipped with a message otherwise. Namespaces, sockets and key files are removed
 * afterwards, also on failure.
 */
import assert from "node:assert/strict";
import { buildNpm } from "../tools/build_npm.ts";
import { denoRuntime, ensureRuntimes, type Runtime } from "../tools/runtimes.ts";
import {
  type NsProcess,
  until as untilMs,
  type WgLabHost,
  WireGuardLab,
  wireGuardLabUnavailable,
} from "../sim/netns_lab.ts";

const TAG = `hr${Deno.pid}`;
/** Bounds every wait of this test (wall-clock ms). */
const WAIT_MS = 20_000;

let skip = await wireGuardLabUnavailable();
let runtimes: Runtime[] = [];
let pkg = "";
if (skip === undefined) {
  pkg = await Deno.makeTempDir({ prefix: "hearsay-npm-wg-" });
  try {
    [runtimes] = await Promise.all([ensureRuntimes(), buildNpm(pkg)]);
  } catch (e) {
    skip = `the runtimes could not be installed: ${(e as Error).message}`;
  }
}
if (skip !== undefined) {
  console.log(
    `runtimes_overlay_test: SKIPPED (${skip}); run as root with wireguard-go, wireguard-tools ` +
      "and the npm registry (or ~/.cache/hearsay/runtimes) to test the WireGuard mode on Node and Bun",
  );
}
globalThis.addEventListener("unload", () => {
  if (pkg === "") return;
  try {
    Deno.removeSync(pkg, { recursive: true });
  } catch {
    // already gone
  }
});

const until = (what: string, check: () => Promise<boolean> | boolean, ms = WAIT_MS) =>
  untilMs(what, check, ms);

Deno.test({
  name: "runtimes overlay: workers on Node 22, Bun and Deno mesh over WireGuard; kill -9 drops one",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const byName = new Map([...runtimes, denoRuntime].map((r) => [r.name, r]));
    const chosen = ["node22", "bun", "deno"].map((n) => {
      const r = byName.get(n);
      assert.ok(r !== undefined, `runtime ${n} among ${[...byName.keys()].join(", ")}`);
      return r;
    });
    const lab = new WireGuardLab({ prefix: TAG, subnet: "10.213.3", overlaySubnet: "10.217.0" });
    const workers: NsProcess[] = [];
    const log: string[] = [];
    const t0 = performance.now();
    const step = (m: string) => log.push(`${((performance.now() - t0) / 1000).toFixed(1)} s: ${m}`);
    const context = () =>
      workers.map((w, i) =>
        `--- ${chosen[i]!.name} ${chosen[i]!.version}\nstdout:\n${
          w.stdout.slice(-20).join("\n")
        }\nstderr:\n${w.stderr.slice(-2000)}`
      ).join("\n");
    try {
      for (let i = 0; i < 3; i++) await lab.addWgHost();
      const hosts = lab.wgHosts as WgLabHost[];
      step("3 namespace hosts with wireguard-go");
      hosts.forEach((h, i) => {
        const r = chosen[i]!;
        workers.push(lab.spawn(h, r.command, [
          ...r.args,
          `${pkg}/src/cli/worker.js`,
          ...lab.workerFlags(h, { nodeId: i + 1, clusterId: TAG, intervalMs: 200 }),
          "--wg-resync-ms",
          "500",
        ]));
      });
      const pairs = hosts.flatMap((x) => hosts.filter((y) => y !== x).map((y) => [x, y] as const));
      try {
        await until("pings between every pair over WireGuard", async () => {
          if (workers.some((w) => w.exited)) throw new Error("a worker exited");
          for (const [x, y] of pairs) if (!(await lab.ping(x, y))) return false;
          return true;
        });
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${context()}`);
      }
      step(`mesh up: ${pairs.length} pings answered over WireGuard (node22, bun, deno)`);

      // Each worker created its key file (0600, the key the interface now has) and recorded the
      // two other hosts in its state file (beside the key file).
      const keys = await Promise.all(hosts.map((h) => lab.publicKey(h)));
      for (const [i, h] of hosts.entries()) {
        assert.equal((await Deno.stat(h.keyFile)).mode! & 0o777, 0o600, chosen[i]!.name);
        const others = keys.filter((_, j) => j !== i).sort();
        const dump = await lab.dump(h);
        for (const [j, o] of hosts.entries()) {
          if (j !== i) assert.equal(dump.get(keys[j]!), `${o.overlay}/32`, chosen[i]!.name);
        }
        const stateFile = `${lab.dir}/${h.iface}.peers.json`;
        await until(`${chosen[i]!.name}'s state file lists both peers`, async () => {
          try {
            const s = JSON.parse(await Deno.readTextFile(stateFile));
            return JSON.stringify(s.peers) === JSON.stringify(others);
          } catch {
            return false;
          }
        });
        const s = JSON.parse(await Deno.readTextFile(stateFile));
        assert.deepEqual(s, { version: 1, interface: h.iface, peers: others });
        assert.equal((await Deno.stat(stateFile)).mode! & 0o777, 0o600);
      }
      step("key files and state files written (0600) by every runtime");

      // kill -9 the Bun worker: Node and Deno drop it after failure detection.
      const killAt = performance.now();
      workers[1]!.kill("SIGKILL");
      await until("the bun worker gone", () => workers[1]!.exited, 5_000);
      const [a, , c] = hosts as [WgLabHost, WgLabHost, WgLabHost];
      try {
        await until(
          "the killed worker's peer removed by node22 and deno",
          async () => !(await lab.dump(a)).has(keys[1]!) && !(await lab.dump(c)).has(keys[1]!),
        );
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${context()}`);
      }
      step(
        `bun worker killed -9: removed from node22's and deno's wg in ${
          Math.round(performance.now() - killAt)
        } ms`,
      );
      assert.ok(await lab.ping(a, c) && await lab.ping(c, a), "node22 and deno still ping");

      // The others stop gracefully.
      for (const w of [workers[0]!, workers[2]!]) w.kill("SIGTERM");
      await until("node22 and deno exit", () => workers[0]!.exited && workers[2]!.exited, 10_000);
      assert.equal((await workers[0]!.proc.status).code, 0, context());
      assert.equal((await workers[2]!.proc.status).code, 0, context());
      step("node22 and deno workers stopped on SIGTERM with exit 0");
    } finally {
      const errors = await lab.tearDown();
      console.log(log.join("\n"));
      assert.deepEqual(errors, [], "lab torn down");
    }
  },
});
