// PROTOCOL.md §11.1 vectors as data, shared by the codec vector tests and the interop and
// runtime tests (which import this module, not vectors_test.ts, so no test runs twice).
import type { ChitchatMessage } from "../common/types.ts";
import { id } from "./_test_utils.ts";

export const id1 = id("node-10001", 0n, "127.0.0.1", 10001);
export const ID1 = "0a00 6e6f64652d3130303031 0000000000000000 04 7f000001 1127";
export const worker42 = id("worker:42", 0n, "0.0.0.0", 7946);

export const VECTORS: { name: string; msg: ChitchatMessage; hex: string }[] = [
  { name: "V1 BadCluster", msg: { type: "badCluster" }, hex: "53b00003" },
  {
    name: "V2 Syn, empty digest",
    msg: { type: "syn", clusterId: "cluster-a", digest: { nodes: [] } },
    hex: "53b00000 0000 0900636c75737465722d61",
  },
  {
    name: "V3 Syn, one entry",
    msg: {
      type: "syn",
      clusterId: "cluster-a",
      digest: { nodes: [{ chitchatId: id1, heartbeat: 0n, lastGcVersion: 0n, maxVersion: 0n }] },
    },
    hex: `53b00000 0100 ${ID1} ${"00".repeat(24)} 0900636c75737465722d61`,
  },
  {
    name: "V4 SynAck, empty",
    msg: { type: "synAck", digest: { nodes: [] }, delta: { nodeDeltas: [] } },
    hex: "53b00001000000",
  },
  { name: "V5 Ack, empty", msg: { type: "ack", delta: { nodeDeltas: [] } }, hex: "53b0000200" },
  {
    name: "V6 Ack with a tombstone",
    msg: {
      type: "ack",
      delta: {
        nodeDeltas: [{
          chitchatId: id1,
          lastGcVersion: 0n,
          fromVersionExcluded: 0n,
          keyValues: [{ key: "key", value: "value", version: 1n, status: "deleted" }],
          maxVersion: 1n,
        }],
      },
    },
    hex: "53b00002024200000a006e6f64652d31303030310000000000000000047f00000111270000000000000000" +
      "00000000000000000103006b6579050076616c756501000000000000000100",
  },
  {
    name: "V7 SynAck = V3 digest + V6 delta",
    msg: {
      type: "synAck",
      digest: { nodes: [{ chitchatId: id1, heartbeat: 0n, lastGcVersion: 0n, maxVersion: 0n }] },
      delta: {
        nodeDeltas: [{
          chitchatId: id1,
          lastGcVersion: 0n,
          fromVersionExcluded: 0n,
          keyValues: [{ key: "key", value: "value", version: 1n, status: "deleted" }],
          maxVersion: 1n,
        }],
      },
    },
    hex:
      "53b0000101000a006e6f64652d31303030310000000000000000047f00000111270000000000000000000000" +
      "00000000000000000000000000024200000a006e6f64652d31303030310000000000000000047f0000011127" +
      "000000000000000000000000000000000103006b6579050076616c756501000000000000000100",
  },
  {
    name: "V9 zlayer-style Syn",
    msg: {
      type: "syn",
      clusterId: "default-cluster",
      digest: {
        nodes: [{ chitchatId: worker42, heartbeat: 7n, lastGcVersion: 0n, maxVersion: 1n }],
      },
    },
    hex: "53b00000 0100 0900776f726b65723a3432 0000000000000000 04000000000a1f 0700000000000000" +
      "0000000000000000 0100000000000000 0f0064656661756c742d636c7573746572",
  },
];
