import assert from "node:assert/strict";
import { VirtualClock } from "./virtual_clock.ts";
import { HearsayError, TimerCallbackError } from "./errors.ts";
import { createRandom } from "./random.ts";

Deno.test("VirtualClock.advance() runs timers in due order, FIFO on ties, with now() = due", () => {
  const clock = new VirtualClock(1000);
  const log: string[] = [];
  clock.setTimer(30, () => log.push(`c@${clock.now()}`));
  clock.setTimer(10, () => log.push(`a@${clock.now()}`));
  clock.setTimer(10, () => log.push(`b@${clock.now()}`));
  clock.setTimer(0, () => log.push(`z@${clock.now()}`));
  clock.setTimer(50, () => log.push(`late@${clock.now()}`));
  assert.equal(clock.pendingTimers, 5);
  clock.advance(30);
  assert.deepEqual(log, ["z@1000", "a@1010", "b@1010", "c@1030"]);
  assert.equal(clock.now(), 1030);
  assert.equal(clock.pendingTimers, 1);
  assert.equal(clock.nextDue, 1050);
  clock.advance(19.5);
  assert.equal(log.length, 4);
  assert.equal(clock.now(), 1049.5);
});

Deno.test("VirtualClock.advance() runs timers scheduled by callbacks within the span", () => {
  const clock = new VirtualClock();
  const log: number[] = [];
  const tick = () => {
    log.push(clock.now());
    clock.setTimer(10, tick);
  };
  clock.setTimer(10, tick);
  clock.setTimer(25, () => clock.setTimer(0, () => log.push(-clock.now())));
  clock.advance(45);
  assert.deepEqual(log, [10, 20, -25, 30, 40]);
  assert.equal(clock.pendingTimers, 1);
  assert.equal(clock.nextDue, 50);
});

Deno.test("Timer.cancel() stops a timer, is idempotent, and works from inside callbacks", () => {
  const clock = new VirtualClock();
  const log: string[] = [];
  const a = clock.setTimer(5, () => log.push("a"));
  const b = clock.setTimer(10, () => log.push("b"));
  clock.setTimer(7, () => b.cancel());
  a.cancel();
  a.cancel();
  assert.equal(clock.pendingTimers, 2);
  clock.advance(100);
  assert.equal(log.length, 0);
  assert.equal(clock.pendingTimers, 0);
  assert.equal(clock.nextDue, undefined);
  const fired = clock.setTimer(1, () => log.push("f"));
  clock.advance(1);
  fired.cancel(); // after firing: no-op, count unchanged
  assert.equal(clock.pendingTimers, 0);
  assert.deepEqual(log, ["f"]);
});

Deno.test("VirtualClock.advance() keeps running after a throwing callback and reports every error", () => {
  const clock = new VirtualClock();
  const log: number[] = [];
  clock.setTimer(1, () => {
    throw new Error("first");
  });
  clock.setTimer(2, () => log.push(2));
  clock.setTimer(3, () => {
    throw new Error("second");
  });
  clock.setTimer(50, () => log.push(50));
  let err: unknown;
  try {
    clock.advance(10);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof TimerCallbackError);
  const e = err;
  assert.equal(e.errors.length, 2);
  assert.equal((e.cause as Error).message, "first");
  assert.match(e.message, /2 timer callback\(s\) threw.*first/);
  assert.deepEqual(log, [2]);
  assert.equal(clock.now(), 10);
  assert.equal(clock.pendingTimers, 1);
  clock.advance(40);
  assert.deepEqual(log, [2, 50]);
});

Deno.test("VirtualClock rejects re-entrant advance and bad arguments", () => {
  const clock = new VirtualClock();
  let inner: unknown;
  clock.setTimer(1, () => {
    try {
      clock.advance(1);
    } catch (e) {
      inner = e;
    }
  });
  clock.advance(5);
  assert.ok(inner instanceof HearsayError);
  assert.throws(() => clock.advance(-1), HearsayError);
  assert.throws(() => clock.advance(NaN), HearsayError);
  assert.throws(() => clock.runUntil(() => false, { maxMs: Infinity }), HearsayError);
});

Deno.test("VirtualClock.runUntil() stops at the callback that satisfies the predicate", () => {
  const clock = new VirtualClock();
  let count = 0;
  const tick = () => {
    count++;
    clock.setTimer(100, tick);
  };
  clock.setTimer(100, tick);
  assert.equal(clock.runUntil(() => count >= 3, { maxMs: 10_000 }), true);
  assert.equal(clock.now(), 300);
  assert.equal(clock.runUntil(() => count >= 3, { maxMs: 10_000 }), true);
  assert.equal(clock.now(), 300);
  assert.equal(clock.runUntil(() => count >= 1000, { maxMs: 1050 }), false);
  assert.equal(clock.now(), 1350);
  assert.equal(count, 13);
});

Deno.test("VirtualClock.advanceTo() moves forward only", () => {
  const clock = new VirtualClock(10);
  let fired = 0;
  clock.setTimer(5, () => fired++);
  clock.advanceTo(5);
  assert.equal(clock.now(), 10);
  clock.advanceTo(15);
  assert.equal(fired, 1);
  assert.equal(clock.now(), 15);
});

Deno.test("VirtualClock handles 200 000 timers in order, with mass cancellation", () => {
  const clock = new VirtualClock();
  const r = createRandom(5);
  const n = 200_000;
  let last = -1;
  let lastSeq = -1;
  let fired = 0;
  let outOfOrder = 0;
  const timers = [];
  for (let i = 0; i < n; i++) {
    const due = r.int(10_000);
    timers.push(clock.setTimer(due, () => {
      const now = clock.now();
      if (now < last || (now === last && i < lastSeq) || now !== due) outOfOrder++;
      last = now;
      lastSeq = i;
      fired++;
    }));
  }
  for (let i = 0; i < n; i++) if (i % 4 !== 0) timers[i]!.cancel();
  assert.equal(clock.pendingTimers, n / 4);
  const t0 = performance.now();
  clock.advance(10_000);
  const elapsed = performance.now() - t0;
  assert.equal(fired, n / 4);
  assert.equal(outOfOrder, 0);
  assert.equal(clock.pendingTimers, 0);
  assert.ok(elapsed < 2000, `took ${elapsed} ms`);
});
