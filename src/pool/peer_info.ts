/**
 * `PeerInfo`, what one worker publishes about itself, and its wire form in zlayer's gossip pool:
 * the key `worker:<node_id>` holding base64url (no padding) of compact JSON
 * `{"node_id","wg_pubkey","wg_endpoint","overlay_ip","labels"}`.
 *
 * @module
 */
import { HearsayError } from "../common/errors.ts";
import { fromBase64, toBase64 } from "../common/_encoding.ts";
import { formatSocketAddr, parseSocketAddr } from "../common/socket_addr.ts";

/** What one worker publishes about itself.
 *
 * @example
 * ```ts
 * import type { PeerInfo } from "./peer_info.ts";
 * const me: PeerInfo = {
 *   nodeId: 42n,
 *   wgPubkey: "",
 *   wgEndpoint: "10.1.0.5:51820",
 *   overlayIp: "10.200.0.5",
 *   labels: { zone: "a" },
 * };
 * console.log(me.nodeId);
 * ```
 */
export interface PeerInfo {
  /** The worker's id (u64). */
  readonly nodeId: bigint;
  /** WireGuard public key (base64url without padding, by convention; not checked). */
  readonly wgPubkey: string;
  /** WireGuard UDP endpoint: `"ip:port"` or `"[ipv6]:port"` (no host names). */
  readonly wgEndpoint: string;
  /** Overlay IP assigned to the peer (free text, as in zlayer). */
  readonly overlayIp: string;
  /** Labels; order does not matter. */
  readonly labels: Readonly<Record<string, string>>;
}

/** A PeerInfo value (from a peer or from the caller) is malformed.
 *
 * @example
 * ```ts
 * import { decodePeerInfo, PeerInfoError } from "./peer_info.ts";
 * try {
 *   decodePeerInfo("not base64!");
 * } catch (e) {
 *   console.log(e instanceof PeerInfoError);
 * }
 * ```
 */
export class PeerInfoError extends HearsayError {}

/** Prefix of the single key every worker publishes; subscribe to it on a plain `GossipNode` to
 * follow a pool's PeerInfo values.
 *
 * @example
 * ```ts
 * import { parseWorkerKey, WORKER_KEY_PREFIX, workerKey } from "./peer_info.ts";
 * const keys = [workerKey(1n), "zone", `${WORKER_KEY_PREFIX}2`];
 * console.log(keys.filter((k) => k.startsWith(WORKER_KEY_PREFIX)).map(parseWorkerKey)); // [ 1n, 2n ]
 * ```
 */
export const WORKER_KEY_PREFIX = "worker:";
const U64_MAX = (1n << 64n) - 1n;

/** The key and chitchat node id of worker `nodeId`: `worker:<decimal id>`.
 *
 * @example
 * ```ts
 * import { workerKey } from "./peer_info.ts";
 * console.log(workerKey(42n)); // "worker:42"
 * ```
 */
export function workerKey(nodeId: bigint): string {
  checkNodeId(nodeId, "nodeId");
  return `${WORKER_KEY_PREFIX}${nodeId}`;
}

/** The worker id in a `worker:<id>` key, or undefined when the key is not one (zlayer's rule:
 * the suffix must parse as a u64).
 *
 * @example
 * ```ts
 * import { parseWorkerKey } from "./peer_info.ts";
 * console.log(parseWorkerKey("worker:42"), parseWorkerKey("other"));
 * ```
 */
export function parseWorkerKey(key: string): bigint | undefined {
  if (!key.startsWith(WORKER_KEY_PREFIX)) return undefined;
  const digits = key.slice(WORKER_KEY_PREFIX.length);
  // Rust's u64::from_str accepts an optional leading "+".
  if (!/^\+?[0-9]+$/.test(digits)) return undefined;
  const n = BigInt(digits.replace(/^\+/, ""));
  return n <= U64_MAX ? n : undefined;
}

function checkNodeId(nodeId: unknown, field: string): asserts nodeId is bigint {
  if (typeof nodeId !== "bigint" || nodeId < 0n || nodeId > U64_MAX) {
    throw new PeerInfoError(`${field} must be a bigint in 0..2^64-1, got ${String(nodeId)}`);
  }
}

/** Checks a PeerInfo and returns it with the endpoint in canonical form (Rust's `Display`).
 *
 * @example
 * ```ts
 * import { validatePeerInfo } from "./peer_info.ts";
 * const p = validatePeerInfo({
 *   nodeId: 1n, wgPubkey: "", wgEndpoint: "[2001:DB8::1]:51820", overlayIp: "", labels: {},
 * });
 * console.log(p.wgEndpoint); // "[2001:db8::1]:51820"
 * ```
 */
export function validatePeerInfo(info: PeerInfo): PeerInfo {
  if (typeof info !== "object" || info === null) {
    throw new PeerInfoError("PeerInfo must be an object");
  }
  checkNodeId(info.nodeId, "nodeId");
  for (const f of ["wgPubkey", "overlayIp", "wgEndpoint"] as const) {
    if (typeof info[f] !== "string") {
      throw new PeerInfoError(`${f} must be a string, got ${typeof info[f]}`);
    }
  }
  let endpoint: string;
  try {
    endpoint = formatSocketAddr(parseSocketAddr(info.wgEndpoint));
  } catch {
    throw new PeerInfoError(
      `wgEndpoint must be "ip:port" or "[ipv6]:port", got ${JSON.stringify(info.wgEndpoint)}`,
    );
  }
  const labels: Record<string, string> = {};
  if (typeof info.labels !== "object" || info.labels === null || Array.isArray(info.labels)) {
    throw new PeerInfoError("labels must be an object of strings");
  }
  for (const [k, v] of Object.entries(info.labels)) {
    if (typeof v !== "string") {
      throw new PeerInfoError(`label ${JSON.stringify(k)} must be a string, got ${typeof v}`);
    }
    labels[k] = v;
  }
  return {
    nodeId: info.nodeId,
    wgPubkey: info.wgPubkey,
    wgEndpoint: endpoint,
    overlayIp: info.overlayIp,
    labels,
  };
}

/** The compact JSON zlayer's Rust pool writes (serde field order; `node_id` printed exactly).
 *
 * @example
 * ```ts
 * import { peerInfoToJson } from "./peer_info.ts";
 * console.log(peerInfoToJson({
 *   nodeId: 42n, wgPubkey: "", wgEndpoint: "0.0.0.0:0", overlayIp: "", labels: {},
 * }));
 * // {"node_id":42,"wg_pubkey":"","wg_endpoint":"0.0.0.0:0","overlay_ip":"","labels":{}}
 * ```
 */
export function peerInfoToJson(info: PeerInfo): string {
  const p = validatePeerInfo(info);
  return `{"node_id":${p.nodeId},"wg_pubkey":${JSON.stringify(p.wgPubkey)},` +
    `"wg_endpoint":${JSON.stringify(p.wgEndpoint)},"overlay_ip":${JSON.stringify(p.overlayIp)},` +
    `"labels":${JSON.stringify(p.labels)}}`;
}

type Reviver = (
  this: unknown,
  key: string,
  value: unknown,
  context?: { source?: string },
) => unknown;

/** Parses zlayer's PeerInfo JSON. `node_id` is read from its source text, so ids above 2^53
 * stay exact; unknown fields are ignored; a missing `labels` reads as `{}` (serde default).
 *
 * @example
 * ```ts
 * import { peerInfoFromJson } from "./peer_info.ts";
 * const p = peerInfoFromJson(
 *   '{"node_id":18446744073709551615,"wg_pubkey":"k","wg_endpoint":"1.2.3.4:5","overlay_ip":"x"}',
 * );
 * console.log(p.nodeId, p.labels); // 18446744073709551615n {}
 * ```
 */
export function peerInfoFromJson(json: string): PeerInfo {
  // The reviver sees every "node_id" (nested ones in unknown fields too), so remember the
  // source text per holder object and use the top-level one.
  const sources = new Map<unknown, string>();
  const reviver: Reviver = function (this: unknown, key, value, context) {
    if (key === "node_id" && typeof value === "number") {
      sources.set(this, context?.source ?? String(value));
    }
    return value;
  };
  let raw: unknown;
  try {
    raw = JSON.parse(json, reviver as (this: unknown, key: string, value: unknown) => unknown);
  } catch (e) {
    if (e instanceof PeerInfoError) throw e;
    throw new PeerInfoError(`PeerInfo is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new PeerInfoError("PeerInfo JSON must be an object");
  }
  const o = raw as Record<string, unknown>;
  const src = sources.get(raw);
  if (typeof o.node_id !== "number" || src === undefined) {
    throw new PeerInfoError("PeerInfo JSON needs a numeric node_id");
  }
  if (!/^[0-9]+$/.test(src)) {
    throw new PeerInfoError(`node_id must be an unsigned integer, got ${src}`);
  }
  const nodeId = BigInt(src);
  if (nodeId > U64_MAX) throw new PeerInfoError(`node_id ${nodeId} does not fit in a u64`);
  for (const f of ["wg_pubkey", "wg_endpoint", "overlay_ip"]) {
    if (typeof o[f] !== "string") {
      throw new PeerInfoError(`PeerInfo JSON field ${f} must be a string`);
    }
  }
  return validatePeerInfo({
    nodeId,
    wgPubkey: o.wg_pubkey as string,
    wgEndpoint: o.wg_endpoint as string,
    overlayIp: o.overlay_ip as string,
    labels: (o.labels ?? {}) as Record<string, string>,
  });
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** The value stored under `worker:<id>`: base64url without padding of the compact JSON.
 *
 * @example
 * ```ts
 * import { encodePeerInfo } from "./peer_info.ts";
 * console.log(encodePeerInfo({
 *   nodeId: 42n, wgPubkey: "", wgEndpoint: "0.0.0.0:0", overlayIp: "", labels: {},
 * }).length); // 111
 * ```
 */
export function encodePeerInfo(info: PeerInfo): string {
  return toBase64(utf8.encode(peerInfoToJson(info)), { alphabet: "base64url", omitPadding: true });
}

/** Decodes a `worker:<id>` value. Rejects padding and non-canonical base64 like Rust's
 * `URL_SAFE_NO_PAD`, invalid UTF-8, and JSON that does not describe a PeerInfo.
 *
 * @example
 * ```ts
 * import { decodePeerInfo, encodePeerInfo } from "./peer_info.ts";
 * const v = encodePeerInfo({
 *   nodeId: 7n, wgPubkey: "k", wgEndpoint: "[::1]:51820", overlayIp: "10.0.0.7", labels: { a: "b" },
 * });
 * console.log(decodePeerInfo(v).wgEndpoint); // "[::1]:51820"
 * ```
 */
export function decodePeerInfo(value: string): PeerInfo {
  if (!/^[A-Za-z0-9_-]*$/.test(value)) {
    throw new PeerInfoError("PeerInfo value is not base64url without padding");
  }
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(value, { alphabet: "base64url" });
  } catch (e) {
    throw new PeerInfoError(`PeerInfo value is not valid base64url: ${(e as Error).message}`);
  }
  if (toBase64(bytes, { alphabet: "base64url", omitPadding: true }) !== value) {
    throw new PeerInfoError("PeerInfo value is not canonical base64url (bad trailing bits)");
  }
  let json: string;
  try {
    json = utf8Decoder.decode(bytes);
  } catch {
    throw new PeerInfoError("PeerInfo value is not UTF-8");
  }
  return peerInfoFromJson(json);
}

/** Whether two PeerInfos are equal (labels compared as a set of pairs).
 *
 * @example
 * ```ts
 * import { peerInfoEquals } from "./peer_info.ts";
 * const a = { nodeId: 1n, wgPubkey: "", wgEndpoint: "1.2.3.4:5", overlayIp: "", labels: { x: "1", y: "2" } };
 * console.log(peerInfoEquals(a, { ...a, labels: { y: "2", x: "1" } })); // true
 * ```
 */
export function peerInfoEquals(a: PeerInfo, b: PeerInfo): boolean {
  if (
    a.nodeId !== b.nodeId || a.wgPubkey !== b.wgPubkey || a.wgEndpoint !== b.wgEndpoint ||
    a.overlayIp !== b.overlayIp
  ) return false;
  const ka = Object.keys(a.labels);
  if (ka.length !== Object.keys(b.labels).length) return false;
  return ka.every((k) => Object.hasOwn(b.labels, k) && b.labels[k] === a.labels[k]);
}
