// `deno bench -A bench/wireguard_bench.ts`: the cost of one reconcile that applies 10, 100 or
// 1000 new peers in one batch. "plan" is the pure part (validate PeerInfos, diff against a
// parsed `wg show dump`, build the `wg set` argv); "apply" runs the real thing on a
// wireguard-go interface in a network namespace made for the bench (root and wireguard-go
// needed, otherwise those benches are not registered): one `wg show dump`, one `wg set` with
// every peer, timed until the command returns; the peers are removed between iterations.
import type { PeerInfo } from "../src/pool/peer_info.ts";
import {
  parseWgDump,
  planReconcile,
  wgSetArgs,
  WireGuardReconciler,
} from "../src/wireguard/mod.ts";

const key = (n: number) => {
  const b = new Uint8Array(32).fill(0x5a);
  b[0] = n & 255;
  b[1] = n >> 8;
  return b.toBase64();
};
const peers = (n: number): PeerInfo[] =>
  Array.from({ length: n }, (_, i) => ({
    nodeId: BigInt(i + 2),
    wgPubkey: key(i + 2),
    wgEndpoint: `10.216.${(i + 2) >> 8}.${(i + 2) & 255}:51820`,
    overlayIp: `10.217.${(i + 2) >> 8}.${(i + 2) & 255}`,
    labels: {},
  }));
const SIZES = [10, 100, 1000];
const empty = parseWgDump(`PRIV\t${key(1)}\t51820\toff\n`);

for (const n of SIZES) {
  const list = peers(n);
  Deno.bench(`plan + argv, ${n} new peers`, { group: "plan" }, () => {
    const plan = planReconcile(list, empty);
    if (wgSetArgs("wg0", plan).length !== 1) throw new Error("expected one wg set");
  });
}

const ok = (cmd: string, args: string[]) => {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
};
const NS = `hwb${Deno.pid}`;
const IF = `hwb${Deno.pid}`.slice(0, 15);
let ready = false;
if (Deno.uid() === 0 && ok("wireguard-go", ["--version"]) && ok("wg", ["--version"])) {
  ok("ip", ["netns", "add", NS]);
  new Deno.Command("ip", {
    args: ["netns", "exec", NS, "wireguard-go", IF],
    env: { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1" },
    stdout: "null",
    stderr: "null",
  }).outputSync(); // without -f it daemonizes and returns
  globalThis.addEventListener("unload", () => {
    ok("ip", ["netns", "del", NS]); // the tun device goes with it; wireguard-go then exits
    try {
      Deno.removeSync(`/var/run/wireguard/${IF}.sock`);
    } catch { /* already gone */ }
  });
  ready = ok("ip", ["netns", "exec", NS, "wg", "set", IF, "listen-port", "51820"]);
}
if (ready) {
  const runner = {
    async run(args: readonly string[]) {
      const out = await new Deno.Command("ip", {
        args: ["netns", "exec", NS, "wg", ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
    },
  };
  for (const n of SIZES) {
    const list = peers(n);
    Deno.bench(`apply ${n} new peers (wg show dump + one wg set)`, {
      group: "apply",
      n: n === 1000 ? 20 : 50,
      warmup: 3,
    }, async (b) => {
      const wg = new WireGuardReconciler({
        interface: IF,
        runner,
        resyncIntervalMs: 0,
        onWarning: (m) => {
          throw new Error(m);
        },
      });
      b.start();
      wg.setPeers(list);
      await wg.flush();
      b.end();
      if (wg.metrics.peersConfigured !== n) throw new Error("not applied");
      wg.setPeers([]);
      await wg.flush();
      await wg.close();
    });
  }
} else {
  console.log("wireguard_bench: apply benches SKIPPED (need root, wireguard-go and wg)");
}
