// Shared inputs of the codec benchmarks: a ~64 KiB zlayer-like delta and a 1000-node digest.
import type {
  ChitchatMessage,
  Delta,
  Digest,
  KeyValueMutation,
  NodeDelta,
} from "../src/common/types.ts";

/** ~64 KiB of ops: zlayer-style records (`worker:<n>` keys, base64url PeerInfo JSON values). */
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

/** 1000 zlayer-style digest entries. */
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

export const DELTA: Delta = realisticDelta();
export const RECORDS: number = DELTA.nodeDeltas.reduce((a, n) => a + n.keyValues.length, 0);
export const ACK: ChitchatMessage = { type: "ack", delta: DELTA };
export const SYN: ChitchatMessage = {
  type: "syn",
  clusterId: "default-cluster",
  digest: bigDigest(),
};
