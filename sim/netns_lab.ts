/**
 * A lab of Linux network namespaces on one machine, shared by the tests that need a real network
 * (tests/netns_test.ts, tests/overlay_netns_test.ts), the overlay demo (tools/_demo_overlay.ts)
 * and the overlay benchmark (bench/overlay_first_ping.ts).
 *
 * One hub namespace holds a bridge; every host is a namespace joined to it by a veth pair, with
 * an underlay address in a /24 that exists only inside those namespaces. A {@link WireGuardLab}
 * also runs userspace WireGuard (`wireguard-go`) in each host, its interface named uniquely per
 * host and per lab (the UAPI sockets in /var/run/wireguard are shared by every namespace).
 * Processes started through the lab, namespaces, WireGuard sockets and the lab's temporary
 * folder are removed by {@link NetnsLab.tearDown}, also after a failure.
 *
 * Needs root and iproute2; the WireGuard lab also `wireguard-go` and `wg`. External commands get
 * argv arrays, never a shell.
 *
 * @module
 */
import { readLines } from "./lines.ts";
import { interopBinaryPath } from "../interop/paths.ts";

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

/** Polls `check` every `pollMs` until it holds; throws after `ms`. Resolves to the ms waited. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms: number,
  pollMs = 100,
): Promise<number> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > ms) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return performance.now() - start;
}

/** Why a WireGuard lab cannot run here, or undefined when it can (root, `ip netns`, `wg`,
 * `wireguard-go`, `ping`). */
export async function wireGuardLabUnavailable(): Promise<string | undefined> {
  return Deno.uid() !== 0
    ? "not running as root"
    : !await succeeds("ip", ["netns", "list"])
    ? "`ip netns` is not available"
    : !await succeeds("wg", ["--version"])
    ? "`wg` is not installed (apt-get install -y wireguard-tools)"
    : !await succeeds("wireguard-go", ["--version"])
    ? "`wireguard-go` is not installed (apt-get install -y wireguard-go)"
    : !await succeeds("ping", ["-V"])
    ? "`ping` is not installed (apt-get install -y iputils-ping)"
    : undefined;
}

/** A process running inside a namespace (`ip netns exec NS cmd ...`), its output collected line
 * by line. */
export class NsProcess {
  /** The `ip netns exec` child. */
  readonly proc: Deno.ChildProcess;
  /** Standard output lines so far. */
  readonly stdout: string[] = [];
  /** Arrival time (`Date.now()` ms) of each stdout line. */
  readonly times: number[] = [];
  /** Standard error so far. */
  stderr = "";
  /** Resolves when both streams ended and the process exited. */
  readonly done: Promise<unknown>;
  /** Whether the process exited. */
  exited = false;
  /** Exit code (or signal) once it exited. */
  exitStatus = "";

  /** Starts `cmd args` in namespace `ns`; `onLine` also sees every stdout line. */
  constructor(
    ns: string,
    cmd: string,
    args: string[],
    options: { env?: Record<string, string>; onLine?: (line: string) => void } = {},
  ) {
    this.proc = new Deno.Command("ip", {
      args: ["netns", "exec", ns, cmd, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: options.env ?? {},
    }).spawn();
    this.done = Promise.all([
      readLines(this.proc.stdout, (l) => {
        this.stdout.push(l);
        this.times.push(Date.now());
        options.onLine?.(l);
      }),
      readLines(this.proc.stderr, (l) => (this.stderr += l + "\n")),
      this.proc.status.then((st) => {
        this.exitStatus = st.signal !== null ? `signal ${st.signal}` : `code ${st.code}`;
        this.exited = true;
      }),
    ]);
  }

  /** Sends a signal; a process already gone is not an error. */
  kill(signal: Deno.Signal): void {
    try {
      this.proc.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** A host of a {@link NetnsLab}: a namespace with `eth0` on the lab's bridge. */
export interface LabHost {
  /** `a`, `b`, `c`... */
  readonly name: string;
  /** Position in the lab (0 for `a`). */
  readonly index: number;
  /** The namespace. */
  readonly ns: string;
  /** Its underlay address. */
  readonly ip: string;
}

/** Options of {@link NetnsLab}. */
export interface NetnsLabOptions {
  /** Prefix of every namespace name (keep it short and unique per process, e.g. `hs${pid}`). */
  readonly prefix: string;
  /** The underlay /24 as its first three octets, e.g. `10.213.0`. */
  readonly subnet: string;
}

/** A hub namespace with a bridge, and host namespaces attached to it by veth pairs. */
export class NetnsLab {
  /** The namespace name prefix. */
  readonly prefix: string;
  /** The underlay /24 (three octets). */
  readonly subnet: string;
  /** The hub namespace (holds the bridge `br0`). */
  readonly hub: string;
  /** The hosts added so far. */
  readonly hosts: LabHost[] = [];
  /** Processes started with {@link spawn}; killed by {@link tearDown}. */
  readonly processes: NsProcess[] = [];
  readonly #created: string[] = [];
  #hubReady = false;

  /** A lab; nothing is created before {@link setUp} or {@link addHost}. */
  constructor(options: NetnsLabOptions) {
    this.prefix = options.prefix;
    this.subnet = options.subnet;
    this.hub = `${options.prefix}-hub`;
  }

  /** Creates the hub and `count` hosts. */
  async setUp(count: number): Promise<void> {
    for (let i = 0; i < count; i++) await this.addHost();
  }

  /** Adds the next host (a, b, c...): a namespace, a veth pair to the bridge, its address, its
   * links up. */
  async addHost(): Promise<LabHost> {
    if (!this.#hubReady) {
      await this.#add(this.hub);
      await run("ip", ["-n", this.hub, "link", "add", "br0", "type", "bridge"]);
      await run("ip", ["-n", this.hub, "link", "set", "br0", "up"]);
      this.#hubReady = true;
    }
    const index = this.hosts.length;
    const name = String.fromCharCode(97 + index);
    const ns = `${this.prefix}-${name}`;
    const ip = `${this.subnet}.${index + 1}`;
    await this.#add(ns);
    // The veth pair is created with both ends already inside our namespaces.
    await run("ip", [
      "link",
      "add",
      "eth0",
      "netns",
      ns,
      "type",
      "veth",
      "peer",
      "name",
      `p${index}`,
      "netns",
      this.hub,
    ]);
    await run("ip", ["-n", this.hub, "link", "set", `p${index}`, "master", "br0"]);
    await run("ip", ["-n", this.hub, "link", "set", `p${index}`, "up"]);
    await run("ip", ["-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
    await run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const host: LabHost = { name, index, ns, ip };
    this.hosts.push(host);
    return host;
  }

  async #add(ns: string): Promise<void> {
    await run("ip", ["netns", "add", ns]);
    this.#created.push(ns);
  }

  /** Runs `cmd args` inside the host's namespace and returns its stdout (throws on failure). */
  exec(host: LabHost, cmd: string, args: string[], stdin?: string): Promise<string> {
    return run("ip", ["netns", "exec", host.ns, cmd, ...args], stdin);
  }

  /** Starts a long-running process in the host's namespace; {@link tearDown} kills it. */
  spawn(
    host: LabHost,
    cmd: string,
    args: string[],
    options: { env?: Record<string, string>; onLine?: (line: string) => void } = {},
  ): NsProcess {
    const p = new NsProcess(host.ns, cmd, args, options);
    this.processes.push(p);
    return p;
  }

  /** Kills every process started with {@link spawn} and deletes every namespace this lab
   * created (their links and rules go with them). Resolves to the errors met (empty when all
   * went). */
  async tearDown(): Promise<string[]> {
    for (const p of this.processes) p.kill("SIGKILL");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.processes.map((p) => p.done)),
      new Promise((r) => (timer = setTimeout(r, 5_000))),
    ]);
    clearTimeout(timer);
    const errors: string[] = [];
    for (const ns of this.#created.splice(0).reverse()) {
      try {
        await run("ip", ["netns", "del", ns]);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    return errors;
  }
}

/** A host of a {@link WireGuardLab}: also runs `wireguard-go`. */
export interface WgLabHost extends LabHost {
  /** The WireGuard interface name (unique per lab). */
  readonly iface: string;
  /** Its overlay address (`overlay.N`). */
  readonly overlay: string;
  /** A private key file path in the lab's folder (not created by the lab). */
  readonly keyFile: string;
  /** The `wireguard-go -f` process. */
  readonly wireguard: NsProcess;
}

/** Options of {@link WireGuardLab}. */
export interface WireGuardLabOptions extends NetnsLabOptions {
  /** The overlay /24 as its first three octets, e.g. `10.215.0`. */
  readonly overlaySubnet: string;
  /** WireGuard listen port of every host. Default 51820. */
  readonly listenPort?: number;
}

/** The environment wireguard-go needs to run on Linux at all. */
export const WIREGUARD_GO_ENV: Readonly<Record<string, string>> = {
  WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1",
};

/** A {@link NetnsLab} whose hosts run userspace WireGuard. */
export class WireGuardLab extends NetnsLab {
  /** The overlay /24 (three octets). */
  readonly overlaySubnet: string;
  /** Every host's WireGuard listen port. */
  readonly listenPort: number;
  /** The hosts, with their WireGuard interfaces. */
  readonly wgHosts: WgLabHost[] = [];
  /** A temporary folder for key files, removed by {@link tearDown}. */
  dir = "";

  /** A lab; nothing is created before {@link addWgHost}. */
  constructor(options: WireGuardLabOptions) {
    super(options);
    this.overlaySubnet = options.overlaySubnet;
    this.listenPort = options.listenPort ?? 51820;
  }

  /** Adds a host with `wireguard-go` running and its listen port set; the overlay address goes
   * on the interface only when `withAddress` (else the caller or a worker sets it). */
  async addWgHost(withAddress = true): Promise<WgLabHost> {
    if (this.dir === "") this.dir = await Deno.makeTempDir({ prefix: `${this.prefix}-` });
    const base = await this.addHost();
    const iface = `${this.prefix}${base.name}`.slice(-15);
    const wireguard = this.spawn(base, "wireguard-go", ["-f", iface], {
      env: { ...WIREGUARD_GO_ENV },
    });
    const host: WgLabHost = {
      ...base,
      iface,
      overlay: `${this.overlaySubnet}.${base.index + 1}`,
      keyFile: `${this.dir}/${base.name}.key`,
      wireguard,
    };
    this.wgHosts.push(host);
    await until(`wireguard-go ${iface}`, async () => {
      if (wireguard.exited) {
        await wireguard.done; // all of its output, not what had arrived when it exited
        throw new Error(
          `wireguard-go ${iface} exited (${wireguard.exitStatus}); stdout:\n` +
            `${wireguard.stdout.join("\n")}\nstderr:\n${wireguard.stderr}`,
        );
      }
      return await succeeds("ip", ["netns", "exec", base.ns, "wg", "show", iface]);
    }, 5_000);
    await this.exec(base, "wg", ["set", iface, "listen-port", String(this.listenPort)]);
    if (withAddress) {
      await run("ip", ["-n", base.ns, "addr", "add", `${host.overlay}/24`, "dev", iface]);
    }
    await run("ip", ["-n", base.ns, "link", "set", iface, "up"]);
    return host;
  }

  /** The host's peers as `wg show IF dump` gives them: public key -> allowed IPs. */
  async dump(h: WgLabHost): Promise<Map<string, string>> {
    const text = await this.exec(h, "wg", ["show", h.iface, "dump"]);
    const peers = new Map<string, string>();
    for (const line of text.trim().split("\n").slice(1)) {
      const f = line.split("\t");
      peers.set(f[0]!, f[3]!);
    }
    return peers;
  }

  /** The interface's public key (`wg show IF public-key`). */
  async publicKey(h: WgLabHost): Promise<string> {
    return (await this.exec(h, "wg", ["show", h.iface, "public-key"])).trim();
  }

  /** Whether one ping from `from` to `to` (a host's overlay address, or an IP) is answered. */
  ping(from: LabHost, to: WgLabHost | string, timeoutSeconds = "1"): Promise<boolean> {
    const ip = typeof to === "string" ? to : to.overlay;
    return succeeds("ip", ["netns", "exec", from.ns, "ping", "-c", "1", "-W", timeoutSeconds, ip]);
  }

  /** One ping's round-trip time in ms, or undefined when it was not answered. */
  async pingRtt(from: LabHost, to: WgLabHost | string, timeoutSeconds = "1"): Promise<
    number | undefined
  > {
    const ip = typeof to === "string" ? to : to.overlay;
    try {
      const out = await this.exec(from, "ping", ["-c", "1", "-W", timeoutSeconds, ip]);
      const m = /time=([\d.]+) ms/.exec(out);
      return m === null ? undefined : Number(m[1]);
    } catch {
      return undefined;
    }
  }

  /** The flags a hearsay worker on `h` starts with (after the worker script): its node id, the
   * gossip address `<host ip>:7946`, every other WireGuard host of the lab as a seed, the
   * cluster id, `--overlay-ip` (unless `overlayIp` is false, for `--overlay-cidr`), the host's
   * interface and key file, and one interval for gossip and the failure detector's prior.
   * Callers append what their run adds. */
  workerFlags(
    h: WgLabHost,
    o: { nodeId: number | string; clusterId: string; intervalMs: number; overlayIp?: boolean },
  ): string[] {
    const seeds = this.wgHosts.filter((x) => x !== h).flatMap((x) => ["--seed", `${x.ip}:7946`]);
    return [
      "--node-id",
      String(o.nodeId),
      "--listen",
      `${h.ip}:7946`,
      ...seeds,
      "--cluster-id",
      o.clusterId,
      ...(o.overlayIp === false ? [] : ["--overlay-ip", h.overlay]),
      "--wg-interface",
      h.iface,
      "--wg-private-key-file",
      h.keyFile,
      "--interval-ms",
      String(o.intervalMs),
      "--initial-interval-ms",
      String(o.intervalMs),
    ];
  }

  /** Also removes the WireGuard sockets and the key folder. */
  override async tearDown(): Promise<string[]> {
    const errors = await super.tearDown();
    for (const h of this.wgHosts) {
      await Deno.remove(`/var/run/wireguard/${h.iface}.sock`).catch(() => {});
    }
    if (this.dir !== "") await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    return errors;
  }
}

/** The Rust interop peer (real chitchat nodes) running inside a namespace, over its JSON-lines
 * protocol (interop/COMMANDS.md). Build it first with `deno task build:interop`. */
export class NsRustNode {
  /** The `ip netns exec` child. */
  readonly proc: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, (a: Record<string, unknown>) => void>();
  readonly #timeoutMs: number;
  #next = 0;
  /** Resolves when its stdout ended. */
  readonly done: Promise<unknown>;

  /** Starts the peer in `ns`; each request fails after `timeoutMs` without an answer. Throws
   * when the binary is not built. */
  constructor(ns: string, timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    const binary = interopBinaryPath();
    try {
      Deno.statSync(binary);
    } catch {
      throw new Error(
        `the interop peer binary is missing at ${binary}; run \`deno task build:interop\` first`,
      );
    }
    this.proc = new Deno.Command("ip", {
      args: ["netns", "exec", ns, binary],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#writer = this.proc.stdin.getWriter();
    this.done = readLines(this.proc.stdout, (l) => {
      const answer = JSON.parse(l);
      this.#pending.get(answer.id)?.(answer);
      this.#pending.delete(answer.id);
    });
  }

  /** Sends one command; resolves to its answer, rejects when it failed or timed out. */
  async request(cmd: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = ++this.#next;
    const answer = new Promise<Record<string, unknown>>((r) => this.#pending.set(id, r));
    await this.#writer.write(new TextEncoder().encode(JSON.stringify({ id, cmd, ...args }) + "\n"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${cmd}: no answer in ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    try {
      const a = await Promise.race([answer, timeout]);
      if (a.ok !== true) throw new Error(`${cmd} failed: ${a.error}`);
      return a;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Node ids the chitchat node holds live (itself included), sorted. */
  async live(handle: number): Promise<string[]> {
    const s = await this.request("node_state", { handle });
    return (s.live as { nodeId: string }[]).map((id) => id.nodeId).sort();
  }

  /** Closing stdin makes the peer abort its nodes and exit. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
  }
}
