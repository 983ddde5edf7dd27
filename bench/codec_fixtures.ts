/**
 * Shared inputs of the codec benchmarks: a ~64 KiB zlayer-like delta and a 1000-node digest.
 *
 * @module
 */
import type {
  ChitchatMessage,
  Delta,
  Digest,
  KeyValueMutation,
  NodeDelta,
} from "../src/common/types.ts";

/** ~64 KiB of ops: zlayer-style records (`worker:<n>` keys, base64url PeerInfo JSON values).
 *
 * @example
 * ```ts
 * import { realisticDelta } from "./codec_fixtures.ts";
 * const small = realisticDelta(10_000);
 * const keys = small.nodeDeltas.flatMap((n) => n.keyValues.map((kv) => kv.key));
 * console.log(keys.length, keys[0]); // 68 worker:1
 * ```
 */
export function realisticDelta(maxOpBytes = 65000): Delta {
  const nodeDeltas: NodeDelta[] = [];
  let bytes = 0;
  for (let node = 0; bytes < maxOpBytes - 200; node++) {
    const nodeId = `worker:${node}`;
    bytes += 1 + 2 + nodeId.length + 8 + 7 + 16;
    const kvs: KeyValueMutation[] = [];
    for (let k = 1; k <= 20; k++) {
      const info = `{"node_id":${node * 100 + k},"wg_pubkey":"","wg_endpoint":"10.0.${node}.${k}` +
        `:51820","overlay_ip":"","labels":{}}`;
      const value = new TextEncoder().encode(info).toBase64({
        alphabet: "base64url",
        omitPadding: true,
      });
      const key = `worker:${node * 100 + k}`;
      const size = 1 + 2 + key.length + 2 + value.length + 9;
      if (bytes + size > maxOpBytes) break;
      bytes += size;
      kvs.push({ key, value, version: BigInt(k), status: "set" });
    }
    nodeDeltas.push({
      chitchatId: { nodeId, generationId: 0n, gossipAdvertiseAddr: { ip: "0.0.0.0", port: 7946 } },
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      keyValues: kvs,
      maxVersion: BigInt(kvs.length),
    });
  }
  return { nodeDeltas };
}

/** `n` zlayer-style digest entries (default 1000).
 *
 * @example
 * ```ts
 * import { bigDigest } from "./codec_fixtures.ts";
 * const d = bigDigest(3);
 * console.log(d.nodes.length, d.nodes[0]!.chitchatId.nodeId); // 3 worker:1000000
 * ```
 */
export function bigDigest(n = 1000): Digest {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    nodes.push({
      chitchatId: {
        nodeId: `worker:${1000000 + i * 7919}`,
        generationId: 0n,
        gossipAdvertiseAddr: { ip: `10.${(i >> 8) & 255}.${i & 255}.1`, port: 7946 },
      },
      heartbeat: BigInt(1000 + i),
      lastGcVersion: 0n,
      maxVersion: BigInt(1 + (i % 5)),
    });
  }
  return { nodes };
}

/** The ~64 KiB delta of the benchmarks ({@link realisticDelta}).
 *
 * @example
 * ```ts
 * import { DELTA } from "./codec_fixtures.ts";
 * console.log(DELTA.nodeDeltas.length > 10); // true
 * ```
 */
export const DELTA: Delta = realisticDelta();

/** Key-value records in {@link DELTA} (to report per-record costs).
 *
 * @example
 * ```ts
 * import { DELTA, RECORDS } from "./codec_fixtures.ts";
 * console.log(RECORDS === DELTA.nodeDeltas.flatMap((n) => n.keyValues).length); // true
 * ```
 */
export const RECORDS: number = DELTA.nodeDeltas.reduce((a, n) => a + n.keyValues.length, 0);

/** An Ack carrying {@link DELTA}.
 *
 * @example
 * ```ts
 * import { ACK } from "./codec_fixtures.ts";
 * import { encodeMessage } from "../src/codec/message.ts";
 * console.log(encodeMessage(ACK).length <= 65_507); // true
 * ```
 */
export const ACK: ChitchatMessage = { type: "ack", delta: DELTA };

/** A Syn carrying the 1000-node {@link bigDigest}.
 *
 * @example
 * ```ts
 * import { SYN } from "./codec_fixtures.ts";
 * import { decodeMessage, encodeMessage } from "../src/codec/message.ts";
 * const back = decodeMessage(encodeMessage(SYN));
 * console.log(back.type === "syn" && back.digest.nodes.length); // 1000
 * ```
 */
export const SYN: ChitchatMessage = {
  type: "syn",
  clusterId: "default-cluster",
  digest: bigDigest(),
};
