import assert from "node:assert/strict";
import {
  DEFAULT_FAILURE_DETECTOR_CONFIG,
  FailureDetector,
  type FailureDetectorConfig,
  type PhiBackend,
  phiReference,
  validateFailureDetectorConfig,
} from "./failure_detector.ts";
import { phiChunksInUse } from "../codec/_phi_table.ts";
import { ConfigError } from "../common/errors.ts";
import { VirtualClock } from "../common/virtual_clock.ts";
import { keySerial, keySerialGeneration, MAX_KEY_SERIALS } from "../common/_key_serial.ts";
import { createRandom } from "../common/random.ts";

const BACKENDS: readonly PhiBackend[] = ["compact", "wasm", "typescript"];

function setup(
  config: Partial<FailureDetectorConfig> = {},
  backend: PhiBackend = "wasm",
): { clock: VirtualClock; fd: FailureDetector } {
  const clock = new VirtualClock();
  const fd = new FailureDetector({ ...DEFAULT_FAILURE_DETECTOR_CONFIG, ...config }, clock, {
    backend,
  });
  return { clock, fd };
}

/** Heartbeats every `everyMs` giving `intervals` intervals, with a round after each; then
 * rounds every `roundMs` until the node is dead. Returns the silence (ms) at detection. */
function silenceUntilDead(
  fd: FailureDetector,
  clock: VirtualClock,
  intervals: number,
  everyMs = 1_000,
  roundMs = 1_000,
): number {
  fd.reportHeartbeat("n");
  for (let i = 0; i < intervals; i++) {
    clock.advance(everyMs);
    fd.reportHeartbeat("n");
    fd.updateLiveness(["n"]);
    assert.ok(fd.isLive("n"), `live after interval ${i + 1}`);
  }
  const last = clock.now();
  for (let round = 0; round < 1_000; round++) {
    clock.advance(roundMs);
    fd.updateLiveness(["n"]);
    if (!fd.isLive("n")) return clock.now() - last;
  }
  throw new Error("never found dead");
}

for (const backend of BACKENDS) {
  Deno.test(`FailureDetector (${backend}) needs a first heartbeat to start, then an interval`, () => {
    const { clock, fd } = setup({}, backend);
    fd.updateLiveness(["n"]);
    assert.deepEqual(fd.deadNodes(), ["n"], "an unknown node is dead when evaluated");
    fd.reportHeartbeat("n");
    assert.equal(fd.phi("n"), undefined, "one heartbeat gives no interval");
    fd.updateLiveness(["n"]);
    assert.ok(!fd.isLive("n"));
    clock.advance(1_000);
    fd.reportHeartbeat("n");
    // one interval of 1 s, no time elapsed since
    assert.equal(fd.phi("n"), 0);
    fd.updateLiveness(["n"]);
    assert.deepEqual(fd.liveNodes(), ["n"]);
    assert.deepEqual(fd.deadNodes(), []);
    assert.equal(fd.timeOfDeath("n"), undefined);
  });

  Deno.test(`FailureDetector (${backend}) detects silence after the §8 timings`, () => {
    // mean = (n + 25) / (n + 5); dead once silence / mean > 8, checked at 1 s rounds
    const cases: [number, number][] = [[1, 34_667], [50, 10_909], [1_000, 8_159]];
    for (const [intervals, expectedMs] of cases) {
      const { clock, fd } = setup({}, backend);
      const silence = silenceUntilDead(fd, clock, intervals);
      assert.ok(
        silence >= expectedMs && silence < expectedMs + 1_000,
        `${intervals} intervals: dead after ${silence} ms, expected within one round after ` +
          `${expectedMs} ms`,
      );
    }
  });

  Deno.test(`FailureDetector (${backend}) discards intervals longer than maxInterval`, () => {
    const { clock, fd } = setup({}, backend);
    fd.reportHeartbeat("n");
    clock.advance(10_001);
    fd.reportHeartbeat("n");
    assert.equal(fd.phi("n"), undefined, "a 10.001 s gap is not a sample");
    clock.advance(10_000);
    fd.reportHeartbeat("n");
    assert.equal(fd.phi("n"), 0, "a 10 s gap is a sample (from the updated last heartbeat)");
    clock.advance(2_000);
    // one interval of 10 s: mean = (10 + 25) / 6
    assert.equal(fd.phi("n"), 2 / (35 / 6));
    assert.equal(fd.phi("n"), phiReference(10, 1, 20_001, 22_001, 5));
  });

  Deno.test(`FailureDetector (${backend}) brings a dead node back on one increase`, () => {
    const { clock, fd } = setup({ phiThreshold: 2, initialIntervalMs: 1_000 }, backend);
    fd.reportHeartbeat("n");
    clock.advance(1_000);
    fd.reportHeartbeat("n");
    fd.updateLiveness(["n"]);
    assert.ok(fd.isLive("n"));
    clock.advance(3_000); // phi = 3 / 1 > 2
    fd.updateLiveness(["n"]);
    assert.deepEqual(fd.deadNodes(), ["n"]);
    assert.equal(fd.timeOfDeath("n"), 4_000);
    assert.equal(fd.phi("n"), undefined, "intervals are cleared when found dead");
    clock.advance(500);
    fd.reportHeartbeat("n"); // 3.5 s after the kept last heartbeat: one interval
    clock.advance(1_000);
    assert.equal(fd.phi("n"), 1 / ((3.5 + 5) / 6), "the interval counts from the kept heartbeat");
    fd.updateLiveness(["n"]);
    assert.deepEqual(fd.liveNodes(), ["n"]);
    assert.equal(fd.timeOfDeath("n"), undefined);
  });

  Deno.test(`FailureDetector (${backend}) keeps the first time of death and clears each round`, () => {
    const { clock, fd } = setup({}, backend);
    fd.reportHeartbeat("n");
    clock.advance(1_000);
    fd.reportHeartbeat("n");
    clock.advance(40_000);
    fd.updateLiveness(["n"]);
    assert.equal(fd.timeOfDeath("n"), 41_000);
    // A gap over maxInterval gives no interval; the next within it gives one, but the round
    // in between clears it again.
    fd.reportHeartbeat("n");
    clock.advance(1_000);
    fd.reportHeartbeat("n");
    assert.notEqual(fd.phi("n"), undefined);
    clock.advance(40_000); // phi = 40 / (26 / 6) > 8
    fd.updateLiveness(["n"]);
    assert.equal(fd.timeOfDeath("n"), 41_000, "time of death is recorded once");
    assert.equal(fd.phi("n"), undefined, "cleared again while dead");
  });

  Deno.test(`FailureDetector (${backend}) schedules for deletion at half the grace period and collects at the full one`, () => {
    const { clock, fd } = setup({ deadNodeGracePeriodMs: 10_000 }, backend);
    fd.reportHeartbeat("a");
    fd.updateLiveness(["a", "b"]);
    assert.deepEqual(fd.deadNodes().sort(), ["a", "b"]);
    clock.advance(5_000);
    assert.deepEqual(fd.scheduledForDeletion(), [], "strictly after half the grace period");
    clock.advance(1);
    assert.deepEqual(fd.scheduledForDeletion().sort(), ["a", "b"]);
    clock.advance(4_998);
    assert.deepEqual(fd.garbageCollect(), []);
    clock.advance(1);
    assert.deepEqual(fd.garbageCollect().sort(), ["a", "b"]);
    assert.deepEqual(fd.deadNodes(), []);
    assert.equal(fd.timeOfDeath("a"), undefined);
    assert.deepEqual(fd.scheduledForDeletion(), []);
    fd.reportHeartbeat("a");
    assert.equal(fd.phi("a"), undefined, "a collected node starts afresh");
  });

  Deno.test(`FailureDetector (${backend}) remove() forgets a node and reuses its slot`, () => {
    const { clock, fd } = setup({}, backend);
    fd.reportHeartbeat("a");
    clock.advance(1_000);
    fd.reportHeartbeat("a");
    fd.updateLiveness(["a", "z"]);
    assert.ok(fd.isLive("a"));
    assert.equal(fd.remove("a"), true);
    assert.equal(fd.remove("a"), false);
    assert.equal(fd.isLive("a"), false);
    assert.equal(fd.phi("a"), undefined);
    assert.equal(fd.remove("z"), true, "a dead node without heartbeats is known");
    assert.deepEqual(fd.deadNodes(), []);
    fd.reportHeartbeat("b"); // takes a's slot
    assert.equal(fd.phi("b"), undefined, "the reused slot starts empty");
    fd.updateLiveness(["b"]);
    assert.deepEqual(fd.liveNodes(), []);
  });
}

Deno.test("validateFailureDetectorConfig() names the field and what was expected", () => {
  validateFailureDetectorConfig(DEFAULT_FAILURE_DETECTOR_CONFIG);
  const bad: [keyof FailureDetectorConfig, unknown, RegExp][] = [
    ["phiThreshold", 0, /phiThreshold must be a finite positive number, got 0/],
    ["phiThreshold", NaN, /finite positive number, got NaN/],
    ["samplingWindowSize", 0, /samplingWindowSize must be an integer in 1\.\.16777216, got 0/],
    ["samplingWindowSize", 1.5, /integer/],
    ["samplingWindowSize", 2 ** 30, /integer in 1\.\.16777216/],
    ["maxIntervalMs", -1, /maxIntervalMs must be a finite positive number, got -1/],
    ["initialIntervalMs", Infinity, /initialIntervalMs .*got Infinity/],
    ["deadNodeGracePeriodMs", "1", /deadNodeGracePeriodMs .*got "1"/],
  ];
  for (const [field, value, message] of bad) {
    const cfg = { ...DEFAULT_FAILURE_DETECTOR_CONFIG, [field]: value } as FailureDetectorConfig;
    assert.throws(
      () => validateFailureDetectorConfig(cfg),
      (e: unknown) => e instanceof ConfigError && e.field === field && message.test(e.message),
      `${field} = ${String(value)}`,
    );
    assert.throws(() => new FailureDetector(cfg, new VirtualClock()), ConfigError);
  }
  assert.throws(
    () =>
      new FailureDetector(DEFAULT_FAILURE_DETECTOR_CONFIG, new VirtualClock(), {
        backend: "gpu" as PhiBackend,
      }),
    (e: unknown) => e instanceof ConfigError && e.field === "backend",
  );
});

/** Straightforward model of one node: intervals in a plain array, sum kept as chitchat does. */
interface ModelNode {
  intervals: number[];
  sum: number;
  last: number | undefined;
}

for (const window of [1, 7, 15, 37]) {
  Deno.test(`FailureDetector WASM phi equals the TypeScript reference bit for bit on random histories (window ${window})`, () => {
    const random = createRandom(20261127 + window);
    const config: FailureDetectorConfig = {
      ...DEFAULT_FAILURE_DETECTOR_CONFIG,
      samplingWindowSize: window,
      phiThreshold: 3,
      maxIntervalMs: 8_000,
      initialIntervalMs: 1_700,
      deadNodeGracePeriodMs: 200_000,
    };
    const clock = new VirtualClock(123.456);
    const wasm = new FailureDetector(config, clock, { backend: "wasm" });
    const ts = new FailureDetector(config, clock, { backend: "typescript" });
    const model = new Map<string, ModelNode>();
    const keys = Array.from({ length: 20 }, (_, i) => `node-${i}`);
    let compared = 0;
    let wasmWasLive = false;
    for (let step = 0; step < 20_000; step++) {
      clock.advance(random.next() * (random.next() < 0.02 ? 12_000 : 200));
      const op = random.next();
      const key = keys[random.int(keys.length)]!;
      if (op < 0.7) {
        wasm.reportHeartbeat(key);
        ts.reportHeartbeat(key);
        let m = model.get(key);
        if (m === undefined) model.set(key, m = { intervals: [], sum: 0, last: undefined });
        const now = clock.now();
        if (m.last !== undefined && now - m.last <= config.maxIntervalMs) {
          const secs = (now - m.last) / 1000;
          if (m.intervals.length === window) m.sum -= m.intervals.shift()!;
          m.intervals.push(secs);
          m.sum += secs;
        }
        m.last = now;
      } else if (op < 0.85) {
        const subset = keys.filter(() => random.next() < 0.8);
        wasm.updateLiveness(subset);
        ts.updateLiveness(subset);
        assert.deepEqual(wasm.liveNodes().sort(), ts.liveNodes().sort());
        assert.deepEqual(wasm.deadNodes().sort(), ts.deadNodes().sort());
        if (wasm.liveNodes().length > 0) wasmWasLive = true;
        for (const k of subset) {
          const m = model.get(k);
          if (m !== undefined && !wasm.isLive(k)) {
            m.intervals = [];
            m.sum = 0;
          }
        }
      } else if (op < 0.86) {
        assert.equal(wasm.remove(key), ts.remove(key));
        model.delete(key);
      } else {
        const gone = wasm.garbageCollect().sort();
        assert.deepEqual(gone, ts.garbageCollect().sort());
        for (const k of gone) model.delete(k);
      }
      for (const k of keys) {
        const a = wasm.phi(k);
        const b = ts.phi(k);
        const m = model.get(k);
        const c = m === undefined
          ? undefined
          : phiReference(m.sum, m.intervals.length, m.last ?? NaN, clock.now(), 1.7);
        assert.ok(Object.is(a, b) && Object.is(a, c), `${k} at step ${step}: ${a} ${b} ${c}`);
        if (a !== undefined) compared++;
      }
    }
    assert.ok(
      compared > 100_000 && wasmWasLive,
      `${compared} defined phi values compared, some live: ${wasmWasLive}`,
    );
  });
}

Deno.test("FailureDetector returns ring memory when nodes are cleared or removed", () => {
  const kernel = { chunksInUse: phiChunksInUse };
  const before = kernel.chunksInUse();
  const { clock, fd } = setup({ samplingWindowSize: 40 });
  const keys = Array.from({ length: 30 }, (_, i) => `ring-${i}`);
  for (let round = 0; round < 100; round++) {
    for (const k of keys) fd.reportHeartbeat(k);
    clock.advance(1_000);
  }
  // Reports are queued until the next read; then 40 intervals in chunks of 15: 3 per node.
  assert.notEqual(fd.phi(keys[0]!), undefined);
  assert.equal(kernel.chunksInUse() - before, 30 * 3);
  fd.updateLiveness(keys);
  assert.equal(fd.liveNodes().length, 30);
  // Silence: every node is found dead, and its intervals are dropped.
  clock.advance(600_000);
  fd.updateLiveness(keys);
  assert.equal(fd.deadNodes().length, 30);
  assert.equal(kernel.chunksInUse(), before);
  for (const k of keys.slice(0, 10)) fd.reportHeartbeat(k);
  clock.advance(1_000);
  for (const k of keys.slice(0, 10)) fd.reportHeartbeat(k);
  assert.notEqual(fd.phi(keys[0]!), undefined);
  assert.equal(kernel.chunksInUse() - before, 10);
  for (const k of keys) fd.remove(k);
  assert.equal(kernel.chunksInUse(), before);
});

Deno.test("FailureDetector instances share the WASM memory without interfering", () => {
  const clock = new VirtualClock();
  const a = new FailureDetector(DEFAULT_FAILURE_DETECTOR_CONFIG, clock);
  const b = new FailureDetector(DEFAULT_FAILURE_DETECTOR_CONFIG, clock);
  // Enough nodes to grow both tables (and the memory) several times, interleaved.
  const n = 3_000;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < n; i++) {
      a.reportHeartbeat(`a${i}`);
      b.reportHeartbeat(`b${i}`);
    }
    clock.advance(round === 0 ? 1_000 : 2_000);
  }
  const keysA = Array.from({ length: n }, (_, i) => `a${i}`);
  const keysB = Array.from({ length: n }, (_, i) => `b${i}`);
  a.updateLiveness(keysA);
  b.updateLiveness(keysB);
  assert.equal(a.liveNodes().length, n);
  assert.equal(b.liveNodes().length, n);
  // intervals 1 s and 2 s, 2 s elapsed: mean = (3 + 25) / 7 = 4
  assert.equal(a.phi("a2999"), 0.5);
  assert.equal(b.phi("b0"), 0.5);
  assert.equal(a.phi("b0"), undefined);
});

Deno.test("FailureDetector.reportHeartbeat() tokens give the same phi as keys, and stale ones are ignored", () => {
  const random = createRandom(77);
  const config: FailureDetectorConfig = {
    ...DEFAULT_FAILURE_DETECTOR_CONFIG,
    samplingWindowSize: 5,
    phiThreshold: 3,
    deadNodeGracePeriodMs: 20_000,
  };
  const clock = new VirtualClock();
  const byKey = new FailureDetector(config, clock);
  const byToken = new FailureDetector(config, clock);
  const other = new FailureDetector(config, clock);
  const keys = Array.from({ length: 8 }, (_, i) => `t-${i}`);
  // Tokens as a caller keeps them: never cleared, so some go stale (removed, garbage collected)
  // and some are swapped with another key's or another detector's.
  const tokens = new Map<string, object>();
  const foreign = other.reportHeartbeat("t-0");
  let reused = 0;
  for (let step = 0; step < 5_000; step++) {
    clock.advance(random.next() * (random.next() < 0.03 ? 30_000 : 400));
    const key = keys[random.int(keys.length)]!;
    const op = random.next();
    if (op < 0.75) {
      byKey.reportHeartbeat(key);
      const pick = random.next();
      const given = pick < 0.05 ? foreign : pick < 0.1 ? tokens.get(keys[0]!) : tokens.get(key);
      if (given !== undefined && given === tokens.get(key)) reused++;
      tokens.set(key, byToken.reportHeartbeat(key, given));
    } else if (op < 0.9) {
      byKey.updateLiveness(keys);
      byToken.updateLiveness(keys);
    } else if (op < 0.92) {
      assert.equal(byToken.remove(key), byKey.remove(key));
    } else {
      assert.deepEqual(byToken.garbageCollect().sort(), byKey.garbageCollect().sort());
    }
    for (const k of keys) assert.ok(Object.is(byToken.phi(k), byKey.phi(k)), `${k} at ${step}`);
    assert.deepEqual(byToken.liveNodes().sort(), byKey.liveNodes().sort());
  }
  assert.ok(reused > 1000, `${reused} reports reused a token`);
  assert.ok(byKey.liveNodes().length + byKey.deadNodes().length > 0);
  // The foreign detector's state is untouched by all of that.
  assert.equal(other.phi("t-1"), undefined);
});

Deno.test("FailureDetector.livenessVersion moves exactly when the live or dead set changes", () => {
  const { clock, fd } = setup();
  const snapshot = () => JSON.stringify([fd.liveNodes().sort(), fd.deadNodes().sort()]);
  let lastVersion = fd.livenessVersion;
  let lastSets = snapshot();
  const check = (what: string) => {
    const sets = snapshot();
    assert.equal(fd.livenessVersion !== lastVersion, sets !== lastSets, what);
    lastVersion = fd.livenessVersion;
    lastSets = sets;
  };
  const random = createRandom(5);
  for (let step = 0; step < 3_000; step++) {
    clock.advance(random.next() < 0.05 ? 40_000 : 100 + random.next() * 900);
    const key = `v-${random.int(6)}`;
    const op = random.next();
    if (op < 0.6) fd.reportHeartbeat(key);
    else if (op < 0.9) fd.updateLiveness(["v-0", "v-1", "v-2", "v-3", "v-4", "v-5"]);
    else if (op < 0.95) fd.remove(key);
    else fd.garbageCollect();
    check(`step ${step}`);
  }
});

Deno.test("FailureDetector.scheduledForDeletion() and garbageCollect() match the times of death", () => {
  const grace = 20_000;
  const { clock, fd } = setup({ deadNodeGracePeriodMs: grace });
  const random = createRandom(99);
  const keys = Array.from({ length: 12 }, (_, i) => `g-${i}`);
  let scheduledSeen = 0;
  let collected = 0;
  for (let step = 0; step < 4_000; step++) {
    // Mostly forward, sometimes a step back (a wall clock may do that).
    clock.advance(random.next() < 0.1 ? 9_000 : 300 + random.next() * 700);
    if (random.next() < 0.01) clock.advanceTo(Math.max(0, clock.now() - 5_000));
    const key = keys[random.int(keys.length)]!;
    const op = random.next();
    if (op < 0.5) fd.reportHeartbeat(key);
    else if (op < 0.8) fd.updateLiveness(keys.filter(() => random.next() < 0.7));
    else if (op < 0.83) fd.remove(key);
    const now = clock.now();
    const want = fd.deadNodes().filter((k) => fd.timeOfDeath(k)! + grace / 2 < now).sort();
    assert.deepEqual(fd.scheduledForDeletion().sort(), want, `step ${step}`);
    scheduledSeen += want.length;
    if (op >= 0.83) {
      const gone = fd.deadNodes().filter((k) => now >= fd.timeOfDeath(k)! + grace).sort();
      assert.deepEqual(fd.garbageCollect().sort(), gone, `gc at step ${step}`);
      collected += gone.length;
    }
  }
  assert.ok(
    scheduledSeen > 100 && collected > 10,
    `${scheduledSeen} scheduled, ${collected} collected`,
  );
});

Deno.test("FailureDetector applies thousands of queued reports like the TypeScript backend", () => {
  const config: FailureDetectorConfig = {
    ...DEFAULT_FAILURE_DETECTOR_CONFIG,
    samplingWindowSize: 20,
  };
  const clock = new VirtualClock();
  const wasm = new FailureDetector(config, clock, { backend: "wasm" });
  const ts = new FailureDetector(config, clock, { backend: "typescript" });
  const keys = Array.from({ length: 5000 }, (_, i) => `q-${i}`);
  const random = createRandom(3);
  // No read in between: every report of every round stays queued (more than one WASM batch,
  // and more ring chunks than one block holds by the end).
  for (let round = 0; round < 40; round++) {
    for (const k of keys) {
      if (random.next() < 0.9) {
        wasm.reportHeartbeat(k);
        ts.reportHeartbeat(k);
      }
      if (random.next() < 0.01) clock.advance(1);
    }
    clock.advance(250 + random.int(100));
  }
  for (const k of keys) assert.ok(Object.is(wasm.phi(k), ts.phi(k)), k);
  wasm.updateLiveness(keys);
  ts.updateLiveness(keys);
  assert.deepEqual(wasm.liveNodes().sort(), ts.liveNodes().sort());
  assert.ok(wasm.liveNodes().length > 4000);
});

Deno.test("FailureDetector.failureDetectionTimeoutMs() is chitchat 0.12+'s failure_detection_timeout", async () => {
  for (const backend of BACKENDS) {
    // chitchat's own test: phi 2, a 1 s prior, two heartbeats 1 s apart -> 2 s.
    const { clock, fd } = setup({ phiThreshold: 2, initialIntervalMs: 1_000 }, backend);
    assert.equal(fd.failureDetectionTimeoutMs("b"), undefined, "unknown");
    fd.reportHeartbeat("b");
    assert.equal(fd.failureDetectionTimeoutMs("b"), undefined, "one heartbeat, no interval");
    await clock.advance(1_000);
    fd.reportHeartbeat("b");
    assert.equal(fd.failureDetectionTimeoutMs("b"), 2_000, backend);
  }
  for (const backend of BACKENDS) {
    // Irregular intervals: the timeout is exactly the silence at which phi reaches the threshold.
    const { clock, fd } = setup({ initialIntervalMs: 300 }, backend);
    const r = createRandom(8);
    for (let i = 0; i < 40; i++) {
      fd.reportHeartbeat("n");
      await clock.advance(50 + r.int(400));
    }
    fd.reportHeartbeat("n");
    const t = fd.failureDetectionTimeoutMs("n")!;
    assert.ok(t > 8 * 50 && t < 8 * 450, `${t}`);
    await clock.advance(Math.floor(t) - 1);
    fd.updateLiveness(["n"]);
    assert.ok(fd.isLive("n"), "alive just before the timeout");
    assert.ok(fd.phi("n")! <= 8);
    await clock.advance(2);
    fd.updateLiveness(["n"]);
    assert.ok(!fd.isLive("n"), "dead just after it");
    // Found dead: its samples are cleared, so there is no timeout any more (as in chitchat).
    assert.equal(fd.failureDetectionTimeoutMs("n"), undefined);
    // Back: the silence (within maxIntervalMs, from the kept last heartbeat) and 200 ms are the
    // new samples, as chitchat's window keeps `last_heartbeat` across the reset.
    fd.reportHeartbeat("n");
    await clock.advance(200);
    fd.reportHeartbeat("n");
    const silence = (Math.floor(t) + 1) / 1000;
    const want = ((silence + 0.2 + 5 * 0.3) / 7) * 8 * 1000;
    assert.ok(Math.abs(fd.failureDetectionTimeoutMs("n")! - want) < 1e-6, backend);
  }
});

Deno.test("FailureDetector keeps its nodes when the process-wide key serials start again", () => {
  const clock = new VirtualClock(0);
  const fd = new FailureDetector(DEFAULT_FAILURE_DETECTOR_CONFIG, clock);
  for (let i = 0; i < 4; i++) {
    fd.reportHeartbeat("serial-a");
    fd.reportHeartbeat("serial-b");
    clock.advance(1_000);
  }
  fd.updateLiveness(["serial-a", "serial-b"]);
  const before = fd.phi("serial-a");
  assert.ok(before !== undefined);
  // Another detector of the process registers enough keys to clear the table.
  const generation = keySerialGeneration();
  for (let i = 0; i <= MAX_KEY_SERIALS; i++) keySerial(`serial-filler-${i}`);
  assert.equal(keySerialGeneration(), generation + 1);
  assert.equal(fd.phi("serial-a"), before);
  assert.deepEqual(fd.liveNodes(), ["serial-a", "serial-b"]);
  assert.equal(fd.isLive("serial-b"), true);
  fd.reportHeartbeat("serial-c");
  assert.equal(fd.remove("serial-b"), true);
  assert.equal(fd.isLive("serial-b"), false);
  assert.equal(fd.remove("serial-b"), false);
  fd.reportHeartbeat("serial-a");
  clock.advance(1_000);
  fd.reportHeartbeat("serial-c");
  fd.updateLiveness(["serial-a", "serial-c"]);
  assert.deepEqual(fd.liveNodes(), ["serial-a", "serial-c"]);
  assert.equal(fd.phi("serial-c"), 0); // one interval, heard from just now
});
