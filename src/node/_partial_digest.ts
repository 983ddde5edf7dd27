/**
 * Past one datagram (PROTOCOL.md §16), on the version-0 wire only: when a node's whole digest
 * no longer fits a Syn or a SynAck, it sends a partial digest instead (its own entry, then as many others as
 * fit) and marks it with a trailer after the complete message. chitchat, and hearsay's decoder,
 * ignore bytes after a complete message; a hearsay node that sees the trailer restricts its delta
 * to the nodes the digest lists (an absent node is not "unknown to the sender", only left out).
 * Below the ceiling nothing changes: the whole digest, no trailer, today's bytes.
 *
 * Two ways to pick the entries are implemented (compared in docs/BENCHMARKS.md, "Past one
 * datagram"): `rotate`, a window over the entries in ChitchatId order that moves on by its own
 * length after every message (every entry goes out once per `N / window` messages), and
 * `random`, a fresh random sample per message.
 *
 * @module
 */
import { chitchatIdEncodedLength } from "../codec/wire.ts";
import type { Random } from "../common/random.ts";
import type { NodeDigest } from "../common/types.ts";
import { digestEntryHash } from "../state/_cluster_state.ts";
import { NodeState } from "../state/node_state.ts";

/** What a node does once its digest outgrows a datagram: `off` (drop the message and warn, the
 * chitchat behaviour), `rotate`, `random` or `compact` (send a partial digest, see the module
 * doc; `compact` is `rotate` with half of the digest's room given to compact heartbeat entries).
 *
 * @example
 * ```ts
 * import { PARTIAL_DIGEST_MODES, type PartialDigestMode } from "./_partial_digest.ts";
 * const m: PartialDigestMode = "rotate";
 * console.log(PARTIAL_DIGEST_MODES.includes(m)); // true
 * ```
 */
export type PartialDigestMode = "off" | "rotate" | "random" | "compact";

/** Every {@link PartialDigestMode}.
 *
 * @example
 * ```ts
 * import { PARTIAL_DIGEST_MODES } from "./_partial_digest.ts";
 * console.log(PARTIAL_DIGEST_MODES.join(",")); // off,rotate,random,compact
 * ```
 */
export const PARTIAL_DIGEST_MODES: readonly PartialDigestMode[] = [
  "off",
  "rotate",
  "random",
  "compact",
];

/** The trailer after a message whose digest is partial: "hsPD" and format version 1, then three
 * zero bytes (room for flags). Chosen so that no chitchat message ends with it in practice: a Syn
 * ends with a u64 max version (these bytes would make it above 2^56), a SynAck or an Ack with a
 * delta's end tag.
 *
 * @example
 * ```ts
 * import { PARTIAL_TRAILER } from "./_partial_digest.ts";
 * console.log(PARTIAL_TRAILER.length); // 8
 * ```
 */
export const PARTIAL_TRAILER: Uint8Array = new Uint8Array([0, 0, 0, 1, 0x44, 0x50, 0x73, 0x68]);

/** Whether `datagram` ends with {@link PARTIAL_TRAILER}.
 *
 * @example
 * ```ts
 * import { hasPartialTrailer, PARTIAL_TRAILER } from "./_partial_digest.ts";
 * import { encodeAck } from "../codec/message.ts";
 * const ack = encodeAck(new Uint8Array([0]));
 * const marked = encodeAck(new Uint8Array([0]), { trailer: PARTIAL_TRAILER });
 * console.log(hasPartialTrailer(ack), hasPartialTrailer(marked)); // false true
 * ```
 */
export function hasPartialTrailer(datagram: Uint8Array): boolean {
  const n = datagram.length;
  const t = PARTIAL_TRAILER;
  if (n < t.length + 4) return false;
  for (let i = 0; i < t.length; i++) if (datagram[n - t.length + i] !== t[i]) return false;
  return true;
}

/** The trailer after a message whose digest is partial and which carries compact heartbeat
 * entries (format 2): like {@link PARTIAL_TRAILER} with format byte 2, preceded by the entries
 * and their byte count as a u32 (little-endian). Each entry is the id's 48-bit hash
 * (`chitchatIdHash`, 6 bytes little-endian) and its heartbeat as an unsigned LEB128 (at most 10
 * bytes, below 2^64).
 *
 * @example
 * ```ts
 * import { COMPACT_TRAILER } from "./_partial_digest.ts";
 * console.log(COMPACT_TRAILER[3], COMPACT_TRAILER.length); // 2 8
 * ```
 */
export const COMPACT_TRAILER: Uint8Array = new Uint8Array([0, 0, 0, 2, 0x44, 0x50, 0x73, 0x68]);

/** Bytes a compact section adds besides its entries: the u32 count and the 8-byte trailer. */
export const COMPACT_FRAMING = 4 + COMPACT_TRAILER.length;

/** Which partial-digest trailer `datagram` ends with: 0 (none: a whole digest), 1
 * ({@link PARTIAL_TRAILER}) or 2 ({@link COMPACT_TRAILER}).
 *
 * @example
 * ```ts
 * import { partialTrailerFormat, PARTIAL_TRAILER } from "./_partial_digest.ts";
 * import { encodeAck } from "../codec/message.ts";
 * console.log(partialTrailerFormat(encodeAck(new Uint8Array([0]))), partialTrailerFormat(encodeAck(new Uint8Array([0]), { trailer: PARTIAL_TRAILER }))); // 0 1
 * ```
 */
export function partialTrailerFormat(datagram: Uint8Array): 0 | 1 | 2 {
  if (hasPartialTrailer(datagram)) return 1;
  const n = datagram.length;
  const t = COMPACT_TRAILER;
  if (n < t.length + 8) return 0;
  for (let i = 0; i < t.length; i++) if (datagram[n - t.length + i] !== t[i]) return 0;
  return 2;
}

const TWO_32 = 2 ** 32;

/** Writes the compact heartbeat entries of one message into a reused buffer. */
export class CompactSectionWriter {
  #buf = new Uint8Array(1024);
  #length = 0;

  /** Starts a new section (forgets the entries of the previous one). */
  begin(): void {
    this.#length = 0;
  }

  /** Bytes of entries written so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends an entry for the id hash `hash` with `heartbeat` unless the entries would then
   * pass `budget` bytes; returns whether it was written. */
  tryAdd(hash: number, heartbeat: number | bigint, budget: number): boolean {
    let p = this.#length;
    if (p + 16 > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#buf.length * 2, p + 16));
      grown.set(this.#buf.subarray(0, p));
      this.#buf = grown;
    }
    const b = this.#buf;
    const lo = hash % TWO_32;
    const hi = (hash - lo) / TWO_32;
    b[p] = lo & 0xff;
    b[p + 1] = (lo >>> 8) & 0xff;
    b[p + 2] = (lo >>> 16) & 0xff;
    b[p + 3] = lo >>> 24;
    b[p + 4] = hi & 0xff;
    b[p + 5] = (hi >>> 8) & 0xff;
    p += 6;
    if (typeof heartbeat === "number") {
      let v = heartbeat;
      while (v >= 128) {
        b[p++] = (v % 128) | 128;
        v = Math.floor(v / 128);
      }
      b[p++] = v;
    } else {
      let v = heartbeat;
      while (v >= 128n) {
        b[p++] = Number(v & 127n) | 128;
        v >>= 7n;
      }
      b[p++] = Number(v);
    }
    if (p > budget) return false;
    this.#length = p;
    return true;
  }

  /** The section as a trailer: the entries, their byte count, {@link COMPACT_TRAILER}. A view
   * into the writer's buffer, valid until the next {@link CompactSectionWriter.begin}. */
  finish(): Uint8Array {
    const p = this.#length;
    const end = p + COMPACT_FRAMING;
    if (end > this.#buf.length) {
      const grown = new Uint8Array(end);
      grown.set(this.#buf.subarray(0, p));
      this.#buf = grown;
    }
    const b = this.#buf;
    b[p] = p & 0xff;
    b[p + 1] = (p >>> 8) & 0xff;
    b[p + 2] = (p >>> 16) & 0xff;
    b[p + 3] = p >>> 24;
    b.set(COMPACT_TRAILER, p + 4);
    return b.subarray(0, end);
  }
}

/** The compact heartbeat entries read from a datagram, in reused arrays. */
export class CompactSectionReader {
  /** Id hashes of the entries read. */
  hashes: Float64Array = new Float64Array(256);
  /** Their heartbeats (NaN for one above 2^53 - 1: left to the digest entries). */
  heartbeats: Float64Array = new Float64Array(256);

  /** Reads the section of `datagram` (which ends with {@link COMPACT_TRAILER}); the section
   * may not start before byte `messageBytes` (the message's length, or a lower bound of it such
   * as its header); returns the number of entries, or -1 when the
   * section is malformed (its count runs into the message, an entry is cut short, a heartbeat
   * is longer than 10 bytes or not below 2^64). Nothing is allocated for the entries before
   * the count was checked against the datagram. */
  read(datagram: Uint8Array, messageBytes: number): number {
    const n = datagram.length;
    const countAt = n - COMPACT_FRAMING;
    if (countAt < messageBytes) return -1;
    const len = (datagram[countAt]! | (datagram[countAt + 1]! << 8) |
      (datagram[countAt + 2]! << 16) | (datagram[countAt + 3]! << 24)) >>> 0;
    const start = countAt - len;
    if (len > countAt || start < messageBytes) return -1;
    // At least 7 bytes an entry.
    const most = Math.floor(len / 7);
    if (this.hashes.length < most) {
      this.hashes = new Float64Array(most);
      this.heartbeats = new Float64Array(most);
    }
    const hashes = this.hashes;
    const heartbeats = this.heartbeats;
    let p = start;
    let count = 0;
    while (p < countAt) {
      if (p + 7 > countAt) return -1;
      const d = datagram;
      const lo = (d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16) | (d[p + 3]! << 24)) >>> 0;
      hashes[count] = lo + (d[p + 4]! | (d[p + 5]! << 8)) * TWO_32;
      p += 6;
      let v = 0;
      let scale = 1;
      let bytes = 0;
      let big: bigint | undefined;
      for (;;) {
        if (p >= countAt || bytes === 10) return -1;
        const byte = d[p++]!;
        bytes++;
        if (bytes <= 7) v += (byte & 127) * scale;
        else {
          big ??= BigInt(v);
          big += BigInt(byte & 127) << BigInt(7 * (bytes - 1));
        }
        scale *= 128;
        if (byte < 128) break;
      }
      if (big !== undefined) {
        if (big >= 1n << 64n) return -1;
        heartbeats[count] = big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : NaN;
      } else heartbeats[count] = v;
      count++;
    }
    return count;
  }
}

/** Picks the entries of partial digests for one node, message after message.
 *
 * @example
 * ```ts
 * import { DigestPicker } from "./_partial_digest.ts";
 * import { createRandom } from "../common/random.ts";
 * const entry = (i: number) => ({
 *   chitchatId: { nodeId: `n${i}`, generationId: 0n, gossipAdvertiseAddr: { ip: "10.0.0.1", port: i } },
 *   heartbeat: 1n, lastGcVersion: 0n, maxVersion: 0n,
 * });
 * const all = Array.from({ length: 10 }, (_, i) => entry(i));
 * const picker = new DigestPicker("rotate", createRandom(1));
 * // Room for 4 entries of 36 bytes (plus the 2-byte count): self and 3 more, then the next 3.
 * const a = picker.pick(all, all[0]!, 2 + 4 * 36);
 * const b = picker.pick(all, all[0]!, 2 + 4 * 36);
 * console.log(a.nodes.map((e) => e.chitchatId.nodeId), b.nodes.length); // [ "n0", "n1", "n2", "n3" ] 4
 * console.log(b.nodes.map((e) => e.chitchatId.nodeId)); // [ "n0", "n4", "n5", "n6" ]
 * ```
 */
export class DigestPicker {
  readonly #mode: Exclude<PartialDigestMode, "off">;
  readonly #random: Random;
  #cursor = 0;

  /** A picker in `mode`; `random` draws the samples of mode `random`. */
  constructor(mode: Exclude<PartialDigestMode, "off">, random: Random) {
    if (!PARTIAL_DIGEST_MODES.includes(mode) || (mode as string) === "off") {
      throw new RangeError(`DigestPicker needs rotate, random or compact, got ${String(mode)}`);
    }
    this.#mode = mode;
    this.#random = random;
  }

  /** The entries of the next partial digest out of `all` (ChitchatId order, `self` among them):
   * `self` first, then others until `budget` bytes (the digest's encoded size, its 2-byte count
   * included) would be exceeded. Returns them, their indices in `all` (undefined when `self` is
   * not one of `all`) and their encoded size. `entrySizes`, when given, holds each entry's
   * encoded size (id and 24 bytes of values) in `all`'s order, so that no id is measured.
   *
   * `compact` (mode `compact`): after the digest's window, the entries that follow it go into
   * `compact.writer` (begun here) as compact heartbeat entries, up to `compact.budget` bytes of
   * entries; the next message's window starts right after this one's (not after the compact
   * entries), so that every entry comes round as a whole entry. */
  pick(
    all: readonly NodeDigest[],
    self: NodeDigest,
    budget: number,
    entrySizes?: ArrayLike<number>,
    compact?: { readonly writer: CompactSectionWriter; readonly budget: number },
  ): { nodes: NodeDigest[]; indices: number[] | undefined; encodedLength: number } {
    compact?.writer.begin();
    const nodes: NodeDigest[] = [self];
    const selfAt = all.indexOf(self);
    const indices: number[] | undefined = selfAt < 0 ? undefined : [selfAt];
    const n = all.length;
    if (entrySizes !== undefined && entrySizes.length !== n) {
      throw new RangeError(
        `entrySizes holds ${entrySizes.length} sizes for ${n} entries; give one per entry`,
      );
    }
    const sizeAt = entrySizes === undefined
      ? (i: number) => chitchatIdEncodedLength(all[i]!.chitchatId) + 24
      : (i: number) => entrySizes[i]!;
    let length = 2 + (selfAt < 0 ? chitchatIdEncodedLength(self.chitchatId) + 24 : sizeAt(selfAt));
    if (n === 0) return { nodes, indices, encodedLength: length };
    if (this.#mode !== "random") {
      let i = this.#cursor % n;
      let taken = 0;
      for (; taken < n; taken++, i = (i + 1) % n) {
        const e = all[i]!;
        if (e === self) continue;
        const size = sizeAt(i);
        if (length + size > budget) break;
        nodes.push(e);
        indices?.push(i);
        length += size;
      }
      // The next window starts after this one: every entry gets its turn as a whole entry (how
      // nodes learn of it) once per N / window messages, however much the compact entries
      // after the window cover (they may wrap around to it when the cluster is small).
      this.#cursor = i;
      if (compact !== undefined && this.#mode === "compact") {
        const w = compact.writer;
        for (; taken < n; taken++, i = (i + 1) % n) {
          const e = all[i]!;
          if (e === self) continue;
          const hb = e instanceof NodeState ? e.heartbeatValue : e.heartbeat;
          if (!w.tryAdd(digestEntryHash(e), hb, compact.budget)) break;
        }
      }
    } else {
      // A partial Fisher-Yates over the indices: a uniform sample without repeats.
      const idx = Array.from({ length: n }, (_, k) => k);
      for (let k = 0; k < n; k++) {
        const j = k + this.#random.int(n - k);
        const pick = idx[j]!;
        idx[j] = idx[k]!;
        const e = all[pick]!;
        if (e === self) continue;
        const size = sizeAt(pick);
        if (length + size > budget) break;
        nodes.push(e);
        indices?.push(pick);
        length += size;
      }
    }
    return { nodes, indices, encodedLength: length };
  }
}
