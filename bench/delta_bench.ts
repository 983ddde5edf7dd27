/**
 * Delta computation (`deno bench -A bench/delta_bench.ts`): what a node does to answer a Syn from
 * a peer that is behind by N keys spread over M nodes (scuttlebutt selection, MTU budget, zstd
 * blocks as chitchat builds them).
 *
 * @module
 */
import { behindDigest, loadedClusterState } from "../sim/fixtures.ts";
import { deltaBudget, MAX_DATAGRAM_SIZE } from "../src/codec/wire.ts";

const NONE: ReadonlySet<string> = new Set();

for (const nodes of [10, 100, 1000]) {
  const state = loadedClusterState(nodes, 10);
  for (const behind of [0, 10, 100, 1000]) {
    if (behind > nodes * 10) continue;
    const digest = behindDigest(state, behind);
    Deno.bench({
      name: `computeDelta: ${nodes} nodes x 10 keys, peer behind by ${behind} keys`,
      group: `delta ${nodes} nodes`,
      baseline: behind === 0,
      fn: () => {
        state.computeDelta(digest, deltaBudget(MAX_DATAGRAM_SIZE), NONE, true);
      },
    });
  }
  // A newcomer: knows nobody, gets as much as one datagram holds.
  const empty = { nodes: [] };
  Deno.bench({
    name: `computeDelta: ${nodes} nodes x 10 keys, peer knows nothing (MTU-bound)`,
    group: `delta ${nodes} nodes`,
    fn: () => {
      state.computeDelta(empty, deltaBudget(MAX_DATAGRAM_SIZE), NONE, true);
    },
  });
}
