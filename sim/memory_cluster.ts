/**
 * Helpers for engine scenarios on the in-memory network and the virtual clock: a small cluster
 * harness ({@link Sim}) and convergence checks, used by the cross-module tests.
 *
 * @module
 */
import { GossipNode } from "../src/node/gossip_node.ts";
import type { GossipNodeOptions } from "../src/node/config.ts";
import { createRandom } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import type { SocketAddr } from "../src/common/types.ts";

/** Options of a {@link Sim}.
 *
 * @example
 * ```ts
 * import { Sim, type SimOptions } from "./memory_cluster.ts";
 * const opts: SimOptions = { seed: 7, loss: 0.1, delayMs: 2, node: { gossipIntervalMs: 500 } };
 * const sim = new Sim(opts);
 * console.log(sim.net.stats.sent); // 0
 * ```
 */
export interface SimOptions {
  /** Seed of the network and of the nodes' randomness. Default 1. */
  seed?: number;
  /** Loss probability of every datagram. Default 0. */
  loss?: number;
  /** Duplication probability. Default 0. */
  duplicate?: number;
  /** Datagram delay. Default 1..5 ms. */
  delayMs?: number | { min: number; max: number };
  /** Options given to every node (before the per-node ones). */
  node?: Partial<GossipNodeOptions>;
}

/** A cluster on one {@link MemoryNetwork} and one {@link VirtualClock}: node `i` listens on
 * {@link Sim.addr}(i), id `node-<i>`, seeded off node 0; any warning is a test failure.
 *
 * @example
 * ```ts
 * import { fullyLive, Sim } from "./memory_cluster.ts";
 * const sim = new Sim({ seed: 1 });
 * const nodes = await sim.startMany(3);
 * const ms = await sim.until(() => fullyLive(nodes), 30_000);
 * console.log(ms > 0, nodes[2]!.liveNodes().length); // true 3
 * await sim.close();
 * ```
 */
export class Sim {
  readonly clock = new VirtualClock();
  readonly net: MemoryNetwork;
  readonly nodes: GossipNode[] = [];
  readonly #opts: SimOptions;
  #nextSeed: number;

  /** A cluster with no node yet. */
  constructor(opts: SimOptions = {}) {
    this.#opts = opts;
    this.#nextSeed = (opts.seed ?? 1) * 1000;
    this.net = new MemoryNetwork({
      clock: this.clock,
      seed: opts.seed ?? 1,
      ...(opts.loss !== undefined ? { loss: opts.loss } : {}),
      ...(opts.duplicate !== undefined ? { duplicate: opts.duplicate } : {}),
      ...(opts.delayMs !== undefined ? { delayMs: opts.delayMs } : { delayMs: { min: 1, max: 5 } }),
    });
  }

  /** The address of node `i`. */
  static addr(i: number): SocketAddr {
    return { ip: `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 7946 };
  }

  /** Starts node `i` (address 127.0.x.y:7946) seeded off node 0. */
  async start(i: number, extra: Partial<GossipNodeOptions> = {}): Promise<GossipNode> {
    const addr = Sim.addr(i);
    const node = await GossipNode.start({
      nodeId: `node-${i}`,
      clusterId: "sim",
      generationId: 0n,
      gossipIntervalMs: 1000,
      seeds: i === 0 ? [] : ["127.0.0.1:7946"],
      ...this.#opts.node,
      ...extra,
      transport: this.net.bind(addr),
      clock: this.clock,
      random: createRandom(this.#nextSeed++),
      onWarning: (m) => {
        throw new Error(`unexpected warning: ${m}`);
      },
    });
    this.nodes[i] = node;
    return node;
  }

  /** Starts nodes `0..n-1` and returns them. */
  async startMany(n: number, extra: Partial<GossipNodeOptions> = {}): Promise<GossipNode[]> {
    for (let i = 0; i < n; i++) await this.start(i, extra);
    return this.nodes.slice(0, n);
  }

  /** Advances virtual time in steps until `predicate` holds; returns the virtual ms it took, or
   * throws after `maxMs`. */
  async until(predicate: () => boolean, maxMs: number, stepMs = 100): Promise<number> {
    const start = this.clock.now();
    while (!predicate()) {
      if (this.clock.now() - start > maxMs) {
        throw new Error(`condition not met within ${maxMs} virtual ms`);
      }
      this.clock.advance(stepMs);
      await Promise.resolve();
    }
    return this.clock.now() - start;
  }

  /** Advances virtual time by `ms`, in steps. */
  async run(ms: number, stepMs = 100): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.advance(Math.min(stepMs, end - this.clock.now()));
      await Promise.resolve();
    }
  }

  /** The nodes not closed. */
  live(): GossipNode[] {
    return this.nodes.filter((n) => n !== undefined && !n.closed);
  }

  /** Closes every open node. */
  async close(): Promise<void> {
    await Promise.all(this.live().map((n) => n.close()));
  }
}

/** Whether every open node sees every other open node live.
 *
 * @example
 * ```ts
 * import { fullyLive, Sim } from "./memory_cluster.ts";
 * const sim = new Sim();
 * const nodes = await sim.startMany(2);
 * console.log(fullyLive(nodes)); // false: they have not gossiped yet
 * await sim.until(() => fullyLive(nodes), 10_000);
 * console.log(fullyLive(nodes)); // true
 * await sim.close();
 * ```
 */
export function fullyLive(nodes: GossipNode[]): boolean {
  const open = nodes.filter((n) => !n.closed);
  return open.every((n) => n.liveNodes().length === open.length);
}

/** A canonical text of what `node` holds about everybody (visible keys and tombstones).
 *
 * @example
 * ```ts
 * import { Sim, viewOf } from "./memory_cluster.ts";
 * const sim = new Sim();
 * const node = await sim.start(0);
 * node.set("color", "blue");
 * console.log(viewOf(node).includes("color=blue/")); // true
 * await sim.close();
 * ```
 */
export function viewOf(node: GossipNode): string {
  return node.nodeStates().map((s) =>
    `${s.chitchatId.nodeId}@${s.chitchatId.generationId}:` +
    s.keyValuesIncludingDeleted().map(([k, v]) => `${k}=${v.value}/${v.version}/${v.status}`)
      .join(",") +
    `|max=${s.maxVersion}`
  ).join("\n");
}

/** Whether all open nodes hold the same keys and versions for every node.
 *
 * @example
 * ```ts
 * import { converged, Sim } from "./memory_cluster.ts";
 * const sim = new Sim();
 * const [a, b] = await sim.startMany(2);
 * a!.set("k", "v");
 * console.log(converged([a!, b!])); // false
 * await sim.until(() => converged([a!, b!]), 20_000);
 * console.log(b!.nodeStates().length); // 2
 * await sim.close();
 * ```
 */
export function converged(nodes: GossipNode[]): boolean {
  const open = nodes.filter((n) => !n.closed);
  const first = viewOf(open[0]!);
  return open.every((n) => viewOf(n) === first);
}
