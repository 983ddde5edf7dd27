/**
 * ChitchatId helpers: a stable map key, equality, chitchat's ordering and a readable form.
 *
 * @module
 */
import { canonicalIp, formatSocketAddr, ipBytes } from "./socket_addr.ts";
import type { ChitchatId } from "./types.ts";

/** Returns a unique, stable string key for a ChitchatId (for `Map`s and `Set`s). Two ids get the
 * same key exactly when chitchat considers them equal (the IP is canonicalised).
 *
 * @example
 * ```ts
 * import { chitchatIdKey } from "./chitchat_id.ts";
 * const key = chitchatIdKey({
 *   nodeId: "worker:1",
 *   generationId: 0n,
 *   gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7946 },
 * });
 * console.log(key);
 * ```
 */
export function chitchatIdKey(id: ChitchatId): string {
  const a = id.gossipAdvertiseAddr;
  // The node id goes last: it is the only part that can contain any character.
  return `${id.generationId}|${canonicalIp(a.ip)}|${a.port}|${id.nodeId}`;
}

/** True when two ids are equal (node id, generation and address; IPs compared canonically).
 *
 * @example
 * ```ts
 * import { chitchatIdEquals } from "./chitchat_id.ts";
 * const a = { nodeId: "n", generationId: 1n, gossipAdvertiseAddr: { ip: "::1", port: 1 } };
 * const b = { nodeId: "n", generationId: 1n, gossipAdvertiseAddr: { ip: "0::1", port: 1 } };
 * console.log(chitchatIdEquals(a, b)); // true
 * ```
 */
export function chitchatIdEquals(a: ChitchatId, b: ChitchatId): boolean {
  if (a === b) return true;
  return a.nodeId === b.nodeId && a.generationId === b.generationId &&
    a.gossipAdvertiseAddr.port === b.gossipAdvertiseAddr.port &&
    (a.gossipAdvertiseAddr.ip === b.gossipAdvertiseAddr.ip ||
      canonicalIp(a.gossipAdvertiseAddr.ip) === canonicalIp(b.gossipAdvertiseAddr.ip));
}

/** Compares two strings by their UTF-8 bytes (= Unicode code point order), which differs from
 * JavaScript's UTF-16 `<` for characters above U+FFFF versus U+E000..U+FFFF.
 *
 * @example
 * ```ts
 * import { compareUtf8 } from "./chitchat_id.ts";
 * console.log(compareUtf8("\u{1F600}", "\uFFFD") > 0); // true (JS `<` says the opposite)
 * ```
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Differing code units. Surrogates (0xD800..0xDFFF) encode code points above 0xFFFF, which
    // sort after every BMP code point.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** chitchat's `Ord` on ChitchatId: node id by UTF-8 bytes, then generation, then address (every
 * IPv4 before every IPv6, the IP as a big-endian number, then the port). Returns <0, 0 or >0.
 *
 * @example
 * ```ts
 * import { compareChitchatIds } from "./chitchat_id.ts";
 * const a = { nodeId: "a", generationId: 5n, gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7000 } };
 * const b = { nodeId: "a", generationId: 5n, gossipAdvertiseAddr: { ip: "::1", port: 7000 } };
 * console.log(compareChitchatIds(a, b) < 0); // true: IPv4 sorts first
 * ```
 */
export function compareChitchatIds(a: ChitchatId, b: ChitchatId): number {
  if (a.nodeId !== b.nodeId) return compareUtf8(a.nodeId, b.nodeId);
  if (a.generationId !== b.generationId) return a.generationId < b.generationId ? -1 : 1;
  const pa = a.gossipAdvertiseAddr;
  const pb = b.gossipAdvertiseAddr;
  if (pa.ip !== pb.ip) {
    const x = ipBytes(pa.ip);
    const y = ipBytes(pb.ip);
    if (x.length !== y.length) return x.length - y.length;
    const d = compareBytes(x, y);
    if (d !== 0) return d;
  }
  return pa.port - pb.port;
}

/** A readable form: `node_id/generation@address`, e.g. `worker:1/0@10.0.0.1:7946`.
 *
 * @example
 * ```ts
 * import { formatChitchatId } from "./chitchat_id.ts";
 * console.log(formatChitchatId({
 *   nodeId: "worker:1",
 *   generationId: 0n,
 *   gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7946 },
 * })); // worker:1/0@10.0.0.1:7946
 * ```
 */
export function formatChitchatId(id: ChitchatId): string {
  return `${id.nodeId}/${id.generationId}@${formatSocketAddr(id.gossipAdvertiseAddr)}`;
}
