/**
 * Helpers for fault scenarios on the in-memory network: a cluster harness where every node can
 * have its own clock, a clock whose readings can jump, and membership/consistency checks.
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
 * under a timer wheel that counts real elapsed time. */
export class JumpClock implements Clock {
  readonly #inner: Clock;
  #offset = 0;

  constructor(inner: Clock) {
    this.#inner = inner;
  }

  now(): number {
    return this.#inner.now() + this.#offset;
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    return this.#inner.setTimer(delayMs, fn);
  }

  /** Moves this clock's readings by `ms` (negative: backwards). */
  jump(ms: number): void {
    this.#offset += ms;
  }
}

/** Options of a {@link FaultSim}. */
export interface FaultSimOptions extends LinkFault {
  readonly seed: number;
  readonly node?: Partial<GossipNodeOptions>;
  readonly onEvent?: (event: NetworkEvent) => void;
}

/** A cluster on a {@link MemoryNetwork} driven by one {@link VirtualClock}; node `i` listens on
 * {@link FaultSim.addr}(i) and seeds off node 0 unless told otherwise. Warnings are collected
 * (a test asserts there are none). */
export class FaultSim {
  readonly clock: VirtualClock = new VirtualClock();
  readonly net: MemoryNetwork;
  readonly nodes: GossipNode[] = [];
  readonly warnings: string[] = [];
  readonly #opts: FaultSimOptions;
  #nextSeed: number;

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

  static addr(i: number): SocketAddr {
    return { ip: `127.0.0.${i + 1}`, port: 7946 };
  }

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

  open(): GossipNode[] {
    return this.nodes.filter((n) => n !== undefined && !n.closed);
  }

  async close(): Promise<void> {
    await Promise.all(this.open().map((n) => n.close()));
    this.net.close();
  }
}

/** Ids (`node@generation`) that `node` holds live, self included, sorted. */
export function liveSet(node: GossipNode): string[] {
  return node.liveNodes().map((id) => `${id.nodeId}@${id.generationId}`).sort();
}

/** Whether every node in `nodes` sees exactly `nodes` (same ids and generations) live. */
export function exactlyLive(nodes: GossipNode[]): boolean {
  const want = nodes.map((n) => `${n.chitchatId.nodeId}@${n.chitchatId.generationId}`).sort()
    .join(",");
  return nodes.every((n) => liveSet(n).join(",") === want);
}

/** Canonical text of everything `node` holds: every node state with its keys, versions,
 * statuses, tombstones and GC point (heartbeats left out: they move every round). */
export function fullView(node: GossipNode): string {
  return node.nodeStates().map((s) =>
    `${s.chitchatId.nodeId}@${s.chitchatId.generationId} gc=${s.lastGcVersion} ` +
    `max=${s.maxVersion}: ` +
    s.keyValuesIncludingDeleted().map(([k, v]) => `${k}=${v.value}/${v.version}/${v.status}`)
      .join(",")
  ).join("\n");
}

/** Whether all `nodes` hold the same {@link fullView}. */
export function sameView(nodes: GossipNode[]): boolean {
  const first = fullView(nodes[0]!);
  return nodes.every((n) => fullView(n) === first);
}

/** Sum of every drop counter of a node's metrics (decode failures, internal errors...). */
export function droppedTotal(node: GossipNode): Record<string, number> {
  return node.metrics().dropped;
}
