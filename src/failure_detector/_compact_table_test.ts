import assert from "node:assert/strict";
import {
  DEFAULT_FAILURE_DETECTOR_CONFIG,
  FailureDetector,
  type FailureDetectorConfig,
  phiReference,
} from "./failure_detector.ts";
import { blockSize, COMPACT_SLOT_BYTES, CompactTable } from "./_compact_table.ts";
import { VirtualClock } from "../common/virtual_clock.ts";
import { createRandom } from "../common/random.ts";

/** Random reports, liveness rounds, removals and collections on the compact and the TypeScript
 * backend at once; `check` compares them after every step. */
function randomHistory(
  window: number,
  steps: number,
  check: (compact: FailureDetector, ts: FailureDetector, keys: string[], step: number) => void,
): void {
  const random = createRandom(20261202 + window);
  const config: FailureDetectorConfig = {
    ...DEFAULT_FAILURE_DETECTOR_CONFIG,
    samplingWindowSize: window,
    phiThreshold: 3,
    maxIntervalMs: 8_000,
    initialIntervalMs: 1_700,
    deadNodeGracePeriodMs: 200_000,
  };
  const clock = new VirtualClock(123.456);
  const compact = new FailureDetector(config, clock, { backend: "compact" });
  const ts = new FailureDetector(config, clock, { backend: "typescript" });
  const keys = Array.from({ length: 20 }, (_, i) => `node-${i}`);
  for (let step = 0; step < steps; step++) {
    clock.advance(random.next() * (random.next() < 0.02 ? 12_000 : 200));
    const op = random.next();
    const key = keys[random.int(keys.length)]!;
    if (op < 0.7) {
      compact.reportHeartbeat(key);
      ts.reportHeartbeat(key);
    } else if (op < 0.85) {
      const subset = keys.filter(() => random.next() < 0.8);
      compact.updateLiveness(subset);
      ts.updateLiveness(subset);
    } else if (op < 0.86) {
      assert.equal(compact.remove(key), ts.remove(key));
    } else {
      assert.deepEqual(compact.garbageCollect().sort(), ts.garbageCollect().sort());
    }
    check(compact, ts, keys, step);
  }
}

for (const window of [1, 3, 8]) {
  Deno.test(`compact backend: windows of at most 8 intervals are chitchat's ring, bit for bit (window ${window})`, () => {
    let compared = 0;
    randomHistory(window, 20_000, (compact, ts, keys, step) => {
      assert.deepEqual(compact.liveNodes().sort(), ts.liveNodes().sort());
      assert.deepEqual(compact.deadNodes().sort(), ts.deadNodes().sort());
      for (const k of keys) {
        const a = compact.phi(k);
        assert.ok(Object.is(a, ts.phi(k)), `${k} at step ${step}: ${a} ${ts.phi(k)}`);
        if (a !== undefined) compared++;
      }
    });
    assert.ok(compared > 100_000, `${compared} phi values compared`);
  });
}

Deno.test("compact backend: bit for bit the reference until a window first fills (window 1000)", () => {
  // Twenty nodes, 14 000 reports: no window reaches 1000 intervals.
  let compared = 0;
  randomHistory(1000, 20_000, (compact, ts, keys, step) => {
    assert.deepEqual(compact.liveNodes().sort(), ts.liveNodes().sort());
    for (const k of keys) {
      const a = compact.phi(k);
      assert.ok(Object.is(a, ts.phi(k)), `${k} at step ${step}`);
      if (a !== undefined) compared++;
    }
  });
  assert.ok(compared > 100_000, `${compared} phi values compared`);
});

Deno.test("compact backend: a full window holds W-B+1..W intervals and keeps their exact mean", () => {
  const window = 100;
  const b = blockSize(window);
  assert.equal(b, 13);
  const t = new CompactTable();
  t.grow(1, 0);
  t.init(0);
  const random = createRandom(5);
  const intervals: number[] = [];
  let now = 0;
  t.report(0, now, 10_000, window);
  for (let i = 0; i < 2_000; i++) {
    const ms = 500 + random.int(1000);
    now += ms;
    t.report(0, now, 10_000, window);
    intervals.push(ms / 1000);
    const stored = t.storedIntervals(0);
    if (i + 1 >= window) {
      assert.ok(stored > window - b && stored <= window, `${stored} intervals after ${i + 1}`);
    } else {
      assert.equal(stored, i + 1);
    }
    // phi is the reference's over exactly the last `stored` intervals (up to float rounding).
    const last = intervals.slice(-stored);
    const sum = last.reduce((x, y) => x + y, 0);
    const expected = phiReference(sum, stored, now, now + 3_000, 5)!;
    const got = t.phiAt(0, now + 3_000, 5);
    assert.ok(Math.abs(got - expected) < 1e-9 * expected, `${got} vs ${expected}`);
  }
});

Deno.test("compact backend: 100 bytes per node whatever the window", () => {
  assert.equal(COMPACT_SLOT_BYTES, 100);
  const t = new CompactTable();
  t.grow(4, 0);
  for (let s = 0; s < 4; s++) t.init(s);
  for (let k = 0; k <= 5_000; k++) t.report(1, k * 100, 10_000, 1_000_000);
  assert.equal(t.storedIntervals(1), 5_000);
  t.computeAll(4, 5_000 * 100, 5, 8);
  assert.deepEqual([0, 1, 2, 3].map((s) => t.isAlive(s)), [false, true, false, false]);
  t.clear(1);
  assert.equal(t.storedIntervals(1), 0);
  assert.ok(Number.isNaN(t.phiAt(1, 0, 5)));
});
