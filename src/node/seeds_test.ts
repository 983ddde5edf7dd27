import assert from "node:assert/strict";
import { resolveSeeds, splitSeeds } from "./seeds.ts";

Deno.test("splitSeeds: literal addresses parsed, names kept to resolve", () => {
  const spec = splitSeeds(["127.0.0.1:7000", "[::1]:7001", "localhost:7002"]);
  assert.deepEqual([...spec.fixed.keys()], ["127.0.0.1:7000", "[::1]:7001"]);
  assert.deepEqual(spec.fixed.get("127.0.0.1:7000"), { ip: "127.0.0.1", port: 7000 });
  assert.deepEqual(spec.names, ["localhost:7002"]);
});

Deno.test("resolveSeeds: names resolve to every address, failures warn and are skipped", async () => {
  const warnings: string[] = [];
  const seeds = await resolveSeeds(
    splitSeeds(["127.0.0.1:7000", "localhost:7002", "no-such-host.invalid:7003"]),
    (m) => warnings.push(m),
  );
  assert(seeds.has("127.0.0.1:7000"));
  assert([...seeds.values()].some((a) => a.port === 7002));
  assert(![...seeds.values()].some((a) => a.port === 7003));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /cannot resolve seed no-such-host\.invalid:7003/);
});
