import assert from "node:assert/strict";
import { parseWgDump, WgCommandError } from "./mod.ts";

const K = (n: number) => new Uint8Array(32).fill(n).toBase64();

Deno.test("parseWgDump: interface and peers, none values, IPv6 endpoints", () => {
  const text = [
    `PRIV\t${K(1)}\t51820\toff`,
    `${K(2)}\t(none)\t10.0.0.2:51820\t10.42.0.2/32\t1764680000\t100\t200\t25`,
    `${K(3)}\t(none)\t[FD00::3]:51820\t10.42.0.3/32,fd42::3/128\t0\t0\t0\toff`,
    `${K(4)}\t(none)\t(none)\t(none)\t0\t0\t0\toff`,
    "",
  ].join("\n");
  const s = parseWgDump(text);
  assert.equal(s.publicKey, K(1));
  assert.equal(s.listenPort, 51820);
  assert.deepEqual([...s.peers.keys()], [K(2), K(3), K(4)]);
  assert.deepEqual(s.peers.get(K(2)), {
    publicKey: K(2),
    endpoint: "10.0.0.2:51820",
    allowedIps: ["10.42.0.2/32"],
    latestHandshake: 1764680000,
    rxBytes: 100,
    txBytes: 200,
    persistentKeepalive: 25,
  });
  assert.equal(s.peers.get(K(3))!.endpoint, "[fd00::3]:51820");
  assert.deepEqual(s.peers.get(K(3))!.allowedIps, ["10.42.0.3/32", "fd42::3/128"]);
  assert.equal(s.peers.get(K(4))!.endpoint, undefined);
  assert.deepEqual(s.peers.get(K(4))!.allowedIps, []);
  assert.equal(parseWgDump("(none)\t(none)\t0\toff\n").publicKey, undefined);
});

Deno.test("parseWgDump: refuses what is not a dump", () => {
  assert.throws(() => parseWgDump(""), WgCommandError);
  assert.throws(() => parseWgDump("interface: wg0\n  public key: x\n"), /4 tab-separated/);
  assert.throws(() => parseWgDump(`P\t${K(1)}\t51820\toff\nshort\tline\n`), /line 2.*8/);
  assert.throws(
    () => parseWgDump(`P\t${K(1)}\t51820\toff\n${K(2)}\t-\t(none)\t(none)\tsoon\t0\t0\toff\n`),
    /latest-handshake/,
  );
});
