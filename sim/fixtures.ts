/**
 * Fixtures shared by round_bench.ts and delta_bench.ts: synthetic cluster contents built
 * without gossiping (a 1000-node cluster would take minutes to converge through the engine).
 *
 * @module
 */
import { chitchatIdKey } from "../src/common/chitchat_id.ts";
import { DeltaWriter } from "../src/codec/delta.ts";
import { ClusterState } from "../src/state/_cluster_state.ts";
import { createRandom } from "../src/common/random.ts";
import type { ChitchatId, Delta, Digest, NodeDelta } from "../src/common/types.ts";

/** The id of synthetic node `i` (address 127.0.x.y:10000, like cluster_sim.ts).
 *
 * @example
 * ```ts
 * import { benchId } from "./fixtures.ts";
 * console.log(benchId(3).nodeId); // node_3
 * ```
 */
export function benchId(i: number): ChitchatId {
  return {
    nodeId: `node_${i}`,
    generationId: 0n,
    gossipAdvertiseAddr: { ip: `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 10_000 },
  };
}

/** A node delta carrying `keys` fresh records (`key_0`.. with 24-byte values), versions 1..keys.
 *
 * @example
 * ```ts
 * import { benchId, nodeDeltaWithKeys } from "./fixtures.ts";
 * console.log(nodeDeltaWithKeys(benchId(1), 3).keyValues.length); // 3
 * ```
 */
export function nodeDeltaWithKeys(id: ChitchatId, keys: number): NodeDelta {
  const keyValues = [];
  for (let k = 0; k < keys; k++) {
    keyValues.push({
      key: `key_${k}`,
      value: `value-${k}-${id.nodeId}`.padEnd(24, "."),
      version: BigInt(k + 1),
      status: "set" as const,
    });
  }
  return {
    chitchatId: id,
    lastGcVersion: 0n,
    fromVersionExcluded: 0n,
    keyValues,
    maxVersion: BigInt(keys),
  };
}

/** Node deltas for nodes `first..first+count-1`, cut into deltas of at most `perDelta` nodes.
 *
 * @example
 * ```ts
 * import { clusterDeltas } from "./fixtures.ts";
 * console.log(clusterDeltas(1, 10, 2, 4).length); // 3
 * ```
 */
export function clusterDeltas(
  first: number,
  count: number,
  keys: number,
  perDelta: number,
): Delta[] {
  const out: Delta[] = [];
  for (let i = 0; i < count; i += perDelta) {
    const nodeDeltas: NodeDelta[] = [];
    for (let j = i; j < Math.min(count, i + perDelta); j++) {
      nodeDeltas.push(nodeDeltaWithKeys(benchId(first + j), keys));
    }
    out.push({ nodeDeltas });
  }
  return out;
}

/** A cluster state (self = node 0) holding `nodes - 1` other nodes with `keys` records each.
 *
 * @example
 * ```ts
 * import { loadedClusterState } from "./fixtures.ts";
 * console.log(loadedClusterState(10, 5).size); // 10
 * ```
 */
export function loadedClusterState(nodes: number, keys: number): ClusterState {
  const state = new ClusterState(benchId(0), {
    clockNow: () => 0,
    random: createRandom(1),
    newDeltaSink: (budget, compress) => new DeltaWriter({ budget, compress }),
  });
  for (let k = 0; k < keys; k++) state.selfState.set(`key_${k}`, `self-value-${k}`);
  // A node is known through a digest first (deltas about unknown nodes are ignored).
  for (let i = 1; i < nodes; i++) state.reportHeartbeat(chitchatIdKey(benchId(i)), benchId(i), 5n);
  for (const delta of clusterDeltas(1, nodes - 1, keys, 100)) state.applyDelta(delta);
  return state;
}

/** The digest of a peer that holds everything in `state` except the last `behind` records in
 * total, spread evenly over the nodes (each node's max version lowered).
 *
 * @example
 * ```ts
 * import { behindDigest, loadedClusterState } from "./fixtures.ts";
 * const s = loadedClusterState(10, 5);
 * console.log(behindDigest(s, 20).nodes.length); // 10
 * ```
 */
export function behindDigest(state: ClusterState, behind: number): Digest {
  const digest = state.digest(new Set());
  const n = digest.nodes.length;
  return {
    nodes: digest.nodes.map((nd, i) => {
      const lag = BigInt(Math.floor(behind / n) + (i < behind % n ? 1 : 0));
      const max = nd.maxVersion > lag ? nd.maxVersion - lag : 0n;
      return { ...nd, maxVersion: max };
    }),
  };
}
