/**
 * Socket address text forms, strict like Rust's `SocketAddr::from_str`, and canonical output like
 * Rust's `Display` (dotted IPv4; RFC 5952 IPv6 in brackets, `::ffff:a.b.c.d` for IPv4-mapped).
 *
 * @module
 */
import { HearsayError } from "./errors.ts";
import type { SocketAddr } from "./types.ts";

/** A text is not a valid IP address or `ip:port` socket address.
 *
 * @example
 * ```ts
 * import { AddressParseError, parseSocketAddr } from "./socket_addr.ts";
 * try {
 *   parseSocketAddr("localhost:80");
 * } catch (e) {
 *   console.log(e instanceof AddressParseError, (e as AddressParseError).text);
 * }
 * ```
 */
export class AddressParseError extends HearsayError {
  /** The text that could not be parsed. */
  readonly text: string;
  /** Creates the error for `text`; `expected` describes the accepted form. */
  constructor(text: string, expected: string) {
    super(`invalid address ${JSON.stringify(text)}: expected ${expected}`);
    this.text = text;
  }
}

const DEC = /^(0|[1-9][0-9]{0,2})$/;

/** Parses dotted-quad IPv4 text into 4 bytes, or returns undefined. Leading zeros are refused
 * (as Rust does). */
function parseIpv4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!DEC.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parses IPv6 text (with optional `::` and trailing dotted IPv4) into 16 bytes. */
function parseIpv6Bytes(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const dbl = text.indexOf("::");
  if (dbl !== -1 && text.indexOf("::", dbl + 1) !== -1) return undefined;
  const parseSide = (s: string, allowV4Tail: boolean): number[] | undefined => {
    if (s === "") return [];
    const parts = s.split(":");
    const groups: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (allowV4Tail && i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIpv4Bytes(p);
        if (v4 === undefined) return undefined;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!HEX_GROUP.test(p)) return undefined;
        groups.push(parseInt(p, 16));
      }
    }
    return groups;
  };
  let groups: number[];
  if (dbl === -1) {
    const g = parseSide(text, true);
    if (g === undefined || g.length !== 8) return undefined;
    groups = g;
  } else {
    const head = parseSide(text.slice(0, dbl), false);
    const tail = parseSide(text.slice(dbl + 2), true);
    if (head === undefined || tail === undefined) return undefined;
    // "::" stands for at least one zero group.
    if (head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >> 8;
    out[2 * i + 1] = groups[i]! & 0xff;
  }
  return out;
}

/** Parses an IP address (IPv4 dotted quad or IPv6 text, no brackets) into its 4 or 16
 * network-order bytes. Throws {@link AddressParseError} when the text is not an IP address.
 *
 * @example
 * ```ts
 * import { parseIp } from "./socket_addr.ts";
 * console.log(parseIp("10.0.0.1"), parseIp("::1").length);
 * ```
 */
export function parseIp(text: string): Uint8Array {
  const bytes = text.includes(":") ? parseIpv6Bytes(text) : parseIpv4Bytes(text);
  if (bytes === undefined) {
    throw new AddressParseError(text, "an IPv4 (a.b.c.d) or IPv6 address");
  }
  return bytes;
}

/** Formats 4 or 16 network-order bytes as Rust's `IpAddr` `Display` does: dotted IPv4, or RFC
 * 5952 IPv6 (lowercase, the longest run of two or more zero groups compressed, leftmost on ties),
 * with `::ffff:a.b.c.d` for IPv4-mapped addresses.
 *
 * @example
 * ```ts
 * import { formatIp } from "./socket_addr.ts";
 * console.log(formatIp(new Uint8Array([127, 0, 0, 1]))); // 127.0.0.1
 * ```
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) {
    throw new AddressParseError(`<${bytes.length} bytes>`, "4 or 16 address bytes");
  }
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    g.slice(from, to).map((x) => x.toString(16)).join(":");
  if (bestLen < 2) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Returns the canonical text of an IP address (see {@link formatIp}). Throws
 * {@link AddressParseError} when the text is not an IP address.
 *
 * @example
 * ```ts
 * import { canonicalIp } from "./socket_addr.ts";
 * console.log(canonicalIp("2001:DB8:0:0:0:0:0:1")); // 2001:db8::1
 * ```
 */
export function canonicalIp(text: string): string {
  const hit = canonicalCache.get(text);
  if (hit !== undefined) return hit;
  const out = formatIp(parseIp(text));
  if (canonicalCache.size >= CACHE_LIMIT) canonicalCache.clear();
  canonicalCache.set(text, out);
  return out;
}

const CACHE_LIMIT = 1 << 16;
const canonicalCache = new Map<string, string>();
const bytesCache = new Map<string, Uint8Array>();

/** Like {@link parseIp}, but memoised: returns a shared array that the caller must not modify.
 * Used by the codec, which converts the same few addresses over and over.
 *
 * @example
 * ```ts
 * import { ipBytes } from "./socket_addr.ts";
 * console.log(ipBytes("10.0.0.1").length); // 4
 * ```
 */
export function ipBytes(text: string): Uint8Array {
  const hit = bytesCache.get(text);
  if (hit !== undefined) return hit;
  const out = parseIp(text);
  if (bytesCache.size >= CACHE_LIMIT) bytesCache.clear();
  bytesCache.set(text, out);
  return out;
}

const PORT = /^[0-9]{1,5}$/;

/** Parses `a.b.c.d:port` or `[ipv6]:port` (no hostnames, no scope ids), strictly. The returned
 * `ip` is canonical. Throws {@link AddressParseError} naming the bad text.
 *
 * @example
 * ```ts
 * import { parseSocketAddr } from "./socket_addr.ts";
 * console.log(parseSocketAddr("[2001:db8:0::1]:7946")); // { ip: "2001:db8::1", port: 7946 }
 * ```
 */
export function parseSocketAddr(text: string): SocketAddr {
  const expected = "ip:port, e.g. 1.2.3.4:7946 or [2001:db8::1]:7946";
  let ipText: string;
  let portText: string;
  let bytes: Uint8Array | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1 || text[close + 1] !== ":") throw new AddressParseError(text, expected);
    ipText = text.slice(1, close);
    portText = text.slice(close + 2);
    bytes = parseIpv6Bytes(ipText);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon === -1) throw new AddressParseError(text, expected);
    ipText = text.slice(0, colon);
    portText = text.slice(colon + 1);
    bytes = parseIpv4Bytes(ipText);
  }
  if (bytes === undefined || !PORT.test(portText)) throw new AddressParseError(text, expected);
  const port = Number(portText);
  if (port > 65535) throw new AddressParseError(text, expected);
  return { ip: formatIp(bytes), port };
}

/** Formats a socket address like Rust's `SocketAddr` `Display`: `1.2.3.4:5` or `[v6]:5`. The
 * IP is canonicalised first.
 *
 * @example
 * ```ts
 * import { formatSocketAddr } from "./socket_addr.ts";
 * console.log(formatSocketAddr({ ip: "::1", port: 7946 })); // [::1]:7946
 * ```
 */
export function formatSocketAddr(addr: SocketAddr): string {
  const ip = canonicalIp(addr.ip);
  return ip.includes(":") ? `[${ip}]:${addr.port}` : `${ip}:${addr.port}`;
}
