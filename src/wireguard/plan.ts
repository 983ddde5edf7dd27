/**
 * The pure part of the reconciler: from the live PeerInfos and what the interface holds, decide
 * which peers to set, change and remove, which PeerInfos to refuse, and the `wg set` argv that
 * applies it. No I/O: everything here can be shown and tested without root.
 *
 * @module
 */
import type { PeerInfo } from "../pool/peer_info.ts";
import { canonicalIp, formatSocketAddr, parseIp, parseSocketAddr } from "../common/socket_addr.ts";
import { parseWgKey } from "./key.ts";
import type { WgInterfaceState } from "./dump.ts";

/** Why a PeerInfo was not applied to the interface.
 *
 * - `bad_key`: the public key is not 32 bytes of base64 / base64url;
 * - `own_key`: the key is this node's own;
 * - `duplicate_key`: another live peer (lower node id) publishes the same key;
 * - `no_endpoint`: the endpoint is missing, unspecified (`0.0.0.0`, `::`) or has port 0;
 * - `bad_overlay_ip`: the overlay IP is empty or not an IP address;
 * - `overlay_ip_self`: the overlay IP is this node's own;
 * - `overlay_ip_conflict`: another live peer holds the same overlay IP (the peer already
 *   configured with it keeps it; between new ones the lowest node id does).
 *
 * @example
 * ```ts
 * import { parseWgDump, planReconcile, type RefusalReason } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const plan = planReconcile([
 *   { nodeId: 2n, wgPubkey: key(2), wgEndpoint: "0.0.0.0:51820", overlayIp: "10.42.0.2", labels: {} },
 * ], parseWgDump("PRIV\t(none)\t51820\toff\n"));
 * const reason: RefusalReason = plan.refused[0]!.reason;
 * console.log(reason); // no_endpoint
 * ```
 */
export type RefusalReason =
  | "bad_key"
  | "own_key"
  | "duplicate_key"
  | "no_endpoint"
  | "bad_overlay_ip"
  | "overlay_ip_self"
  | "overlay_ip_conflict";

/** Every {@link RefusalReason}, in a fixed order (for metrics).
 *
 * @example
 * ```ts
 * import { REFUSAL_REASONS, type RefusalReason } from "./mod.ts";
 * const counts = Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>;
 * counts.bad_key++;
 * console.log(REFUSAL_REASONS.length, REFUSAL_REASONS[0], counts.bad_key, counts.own_key); // 7 bad_key 1 0
 * ```
 */
export const REFUSAL_REASONS: readonly RefusalReason[] = [
  "bad_key",
  "own_key",
  "duplicate_key",
  "no_endpoint",
  "bad_overlay_ip",
  "overlay_ip_self",
  "overlay_ip_conflict",
];

/** A PeerInfo that was not applied, and why.
 *
 * @example
 * ```ts
 * import { desiredPeers, type Refusal } from "./mod.ts";
 * const { refused } = desiredPeers([
 *   { nodeId: 4n, wgPubkey: "nope", wgEndpoint: "10.0.0.4:51820", overlayIp: "10.42.0.4", labels: {} },
 * ]);
 * const r: Refusal = refused[0]!;
 * console.log(r.nodeId, r.reason, r.detail.startsWith("invalid WireGuard key")); // 4n bad_key true
 * ```
 */
export interface Refusal {
  /** The peer's node id. */
  readonly nodeId: bigint;
  /** The reason. */
  readonly reason: RefusalReason;
  /** A readable sentence saying what was wrong. */
  readonly detail: string;
}

/** A peer as the interface should hold it.
 *
 * @example
 * ```ts
 * import { type DesiredPeer, desiredPeers } from "./mod.ts";
 * const key = new Uint8Array(32).fill(2).toBase64();
 * const { desired } = desiredPeers([
 *   { nodeId: 2n, wgPubkey: key, wgEndpoint: "[FD00::2]:51820", overlayIp: "10.42.0.2", labels: {} },
 * ]);
 * const d: DesiredPeer = desired.get(key)!;
 * console.log(d.nodeId, d.endpoint, d.allowedIp); // 2n [fd00::2]:51820 10.42.0.2/32
 * ```
 */
export interface DesiredPeer {
  /** The node id that published it. */
  readonly nodeId: bigint;
  /** Public key, standard base64. */
  readonly publicKey: string;
  /** Endpoint, canonical `ip:port` / `[ipv6]:port`. */
  readonly endpoint: string;
  /** `overlay_ip/32` or `overlay_ip/128`. */
  readonly allowedIp: string;
}

/** One peer entry of a `wg set` invocation: only the fields that must change are set.
 *
 * @example
 * ```ts
 * import { parseWgDump, type PeerChange, planReconcile } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const state = parseWgDump(
 *   `PRIV\t${key(1)}\t51820\toff\n` +
 *     `${key(2)}\t(none)\t10.0.0.2:51820\t10.42.0.2/32\t0\t0\t0\t25\n`,
 * );
 * const peer = { nodeId: 2n, wgPubkey: key(2), wgEndpoint: "10.0.0.99:51820", overlayIp: "10.42.0.2", labels: {} };
 * const change: PeerChange = planReconcile([peer], state).set[0]!; // only the endpoint moved
 * console.log(change.endpoint, change.allowedIps, change.persistentKeepalive);
 * // 10.0.0.99:51820 undefined undefined
 * ```
 */
export interface PeerChange {
  /** Public key, standard base64. */
  readonly publicKey: string;
  /** New endpoint, when it changes. */
  readonly endpoint?: string;
  /** New allowed IPs (replacing the old ones), when they change. */
  readonly allowedIps?: readonly string[];
  /** New persistent keepalive in seconds (0 = off), when it changes. */
  readonly persistentKeepalive?: number;
}

/** The outcome of {@link planReconcile}.
 *
 * @example
 * ```ts
 * import { parseWgDump, planReconcile, type ReconcilePlan } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const state = parseWgDump(
 *   `PRIV\t${key(1)}\t51820\toff\n` +
 *     `${key(9)}\t(none)\t10.0.0.9:51820\t10.42.0.9/32\t0\t0\t0\t25\n`,
 * );
 * const plan: ReconcilePlan = planReconcile([
 *   { nodeId: 2n, wgPubkey: key(2), wgEndpoint: "10.0.0.2:51820", overlayIp: "10.42.0.2", labels: {} },
 *   { nodeId: 3n, wgPubkey: key(1), wgEndpoint: "10.0.0.3:51820", overlayIp: "10.42.0.3", labels: {} },
 * ], state, { prune: true });
 * console.log(plan.desired.size, plan.set.length, plan.remove[0] === key(9), plan.refused.map((r) => r.reason));
 * // 1 1 true ["own_key"]
 * ```
 */
export interface ReconcilePlan {
  /** The peers the interface should hold, by public key. */
  readonly desired: ReadonlyMap<string, DesiredPeer>;
  /** PeerInfos not applied. */
  readonly refused: readonly Refusal[];
  /** Peers to add or change. */
  readonly set: readonly PeerChange[];
  /** Public keys of peers to remove. */
  readonly remove: readonly string[];
}

/** Inputs of {@link planReconcile} besides the peers and the interface state.
 *
 * @example
 * ```ts
 * import { parseWgDump, type PlanOptions, planReconcile } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const options: PlanOptions = { selfPublicKey: key(1), selfOverlayIp: "10.42.0.1", keepaliveSeconds: 0 };
 * const plan = planReconcile([
 *   { nodeId: 2n, wgPubkey: key(2), wgEndpoint: "10.0.0.2:51820", overlayIp: "10.42.0.2", labels: {} },
 *   { nodeId: 3n, wgPubkey: key(3), wgEndpoint: "10.0.0.3:51820", overlayIp: "10.42.0.1", labels: {} },
 * ], parseWgDump("PRIV\t(none)\t51820\toff\n"), options);
 * console.log(plan.set[0]!.persistentKeepalive, plan.refused[0]!.reason); // 0 overlay_ip_self
 * ```
 */
export interface PlanOptions {
  /** This node's public key (standard base64), refused as a peer key. */
  readonly selfPublicKey?: string | undefined;
  /** This node's overlay IP, refused as a peer's. */
  readonly selfOverlayIp?: string | undefined;
  /** Persistent keepalive in seconds, 0 for off. Default 25. */
  readonly keepaliveSeconds?: number;
  /** Keys this reconciler configured earlier: only those are removed when no longer desired,
   * unless `prune`. */
  readonly managed?: ReadonlySet<string>;
  /** Remove every peer that is not desired, also those someone else configured. */
  readonly prune?: boolean;
  /** Endpoints this reconciler last set, by key. When the interface shows another endpoint
   * for a key whose published endpoint has not changed since, WireGuard roamed (the peer's
   * packets came from elsewhere, e.g. through NAT) and the endpoint is left alone. */
  readonly appliedEndpoints?: ReadonlyMap<string, string>;
}

/** The host prefix of an overlay IP (`10.42.0.2` → `10.42.0.2/32`, `fd00::2` → `fd00::2/128`),
 * or undefined when it is not an IP. A `/32` or `/128` suffix is accepted.
 *
 * @example
 * ```ts
 * import { overlayAllowedIp } from "./mod.ts";
 * console.log(overlayAllowedIp("10.42.0.2"), overlayAllowedIp("FD00::2"), overlayAllowedIp("x"));
 * // 10.42.0.2/32 fd00::2/128 undefined
 * ```
 */
export function overlayAllowedIp(overlayIp: string): string | undefined {
  const m = /^([^/]+?)(?:\/(32|128))?$/.exec(overlayIp.trim());
  if (m === null) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = parseIp(m[1]!);
  } catch {
    return undefined;
  }
  const bits = bytes.length === 4 ? 32 : 128;
  if (m[2] !== undefined && Number(m[2]) !== bits) return undefined;
  return `${canonicalIp(m[1]!)}/${bits}`;
}

function endpointOf(text: string): string | undefined {
  try {
    const a = parseSocketAddr(text);
    if (a.port === 0 || a.ip === "0.0.0.0" || a.ip === "::") return undefined;
    return formatSocketAddr(a);
  } catch {
    return undefined;
  }
}

/** Validates live PeerInfos into the peers the interface should hold, and the refusals.
 * Deterministic: the result does not depend on the order of `peers`. `holders` maps an
 * allowed IP to the key the interface gives it now (the incumbent wins a conflict).
 *
 * @example
 * ```ts
 * import { desiredPeers } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const { desired, refused } = desiredPeers([
 *   { nodeId: 2n, wgPubkey: key(2), wgEndpoint: "10.0.0.2:51820", overlayIp: "10.42.0.2", labels: {} },
 *   { nodeId: 3n, wgPubkey: key(3), wgEndpoint: "10.0.0.3:51820", overlayIp: "10.42.0.2", labels: {} },
 *   { nodeId: 4n, wgPubkey: "nope", wgEndpoint: "10.0.0.4:51820", overlayIp: "10.42.0.4", labels: {} },
 * ]);
 * console.log(desired.size, refused.map((r) => `${r.nodeId}:${r.reason}`));
 * // 1 ["3:overlay_ip_conflict", "4:bad_key"]
 * ```
 */
export function desiredPeers(
  peers: readonly PeerInfo[],
  options: PlanOptions = {},
  holders: ReadonlyMap<string, string> = new Map(),
): { desired: Map<string, DesiredPeer>; refused: Refusal[] } {
  const refused: Refusal[] = [];
  const selfKey = options.selfPublicKey;
  const selfIp = options.selfOverlayIp ? overlayAllowedIp(options.selfOverlayIp) : undefined;
  const candidates: DesiredPeer[] = [];
  const sorted = [...peers].sort((
    a,
    b,
  ) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  for (const p of sorted) {
    const refuse = (reason: RefusalReason, detail: string) =>
      refused.push({ nodeId: p.nodeId, reason, detail });
    let publicKey: string;
    try {
      publicKey = parseWgKey(p.wgPubkey);
    } catch (e) {
      refuse("bad_key", (e as Error).message);
      continue;
    }
    if (publicKey === selfKey) {
      refuse("own_key", `public key ${publicKey} is this node's own`);
      continue;
    }
    const endpoint = endpointOf(p.wgEndpoint);
    if (endpoint === undefined) {
      refuse(
        "no_endpoint",
        `endpoint ${JSON.stringify(p.wgEndpoint)} is not a reachable ip:port (port 0 or ` +
          `unspecified address)`,
      );
      continue;
    }
    const allowedIp = overlayAllowedIp(p.overlayIp);
    if (allowedIp === undefined) {
      refuse("bad_overlay_ip", `overlay IP ${JSON.stringify(p.overlayIp)} is not an IP address`);
      continue;
    }
    if (allowedIp === selfIp) {
      refuse("overlay_ip_self", `overlay IP ${p.overlayIp} is this node's own`);
      continue;
    }
    candidates.push({ nodeId: p.nodeId, publicKey, endpoint, allowedIp });
  }
  // Conflicts: per overlay IP, the incumbent (the key the interface routes it to) keeps it,
  // else the lowest node id; per key, the lowest node id.
  const byIp = new Map<string, DesiredPeer>();
  for (const c of candidates) {
    const prev = byIp.get(c.allowedIp);
    if (prev === undefined) byIp.set(c.allowedIp, c);
    else if (
      holders.get(c.allowedIp) === c.publicKey && holders.get(c.allowedIp) !== prev.publicKey
    ) {
      byIp.set(c.allowedIp, c);
    }
  }
  const desired = new Map<string, DesiredPeer>();
  for (const c of candidates) {
    const winner = byIp.get(c.allowedIp)!;
    if (winner !== c) {
      refused.push({
        nodeId: c.nodeId,
        reason: "overlay_ip_conflict",
        detail: `overlay IP ${c.allowedIp} is already held by worker ${winner.nodeId}`,
      });
      continue;
    }
    const other = desired.get(c.publicKey);
    if (other !== undefined) {
      refused.push({
        nodeId: c.nodeId,
        reason: "duplicate_key",
        detail: `public key ${c.publicKey} is already published by worker ${other.nodeId}`,
      });
      continue;
    }
    desired.set(c.publicKey, c);
  }
  refused.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  return { desired, refused };
}

/** Compares the live PeerInfos with the interface and says what to change. Pure.
 *
 * @example
 * ```ts
 * import { parseWgDump, planReconcile } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const state = parseWgDump(
 *   `PRIV\t${key(1)}\t51820\toff\n` +
 *     `${key(9)}\t(none)\t10.0.0.9:51820\t10.42.0.9/32\t0\t0\t0\t25\n`,
 * );
 * const plan = planReconcile(
 *   [{ nodeId: 2n, wgPubkey: key(2), wgEndpoint: "10.0.0.2:51820", overlayIp: "10.42.0.2", labels: {} }],
 *   state,
 *   { selfPublicKey: key(1), managed: new Set([key(9)]) },
 * );
 * console.log(plan.set.length, plan.remove.length); // 1 1
 * ```
 */
export function planReconcile(
  peers: readonly PeerInfo[],
  state: WgInterfaceState,
  options: PlanOptions = {},
): ReconcilePlan {
  const keepalive = options.keepaliveSeconds ?? 25;
  const holders = new Map<string, string>();
  for (const p of state.peers.values()) for (const ip of p.allowedIps) holders.set(ip, p.publicKey);
  const { desired, refused } = desiredPeers(peers, {
    ...options,
    selfPublicKey: options.selfPublicKey ?? state.publicKey,
  }, holders);
  const set: PeerChange[] = [];
  for (const d of desired.values()) {
    const have = state.peers.get(d.publicKey);
    if (have === undefined) {
      set.push({
        publicKey: d.publicKey,
        endpoint: d.endpoint,
        allowedIps: [d.allowedIp],
        persistentKeepalive: keepalive,
      });
      continue;
    }
    const roamed = have.endpoint !== undefined &&
      options.appliedEndpoints?.get(d.publicKey) === d.endpoint;
    const change: {
      publicKey: string;
      endpoint?: string;
      allowedIps?: string[];
      persistentKeepalive?: number;
    } = { publicKey: d.publicKey };
    if (have.endpoint !== d.endpoint && !roamed) change.endpoint = d.endpoint;
    if (have.allowedIps.length !== 1 || have.allowedIps[0] !== d.allowedIp) {
      change.allowedIps = [d.allowedIp];
    }
    if (have.persistentKeepalive !== keepalive) change.persistentKeepalive = keepalive;
    if (Object.keys(change).length > 1) set.push(change);
  }
  const remove: string[] = [];
  for (const key of state.peers.keys()) {
    if (desired.has(key)) continue;
    if (options.prune || options.managed?.has(key)) remove.push(key);
  }
  return { desired, refused, set, remove };
}

/** The `wg set` argv lists (without the program name) that apply a plan: removals first, then
 * additions and changes, at most `maxPeersPerCommand` peers (default 4096) per invocation.
 * Empty when there is nothing to do.
 *
 * @example
 * ```ts
 * import { wgSetArgs } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * console.log(wgSetArgs("wg0", {
 *   remove: [key(9)],
 *   set: [{ publicKey: key(2), endpoint: "10.0.0.2:51820", allowedIps: ["10.42.0.2/32"],
 *     persistentKeepalive: 25 }],
 * })[0]!.map((a) => a === key(9) ? "K9" : a === key(2) ? "K2" : a).join(" "));
 * // set wg0 peer K9 remove peer K2 endpoint 10.0.0.2:51820 allowed-ips 10.42.0.2/32 persistent-keepalive 25
 * ```
 */
export function wgSetArgs(
  iface: string,
  plan: Pick<ReconcilePlan, "set" | "remove">,
  maxPeersPerCommand = 4096,
): string[][] {
  const entries: string[][] = [];
  for (const key of plan.remove) entries.push(["peer", key, "remove"]);
  for (const c of plan.set) {
    const e = ["peer", c.publicKey];
    if (c.endpoint !== undefined) e.push("endpoint", c.endpoint);
    if (c.allowedIps !== undefined) e.push("allowed-ips", c.allowedIps.join(","));
    if (c.persistentKeepalive !== undefined) {
      e.push(
        "persistent-keepalive",
        c.persistentKeepalive === 0 ? "off" : String(c.persistentKeepalive),
      );
    }
    entries.push(e);
  }
  const out: string[][] = [];
  for (let i = 0; i < entries.length; i += maxPeersPerCommand) {
    out.push(["set", iface, ...entries.slice(i, i + maxPeersPerCommand).flat()]);
  }
  return out;
}
