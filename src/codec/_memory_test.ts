import assert from "node:assert/strict";
import { allocRegion, freeRegion, SCRATCH } from "./_memory.ts";

Deno.test("allocRegion(): aligned, disjoint regions below the scratch area", () => {
  const a = allocRegion(100);
  const b = allocRegion(5000);
  const c = allocRegion(64);
  for (const at of [a, b, c]) assert.equal(at % 64, 0);
  assert.ok(a + 128 <= b || b + 5056 <= a, `${a} and ${b} overlap`);
  assert.ok(b + 5056 <= c || c + 64 <= b, `${b} and ${c} overlap`);
  assert.ok(SCRATCH >= Math.max(a + 128, b + 5056, c + 64), "scratch overlaps a region");
});

Deno.test("freeRegion(): a freed region is reused for the same size only", () => {
  const a = allocRegion(4096);
  freeRegion(a, 4096);
  const other = allocRegion(8192);
  assert.notEqual(other, a);
  assert.equal(allocRegion(4090), a); // 4090 rounds up to 4096, the freed size
  assert.notEqual(allocRegion(4096), a); // handed out once only
});
