import assert from "node:assert/strict";
import { createRandom } from "../common/random.ts";
import type { ChitchatId } from "../common/types.ts";
import {
  addressText,
  type CandidateInputs,
  GOSSIP_FANOUT,
  gossipCandidates,
  selectGossipTargets,
} from "./peer_selection.ts";

function id(n: number, ip = `10.0.0.${n}`): ChitchatId {
  return { nodeId: `n${n}`, generationId: 1n, gossipAdvertiseAddr: { ip, port: 7946 } };
}

function inputs(opts: {
  peers: number;
  live: number[];
  dead?: number[];
  seeds?: string[];
  extra?: ChitchatId[];
}): CandidateInputs {
  const states = new Map<string, { chitchatId: ChitchatId }>();
  states.set("n0", { chitchatId: id(0) });
  for (let i = 1; i <= opts.peers; i++) states.set(`n${i}`, { chitchatId: id(i) });
  for (const x of opts.extra ?? []) states.set(x.nodeId, { chitchatId: x });
  const seeds = new Map((opts.seeds ?? []).map((s) => {
    const [ip, port] = s.split(":");
    return [s, { ip: ip!, port: Number(port) }] as const;
  }));
  return {
    selfAddr: "10.0.0.0:7946",
    selfKey: "n0",
    states,
    liveKeys: opts.live.map((n) => `n${n}`),
    deadKeys: (opts.dead ?? []).map((n) => `n${n}`),
    seeds,
  };
}

Deno.test("gossipCandidates: live, dead and seeds, each address once, self left out", () => {
  const c = gossipCandidates(inputs({
    peers: 5,
    live: [0, 1, 2, 3],
    dead: [4],
    seeds: ["10.0.0.0:7946", "10.0.0.1:7946", "10.0.0.9:7946"],
  }));
  assert.equal(c.liveCount, 3);
  assert.deepEqual(c.peers.map(addressText).sort(), [
    "10.0.0.1:7946",
    "10.0.0.2:7946",
    "10.0.0.3:7946",
  ]);
  assert.deepEqual(c.dead, [{ ip: "10.0.0.4", port: 7946 }]);
  assert.deepEqual([...c.seeds].sort(), ["10.0.0.1:7946", "10.0.0.9:7946"]);
  assert.deepEqual(c.seedList.map(addressText).sort(), [...c.seeds].sort());
  assert.deepEqual(c.seedList.find((a) => a.port === 7946 && a.ip === "10.0.0.9"), {
    ip: "10.0.0.9",
    port: 7946,
  });
});

Deno.test("gossipCandidates: with no live peer every held peer is a candidate", () => {
  const c = gossipCandidates(inputs({ peers: 2, live: [], extra: [id(7, "0.0.0.0")] }));
  assert.equal(c.liveCount, 0);
  // The node advertising the unspecified address is left out.
  assert.deepEqual(c.peers.map(addressText).sort(), ["10.0.0.1:7946", "10.0.0.2:7946"]);
});

Deno.test("selectGossipTargets: at most the fanout, distinct, among live peers", () => {
  const c = gossipCandidates(inputs({ peers: 10, live: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }));
  const random = createRandom(3);
  for (let round = 0; round < 50; round++) {
    const t = selectGossipTargets(random, c);
    assert.equal(t.peers.length, GOSSIP_FANOUT);
    assert.equal(new Set(t.peers).size, GOSSIP_FANOUT);
    for (const p of t.peers) assert(c.peers.includes(p));
    assert.equal(t.dead, undefined);
    assert.equal(t.seed, undefined);
  }
});

Deno.test("selectGossipTargets: deterministic given the Random's seed", () => {
  const pick = (seed: number) => {
    const c = gossipCandidates(inputs({
      peers: 12,
      live: [1, 2, 3, 4, 5, 6, 7, 8],
      dead: [9, 10, 11, 12],
      seeds: ["10.0.1.1:7946", "10.0.1.2:7946"],
    }));
    const random = createRandom(seed);
    return Array.from({ length: 20 }, () => selectGossipTargets(random, c));
  };
  assert.deepEqual(pick(42), pick(42));
  assert.notDeepEqual(pick(42), pick(43));
});

Deno.test("selectGossipTargets: no live peer means a seed every round and dead peers tried", () => {
  const c = gossipCandidates(inputs({
    peers: 2,
    live: [],
    dead: [1, 2],
    seeds: ["10.0.1.1:7946", "10.0.1.2:7946"],
  }));
  const random = createRandom(5);
  for (let round = 0; round < 20; round++) {
    const t = selectGossipTargets(random, c);
    assert(t.seed !== undefined && c.seeds.has(addressText(t.seed)));
    // dead / (live + 1) = 2 > any draw in [0, 1).
    assert(t.dead !== undefined && c.dead.includes(t.dead));
  }
});

Deno.test("selectGossipTargets: nothing to pick from picks nothing", () => {
  const c = gossipCandidates(inputs({ peers: 0, live: [] }));
  const t = selectGossipTargets(createRandom(1), c);
  assert.deepEqual(t, { peers: [], dead: undefined, seed: undefined });
});
