/**
 * EncryptedTransport at the datagram level (MemoryNetwork + VirtualClock, and loopback UDP),
 * then clusters of GossipNodes over encrypted transports: rotation, intruders, injection, replay.
 */
import assert from "node:assert/strict";
import { encodeDelta } from "../src/codec/delta.ts";
import { ConfigError } from "../src/common/errors.ts";
import { GossipNode } from "../src/node/gossip_node.ts";
import { generateKey, keyFingerprint, Keyring } from "../src/transport/keyring.ts";
import { encodeAck, encodeSyn } from "../src/codec/message.ts";
import { createRandom } from "../src/common/random.ts";
import { EncryptedTransport, MAX_ENCRYPTED_PLAINTEXT } from "../src/transport/encrypted.ts";
import { MemoryNetwork } from "../src/transport/memory.ts";
import type { Transport } from "../src/transport/transport.ts";
import { bindUdp } from "../src/transport/udp.ts";
import type { SocketAddr } from "../src/common/types.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { converged, fullyLive, viewOf } from "../sim/memory_cluster.ts";

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
    maxDatagramSize: 1400 - 29,
  });
  rig.transports.push(limited);
  limited.send(B, bytes(1372));
  limited.send(B, bytes(1371));
  await rig.settle();
  assert.deepEqual(limited.dropped, { tooLarge: 1 });
  assert.equal(got.length, 2);
  assert.equal(small.maxDatagramSize, MAX_ENCRYPTED_PLAINTEXT);
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
    () => new EncryptedTransport(inner, ring, { maxDatagramSize: 65_479 }),
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

// ---------------------------------------------------------------- clusters of GossipNodes

const FD = { deadNodeGracePeriodMs: 120_000 };
const CLUSTER = "enc";

/** Wraps an endpoint: records what it receives while `recording`, and lets a test inject
 * datagrams with any source address (a spoofing attacker on the path). */
class Tap implements Transport {
  readonly log: { data: Uint8Array; from: SocketAddr }[] = [];
  recording = false;
  #handler: ((data: Uint8Array, from: SocketAddr) => void) | null = null;
  constructor(readonly inner: Transport) {}
  get localAddr(): SocketAddr {
    return this.inner.localAddr;
  }
  get stats(): Transport["stats"] {
    return this.inner.stats;
  }
  send(to: SocketAddr, data: Uint8Array): void {
    this.inner.send(to, data);
  }
  onReceive(handler: (data: Uint8Array, from: SocketAddr) => void): void {
    this.#handler = handler;
    this.inner.onReceive((data, from) => {
      if (this.recording) this.log.push({ data: data.slice(), from });
      handler(data, from);
    });
  }
  inject(data: Uint8Array, from: SocketAddr): void {
    this.#handler?.(data, from);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function addr(i: number): SocketAddr {
  return { ip: `127.0.0.${i + 1}`, port: 7946 };
}

/** GossipNodes on a MemoryNetwork and a VirtualClock, each behind an EncryptedTransport (or
 * plain, for intruders and controls). */
class Cluster {
  readonly clock = new VirtualClock();
  readonly net: MemoryNetwork;
  readonly nodes: GossipNode[] = [];
  readonly encrypted: EncryptedTransport[] = [];
  readonly taps: Tap[] = [];
  readonly problems: string[] = [];
  #seed: number;

  constructor(seed: number) {
    this.#seed = seed * 1000;
    this.net = new MemoryNetwork({ clock: this.clock, seed, delayMs: { min: 1, max: 5 } });
  }

  /** Starts node `i` at 127.0.0.(i+1):7946, seeded off node 0 (or `seeds`). `keyring`
   * undefined = plain chitchat. */
  async start(
    i: number,
    keyring: Keyring | undefined,
    options: { seeds?: string[]; replayWindow?: number; nodeId?: string } = {},
  ): Promise<GossipNode> {
    const tap = new Tap(this.net.bind(addr(i)));
    this.taps[i] = tap;
    let transport: Transport = tap;
    if (keyring !== undefined) {
      const t = new EncryptedTransport(tap, keyring, {
        ...(options.replayWindow === undefined ? {} : { replayWindow: options.replayWindow }),
        onHandlerError: (e) => this.problems.push(`handler threw: ${e}`),
      });
      this.encrypted.push(t);
      transport = t;
    }
    const node = await GossipNode.start({
      nodeId: options.nodeId ?? `node-${i}`,
      clusterId: CLUSTER,
      generationId: 0n,
      gossipIntervalMs: 1000,
      failureDetector: FD,
      seeds: options.seeds ?? (i === 0 ? [] : ["127.0.0.1:7946"]),
      transport,
      clock: this.clock,
      random: createRandom(this.#seed++),
      onWarning: (m) => this.problems.push(`warning: ${m}`),
    });
    this.nodes[i] = node;
    return node;
  }

  /** Lets every seal and open in flight finish. */
  async settle(): Promise<void> {
    while (this.encrypted.some((t) => t.pending > 0)) {
      await Promise.all(this.encrypted.map((t) => t.idle()));
    }
  }

  /** Advances virtual time in 50 ms steps, settling the crypto after each. */
  async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.advance(Math.min(50, end - this.clock.now()));
      await this.settle();
    }
  }

  async until(predicate: () => boolean, maxMs: number): Promise<void> {
    const start = this.clock.now();
    while (!predicate()) {
      if (this.clock.now() - start > maxMs) throw new Error(`not met within ${maxMs} virtual ms`);
      await this.run(50);
    }
  }

  noKeyDrops(): number {
    return this.encrypted.reduce((n, t) => n + (t.dropped.noKey ?? 0), 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.filter((n) => n !== undefined).map((n) => n.close()));
    this.net.close();
    assert.deepEqual(this.problems, []);
  }
}

function ids(node: GossipNode): string[] {
  return node.nodeStates().map((s) => s.chitchatId.nodeId);
}

Deno.test("Encrypted cluster converges and puts no readable chitchat on the wire", async () => {
  const c = new Cluster(1);
  const ring = await Keyring.create([generateKey(24)]);
  for (let i = 0; i < 5; i++) await c.start(i, ring);
  c.nodes.forEach((n, i) => n.set(`key-${i}`, `value-${i}`));
  await c.until(() => fullyLive(c.nodes) && converged(c.nodes), 30_000);
  assert.equal(
    c.nodes[3]!.nodeStates().find((s) => s.chitchatId.nodeId === "node-1")!.get("key-1"),
    "value-1",
  );
  // Record the wire: every datagram is a sealed frame, none a chitchat message.
  for (const t of c.taps) t.recording = true;
  await c.run(5_000);
  const wire = c.taps.flatMap((t) => t.log);
  assert.ok(wire.length > 20);
  assert.ok(wire.every((d) => d.data[0] === 1), "a datagram is not a sealed frame");
  const latin1 = new TextDecoder("latin1");
  assert.ok(!wire.some((d) => /value-|node-/.test(latin1.decode(d.data))), "plaintext on the wire");
  assert.ok(c.encrypted.every((t) => Object.keys(t.dropped).length === 0), "nothing dropped");
  await c.close();
});

Deno.test("Key rotation on a live encrypted cluster never loses a node", async () => {
  const c = new Cluster(2);
  const k1 = generateKey(24);
  const k2 = generateKey(32);
  const rings = await Promise.all(Array.from({ length: 5 }, () => Keyring.create([k1])));
  for (let i = 0; i < 5; i++) await c.start(i, rings[i]);
  await c.until(() => fullyLive(c.nodes) && converged(c.nodes), 30_000);
  let rounds = 0;
  /** Runs `n` gossip rounds, checking after each that all nodes see all others live. */
  const rounds_ = async (n: number, phase: string) => {
    for (let r = 0; r < n; r++) {
      await c.run(1000);
      rounds++;
      const members = c.nodes.slice(0, 5);
      assert.ok(fullyLive(members), `a node was lost during ${phase} (round ${rounds})`);
    }
  };
  const f2 = await keyFingerprint(k2);
  for (let i = 0; i < 5; i++) {
    await rings[i]!.install(k2);
    await rounds_(3, `install on node-${i}`);
  }
  for (let i = 0; i < 5; i++) {
    await rings[i]!.usePrimary(k2);
    c.nodes[i]!.set("switched", String(i));
    await rounds_(3, `primary switch on node-${i}`);
  }
  for (let i = 0; i < 5; i++) {
    await rings[i]!.remove(k1);
    await rounds_(3, `removal on node-${i}`);
  }
  assert.ok(rings.every((r) => r.keys().length === 1 && r.primaryFingerprint === f2));
  assert.equal(c.noKeyDrops(), 0, "a datagram was sealed with a key its receiver lacked");
  await c.until(() => converged(c.nodes), 30_000);
  assert.equal(
    c.nodes[0]!.nodeStates().find((s) => s.chitchatId.nodeId === "node-4")!.get("switched"),
    "4",
  );
  // After the rotation a node holding only the old key is shut out.
  const stale = await c.start(5, await Keyring.create([k1]));
  await rounds_(20, "a stale node knocking");
  assert.deepEqual(ids(stale), ["node-5"]);
  assert.ok(c.nodes.slice(0, 5).every((n) => !ids(n).includes("node-5")));
  assert.ok(c.noKeyDrops() > 0);
  await c.close();
});

Deno.test("Key rotation done wrong (old key removed too early) does lose a node", async () => {
  // The control for the test above: the liveness check does notice a cut-off node.
  const c = new Cluster(3);
  const k1 = generateKey(16);
  const k2 = generateKey(16);
  const rings = await Promise.all(Array.from({ length: 4 }, () => Keyring.create([k1, k2])));
  for (let i = 0; i < 4; i++) await c.start(i, rings[i]);
  await c.until(() => fullyLive(c.nodes), 30_000);
  for (let i = 1; i < 4; i++) {
    await rings[i]!.usePrimary(k2);
    await rings[i]!.remove(k1); // node-0 still seals with k1
  }
  await c.until(() => c.nodes.slice(1).every((n) => n.liveNodes().length === 3), 120_000);
  assert.ok(c.noKeyDrops() > 0);
  await c.close();
});

Deno.test("A node with the wrong key can neither join, nor read, nor be listed", async () => {
  const c = new Cluster(4);
  const ring = await Keyring.create([generateKey()]);
  // The attacker took over the address of a seed every member gossips to.
  const seeds = ["127.0.0.1:7946", "127.0.0.4:7946"];
  for (let i = 0; i < 3; i++) await c.start(i, ring, { seeds });
  c.nodes[0]!.set("secret", "s3cr3t");
  const mallory = await c.start(3, await Keyring.create([generateKey()]), { seeds });
  mallory.set("evil", "1");
  await c.run(30_000);
  assert.ok(fullyLive(c.nodes.slice(0, 3)) && converged(c.nodes.slice(0, 3)));
  assert.deepEqual(ids(mallory), ["node-3"], "mallory learned other nodes");
  for (const n of c.nodes.slice(0, 3)) assert.deepEqual(ids(n), ["node-0", "node-1", "node-2"]);
  const malloryT = c.encrypted[3]!;
  const memberDrops = c.encrypted.slice(0, 3).reduce((s, t) => s + (t.dropped.noKey ?? 0), 0);
  assert.ok(memberDrops > 10, `members dropped only ${memberDrops} of mallory's datagrams`);
  assert.ok((malloryT.dropped.noKey ?? 0) > 10, "mallory did receive (and fail to read) traffic");
  assert.equal(malloryT.stats.datagramsIn, 0);
  await c.close();
});

Deno.test("A plain chitchat node (no key) can neither join nor read an encrypted cluster", async () => {
  const c = new Cluster(5);
  const ring = await Keyring.create([generateKey()]);
  const seeds = ["127.0.0.1:7946", "127.0.0.4:7946"];
  for (let i = 0; i < 3; i++) await c.start(i, ring, { seeds });
  const plain = await c.start(3, undefined, { seeds });
  await c.run(30_000);
  assert.deepEqual(ids(plain), ["node-3"]);
  for (const n of c.nodes.slice(0, 3)) assert.deepEqual(ids(n), ["node-0", "node-1", "node-2"]);
  const badVersion = c.encrypted.reduce((s, t) => s + (t.dropped.badVersion ?? 0), 0);
  assert.ok(badVersion > 10, `members dropped only ${badVersion} plain datagrams`);
  // The plain node got sealed frames it cannot decode as chitchat.
  const m = plain.metrics();
  assert.ok(m.datagramsIn > 10 && (m.dropped.badMagic ?? 0) === m.datagramsIn, JSON.stringify(m));
  await c.close();
});

/** Forged plain chitchat: a Syn introducing "mallory" and an Ack planting a key on node-1. */
function forgeries(): Uint8Array[] {
  const malloryId = { nodeId: "mallory", generationId: 0n, gossipAdvertiseAddr: addr(9) };
  const syn = encodeSyn(CLUSTER, {
    nodes: [{ chitchatId: malloryId, heartbeat: 50n, lastGcVersion: 0n, maxVersion: 0n }],
  });
  const ack = encodeAck(encodeDelta({
    nodeDeltas: [{
      chitchatId: { nodeId: "node-1", generationId: 0n, gossipAdvertiseAddr: addr(1) },
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      keyValues: [{ key: "evil", value: "planted", version: 1_000_000n, status: "set" }],
      maxVersion: 1_000_000n,
    }],
  }));
  return [syn, ack];
}

async function injectionScenario(encrypted: boolean): Promise<{ views: string[] }> {
  const c = new Cluster(6);
  const ring = encrypted ? await Keyring.create([generateKey()]) : undefined;
  for (let i = 0; i < 3; i++) await c.start(i, ring);
  c.nodes[1]!.set("color", "blue");
  await c.until(() => fullyLive(c.nodes) && converged(c.nodes), 30_000);
  const attacker = c.net.bind(addr(9));
  attacker.onReceive(() => {});
  for (let r = 0; r < 10; r++) {
    for (const d of forgeries()) {
      for (let i = 0; i < 3; i++) attacker.send(addr(i), d);
    }
    await c.run(1000);
  }
  await c.run(5000);
  const views = c.nodes.map((n) => viewOf(n) + `|live=${n.liveNodes().length}`);
  if (encrypted) {
    const badVersion = c.encrypted.reduce((s, t) => s + (t.dropped.badVersion ?? 0), 0);
    assert.equal(badVersion, 60);
  }
  await c.close();
  return { views };
}

Deno.test("Plain chitchat Syn/Ack injected into an encrypted cluster changes nothing", async () => {
  // Control: the same forgeries do take over a plain cluster, so they are real attacks.
  const plain = await injectionScenario(false);
  assert.ok(plain.views.every((v) => v.includes("mallory")), "control: mallory not listed");
  assert.ok(plain.views.every((v) => v.includes("evil=planted")), "control: key not planted");
  const enc = await injectionScenario(true);
  for (const v of enc.views) {
    assert.ok(!v.includes("mallory") && !v.includes("evil"), v);
    assert.match(v, /node-1@0:color=blue/);
    assert.match(v, /live=3$/);
  }
});

Deno.test("Replayed encrypted datagrams change nothing in a live cluster", async () => {
  const c = new Cluster(7);
  const ring = await Keyring.create([generateKey()]);
  // No replay window: every replay reaches the engine, to show the protocol shrugs it off.
  for (let i = 0; i < 3; i++) await c.start(i, ring, { replayWindow: 0 });
  await c.until(() => fullyLive(c.nodes), 30_000);
  // Phase 1 (recorded): old values.
  for (const t of c.taps) t.recording = true;
  c.nodes[0]!.set("color", "red");
  c.nodes[0]!.set("temp", "x");
  c.nodes[2]!.set("n", "1");
  await c.until(() => converged(c.nodes), 30_000);
  await c.run(5_000);
  for (const t of c.taps) t.recording = false;
  const recorded = c.taps.map((t) => t.log.slice());
  assert.ok(recorded.every((r) => r.length > 10));
  // Phase 2: the state moves on.
  c.nodes[0]!.set("color", "blue");
  c.nodes[0]!.delete("temp");
  c.nodes[2]!.set("n", "2");
  await c.until(() => converged(c.nodes), 30_000);
  await c.run(3_000);
  const before = c.nodes.map((n) => viewOf(n));
  const liveBefore = c.nodes.map((n) => n.liveNodes().length);
  const msgsBefore = c.nodes.map((n) =>
    Object.values(n.metrics().messagesIn).reduce((a, b) => a + b)
  );
  // Replay every recorded datagram (twice, spoofing the original senders) into its receiver.
  for (let round = 0; round < 2; round++) {
    recorded.forEach((log, i) => log.forEach((d) => c.taps[i]!.inject(d.data, d.from)));
    await c.settle();
  }
  const msgsAfter = c.nodes.map((n) =>
    Object.values(n.metrics().messagesIn).reduce((a, b) => a + b)
  );
  recorded.forEach((log, i) => {
    assert.equal(msgsAfter[i]! - msgsBefore[i]!, 2 * log.length, "replays reached the engine");
  });
  assert.deepEqual(c.nodes.map((n) => viewOf(n)), before, "a replay changed a node's state");
  assert.deepEqual(c.nodes.map((n) => n.liveNodes().length), liveBefore);
  // And the cluster carries on with the current values.
  await c.run(10_000);
  assert.ok(fullyLive(c.nodes) && converged(c.nodes));
  for (const n of c.nodes) {
    const s = n.nodeStates().find((x) => x.chitchatId.nodeId === "node-0")!;
    assert.equal(s.get("color"), "blue");
    assert.equal(s.get("temp"), undefined);
  }
  assert.ok(c.encrypted.every((t) => Object.keys(t.dropped).length === 0));
  await c.close();
});
