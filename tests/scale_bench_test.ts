/**
 * bench/scale.ts: hearsay in its own process and chitchat through the interop peer at the same
 * sizes, the table and the plots built from what they measured. Needs `deno task build:interop`.
 */
import assert from "node:assert/strict";
import { mergeRows, runScale, type ScaleOptions, scalePlots, scaleTable } from "../bench/scale.ts";

/** Options of a small hearsay-only membership run, with `over` on top. */
function small(over: Partial<ScaleOptions>): ScaleOptions {
  return {
    sizes: [5],
    chitchatSizes: [],
    gossipIntervalMs: 1000,
    scenarios: ["membership"],
    ids: "zlayer",
    phaseTimeoutMs: 60_000,
    chitchatWallBudgetMs: 60_000,
    hearsayFlags: [],
    ...over,
  };
}

Deno.test("bench/scale.ts runs both implementations at each size and tabulates and plots them", async () => {
  const rows = await runScale({
    sizes: [12, 24],
    chitchatSizes: [12],
    gossipIntervalMs: 1000,
    scenarios: ["membership", "traffic", "detection"],
    ids: "zlayer",
    phaseTimeoutMs: 60_000,
    chitchatWallBudgetMs: 60_000,
    hearsayFlags: [],
  });
  assert.deepEqual(rows.map((r) => [r.implementation.split(" ")[0], r.numNodes]), [
    ["hearsay", 12],
    ["hearsay", 24],
    ["chitchat", 12],
  ]);
  for (const row of rows) {
    assert.equal(row.result?.membership.converged, row.numNodes, row.error);
    assert.equal(row.result?.run.ids, "zlayer");
    assert.equal(row.result?.detection?.detected, row.numNodes - 1);
  }
  const table = scaleTable(rows).split("\n");
  assert.equal(table.length, 2 + 3);
  // Sorted by size, hearsay first at equal size.
  assert.match(table[2]!, /^\| hearsay \| 12 \| \d+\.\d s/);
  assert.match(table[3]!, /^\| chitchat 0\.10\.1 \| 12 \|/);
  assert.match(table[4]!, /^\| hearsay \| 24 \|/);
  const plots = scalePlots(rows);
  assert.ok(plots["scale_membership.svg"]!.includes("hearsay: last node"));
  assert.ok(plots["scale_membership.svg"]!.includes("chitchat: last node"));
  assert.ok(plots["scale_bandwidth.svg"]!.startsWith("<svg"));
});

Deno.test("bench/scale.ts reports a run that fails instead of throwing", async () => {
  const rows = await runScale(small({ hearsayFlags: ["--past-one-datagram", "sideways"] }));
  assert.equal(rows[0]!.result, null);
  assert.match(rows[0]!.error!, /past-one-datagram/);
  assert.match(scaleTable(rows).split("\n")[2]!, /^\| hearsay \| 5 \| failed: exit 2/);
});

Deno.test("bench/scale.ts: a heap limit reaches the hearsay process; rows carry when and what", async () => {
  // 1 MB of old space cannot hold a node: the limit must reach the child, which then fails.
  const starved = await runScale(small({ heapLimitMb: 1 }));
  assert.equal(starved[0]!.result, null);
  assert.equal(starved[0]!.heapLimitMb, 1);
  const fed = await runScale(small({ heapLimitMb: 512 }));
  assert.equal(fed[0]!.result?.membership.converged, 5, fed[0]!.error);
  assert.ok(!Number.isNaN(Date.parse(fed[0]!.measuredAt!)));
  assert.match(String(fed[0]!.commit), /^[0-9a-f]{7,}$|^null$/);
  // A re-run size replaces its row; the others stay.
  const merged = mergeRows([...starved, { ...starved[0]!, numNodes: 9 }], fed);
  assert.deepEqual(merged.map((r) => [r.numNodes, r.result !== null]), [[9, false], [5, true]]);
});
