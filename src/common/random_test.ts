import assert from "node:assert/strict";
import { createRandom, defaultRandom } from "./random.ts";
import { ConfigError } from "./errors.ts";

Deno.test("createRandom() gives the same sequence for the same seed", () => {
  const a = createRandom(12345);
  const b = createRandom(12345);
  const c = createRandom(12346);
  const sa = Array.from({ length: 100 }, () => a.next());
  const sb = Array.from({ length: 100 }, () => b.next());
  const sc = Array.from({ length: 100 }, () => c.next());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

Deno.test("createRandom() treats equal number and bigint seeds alike, and distinguishes others", () => {
  assert.equal(createRandom(99).next(), createRandom(99n).next());
  assert.equal(createRandom(-1).next(), createRandom((1n << 64n) - 1n).next());
  const firsts = new Set(
    [0, 1, -1, 0.5, 1.5, NaN, Infinity, 2 ** 60].map((s) => createRandom(s).next()),
  );
  assert.equal(firsts.size, 8);
});

Deno.test("createRandom() output is pinned (regression: simulations replay across versions)", () => {
  const r = createRandom(1);
  const got = Array.from({ length: 4 }, () => r.int(1_000_000));
  // Recorded from this implementation (xoshiro128** seeded by SplitMix64); a change here
  // changes every seeded simulation.
  assert.deepEqual(got, PINNED_SEED_1);
});

Deno.test("Random.next() stays in [0, 1) with a plausible mean and spread", () => {
  const r = createRandom(7);
  const n = 100_000;
  let sum = 0;
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < n; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1, `out of range: ${x}`);
    sum += x;
    buckets[Math.floor(x * 10)]!++;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01, `mean ${sum / n}`);
  // Chi-square with 9 degrees of freedom; 27.9 is the 0.1% critical value.
  const expected = n / 10;
  const chi2 = buckets.reduce((acc, b) => acc + (b - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 27.9, `chi2 ${chi2}`);
});

Deno.test("Random.int() is uniform over [0, n) for a non-power-of-two n", () => {
  const r = createRandom(3n);
  const n = 7;
  const counts = new Array<number>(n).fill(0);
  const draws = 70_000;
  for (let i = 0; i < draws; i++) {
    const k = r.int(n);
    assert.ok(Number.isInteger(k) && k >= 0 && k < n);
    counts[k]!++;
  }
  const expected = draws / n;
  const chi2 = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 22.5, `chi2 ${chi2} counts ${counts}`); // 6 dof, 0.1%
  assert.equal(r.int(1), 0);
  const big = r.int(2 ** 40);
  assert.ok(Number.isInteger(big) && big >= 0 && big < 2 ** 40);
});

Deno.test("Random.int() rejects n that is not a positive integer", () => {
  const r = createRandom(1);
  for (const bad of [0, -3, 1.5, NaN, Infinity, 2 ** 54]) {
    assert.throws(() => r.int(bad), ConfigError, `n=${bad}`);
  }
});

Deno.test("Random.shuffle() permutes in place and reaches every order about equally", () => {
  const r = createRandom(11);
  const a = [1, 2, 3, 4, 5];
  const out = r.shuffle(a);
  assert.equal(out, a);
  assert.deepEqual([...a].sort(), [1, 2, 3, 4, 5]);
  const counts = new Map<string, number>();
  const rounds = 60_000;
  for (let i = 0; i < rounds; i++) {
    const key = r.shuffle(["a", "b", "c"]).join("");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  for (const [k, c] of counts) assert.ok(Math.abs(c - rounds / 6) < 500, `${k}: ${c}`);
  assert.deepEqual(r.shuffle([]), []);
});

Deno.test("defaultRandom() gives different sequences each call", () => {
  const a = defaultRandom();
  const b = defaultRandom();
  const sa = Array.from({ length: 4 }, () => a.next());
  const sb = Array.from({ length: 4 }, () => b.next());
  assert.notDeepEqual(sa, sb);
  assert.ok(sa.every((x) => x >= 0 && x < 1));
});

const PINNED_SEED_1: number[] = [230342, 680617, 489432, 780199];
