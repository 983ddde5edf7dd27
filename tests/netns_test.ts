/**
 * Faults on a real network: hosts in Linux network namespaces that this test creates (one hub
 * namespace with a bridge, one namespace per host joined to it by a veth pair, addresses in
 * 10.213.0.0/24 that exist only inside those namespaces), running real hearsay workers and a real
 * chitchat 0.10.1 node (the Rust interop peer) as processes. Loss and partitions come from
 * nftables (or iptables) rules inside the host namespaces.
 *
 * Needs root, `ip netns`, and nftables or iptables for the loss and partition phases. Skipped
 * with a message otherwise. Every namespace (and so every veth, bridge and rule) is removed
 * afterwards, also on failure.
 */
import { readLines } from "../sim/lines.ts";
import assert from "node:assert/strict";
import { type LabHost, NetnsLab, NsRustNode, run, succeeds } from "../sim/netns_lab.ts";

const WORKER = new URL("../src/cli/worker.ts", import.meta.url).pathname;
const PREFIX = `hs${Deno.pid}`;
/** Bounds every wait of this test (wall-clock ms). */
const WAIT_MS = 25_000;

const isRoot = Deno.uid() === 0;
const hasNetns = isRoot && await succeeds("ip", ["netns", "list"]);
const firewall: "nft" | "iptables" | undefined = !hasNetns
  ? undefined
  : await succeeds("nft", ["--version"])
  ? "nft"
  : await succeeds("iptables", ["--version"])
  ? "iptables"
  : undefined;
const skip = !isRoot
  ? "not running as root"
  : !hasNetns
  ? "`ip netns` is not available"
  : undefined;
if (skip !== undefined) {
  console.log(`netns_test: SKIPPED (${skip}); run as root with iproute2 to test real networks`);
} else if (firewall === undefined) {
  console.log(
    "netns_test: neither nft nor iptables is installed: the loss and partition phases are " +
      "SKIPPED (apt-get install -y nftables)",
  );
}

/** The namespace lab of sim/netns_lab.ts, plus loss and partition rules per host. */
class Lab extends NetnsLab {
  constructor() {
    super({ prefix: PREFIX, subnet: "10.213.0" });
  }

  /** Installs inbound drop rules in host `i`: `random` percent of the datagrams from the lab
   * subnet, and everything from `cut` addresses. Replaces earlier rules of this test. */
  async filter(i: number, rules: { randomPercent?: number; cut?: string[] }): Promise<void> {
    const { ns } = this.hosts[i]!;
    await this.clear(i);
    const cut = rules.cut ?? [];
    if (firewall === "nft") {
      const lines = [
        "table inet hearsay_test {",
        "  chain input {",
        "    type filter hook input priority 0; policy accept;",
        ...(cut.length > 0 ? [`    ip saddr { ${cut.join(", ")} } drop`] : []),
        ...(rules.randomPercent !== undefined
          ? [
            `    ip saddr 10.213.0.0/24 numgen random mod 100 < ${rules.randomPercent} ` +
            "counter drop",
          ]
          : []),
        "  }",
        "}",
      ];
      await run("ip", ["netns", "exec", ns, "nft", "-f", "-"], lines.join("\n") + "\n");
    } else {
      const ipt = (args: string[]) => run("ip", ["netns", "exec", ns, "iptables", ...args]);
      for (const addr of cut) await ipt(["-A", "INPUT", "-s", addr, "-j", "DROP"]);
      if (rules.randomPercent !== undefined) {
        await ipt([
          "-A",
          "INPUT",
          "-s",
          "10.213.0.0/24",
          "-m",
          "statistic",
          "--mode",
          "random",
          "--probability",
          String(rules.randomPercent / 100),
          "-j",
          "DROP",
        ]);
      }
    }
  }

  /** Packets the random-drop rule of host `i` dropped so far (nft only; else undefined). */
  async randomDrops(i: number): Promise<number | undefined> {
    if (firewall !== "nft") return undefined;
    const { ns } = this.hosts[i]!;
    const text = await run("ip", [
      "netns",
      "exec",
      ns,
      "nft",
      "list",
      "table",
      "inet",
      "hearsay_test",
    ]);
    const m = /counter packets (\d+)/.exec(text);
    return m === null ? undefined : Number(m[1]);
  }

  async clear(i: number): Promise<void> {
    const { ns } = this.hosts[i]!;
    if (firewall === "nft") {
      await run("ip", ["netns", "exec", ns, "nft", "delete", "table", "inet", "hearsay_test"])
        .catch(() => {});
    } else {
      await run("ip", ["netns", "exec", ns, "iptables", "-F", "INPUT"]);
    }
  }
}

/** A hearsay worker process in a namespace; tracks the live peers from its event lines. */
class Worker {
  readonly proc: Deno.ChildProcess;
  readonly live = new Set<string>();
  readonly events: { event: string; node_id: string; reason?: string }[] = [];
  stderr = "";
  readonly done: Promise<unknown>;

  constructor(readonly name: string, ns: string, args: string[]) {
    this.proc = new Deno.Command("ip", {
      args: ["netns", "exec", ns, Deno.execPath(), "run", "-A", WORKER, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.done = Promise.all([
      readLines(this.proc.stdout, (l) => {
        const e = JSON.parse(l.replace(/"node_id":(\d+)/, '"node_id":"$1"'));
        this.events.push(e);
        if (e.event === "joined" || e.event === "updated") this.live.add(e.node_id);
        if (e.event === "left") this.live.delete(e.node_id);
      }),
      readLines(this.proc.stderr, (l) => (this.stderr += l + "\n")),
    ]);
  }

  sees(ids: string[]): boolean {
    return ids.length === this.live.size && ids.every((id) => this.live.has(id));
  }

  failed(id: string): boolean {
    return this.events.some((e) => e.event === "left" && e.node_id === id && e.reason === "failed");
  }
}

/** The Rust interop peer (a real chitchat node) in a namespace. */
class RustNode extends NsRustNode {
  constructor(ns: string) {
    super(ns, WAIT_MS);
  }
}

/** Polls `check` every 100 ms until it holds; throws after {@link WAIT_MS}. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<number> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > WAIT_MS) {
      throw new Error(`timed out after ${WAIT_MS} ms waiting for: ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return performance.now() - start;
}

Deno.test({
  name: "netns: workers and a chitchat node converge, survive 30% loss, split and rejoin",
  ignore: skip !== undefined,
  sanitizeResources: true,
  async fn() {
    const lab = new Lab();
    const workers: Worker[] = [];
    let rust: RustNode | undefined;
    const log: string[] = [];
    try {
      await lab.setUp(4);
      const [a, b, c, d] = lab.hosts as [LabHost, LabHost, LabHost, LabHost];
      const seeds = [`${a.ip}:7946`, `${c.ip}:7946`];
      const interval = ["--interval-ms", "200", "--initial-interval-ms", "200"];
      for (const [i, host] of [a, b, c].entries()) {
        workers.push(
          new Worker(String(i + 1), host.ns, [
            "--node-id",
            String(i + 1),
            "--listen",
            `${host.ip}:7946`,
            ...seeds.flatMap((s) => ["--seed", s]),
            ...interval,
          ]),
        );
      }
      rust = new RustNode(d.ns);
      const started = await rust.request("node_start", {
        nodeId: "worker:4",
        listenIp: d.ip,
        listenPort: 7946,
        seeds,
        gossipIntervalMs: 200,
        initialIntervalMs: 200,
      });
      const handle = started.handle as number;
      await rust.request("zlayer_announce", {
        handle,
        info: {
          nodeId: "4",
          wgPubkey: "rust",
          wgEndpoint: "0.0.0.0:0",
          overlayIp: "",
          labels: {},
        },
      });
      const ids = ["1", "2", "3", "4"];
      const others = (w: Worker) => ids.filter((id) => id !== w.name);
      const everyone = ["worker:1", "worker:2", "worker:3", "worker:4"];
      const rustSees = async (want: string[]) =>
        JSON.stringify(await rust!.live(handle)) === JSON.stringify(want);
      const whole = async () => workers.every((w) => w.sees(others(w))) && await rustSees(everyone);

      log.push(`converged in ${(await waitFor("one cluster of 4", whole)).toFixed(0)} ms`);

      if (firewall !== undefined) {
        // 30% of the datagrams arriving at every host are dropped by the kernel.
        for (let i = 0; i < 4; i++) await lab.filter(i, { randomPercent: 30 });
        const failuresBefore = workers.map((w) =>
          w.events.filter((e) => e.event === "left").length
        );
        const end = performance.now() + 8_000;
        while (performance.now() < end) {
          assert.deepEqual(await rust.live(handle), everyone, "chitchat lost a node under loss");
          await new Promise((r) => setTimeout(r, 200));
        }
        let drops = 0;
        for (let i = 0; i < 4; i++) drops += (await lab.randomDrops(i)) ?? Infinity;
        assert.ok(drops > 50, `only ${drops} datagrams were dropped`);
        workers.forEach((w, i) => {
          const left = w.events.filter((e) => e.event === "left");
          assert.equal(left.length, failuresBefore[i], `worker ${w.name}: ${JSON.stringify(left)}`);
          assert.ok(w.sees(others(w)), `worker ${w.name} sees ${[...w.live]}`);
        });
        log.push(`8 s at 30% loss (${drops} datagrams dropped): nobody declared dead`);

        // Partition {a, b} | {c, d}: every datagram between the two sides is dropped.
        await lab.filter(0, { cut: [c.ip, d.ip] });
        await lab.filter(1, { cut: [c.ip, d.ip] });
        await lab.filter(2, { cut: [a.ip, b.ip] });
        await lab.filter(3, { cut: [a.ip, b.ip] });
        const [w1, w2, w3] = workers as [Worker, Worker, Worker];
        const split = await waitFor(
          "both sides see the other side fail",
          async () =>
            w1.sees(["2"]) && w2.sees(["1"]) && w3.sees(["4"]) &&
            await rustSees(["worker:3", "worker:4"]),
        );
        assert.ok(w1.failed("3") && w1.failed("4") && w2.failed("3") && w2.failed("4"));
        assert.ok(w3.failed("1") && w3.failed("2"));
        log.push(`split seen in ${split.toFixed(0)} ms`);

        for (let i = 0; i < 4; i++) await lab.clear(i);
        log.push(`healed in ${(await waitFor("everyone rejoins", whole)).toFixed(0)} ms`);
      }
      console.log(`netns_test: ${log.join("; ")}`);
    } catch (e) {
      for (const w of workers) console.error(`worker ${w.name} stderr:\n${w.stderr}`);
      throw e;
    } finally {
      for (const w of workers) {
        try {
          w.proc.kill("SIGTERM");
        } catch { /* already gone */ }
      }
      await rust?.close();
      const statuses = await Promise.all([
        ...workers.map(async (w) => {
          await w.done;
          return await w.proc.status;
        }),
        (async () => {
          if (rust === undefined) return undefined;
          await rust.done;
          return await rust.proc.status;
        })(),
      ]);
      const leftovers = await lab.tearDown();
      const ours = (await run("ip", ["netns", "list"])).split("\n")
        .filter((l) => l.startsWith(`${PREFIX}-`));
      assert.deepEqual(leftovers, [], "namespaces could not be deleted");
      assert.deepEqual(ours, [], "namespaces left behind");
      for (const s of statuses) if (s !== undefined) assert.ok(s.success || s.signal !== null);
    }
  },
});
