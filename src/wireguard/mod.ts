/**
 * The WireGuard overlay: a reconciler that keeps one interface's peers equal to a gossip pool's
 * live peers, with the pure diff, `wg` runner, dump parser and key helpers it is built from.
 *
 * ```ts ignore
 * // As root, with a WireGuard interface wg0 up (see docs/OVERLAY.md):
 * import { GossipPool } from "@hearsay/gossip";
 * import { WireGuardReconciler } from "@hearsay/gossip/wireguard";
 * declare const pool: GossipPool;
 * const wg = new WireGuardReconciler({ interface: "wg0", selfOverlayIp: "10.42.0.1" });
 * wg.follow(pool); // joined → added, updated → changed, left → removed
 * ```
 *
 * @example
 * ```ts
 * import { parseWgDump, planReconcile, wgSetArgs } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const state = parseWgDump(`PRIV\t${key(1)}\t51820\toff\n`);
 * const plan = planReconcile([
 *   { nodeId: 2n, wgPubkey: key(2), wgEndpoint: "10.0.0.2:51820", overlayIp: "10.42.0.2", labels: {} },
 * ], state);
 * console.log(wgSetArgs("wg0", plan)[0]!.slice(4));
 * // ["endpoint", "10.0.0.2:51820", "allowed-ips", "10.42.0.2/32", "persistent-keepalive", "25"]
 * ```
 *
 * @module
 */
export { WgCommandError, WgKeyError } from "./errors.ts";
export {
  ensureWgPrivateKeyFile,
  generateWgKeyPair,
  isWgKey,
  parseWgKey,
  wgKeyBytes,
  type WgKeyPair,
  wgPublicKey,
} from "./key.ts";
export { parseWgDump, type WgInterfaceState, type WgPeerState } from "./dump.ts";
export { CommandWgRunner, runWg, type WgResult, type WgRunner } from "./runner.ts";
export {
  type DesiredPeer,
  desiredPeers,
  overlayAllowedIp,
  type PeerChange,
  type PlanOptions,
  planReconcile,
  type ReconcilePlan,
  type Refusal,
  REFUSAL_REASONS,
  type RefusalReason,
  wgSetArgs,
} from "./plan.ts";
export {
  type PeerSource,
  TUNNEL_UP_SECONDS,
  type TunnelStatus,
  type WireGuardMetrics,
  WireGuardReconciler,
  type WireGuardReconcilerOptions,
} from "./reconciler.ts";
export {
  prepareWgInterface,
  type PrepareWgInterfaceOptions,
  type WgInterfaceInfo,
} from "./interface.ts";
export { wireGuardPrometheus } from "./metrics.ts";
export {
  inOverlayCidr,
  type OverlayCidr,
  parseOverlayCidr,
  pickOverlayIp,
  resolveOverlayConflict,
} from "./address.ts";
