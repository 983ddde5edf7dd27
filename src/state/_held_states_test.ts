import assert from "node:assert/strict";
import { HeldStates } from "./_held_states.ts";
import { keySerial, keySerialGeneration, MAX_KEY_SERIALS } from "../common/_key_serial.ts";

interface E {
  readonly key: string;
  readonly n: number;
}

Deno.test("HeldStates keeps insertion order and finds every entry after deletions", () => {
  const m = new HeldStates<E>();
  const keys = Array.from({ length: 50 }, (_, i) => `held-order-${i}`);
  keys.forEach((key, n) => m.set({ key, n }));
  // Delete every third entry, front to back: each deletion moves the later positions.
  for (let i = 0; i < keys.length; i += 3) assert.equal(m.delete(keys[i]!), true);
  assert.equal(m.delete(keys[0]!), false);
  const left = keys.filter((_, i) => i % 3 !== 0);
  assert.deepEqual([...m.keys()], left);
  assert.equal(m.size, left.length);
  for (const [i, key] of keys.entries()) {
    assert.equal(m.get(key)?.n, i % 3 === 0 ? undefined : i, key);
    assert.equal(m.has(key), i % 3 !== 0);
  }
  // Replacing keeps the place; re-adding a deleted key appends.
  m.set({ key: left[0]!, n: -1 });
  m.set({ key: keys[0]!, n: 0 });
  const values = [...m.values()];
  assert.equal(values[0]!.n, -1);
  assert.equal(values.at(-1)!.key, keys[0]);
  assert.deepEqual([...m].map(([k]) => k), [...m.keys()]);
  const seen: string[] = [];
  m.forEach((e, k, map) => {
    assert.equal(e.key, k);
    assert.equal(map, m);
    seen.push(k);
  });
  assert.deepEqual(seen, [...m.keys()]);
  assert.equal(m.get("held-order-never"), undefined);
});

Deno.test("HeldStates finds its entries after the key serials start again", () => {
  const m = new HeldStates<E>();
  m.set({ key: "held-gen-a", n: 1 });
  m.set({ key: "held-gen-b", n: 2 });
  const generation = keySerialGeneration();
  for (let i = 0; i <= MAX_KEY_SERIALS; i++) keySerial(`held-gen-filler-${i}`);
  assert.equal(keySerialGeneration(), generation + 1);
  assert.equal(m.get("held-gen-b")?.n, 2);
  assert.equal(m.delete("held-gen-a"), true);
  m.set({ key: "held-gen-c", n: 3 });
  assert.deepEqual([...m.keys()], ["held-gen-b", "held-gen-c"]);
  assert.equal(m.get("held-gen-a"), undefined);
});
