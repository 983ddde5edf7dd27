/**
 * Overlay addresses without collisions: a worker given a CIDR instead of an address picks one
 * that no live peer holds, and when two live peers claim the same address a deterministic rule
 * moves exactly one of them (the higher node id), so both converge.
 *
 * @module
 */
import type { PeerInfo } from "../pool/peer_info.ts";
import { ConfigError } from "../common/errors.ts";
import { formatIp, parseIp } from "../common/socket_addr.ts";

/** A parsed overlay network.
 *
 * @example
 * ```ts
 * import { type OverlayCidr, parseOverlayCidr } from "./mod.ts";
 * const c: OverlayCidr = parseOverlayCidr("fd42::/64");
 * console.log(c.text, c.prefix, c.network.length); // fd42::/64 64 16
 * ```
 */
export interface OverlayCidr {
  /** The network address bytes (4 or 16). */
  readonly network: Uint8Array;
  /** Prefix length. */
  readonly prefix: number;
  /** Canonical text, `10.42.0.0/16`. */
  readonly text: string;
}

const toBig = (b: Uint8Array): bigint => b.reduce((n, x) => (n << 8n) | BigInt(x), 0n);
const fromBig = (n: bigint, len: number): Uint8Array => {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--, n >>= 8n) out[i] = Number(n & 255n);
  return out;
};

/** Parses an overlay CIDR (`10.42.0.0/16`, `fd42::/64`); host bits must be zero and at least
 * two usable addresses must remain. Throws a `ConfigError`.
 *
 * @example
 * ```ts
 * import { parseOverlayCidr } from "./mod.ts";
 * console.log(parseOverlayCidr("10.42.0.0/16").text); // 10.42.0.0/16
 * ```
 */
export function parseOverlayCidr(text: string): OverlayCidr {
  const m = /^([^/]+)\/([0-9]{1,3})$/.exec(text);
  let bytes: Uint8Array | undefined;
  try {
    bytes = m ? parseIp(m[1]!) : undefined;
  } catch {
    bytes = undefined;
  }
  if (m === null || bytes === undefined) {
    throw new ConfigError("overlayCidr", `must be ip/prefix, e.g. 10.42.0.0/16, got ${text}`);
  }
  const bits = bytes.length * 8;
  const prefix = Number(m[2]);
  if (prefix > bits - 2 || prefix < 1) {
    throw new ConfigError("overlayCidr", `prefix must be 1..${bits - 2}, got /${prefix}`);
  }
  const host = (1n << BigInt(bits - prefix)) - 1n;
  if ((toBig(bytes) & host) !== 0n) {
    throw new ConfigError(
      "overlayCidr",
      `${text} has host bits set (the network address is expected)`,
    );
  }
  return { network: bytes, prefix, text: `${formatIp(bytes)}/${prefix}` };
}

/** Whether `ip` lies in `cidr` (and is not its network or IPv4 broadcast address).
 *
 * @example
 * ```ts
 * import { inOverlayCidr, parseOverlayCidr } from "./mod.ts";
 * const c = parseOverlayCidr("10.42.0.0/16");
 * console.log(inOverlayCidr(c, "10.42.3.4"), inOverlayCidr(c, "10.43.0.1")); // true false
 * ```
 */
export function inOverlayCidr(cidr: OverlayCidr, ip: string): boolean {
  let b: Uint8Array;
  try {
    b = parseIp(ip);
  } catch {
    return false;
  }
  if (b.length !== cidr.network.length) return false;
  const bits = b.length * 8;
  const size = 1n << BigInt(bits - cidr.prefix);
  const off = toBig(b) - toBig(cidr.network);
  return off > 0n && off < size - (b.length === 4 ? 1n : 0n);
}

function fnv1a(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const c of new TextEncoder().encode(text)) {
    h ^= BigInt(c);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

/** Picks this node's overlay address in `cidr`: a position derived from the node id, then the
 * next address (wrapping) that no entry of `taken` holds. Deterministic. Throws a
 * `ConfigError` when every address is taken.
 *
 * @example
 * ```ts
 * import { parseOverlayCidr, pickOverlayIp } from "./mod.ts";
 * const c = parseOverlayCidr("10.42.0.0/24");
 * const first = pickOverlayIp(c, 7n, new Set());
 * console.log(first === pickOverlayIp(c, 7n, new Set()), pickOverlayIp(c, 7n, new Set([first])) !== first);
 * // true true
 * ```
 */
export function pickOverlayIp(
  cidr: OverlayCidr,
  nodeId: bigint,
  taken: ReadonlySet<string>,
): string {
  const len = cidr.network.length;
  const bits = len * 8;
  const size = 1n << BigInt(bits - cidr.prefix);
  const usable = size - (len === 4 ? 2n : 1n); // offsets 1..usable
  const base = toBig(cidr.network);
  const start = fnv1a(String(nodeId)) % usable;
  const limit = usable < 1_000_000n ? usable : 1_000_000n;
  for (let i = 0n; i < limit; i++) {
    const ip = formatIp(fromBig(base + 1n + ((start + i) % usable), len));
    if (!taken.has(ip)) return ip;
  }
  throw new ConfigError("overlayCidr", `${cidr.text} has no free address left`);
}

/** The deterministic conflict rule: when live peers claim the address this node holds, the
 * lowest node id keeps it. Returns the new address this node must move to (free among every
 * live peer's), or undefined when it keeps its own.
 *
 * @example
 * ```ts
 * import { parseOverlayCidr, resolveOverlayConflict } from "./mod.ts";
 * const c = parseOverlayCidr("10.42.0.0/24");
 * const peer = (id: bigint, ip: string) =>
 *   ({ nodeId: id, wgPubkey: "", wgEndpoint: "10.0.0.1:51820", overlayIp: ip, labels: {} });
 * console.log(resolveOverlayConflict(c, 5n, "10.42.0.9", [peer(3n, "10.42.0.9")]) !== undefined); // true: 5 moves
 * console.log(resolveOverlayConflict(c, 3n, "10.42.0.9", [peer(5n, "10.42.0.9")])); // undefined: 3 keeps it
 * ```
 */
export function resolveOverlayConflict(
  cidr: OverlayCidr,
  selfId: bigint,
  selfIp: string,
  peers: readonly PeerInfo[],
): string | undefined {
  const lower = peers.some((p) => p.overlayIp === selfIp && p.nodeId < selfId);
  if (!lower && inOverlayCidr(cidr, selfIp)) return undefined;
  return pickOverlayIp(cidr, selfId, new Set(peers.map((p) => p.overlayIp)));
}
