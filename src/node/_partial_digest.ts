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

/** What a node does once its digest outgrows a datagram: `off` (drop the message and warn, the
 * chitchat behaviour), `rotate` or `random` (send a partial digest, see the module doc).
 *
 * @example
 * ```ts
 * import { PARTIAL_DIGEST_MODES, type PartialDigestMode } from "./_partial_digest.ts";
 * const m: PartialDigestMode = "rotate";
 * console.log(PARTIAL_DIGEST_MODES.includes(m)); // true
 * ```
 */
export type PartialDigestMode = "off" | "rotate" | "random";

/** Every {@link PartialDigestMode}.
 *
 * @example
 * ```ts
 * import { PARTIAL_DIGEST_MODES } from "./_partial_digest.ts";
 * console.log(PARTIAL_DIGEST_MODES.join(",")); // off,rotate,random
 * ```
 */
export const PARTIAL_DIGEST_MODES: readonly PartialDigestMode[] = ["off", "rotate", "random"];

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
    this.#mode = mode;
    this.#random = random;
  }

  /** The entries of the next partial digest out of `all` (ChitchatId order, `self` among them):
   * `self` first, then others until `budget` bytes (the digest's encoded size, its 2-byte count
   * included) would be exceeded. Returns them, their indices in `all` (undefined when `self` is
   * not one of `all`) and their encoded size. `entrySizes`, when given, holds each entry's
   * encoded size (id and 24 bytes of values) in `all`'s order, so that no id is measured. */
  pick(
    all: readonly NodeDigest[],
    self: NodeDigest,
    budget: number,
    entrySizes?: ArrayLike<number>,
  ): { nodes: NodeDigest[]; indices: number[] | undefined; encodedLength: number } {
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
    if (this.#mode === "rotate") {
      let i = this.#cursor % n;
      for (let taken = 0; taken < n; taken++, i = (i + 1) % n) {
        const e = all[i]!;
        if (e === self) continue;
        const size = sizeAt(i);
        if (length + size > budget) break;
        nodes.push(e);
        indices?.push(i);
        length += size;
      }
      this.#cursor = i;
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
