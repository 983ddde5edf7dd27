/**
 * The hearsay worker: runs one {@link GossipPool} member from the command line and prints each
 * topology event as one JSON line (a readable line when stdout is a terminal).
 *
 * Who needs it: operators who run pool members as processes (`deno run -A
 * jsr:@hearsay/gossip/worker --node-id 1 --listen 127.0.0.1:7946 --seed 127.0.0.1:7947`), and
 * programs that embed the same command line ({@link runWorker}, {@link parseWorkerArgs}).
 *
 * @example Parse a command line without running it
 * ```ts
 * import { parseWorkerArgs } from "./worker.ts";
 * const opts = parseWorkerArgs(["--node-id", "1", "--seed", "127.0.0.1:7947", "--label", "zone=a"]);
 * console.log(opts.nodeId, opts.seeds, opts.selfInfo.labels); // 1n [ "127.0.0.1:7947" ] { zone: "a" }
 * ```
 *
 * @module
 */
import { HearsayError } from "../common/errors.ts";
import { PARTIAL_DIGEST_MODES, type PartialDigestMode } from "../node/_partial_digest.ts";
import { GossipPool, type TopologyEvent } from "../pool/pool.ts";
import {
  exitProcess,
  type HttpServer,
  isEntry,
  onSignal,
  processArgs,
  runCommand,
  serveHttp,
  stdoutIsTerminal,
  writeLine,
} from "./_host.ts";
import { type PeerInfo, peerInfoToJson, validatePeerInfo } from "../pool/peer_info.ts";
import { formatSocketAddr, parseSocketAddr } from "../common/socket_addr.ts";
import { KeyringError, loadKeyringFile } from "../transport/keyring.ts";
import { EncryptedTransport } from "../transport/encrypted.ts";
import { bindUdp } from "../transport/udp.ts";
import type { SocketAddr } from "../common/types.ts";
import {
  CommandWgRunner,
  type OverlayCidr,
  parseOverlayCidr,
  parseWgKey,
  pickOverlayIp,
  prepareWgInterface,
  resolveOverlayConflict,
  type TunnelStatus,
  WgKeyError,
  WireGuardReconciler,
} from "../wireguard/mod.ts";
import { defaultWgStateFile } from "../wireguard/_state_file.ts";
import { prometheus } from "./_prometheus.ts";

/** The worker's `--help` text.
 *
 * @example
 * ```ts
 * import { WORKER_HELP } from "./worker.ts";
 * console.log(WORKER_HELP.split("\n")[0]);
 * ```
 */
export const WORKER_HELP: string =
  `hearsay worker: one member of a gossip pool (chitchat 0.10 / zlayer compatible)

Usage: deno run -A <hearsay>/worker [flags]
       node <hearsay>/src/cli/worker.js [flags]   (Node 22.15+; bun the same on Bun 1.2.17+)

Flags:
  --node-id <u64>          this worker's id (required); its gossip node id is worker:<id>
  --listen <ip:port>       UDP address to bind (default 127.0.0.1:7946; port 0 = any free port)
  --advertise <ip:port>    address peers gossip to (default: the bound address; required
                           when --listen is 0.0.0.0 or ::)
  --seed <host:port>       a pool member to contact (repeatable)
  --cluster-id <text>      pools with other ids are ignored (default "default-cluster")
  --wg-pubkey <text>       WireGuard public key to publish (default "", or with --wg-interface
                           the interface's key, which it must then match)
  --wg-endpoint <ip:port>  WireGuard UDP endpoint to publish (default 0.0.0.0:0, or with
                           --wg-interface the advertise IP and the interface's listen port)
  --wg-interface <name>    keep this WireGuard interface's peers equal to the pool's live
                           peers (allowed IPs overlay_ip/32 or /128), with the wg tool
  --wg-private-key-file <path>
                           set the interface's private key from this file (created, mode
                           0600, when missing); SIGHUP re-reads it (key rotation)
  --wg-keepalive <s>       persistent keepalive for configured peers (default 25; 0 = off)
  --wg-resync-ms <ms>      re-read the interface this often to converge (default 5000)
  --wg-prune               also remove peers this worker did not add
  --wg-state-file <path>   record the peers this worker configures, so a restart removes
                           those that left meanwhile (default <iface>.peers.json beside
                           --wg-private-key-file, else /var/lib/hearsay/; "off" = none)
  --overlay-cidr <ip/len>  instead of --overlay-ip: pick a free overlay address in this network
                           (from the node id, skipping addresses live peers hold); when two
                           live peers claim one address, the higher node id moves
  --wg-set-address         with --wg-interface and --overlay-cidr: also set the picked address
                           (ip/len) on the interface, and move it when the address moves
  --overlay-ip <text>      overlay IP to publish (default "")
  --label <k=v>            a label to publish (repeatable)
  --interval-ms <ms>       gossip interval (default 1000)
  --initial-interval-ms <ms>
                           failure detector prior for the heartbeat interval (default 5000,
                           chitchat's); lower detects dead peers sooner
  --generation <u64>       incarnation number (default: start time in ms)
  --protocol-version <0|1> chitchat wire version of the Syns sent (default 0; 1 = V1,
                           compressed digests, read by chitchat 0.12+ and hearsay only);
                           replies follow the version of the message answered
  --past-one-datagram <off|rotate|random|compact>
                           once this node's V0 digest outgrows a datagram (about 963
                           zlayer-style ids): off (default: drop and warn, as chitchat) or
                           send partial digests; compact adds compact heartbeat entries
                           (docs/PROTOCOL.md section 16)
  --fd-backend <wasm|compact>
                           failure-detector windows: wasm (default, chitchat's exact window)
                           or compact (100 bytes a peer instead of ~8 KB, for large clusters)
  --keyring-file <path>    encrypt and authenticate gossip with the AES-GCM keys in this JSON
                           file ({"primary": "<base64>", "keys": [...]}, see docs/SECURITY.md);
                           without it the wire is plain chitchat
  --status-addr <ip:port>  serve GET /peers (JSON) and GET /metrics (Prometheus) on this
                           loopback address
  --help                   show this text

Output: one JSON line per topology event on stdout, e.g.
  {"event":"joined","node_id":2,"wg_pubkey":"","wg_endpoint":"0.0.0.0:0","overlay_ip":"","labels":{}}
  {"event":"left","node_id":2,"reason":"failed"}
  with --wg-interface also, when a tunnel goes up or down:
  {"event":"tunnel","node_id":2,"up":true,"handshake_age_seconds":3}
SIGINT or SIGTERM leaves the pool gracefully (peers see "left" at once) and exits 0.
A bad flag or value prints one line to stderr and exits 2.`;

/** Parsed worker flags.
 *
 * @example
 * ```ts
 * import { parseWorkerArgs } from "./worker.ts";
 * const opts = parseWorkerArgs(["--node-id", "7", "--label", "zone=a"]);
 * console.log(opts.nodeId, opts.selfInfo.labels);
 * ```
 */
export interface WorkerOptions {
  /** `--node-id` */
  readonly nodeId: bigint;
  /** `--listen` */
  readonly listen: string;
  /** `--advertise` */
  readonly advertise: string | undefined;
  /** `--seed` */
  readonly seeds: string[];
  /** `--cluster-id` */
  readonly clusterId: string;
  /** What the worker publishes (`--wg-pubkey`, `--wg-endpoint`, `--overlay-ip`, `--label`). */
  readonly selfInfo: PeerInfo;
  /** `--interval-ms` */
  readonly intervalMs: number;
  /** `--initial-interval-ms` */
  readonly initialIntervalMs: number;
  /** `--generation` */
  readonly generationId: bigint | undefined;
  /** `--protocol-version` (default 0). */
  readonly protocolVersion: 0 | 1;
  /** `--past-one-datagram` (default `"off"`). */
  readonly pastOneDatagram: PartialDigestMode;
  /** `--fd-backend` (default `"wasm"`). */
  readonly fdBackend: "wasm" | "compact";
  /** `--status-addr` */
  readonly statusAddr: SocketAddr | undefined;
  /** `--keyring-file` */
  readonly keyringFile: string | undefined;
  /** `--overlay-cidr` (then `selfInfo.overlayIp` is the first pick). */
  readonly overlayCidr: OverlayCidr | undefined;
  /** The WireGuard flags, when `--wg-interface` is given. */
  readonly wireguard: WorkerWireGuardOptions | undefined;
  /** `--help` was given. */
  readonly help: boolean;
}

/** The worker's WireGuard flags.
 *
 * @example
 * ```ts
 * import { parseWorkerArgs } from "./worker.ts";
 * const opts = parseWorkerArgs(["--node-id", "7", "--wg-interface", "wg0", "--wg-prune"]);
 * console.log(opts.wireguard); // { interface: "wg0", ..., keepaliveSeconds: 25, prune: true, ... }
 * ```
 */
export interface WorkerWireGuardOptions {
  /** `--wg-interface` */
  readonly interface: string;
  /** `--wg-private-key-file` */
  readonly privateKeyFile: string | undefined;
  /** `--wg-keepalive` */
  readonly keepaliveSeconds: number;
  /** `--wg-resync-ms` */
  readonly resyncMs: number;
  /** `--wg-prune` */
  readonly prune: boolean;
  /** `--wg-state-file` with its default applied; undefined for `off`. */
  readonly stateFile: string | undefined;
  /** `--wg-set-address` */
  readonly setAddress: boolean;
  /** `--wg-pubkey`, standard base64, when given (it must match the interface's key). */
  readonly pubkey: string | undefined;
  /** Whether `--wg-endpoint` was given (otherwise it is derived from the interface). */
  readonly endpointGiven: boolean;
}

/** A bad command line; the message is the one line the worker prints.
 *
 * @example
 * ```ts
 * import { parseWorkerArgs, UsageError } from "./worker.ts";
 * try {
 *   parseWorkerArgs(["--bogus"]);
 * } catch (e) {
 *   console.log(e instanceof UsageError, (e as Error).message);
 * }
 * ```
 */
export class UsageError extends HearsayError {}

const U64 = /^[0-9]{1,20}$/;
const VALUE_FLAGS = new Set([
  "node-id",
  "listen",
  "advertise",
  "seed",
  "cluster-id",
  "wg-pubkey",
  "wg-endpoint",
  "overlay-ip",
  "label",
  "interval-ms",
  "initial-interval-ms",
  "generation",
  "protocol-version",
  "past-one-datagram",
  "fd-backend",
  "status-addr",
  "keyring-file",
  "wg-interface",
  "wg-private-key-file",
  "wg-keepalive",
  "wg-resync-ms",
  "overlay-cidr",
  "wg-state-file",
]);
const BOOL_FLAGS = new Set(["wg-prune", "wg-set-address"]);

function u64(flag: string, v: string): bigint {
  if (!U64.test(v) || BigInt(v) >= 1n << 64n) {
    throw new UsageError(`--${flag} must be an unsigned 64-bit integer, got ${JSON.stringify(v)}`);
  }
  return BigInt(v);
}

function addr(flag: string, v: string): SocketAddr {
  try {
    return parseSocketAddr(v);
  } catch {
    throw new UsageError(`--${flag} must be ip:port or [ipv6]:port, got ${JSON.stringify(v)}`);
  }
}

/** Parses the worker's flags (`--flag value` or `--flag=value`); throws {@link UsageError}.
 *
 * @example
 * ```ts
 * import { parseWorkerArgs } from "./worker.ts";
 * const opts = parseWorkerArgs(["--node-id=7", "--seed", "10.0.0.1:7946", "--seed", "10.0.0.2:7946"]);
 * console.log(opts.nodeId, opts.seeds, opts.listen); // 7n [ "10.0.0.1:7946", "10.0.0.2:7946" ] 127.0.0.1:7946
 * ```
 */
export function parseWorkerArgs(args: readonly string[]): WorkerOptions {
  const values = new Map<string, string[]>();
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (m === null) throw new UsageError(`unexpected argument ${JSON.stringify(arg)} (see --help)`);
    const name = m[1]!;
    if (BOOL_FLAGS.has(name)) {
      if (m[2] !== undefined) throw new UsageError(`--${name} takes no value`);
      if (values.has(name)) throw new UsageError(`--${name} given twice`);
      values.set(name, [""]);
      continue;
    }
    if (!VALUE_FLAGS.has(name)) throw new UsageError(`unknown flag --${name} (see --help)`);
    let value = m[2];
    if (value === undefined) {
      value = args[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
    }
    const list = values.get(name) ?? [];
    if (list.length > 0 && name !== "seed" && name !== "label") {
      throw new UsageError(`--${name} given twice`);
    }
    list.push(value);
    values.set(name, list);
  }
  const one = (name: string): string | undefined => values.get(name)?.[0];
  if (help) {
    return {
      nodeId: 0n,
      listen: "",
      advertise: undefined,
      seeds: [],
      clusterId: "",
      selfInfo: { nodeId: 0n, wgPubkey: "", wgEndpoint: "0.0.0.0:0", overlayIp: "", labels: {} },
      intervalMs: 0,
      initialIntervalMs: 0,
      generationId: undefined,
      protocolVersion: 0,
      pastOneDatagram: "off",
      fdBackend: "wasm",
      statusAddr: undefined,
      keyringFile: undefined,
      wireguard: undefined,
      overlayCidr: undefined,
      help,
    };
  }
  const idText = one("node-id");
  if (idText === undefined) throw new UsageError("--node-id is required (see --help)");
  const nodeId = u64("node-id", idText);
  const listen = one("listen") ?? "127.0.0.1:7946";
  addr("listen", listen);
  const advertise = one("advertise");
  if (advertise !== undefined) addr("advertise", advertise);
  const seeds = values.get("seed") ?? [];
  for (const s of seeds) {
    if (!/^(\[[^\]]+\]|[^:\s]+):[0-9]{1,5}$/.test(s) || Number(s.split(":").at(-1)) > 65_535) {
      throw new UsageError(
        `--seed must be host:port, ip:port or [ipv6]:port, got ${JSON.stringify(s)}`,
      );
    }
  }
  const labels: Record<string, string> = {};
  for (const l of values.get("label") ?? []) {
    const eq = l.indexOf("=");
    if (eq <= 0) throw new UsageError(`--label must be key=value, got ${JSON.stringify(l)}`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const wgEndpoint = one("wg-endpoint") ?? "0.0.0.0:0";
  addr("wg-endpoint", wgEndpoint);
  const intervalText = one("interval-ms") ?? "1000";
  const intervalMs = Number(intervalText);
  if (!/^[0-9]+$/.test(intervalText) || intervalMs < 1 || intervalMs > 3_600_000) {
    throw new UsageError(
      `--interval-ms must be an integer in 1..3600000, got ${JSON.stringify(intervalText)}`,
    );
  }
  const priorText = one("initial-interval-ms") ?? "5000";
  const initialIntervalMs = Number(priorText);
  if (!/^[0-9]+$/.test(priorText) || initialIntervalMs < 1 || initialIntervalMs > 3_600_000) {
    throw new UsageError(
      `--initial-interval-ms must be an integer in 1..3600000, got ${JSON.stringify(priorText)}`,
    );
  }
  const gen = one("generation");
  const past = one("past-one-datagram") ?? "off";
  if (!(PARTIAL_DIGEST_MODES as readonly string[]).includes(past)) {
    throw new UsageError(
      `--past-one-datagram must be ${PARTIAL_DIGEST_MODES.join(", ")}, got ${JSON.stringify(past)}`,
    );
  }
  const fdBackend = one("fd-backend") ?? "wasm";
  if (fdBackend !== "wasm" && fdBackend !== "compact") {
    throw new UsageError(`--fd-backend must be wasm or compact, got ${JSON.stringify(fdBackend)}`);
  }
  const versionText = one("protocol-version") ?? "0";
  if (versionText !== "0" && versionText !== "1") {
    throw new UsageError(
      `--protocol-version must be 0 (V0, every chitchat) or 1 (V1, chitchat 0.12+), got ${
        JSON.stringify(versionText)
      }`,
    );
  }
  const statusText = one("status-addr");
  let statusAddr: SocketAddr | undefined;
  if (statusText !== undefined) {
    statusAddr = addr("status-addr", statusText);
    if (!(statusAddr.ip.startsWith("127.") || statusAddr.ip === "::1")) {
      throw new UsageError(`--status-addr must be a loopback address, got ${statusText}`);
    }
  }
  const wgInterface = one("wg-interface");
  let wireguard: WorkerWireGuardOptions | undefined;
  if (wgInterface === undefined) {
    const wgOnly = ["wg-private-key-file", "wg-keepalive", "wg-resync-ms", "wg-prune"];
    for (const f of [...wgOnly, "wg-set-address", "wg-state-file"]) {
      if (values.has(f)) throw new UsageError(`--${f} needs --wg-interface`);
    }
  } else {
    if (!/^[A-Za-z0-9_.=+-]{1,15}$/.test(wgInterface)) {
      throw new UsageError(
        `--wg-interface must be an interface name of 1 to 15 characters [A-Za-z0-9_.=+-], ` +
          `got ${JSON.stringify(wgInterface)}`,
      );
    }
    const kaText = one("wg-keepalive") ?? "25";
    if (!/^[0-9]{1,5}$/.test(kaText) || Number(kaText) > 65_535) {
      throw new UsageError(
        `--wg-keepalive must be seconds in 0..65535 (0 = off), got ${JSON.stringify(kaText)}`,
      );
    }
    const resyncText = one("wg-resync-ms") ?? "5000";
    const resyncMs = Number(resyncText);
    if (!/^[0-9]+$/.test(resyncText) || resyncMs < 100 || resyncMs > 3_600_000) {
      throw new UsageError(
        `--wg-resync-ms must be an integer in 100..3600000, got ${JSON.stringify(resyncText)}`,
      );
    }
    const pk = one("wg-pubkey");
    let pubkey: string | undefined;
    if (pk !== undefined) {
      try {
        pubkey = parseWgKey(pk);
      } catch (e) {
        throw new UsageError(`--wg-pubkey: ${(e as WgKeyError).message}`);
      }
    }
    const keyFile = one("wg-private-key-file");
    const stateText = one("wg-state-file") ?? defaultWgStateFile(wgInterface, keyFile);
    wireguard = {
      interface: wgInterface,
      privateKeyFile: keyFile,
      keepaliveSeconds: Number(kaText),
      resyncMs,
      prune: values.has("wg-prune"),
      stateFile: stateText === "off" ? undefined : stateText,
      setAddress: values.has("wg-set-address"),
      pubkey,
      endpointGiven: values.has("wg-endpoint"),
    };
  }
  const cidrText = one("overlay-cidr");
  let overlayCidr: OverlayCidr | undefined;
  let overlayIp = one("overlay-ip") ?? "";
  if (cidrText !== undefined) {
    if (values.has("overlay-ip")) {
      throw new UsageError("--overlay-cidr and --overlay-ip exclude each other");
    }
    try {
      overlayCidr = parseOverlayCidr(cidrText);
    } catch (e) {
      throw new UsageError(
        `--overlay-cidr must be a network ip/len such as 10.42.0.0/16, got ` +
          `${JSON.stringify(cidrText)} (${(e as Error).message})`,
      );
    }
    overlayIp = pickOverlayIp(overlayCidr, nodeId, new Set());
  } else if (values.has("wg-set-address")) {
    throw new UsageError("--wg-set-address needs --overlay-cidr (the address length)");
  }
  return {
    nodeId,
    listen,
    advertise,
    seeds,
    clusterId: one("cluster-id") ?? "default-cluster",
    selfInfo: validatePeerInfo({
      nodeId,
      wgPubkey: one("wg-pubkey") ?? "",
      wgEndpoint,
      overlayIp,
      labels,
    }),
    intervalMs,
    initialIntervalMs,
    generationId: gen === undefined ? undefined : u64("generation", gen),
    protocolVersion: versionText === "1" ? 1 : 0,
    pastOneDatagram: past as PartialDigestMode,
    fdBackend,
    statusAddr,
    keyringFile: one("keyring-file"),
    wireguard,
    overlayCidr,
    help,
  };
}

/** One topology event as the worker's JSON line.
 *
 * @example
 * ```ts
 * import { eventToJsonLine } from "./worker.ts";
 * console.log(eventToJsonLine({ type: "left", nodeId: 18446744073709551615n, reason: "left" }));
 * // {"event":"left","node_id":18446744073709551615,"reason":"left"}
 * ```
 */
export function eventToJsonLine(e: TopologyEvent): string {
  if (e.type === "left") return `{"event":"left","node_id":${e.nodeId},"reason":"${e.reason}"}`;
  return `{"event":"${e.type}",${peerInfoToJson(e.peer).slice(1)}`;
}

function readable(e: TopologyEvent): string {
  const time = new Date().toISOString().slice(11, 23);
  if (e.type === "left") return `${time}  left     worker ${e.nodeId} (${e.reason})`;
  const p = e.peer;
  const labels = Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(",");
  return `${time}  ${e.type.padEnd(8)} worker ${p.nodeId}  wg=${p.wgEndpoint} ` +
    `overlay=${p.overlayIp || "-"}${labels ? ` labels=${labels}` : ""}`;
}

function tunnelJsonLine(t: TunnelStatus): string {
  return `{"event":"tunnel","node_id":${t.nodeId},"up":${t.up},"handshake_age_seconds":${
    t.handshakeAgeSeconds ?? null
  }}`;
}

function readableTunnel(t: TunnelStatus): string {
  const time = new Date().toISOString().slice(11, 23);
  const hs = t.handshakeAgeSeconds === undefined
    ? "no handshake"
    : `handshake ${t.handshakeAgeSeconds} s ago`;
  return `${time}  tunnel   worker ${t.nodeId} ${t.up ? "up" : "down"}  ` +
    `overlay=${t.allowedIp} via ${t.endpoint ?? "-"} (${hs})`;
}

/** A peer's /peers entry: its PeerInfo JSON, plus its tunnel when WireGuard is on. */
function peerJson(peer: PeerInfo, wg: WireGuardReconciler | undefined): string {
  const json = peerInfoToJson(peer);
  if (wg === undefined) return json;
  const t = wg.tunnels().find((x) => x.nodeId === peer.nodeId);
  const refused = wg.refused.find((r) => r.nodeId === peer.nodeId);
  const tunnel = `{"configured":${t !== undefined},"up":${t?.up ?? false},` +
    `"handshake_age_seconds":${t?.handshakeAgeSeconds ?? null},"refused":${
      refused === undefined ? null : JSON.stringify(refused.reason)
    }}`;
  return `${json.slice(0, -1)},"tunnel":${tunnel}}`;
}

/** Runs the worker until SIGINT/SIGTERM; returns the exit code (0, or 2 for usage errors).
 *
 * @example
 * ```ts
 * import { runWorker } from "./worker.ts";
 * console.log(await runWorker(["--node-id", "not-a-number"])); // 2 (the reason goes to stderr)
 * ```
 */
export async function runWorker(args: readonly string[]): Promise<number> {
  let opts: WorkerOptions;
  try {
    opts = parseWorkerArgs(args);
  } catch (e) {
    if (e instanceof Error && e.name === "UsageError") {
      console.error(`hearsay worker: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (opts.help) {
    console.log(WORKER_HELP);
    return 0;
  }
  let transport: EncryptedTransport | undefined;
  if (opts.keyringFile !== undefined) {
    try {
      const keyring = await loadKeyringFile(opts.keyringFile);
      transport = new EncryptedTransport(await bindUdp(parseSocketAddr(opts.listen)), keyring);
    } catch (e) {
      console.error(`hearsay worker: ${(e as Error).message}`);
      return e instanceof KeyringError ? 2 : 1;
    }
  }
  const wgo = opts.wireguard;
  let selfInfo = opts.selfInfo;
  if (wgo !== undefined) {
    let iface;
    try {
      iface = await prepareWgInterface(wgo.interface, {
        runner: new CommandWgRunner(),
        ...(wgo.privateKeyFile !== undefined ? { privateKeyFile: wgo.privateKeyFile } : {}),
      });
    } catch (e) {
      await transport?.close();
      console.error(`hearsay worker: --wg-interface ${wgo.interface}: ${(e as Error).message}`);
      return e instanceof WgKeyError ? 2 : 1;
    }
    if (wgo.pubkey !== undefined && wgo.pubkey !== iface.publicKey) {
      await transport?.close();
      console.error(
        `hearsay worker: --wg-pubkey ${wgo.pubkey} does not match the public key of ` +
          `${wgo.interface}, ${iface.publicKey} (leave --wg-pubkey out to publish the interface's)`,
      );
      return 2;
    }
    let wgEndpoint = selfInfo.wgEndpoint;
    if (!wgo.endpointGiven) {
      const ip = parseSocketAddr(opts.advertise ?? opts.listen).ip;
      if (ip === "0.0.0.0" || ip === "::" || iface.listenPort === 0) {
        await transport?.close();
        console.error(
          `hearsay worker: cannot derive --wg-endpoint: ${
            iface.listenPort === 0
              ? `${wgo.interface} has no listen port`
              : `the gossip address ${ip} is unspecified`
          }; give --wg-endpoint ip:port (or --advertise)`,
        );
        return 2;
      }
      wgEndpoint = formatSocketAddr({ ip, port: iface.listenPort });
    }
    selfInfo = validatePeerInfo({ ...selfInfo, wgPubkey: iface.publicKey, wgEndpoint });
  }
  let pool: GossipPool;
  try {
    pool = await GossipPool.start({
      nodeId: opts.nodeId,
      gossipListen: opts.listen,
      seeds: opts.seeds,
      clusterId: opts.clusterId,
      selfInfo,
      gossipIntervalMs: opts.intervalMs,
      failureDetector: { initialIntervalMs: opts.initialIntervalMs },
      protocolVersion: opts.protocolVersion,
      pastOneDatagram: opts.pastOneDatagram,
      failureDetectorBackend: opts.fdBackend,
      ...(opts.advertise !== undefined ? { advertiseAddr: opts.advertise } : {}),
      ...(opts.generationId !== undefined ? { generationId: opts.generationId } : {}),
      ...(transport !== undefined ? { transport } : {}),
    });
  } catch (e) {
    await transport?.close();
    console.error(`hearsay worker: cannot start: ${(e as Error).message}`);
    return e instanceof Error && e.name === "ConfigError" ? 2 : 1;
  }
  const tty = stdoutIsTerminal();
  const write = writeLine;
  let wg: WireGuardReconciler | undefined;
  if (wgo !== undefined) {
    const upNow = new Map<bigint, boolean>();
    const reconciler: WireGuardReconciler = new WireGuardReconciler({
      interface: wgo.interface,
      keepaliveSeconds: wgo.keepaliveSeconds,
      prune: wgo.prune,
      resyncIntervalMs: wgo.resyncMs,
      ...(wgo.stateFile !== undefined ? { stateFile: wgo.stateFile } : {}),
      staleGraceMs: Math.max(2_000, 10 * opts.intervalMs),
      selfPublicKey: selfInfo.wgPubkey,
      ...(selfInfo.overlayIp !== "" ? { selfOverlayIp: selfInfo.overlayIp } : {}),
      onWarning: (m) => console.error(`hearsay worker: wireguard: ${m}`),
      onRun: () => {
        const seen = new Set<bigint>();
        for (const t of reconciler.tunnels()) {
          seen.add(t.nodeId);
          if (upNow.get(t.nodeId) === t.up) continue;
          if (!t.up && !upNow.has(t.nodeId)) {
            upNow.set(t.nodeId, false); // a new tunnel still down: nothing to say yet
            continue;
          }
          upNow.set(t.nodeId, t.up);
          write(tty ? readableTunnel(t) : tunnelJsonLine(t));
        }
        for (const id of upNow.keys()) if (!seen.has(id)) upNow.delete(id);
      },
    });
    wg = reconciler;
    reconciler.follow(pool);
    console.error(
      `hearsay worker ${opts.nodeId}: WireGuard ${wgo.interface} key ${selfInfo.wgPubkey} ` +
        `endpoint ${selfInfo.wgEndpoint}`,
    );
  }
  console.error(
    `hearsay worker ${opts.nodeId} gossiping on ${pool.gossipAddr}, cluster ${pool.clusterId}`,
  );
  let server: HttpServer | undefined;
  if (opts.statusAddr !== undefined) {
    const p = pool;
    server = await serveHttp({
      hostname: opts.statusAddr.ip,
      port: opts.statusAddr.port,
      onListen: ({ port }) =>
        console.error(`status on http://${formatSocketAddr({ ...opts.statusAddr!, port })}`),
    }, (req) => {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET") return new Response("method not allowed\n", { status: 405 });
      if (path === "/peers") {
        const body = `[${p.peers().map((peer) => peerJson(peer, wg)).join(",")}]`;
        return new Response(body, { headers: { "content-type": "application/json" } });
      }
      if (path === "/metrics") {
        return new Response(prometheus(p, transport, wg), {
          headers: { "content-type": "text/plain; version=0.0.4" },
        });
      }
      return new Response("not found: try /peers or /metrics\n", { status: 404 });
    });
  }
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  const unlisten = (["SIGINT", "SIGTERM"] as const).map((s) => onSignal(s, stop));
  let rotating = Promise.resolve();
  const rotate = () => {
    rotating = rotating.then(async () => {
      if (wgo === undefined || wg === undefined) return;
      try {
        const iface = await prepareWgInterface(wgo.interface, {
          ...(wgo.privateKeyFile !== undefined ? { privateKeyFile: wgo.privateKeyFile } : {}),
        });
        const current = pool.selfInfo();
        if (iface.publicKey === current.wgPubkey) {
          console.error(`hearsay worker: SIGHUP: key of ${wgo.interface} unchanged`);
          return;
        }
        wg.setSelf({ publicKey: iface.publicKey });
        pool.announceSelf({ ...current, wgPubkey: iface.publicKey });
        console.error(`hearsay worker: SIGHUP: ${wgo.interface} key rotated to ${iface.publicKey}`);
      } catch (e) {
        console.error(`hearsay worker: SIGHUP: key rotation failed: ${(e as Error).message}`);
      }
    });
  };
  if (wgo !== undefined) unlisten.push(onSignal("SIGHUP", rotate));
  const cidr = opts.overlayCidr;
  const setAddress = wgo?.setAddress === true && cidr !== undefined;
  const ipAddr = async (op: "add" | "del", ip: string) => {
    const args = ["addr", op, `${ip}/${cidr!.prefix}`, "dev", wgo!.interface];
    const out = await runCommand("ip", args);
    const err = out.stderr.trim();
    if (!out.success && !(op === "add" && err.includes("File exists"))) {
      console.error(`hearsay worker: ip ${args.join(" ")} failed: ${err}`);
    }
  };
  if (setAddress) await ipAddr("add", selfInfo.overlayIp);
  let moving = Promise.resolve();
  const checkAddress = () => {
    if (cidr === undefined) return;
    moving = moving.then(async () => {
      const current = pool.selfInfo();
      const next = resolveOverlayConflict(cidr, opts.nodeId, current.overlayIp, pool.peers());
      if (next === undefined) return;
      console.error(
        `hearsay worker: overlay address ${current.overlayIp} is claimed by a lower node id; ` +
          `moving to ${next}`,
      );
      // Delete first: removing a primary IPv4 address also removes the secondaries of its
      // subnet (unless promote_secondaries is set), so adding first could lose the new one.
      if (setAddress) await ipAddr("del", current.overlayIp);
      if (setAddress) await ipAddr("add", next);
      pool.announceSelf({ ...current, overlayIp: next });
      wg?.setSelf({ overlayIp: next });
    });
  };
  const printing = (async () => {
    for await (const e of pool.subscribe()) {
      write(tty ? readable(e) : eventToJsonLine(e));
      checkAddress();
    }
  })();
  await stopped;
  for (const off of unlisten) off();
  await rotating;
  await moving;
  await wg?.close();
  await pool.close();
  await printing;
  await server?.shutdown();
  console.error(`hearsay worker ${opts.nodeId} left the pool`);
  return 0;
}

if (isEntry(import.meta.url, import.meta.main)) exitProcess(await runWorker(processArgs()));
