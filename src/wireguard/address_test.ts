import assert from "node:assert/strict";
import type { PeerInfo } from "../pool/peer_info.ts";
import { inOverlayCidr, parseOverlayCidr, pickOverlayIp, resolveOverlayConflict } from "./mod.ts";

const peer = (id: bigint, ip: string): PeerInfo => ({
  nodeId: id,
  wgPubkey: "",
  wgEndpoint: "10.0.0.1:51820",
  overlayIp: ip,
  labels: {},
});

Deno.test("parseOverlayCidr: valid and refused forms", () => {
  assert.equal(parseOverlayCidr("10.42.0.0/16").prefix, 16);
  assert.equal(parseOverlayCidr("FD42::/64").text, "fd42::/64");
  for (
    const bad of ["10.42.0.0", "10.42.0.1/16", "10.42.0.0/31", "10.42.0.0/0", "x/8", "fd42::/127"]
  ) {
    assert.throws(() => parseOverlayCidr(bad), /overlayCidr/, bad);
  }
});

Deno.test("pickOverlayIp: deterministic, inside the CIDR, avoids taken, exhausts", () => {
  const c = parseOverlayCidr("10.42.0.0/29"); // 6 usable
  const taken = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const ip = pickOverlayIp(c, 1n, taken);
    assert.ok(inOverlayCidr(c, ip), ip);
    assert.ok(!taken.has(ip));
    taken.add(ip);
  }
  assert.ok(!taken.has("10.42.0.0") && !taken.has("10.42.0.7"), "no network/broadcast");
  assert.throws(() => pickOverlayIp(c, 1n, taken), /no free address/);
  const big = parseOverlayCidr("10.42.0.0/16");
  assert.equal(pickOverlayIp(big, 99n, new Set()), pickOverlayIp(big, 99n, new Set()));
  const v6 = parseOverlayCidr("fd42::/64");
  assert.ok(inOverlayCidr(v6, pickOverlayIp(v6, 5n, new Set())));
});

Deno.test("resolveOverlayConflict: exactly one of two claimants moves, and they converge", () => {
  const c = parseOverlayCidr("10.42.0.0/24");
  // Ten nodes that all start on the same address converge to ten distinct ones.
  const ips = new Map<bigint, string>();
  for (let id = 1n; id <= 10n; id++) ips.set(id, "10.42.0.50");
  for (let round = 0; round < 20; round++) {
    let moved = 0;
    for (const [id, ip] of ips) {
      const others = [...ips].filter(([o]) => o !== id).map(([o, oip]) => peer(o, oip));
      const next = resolveOverlayConflict(c, id, ip, others);
      if (next !== undefined) {
        ips.set(id, next);
        moved++;
      }
    }
    if (moved === 0) break;
  }
  assert.equal(new Set(ips.values()).size, 10);
  assert.equal(ips.get(1n), "10.42.0.50", "the lowest id kept its address");
  // Two claimants: only the higher moves.
  assert.equal(resolveOverlayConflict(c, 2n, "10.42.0.9", [peer(3n, "10.42.0.9")]), undefined);
  const moved = resolveOverlayConflict(c, 3n, "10.42.0.9", [peer(2n, "10.42.0.9")]);
  assert.ok(moved !== undefined && moved !== "10.42.0.9");
  // An address outside the CIDR is replaced.
  assert.ok(inOverlayCidr(c, resolveOverlayConflict(c, 2n, "", [])!));
});
