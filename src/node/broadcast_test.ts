import assert from "node:assert/strict";
import { Broadcast } from "./broadcast.ts";

Deno.test("Broadcast delivers to current subscribers only, in order", () => {
  const b = new Broadcast<number>();
  const seen: string[] = [];
  const offA = b.subscribe((n) => {
    seen.push(`a${n}`);
    // Added during a delivery: takes effect from the next value.
    if (n === 1) b.subscribe((m) => seen.push(`c${m}`));
  });
  b.subscribe((n) => seen.push(`b${n}`));
  b.publish(1);
  offA();
  b.publish(2);
  assert.deepEqual(seen, ["a1", "b1", "b2", "c2"]);
  assert.equal(b.size, 2);
  // The same function twice is one subscription.
  const f = () => {};
  b.subscribe(f);
  b.subscribe(f);
  assert.equal(b.size, 3);
});

Deno.test("Broadcast.watch yields the initial value, then only the latest", async () => {
  const b = new Broadcast<string>();
  const w = b.watch("first");
  assert.deepEqual(await w.next(), { value: "first", done: false });
  const pending = w.next();
  b.publish("x");
  b.publish("y");
  // The waiting consumer resumes after both publishes: it sees the latest.
  assert.deepEqual(await pending, { value: "y", done: false });
  b.publish("p");
  b.publish("q");
  assert.deepEqual(await w.next(), { value: "q", done: false });
  assert.equal(b.size, 1);
  assert.deepEqual(await w.return!(), { value: undefined, done: true });
  assert.equal(b.size, 0);
  assert.equal((await w.next()).done, true);
});

Deno.test("Broadcast.close ends a waiting watch and drops subscribers", async () => {
  const b = new Broadcast<number>();
  const w = b.watch(0);
  await w.next();
  const pending = w.next();
  let calls = 0;
  b.subscribe(() => calls++);
  b.close();
  assert.deepEqual(await pending, { value: undefined, done: true });
  b.publish(1);
  assert.equal(calls, 0);
  assert.equal(b.size, 0);
});
