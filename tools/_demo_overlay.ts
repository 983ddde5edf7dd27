/**
 * The overlay phases of `deno task demo` (run as root with wireguard-go, wg and ping): four hosts
 * in Linux network namespaces (sim/netns_lab.ts), each running userspace WireGuard and a hearsay
 * worker with `--wg-interface` and `--overlay-cidr`. Shows discovery, pings over WireGuard with
 * their round-trip times, a host killed with -9 leaving the others' `wg show`, and a key
 * rotation (new key file + SIGHUP) while a ping stream keeps being answered. Everything it
 * creates (namespaces, interfaces, sockets, key files) is removed at the end.
 *
 * @module
 */
import { until, type WgLabHost, WireGuardLab } from "../sim/netns_lab.ts";
import type { NsProcess } from "../sim/netns_lab.ts";
import { bold, cyan, dim, elapsedMs, green, red, say, yellow } from "./_demo_style.ts";

const WORKER = new URL("../src/cli/worker.ts", import.meta.url).pathname;
const HOSTS = 4;
const CIDR = "10.42.0.0/24";
/** Bounds every wait, so the demo ends (well) within a minute even when something is wrong. */
const WAIT_MS = 15_000;

/** Options of {@link runOverlayDemo}. */
export interface OverlayDemoOptions {
  /** Gossip interval (ms). */
  readonly intervalMs: number;
  /** No pauses between the phases. */
  readonly fast: boolean;
}

interface DemoHost {
  readonly host: WgLabHost;
  readonly id: number;
  worker: NsProcess | undefined;
  /** Peers this host's worker reports live. */
  readonly peers: Set<number>;
}

/** Runs the overlay demo; resolves to the exit code (0 when every phase passed). */
export async function runOverlayDemo(options: OverlayDemoOptions): Promise<number> {
  const lab = new WireGuardLab({
    prefix: `hd${Deno.pid % 100_000}`,
    subnet: "10.213.2",
    overlaySubnet: "10.42.0",
  });
  const hosts: DemoHost[] = [];
  /** Overlay address of each worker, as the others see it in its PeerInfo. */
  const overlayOf = new Map<number, string>();
  const nameOf = (id: number) => hosts.find((h) => h.id === id)?.host.name ?? `?${id}`;
  const summary: [string, number][] = [];
  const pause = () => new Promise((r) => setTimeout(r, options.fast ? 0 : 1000));
  const phase = (title: string) => say(bold(title));
  const wait = (what: string, check: () => boolean | Promise<boolean>) =>
    until(what, check, WAIT_MS, 50);

  const startWorker = (d: DemoHost): void => {
    const h = d.host;
    const tag = `host ${h.name}`;
    d.worker = lab.spawn(h, Deno.execPath(), [
      "run",
      "-A",
      WORKER,
      ...lab.workerFlags(h, {
        nodeId: d.id,
        clusterId: "demo-overlay",
        intervalMs: options.intervalMs,
        overlayIp: false,
      }),
      "--overlay-cidr",
      CIDR,
      "--wg-set-address",
      "--wg-resync-ms",
      "1000",
    ], {
      onLine: (line) => {
        const e = JSON.parse(line.replace(/"node_id":(\d+)/, '"node_id":"$1"'));
        const peer = Number(e.node_id);
        if (e.event === "tunnel") {
          say(
            `${tag}  ${cyan("tunnel ")}  to host ${nameOf(peer)} ${
              e.up ? green("up") : red("down")
            }`,
          );
          return;
        }
        if (e.event === "joined" || e.event === "updated") {
          d.peers.add(peer);
          overlayOf.set(peer, e.overlay_ip);
        }
        if (e.event === "left") d.peers.delete(peer);
        const what = e.event === "joined"
          ? green("joined ")
          : e.event === "left"
          ? red("left   ")
          : yellow("updated");
        const extra = e.event === "left"
          ? dim(`(${e.reason})`)
          : dim(`overlay ${e.overlay_ip}, key ${String(e.wg_pubkey).slice(0, 8)}…`);
        say(`${tag}  ${what}  host ${nameOf(peer)} (worker ${peer}) ${extra}`);
      },
    });
  };

  const allPairsPing = async (among: DemoHost[]) => {
    for (const x of among) {
      for (const y of among) {
        if (x === y) continue;
        const ip = overlayOf.get(y.id);
        if (ip === undefined || !(await lab.ping(x.host, ip, "0.5"))) return false;
      }
    }
    return true;
  };

  say(bold(
    `hearsay overlay demo: ${HOSTS} hosts in network namespaces, userspace WireGuard, ` +
      `gossip every ${options.intervalMs} ms`,
  ));
  try {
    for (let i = 0; i < HOSTS; i++) {
      const host = await lab.addWgHost(false);
      hosts.push({ host, id: i + 1, worker: undefined, peers: new Set() });
      say(
        `host ${host.name}: namespace ${host.ns}, underlay ${host.ip}, ` +
          cyan(`wireguard-go ${host.iface}`) + dim(` (listen port ${lab.listenPort})`),
      );
    }
    await pause();

    phase(`starting a worker on every host: --wg-interface, --overlay-cidr ${CIDR}`);
    const startAt = performance.now();
    for (const d of hosts) startWorker(d);
    await wait(
      "every worker sees every other",
      () =>
        hosts.every((d) =>
          hosts.every((o) => o === d || (d.peers.has(o.id) && overlayOf.has(o.id)))
        ),
    );
    summary.push([`${HOSTS} workers discovered each other`, performance.now() - startAt]);
    await wait("pings between every pair over WireGuard", () => allPairsPing(hosts));
    summary.push([
      "from the first start to every pair pinging over WireGuard",
      performance.now() - startAt,
    ]);
    say(bold(green("meshed: every host pings every other over WireGuard")));
    for (const x of hosts) {
      const cells: string[] = [];
      for (const y of hosts) {
        if (x === y) continue;
        const rtt = await lab.pingRtt(x.host, overlayOf.get(y.id)!);
        cells.push(
          `${y.host.name} ${rtt === undefined ? red("lost") : green(`${rtt.toFixed(2)} ms`)}`,
        );
      }
      say(`ping from ${x.host.name} (${overlayOf.get(x.id)}) over WireGuard: ${cells.join("  ")}`);
    }
    const a = hosts[0]!;
    say(dim(`wg show ${a.host.iface} on host a:`));
    const dump = await lab.exec(a.host, "wg", ["show", a.host.iface, "dump"]);
    for (const line of dump.trim().split("\n").slice(1)) {
      const [key, , endpoint, ips, handshake] = line.split("\t");
      const age = Number(handshake) > 0
        ? `handshake ${Math.max(0, Math.round(Date.now() / 1000 - Number(handshake)))} s ago`
        : "no handshake yet";
      say(dim(`  peer ${key!.slice(0, 8)}…  endpoint ${endpoint}  allowed ips ${ips}  ${age}`));
    }
    await pause();

    const victim = hosts[HOSTS - 1]!;
    const rest = hosts.filter((d) => d !== victim);
    const victimKey = await lab.publicKey(victim.host);
    phase(
      `killing host ${victim.host.name} (SIGKILL to its worker and wireguard-go: no goodbye)`,
    );
    const killAt = performance.now();
    victim.worker!.kill("SIGKILL");
    victim.host.wireguard.kill("SIGKILL");
    await victim.worker!.done;
    await wait(
      `host ${victim.host.name} removed from every wg show`,
      async () => {
        for (const d of rest) if ((await lab.dump(d.host)).has(victimKey)) return false;
        return true;
      },
    );
    const removed = performance.now() - killAt;
    summary.push([`host ${victim.host.name} removed from the others' wg show`, removed]);
    say(bold(
      `host ${victim.host.name}'s peer ${victimKey.slice(0, 8)}… is gone from wg show on ` +
        `${rest.map((d) => d.host.name).join(", ")} (${(removed / 1000).toFixed(2)} s)`,
    ));
    if (!(await allPairsPing(rest))) throw new Error("the remaining hosts stopped pinging");
    say(green(`${rest.map((d) => d.host.name).join(", ")} still ping each other`));
    await pause();

    const rotated = rest[rest.length - 1]!;
    const from = rest[0]!;
    const oldKey = await lab.publicKey(rotated.host);
    const target = overlayOf.get(rotated.id)!;
    phase(
      `rotating host ${rotated.host.name}'s key (new key file + SIGHUP) while ` +
        `${from.host.name} pings it every 0.2 s`,
    );
    const pinger = lab.spawn(from.host, "ping", ["-i", "0.2", "-c", "20", "-W", "1", target]);
    await new Promise((r) => setTimeout(r, 1000)); // the stream runs before the rotation
    await Deno.remove(rotated.host.keyFile); // the worker creates a fresh key (0600) on SIGHUP
    const rotateAt = performance.now();
    rotated.worker!.kill("SIGHUP");
    let newKey = oldKey;
    await wait("every host holds the new key", async () => {
      newKey = await lab.publicKey(rotated.host);
      if (newKey === oldKey) return false;
      for (const d of rest) {
        if (d === rotated) continue;
        const peers = await lab.dump(d.host);
        if (!peers.has(newKey) || peers.has(oldKey)) return false;
      }
      return true;
    });
    summary.push([
      `every host moved to ${rotated.host.name}'s new key`,
      performance.now() - rotateAt,
    ]);
    say(bold(
      `host ${rotated.host.name}: key ${oldKey.slice(0, 8)}… → ${newKey.slice(0, 8)}…, ` +
        "the others moved to the new one",
    ));
    await pinger.done;
    const line = pinger.stdout.find((l) => l.includes("received")) ?? "";
    const got = Number(/(\d+) received/.exec(line)?.[1] ?? "0");
    say(
      (got >= 15 ? green : red)(
        `pings ${from.host.name} → ${rotated.host.name} during the rotation: ${got} of 20 answered`,
      ),
    );
    if (got < 15) throw new Error(`only ${got} of 20 pings were answered during the rotation`);
    phase("stopping the cluster");
    for (const d of rest) d.worker?.kill("SIGTERM");
    await Promise.all(rest.map((d) => d.worker?.done));
  } catch (e) {
    say(red(`overlay demo failed: ${(e as Error).message}`));
    for (const d of hosts) {
      const err = d.worker?.stderr.trim().split("\n").slice(-5).join("\n    ") ?? "";
      if (err !== "") console.error(dim(`  host ${d.host.name} worker stderr:\n    ${err}`));
    }
    return 1;
  } finally {
    const errors = await lab.tearDown();
    for (const e of errors) console.error(yellow(`cleanup: ${e}`));
  }
  console.log("\n" + bold("summary"));
  for (const [what, ms] of summary) {
    console.log(`  ${(ms / 1000).toFixed(2).padStart(6)} s  ${what}`);
  }
  console.log(dim(`  total ${(elapsedMs() / 1000).toFixed(1)} s`));
  return 0;
}
