import assert from "node:assert/strict";
import type { PeerInfo } from "../pool/peer_info.ts";
import { desiredPeers, overlayAllowedIp, parseWgDump, planReconcile, wgSetArgs } from "./mod.ts";

const K = (n: number) => {
  const b = new Uint8Array(32).fill(3);
  b[0] = n & 255;
  b[1] = n >> 8;
  return b.toBase64();
};
const peer = (n: number, over: Partial<PeerInfo> = {}): PeerInfo => ({
  nodeId: BigInt(n),
  wgPubkey: K(n),
  wgEndpoint: `10.0.0.${n}:51820`,
  overlayIp: `10.42.0.${n}`,
  labels: {},
  ...over,
});
const SELF = `PRIV\t${K(1)}\t51820\toff\n`;
const line = (n: number, ep = `10.0.0.${n}:51820`, ip = `10.42.0.${n}/32`, ka = "25") =>
  `${K(n)}\t(none)\t${ep}\t${ip}\t0\t0\t0\t${ka}\n`;

Deno.test("overlayAllowedIp: host prefixes only", () => {
  assert.equal(overlayAllowedIp("10.42.0.2"), "10.42.0.2/32");
  assert.equal(overlayAllowedIp("10.42.0.2/32"), "10.42.0.2/32");
  assert.equal(overlayAllowedIp("fd00:0::2"), "fd00::2/128");
  for (const bad of ["", "10.42.0.0/16", "10.42.0.2/128", "fd00::2/32", "host", "10.42.0.256"]) {
    assert.equal(overlayAllowedIp(bad), undefined, bad);
  }
});

Deno.test("desiredPeers: every refusal reason, others unaffected, order independent", () => {
  const peers = [
    peer(2),
    peer(3, { wgPubkey: "bad" }),
    peer(4, { wgPubkey: K(1) }),
    peer(5, { wgEndpoint: "0.0.0.0:0" }),
    peer(6, { wgEndpoint: "10.0.0.6:0" }),
    peer(7, { overlayIp: "" }),
    peer(8, { overlayIp: "10.42.0.1" }),
    peer(9, { overlayIp: "10.42.0.2" }),
    peer(10, { wgPubkey: K(2), overlayIp: "10.42.0.10" }),
    peer(11, { wgPubkey: K(11).replaceAll("+", "-").replaceAll("/", "_").replace("=", "") }),
    peer(12, { wgEndpoint: "[::]:51820" }),
  ];
  const opts = { selfPublicKey: K(1), selfOverlayIp: "10.42.0.1" };
  const a = desiredPeers(peers, opts);
  const b = desiredPeers([...peers].reverse(), opts);
  assert.deepEqual(a, b);
  assert.deepEqual([...a.desired.keys()], [K(2), K(11)]);
  assert.deepEqual(a.refused.map((r) => [Number(r.nodeId), r.reason]), [
    [3, "bad_key"],
    [4, "own_key"],
    [5, "no_endpoint"],
    [6, "no_endpoint"],
    [7, "bad_overlay_ip"],
    [8, "overlay_ip_self"],
    [9, "overlay_ip_conflict"],
    [10, "duplicate_key"],
    [12, "no_endpoint"],
  ]);
  assert.match(a.refused.find((r) => r.nodeId === 9n)!.detail, /held by worker 2/);
});

Deno.test("desiredPeers: the incumbent keeps a contested overlay IP, even with a higher id", () => {
  const holders = new Map([["10.42.0.5/32", K(5)]]);
  const { desired, refused } = desiredPeers(
    [peer(5), peer(3, { overlayIp: "10.42.0.5" })],
    {},
    holders,
  );
  assert.deepEqual([...desired.keys()], [K(5)]);
  assert.deepEqual(refused.map((r) => [r.nodeId, r.reason]), [[3n, "overlay_ip_conflict"]]);
});

Deno.test("planReconcile: adds new, changes only what differs, removes only managed", () => {
  const state = parseWgDump(
    SELF + line(2) + line(3, "10.9.9.9:1") + line(4, undefined, "10.42.0.44/32") +
      line(5, undefined, undefined, "off") + line(6) + line(7),
  );
  const plan = planReconcile(
    [2, 3, 4, 5, 8].map((n) => peer(n)),
    state,
    { managed: new Set([K(2), K(3), K(4), K(5), K(6)]) },
  );
  assert.deepEqual(plan.set, [
    { publicKey: K(3), endpoint: "10.0.0.3:51820" },
    { publicKey: K(4), allowedIps: ["10.42.0.4/32"] },
    { publicKey: K(5), persistentKeepalive: 25 },
    {
      publicKey: K(8),
      endpoint: "10.0.0.8:51820",
      allowedIps: ["10.42.0.8/32"],
      persistentKeepalive: 25,
    },
  ]);
  assert.deepEqual(plan.remove, [K(6)]); // 7 is not ours
  assert.deepEqual(planReconcile([], state, { prune: true }).remove.length, 6);
});

Deno.test("planReconcile: a roamed endpoint is left alone until the published one changes", () => {
  const state = parseWgDump(SELF + line(2, "192.0.2.7:4000"));
  const applied = new Map([[K(2), "10.0.0.2:51820"]]);
  const opts = { managed: new Set([K(2)]), appliedEndpoints: applied };
  assert.deepEqual(planReconcile([peer(2)], state, opts).set, []);
  assert.deepEqual(
    planReconcile([peer(2, { wgEndpoint: "10.0.1.2:51820" })], state, opts).set,
    [{ publicKey: K(2), endpoint: "10.0.1.2:51820" }],
  );
  // Without the record (e.g. after a restart) the published endpoint is set.
  assert.equal(planReconcile([peer(2)], state).set.length, 1);
});

Deno.test("planReconcile: a new key replaces the old peer in one command", () => {
  const state = parseWgDump(SELF + line(2));
  const plan = planReconcile([peer(2, { wgPubkey: K(200) })], state, {
    managed: new Set([K(2)]),
  });
  const argv = wgSetArgs("wg0", plan);
  assert.equal(argv.length, 1);
  assert.deepEqual(argv[0], [
    "set",
    "wg0",
    "peer",
    K(2),
    "remove",
    "peer",
    K(200),
    "endpoint",
    "10.0.0.2:51820",
    "allowed-ips",
    "10.42.0.2/32",
    "persistent-keepalive",
    "25",
  ]);
});

Deno.test("wgSetArgs: 1000 peers in one invocation, chunks when asked, nothing when empty", () => {
  const peers = Array.from({ length: 1000 }, (_, i) =>
    peer(i + 2, {
      wgEndpoint: `10.0.${(i + 2) >> 8}.${(i + 2) & 255}:51820`,
      overlayIp: `10.42.${(i + 2) >> 8}.${(i + 2) & 255}`,
    }));
  const plan = planReconcile(peers, parseWgDump(SELF), { keepaliveSeconds: 0 });
  assert.equal(plan.refused.length, 0);
  const one = wgSetArgs("wg0", plan);
  assert.equal(one.length, 1);
  assert.equal(one[0]!.filter((a) => a === "peer").length, 1000);
  assert.equal(one[0]!.filter((a) => a === "off").length, 1000);
  assert.equal(wgSetArgs("wg0", plan, 300).length, 4);
  assert.deepEqual(wgSetArgs("wg0", { set: [], remove: [] }), []);
});
