/**
 * Helpers for fault scenarios on the in-memory network: a cluster harness where every node can
 * have its own clock, a clock whose readings can jump, and membership/consistency checks.
 *
 * @module
 */
import type { Clock, Timer } from "../src/common/clock.ts";
import type { GossipNodeOptions } from "../src/node/config.ts";
import { GossipNode } from "../src/node/gossip_node.ts";
import { createRandom } from "../src/common/random.ts";
import { type LinkFault, MemoryNetwork, type NetworkEvent } from "../src/transport/memory.ts";
import type { SocketAddr } from "../src/common/types.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";

/** A clock over another one whose `now()` can jump by any amount (forward or back) while the
 * timers keep firing on the inner clock's schedule, like a wall clock reset by NTP or by hand
 * under a timer wheel that counts real elapsed time.
 *
 * @example
 * ```ts
 * import { JumpClock } from "./faults.ts";
 * import { VirtualClock } from "../src/common/virtual_clock.ts";
 * const inner = new VirtualClock();
 * const clock = new JumpClock(inner);
 * const fired: number[] = [];
 * clock.setTimer(10, () => fired.push(clock.now()));
 * clock.jump(-5_000);
 * inner.advance(10);
 * console.log(fired, inner.now()); // [ -4990 ] 10
 * ```
 */
export class JumpClock implements Clock {
  readonly #inner: Clock;
  #offset = 0;

  /** A clock reading `inner`'s time until the first jump. */
  constructor(inner: Clock) {
    this.#inner = inner;
  }

  /** The inner clock's time plus every jump so far. */
  now(): number {
    return this.#inner.now() + this.#offset;
  }

  /** A timer on the inner clock's schedule (jumps do not move it). */
  setTimer(delayMs: number, fn: () => void): Timer {
    return this.#inner.setTimer(delayMs, fn);
  }

  /** Moves this clock's readings by `ms` (negative: backwards). */
  jump(ms: number): void {
    this.#offset += ms;
  }
}

/** Options of a {@link FaultSim}: the network's default link faults plus these.
 *
 * @example
 * ```ts
 * import { FaultSim, type FaultSimOptions } from "./faults.ts";
 * const events: string[] = [];
 * const opts: FaultSimOptions = { seed: 3, loss: 1, onEvent: (e) => events.push(e.kind) };
 * const sim = new FaultSim(opts);
 * await sim.startMany(2);
 * await sim.run(2_000);
 * console.log(events.includes("drop"), events.includes("deliver")); // true false
 * await sim.close();
 * ```
 */
export interface FaultSimOptions extends LinkFault {
  /** Seed of the network and of the nodes' randomness. */
  readonly seed: number;
  /** Options given to every node (before the per-node ones). */
  readonly node?: Partial<GossipNodeOptions>;
  /** Sees every delivery and drop. */
  readonly onEvent?: (event: NetworkEvent) => void;
}

/** A cluster on a {@link MemoryNetwork} driven by one {@link VirtualClock}; node `i` listens on
 * {@link FaultSim.addr}(i) and seeds off node 0 unless told otherwise. Warnings are collected
 * (a test asserts there are none).
 *
 * @example
 * ```ts
 * import { exactlyLive, FaultSim } from "./faults.ts";
 * const sim = new FaultSim({ seed: 1 });
 * const nodes = await sim.startMany(3);
 * await sim.until("membership", () => exactlyLive(nodes), 30_000);
 * const cut = sim.net.isolate(FaultSim.addrText(2));
 * await sim.until("node 2 dropped", () => nodes[0]!.liveNodes().length === 2, 60_000);
 * cut.heal();
 * console.log(sim.warnings); // []
 * await sim.close();
 * ```
 */
export class FaultSim {
  readonly clock: VirtualClock = new VirtualClock();
  readonly net: MemoryNetwork;
  readonly nodes: GossipNode[] = [];
  readonly warnings: string[] = [];
  readonly #opts: FaultSimOptions;
  #nextSeed: number;

  /** A cluster with no node yet. */
  constructor(opts: FaultSimOptions) {
    this.#opts = opts;
    this.#nextSeed = opts.seed * 1000;
    const { seed: _seed, node: _node, onEvent, ...fault } = opts;
    this.net = new MemoryNetwork({
      clock: this.clock,
      seed: opts.seed,
      delayMs: { min: 1, max: 5 },
      ...fault,
      ...(onEvent !== undefined ? { onEvent } : {}),
    });
  }

  /** The address of node `i`. */
  static addr(i: number): SocketAddr {
    return { ip: `127.0.0.${i + 1}`, port: 7946 };
  }

  /** The address of node `i` as `ip:port` text. */
  static addrText(i: number): string {
    return `127.0.0.${i + 1}:7946`;
  }

  /** Starts node `i` (id `node-<i>`, generation 0 unless given). */
  async start(
    i: number,
    extra: Partial<GossipNodeOptions> = {},
    clock: Clock = this.clock,
  ): Promise<GossipNode> {
    const node = await GossipNode.start({
      nodeId: `node-${i}`,
      clusterId: "faults",
      generationId: 0n,
      gossipIntervalMs: 1000,
      seeds: i === 0 ? [] : [FaultSim.addrText(0)],
      ...this.#opts.node,
      ...extra,
      transport: this.net.bind(FaultSim.addr(i)),
      clock,
      random: createRandom(this.#nextSeed++),
      onWarning: (m) => this.warnings.push(m),
    });
    this.nodes[i] = node;
    return node;
  }

  /** Starts nodes `0..n-1` and returns them. */
  async startMany(n: number, extra: Partial<GossipNodeOptions> = {}): Promise<GossipNode[]> {
    for (let i = 0; i < n; i++) await this.start(i, extra);
    return this.nodes.slice(0, n);
  }

  /** Advances virtual time by `ms` in `stepMs` steps, calling `check` after every step. */
  async run(ms: number, check: () => void = () => {}, stepMs = 100): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.advance(Math.min(stepMs, end - this.clock.now()));
      check();
      await Promise.resolve();
    }
  }

  /** Advances time until `predicate` holds; returns the virtual ms it took; throws after
   * `maxMs` with `what` in the message. */
  async until(
    what: string,
    predicate: () => boolean,
    maxMs: number,
    stepMs = 100,
  ): Promise<number> {
    const start = this.clock.now();
    while (!predicate()) {
      if (this.clock.now() - start >= maxMs) {
        throw new Error(`${what}: not reached within ${maxMs} virtual ms`);
      }
      this.clock.advance(stepMs);
      await Promise.resolve();
    }
    return this.clock.now() - start;
  }

  /** The nodes not closed. */
  open(): GossipNode[] {
    return this.nodes.filter((n) => n !== undefined && !n.closed);
  }

  /** Closes every open node and the network. */
  async close(): Promise<void> {
    await Promise.all(this.open().map((n) => n.close()));
    this.net.close();
  }
}

/** Ids (`node@generation`) that `node` holds live, self included, sorted.
 *
 * @example
 * ```ts
 * import { FaultSim, liveSet } from "./faults.ts";
 * const sim = new FaultSim({ seed: 1 });
 * const node = await sim.start(0, { generationId: 4n });
 * console.log(liveSet(node)); // [ "node-0@4" ]
 * await sim.close();
 * ```
 */
export function liveSet(node: GossipNode): string[] {
  return node.liveNodes().map((id) => `${id.nodeId}@${id.generationId}`).sort();
}

/** Whether every node in `nodes` sees exactly `nodes` (same ids and generations) live.
 *
 * @example
 * ```ts
 * import { exactlyLive, FaultSim } from "./faults.ts";
 * const sim = new FaultSim({ seed: 1 });
 * const nodes = await sim.startMany(2);
 * console.log(exactlyLive(nodes)); // false
 * await sim.until("membership", () => exactlyLive(nodes), 20_000);
 * console.log(exactlyLive(nodes.slice(0, 1))); // false: node 0 also sees node 1
 * await sim.close();
 * ```
 */
export function exactlyLive(nodes: GossipNode[]): boolean {
  const want = nodes.map((n) => `${n.chitchatId.nodeId}@${n.chitchatId.generationId}`).sort()
    .join(",");
  return nodes.every((n) => liveSet(n).join(",") === want);
}

/** Canonical text of everything `node` holds: every node state with its keys, versions,
 * statuses, tombstones and GC point (heartbeats left out: they move every round).
 *
 * @example
 * ```ts
 * import { FaultSim, fullView } from "./faults.ts";
 * const sim = new FaultSim({ seed: 1 });
 * const node = await sim.start(0);
 * node.set("a", "1");
 * node.delete("a");
 * console.log(fullView(node).includes("a=/2/deleted")); // true
 * await sim.close();
 * ```
 */
export function fullView(node: GossipNode): string {
  return node.nodeStates().map((s) =>
    `${s.chitchatId.nodeId}@${s.chitchatId.generationId} gc=${s.lastGcVersion} ` +
    `max=${s.maxVersion}: ` +
    s.keyValuesIncludingDeleted().map(([k, v]) => `${k}=${v.value}/${v.version}/${v.status}`)
      .join(",")
  ).join("\n");
}

/** Whether all `nodes` hold the same {@link fullView}.
 *
 * @example
 * ```ts
 * import { FaultSim, sameView } from "./faults.ts";
 * const sim = new FaultSim({ seed: 1 });
 * const nodes = await sim.startMany(2);
 * nodes[1]!.set("k", "v");
 * console.log(sameView(nodes)); // false
 * await sim.until("same view", () => sameView(nodes), 20_000);
 * await sim.close();
 * ```
 */
export function sameView(nodes: GossipNode[]): boolean {
  const first = fullView(nodes[0]!);
  return nodes.every((n) => fullView(n) === first);
}

/** The drop counters of a node's metrics, by reason (decode failures, internal errors...).
 *
 * @example
 * ```ts
 * import { droppedTotal, FaultSim } from "./faults.ts";
 * const sim = new FaultSim({ seed: 1 });
 * const node = await sim.start(0);
 * console.log(Object.values(droppedTotal(node)).every((n) => n === 0)); // true
 * await sim.close();
 * ```
 */
export function droppedTotal(node: GossipNode): Record<string, number> {
  return node.metrics().dropped;
}
