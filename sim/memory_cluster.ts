/**
 * Helpers for engine scenarios on the in-memory network and the virtual clock.
 */
import { GossipNode } from "../src/node/gossip_node.ts";
import type { GossipNodeOptions } from "../src/node/config.ts";
import { createRandom } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import type { SocketAddr } from "../src/common/types.ts";

export interface SimOptions {
  seed?: number;
  loss?: number;
  duplicate?: number;
  delayMs?: number | { min: number; max: number };
  node?: Partial<GossipNodeOptions>;
}

export class Sim {
  readonly clock = new VirtualClock();
  readonly net: MemoryNetwork;
  readonly nodes: GossipNode[] = [];
  readonly #opts: SimOptions;
  #nextSeed: number;

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

  async run(ms: number, stepMs = 100): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.advance(Math.min(stepMs, end - this.clock.now()));
      await Promise.resolve();
    }
  }

  live(): GossipNode[] {
    return this.nodes.filter((n) => n !== undefined && !n.closed);
  }

  async close(): Promise<void> {
    await Promise.all(this.live().map((n) => n.close()));
  }
}

/** Whether every open node sees every other open node live. */
export function fullyLive(nodes: GossipNode[]): boolean {
  const open = nodes.filter((n) => !n.closed);
  return open.every((n) => n.liveNodes().length === open.length);
}

/** A canonical text of what `node` holds about everybody (visible keys and tombstones). */
export function viewOf(node: GossipNode): string {
  return node.nodeStates().map((s) =>
    `${s.chitchatId.nodeId}@${s.chitchatId.generationId}:` +
    s.keyValuesIncludingDeleted().map(([k, v]) => `${k}=${v.value}/${v.version}/${v.status}`)
      .join(",") +
    `|max=${s.maxVersion}`
  ).join("\n");
}

/** Whether all open nodes hold the same keys and versions for every node. */
export function converged(nodes: GossipNode[]): boolean {
  const open = nodes.filter((n) => !n.closed);
  const first = viewOf(open[0]!);
  return open.every((n) => viewOf(n) === first);
}
