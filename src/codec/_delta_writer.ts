/**
 * The WASM side of the budgeted delta serializer (chitchat's `DeltaSerializer`): op bytes and
 * the bound accounting live in WASM memory; blocks are compressed with zstd (`_zstd.ts`).
 * `delta.ts` wraps it as the public `DeltaWriter`.
 *
 * @module
 */
import { EncodeError } from "../common/errors.ts";
import type { ChitchatId, KeyStatus, KeyValueMutation } from "../common/types.ts";
import * as wasm from "./_wasm.ts";
import { align64, ensure, refreshViews, SCRATCH, STATE, u32, u64, u8, WPEND } from "./_memory.ts";
import { checkU64, encodedId, putString, u64Error } from "./_encode.ts";
import { reusedZstdCompress, zstdCompressSync, zstdLevel3 } from "./_zstd.ts";
import { BLOCK_THRESHOLD } from "./wire.ts";

/** chitchat gives libzstd a destination exactly as large as the input; see `#flush`. */
const ZSTD_BITSTREAM_SLACK = 8;
const textEncoder = new TextEncoder();

const WRITER_ERRORS: Readonly<Record<number, string>> = {
  20: "a key must not start with a multi-byte UTF-8 character (it panics chitchat receivers)",
  21: "a KeyValue or SetMaxVersion needs a Node first",
  22: "KeyValue versions must be >= 1 and strictly increasing within a node",
  23: "SetMaxVersion must not follow KeyValues of the same node (it can panic chitchat receivers)",
  24: "a KeyValue must not follow SetMaxVersion in the same node",
  25: "a string is longer than 65 535 UTF-8 bytes",
  26: "SetMaxVersion was already set for this node",
};

const STATUS_CODES: Readonly<Record<KeyStatus, number>> = {
  set: 0,
  deleted: 1,
  deleteAfterTtl: 2,
};

/** chitchat's block decision (`CompressedStreamWriter`, for deltas and for V1 digests alike):
 * the zstd frame (level 3) of the `n` plain bytes at WASM address `src` when the block goes out
 * compressed (type 01), or null when it goes out raw (type 02). The frame is a view valid until
 * the next compression. */
export function compressedBlock(src: number, n: number): Uint8Array | null {
  const c = reusedZstdCompress(src, n) ??
    zstdCompressSync(u8.subarray(src, src + n), zstdLevel3(n));
  // chitchat gives libzstd a destination exactly as large as the input. libzstd then fails
  // unless the frame leaves the bitstream writer its 8 bytes of slack (the output pointer must
  // stay below capacity - sizeof(size_t)); such blocks go out raw.
  return c.length + ZSTD_BITSTREAM_SLACK <= n ? c : null;
}

/** Writes the plain bytes at WASM address `src` (`n` bytes) as a block stream: blocks of
 * {@link BLOCK_THRESHOLD} plain bytes (the last one shorter), each compressed or raw as
 * {@link compressedBlock} decides (always raw without `compress`), then the end tag `00`. This
 * is chitchat's writer fed everything at once: a block is cut whenever more than the threshold
 * is pending, so blocks split entries anywhere. The V1 digest is written this way. */
export function writeBlockStream(src: number, n: number, compress: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 1;
  for (let off = 0; off < n; off += BLOCK_THRESHOLD) {
    const len = Math.min(BLOCK_THRESHOLD, n - off);
    const c = compress ? compressedBlock(src + off, len) : null;
    const block = new Uint8Array(3 + (c === null ? len : c.length));
    block[0] = c === null ? 2 : 1;
    block[1] = (block.length - 3) & 0xff;
    block[2] = (block.length - 3) >>> 8;
    // A raw block copies from WASM memory now: a later compression may not touch it, but the
    // view must be taken before anything can grow the memory.
    block.set(c ?? u8.subarray(src + off, src + off + len), 3);
    parts.push(block);
    total += block.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const b of parts) {
    out.set(b, at);
    at += b.length;
  }
  return out; // out[total - 1] is already the end tag 00
}

let activeWriter: WasmDeltaWriter | null = null;
const NO_BYTES = new Uint8Array(0);

/** The WASM side of a budgeted delta serializer (chitchat's `DeltaSerializer`): op bytes and
 * bound accounting live in WASM memory; blocks are compressed with node:zlib's zstd.
 *
 * @example
 * ```ts
 * import { WasmDeltaWriter } from "./_delta_writer.ts";
 * const w = new WasmDeltaWriter(1000, false);
 * console.log(w.finish()); // Uint8Array [ 0 ]
 * ```
 */
export class WasmDeltaWriter {
  #budget: number;
  #threshold: number;
  #compress: boolean;
  /** Emitted blocks; the delta is `#out[0..#outLen]` plus the end tag. */
  #out: Uint8Array;
  #outLen = 0;
  #parked: Uint8Array | null = null;
  #finished = false;
  #added = 0;

  /** Creates a writer for at most `budget` delta bytes (blocks + end tag). */
  constructor(budget: number, compress: boolean) {
    this.#budget = Math.min(budget, 0x7fffffff);
    this.#threshold = Math.min(BLOCK_THRESHOLD, this.#budget);
    this.#compress = compress;
    // Nothing until the first block: most deltas of a steady cluster are empty. `#reserve`
    // makes room for one block first, then quadruples (up to the budget).
    this.#out = NO_BYTES;
    if (activeWriter !== null) activeWriter.#park();
    wasm.writerInit(STATE, WPEND, this.#threshold, this.#budget);
    activeWriter = this;
  }

  #park(): void {
    refreshViews();
    const p = wasm.writerPending();
    const saved = new Uint8Array(64 + p);
    saved.set(u8.subarray(STATE, STATE + 64));
    saved.set(u8.subarray(WPEND, WPEND + p), 64);
    this.#parked = saved;
    activeWriter = null;
  }

  #activate(): void {
    if (this.#finished) throw new EncodeError("this delta writer is already finished");
    refreshViews();
    if (activeWriter === this) return;
    if (activeWriter !== null) activeWriter.#park();
    const saved = this.#parked!;
    u8.set(saved.subarray(0, 64), STATE);
    u8.set(saved.subarray(64), WPEND);
    this.#parked = null;
    activeWriter = this;
  }

  #result(r: number): boolean {
    if (r < 0) throw new EncodeError(WRITER_ERRORS[-r] ?? `delta writer error ${-r}`);
    if (r === 2) {
      while (this.#flush(this.#threshold) === 1);
    }
    return r !== 0;
  }

  /** Room for `n` more bytes in `#out`. */
  #reserve(n: number): void {
    if (this.#outLen + n <= this.#out.length) return;
    const grown = new Uint8Array(
      Math.max(
        Math.min(Math.max(this.#out.length * 4, this.#threshold + 4), this.#budget),
        this.#outLen + n,
      ),
    );
    grown.set(this.#out.subarray(0, this.#outLen));
    this.#out = grown;
  }

  #flush(n: number): number {
    const at = this.#outLen;
    if (this.#compress) {
      const c = compressedBlock(WPEND, n);
      if (c !== null) {
        this.#reserve(3 + c.length + 1);
        const out = this.#out;
        out[at] = 1;
        out[at + 1] = c.length & 0xff;
        out[at + 2] = c.length >>> 8;
        out.set(c, at + 3);
        this.#outLen = at + 3 + c.length;
        return wasm.writerFlushed(n, 3 + c.length);
      }
    }
    this.#reserve(3 + n + 1);
    const out = this.#out;
    out[at] = 2;
    out[at + 1] = n & 0xff;
    out[at + 2] = n >>> 8;
    out.set(u8.subarray(WPEND, WPEND + n), at + 3);
    this.#outLen = at + 3 + n;
    return wasm.writerFlushed(n, 3 + n);
  }

  /** Tries to add a Node op. Returns false when it does not fit. */
  addNode(id: ChitchatId, lastGcVersion: bigint, fromVersionExcluded: bigint): boolean {
    const bytes = encodedId(id).bytes;
    checkU64(lastGcVersion, "lastGcVersion");
    checkU64(fromVersionExcluded, "fromVersionExcluded");
    this.#activate();
    u8.set(bytes, WPEND + wasm.writerPending() + 1);
    return this.#result(wasm.writerNodeEncoded(bytes.length, lastGcVersion, fromVersionExcluded));
  }

  /** Tries to add a KeyValue op. Returns false when it does not fit. */
  addKeyValue(kv: KeyValueMutation): boolean {
    checkU64(kv.version, "version");
    const status = STATUS_CODES[kv.status];
    if (status === undefined) throw new EncodeError(`unknown key status ${String(kv.status)}`);
    this.#activate();
    const at = WPEND + wasm.writerPending();
    const kl = putString(kv.key, at + 3, "key");
    const vl = putString(kv.value, at + 5 + kl, "value");
    return this.#result(wasm.writerKv(kl, vl, kv.version, status));
  }

  /** Tries to add `kvs[start..]` in order, stopping at the first that does not fit; returns how
   * many were added. Throws (after adding the ones before it) for a key-value `addKeyValue`
   * refuses. All-ASCII runs of key-values are encoded with one TextEncoder call and added in
   * one WASM call per block. */
  addKeyValues(kvs: readonly KeyValueMutation[], start: number): number {
    this.#added = 0;
    let i = start;
    while (i < kvs.length) {
      this.#activate();
      // A run of key-values with at most 256 entries and about 32 Ki characters.
      let all = "";
      let end = i;
      let bad: EncodeError | undefined;
      const stage = SCRATCH;
      while (end < kvs.length && end - i < 256 && all.length < 32768) {
        const kv = kvs[end]!;
        all += kv.key;
        all += kv.value;
        end++;
      }
      const table = align64(stage + all.length + 8);
      ensure(table + 24 * (end - i) + 64);
      const { read, written } = textEncoder.encodeInto(
        all,
        u8.subarray(stage, stage + all.length),
      );
      if (read !== all.length || written !== all.length) {
        // Not all ASCII: byte lengths are not the character counts. One at a time.
        for (; i < end; i++) {
          if (!this.addKeyValue(kvs[i]!)) return this.#added;
          this.#added++;
        }
        continue;
      }
      let n = 0;
      // Locals: the imported views would be re-read at every store.
      const w32 = u32;
      const w64 = u64;
      for (let j = i; j < end; j++, n++) {
        const kv = kvs[j]!;
        const v = kv.version;
        if (BigInt.asUintN(64, v) !== v) {
          bad = u64Error("version", v);
          break;
        }
        const status = STATUS_CODES[kv.status];
        if (status === undefined) {
          bad = new EncodeError(`unknown key status ${String(kv.status)}`);
          break;
        }
        const e = (table >>> 2) + 6 * n;
        w32[e] = kv.key.length;
        w32[e + 1] = kv.value.length;
        w64[(e >>> 1) + 1] = v;
        w32[e + 4] = status;
      }
      let src = stage;
      let done = 0;
      while (done < n) {
        const r = wasm.writerKvBatch(src, table + 24 * done, n - done);
        const k = wasm.batchDone();
        for (let j = 0; j < k; j++) {
          const kv = kvs[i + done + j]!;
          src += kv.key.length + kv.value.length;
        }
        done += k;
        this.#added += k;
        if (r === 2) {
          while (this.#flush(this.#threshold) === 1);
          continue;
        }
        if (r === 1) break;
        this.#result(r); // throws for a refusal
        return this.#added; // does not fit
      }
      if (bad !== undefined) throw bad;
      i = end;
    }
    return this.#added;
  }

  /** How many key-values the last {@link addKeyValues} call added (also when it threw). */
  get lastAdded(): number {
    return this.#added;
  }

  /** Tries to add a SetMaxVersion op. Returns false when it does not fit. */
  setMaxVersion(maxVersion: bigint): boolean {
    checkU64(maxVersion, "maxVersion");
    this.#activate();
    return this.#result(wasm.writerSetMax(maxVersion));
  }

  /** Flushes the last block and returns the delta bytes (blocks + end tag). */
  finish(): Uint8Array {
    this.#activate();
    const p = wasm.writerPending();
    if (p > 0) this.#flush(p);
    this.#finished = true;
    activeWriter = null;
    if (this.#outLen === 0) return new Uint8Array(1); // just the end tag
    this.#reserve(1);
    this.#out[this.#outLen] = 0;
    const out = this.#out.subarray(0, this.#outLen + 1);
    this.#out = new Uint8Array(0);
    return out;
  }
}
