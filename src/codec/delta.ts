/**
 * Delta encoding and decoding, byte-compatible with chitchat 0.10.1: a flat op stream (Node,
 * KeyValue, SetMaxVersion) cut into raw (type 02) or zstd (type 01) blocks of at most 16 384
 * bytes, ended by `00`. {@link DeltaWriter} mirrors chitchat's budgeted serializer.
 *
 * @module
 */
import { chitchatIdKey } from "../common/chitchat_id.ts";
import { ConfigError, EncodeError } from "../common/errors.ts";
import { MIN_DELTA_BUDGET } from "./wire.ts";
import type { ChitchatId, Delta, KeyValueMutation } from "../common/types.ts";
import { type MutableNodeDelta, wasmDecodeDelta } from "./_decode.ts";
import { WasmDeltaWriter } from "./_delta_writer.ts";

export {
  BLOCK_THRESHOLD,
  deltaEncodedLength,
  MIN_DELTA_BUDGET,
  nodeDeltaOpsLength,
} from "./wire.ts";

/** Options of {@link DeltaWriter}. */
export interface DeltaWriterOptions {
  /** Most delta bytes (blocks + end tag) the result may take; at least 100. */
  readonly budget: number;
  /** Compress blocks with zstd when that makes them smaller (default true, like chitchat). */
  readonly compress?: boolean;
}

/** A budgeted delta serializer mirroring chitchat's: each `try*` call adds one op if chitchat's
 * upper bound (PROTOCOL.md §5.2) stays within the budget, so the result never exceeds the budget
 * and makes the same progress chitchat makes. Refuses (EncodeError) ops chitchat receivers would
 * reject or crash on.
 *
 * @example
 * ```ts
 * import { DeltaWriter } from "./delta.ts";
 * const w = new DeltaWriter({ budget: 1000 });
 * const id = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 1 } };
 * w.tryAddNode(id, 0n, 0n);
 * w.tryAddKeyValue({ key: "k", value: "v", version: 1n, status: "set" });
 * const bytes = w.finish();
 * console.log(bytes.length, w.delta.nodeDeltas[0]?.maxVersion); // 48 1n
 * ```
 */
export class DeltaWriter {
  #core: WasmDeltaWriter;
  #nodes: MutableNodeDelta[] = [];
  #ids = new Set<string>();
  #current: MutableNodeDelta | undefined;
  #bytes: Uint8Array | undefined;

  /** Creates a writer. Throws ConfigError when `budget` is not an integer ≥ 100. */
  constructor(options: DeltaWriterOptions) {
    const { budget } = options;
    if (!Number.isInteger(budget) || budget < MIN_DELTA_BUDGET) {
      throw new ConfigError("budget", `must be an integer >= ${MIN_DELTA_BUDGET}, got ${budget}`);
    }
    this.#core = new WasmDeltaWriter(budget, options.compress ?? true);
  }

  #open(): void {
    if (this.#bytes !== undefined) throw new EncodeError("DeltaWriter.finish() was already called");
  }

  /** Adds a Node op (starts that node's records). Returns false when it does not fit; throws
   * EncodeError when the id is already in this delta. */
  tryAddNode(id: ChitchatId, lastGcVersion: bigint, fromVersionExcluded: bigint): boolean {
    this.#open();
    const key = chitchatIdKey(id);
    if (this.#ids.has(key)) {
      throw new EncodeError(`node ${id.nodeId} is already in this delta (chitchat drops it)`);
    }
    if (!this.#core.addNode(id, lastGcVersion, fromVersionExcluded)) return false;
    this.#ids.add(key);
    this.#current = {
      chitchatId: id,
      lastGcVersion,
      fromVersionExcluded,
      keyValues: [],
      maxVersion: 0n,
    };
    this.#nodes.push(this.#current);
    return true;
  }

  /** Adds a KeyValue op to the current node. Returns false when it does not fit (chitchat then
   * stops the whole delta). Throws EncodeError for a key starting with a multi-byte character,
   * a version that is 0 or not above the node's previous one, or a string over 65 535 bytes. */
  tryAddKeyValue(kv: KeyValueMutation): boolean {
    this.#open();
    if (!this.#core.addKeyValue(kv)) return false;
    const cur = this.#current!;
    cur.keyValues.push(kv);
    cur.maxVersion = kv.version;
    return true;
  }

  /** Adds `kvs[start..]` to the current node in order, like calling {@link tryAddKeyValue} on
   * each until one returns false or throws (the ones before stay added). Returns how many were
   * added; fewer than `kvs.length - start` means the next one did not fit (chitchat then stops
   * the whole delta). Faster than one call per key-value.
   *
   * @example
   * ```ts
   * import { DeltaWriter } from "./delta.ts";
   * const w = new DeltaWriter({ budget: 1000 });
   * w.tryAddNode({ nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "::1", port: 1 } }, 0n, 0n);
   * console.log(w.tryAddKeyValues([
   *   { key: "k1", value: "v", version: 1n, status: "set" },
   *   { key: "k2", value: "v", version: 2n, status: "set" },
   * ])); // 2
   * ```
   */
  tryAddKeyValues(kvs: readonly KeyValueMutation[], start = 0): number {
    this.#open();
    let added = 0;
    try {
      added = this.#core.addKeyValues(kvs, start);
    } finally {
      // Record what was added, also when a refusal interrupted the run.
      added = this.#core.lastAdded;
      const cur = this.#current;
      if (cur !== undefined && added > 0) {
        if (cur.keyValues.length === 0) cur.keyValues = kvs.slice(start, start + added);
        else for (let i = start; i < start + added; i++) cur.keyValues.push(kvs[i]!);
        cur.maxVersion = kvs[start + added - 1]!.version;
      }
    }
    return added;
  }

  /** Adds a SetMaxVersion op (only for a node without key-values). Returns false when it does
   * not fit; throws EncodeError after key-values of the same node. */
  trySetMaxVersion(maxVersion: bigint): boolean {
    this.#open();
    if (!this.#core.setMaxVersion(maxVersion)) return false;
    this.#current!.maxVersion = maxVersion;
    return true;
  }

  /** Returns the delta bytes (blocks + end tag). Later calls return the same bytes. */
  finish(): Uint8Array {
    if (this.#bytes === undefined) this.#bytes = this.#core.finish();
    return this.#bytes;
  }

  /** The logical content accepted so far. */
  get delta(): Delta {
    // Key-values are kept as the caller's objects and copied here, off the hot path.
    return {
      nodeDeltas: this.#nodes.map((n) => ({
        ...n,
        keyValues: n.keyValues.map((kv) => ({
          key: kv.key,
          value: kv.value,
          version: kv.version,
          status: kv.status,
        })),
      })),
    };
  }
}

/** Options of {@link encodeDelta}. */
export interface EncodeDeltaOptions {
  /** Compress blocks with zstd when that makes them smaller (default true, like chitchat). */
  readonly compress?: boolean;
}

/** Encodes a whole delta (no budget; 16 384-byte blocks, like chitchat's `Delta::serialize`).
 * A node delta with key-values must have `maxVersion` equal to its last version; one without
 * gets a SetMaxVersion op when `maxVersion > 0`. Throws EncodeError for deltas chitchat cannot
 * carry (see {@link DeltaWriter}).
 *
 * @example
 * ```ts
 * import { encodeDelta } from "./delta.ts";
 * console.log(encodeDelta({ nodeDeltas: [] })); // Uint8Array(1) [ 0 ]
 * ```
 */
export function encodeDelta(delta: Delta, options: EncodeDeltaOptions = {}): Uint8Array {
  const w = new DeltaWriter({ budget: 0x7fffffff, compress: options.compress ?? true });
  for (const nd of delta.nodeDeltas) {
    w.tryAddNode(nd.chitchatId, nd.lastGcVersion, nd.fromVersionExcluded);
    const kvs = nd.keyValues;
    if (kvs.length === 0) {
      if (nd.maxVersion > 0n) w.trySetMaxVersion(nd.maxVersion);
      continue;
    }
    w.tryAddKeyValues(kvs);
    if (kvs[kvs.length - 1]!.version !== nd.maxVersion) {
      throw new EncodeError(
        `node ${nd.chitchatId.nodeId}: maxVersion ${nd.maxVersion} must equal the last ` +
          `key-value version ${kvs[kvs.length - 1]!.version} (chitchat has no way to send both)`,
      );
    }
  }
  return w.finish();
}

/** Decodes delta bytes (blocks + end tag; trailing bytes are ignored), enforcing chitchat's
 * delta-builder rules. Throws only DecodeError.
 *
 * @example
 * ```ts
 * import { decodeDelta } from "./delta.ts";
 * console.log(decodeDelta(new Uint8Array([0]))); // { nodeDeltas: [] }
 * ```
 */
export function decodeDelta(bytes: Uint8Array): Delta {
  return wasmDecodeDelta(bytes).delta;
}
