// The chitchat 0.10.1 wire codec hot path: byte-level parsing and writing of digests and delta
// op streams. No managed objects: everything lives in linear memory laid out by
// src/codec/_memory.ts, and every function works on raw pointers. Strings are moved in and out by
// the JS side.
//
// Error codes (returned negated):
//   1 tooShort   2 badMagic   3 badVersion  4 badType     5 truncated   6 invalidUtf8
//   7 badIpTag   8 badStatus  9 badBlock   10 badOp      11 duplicate node op
//  12 key-value op without a node op       13 key-value version not strictly increasing
//  14 SetMaxVersion op without a node op   15 too large (op stream over the cap)
// Encoding refusals:
//  20 key starts with a multi-byte character  21 op needs a node op first
//  22 key-value version 0 or not strictly increasing   23 SetMaxVersion after key-values
//  24 key-value after SetMaxVersion    25 string over 65 535 bytes   26 SetMaxVersion twice

// ---------------------------------------------------------------- shared helpers

/** Where the last failure happened (datagram offset, or op-stream offset for op errors). */
let errPos: i32 = 0;
/** Decode cursor inside the datagram. */
let pos: i32 = 0;

export function errorOffset(): i32 {
  return errPos;
}

export function cursor(): i32 {
  return pos;
}

export function heapBase(): usize {
  return (__heap_base + 63) & ~(<usize>63);
}

export function growTo(bytes: i32): i32 {
  const have = memory.size();
  const want = (bytes + 0xffff) >>> 16;
  if (want <= have) return 1;
  return memory.grow(want - have) < 0 ? 0 : 1;
}

@inline function fail(code: i32, at: i32): i32 {
  errPos = at;
  return -code;
}

/** Validates UTF-8. Returns 2 for pure ASCII, 1 for valid non-ASCII, 0 for invalid. */
function utf8(p: usize, n: i32): i32 {
  const end = p + <usize>n;
  let i = p;
  // ASCII fast path, 16 then 8 bytes at a time.
  while (i + 16 <= end) {
    if (i8x16.bitmask(v128.load(i)) != 0) break;
    i += 16;
  }
  while (i + 8 <= end) {
    if ((load<u64>(i) & 0x8080808080808080) != 0) break;
    i += 8;
  }
  while (i < end && load<u8>(i) < 0x80) i++;
  if (i == end) return 2;
  while (i < end) {
    const b = <u32>load<u8>(i);
    if (b < 0x80) {
      i++;
      continue;
    }
    if (b < 0xc2) return 0;
    if (b < 0xe0) {
      if (i + 1 >= end) return 0;
      if ((<u32>load<u8>(i + 1) & 0xc0) != 0x80) return 0;
      i += 2;
      continue;
    }
    if (b < 0xf0) {
      if (i + 2 >= end) return 0;
      const c1 = <u32>load<u8>(i + 1);
      const c2 = <u32>load<u8>(i + 2);
      if ((c2 & 0xc0) != 0x80) return 0;
      if (b == 0xe0) {
        if (c1 < 0xa0 || c1 > 0xbf) return 0;
      } else if (b == 0xed) {
        if (c1 < 0x80 || c1 > 0x9f) return 0;
      } else if ((c1 & 0xc0) != 0x80) return 0;
      i += 3;
      continue;
    }
    if (b > 0xf4) return 0;
    if (i + 3 >= end) return 0;
    const c1 = <u32>load<u8>(i + 1);
    if (b == 0xf0) {
      if (c1 < 0x90 || c1 > 0xbf) return 0;
    } else if (b == 0xf4) {
      if (c1 < 0x80 || c1 > 0x8f) return 0;
    } else if ((c1 & 0xc0) != 0x80) return 0;
    if ((<u32>load<u8>(i + 2) & 0xc0) != 0x80) return 0;
    if ((<u32>load<u8>(i + 3) & 0xc0) != 0x80) return 0;
    i += 4;
  }
  return 1;
}

// ---------------------------------------------------------------- decoding
//
// Records are 64 bytes:
//   +0 kind (0 node op, 1 key-value op, 2 SetMaxVersion op, 3 digest entry)
//   +4 s1 ptr  +8 s1 len   (node id / key)
//   +12 ip tag or s2 ptr  +16 ip ptr or s2 len   (s2 = value)
//   +20 port or status
//   +24 a (generation / version / max)   +32 b (heartbeat or gc)   +40 c (gc or from)
//   +48 d (max)   +56 flags (bit 0: s1 is ASCII, bit 1: s2 is ASCII, bit 2: set by the host
//   when it already holds the id's object, so its strings are left out of the JSON batch)
//   +60 intern index of an id record (written by internBatch, see intern.ts)

// A ChitchatId at `p` (datagram or op stream); writes the id fields into record `r`. Returns the
// new offset or a negative error code. `base` is what offsets are reported relative to.
function readId(base: usize, p: i32, end: i32, r: usize): i32 {
  if (p + 2 > end) return fail(5, p);
  const len = <i32>load<u16>(base + <usize>p);
  const s = p + 2;
  if (s + len > end) return fail(5, s);
  const u = utf8(base + <usize>s, len);
  if (u == 0) return fail(6, s);
  let q = s + len;
  if (q + 9 > end) return fail(5, q);
  const gen = load<u64>(base + <usize>q);
  q += 8;
  const tag = <i32>load<u8>(base + <usize>q);
  q += 1;
  let ipLen = 0;
  if (tag == 4) ipLen = 4;
  else if (tag == 6) ipLen = 16;
  else return fail(7, q - 1);
  if (q + ipLen + 2 > end) return fail(5, q);
  store<u32>(r, <u32>(base + <usize>s), 4);
  store<u32>(r, <u32>len, 8);
  store<u32>(r, <u32>tag, 12);
  store<u32>(r, <u32>(base + <usize>q), 16);
  q += ipLen;
  store<u32>(r, <u32>load<u16>(base + <usize>q), 20);
  store<u64>(r, gen, 24);
  store<u32>(r, u == 2 ? 1 : 0, 56);
  return q + 2;
}

let digestCount: i32 = 0;
let clusterPtr: i32 = 0;
let clusterLen: i32 = 0;
let clusterAscii: i32 = 0;

export function lastDigestCount(): i32 {
  return digestCount;
}
export function lastClusterPtr(): i32 {
  return clusterPtr;
}
export function lastClusterLen(): i32 {
  return clusterLen;
}
export function lastClusterAscii(): i32 {
  return clusterAscii;
}

function readDigest(inp: usize, p: i32, end: i32, rec: usize): i32 {
  if (p + 2 > end) return fail(5, p);
  const n = <i32>load<u16>(inp + <usize>p);
  p += 2;
  for (let i = 0; i < n; i++) {
    const r = rec + (<usize>i << 6);
    store<u32>(r, 3, 0);
    p = readId(inp, p, end, r);
    if (p < 0) return p;
    if (p + 24 > end) return fail(5, p);
    store<u64>(r, load<u64>(inp + <usize>p), 32);
    store<u64>(r, load<u64>(inp + <usize>p, 8), 40);
    store<u64>(r, load<u64>(inp + <usize>p, 16), 48);
    p += 24;
  }
  digestCount = n;
  return p;
}

/** Parses the 4-byte header and, for Syn and SynAck, the digest (records at `rec`) and the
 * Syn's cluster id. Returns the message type (0..3) or a negative error code. Afterwards
 * `cursor()` is the offset of the delta (SynAck, Ack). */
export function parseHead(inp: usize, len: i32, rec: usize): i32 {
  digestCount = 0;
  if (len < 2) return fail(1, len);
  if (load<u16>(inp) != 0xb053) return fail(2, 0);
  if (len < 3) return fail(1, len);
  if (load<u8>(inp, 2) != 0) return fail(3, 2);
  if (len < 4) return fail(1, len);
  const t = <i32>load<u8>(inp, 3);
  if (t > 3) return fail(4, 3);
  let p = 4;
  if (t == 0 || t == 1) {
    p = readDigest(inp, p, len, rec);
    if (p < 0) return p;
  }
  if (t == 0) {
    if (p + 2 > len) return fail(5, p);
    const n = <i32>load<u16>(inp + <usize>p);
    if (p + 2 + n > len) return fail(5, p + 2);
    const u = utf8(inp + <usize>(p + 2), n);
    if (u == 0) return fail(6, p + 2);
    clusterPtr = <i32>inp + p + 2;
    clusterLen = n;
    clusterAscii = u == 2 ? 1 : 0;
    p += 2 + n;
  }
  pos = p;
  return t;
}

/** Starts a bare delta parse at offset `p` (for decodeDelta). */
export function setCursor(p: i32): void {
  pos = p;
}

let opsLen: i32 = 0;
let blockPtr: i32 = 0;
let blockLen: i32 = 0;

export function opsLength(): i32 {
  return opsLen;
}
export function pendingBlockPtr(): i32 {
  return blockPtr;
}
export function pendingBlockLen(): i32 {
  return blockLen;
}
export function resetOps(): void {
  opsLen = 0;
}
/** Records that JS appended `n` decompressed bytes to the op stream. */
export function appendedOps(n: i32): void {
  opsLen += n;
}

/** Reads blocks from `cursor()`: raw blocks are copied to `ops + opsLength()`. Returns 0 at the
 * end tag, 1 when a compressed block (`pendingBlockPtr/Len`) needs JS to decompress it, or a
 * negative error code. `cap` is the most op-stream bytes allowed. */
export function scanBlocks(inp: usize, len: i32, ops: usize, cap: i32): i32 {
  let p = pos;
  while (true) {
    if (p >= len) return fail(5, p);
    const t = <i32>load<u8>(inp + <usize>p);
    if (t == 0) {
      pos = p + 1;
      return 0;
    }
    if (t > 2) return fail(9, p);
    if (p + 3 > len) return fail(5, p + 1);
    const n = <i32>load<u16>(inp + <usize>p, 1);
    if (p + 3 + n > len) return fail(5, p + 3);
    if (t == 1) {
      blockPtr = <i32>inp + p + 3;
      blockLen = n;
      pos = p + 3 + n;
      errPos = p;
      return 1;
    }
    if (opsLen + n > cap) return fail(15, p);
    memory.copy(ops + <usize>opsLen, inp + <usize>(p + 3), <usize>n);
    opsLen += n;
    p += 3 + n;
  }
  return 0;
}

function idBytesLen(r: usize): i32 {
  return 2 + <i32>load<u32>(r, 8) + 8 + 1 + (load<u32>(r, 12) == 4 ? 4 : 16) + 2;
}

function hashId(r: usize): u32 {
  const p = <usize>load<u32>(r, 4) - 2;
  const n = idBytesLen(r);
  let h: u32 = 0x811c9dc5;
  for (let i = 0; i < n; i++) {
    h = (h ^ <u32>load<u8>(p + <usize>i)) * 0x01000193;
  }
  return h;
}

function sameId(r1: usize, r2: usize): bool {
  const n = idBytesLen(r1);
  if (n != idBytesLen(r2)) return false;
  const p1 = <usize>load<u32>(r1, 4) - 2;
  const p2 = <usize>load<u32>(r2, 4) - 2;
  return memory.compare(p1, p2, <usize>n) == 0;
}

/** Parses the op stream at `ops` (length `opsLength()`) into records at `rec`, enforcing
 * chitchat's delta-builder rules. `hash` is scratch for duplicate detection with `mask + 1` u32
 * slots (a power of two, more than the possible node count). Returns the record count or a
 * negative error code (errorOffset() is then an op-stream offset). */
export function parseOps(ops: usize, rec: usize, hash: usize, mask: u32): i32 {
  memory.fill(hash, 0, (<usize>mask + 1) << 2);
  const end = opsLen;
  let p = 0;
  let count = 0;
  let haveNode = false;
  let nodeMax: u64 = 0;
  let setMaxRec: usize = 0;
  while (p < end) {
    const t = <i32>load<u8>(ops + <usize>p);
    const r = rec + (<usize>count << 6);
    if (t == 0) {
      store<u32>(r, 0, 0);
      let q = readId(ops, p + 1, end, r);
      if (q < 0) return q;
      if (q + 16 > end) return fail(5, q);
      store<u64>(r, load<u64>(ops + <usize>q), 32);
      store<u64>(r, load<u64>(ops + <usize>q, 8), 40);
      q += 16;
      // Duplicate check: open addressing over the id bytes.
      let slot = hashId(r) & mask;
      while (true) {
        const e = load<u32>(hash + (<usize>slot << 2));
        if (e == 0) {
          store<u32>(hash + (<usize>slot << 2), <u32>count + 1);
          break;
        }
        if (sameId(rec + (<usize>(e - 1) << 6), r)) return fail(11, p);
        slot = (slot + 1) & mask;
      }
      haveNode = true;
      nodeMax = 0;
      setMaxRec = 0;
      count++;
      p = q;
    } else if (t == 1) {
      let q = p + 1;
      if (q + 2 > end) return fail(5, q);
      const kl = <i32>load<u16>(ops + <usize>q);
      q += 2;
      if (q + kl > end) return fail(5, q);
      const ku = utf8(ops + <usize>q, kl);
      if (ku == 0) return fail(6, q);
      const kp = q;
      q += kl;
      if (q + 2 > end) return fail(5, q);
      const vl = <i32>load<u16>(ops + <usize>q);
      q += 2;
      if (q + vl > end) return fail(5, q);
      const vu = utf8(ops + <usize>q, vl);
      if (vu == 0) return fail(6, q);
      const vp = q;
      q += vl;
      if (q + 9 > end) return fail(5, q);
      const version = load<u64>(ops + <usize>q);
      const status = <u32>load<u8>(ops + <usize>q, 8);
      if (status > 2) return fail(8, q + 8);
      if (!haveNode) return fail(12, p);
      if (version <= nodeMax) return fail(13, q);
      nodeMax = version;
      store<u32>(r, 1, 0);
      store<u32>(r, <u32>(ops + <usize>kp), 4);
      store<u32>(r, <u32>kl, 8);
      store<u32>(r, <u32>(ops + <usize>vp), 12);
      store<u32>(r, <u32>vl, 16);
      store<u32>(r, status, 20);
      store<u64>(r, version, 24);
      store<u32>(r, (ku == 2 ? 1 : 0) | (vu == 2 ? 2 : 0), 56);
      count++;
      p = q + 9;
    } else if (t == 2) {
      if (p + 9 > end) return fail(5, p + 1);
      if (!haveNode) return fail(14, p);
      const m = load<u64>(ops + <usize>p, 1);
      nodeMax = m;
      if (setMaxRec != 0) {
        store<u64>(setMaxRec, m, 24);
      } else {
        store<u32>(r, 2, 0);
        store<u64>(r, m, 24);
        setMaxRec = r;
        count++;
      }
      p += 9;
    } else {
      return fail(10, p);
    }
  }
  return count;
}

// ---------------------------------------------------------------- decoding: strings as JSON
//
// JS turns strings into JS strings much faster in one batch than one call per string: after a
// parse, the strings of the records (node id and dotted IPv4 text of ids, key and value of
// key-values, then the Syn's cluster id) are written as one JSON array of strings, which JS
// decodes with one TextDecoder call and one JSON.parse. The bytes are already validated UTF-8;
// only `"`, `\` and control characters need escapes.

@inline function hexDigit(n: u32): u8 {
  return <u8>(n < 10 ? 0x30 + n : 0x57 + n);
}

/** Writes `len` bytes at `src` as a JSON string at `p`. Returns the end pointer. Works 16 bytes
 * at a time, so it reads up to 15 bytes past the source and writes up to 16 bytes past the end
 * (JS keeps that slack; later writes overwrite it). */
function jsonStr(p: usize, src: usize, len: u32): usize {
  store<u8>(p, 0x22);
  p++;
  const end = src + <usize>len;
  let s = src;
  while (s < end) {
    const rem = <u32>(end - s);
    const v = v128.load(s);
    const bad = v128.or(
      v128.or(i8x16.lt_u(v, i8x16.splat(0x20)), i8x16.eq(v, i8x16.splat(0x22))),
      i8x16.eq(v, i8x16.splat(0x5c)),
    );
    let mask = <u32>i8x16.bitmask(bad);
    if (rem < 16) mask &= (<u32>1 << rem) - 1;
    v128.store(p, v);
    if (mask == 0) {
      const k = rem < 16 ? rem : 16;
      p += k;
      s += k;
      continue;
    }
    // Keep the clean prefix, then escape one byte.
    const k = <usize>ctz(mask);
    p += k;
    s += k;
    const c = <u32>load<u8>(s);
    if (c == 0x22 || c == 0x5c) {
      store<u8>(p, 0x5c);
      store<u8>(p, <u8>c, 1);
      p += 2;
    } else {
      store<u32>(p, 0x3030755c); // \u00
      store<u8>(p, hexDigit(c >> 4), 4);
      store<u8>(p, hexDigit(c & 15), 5);
      p += 6;
    }
    s++;
  }
  store<u8>(p, 0x22);
  return p + 1;
}

/** Exact JSON size of `len` bytes at `src` (quotes included). */
function jsonStrSize(src: usize, len: u32): u32 {
  let n: u32 = len + 2;
  const end = src + <usize>len;
  for (let s = src; s < end; s++) {
    const c = <u32>load<u8>(s);
    if (c == 0x22 || c == 0x5c) n += 1;
    else if (c < 0x20) n += 5;
  }
  return n;
}

function putDec(p: usize, v: u32): usize {
  if (v >= 100) {
    store<u8>(p, <u8>(0x30 + v / 100));
    p++;
  }
  if (v >= 10) {
    store<u8>(p, <u8>(0x30 + (v / 10) % 10));
    p++;
  }
  store<u8>(p, <u8>(0x30 + v % 10));
  return p + 1;
}

function jsonIp4(p: usize, ip: usize): usize {
  store<u8>(p, 0x22);
  p = putDec(p + 1, <u32>load<u8>(ip));
  for (let i: usize = 1; i < 4; i++) {
    store<u8>(p, 0x2e);
    p = putDec(p + 1, <u32>load<u8>(ip + i));
  }
  store<u8>(p, 0x22);
  return p + 1;
}

/** Size of the JSON array {@link jsonStrings} writes: exact when `exact`, else an upper bound
 * computed from the lengths only. */
export function jsonSize(rec: usize, n: i32, cluster: i32, exact: i32): u32 {
  let size: u32 = 2;
  for (let i = 0; i < n; i++) {
    const r = rec + (<usize>i << 6);
    const kind = load<u32>(r);
    if ((kind == 0 || kind == 3) && (load<u32>(r, 56) & 4) == 0) {
      const len = load<u32>(r, 8);
      size += 1 + (exact != 0 ? jsonStrSize(<usize>load<u32>(r, 4), len) : 6 * len + 2);
      if (load<u32>(r, 12) == 4) size += 18;
    } else if (kind == 1) {
      const kl = load<u32>(r, 8);
      const vl = load<u32>(r, 16);
      size += exact != 0
        ? 2 + jsonStrSize(<usize>load<u32>(r, 4), kl) + jsonStrSize(<usize>load<u32>(r, 12), vl)
        : 6 * (kl + vl) + 6;
    }
  }
  if (cluster != 0) {
    const len = <u32>clusterLen;
    size += 1 + (exact != 0 ? jsonStrSize(<usize>clusterPtr, len) : 6 * len + 2);
  }
  return size;
}

/** Writes the strings of records `0..n` at `rec` (and the Syn's cluster id when `cluster`) as a
 * JSON array at `out`. Returns the end pointer. */
export function jsonStrings(rec: usize, n: i32, out: usize, cluster: i32): usize {
  store<u8>(out, 0x5b);
  let p = out + 1;
  let first = true;
  for (let i = 0; i < n; i++) {
    const r = rec + (<usize>i << 6);
    const kind = load<u32>(r);
    if ((kind == 0 || kind == 3) && (load<u32>(r, 56) & 4) == 0) {
      if (!first) store<u8>(p++, 0x2c);
      first = false;
      p = jsonStr(p, <usize>load<u32>(r, 4), load<u32>(r, 8));
      if (load<u32>(r, 12) == 4) {
        store<u8>(p++, 0x2c);
        p = jsonIp4(p, <usize>load<u32>(r, 16));
      }
    } else if (kind == 1) {
      if (!first) store<u8>(p++, 0x2c);
      first = false;
      p = jsonStr(p, <usize>load<u32>(r, 4), load<u32>(r, 8));
      store<u8>(p++, 0x2c);
      p = jsonStr(p, <usize>load<u32>(r, 12), load<u32>(r, 16));
    }
  }
  if (cluster != 0) {
    if (!first) store<u8>(p++, 0x2c);
    p = jsonStr(p, <usize>clusterPtr, <u32>clusterLen);
  }
  store<u8>(p, 0x5d);
  return p + 1;
}

// ---------------------------------------------------------------- encoding: digests

@inline function putIp(out: usize, tag: u32, ip: usize): usize {
  store<u8>(out, <u8>tag);
  if (tag == 4) {
    store<u32>(out + 1, load<u32>(ip));
    return out + 5;
  }
  store<u64>(out + 1, load<u64>(ip));
  store<u64>(out + 9, load<u64>(ip, 8));
  return out + 17;
}

/** Writes the 4-byte message header. */
export function putHeader(out: usize, t: i32): void {
  store<u16>(out, 0xb053);
  store<u8>(out, 0, 2);
  store<u8>(out, <u8>t, 3);
}

/** Writes a u16 length prefix. */
export function putLen(out: usize, n: i32): void {
  store<u16>(out, <u16>n);
}

// Digest input table, 64 bytes per entry, filled by JS (node id bytes are already at their final
// place in the output): +0 id length, +4 port, +6 ip tag, +8 16 ip bytes, +24 generation,
// +32 heartbeat, +40 gc, +48 max.

/** Writes a digest of `n` entries at `out` from the input table. Returns the end pointer. */
export function encodeDigest(out: usize, table: usize, n: i32): usize {
  store<u16>(out, <u16>n);
  let p = out + 2;
  for (let i = 0; i < n; i++) {
    const e = table + (<usize>i << 6);
    const len = load<u32>(e);
    store<u16>(p, <u16>len);
    p += 2 + <usize>len;
    store<u64>(p, load<u64>(e, 24));
    p = putIp(p + 8, <u32>load<u8>(e, 6), e + 8);
    store<u16>(p, load<u16>(e, 4));
    store<u64>(p + 2, load<u64>(e, 32));
    store<u64>(p + 10, load<u64>(e, 40));
    store<u64>(p + 18, load<u64>(e, 48));
    p += 26;
  }
  return p;
}

/** Writes a digest of `n` entries at `out` from pre-encoded ids. Entry `k` of the wire is input
 * entry `i = perm[k]` (`perm == 0`: identity): the encoded ChitchatId `blob[offs[i]..offs[i+1]]`
 * (u32 offsets) followed by the 24 value bytes at `vals + 24 i` (heartbeat, gc, max). Copies
 * 16 bytes at a time, so up to 15 bytes past the blob are read (JS keeps that slack) and past an
 * id are written (the values overwrite them). Returns the end pointer. */
export function encodeDigestIds(
  out: usize,
  blob: usize,
  offs: usize,
  vals: usize,
  perm: usize,
  n: i32,
): usize {
  store<u16>(out, <u16>n);
  let p = out + 2;
  for (let k = 0; k < n; k++) {
    const i = perm == 0 ? <usize>k : <usize>load<u32>(perm + (<usize>k << 2));
    const a = <usize>load<u32>(offs + (i << 2));
    const len = <usize>load<u32>(offs + (i << 2), 4) - a;
    const src = blob + a;
    for (let j: usize = 0; j < len; j += 16) v128.store(p + j, v128.load(src + j));
    p += len;
    const v = vals + i * 24;
    store<u64>(p, load<u64>(v));
    store<u64>(p, load<u64>(v, 8), 8);
    store<u64>(p, load<u64>(v, 16), 16);
    p += 24;
  }
  return p;
}

// ---------------------------------------------------------------- encoding: the delta writer
//
// Writer state, 64 bytes at `st` (so JS can park a writer and switch to another):
//   +0 pending ptr  +4 pending length P  +8 emitted O  +12 threshold T  +16 budget
//   +20 flags (1 have node, 2 node has key-values, 4 node has SetMaxVersion)  +24 node max (u64)

let st: usize = 0;

export function writerInit(state: usize, pending: usize, threshold: i32, budget: i32): void {
  st = state;
  store<u32>(st, <u32>pending, 0);
  store<u32>(st, 0, 4);
  store<u32>(st, 0, 8);
  store<u32>(st, <u32>threshold, 12);
  store<u32>(st, <u32>budget, 16);
  store<u32>(st, 0, 20);
  store<u64>(st, 0, 24);
}

export function writerPending(): i32 {
  return <i32>load<u32>(st, 4);
}

/** Accounts a would-be op of `n` bytes (chitchat's upper bound). Returns 1 when it fits. */
function fits(n: i32): bool {
  const P = <i64>load<u32>(st, 4);
  const O = <i64>load<u32>(st, 8);
  const T = <i64>load<u32>(st, 12);
  const budget = <i64>load<u32>(st, 16);
  const m = <i64>n;
  const bound = P + m > T ? O + 3 + P + 3 + m + 1 : O + 3 + P + m + 1;
  return bound <= budget;
}

@inline function commit(n: i32): i32 {
  const P = <i32>load<u32>(st, 4) + n;
  store<u32>(st, <u32>P, 4);
  return P > <i32>load<u32>(st, 12) ? 2 : 1;
}

/** Node op from an encoded ChitchatId of `idLen` bytes already at pending + P + 1 (its length is
 * known to fit a u16). Returns 1 (accepted), 2 (accepted, a block must be flushed) or 0 (does
 * not fit). */
export function writerNodeEncoded(idLen: i32, gc: u64, from: u64): i32 {
  const n = 1 + idLen + 16;
  if (!fits(n)) return 0;
  const p = <usize>load<u32>(st, 0) + <usize>load<u32>(st, 4);
  store<u8>(p, 0);
  const q = p + 1 + <usize>idLen;
  store<u64>(q, gc);
  store<u64>(q + 8, from);
  store<u32>(st, 1, 20);
  store<u64>(st, 0, 24);
  return commit(n);
}

/** Key-value op; key bytes at pending + P + 3, value bytes at pending + P + 3 + keyLen + 2. */
export function writerKv(keyLen: i32, valueLen: i32, version: u64, status: i32): i32 {
  const flags = load<u32>(st, 20);
  if ((flags & 1) == 0) return -21;
  if ((flags & 4) != 0) return -24;
  if (version == 0 || version <= load<u64>(st, 24)) return -22;
  if (keyLen > 0xffff || valueLen > 0xffff) return -25;
  const p = <usize>load<u32>(st, 0) + <usize>load<u32>(st, 4);
  if (keyLen > 0 && load<u8>(p + 3) >= 0x80) return -20;
  const n = 1 + 2 + keyLen + 2 + valueLen + 9;
  if (!fits(n)) return 0;
  store<u8>(p, 1);
  store<u16>(p + 1, <u16>keyLen);
  const q = p + 3 + <usize>keyLen;
  store<u16>(q, <u16>valueLen);
  const r = q + 2 + <usize>valueLen;
  store<u64>(r, version);
  store<u8>(r + 8, <u8>status);
  store<u32>(st, flags | 2, 20);
  store<u64>(st, version, 24);
  return commit(n);
}

let batchCount: i32 = 0;

/** How many key-values the last {@link writerKvBatch} call added. */
export function batchDone(): i32 {
  return batchCount;
}

/** Adds up to `n` key-value ops in order. Entry `i` of `table` (24 bytes: key length, value length,
 * version u64, status u32) has its key and value bytes next to each other at `src`, after those
 * of the entries before it. Stops after an op that requires a block flush (returns 2), at an op
 * that does not fit (0) or is refused (negative); returns 1 when all were added. `batchDone()`
 * then counts the added ops. */
export function writerKvBatch(src: usize, table: usize, n: i32): i32 {
  let s = src;
  for (let i = 0; i < n; i++) {
    batchCount = i;
    const e = table + <usize>i * 24;
    const kl = <i32>load<u32>(e);
    const vl = <i32>load<u32>(e, 4);
    if (kl <= 0xffff && vl <= 0xffff) {
      // writerKv expects the strings in place in the pending bytes; there is room for one op.
      const p = <usize>load<u32>(st, 0) + <usize>load<u32>(st, 4);
      memory.copy(p + 3, s, <usize>kl);
      memory.copy(p + 5 + <usize>kl, s + <usize>kl, <usize>vl);
    }
    const r = writerKv(kl, vl, load<u64>(e, 8), <i32>load<u32>(e, 16));
    if (r <= 0) return r;
    s += <usize>(kl + vl);
    if (r == 2) {
      batchCount = i + 1;
      return 2;
    }
  }
  batchCount = n;
  return 1;
}

export function writerSetMax(max: u64): i32 {
  const flags = load<u32>(st, 20);
  if ((flags & 1) == 0) return -21;
  if ((flags & 2) != 0) return -23;
  if ((flags & 4) != 0) return -26;
  if (!fits(9)) return 0;
  const p = <usize>load<u32>(st, 0) + <usize>load<u32>(st, 4);
  store<u8>(p, 2);
  store<u64>(p + 1, max);
  store<u32>(st, flags | 4, 20);
  store<u64>(st, max, 24);
  return commit(9);
}

/** JS emitted the first `taken` pending bytes as a block of `emitted` bytes (header included).
 * Moves the rest to the front. Returns 1 if another block must be flushed. */
export function writerFlushed(taken: i32, emitted: i32): i32 {
  const base = <usize>load<u32>(st, 0);
  const P = <i32>load<u32>(st, 4) - taken;
  memory.copy(base, base + <usize>taken, <usize>P);
  store<u32>(st, <u32>P, 4);
  store<u32>(st, load<u32>(st, 8) + <u32>emitted, 8);
  return P > <i32>load<u32>(st, 12) ? 1 : 0;
}

/** Writes a raw block (type 02) of `n` bytes from `src` at `out`. Returns the end pointer. */
export function putRawBlock(out: usize, src: usize, n: i32): usize {
  store<u8>(out, 2);
  store<u16>(out + 1, <u16>n);
  memory.copy(out + 3, src, <usize>n);
  return out + 3 + <usize>n;
}

/** Parses a bare digest at the start of `inp` (records at `rec`). Returns the end offset or a
 * negative error code. */
export function parseDigest(inp: usize, len: i32, rec: usize): i32 {
  digestCount = 0;
  const p = readDigest(inp, 0, len, rec);
  if (p >= 0) pos = p;
  return p;
}

/** Checks that `n` bytes at `p` are exactly a sequence of whole zstd frames (standard or
 * skippable), as libzstd's one-shot decompression requires (no partial frame, no trailing
 * bytes). Returns the number of standard frames, or -1 when the bytes are not whole frames. */
export function zstdFrames(p: usize, n: i32): i32 {
  let off = 0;
  let frames = 0;
  while (off < n) {
    if (n - off < 8) return -1;
    const magic = load<u32>(p + <usize>off);
    if ((magic & 0xfffffff0) == 0x184d2a50) {
      const size = load<u32>(p + <usize>off, 4);
      if (<u64>size > <u64>(n - off - 8)) return -1;
      off += 8 + <i32>size;
      continue;
    }
    if (magic != 0xfd2fb528) return -1;
    const fhd = <i32>load<u8>(p + <usize>off, 4);
    if ((fhd & 8) != 0) return -1; // reserved bit
    const single = (fhd >> 5) & 1;
    const fcsFlag = fhd >> 6;
    const dictFlag = fhd & 3;
    const dictSize = dictFlag == 3 ? 4 : dictFlag;
    const fcsSize = fcsFlag == 0 ? single : fcsFlag == 1 ? 2 : fcsFlag == 2 ? 4 : 8;
    off += 5 + (single == 0 ? 1 : 0) + dictSize + fcsSize;
    while (true) {
      if (n - off < 3) return -1;
      const h = <i32>load<u16>(p + <usize>off) | (<i32>load<u8>(p + <usize>off, 2) << 16);
      const type = (h >> 1) & 3;
      if (type == 3) return -1;
      const content = type == 1 ? 1 : h >>> 3;
      if (n - off - 3 < content) return -1;
      off += 3 + content;
      if ((h & 1) != 0) break;
    }
    if ((fhd & 4) != 0) {
      if (n - off < 4) return -1;
      off += 4;
    }
    frames++;
  }
  return frames;
}
