import assert from "node:assert/strict";
import { MemoryNetwork, type NetworkEvent } from "./memory.ts";
import { VirtualClock } from "../common/virtual_clock.ts";
import { AddressInUseError, ConfigError, TimerCallbackError } from "../common/errors.ts";
import type { SocketAddr } from "../common/types.ts";
import type { Transport } from "./transport.ts";

const A: SocketAddr = { ip: "10.0.0.1", port: 7946 };
const B: SocketAddr = { ip: "10.0.0.2", port: 7946 };
const C: SocketAddr = { ip: "10.0.0.3", port: 7946 };

function collect(t: Transport): { data: number[]; from: string }[] {
  const got: { data: number[]; from: string }[] = [];
  t.onReceive((data, from) => got.push({ data: [...data], from: `${from.ip}:${from.port}` }));
  return got;
}

Deno.test("MemoryNetwork delivers from a clock timer, never inside send, with the source address", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1, delayMs: 5 });
  const a = net.bind(A);
  const b = net.bind(B);
  const gotB = collect(b);
  const gotA = collect(a);
  b.onReceive((data, from) => {
    gotB.push({ data: [...data], from: `${from.ip}:${from.port}` });
    b.send(from, new Uint8Array([data[0]! + 1]));
  });
  a.send(B, new Uint8Array([7]));
  assert.equal(gotB.length, 0);
  clock.advance(0);
  assert.equal(gotB.length, 0);
  clock.advance(5);
  assert.deepEqual(gotB, [{ data: [7], from: "10.0.0.1:7946" }]);
  assert.equal(gotA.length, 0);
  clock.advance(5);
  assert.deepEqual(gotA, [{ data: [8], from: "10.0.0.2:7946" }]);
  assert.deepEqual(a.stats, {
    datagramsIn: 1,
    bytesIn: 1,
    datagramsOut: 1,
    bytesOut: 1,
    sendErrors: 0,
  });
  assert.deepEqual(b.stats, {
    datagramsIn: 1,
    bytesIn: 1,
    datagramsOut: 1,
    bytesOut: 1,
    sendErrors: 0,
  });
  assert.equal(net.stats.delivered, 2);
  assert.equal(net.stats.inFlight, 0);
});

Deno.test("MemoryNetwork copies the bytes at send time, and gives each copy its own buffer", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1, delayMs: 1, duplicate: 1 });
  const a = net.bind(A);
  const b = net.bind(B);
  const seen: number[][] = [];
  b.onReceive((data) => {
    seen.push([...data]);
    data.fill(0xee); // a receiver scribbling on its buffer must not affect the duplicate
  });
  const buf = new Uint8Array([1, 2, 3, 4]);
  a.send(B, buf.subarray(1, 3));
  buf.fill(9); // the sender reuses its buffer while the datagram is in flight
  a.send(B, buf.subarray(0, 1));
  buf.fill(0);
  clock.advance(1);
  assert.deepEqual(seen, [[2, 3], [2, 3], [9], [9]]);
  assert.equal(net.stats.duplicated, 2);
});

Deno.test("MemoryNetwork loses about the configured share of 10 000 datagrams", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 42, loss: 0.3 });
  const a = net.bind(A);
  const b = net.bind(B);
  let received = 0;
  b.onReceive(() => received++);
  const n = 10_000;
  for (let i = 0; i < n; i++) a.send(B, new Uint8Array([i & 0xff]));
  clock.advance(1);
  const rate = 1 - received / n;
  // Binomial sd is sqrt(0.3 * 0.7 / 10 000) ~ 0.0046; allow 4 sd.
  assert.ok(Math.abs(rate - 0.3) < 0.0184, `loss rate ${rate}`);
  assert.equal(net.stats.dropped.loss + received, n);
  assert.equal(net.stats.sent, n);
  assert.equal(a.stats.datagramsOut, n); // lost datagrams were still handed to the network
});

Deno.test("MemoryNetwork duplicates at the configured rate", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 5, duplicate: 0.1, delayMs: { min: 0, max: 3 } });
  const a = net.bind(A);
  const b = net.bind(B);
  let received = 0;
  b.onReceive(() => received++);
  for (let i = 0; i < 10_000; i++) a.send(B, new Uint8Array(1));
  clock.advance(10);
  const extra = received - 10_000;
  assert.equal(extra, net.stats.duplicated);
  assert.ok(extra > 880 && extra < 1120, `duplicates ${extra}`);
});

Deno.test("MemoryNetwork reorders with a delay range and with the reorder knob", () => {
  for (const opts of [{ delayMs: { min: 1, max: 50 } }, { delayMs: 1, reorder: 0.2 }]) {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, seed: 3, ...opts });
    const a = net.bind(A);
    const b = net.bind(B);
    const order: number[] = [];
    b.onReceive((d) => order.push(d[0]!));
    for (let i = 0; i < 100; i++) {
      a.send(B, new Uint8Array([i]));
      clock.advance(0.25);
    }
    clock.advance(100);
    assert.equal(order.length, 100);
    const inversions = order.filter((x, i) => i > 0 && x < order[i - 1]!).length;
    assert.ok(inversions > 5, `expected reordering, got ${inversions} inversions`);
    assert.deepEqual([...order].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  }
  // No delay range and no reorder: FIFO.
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 3, delayMs: 2 });
  const a = net.bind(A);
  const b = net.bind(B);
  const order: number[] = [];
  b.onReceive((d) => order.push(d[0]!));
  for (let i = 0; i < 50; i++) a.send(B, new Uint8Array([i]));
  clock.advance(2);
  assert.deepEqual(order, Array.from({ length: 50 }, (_, i) => i));
});

Deno.test("MemoryNetwork.partition() cuts both ways, also in flight, and heal() restores", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1, delayMs: 10 });
  const [a, b, c] = [net.bind(A), net.bind(B), net.bind(C)];
  const [ga, gb, gc] = [collect(a), collect(b), collect(c)];
  a.send(B, new Uint8Array([1])); // in flight when the partition starts
  const cut = net.partition([A], ["10.0.0.2:7946", C]);
  a.send(B, new Uint8Array([2]));
  b.send(A, new Uint8Array([3]));
  c.send(A, new Uint8Array([4]));
  b.send(C, new Uint8Array([5])); // same side: passes
  clock.advance(10);
  assert.equal(ga.length + gb.length, 0);
  assert.deepEqual(gc.map((g) => g.data), [[5]]);
  assert.equal(net.stats.dropped.partition, 4);
  cut.heal();
  a.send(B, new Uint8Array([6]));
  clock.advance(10);
  assert.deepEqual(gb.map((g) => g.data), [[6]]);

  const iso = net.isolate(B);
  a.send(B, new Uint8Array([7]));
  b.send(C, new Uint8Array([8]));
  b.send(B, new Uint8Array([9])); // to itself: passes
  clock.advance(10);
  assert.deepEqual(gb.map((g) => g.data), [[6], [9]]);
  assert.equal(gc.length, 1);
  iso.heal();
  net.partition([A], [B]);
  net.isolate(C);
  net.heal();
  a.send(B, new Uint8Array([10]));
  c.send(B, new Uint8Array([11]));
  clock.advance(10);
  assert.deepEqual(gb.map((g) => g.data), [[6], [9], [10], [11]]);
});

Deno.test("MemoryNetwork drops datagrams over the MTU and counts a send error", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1 });
  const a = net.bind(A);
  const b = net.bind(B);
  const got = collect(b);
  a.send(B, new Uint8Array(65_507));
  a.send(B, new Uint8Array(65_508));
  clock.advance(0);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.data.length, 65_507);
  assert.equal(net.stats.dropped.mtu, 1);
  assert.equal(a.stats.sendErrors, 1);
  assert.equal(a.stats.datagramsOut, 1);
  net.configure({ mtu: 1400 });
  a.send(B, new Uint8Array(1401));
  a.send(B, new Uint8Array(1400));
  clock.advance(0);
  assert.equal(got.length, 2);
  assert.equal(net.stats.dropped.mtu, 2);
});

Deno.test("MemoryNetwork replays the same trace for the same seed", () => {
  function run(seed: number): string[] {
    const clock = new VirtualClock();
    const trace: string[] = [];
    const net = new MemoryNetwork({
      clock,
      seed,
      loss: 0.2,
      duplicate: 0.1,
      reorder: 0.1,
      delayMs: { min: 1, max: 20 },
      onEvent: (e: NetworkEvent) =>
        trace.push(
          `${e.at.toFixed(6)} ${e.kind}${e.kind === "drop" ? `:${e.reason}` : ""} ` +
            `${e.from.ip}->${e.to.ip} ${e.size}`,
        ),
    });
    const ts = [net.bind(A), net.bind(B), net.bind(C)];
    for (const t of ts) {
      t.onReceive((data, from) => {
        if (data.length < 40) t.send(from, new Uint8Array(data.length + 1));
      });
    }
    for (let i = 0; i < 30; i++) ts[i % 3]!.send(ts[(i + 1) % 3]!.localAddr, new Uint8Array(1));
    clock.advance(2000);
    return trace;
  }
  const first = run(9);
  assert.ok(first.length > 100);
  assert.deepEqual(run(9), first);
  assert.notDeepEqual(run(10), first);
});

Deno.test("MemoryNetwork.bind() refuses a taken address and assigns free ports for port 0", async () => {
  const net = new MemoryNetwork({ clock: new VirtualClock(), seed: 1 });
  const a = net.bind(A);
  assert.throws(() => net.bind({ ...A }), AddressInUseError);
  const p1 = net.bind({ ip: "10.0.0.1", port: 0 });
  const p2 = net.bind({ ip: "10.0.0.1", port: 0 });
  assert.notEqual(p1.localAddr.port, 0);
  assert.notEqual(p1.localAddr.port, p2.localAddr.port);
  assert.throws(() => net.bind({ ip: "0.0.0.0", port: 1 }), ConfigError);
  assert.throws(() => net.bind({ ip: "::", port: 1 }), ConfigError);
  assert.throws(() => net.bind({ ip: "10.0.0.9", port: 70000 }), ConfigError);
  await a.close();
  await a.close();
  const again = net.bind(A); // the address is free after close
  assert.equal(again.localAddr.port, 7946);
  assert.throws(
    () => new MemoryNetwork({ clock: new VirtualClock(), seed: 1, loss: 2 }),
    ConfigError,
  );
  assert.throws(
    () => new MemoryNetwork({ clock: new VirtualClock(), seed: 1, delayMs: { min: 5, max: 1 } }),
    ConfigError,
  );
});

Deno.test("MemoryNetwork counts drops for closed senders, missing listeners and bad addresses", async () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1, delayMs: 1 });
  const a = net.bind(A);
  const b = net.bind(B);
  const c = net.bind(C); // bound, no handler
  a.send(B, new Uint8Array(1)); // b closes before it arrives
  await b.close();
  a.send(C, new Uint8Array(1));
  a.send({ ip: "10.9.9.9", port: 1 }, new Uint8Array(1));
  a.send({ ip: "0.0.0.0", port: 1 }, new Uint8Array(1));
  a.send({ ip: "::", port: 1 }, new Uint8Array(1));
  a.send({ ip: "10.0.0.2", port: 0 }, new Uint8Array(1));
  await b.close();
  b.send(A, new Uint8Array(1));
  clock.advance(1);
  const s = net.stats;
  assert.equal(s.dropped.noListener, 2);
  assert.equal(s.dropped.noHandler, 1);
  assert.equal(s.dropped.badAddress, 3);
  assert.equal(s.dropped.closed, 1);
  assert.equal(a.stats.sendErrors, 3);
  assert.equal(b.stats.sendErrors, 1);
  assert.equal(s.delivered, 0);
  void c;
});

Deno.test("MemoryNetwork.setLinkFault() affects one direction only and can be removed", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1 });
  const a = net.bind(A);
  const b = net.bind(B);
  const [ga, gb] = [collect(a), collect(b)];
  net.setLinkFault(A, "10.0.0.2:7946", { loss: 1 });
  net.setLinkFault(B, A, { delayMs: 100 });
  a.send(B, new Uint8Array(1));
  b.send(A, new Uint8Array(1));
  clock.advance(99);
  assert.equal(ga.length + gb.length, 0);
  clock.advance(1);
  assert.equal(ga.length, 1);
  net.setLinkFault(A, B);
  a.send(B, new Uint8Array(1));
  clock.advance(0);
  assert.equal(gb.length, 1);
  assert.throws(() => net.setLinkFault("nonsense", B, {}), ConfigError);
});

Deno.test("MemoryNetwork.configure() changes loss at run time", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1 });
  const a = net.bind(A);
  const b = net.bind(B);
  let n = 0;
  b.onReceive(() => n++);
  a.send(B, new Uint8Array(1));
  net.configure({ loss: 1 });
  a.send(B, new Uint8Array(1));
  net.configure({ loss: 0 });
  a.send(B, new Uint8Array(1));
  clock.advance(0);
  assert.equal(n, 2);
  assert.throws(() => net.configure({ duplicate: -0.1 }), ConfigError);
});

Deno.test("MemoryNetwork surfaces handler exceptions unless onHandlerError is set", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1 });
  const a = net.bind(A);
  const b = net.bind(B);
  b.onReceive(() => {
    throw new Error("handler bug");
  });
  a.send(B, new Uint8Array(1));
  assert.throws(() => clock.advance(0), TimerCallbackError);
  assert.equal(net.stats.handlerErrors, 1);
  const errors: unknown[] = [];
  const net2 = new MemoryNetwork({ clock, seed: 1, onHandlerError: (e) => errors.push(e) });
  const a2 = net2.bind(A);
  const b2 = net2.bind(B);
  b2.onReceive(() => {
    throw new Error("handler bug");
  });
  a2.send(B, new Uint8Array(1));
  clock.advance(0);
  assert.equal(errors.length, 1);
});

Deno.test("MemoryNetwork.close() cancels in-flight datagrams on a real clock", async () => {
  const { systemClock } = await import("../common/clock.ts");
  const net = new MemoryNetwork({ clock: systemClock, seed: 1, delayMs: 60_000 });
  const a = net.bind(A);
  net.bind(B);
  a.send(B, new Uint8Array(1));
  assert.equal(net.stats.inFlight, 1);
  net.close();
  assert.equal(net.stats.inFlight, 0);
  // The sanitizer fails this test if the 60 s timer were still pending.
});

Deno.test("MemoryNetwork with copy: false hands the sender's buffer to the receiver", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1, copy: false });
  const a = net.bind(A);
  const b = net.bind(B);
  const seen: Uint8Array[] = [];
  b.onReceive((data) => seen.push(data));
  const sent = new Uint8Array([1, 2, 3]).subarray(1);
  a.send(B, sent);
  clock.advance(0);
  assert.equal(seen.length, 1);
  assert.strictEqual(seen[0], sent);
  assert.throws(
    () => new MemoryNetwork({ clock, seed: 1, copy: "no" as unknown as boolean }),
    (e) => e instanceof ConfigError && /copy must be a boolean, got string/.test(e.message),
  );
});

Deno.test("MemoryNetwork.bind(): maxDatagramSize is reported, checked, and does not change the MTU", () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1 });
  const a = net.bind({ ip: "10.0.0.1", port: 1 }, { maxDatagramSize: 1_000 });
  const b = net.bind({ ip: "10.0.0.2", port: 1 });
  assert.equal(a.maxDatagramSize, 1_000);
  assert.equal(b.maxDatagramSize, undefined);
  assert.ok(!("maxDatagramSize" in b), "absent, not undefined, when not given");
  // What the endpoint reports is advice to the engine; the network still carries up to its MTU.
  const got: number[] = [];
  b.onReceive((d) => got.push(d.length));
  a.send(b.localAddr, new Uint8Array(5_000));
  clock.advance(0);
  assert.deepEqual(got, [5_000]);
  for (const bad of [-1, 1.5, 65_508, Number.NaN]) {
    assert.throws(
      () => net.bind({ ip: "10.0.0.3", port: 1 }, { maxDatagramSize: bad }),
      /maxDatagramSize must be an integer in 0\.\.65507/,
    );
  }
});
