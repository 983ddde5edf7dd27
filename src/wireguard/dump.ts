/**
 * Parsing `wg show <interface> dump`: tab-separated, the interface on the first line, then one
 * line per peer.
 *
 * @module
 */
import { WgCommandError } from "./errors.ts";
import { formatSocketAddr, parseSocketAddr } from "../common/socket_addr.ts";

/** One peer as the interface holds it.
 *
 * @example
 * ```ts
 * import { parseWgDump, type WgPeerState } from "./mod.ts";
 * const text = "PRIV\tPUB=\t51820\toff\n" +
 *   "PEER=\t(none)\t(none)\t10.42.0.2/32,10.42.1.0/24\t0\t1000\t2000\toff\n";
 * const p: WgPeerState = parseWgDump(text).peers.get("PEER=")!;
 * console.log(p.endpoint, p.allowedIps, p.rxBytes, p.txBytes, p.persistentKeepalive);
 * // undefined ["10.42.0.2/32", "10.42.1.0/24"] 1000 2000 0
 * ```
 */
export interface WgPeerState {
  /** Public key, standard base64. */
  readonly publicKey: string;
  /** Endpoint in canonical `ip:port` / `[ipv6]:port` form, or undefined when none. */
  readonly endpoint: string | undefined;
  /** Allowed IPs as `wg` prints them (`10.0.0.1/32`), in its order. */
  readonly allowedIps: readonly string[];
  /** Last handshake, seconds since the epoch; 0 when there was none. */
  readonly latestHandshake: number;
  /** Bytes received. */
  readonly rxBytes: number;
  /** Bytes sent. */
  readonly txBytes: number;
  /** Persistent keepalive in seconds; 0 when off. */
  readonly persistentKeepalive: number;
}

/** What an interface holds, from `wg show <if> dump`. The private key is not kept.
 *
 * @example
 * ```ts
 * import { parseWgDump, type WgInterfaceState } from "./mod.ts";
 * const s: WgInterfaceState = parseWgDump("(none)\t(none)\t0\toff\n"); // no key set yet
 * console.log(s.publicKey, s.listenPort, s.peers.size); // undefined 0 0
 * ```
 */
export interface WgInterfaceState {
  /** The interface's public key, or undefined when it has no private key yet. */
  readonly publicKey: string | undefined;
  /** UDP listen port (0 when none). */
  readonly listenPort: number;
  /** Peers by public key. */
  readonly peers: ReadonlyMap<string, WgPeerState>;
}

const num = (s: string, what: string, line: number): number => {
  if (!/^[0-9]+$/.test(s)) {
    throw new WgCommandError(["show", "<if>", "dump"], -1, `line ${line}: ${what} is ${s}`);
  }
  return Number(s);
};

/** Parses `wg show <if> dump` output.
 *
 * @example
 * ```ts
 * import { parseWgDump } from "./mod.ts";
 * const text = "PRIV\tPUB=\t51820\toff\n" +
 *   "PEER=\t(none)\t10.0.0.2:51820\t10.42.0.2/32\t1764680000\t1000\t2000\t25\n";
 * const s = parseWgDump(text);
 * console.log(s.publicKey, s.listenPort, s.peers.get("PEER=")?.allowedIps); // PUB= 51820 ["10.42.0.2/32"]
 * ```
 */
export function parseWgDump(text: string): WgInterfaceState {
  const lines = text.split("\n").filter((l) => l.length > 0);
  const head = lines[0]?.split("\t");
  if (head === undefined || head.length !== 4) {
    throw new WgCommandError(
      ["show", "<if>", "dump"],
      -1,
      `expected an interface line of 4 tab-separated fields, got ${JSON.stringify(lines[0] ?? "")}`,
    );
  }
  const peers = new Map<string, WgPeerState>();
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.split("\t");
    if (f.length !== 8) {
      throw new WgCommandError(
        ["show", "<if>", "dump"],
        -1,
        `line ${i + 1}: expected 8 tab-separated peer fields, got ${f.length}`,
      );
    }
    const [publicKey, , ep, ips, hs, rx, tx, ka] = f as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    let endpoint: string | undefined;
    if (ep !== "(none)") {
      try {
        endpoint = formatSocketAddr(parseSocketAddr(ep));
      } catch {
        endpoint = ep; // a form we do not know: kept as is, so it compares unequal
      }
    }
    peers.set(publicKey, {
      publicKey,
      endpoint,
      allowedIps: ips === "(none)" ? [] : ips.split(","),
      latestHandshake: num(hs, "latest-handshake", i + 1),
      rxBytes: num(rx, "transfer-rx", i + 1),
      txBytes: num(tx, "transfer-tx", i + 1),
      persistentKeepalive: ka === "off" ? 0 : num(ka, "persistent-keepalive", i + 1),
    });
  }
  return {
    publicKey: head[1] === "(none)" ? undefined : head[1],
    listenPort: num(head[2]!, "listen-port", 1),
    peers,
  };
}
