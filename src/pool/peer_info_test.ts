import assert from "node:assert/strict";
import {
  decodePeerInfo,
  encodePeerInfo,
  parseWorkerKey,
  type PeerInfo,
  peerInfoEquals,
  PeerInfoError,
  peerInfoFromJson,
  peerInfoToJson,
  workerKey,
} from "./peer_info.ts";

// PROTOCOL.md §11.1 V11: zlayer's start-up placeholder for node 42.
const V11 =
  "eyJub2RlX2lkIjo0Miwid2dfcHVia2V5IjoiIiwid2dfZW5kcG9pbnQiOiIwLjAuMC4wOjAiLCJvdmVybGF5X2lwIjoiIiwibGFiZWxzIjp7fX0";
const PLACEHOLDER: PeerInfo = {
  nodeId: 42n,
  wgPubkey: "",
  wgEndpoint: "0.0.0.0:0",
  overlayIp: "",
  labels: {},
};

Deno.test("encodePeerInfo() produces zlayer's exact bytes (PROTOCOL.md V11)", () => {
  assert.equal(encodePeerInfo(PLACEHOLDER), V11);
  assert.deepEqual(decodePeerInfo(V11), PLACEHOLDER);
});

Deno.test("peerInfoFromJson() keeps node ids above 2^53 exact", () => {
  const json =
    '{"node_id":18446744073709551615,"wg_pubkey":"k","wg_endpoint":"[2001:db8::1]:51820","overlay_ip":"10.0.0.1","labels":{"b":"2","a":"1"}}';
  const p = peerInfoFromJson(json);
  assert.equal(p.nodeId, 18446744073709551615n);
  assert.equal(peerInfoToJson(p).includes('"node_id":18446744073709551615,'), true);
  assert.equal(peerInfoFromJson(peerInfoToJson(p)).nodeId, p.nodeId);
  const p2 = peerInfoFromJson(
    '{"node_id":9007199254740993,"wg_pubkey":"","wg_endpoint":"1.2.3.4:5","overlay_ip":""}',
  );
  assert.equal(p2.nodeId, 9007199254740993n, "2^53+1 would round as a float");
  assert.deepEqual(p2.labels, {}, "missing labels read as {}");
});

Deno.test("peerInfoFromJson() ignores unknown fields, even ones holding a node_id", () => {
  const p = peerInfoFromJson(
    '{"node_id":5,"extra":{"node_id":6},"wg_pubkey":"","wg_endpoint":"1.2.3.4:5","overlay_ip":"","labels":{},"more":[1]}',
  );
  assert.equal(p.nodeId, 5n);
});

Deno.test("peerInfoFromJson() rejects what Rust's serde would reject", () => {
  const bad = [
    '{"node_id":-1,"wg_pubkey":"","wg_endpoint":"1.2.3.4:5","overlay_ip":""}',
    '{"node_id":1.5,"wg_pubkey":"","wg_endpoint":"1.2.3.4:5","overlay_ip":""}',
    '{"node_id":1e3,"wg_pubkey":"","wg_endpoint":"1.2.3.4:5","overlay_ip":""}',
    '{"node_id":18446744073709551616,"wg_pubkey":"","wg_endpoint":"1.2.3.4:5","overlay_ip":""}',
    '{"node_id":"1","wg_pubkey":"","wg_endpoint":"1.2.3.4:5","overlay_ip":""}',
    '{"node_id":1,"wg_endpoint":"1.2.3.4:5","overlay_ip":""}',
    '{"node_id":1,"wg_pubkey":"","wg_endpoint":"host:5","overlay_ip":""}',
    '{"node_id":1,"wg_pubkey":"","wg_endpoint":"1.2.3.4:5","overlay_ip":"","labels":{"a":1}}',
    "[1]",
    "{",
  ];
  for (const json of bad) assert.throws(() => peerInfoFromJson(json), PeerInfoError, json);
});

Deno.test("decodePeerInfo() rejects padding, other alphabets and non-canonical base64", () => {
  assert.throws(() => decodePeerInfo(V11 + "="), PeerInfoError);
  assert.throws(() => decodePeerInfo(V11.slice(0, -4) + "ab/c"), PeerInfoError); // not base64url
  assert.throws(() => decodePeerInfo("eyJ"), PeerInfoError); // valid base64url, not JSON
  assert.throws(() => decodePeerInfo("QR"), PeerInfoError); // trailing bits set
});

Deno.test("peerInfoEquals() ignores label order", () => {
  const a = { ...PLACEHOLDER, labels: { x: "1", y: "2" } };
  assert.ok(peerInfoEquals(a, { ...PLACEHOLDER, labels: { y: "2", x: "1" } }));
  assert.ok(!peerInfoEquals(a, { ...PLACEHOLDER, labels: { x: "1" } }));
  assert.ok(!peerInfoEquals(a, { ...a, overlayIp: "x" }));
});

Deno.test("workerKey() and parseWorkerKey() follow zlayer's key shape", () => {
  assert.equal(workerKey(42n), "worker:42");
  assert.equal(parseWorkerKey("worker:18446744073709551615"), 18446744073709551615n);
  assert.equal(parseWorkerKey("worker:18446744073709551616"), undefined);
  assert.equal(parseWorkerKey("worker:x"), undefined);
  assert.equal(parseWorkerKey("worker:"), undefined);
  assert.equal(parseWorkerKey("other:1"), undefined);
  assert.throws(() => workerKey(-1n), PeerInfoError);
});

Deno.test("encodePeerInfo() canonicalises the endpoint like Rust's Display", () => {
  const p = { ...PLACEHOLDER, wgEndpoint: "[2001:0DB8:0:0::1]:51820" };
  assert.equal(decodePeerInfo(encodePeerInfo(p)).wgEndpoint, "[2001:db8::1]:51820");
});
