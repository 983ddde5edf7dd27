/**
 * EncryptedTransport at the datagram level (MemoryNetwork + VirtualClock, and loopback UDP).
 * Cluster-level tests (GossipNodes over encrypted transports) are in
 * tests/transport_encrypted_cluster_test.ts.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../src/errors.ts";
import { generateKey, Keyring } from "../src/keyring.ts";
import { EncryptedTransport, MAX_ENCRYPTED_PLAINTEXT } from "../src/transport/encrypted.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import type { Transport } from "../src/transport/transport.ts";
import { bindUdp } from "../src/transport/udp.ts";
import type { SocketAddr } from "../src/types.ts";
import { VirtualClock } from "../src/virtual_clock.ts";

const A: SocketAddr = { ip: "10.0.0.1", port: 7946 };
const B: SocketAddr = { ip: "10.0.0.2", port: 7946 };
const M: SocketAddr = { ip: "10.0.0.66", port: 7946 };

interface Got {
  data: Uint8Array;
  from: string;
}

function collect(t: Transport): Got[] {
  const got: Got[] = [];
  t.onReceive((data, from) => got.push({ data, from: `${from.ip}:${from.port}` }));
  return got;
}

function bytes(n: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
}

/** Byte-wise equality of two lists (node:assert's diff of large typed arrays is very slow). */
function sameAll(a: Uint8Array[], b: Uint8Array[]): boolean {
  return a.length === b.length &&
    a.every((x, i) => x.length === b[i]!.length && x.every((v, j) => v === b[i]![j]));
}

/** A network of encrypted endpoints driven by a virtual clock. */
class Rig {
  readonly clock = new VirtualClock();
  readonly net = new MemoryNetwork({ clock: this.clock, seed: 1, delayMs: 1 });
  readonly transports: EncryptedTransport[] = [];

  wrap(addr: SocketAddr, keyring: Keyring, replayWindow?: number): EncryptedTransport {
    const t = new EncryptedTransport(
      this.net.bind(addr),
      keyring,
      replayWindow === undefined ? {} : { replayWindow },
    );
    this.transports.push(t);
    return t;
  }

  /** Lets every seal/open finish, delivers what the network holds, repeats until quiet. */
  async settle(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      await Promise.all(this.transports.map((t) => t.idle()));
      if (this.net.stats.inFlight === 0) return;
      this.clock.advance(5);
    }
    throw new Error("network did not settle");
  }

  async close(): Promise<void> {
    await Promise.all(this.transports.map((t) => t.close()));
    this.net.close();
  }
}

Deno.test("EncryptedTransport round-trips datagrams with 128, 192 and 256-bit keys", async () => {
  for (const size of [16, 24, 32] as const) {
    const rig = new Rig();
    const ring = await Keyring.create([generateKey(size)]);
    const a = rig.wrap(A, ring);
    const b = rig.wrap(B, ring);
    const got = collect(b);
    b.onReceive((data, from) => {
      got.push({ data, from: `${from.ip}:${from.port}` });
      b.send(from, data.slice().reverse());
    });
    const back = collect(a);
    const messages = [bytes(0), bytes(1), bytes(1400, 1), bytes(MAX_ENCRYPTED_PLAINTEXT, 2)];
    for (const m of messages) a.send(B, m);
    await rig.settle();
    assert.ok(sameAll(got.map((g) => g.data), messages));
    assert.ok(got.every((g) => g.from === "10.0.0.1:7946"));
    assert.ok(sameAll(back.map((g) => g.data), messages.map((m) => m.slice().reverse())));
    const total = messages.reduce((n, m) => n + m.length, 0);
    assert.deepEqual(a.stats, {
      datagramsIn: 4,
      bytesIn: total,
      datagramsOut: 4,
      bytesOut: total,
      sendErrors: 0,
    });
    // The wire carries 29 more bytes per datagram, and never the plaintext.
    assert.equal(a.inner.stats.bytesOut, total + 4 * 29);
    assert.deepEqual(a.dropped, {});
    await rig.close();
  }
});

Deno.test("EncryptedTransport puts no plaintext on the wire", async () => {
  const rig = new Rig();
  const ring = await Keyring.create([generateKey()]);
  const a = rig.wrap(A, ring);
  const spy = rig.net.bind(M);
  const seen = collect(spy);
  const secret = new TextEncoder().encode("cluster-secret-value:".repeat(20));
  a.send(M, secret);
  await rig.settle();
  assert.equal(seen.length, 1);
  const wire = new TextDecoder("latin1").decode(seen[0]!.data);
  assert.ok(!wire.includes("cluster-secret"), "plaintext visible on the wire");
  assert.equal(seen[0]!.data[0], 1);
  await rig.close();
});

Deno.test("EncryptedTransport drops every tampered copy of a datagram and delivers none", async () => {
  const rig = new Rig();
  const ring = await Keyring.create([generateKey()]);
  const a = rig.wrap(A, ring);
  const b = rig.wrap(B, ring, 0);
  const got = collect(b);
  // A man in the middle captures a datagram from A...
  const mitm = rig.net.bind(M);
  const captured = collect(mitm);
  a.send(M, bytes(60, 5));
  await rig.settle();
  assert.equal(captured.length, 1);
  const original = captured[0]!.data;
  assert.equal(original.length, 60 + 29);
  // ...and sends B every single-bit-flipped variant (two bit positions per byte).
  let sent = 0;
  for (let i = 0; i < original.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const copy = original.slice();
      copy[i]! ^= mask;
      mitm.send(B, copy);
      sent++;
    }
  }
  await rig.settle();
  assert.equal(got.length, 0, "a tampered datagram was delivered");
  assert.deepEqual(b.dropped, { badVersion: 2, noKey: sent - 2 });
  assert.equal(b.stats.datagramsIn, 0);
  // The untouched datagram still goes through: the drops were about tampering only.
  mitm.send(B, original);
  await rig.settle();
  assert.equal(got.length, 1);
  assert.deepEqual(got[0]!.data, bytes(60, 5));
  await rig.close();
});

Deno.test("EncryptedTransport drops datagrams sealed with another key", async () => {
  const rig = new Rig();
  const a = rig.wrap(A, await Keyring.create([generateKey()]));
  const b = rig.wrap(B, await Keyring.create([generateKey(), generateKey(16)]));
  const got = collect(b);
  for (let i = 0; i < 5; i++) a.send(B, bytes(100, i));
  await rig.settle();
  assert.equal(got.length, 0);
  assert.deepEqual(b.dropped, { noKey: 5 });
  await rig.close();
});

Deno.test("EncryptedTransport drops plain chitchat and short datagrams", async () => {
  const rig = new Rig();
  const b = rig.wrap(B, await Keyring.create([generateKey()]));
  const got = collect(b);
  const plain = rig.net.bind(A);
  // A chitchat Syn starts with the magic 53 B0, protocol version 0, type 0.
  plain.send(B, new Uint8Array([0x53, 0xb0, 0, 0, ...bytes(40)]));
  plain.send(B, new Uint8Array(0));
  plain.send(B, new Uint8Array(28).fill(1));
  await rig.settle();
  assert.equal(got.length, 0);
  assert.deepEqual(b.dropped, { badVersion: 1, tooShort: 2 });
  await rig.close();
});

Deno.test("EncryptedTransport drops plaintexts over the limit and counts them as send errors", async () => {
  const rig = new Rig();
  const ring = await Keyring.create([generateKey()]);
  const a = rig.wrap(A, ring);
  const b = rig.wrap(B, ring);
  const got = collect(b);
  assert.equal(MAX_ENCRYPTED_PLAINTEXT, 65_507 - 29);
  assert.equal(a.overhead, 29);
  a.send(B, bytes(MAX_ENCRYPTED_PLAINTEXT + 1));
  a.send(B, bytes(MAX_ENCRYPTED_PLAINTEXT));
  await rig.settle();
  assert.equal(got.length, 1);
  assert.equal(got[0]!.data.length, MAX_ENCRYPTED_PLAINTEXT);
  assert.deepEqual(a.dropped, { tooLarge: 1 });
  assert.equal(a.stats.sendErrors, 1);
  assert.equal(a.stats.datagramsOut, 1);
  // A smaller limit for an inner transport with a small MTU.
  const small = rig.wrap({ ip: "10.0.0.3", port: 1 }, ring);
  const limited = new EncryptedTransport(rig.net.bind({ ip: "10.0.0.4", port: 1 }), ring, {
    maxPlaintextSize: 1400 - 29,
  });
  rig.transports.push(limited);
  limited.send(B, bytes(1372));
  limited.send(B, bytes(1371));
  await rig.settle();
  assert.deepEqual(limited.dropped, { tooLarge: 1 });
  assert.equal(got.length, 2);
  assert.equal(small.maxPlaintextSize, MAX_ENCRYPTED_PLAINTEXT);
  await rig.close();
});

Deno.test("EncryptedTransport keeps the send order and the arrival order", async () => {
  const rig = new Rig();
  const ring = await Keyring.create([generateKey(), generateKey()]);
  const a = rig.wrap(A, ring);
  const b = rig.wrap(B, ring);
  const got = collect(b);
  // Mixed sizes, so seals finish at different times if they run in parallel.
  const sent: number[] = [];
  for (let i = 0; i < 200; i++) {
    const m = bytes(i % 3 === 0 ? 60_000 : 10);
    m[0] = i;
    sent.push(i);
    a.send(B, m);
  }
  await rig.settle();
  assert.deepEqual(got.map((g) => g.data[0]), sent);
  await rig.close();
});

Deno.test("EncryptedTransport reads the plaintext in send(): the caller may reuse its buffer", async () => {
  const rig = new Rig();
  const ring = await Keyring.create([generateKey()]);
  const a = rig.wrap(A, ring);
  const b = rig.wrap(B, ring);
  const got = collect(b);
  const buf = new Uint8Array(8);
  for (let i = 0; i < 3; i++) {
    buf.fill(i + 1);
    a.send(B, buf);
  }
  await rig.settle();
  assert.deepEqual(got.map((g) => [...g.data]), [1, 2, 3].map((v) => Array(8).fill(v)));
  await rig.close();
});

Deno.test("EncryptedTransport drops replays within its window and lets them through without one", async () => {
  const rig = new Rig();
  const ring = await Keyring.create([generateKey()]);
  const a = rig.wrap(A, ring);
  const windowed = rig.wrap(B, ring, 4);
  const open = rig.wrap({ ip: "10.0.0.3", port: 7946 }, ring, 0);
  const gotW = collect(windowed);
  const gotO = collect(open);
  const mitm = rig.net.bind(M);
  const captured = collect(mitm);
  for (let i = 0; i < 6; i++) a.send(M, bytes(20, i));
  await rig.settle();
  assert.equal(captured.length, 6);
  const replayTo = (to: SocketAddr, ids: number[]) => {
    for (const i of ids) mitm.send(to, captured[i]!.data);
  };
  // Window of 4: a datagram seen among the last 4 accepted is dropped.
  replayTo(B, [0, 1, 0, 1]);
  await rig.settle();
  assert.equal(gotW.length, 2);
  assert.deepEqual(windowed.dropped, { replay: 2 });
  replayTo(B, [2, 3, 4, 5]); // pushes 0 and 1 out of the window
  replayTo(B, [5, 0]); // 5 is a replay; 0 is too old to remember and gets through
  await rig.settle();
  assert.equal(gotW.length, 7);
  assert.deepEqual(windowed.dropped, { replay: 3 });
  assert.deepEqual(gotW.at(-1)!.data, bytes(20, 0));
  // No window: every copy is delivered (the protocol above must tolerate it; it does).
  replayTo({ ip: "10.0.0.3", port: 7946 }, [0, 0, 0]);
  await rig.settle();
  assert.equal(gotO.length, 3);
  assert.deepEqual(open.dropped, {});
  await rig.close();
});

Deno.test("EncryptedTransport follows keyring rotation while running", async () => {
  const rig = new Rig();
  const k1 = generateKey();
  const k2 = generateKey(24);
  const ringA = await Keyring.create([k1]);
  const ringB = await Keyring.create([k1]);
  const a = rig.wrap(A, ringA);
  const b = rig.wrap(B, ringB);
  const got = collect(b);
  await ringA.install(k2);
  await ringA.usePrimary(k2); // too early: B cannot read k2 yet
  a.send(B, bytes(10, 1));
  await rig.settle();
  assert.deepEqual(b.dropped, { noKey: 1 });
  await ringB.install(k2);
  a.send(B, bytes(10, 2));
  await rig.settle();
  assert.equal(got.length, 1);
  await ringB.usePrimary(k2);
  await ringB.remove(k1);
  await ringA.remove(k1);
  a.send(B, bytes(10, 3));
  await rig.settle();
  assert.deepEqual(got.map((g) => g.data[0]), [2, 3]);
  await rig.close();
});

Deno.test("EncryptedTransport.close() waits for seals in flight and refuses later sends", async () => {
  const rig = new Rig();
  const ring = await Keyring.create([generateKey()]);
  const a = rig.wrap(A, ring);
  const b = rig.wrap(B, ring);
  const got = collect(b);
  for (let i = 0; i < 10; i++) a.send(B, bytes(30_000, i));
  assert.equal(a.inner.stats.datagramsOut, 0, "sealing is asynchronous");
  assert.ok(a.pending > 0);
  await a.close();
  assert.equal(a.pending, 0);
  assert.equal(a.inner.stats.datagramsOut, 10, "datagrams sealed before close still go out");
  a.send(B, bytes(5));
  assert.equal(a.stats.sendErrors, 1);
  assert.deepEqual(a.dropped, { closed: 1 });
  await a.close(); // idempotent
  await rig.settle();
  assert.equal(got.length, 10);
  await rig.close();
});

Deno.test("EncryptedTransport delivers nothing once closed", async () => {
  const rig = new Rig();
  const ring = await Keyring.create([generateKey()]);
  const a = rig.wrap(A, ring);
  const b = rig.wrap(B, ring);
  const got = collect(b);
  a.send(B, bytes(10));
  await a.idle();
  rig.clock.advance(5); // arrives at B; opening is under way
  assert.equal(b.pending, 1);
  await b.close();
  assert.equal(got.length, 0);
  assert.deepEqual(b.dropped, { closed: 1 });
  await rig.close();
});

Deno.test("EncryptedTransport counts a throwing handler and keeps delivering", async () => {
  const rig = new Rig();
  const ring = await Keyring.create([generateKey()]);
  const a = rig.wrap(A, ring);
  const errors: unknown[] = [];
  const b = new EncryptedTransport(rig.net.bind(B), ring, {
    onHandlerError: (e) => errors.push(e),
  });
  rig.transports.push(b);
  let calls = 0;
  b.onReceive(() => {
    if (++calls === 1) throw new Error("handler bug");
  });
  a.send(B, bytes(3));
  a.send(B, bytes(3));
  await rig.settle();
  assert.equal(calls, 2);
  assert.deepEqual(b.dropped, { handlerError: 1 });
  assert.equal((errors[0] as Error).message, "handler bug");
  await rig.close();
});

Deno.test("EncryptedTransport rejects bad options with a ConfigError", async () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 1 });
  const ring = await Keyring.create([generateKey()]);
  const inner = net.bind(A);
  assert.throws(
    () => new EncryptedTransport(inner, ring, { replayWindow: -1 }),
    (e: unknown) => e instanceof ConfigError && e.field === "replayWindow",
  );
  assert.throws(
    () => new EncryptedTransport(inner, ring, { maxPlaintextSize: 65_479 }),
    (e: unknown) => e instanceof ConfigError && /0\.\.65478, got 65479/.test(e.message),
  );
  net.close();
});

Deno.test("EncryptedTransport works over loopback UDP", async () => {
  const ring = await Keyring.create([generateKey()]);
  const a = new EncryptedTransport(await bindUdp({ ip: "127.0.0.1", port: 0 }), ring);
  const b = new EncryptedTransport(await bindUdp({ ip: "127.0.0.1", port: 0 }), ring);
  try {
    const got = new Promise<Got>((resolve) =>
      b.onReceive((data, from) => resolve({ data, from: `${from.ip}:${from.port}` }))
    );
    a.onReceive(() => {});
    a.send(b.localAddr, bytes(MAX_ENCRYPTED_PLAINTEXT, 9));
    const g = await got;
    assert.ok(sameAll([g.data], [bytes(MAX_ENCRYPTED_PLAINTEXT, 9)]));
    assert.equal(g.from, `127.0.0.1:${a.localAddr.port}`);
    assert.equal(a.inner.stats.bytesOut, 65_507);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
