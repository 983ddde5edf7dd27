import assert from "node:assert/strict";
import { bindUdp, type UdpTransport } from "./udp.ts";
import { MAX_DATAGRAM_SIZE as MAX_UDP_PAYLOAD } from "../codec/wire.ts";
import { AddressInUseError, ConfigError } from "../common/errors.ts";
import type { SocketAddr } from "../common/types.ts";

interface Received {
  data: Uint8Array;
  from: SocketAddr;
}

/** Collects datagrams; `next()` resolves with the next one (already queued or future). */
function inbox(t: UdpTransport): { next(): Promise<Received> } {
  const queue: Received[] = [];
  const waiters: ((r: Received) => void)[] = [];
  t.onReceive((data, from) => {
    const r = { data, from };
    const w = waiters.shift();
    if (w) w(r);
    else queue.push(r);
  });
  return {
    next(): Promise<Received> {
      const r = queue.shift();
      if (r) return Promise.resolve(r);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}

const BACKENDS = [
  { name: "Deno.listenDatagram", forceNodeDgram: false, backend: "deno" },
  { name: "node:dgram", forceNodeDgram: true, backend: "node:dgram" },
] as const;

for (const { name, forceNodeDgram, backend } of BACKENDS) {
  const bind = (ip: string, port = 0) => bindUdp({ ip, port }, { forceNodeDgram });

  Deno.test(`bindUdp() [${name}] exchanges datagrams both ways on 127.0.0.1, replying to the source`, async () => {
    const a = await bind("127.0.0.1");
    const b = await bind("127.0.0.1");
    try {
      assert.equal(a.backend, backend);
      assert.equal(a.localAddr.ip, "127.0.0.1");
      assert.ok(a.localAddr.port > 0 && a.localAddr.port !== b.localAddr.port);
      const inA = inbox(a);
      const inB = inbox(b);
      a.send(b.localAddr, new Uint8Array([1, 2, 3]));
      const atB = await inB.next();
      assert.deepEqual([...atB.data], [1, 2, 3]);
      assert.deepEqual(atB.from, a.localAddr);
      b.send(atB.from, new Uint8Array([4, 5]));
      const atA = await inA.next();
      assert.deepEqual([...atA.data], [4, 5]);
      assert.deepEqual(atA.from, b.localAddr);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    assert.equal(a.stats.datagramsOut, 1);
    assert.equal(a.stats.bytesOut, 3);
    assert.equal(a.stats.datagramsIn, 1);
    assert.equal(a.stats.bytesIn, 2);
    assert.equal(b.stats.datagramsIn, 1);
    assert.equal(b.stats.sendErrors + a.stats.sendErrors, 0);
  });

  Deno.test(`bindUdp() [${name}] passes a ${MAX_UDP_PAYLOAD}-byte datagram and refuses one byte more`, async () => {
    const a = await bind("127.0.0.1");
    const b = await bind("127.0.0.1");
    try {
      const inB = inbox(b);
      const big = new Uint8Array(MAX_UDP_PAYLOAD);
      for (let i = 0; i < big.length; i++) big[i] = i * 7;
      a.send(b.localAddr, new Uint8Array(MAX_UDP_PAYLOAD + 1));
      assert.equal(a.stats.sendErrors, 1);
      a.send(b.localAddr, big);
      const got = await inB.next();
      assert.equal(got.data.length, MAX_UDP_PAYLOAD);
      assert.deepEqual(got.data, big);
      assert.equal(got.data.buffer.byteLength, MAX_UDP_PAYLOAD); // copied out to its own buffer
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    assert.equal(a.stats.sendErrors, 1);
    assert.equal(a.stats.datagramsOut, 1);
  });

  Deno.test(`bindUdp() [${name}] works on IPv6 loopback ::1`, async () => {
    const a = await bind("::1");
    const b = await bind("[::1]");
    try {
      assert.equal(a.localAddr.ip, "::1");
      const inA = inbox(a);
      const inB = inbox(b);
      a.send(b.localAddr, new Uint8Array([6]));
      const atB = await inB.next();
      assert.deepEqual(atB.from, a.localAddr);
      b.send(atB.from, new Uint8Array([7]));
      assert.deepEqual([...(await inA.next()).data], [7]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  Deno.test(`bindUdp() [${name}] copies the bytes: the sender may reuse its buffer at once`, async () => {
    const a = await bind("127.0.0.1");
    const b = await bind("127.0.0.1");
    try {
      const inB = inbox(b);
      const buf = new Uint8Array(1000).fill(1);
      a.send(b.localAddr, buf);
      buf.fill(2);
      a.send(b.localAddr, buf.subarray(0, 10));
      buf.fill(3);
      const first = await inB.next();
      const second = await inB.next();
      assert.deepEqual(first.data, new Uint8Array(1000).fill(1));
      assert.deepEqual(second.data, new Uint8Array(10).fill(2));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  Deno.test(`bindUdp() [${name}] counts handler exceptions and keeps receiving`, async () => {
    const a = await bind("127.0.0.1");
    const b = await bind("127.0.0.1");
    try {
      const seen: number[] = [];
      let resolveSecond!: () => void;
      const second = new Promise<void>((r) => resolveSecond = r);
      b.onReceive((data) => {
        seen.push(data[0]!);
        if (data[0] === 1) throw new Error("handler bug");
        resolveSecond();
      });
      a.send(b.localAddr, new Uint8Array([1]));
      a.send(b.localAddr, new Uint8Array([2]));
      await second;
      assert.deepEqual(seen, [1, 2]);
      assert.equal(b.stats.handlerErrors, 1);
      assert.equal(b.stats.datagramsIn, 2);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  Deno.test(`bindUdp() [${name}] refuses sends to unspecified addresses, port 0 and after close`, async () => {
    const a = await bind("127.0.0.1");
    try {
      a.send({ ip: "0.0.0.0", port: 9 }, new Uint8Array(1));
      a.send({ ip: "::", port: 9 }, new Uint8Array(1));
      a.send({ ip: "0:0:0:0:0:0:0:0", port: 9 }, new Uint8Array(1));
      a.send({ ip: "127.0.0.1", port: 0 }, new Uint8Array(1));
      assert.equal(a.stats.sendErrors, 4);
    } finally {
      await a.close();
    }
    a.send({ ip: "127.0.0.1", port: 9 }, new Uint8Array(1));
    assert.equal(a.stats.sendErrors, 5);
    assert.equal(a.stats.datagramsOut, 0);
  });

  Deno.test(`bindUdp() [${name}] counts a send the OS rejects instead of throwing`, async () => {
    const a = await bind("127.0.0.1");
    try {
      a.send({ ip: "::1", port: 9 }, new Uint8Array(1)); // IPv6 destination from an IPv4 socket
    } finally {
      await a.close(); // waits for the pending send to settle
    }
    assert.equal(a.stats.sendErrors, 1);
    assert.equal(a.stats.datagramsOut, 0);
  });

  Deno.test(`bindUdp() [${name}] close() ends a pending receive, is idempotent, and frees the port`, async () => {
    const a = await bind("127.0.0.1");
    a.onReceive(() => {});
    const port = a.localAddr.port;
    const first = a.close();
    const second = a.close();
    assert.equal(first, second);
    await first;
    await a.close();
    // The port is free again once close() resolved.
    const again = await bind("127.0.0.1", port);
    assert.equal(again.localAddr.port, port);
    await again.close();
  });

  Deno.test(`bindUdp() [${name}] keeps the send order of back-to-back datagrams`, async () => {
    const a = await bind("127.0.0.1");
    const b = await bind("127.0.0.1");
    try {
      const inB = inbox(b);
      for (let i = 0; i < 100; i++) a.send(b.localAddr, new Uint8Array([i]));
      const order: number[] = [];
      for (let i = 0; i < 100; i++) order.push((await inB.next()).data[0]!);
      assert.deepEqual(order, Array.from({ length: 100 }, (_, i) => i));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  Deno.test(`bindUdp() [${name}] refuses sends beyond 4096 queued datagrams`, async () => {
    const a = await bind("127.0.0.1");
    const sink = await bind("127.0.0.1");
    try {
      for (let i = 0; i < 5000; i++) a.send(sink.localAddr, new Uint8Array(1));
      // One datagram is with the socket, 4096 wait: the other 903 are refused.
      assert.equal(a.stats.sendErrors, 903);
    } finally {
      await Promise.all([a.close(), sink.close()]);
    }
    assert.equal(a.stats.datagramsOut, 4097);
  });

  Deno.test(`bindUdp() [${name}] throws AddressInUseError for a taken port`, async () => {
    const a = await bind("127.0.0.1");
    try {
      await assert.rejects(bind("127.0.0.1", a.localAddr.port), AddressInUseError);
    } finally {
      await a.close();
    }
  });
}

Deno.test("bindUdp() rejects malformed addresses with ConfigError", async () => {
  await assert.rejects(bindUdp({ ip: "", port: 1 }), ConfigError);
  await assert.rejects(bindUdp({ ip: "127.0.0.1", port: 65536 }), ConfigError);
  await assert.rejects(bindUdp({ ip: "127.0.0.1", port: 1.5 }), ConfigError);
});

Deno.test("bindUdp() falls back to node:dgram without --unstable-net and warns once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/fallback.ts`;
    const udpUrl = new URL("./udp.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { bindUdp } from ${JSON.stringify(udpUrl)};
const warnings: string[] = [];
const onWarning = (m: string) => warnings.push(m);
const a = await bindUdp({ ip: "127.0.0.1", port: 0 }, { onWarning });
const b = await bindUdp({ ip: "127.0.0.1", port: 0 }, { onWarning });
const got = new Promise<number>((resolve) => b.onReceive((d) => resolve(d.length)));
a.send(b.localAddr, new Uint8Array(5));
const n = await got;
await a.close();
await b.close();
console.log(JSON.stringify({ listen: typeof Deno.listenDatagram, backend: a.backend, n, warnings }));
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "-A", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(result.listen, "undefined");
    assert.equal(result.backend, "node:dgram");
    assert.equal(result.n, 5);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0], /--unstable-net/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
