/**
 * Deterministic test and simulation tools: {@link MemoryNetwork}, an in-memory datagram network
 * (seeded loss, duplication, delay, reordering, partitions, MTU) whose endpoints are
 * {@link Transport}s; {@link VirtualClock}, a {@link Clock} that only moves when told to; and
 * {@link createRandom}, the seeded generator nodes take as their `random` option.
 *
 * Who needs it: anyone testing code built on `GossipNode` or `GossipPool` without sockets or
 * wall-clock waits, or simulating clusters (simulated minutes run in milliseconds, the same way
 * on every run). Pass `transport: net.bind(addr)`, `clock` and `random` in the node or pool
 * options.
 *
 * @example Two nodes converge in simulated time
 * ```ts
 * import { GossipNode } from "../../mod.ts";
 * import { createRandom, MemoryNetwork, VirtualClock } from "./mod.ts";
 *
 * const clock = new VirtualClock();
 * const net = new MemoryNetwork({ clock, seed: 1, delayMs: { min: 1, max: 5 } });
 * const start = (nodeId: string, ip: string, seeds: string[], seed: number) =>
 *   GossipNode.start({
 *     nodeId,
 *     clusterId: "sim",
 *     seeds,
 *     transport: net.bind({ ip, port: 7946 }),
 *     clock,
 *     random: createRandom(seed),
 *   });
 * const a = await start("a", "10.0.0.1", [], 1);
 * const b = await start("b", "10.0.0.2", ["10.0.0.1:7946"], 2);
 * a.set("role", "indexer");
 * for (let i = 0; i < 50; i++) {
 *   clock.advance(100); // 5 simulated seconds in all, no real waiting
 *   await Promise.resolve();
 * }
 * const seen = b.nodeStates().find((s) => s.chitchatId.nodeId === "a");
 * console.log(seen?.get("role"), b.liveNodes().length); // indexer 2
 * await Promise.all([a.close(), b.close()]);
 * net.close();
 * ```
 *
 * @module
 */
export {
  type DelaySpec,
  type DropReason,
  type LinkFault,
  MemoryNetwork,
  type MemoryNetworkOptions,
  type MemoryNetworkStats,
  type NetworkEvent,
  type PartitionHandle,
} from "../transport/memory.ts";
export { type RunUntilOptions, VirtualClock } from "../common/virtual_clock.ts";
export { type Clock, systemClock, type Timer } from "../common/clock.ts";
export { createRandom, defaultRandom, type Random } from "../common/random.ts";
export { HearsayError, TimerCallbackError } from "../common/errors.ts";
export type { DatagramHandler, Transport, TransportStats } from "../transport/transport.ts";
export type { SocketAddr } from "../common/types.ts";
