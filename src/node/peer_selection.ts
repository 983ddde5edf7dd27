/**
 * Which peers a gossip round talks to: up to {@link GOSSIP_FANOUT} live peers, sometimes one
 * dead peer (to notice it came back) and sometimes one seed (to heal partitions), as chitchat
 * picks them. Plain functions: the randomness comes in as a {@link Random}, so a selection is
 * deterministic given its seed.
 *
 * @module
 */
import { formatSocketAddr } from "../common/socket_addr.ts";
import type { Random } from "../common/random.ts";
import type { ChitchatId, SocketAddr } from "../common/types.ts";

/** How many peers a round gossips with (chitchat's fan-out).
 *
 * @example
 * ```ts
 * import { GOSSIP_FANOUT } from "./peer_selection.ts";
 * console.log(GOSSIP_FANOUT); // 3
 * ```
 */
export const GOSSIP_FANOUT = 3;

/** Whether `addr` is the unspecified address (`0.0.0.0` or `::`), which no peer can reach.
 *
 * @example
 * ```ts
 * import { isUnspecified } from "./peer_selection.ts";
 * console.log(isUnspecified({ ip: "0.0.0.0", port: 7946 })); // true
 * console.log(isUnspecified({ ip: "10.0.0.1", port: 7946 })); // false
 * ```
 */
export function isUnspecified(addr: SocketAddr): boolean {
  return addr.ip === "0.0.0.0" || addr.ip === "::";
}

/** `formatSocketAddr` per address object: a round formats the address of every peer, and the
 * objects (those of the held ChitchatIds) live as long as their node states. */
const formattedAddrs = new WeakMap<SocketAddr, string>();

/** The text of `addr` as {@link GossipCandidates.seeds} holds it (`ip:port`, cached per address
 * object).
 *
 * @example
 * ```ts
 * import { addressText } from "./peer_selection.ts";
 * console.log(addressText({ ip: "10.0.0.1", port: 7946 })); // 10.0.0.1:7946
 * ```
 */
export function addressText(addr: SocketAddr): string {
  let s = formattedAddrs.get(addr);
  if (s === undefined) {
    s = formatSocketAddr(addr);
    formattedAddrs.set(addr, s);
  }
  return s;
}

/** `count` distinct items drawn at random (a partial Fisher-Yates shuffle of `items` in place:
 * the order of `items` changes, not its contents).
 *
 * @example
 * ```ts
 * import { sample } from "./peer_selection.ts";
 * import { createRandom } from "../common/random.ts";
 * const items = ["a", "b", "c", "d"];
 * const picked = sample(createRandom(1), items, 2);
 * console.log(picked.length, new Set(picked).size); // 2 2
 * ```
 */
export function sample<T>(random: Random, items: T[], count: number): T[] {
  const n = Math.min(count, items.length);
  for (let i = 0; i < n; i++) {
    const j = i + random.int(items.length - i);
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items.slice(0, n);
}

/** What a round picks its targets from (see {@link gossipCandidates}): parsed addresses, each
 * listed once per set (by its `ip:port` text). */
export interface GossipCandidates {
  /** Live peers (addresses), counted once each. */
  readonly liveCount: number;
  /** Addresses to pick the fanout from: the live ones, or every peer when none is live. */
  readonly peers: SocketAddr[];
  /** Dead peers' addresses. */
  readonly dead: SocketAddr[];
  /** Seed addresses (`ip:port`) other than this node's own. */
  readonly seeds: ReadonlySet<string>;
  /** The same seeds, parsed (to sample from). */
  readonly seedList: SocketAddr[];
}

/** The inputs of {@link gossipCandidates}. */
export interface CandidateInputs {
  /** This node's address (`ip:port`): a seed with it is skipped. */
  readonly selfAddr: string;
  /** This node's state key: never a candidate. */
  readonly selfKey: string;
  /** The node states held, by state key (self included); only their ChitchatIds are read. */
  readonly states: ReadonlyMap<string, { readonly chitchatId: ChitchatId }>;
  /** State keys the failure detector considers live. */
  readonly liveKeys: Iterable<string>;
  /** State keys the failure detector considers dead. */
  readonly deadKeys: Iterable<string>;
  /** Seed addresses, formatted to parsed. */
  readonly seeds: ReadonlyMap<string, SocketAddr>;
}

/** Builds the candidates of a round: live, dead and seed addresses (each address once, nodes
 * advertising an unspecified address left out). When no peer is live, every held peer is a
 * candidate for the fanout.
 *
 * @example
 * ```ts
 * import { gossipCandidates } from "./peer_selection.ts";
 * const self = { nodeId: "a", generationId: 1n, gossipAdvertiseAddr: { ip: "10.0.0.1", port: 1 } };
 * const b = { nodeId: "b", generationId: 1n, gossipAdvertiseAddr: { ip: "10.0.0.2", port: 1 } };
 * const states = new Map([["a", { chitchatId: self }], ["b", { chitchatId: b }]]);
 * const c = gossipCandidates({
 *   selfAddr: "10.0.0.1:1", selfKey: "a", states,
 *   liveKeys: ["b"], deadKeys: [],
 *   seeds: new Map([["10.0.0.1:1", self.gossipAdvertiseAddr]]),
 * });
 * console.log(c.liveCount, c.peers, c.seeds.size); // 1 [ { ip: "10.0.0.2", port: 1 } ] 0
 * ```
 */
export function gossipCandidates(inputs: CandidateInputs): GossipCandidates {
  const { selfKey, states } = inputs;
  // Each address once (by its text), in first-seen order; only the parsed addresses are kept,
  // not a map from text to address: a node caches its candidates, a map of every peer cost
  // about 50 bytes per peer, and a target's text is one cached format away.
  const toList = (ids: Iterable<ChitchatId>): SocketAddr[] => {
    const seen = new Set<string>();
    const out: SocketAddr[] = [];
    for (const id of ids) {
      const a = id.gossipAdvertiseAddr;
      if (isUnspecified(a)) continue;
      const s = addressText(a);
      if (seen.has(s)) continue;
      seen.add(s);
      out.push(a);
    }
    return out;
  };
  const liveIds: ChitchatId[] = [];
  for (const k of inputs.liveKeys) {
    const s = states.get(k);
    if (s !== undefined && k !== selfKey) liveIds.push(s.chitchatId);
  }
  const deadIds: ChitchatId[] = [];
  for (const k of inputs.deadKeys) {
    const s = states.get(k);
    if (s !== undefined) deadIds.push(s.chitchatId);
  }
  const live = toList(liveIds);
  // Every peer is a candidate only when none is live.
  let peers = live;
  if (live.length === 0) {
    const peerIds: ChitchatId[] = [];
    for (const [k, s] of states) if (k !== selfKey) peerIds.push(s.chitchatId);
    peers = toList(peerIds);
  }
  const dead = toList(deadIds);
  const seeds = new Set<string>();
  const seedList: SocketAddr[] = [];
  for (const [s, a] of inputs.seeds) {
    if (s === inputs.selfAddr || seeds.has(s)) continue;
    seeds.add(s);
    seedList.push(a);
  }
  return { liveCount: live.length, peers, dead, seeds, seedList };
}

/** The peers one round sends a Syn to. */
export interface GossipTargets {
  /** Up to {@link GOSSIP_FANOUT} distinct peers. */
  readonly peers: readonly SocketAddr[];
  /** A dead peer, drawn with probability dead / (live + 1). */
  readonly dead: SocketAddr | undefined;
  /** A seed, when the fanout had none or fewer peers are live than there are seeds; always
   * when no peer is live, else with probability seeds / (live + dead). */
  readonly seed: SocketAddr | undefined;
}

/** Picks a round's targets among `c` (chitchat's selection). Draws from `random` in a fixed
 * order, so the same seed gives the same targets; shuffles `c.peers`, `c.dead` and `c.seedList`
 * in place (their contents stay).
 *
 * @example
 * ```ts
 * import { gossipCandidates, selectGossipTargets } from "./peer_selection.ts";
 * import { createRandom } from "../common/random.ts";
 * const c = gossipCandidates({
 *   selfAddr: "10.0.0.1:1", selfKey: "a", states: new Map(),
 *   liveKeys: [], deadKeys: [], seeds: new Map([["10.0.0.9:1", { ip: "10.0.0.9", port: 1 }]]),
 * });
 * const t = selectGossipTargets(createRandom(7), c);
 * console.log(t.peers, t.dead, t.seed); // [] undefined { ip: "10.0.0.9", port: 1 }
 * ```
 */
export function selectGossipTargets(random: Random, c: GossipCandidates): GossipTargets {
  const peers = sample(random, c.peers, GOSSIP_FANOUT);
  const gossipedWithSeed = peers.some((t) => c.seeds.has(addressText(t)));
  let dead: SocketAddr | undefined;
  if (c.dead.length / (c.liveCount + 1) > random.next()) {
    dead = sample(random, c.dead, 1)[0];
  }
  let seed: SocketAddr | undefined;
  if (!gossipedWithSeed || c.liveCount < c.seeds.size) {
    const p = c.seeds.size / (c.liveCount + c.dead.length);
    if (c.seeds.size > 0 && (c.liveCount === 0 || random.next() <= p)) {
      seed = sample(random, c.seedList, 1)[0];
    }
  }
  return { peers, dead, seed };
}
