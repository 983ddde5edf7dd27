/**
 * The overlay on a real network: hosts in Linux network namespaces this test creates (a hub
 * namespace with a bridge, one namespace per host joined by a veth pair, underlay 10.213.1.0/24
 * (inside the 10.213.0.0/16 the Rust interop peer may bind in) and overlay 10.215.0.0/24, both
 * existing only inside those namespaces). Each host runs
 * userspace WireGuard (`wireguard-go`, its interface named uniquely per host and per test
 * process, since the UAPI sockets in /var/run/wireguard are shared by every namespace) and a
 * hearsay worker with `--wg-interface`. Pings must cross the overlay once discovery finishes; a
 * host killed with -9 must leave the others' `wg show` after detection, a graceful stop at
 * once; a restart re-adds it; a key rotation (SIGHUP with a new key file) keeps traffic
 * flowing; hostile PeerInfos (bad key, another host's overlay IP) are refused while the mesh
 * stays up; a restarted worker removes a peer that left while it was down; a real chitchat node
 * (the Rust interop peer, `deno task build:interop`) publishing a zlayer-style PeerInfo with its
 * host's real WireGuard key is meshed too (the test configures that host's WireGuard peers from
 * what its chitchat node sees, since chitchat does no WireGuard).
 *
 * Needs root, `ip netns`, `wireguard-go` and `wg` (`apt-get install -y wireguard-go
 * wireguard-tools`). Skipped with a message otherwise. Namespaces, interfaces, sockets and key
 * files are removed afterwards, also on failure.
 */
import assert from "node:assert/strict";
import {
  type NsProcess,
  NsRustNode,
  run,
  succeeds,
  until as untilMs,
  type WgLabHost,
  WireGuardLab,
  wireGuardLabUnavailable,
} from "../sim/netns_lab.ts";
import { parseOverlayCidr, pickOverlayIp } from "../src/wireguard/mod.ts";

const WORKER = new URL("../src/cli/worker.ts", import.meta.url).pathname;
const TAG = `hw${Deno.pid}`;
/** Bounds every wait of this test (wall-clock ms). */
const WAIT_MS = 20_000;

const skip = await wireGuardLabUnavailable();
if (skip !== undefined) {
  console.log(
    `overlay_netns_test: SKIPPED (${skip}); run as root with wireguard-go and wireguard-tools ` +
      "to test the WireGuard overlay",
  );
}

const until = (what: string, check: () => Promise<boolean> | boolean, ms = WAIT_MS) =>
  untilMs(what, check, ms);

type Host = WgLabHost;
type Proc = NsProcess;

/** The namespace lab of sim/netns_lab.ts, plus the hearsay worker each host runs. */
class Lab extends WireGuardLab {
  readonly workers = new Map<string, Proc>();

  constructor() {
    super({ prefix: TAG, subnet: "10.213.1", overlaySubnet: "10.215.0" });
  }

  start(h: Host, extra: string[] = [], nodeId = String(h.index + 1)): Proc {
    const w = this.spawn(h, Deno.execPath(), [
      "run",
      "-A",
      WORKER,
      ...this.workerFlags(h, {
        nodeId,
        clusterId: TAG,
        intervalMs: 200,
        overlayIp: !extra.includes("--overlay-cidr"),
      }),
      "--wg-resync-ms",
      "500",
      "--status-addr",
      "127.0.0.1:9100",
      ...extra,
    ]);
    this.workers.set(h.name, w);
    return w;
  }
}

Deno.test({
  name: "overlay netns: 3 hosts mesh over WireGuard; kill, stop, restart, rotation, hostile",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const lab = new Lab();
    const log: string[] = [];
    const t0 = Date.now();
    const step = (m: string) => log.push(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${m}`);
    try {
      for (let i = 0; i < 3; i++) await lab.addWgHost();
      const [a, b, c] = lab.wgHosts as [Host, Host, Host];
      for (const h of lab.wgHosts) lab.start(h);
      const allPings = async () => {
        for (const x of lab.wgHosts) {
          for (const y of lab.wgHosts) if (x !== y && !(await lab.ping(x, y))) return false;
        }
        return true;
      };
      await until("pings between every pair over the overlay", allPings);
      step("mesh up: every pair pings over WireGuard");
      const keyC = await lab.publicKey(c);
      for (const h of [a, b]) assert.equal((await lab.dump(h)).get(keyC), `${c.overlay}/32`);

      // kill -9: removed after failure detection.
      lab.workers.get("c")!.kill("SIGKILL");
      await lab.workers.get("c")!.done;
      await until(
        "c's peer removed from a and b after kill -9",
        async () => !(await lab.dump(a)).has(keyC) && !(await lab.dump(b)).has(keyC),
      );
      step("c killed -9: removed from a and b");
      assert.ok(await lab.ping(a, b), "a-b still pings");

      // Restart: re-added (same key file, same key). Measured: from a's `joined` line for c to
      // the first ping a -> c answered over the overlay.
      const seenBefore = lab.workers.get("a")!.stdout.length;
      lab.start(c);
      const wa = lab.workers.get("a")!;
      const joinedAt = () => {
        for (let i = seenBefore; i < wa.stdout.length; i++) {
          if (/"event":"joined","node_id":3,/.test(wa.stdout[i]!)) return wa.times[i];
        }
        return undefined;
      };
      await until("a sees c join again", () => joinedAt() !== undefined);
      await until("a pings c again", () => lab.ping(a, c, "0.1"));
      step(`c restarted: joined -> first ping answered in ${Date.now() - joinedAt()!} ms`);
      await until("c pings b", () => lab.ping(c, b));
      // (c's interface kept b from c's previous run; wait until c's new worker manages it.)
      await until(
        "c's worker sees b",
        () => lab.workers.get("c")!.stdout.some((l) => /"event":"joined","node_id":2,/.test(l)),
      );
      assert.equal(await lab.publicKey(c), keyC);

      // Graceful stop: removed at once.
      const keyB = await lab.publicKey(b);
      lab.workers.get("b")!.kill("SIGTERM");
      const stopAt = Date.now();
      await until(
        "b removed after a graceful stop",
        async () => !(await lab.dump(a)).has(keyB) && !(await lab.dump(c)).has(keyB),
        3_000,
      );
      step(`b stopped gracefully: removed in ${Date.now() - stopAt} ms`);
      await lab.workers.get("b")!.done;
      assert.equal((await lab.workers.get("b")!.proc.status).code, 0);
      lab.start(b);
      await until("b back", allPings);
      step("b restarted");

      // Key rotation: a new key file and SIGHUP; a ping stream a -> c keeps flowing.
      const pinger = lab.spawn(a, "ping", ["-i", "0.2", "-c", "25", "-W", "1", c.overlay]);
      await new Promise((r) => setTimeout(r, 1_000));
      await Deno.remove(c.keyFile); // the worker creates a fresh key (0600) on SIGHUP
      lab.workers.get("c")!.kill("SIGHUP");
      await until("a and b hold c's new key", async () => {
        const k = await lab.publicKey(c);
        if (k === keyC) return false;
        const [da, db] = [await lab.dump(a), await lab.dump(b)];
        return da.has(k) && db.has(k) && !da.has(keyC) && !db.has(keyC);
      });
      step("c rotated its key: a and b moved to the new one");
      await pinger.done;
      const summary = pinger.stdout.find((l) => l.includes("received")) ?? "";
      const received = Number(/(\d+) received/.exec(summary)?.[1] ?? "0");
      step(`ping a -> c during the rotation: ${summary}`);
      assert.ok(received >= 15, `traffic kept flowing through the rotation: ${summary}`);
      assert.ok(await lab.ping(a, c) && await lab.ping(c, a));
      assert.equal((await Deno.stat(c.keyFile)).mode! & 0o777, 0o600);

      // Hostile PeerInfos from two extra workers in a's namespace (no WireGuard of their own).
      const evilKey = new Uint8Array(32).fill(66).toBase64();
      const hostile = [
        ["--node-id", "10", "--wg-pubkey", "not-a-key", "--overlay-ip", "10.215.0.10"],
        ["--node-id", "11", "--wg-pubkey", evilKey, "--overlay-ip", b.overlay],
      ].map((args, i) =>
        lab.spawn(a, Deno.execPath(), [
          "run",
          "-A",
          WORKER,
          ...args,
          "--wg-endpoint",
          `${a.ip}:${51830 + i}`,
          "--listen",
          `${a.ip}:${7950 + i}`,
          "--seed",
          `${b.ip}:7946`,
          "--cluster-id",
          TAG,
          "--interval-ms",
          "200",
        ])
      );
      try {
        await until("hostile PeerInfos refused by every host", () =>
          lab.wgHosts.every((h) => {
            const e = lab.workers.get(h.name)!.stderr;
            return e.includes("worker 10 (bad_key)") &&
              (e.includes("worker 11 (overlay_ip_conflict)") ||
                e.includes("worker 11 (overlay_ip_self)"));
          }));
        step("hostile PeerInfos refused (bad key, b's overlay IP)");
        for (const h of lab.wgHosts) assert.equal((await lab.dump(h)).has(evilKey), false);
        assert.ok(await allPings(), "the mesh stays up");
        // Metrics and /peers, read from inside a's namespace.
        const status = await run("ip", [
          "netns",
          "exec",
          a.ns,
          Deno.execPath(),
          "eval",
          `const m = await (await fetch("http://127.0.0.1:9100/metrics")).text();
           const p = await (await fetch("http://127.0.0.1:9100/peers")).text();
           console.log(JSON.stringify({ m, p }));`,
        ]);
        const { m, p } = JSON.parse(status) as { m: string; p: string };
        const metric = (name: string) => {
          const line = m.split("\n").find((l) => l.startsWith(name));
          assert.ok(line !== undefined, `metric ${name} in\n${m}`);
          return Number(line.split(" ").at(-1));
        };
        assert.equal(metric(`hearsay_wg_peers_configured{interface="${a.iface}"}`), 2);
        assert.equal(
          metric(`hearsay_wg_refused_peer_infos_total{interface="${a.iface}",reason="bad_key"}`),
          1,
        );
        assert.ok(metric(`hearsay_wg_reconcile_runs_total{interface="${a.iface}"}`) > 1);
        assert.equal(metric(`hearsay_wg_tunnels{interface="${a.iface}",state="up"}`), 2);
        assert.match(m, /hearsay_wg_last_handshake_age_seconds\{[^}]*node_id="2"\} \d+/);
        const peers = JSON.parse(p) as {
          node_id: number;
          tunnel: { up: boolean; refused: string | null };
        }[];
        const byId = new Map(peers.map((x) => [x.node_id, x.tunnel]));
        assert.equal(byId.get(2)?.up, true);
        assert.equal(byId.get(3)?.up, true);
        assert.equal(byId.get(10)?.refused, "bad_key");
        step("metrics and /peers report the tunnels and refusals");
      } finally {
        for (const h of hostile) h.kill("SIGKILL");
        await Promise.all(hostile.map((h) => h.done));
      }
      // --overlay-cidr: host d's node id is chosen so that its first pick is a's address; the
      // higher id (d) must move, set its new address on its interface, and mesh.
      const cidr = parseOverlayCidr("10.215.0.0/24");
      let clash = 100n;
      while (pickOverlayIp(cidr, clash, new Set()) !== a.overlay) clash++;
      const d = await lab.addWgHost(false);
      const wd = lab.start(d, ["--overlay-cidr", cidr.text, "--wg-set-address"], String(clash));
      let moved = "";
      await until("d moves off a's overlay address", () => {
        moved = [...wd.stderr.matchAll(/moving to (\S+)/g)].at(-1)?.[1] ?? "";
        return moved !== "";
      });
      assert.notEqual(moved, a.overlay);
      const pingIp = (from: Host, ip: string) =>
        succeeds("ip", ["netns", "exec", from.ns, "ping", "-c", "1", "-W", "1", ip]);
      await until(
        "a pings d's new address and d pings a",
        async () =>
          (await pingIp(a, moved)) && (await pingIp(d, a.overlay)) && (await lab.ping(a, b)),
      );
      moved = [...wd.stderr.matchAll(/moving to (\S+)/g)].at(-1)![1]!;
      const addrs = await run("ip", ["-n", d.ns, "addr", "show", "dev", d.iface]);
      assert.ok(addrs.includes(`${moved}/24`), `${addrs}\n${wd.stderr}`);
      assert.ok(!lab.workers.get("a")!.stderr.includes("moving to"), "a kept its address");
      step(`overlay-cidr clash: worker ${clash} moved from ${a.overlay} to ${moved}, meshed`);

      // Restart with stale peers: while c's worker is down, d leaves; the restarted worker
      // removes d (recorded in its --wg-state-file) but not a peer someone else added.
      const keyD = await lab.publicKey(d);
      const foreign = new Uint8Array(32).fill(77).toBase64();
      await lab.exec(c, "wg", ["set", c.iface, "peer", foreign, "allowed-ips", "10.215.9.9/32"]);
      await until("c holds d", async () => (await lab.dump(c)).has(keyD));
      lab.workers.get("c")!.kill("SIGKILL");
      await lab.workers.get("c")!.done;
      wd.kill("SIGTERM");
      await wd.done;
      await until("a drops d", async () => !(await lab.dump(a)).has(keyD));
      assert.ok((await lab.dump(c)).has(keyD), "c's interface still holds d while c is down");
      const restartAt = Date.now();
      lab.start(c);
      await until("the restarted c removes stale d", async () => !(await lab.dump(c)).has(keyD));
      const peersC = await lab.dump(c);
      assert.ok(peersC.has(foreign), "a peer c's worker did not add stays");
      assert.ok(peersC.has(await lab.publicKey(a)) && peersC.has(keyB));
      assert.ok(await lab.ping(c, a) && await lab.ping(a, c));
      step(`c restarted after d left meanwhile: stale d removed in ${Date.now() - restartAt} ms`);

      // A real chitchat node (Rust, chitchat 0.10.1) on host e publishes a zlayer-style PeerInfo:
      // `worker:5` = base64url(JSON) with e's real WireGuard key, endpoint and overlay IP.
      const e = await lab.addWgHost();
      const eKey = `${lab.dir}/e.key`;
      await Deno.writeTextFile(eKey, await lab.exec(e, "wg", ["genkey"]), { mode: 0o600 });
      await lab.exec(e, "wg", ["set", e.iface, "private-key", eKey]);
      const keyE = await lab.publicKey(e);
      const rust = new NsRustNode(e.ns, WAIT_MS);
      try {
        const started = await rust.request("node_start", {
          nodeId: "worker:5",
          listenIp: e.ip,
          listenPort: 7946,
          seeds: [`${a.ip}:7946`],
          clusterId: TAG,
          gossipIntervalMs: 200,
          initialIntervalMs: 200,
        });
        const handle = started.handle as number;
        await rust.request("zlayer_announce", {
          handle,
          info: {
            nodeId: "5",
            wgPubkey: keyE,
            wgEndpoint: `${e.ip}:${lab.listenPort}`,
            overlayIp: e.overlay,
            labels: { runtime: "chitchat" },
          },
        });
        await until(
          "every hearsay host configures the chitchat host as a WireGuard peer",
          async () => {
            for (const h of [a, b, c]) {
              if ((await lab.dump(h)).get(keyE) !== `${e.overlay}/32`) return false;
            }
            return true;
          },
        );
        step("hearsay hosts a, b, c configured the chitchat node's PeerInfo (worker:5)");
        // e's WireGuard peers come from what its chitchat node sees: zlayer's peers() walk of
        // the live workers.
        const everyone = ["worker:1", "worker:2", "worker:3", "worker:5"];
        await until(
          "the chitchat node sees workers 1, 2, 3 live",
          async () => JSON.stringify(await rust.live(handle)) === JSON.stringify(everyone),
        );
        const seen = (await rust.request("zlayer_peers", { handle })).peers as {
          nodeId: string;
          wgPubkey: string;
          wgEndpoint: string;
          overlayIp: string;
        }[];
        const live = seen.filter((p) => ["1", "2", "3"].includes(p.nodeId));
        assert.equal(new Set(live.map((p) => p.nodeId)).size, 3, JSON.stringify(seen));
        await lab.exec(e, "wg", [
          "set",
          e.iface,
          ...live.flatMap((p) => [
            "peer",
            p.wgPubkey,
            "endpoint",
            p.wgEndpoint,
            "allowed-ips",
            `${p.overlayIp}/32`,
            "persistent-keepalive",
            "25",
          ]),
        ]);
        await until(
          "pings both ways between the chitchat host and hearsay hosts",
          async () =>
            (await lab.ping(e, a)) && (await lab.ping(a, e)) && (await lab.ping(c, e)) &&
            (await lab.ping(e, b)),
        );
        step("the chitchat host e and hearsay hosts a, b, c ping each other over WireGuard");
      } finally {
        await rust.close();
        await rust.done;
      }

      const tunnelLines = lab.workers.get("a")!.stdout.filter((l) => l.includes('"tunnel"'));
      assert.ok(tunnelLines.some((l) => l.includes('"up":true')), tunnelLines.join("\n"));
      console.log(log.join("\n"));
    } catch (e) {
      console.error(log.join("\n"));
      for (const [n, w] of lab.workers) {
        console.error(`worker ${n} stderr:\n${w.stderr}stdout:\n${w.stdout.join("\n")}`);
      }
      for (const h of lab.wgHosts) {
        const d = await run("ip", ["netns", "exec", h.ns, "wg", "show", h.iface]).catch(String);
        console.error(`wg show ${h.iface}:\n${d}`);
      }
      throw e;
    } finally {
      await lab.tearDown();
    }
  },
});
