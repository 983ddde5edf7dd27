import assert from "node:assert/strict";
import { ProtocolStep } from "./protocol.ts";
import { ClusterState } from "../state/_cluster_state.ts";
import {
  DEFAULT_FAILURE_DETECTOR_CONFIG,
  FailureDetector,
} from "../failure_detector/failure_detector.ts";
import { DeltaWriter } from "../codec/delta.ts";
import { decodeMessage, MAX_DATAGRAM_SIZE } from "../codec/message.ts";
import { VirtualClock } from "../common/virtual_clock.ts";
import { createRandom } from "../common/random.ts";
import { chitchatIdKey } from "../common/chitchat_id.ts";
import type { ChitchatId, ChitchatMessage, Delta, NodeDigest } from "../common/types.ts";

const A: ChitchatId = {
  nodeId: "a",
  generationId: 1n,
  gossipAdvertiseAddr: { ip: "10.0.0.1", port: 7000 },
};
const B: ChitchatId = {
  nodeId: "b",
  generationId: 1n,
  gossipAdvertiseAddr: { ip: "10.0.0.2", port: 7000 },
};

function setup(hooks?: { onReset(): void; onLiveNodesChanged(): void }) {
  const clock = new VirtualClock(1_000);
  const state = new ClusterState(A, {
    clockNow: () => clock.now(),
    random: createRandom(7),
    newDeltaSink: (budget, compress) => new DeltaWriter({ budget, compress }),
  });
  const fd = new FailureDetector(DEFAULT_FAILURE_DETECTOR_CONFIG, clock);
  const step = new ProtocolStep({
    state,
    fd,
    config: { clusterId: "c", compress: false },
    ...(hooks ? { hooks } : {}),
  });
  return { state, fd, step };
}

function decode<T extends ChitchatMessage["type"]>(
  bytes: Uint8Array | undefined,
  type: T,
): Extract<ChitchatMessage, { type: T }> {
  assert(bytes !== undefined, `expected a ${type} reply`);
  const msg = decodeMessage(bytes);
  assert.equal(msg.type, type);
  return msg as Extract<ChitchatMessage, { type: T }>;
}

function versionsOf(delta: Delta, id: ChitchatId): bigint[] | undefined {
  const nd = delta.nodeDeltas.find((d) => chitchatIdKey(d.chitchatId) === chitchatIdKey(id));
  return nd?.keyValues.map((kv) => kv.version);
}

Deno.test("ProtocolStep: a Syn from a peer behind yields a SynAck with exactly the missing versions", () => {
  const { state, step } = setup();
  const self = state.selfState;
  self.set("k1", "v1");
  self.set("k2", "v2");
  self.set("k3", "v3");
  assert.equal(self.maxVersion, 3n);
  const behind: NodeDigest = {
    chitchatId: A,
    heartbeat: 1n,
    lastGcVersion: 0n,
    maxVersion: 1n,
  };
  const r = step.step(
    { type: "syn", clusterId: "c", digest: { nodes: [behind] } },
    MAX_DATAGRAM_SIZE,
  );
  assert.equal(r.replyType, "synAck");
  assert.equal(r.reset, false);
  const synAck = decode(r.reply, "synAck");
  assert.deepEqual(versionsOf(synAck.delta, A), [2n, 3n]);
  const nd = synAck.delta.nodeDeltas.find((d) => d.chitchatId.nodeId === "a")!;
  assert.equal(nd.fromVersionExcluded, 1n);
  assert.deepEqual(nd.keyValues.map((kv) => kv.key), ["k2", "k3"]);
  // The SynAck's digest describes this node as it is.
  const own = synAck.digest.nodes.find((n) => n.chitchatId.nodeId === "a");
  assert.equal(own?.maxVersion, 3n);
});

Deno.test("ProtocolStep: a Syn with a foreign cluster id yields BadCluster and nothing else", () => {
  const { state, step } = setup();
  state.selfState.set("k", "v");
  const before = state.version;
  const digest = {
    nodes: [{ chitchatId: B, heartbeat: 5n, lastGcVersion: 0n, maxVersion: 9n }],
  };
  const r = step.step({ type: "syn", clusterId: "elsewhere", digest }, MAX_DATAGRAM_SIZE);
  assert.equal(r.replyType, "badCluster");
  decode(r.reply, "badCluster");
  assert.equal(state.states.has(chitchatIdKey(B)), false);
  assert.equal(state.version, before);
});

Deno.test("ProtocolStep: an Ack's delta is applied to the state, with no reply", () => {
  let live = 0;
  const { state, step } = setup({ onReset: () => {}, onLiveNodesChanged: () => live++ });
  // B becomes known through the digest of its Syn (deltas only apply to nodes held).
  const known = {
    nodes: [{ chitchatId: B, heartbeat: 3n, lastGcVersion: 0n, maxVersion: 0n }],
  };
  step.step({ type: "syn", clusterId: "c", digest: known }, MAX_DATAGRAM_SIZE);
  assert.equal(state.states.get(chitchatIdKey(B))?.maxVersion, 0n);
  const delta: Delta = {
    nodeDeltas: [{
      chitchatId: B,
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      keyValues: [
        { key: "x", value: "1", version: 1n, status: "set" },
        { key: "y", value: "2", version: 2n, status: "set" },
      ],
      maxVersion: 2n,
    }],
  };
  const r = step.step({ type: "ack", delta }, MAX_DATAGRAM_SIZE);
  assert.equal(r.reply, undefined);
  assert.equal(r.replyType, undefined);
  const b = state.states.get(chitchatIdKey(B));
  assert(b !== undefined, "the Ack's node is held");
  assert.equal(b.get("x"), "1");
  assert.equal(b.get("y"), "2");
  assert.equal(b.maxVersion, 2n);
  // B is not live yet (the failure detector has no heartbeat of it): no live-nodes change.
  assert.equal(live, 0);
});

Deno.test("ProtocolStep: a SynAck is applied and yields an Ack with what the peer misses", () => {
  const { state, step } = setup();
  state.selfState.set("mine", "m");
  const delta: Delta = {
    nodeDeltas: [{
      chitchatId: B,
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      keyValues: [{ key: "theirs", value: "t", version: 1n, status: "set" }],
      maxVersion: 1n,
    }],
  };
  const digest = {
    nodes: [{ chitchatId: B, heartbeat: 3n, lastGcVersion: 0n, maxVersion: 1n }],
  };
  const r = step.step({ type: "synAck", digest, delta }, MAX_DATAGRAM_SIZE);
  assert.equal(r.replyType, "ack");
  const ack = decode(r.reply, "ack");
  // The peer's digest lacks this node: the Ack carries all of it, and nothing about B.
  assert.deepEqual(versionsOf(ack.delta, A), [1n]);
  assert.equal(versionsOf(ack.delta, B), undefined);
  assert.equal(state.states.get(chitchatIdKey(B))?.get("theirs"), "t");
});

Deno.test("ProtocolStep: every message is a local heartbeat; syn() describes this node", () => {
  const { state, step } = setup();
  const hb = state.selfState.heartbeat;
  step.step({ type: "badCluster" }, MAX_DATAGRAM_SIZE);
  step.step({ type: "ack", delta: { nodeDeltas: [] } }, MAX_DATAGRAM_SIZE);
  assert.equal(state.selfState.heartbeat, hb + 2n);
  const syn = decode(step.syn(), "syn");
  assert.equal(syn.clusterId, "c");
  assert.deepEqual(syn.digest.nodes.map((n) => n.chitchatId.nodeId), ["a"]);
  assert.equal(syn.digest.nodes[0]!.heartbeat, hb + 2n);
});
