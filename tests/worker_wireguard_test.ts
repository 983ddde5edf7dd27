/**
 * The worker's WireGuard flags: parsing and the exit-2 refusals, without root (the real
 * interface is exercised by tests/overlay_netns_test.ts).
 */
import assert from "node:assert/strict";
import { parseWorkerArgs, UsageError } from "../src/cli/worker.ts";

const WORKER = new URL("../src/cli/worker.ts", import.meta.url).pathname;

Deno.test("worker: WireGuard flags parse, with defaults", () => {
  const key = new Uint8Array(32).fill(9);
  const o = parseWorkerArgs([
    "--node-id",
    "3",
    "--wg-interface",
    "hswg0",
    "--wg-pubkey",
    key.toBase64({ alphabet: "base64url", omitPadding: true }),
    "--wg-keepalive=0",
    "--wg-prune",
  ]);
  assert.deepEqual(o.wireguard, {
    interface: "hswg0",
    privateKeyFile: undefined,
    keepaliveSeconds: 0,
    resyncMs: 5000,
    prune: true,
    stateFile: "/var/lib/hearsay/hswg0.peers.json",
    setAddress: false,
    pubkey: key.toBase64(),
    endpointGiven: false,
  });
  assert.equal(parseWorkerArgs(["--node-id", "3"]).wireguard, undefined);
  assert.equal(
    parseWorkerArgs(["--node-id", "3", "--wg-interface", "x", "--wg-private-key-file", "/k"])
      .wireguard?.privateKeyFile,
    "/k",
  );
  const state = (...extra: string[]) =>
    parseWorkerArgs(["--node-id", "3", "--wg-interface", "wgs", ...extra]).wireguard?.stateFile;
  assert.equal(
    state("--wg-private-key-file", "/etc/hearsay/wg.key"),
    "/etc/hearsay/wgs.peers.json",
  );
  assert.equal(state("--wg-private-key-file", "/k"), "/wgs.peers.json");
  assert.equal(state("--wg-private-key-file", "k"), "./wgs.peers.json");
  assert.equal(state("--wg-state-file", "/run/x.json"), "/run/x.json");
  assert.equal(state("--wg-state-file", "off"), undefined);
});

Deno.test("worker: --overlay-cidr picks a deterministic address inside the network", () => {
  const args = ["--node-id", "12", "--overlay-cidr", "10.42.0.0/16"];
  const a = parseWorkerArgs(args);
  assert.equal(a.overlayCidr?.text, "10.42.0.0/16");
  assert.match(a.selfInfo.overlayIp, /^10\.42\.\d+\.\d+$/);
  assert.equal(parseWorkerArgs(args).selfInfo.overlayIp, a.selfInfo.overlayIp);
  assert.notEqual(
    parseWorkerArgs(["--node-id", "13", "--overlay-cidr", "10.42.0.0/16"]).selfInfo.overlayIp,
    a.selfInfo.overlayIp,
  );
  const o = parseWorkerArgs([...args, "--wg-interface", "wg0", "--wg-set-address"]);
  assert.equal(o.wireguard?.setAddress, true);
});

Deno.test("worker: bad WireGuard flags are usage errors", () => {
  const bad: [string[], RegExp][] = [
    [["--wg-prune"], /--wg-prune needs --wg-interface/],
    [["--wg-keepalive", "5"], /--wg-keepalive needs --wg-interface/],
    [["--wg-private-key-file", "/k"], /needs --wg-interface/],
    [["--wg-interface", "this-name-is-too-long"], /--wg-interface must be/],
    [["--wg-interface", "a b"], /--wg-interface must be/],
    [["--wg-interface", "wg0", "--wg-keepalive", "70000"], /--wg-keepalive must be/],
    [["--wg-interface", "wg0", "--wg-keepalive", "-1"], /--wg-keepalive must be/],
    [["--wg-interface", "wg0", "--wg-resync-ms", "5"], /--wg-resync-ms must be/],
    [["--wg-interface", "wg0", "--wg-pubkey", "nope"], /--wg-pubkey: invalid WireGuard key/],
    [["--wg-interface", "wg0", "--wg-prune=yes"], /takes no value/],
    [["--wg-interface", "wg0", "--wg-prune", "--wg-prune"], /given twice/],
    [["--overlay-cidr", "10.42.0.0/16", "--overlay-ip", "10.42.0.1"], /exclude each other/],
    [["--overlay-cidr", "10.42.0.1/16"], /--overlay-cidr must be a network/],
    [["--overlay-cidr", "10.42.0.0"], /--overlay-cidr must be a network/],
    [["--wg-set-address"], /--wg-set-address needs --wg-interface/],
    [["--wg-state-file", "/x.json"], /--wg-state-file needs --wg-interface/],
    [["--wg-interface", "wg0", "--wg-set-address"], /--wg-set-address needs --overlay-cidr/],
  ];
  for (const [args, re] of bad) {
    assert.throws(() => parseWorkerArgs(["--node-id", "1", ...args]), (e: unknown) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match((e as Error).message, re);
      return true;
    });
  }
  // Without --wg-interface, --wg-pubkey stays free text as before.
  assert.equal(parseWorkerArgs(["--node-id", "1", "--wg-pubkey", "k"]).selfInfo.wgPubkey, "k");
});

Deno.test("worker: a missing interface exits 1 with a clear message; bad flags exit 2", async () => {
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WORKER, "--node-id", "1", "--listen", "127.0.0.1:0", ...args],
      stdout: "piped",
      stderr: "piped",
      env: { PATH: Deno.env.get("PATH") ?? "" },
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const missing = await run(["--wg-interface", `hsnone${Deno.pid % 10000}`]);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /--wg-interface hsnone\d+: wg show hsnone\d+ dump failed/);
  const bad = await run(["--wg-interface", "wg0", "--wg-keepalive", "x"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /^hearsay worker: --wg-keepalive must be seconds/);
});
