// The encoder caches ChitchatId bytes and digest layouts (src/codec/_encode.ts): these tests check that a
// cached encoding is always the bytes a fresh encoding gives, whatever the reuse pattern.
import assert from "node:assert/strict";
import { encodeSyn, encodeSynAck } from "./message.ts";
import { encodeDigest } from "./digest.ts";
import { compareChitchatIds } from "../common/chitchat_id.ts";
import { EncodeError } from "../common/errors.ts";
import { ipBytes } from "../common/socket_addr.ts";
import type { ChitchatId, Digest, NodeDigest } from "../common/types.ts";
import { createRandom, randomDigest, randomU64, U64_MAX } from "./_test_utils.ts";

/** An independent digest encoder (plain DataView), sorting a copy of the entries. */
function referenceDigest(digest: Digest): Uint8Array {
  const nodes = [...digest.nodes].sort((a, b) => compareChitchatIds(a.chitchatId, b.chitchatId));
  const parts: number[] = [nodes.length & 0xff, nodes.length >> 8];
  const u64 = (v: bigint) => {
    for (let i = 0n; i < 8n; i++) parts.push(Number((v >> (8n * i)) & 0xffn));
  };
  for (const n of nodes) {
    const name = new TextEncoder().encode(n.chitchatId.nodeId);
    parts.push(name.length & 0xff, name.length >> 8, ...name);
    u64(n.chitchatId.generationId);
    const ip = ipBytes(n.chitchatId.gossipAdvertiseAddr.ip);
    parts.push(ip.length === 4 ? 4 : 6, ...ip);
    const port = n.chitchatId.gossipAdvertiseAddr.port;
    parts.push(port & 0xff, port >> 8);
    u64(n.heartbeat);
    u64(n.lastGcVersion);
    u64(n.maxVersion);
  }
  return new Uint8Array(parts);
}

/** A copy of the digest with fresh ChitchatId objects (nothing cached for them). */
function freshIds(digest: Digest): Digest {
  return {
    nodes: digest.nodes.map((n) => ({
      ...n,
      chitchatId: {
        ...n.chitchatId,
        gossipAdvertiseAddr: { ...n.chitchatId.gossipAdvertiseAddr },
      },
    })),
  };
}

Deno.test("encodeDigest() matches a reference encoder when ids are reused with new values", () => {
  const r = createRandom(4242);
  for (let round = 0; round < 200; round++) {
    const base = randomDigest(r, 40);
    const ids: ChitchatId[] = base.nodes.map((n) => n.chitchatId);
    // The same id objects, shuffled differently and with new values, several times over.
    for (let k = 0; k < 4; k++) {
      const order = r.shuffle(ids.map((_, i) => i));
      const nodes: NodeDigest[] = order.map((i) => ({
        chitchatId: ids[i]!,
        heartbeat: randomU64(r),
        lastGcVersion: randomU64(r),
        maxVersion: randomU64(r),
      }));
      const digest = { nodes };
      const want = referenceDigest(digest);
      assert.deepEqual(encodeDigest(digest), want, `round ${round}, reuse ${k}`);
      assert.deepEqual(encodeDigest(freshIds(digest)), want, `round ${round}, fresh ${k}`);
    }
  }
});

Deno.test("encodeSyn() stays exact when more digests alternate than the layout cache holds", () => {
  const r = createRandom(99);
  const digests = Array.from({ length: 12 }, () => randomDigest(r, 30));
  const want = digests.map((d) => encodeSyn("c", freshIds(d)));
  for (let pass = 0; pass < 3; pass++) {
    for (let i = 0; i < digests.length; i++) {
      assert.deepEqual(encodeSyn("c", digests[i]!), want[i], `pass ${pass}, digest ${i}`);
      const delta = new Uint8Array([0]);
      const synAck = encodeSynAck(digests[i]!, delta);
      assert.deepEqual(synAck.subarray(4, synAck.length - 1), want[i]!.subarray(4, -3));
    }
  }
});

Deno.test("encodeDigest() keeps duplicate ids in input order and handles sub-arrays of a digest", () => {
  const a: ChitchatId = {
    nodeId: "b",
    generationId: 1n,
    gossipAdvertiseAddr: { ip: "::1", port: 2 },
  };
  const b: ChitchatId = {
    nodeId: "a",
    generationId: 0n,
    gossipAdvertiseAddr: { ip: "1.2.3.4", port: 3 },
  };
  const e = (id: ChitchatId, hb: bigint): NodeDigest => ({
    chitchatId: id,
    heartbeat: hb,
    lastGcVersion: 0n,
    maxVersion: 0n,
  });
  const full = { nodes: [e(a, 1n), e(b, 2n), e(a, 3n), e(b, 4n)] };
  assert.deepEqual(encodeDigest(full), referenceDigest(full));
  const prefix = { nodes: full.nodes.slice(0, 3) };
  assert.deepEqual(encodeDigest(prefix), referenceDigest(prefix));
  const single = { nodes: full.nodes.slice(1, 2) };
  assert.deepEqual(encodeDigest(single), referenceDigest(single));
  assert.deepEqual(encodeDigest({ nodes: [] }), new Uint8Array([0, 0]));
});

Deno.test("encodeDigest() refuses out-of-range values on a cached layout", () => {
  const r = createRandom(5);
  const digest = randomDigest(r, 10);
  encodeDigest(digest); // cache the layout
  for (const field of ["heartbeat", "lastGcVersion", "maxVersion"] as const) {
    for (const bad of [-1n, U64_MAX + 1n]) {
      const nodes = digest.nodes.map((n, i) =>
        i === digest.nodes.length - 1 ? { ...n, [field]: bad } : n
      );
      if (nodes.length === 0) continue;
      assert.throws(() => encodeDigest({ nodes }), (err: unknown) => {
        assert.ok(err instanceof EncodeError);
        assert.match(err.message, new RegExp(`${field} must be a u64`));
        return true;
      });
    }
  }
  // The layout is still good afterwards.
  assert.deepEqual(encodeDigest(digest), referenceDigest(digest));
});

Deno.test("encodeDigest() tells apart digests with the same length and the same end ids", () => {
  const r = createRandom(77);
  const base = randomDigest(r, 30).nodes;
  if (base.length < 3) return;
  const other = randomDigest(r, 30).nodes;
  // Same first and last entries, different ids in the middle.
  const a = { nodes: base };
  const b = {
    nodes: base.map((n, i) =>
      i === 0 || i === base.length - 1
        ? n
        : { ...n, chitchatId: other[i % other.length]!.chitchatId }
    ),
  };
  for (let k = 0; k < 3; k++) {
    assert.deepEqual(encodeDigest(a), referenceDigest(a), `a, round ${k}`);
    assert.deepEqual(encodeDigest(b), referenceDigest(b), `b, round ${k}`);
  }
});

Deno.test("encodeSyn() and friends with shared: true give the same bytes, and results stay intact", async () => {
  const { encodeAck } = await import("./message.ts");
  const r = createRandom(4242);
  const kept: { shared: Uint8Array; fresh: Uint8Array }[] = [];
  let sharedBuffers = 0;
  for (let i = 0; i < 300; i++) {
    const digest = randomDigest(r, 1 + (i % 40) * 10);
    const delta = new Uint8Array(1 + r.int(3000)).map(() => r.int(256));
    const kind = i % 3;
    const fresh = kind === 0
      ? encodeSyn("cluster", digest)
      : kind === 1
      ? encodeSynAck(digest, delta)
      : encodeAck(delta);
    const shared = kind === 0
      ? encodeSyn("cluster", digest, { shared: true })
      : kind === 1
      ? encodeSynAck(digest, delta, { shared: true })
      : encodeAck(delta, { shared: true });
    assert.deepEqual(shared, fresh);
    if (shared.buffer.byteLength > shared.length) sharedBuffers++;
    assert.equal(fresh.buffer.byteLength, fresh.length);
    kept.push({ shared, fresh });
  }
  // Later encodings never wrote over earlier shared results (several shared buffers were used).
  for (const { shared, fresh } of kept) assert.deepEqual(shared, fresh);
  assert.ok(sharedBuffers > 250, `${sharedBuffers} results shared an output buffer`);
  assert.ok(new Set(kept.map((k) => k.shared.buffer)).size >= 2, "the shared buffer rolled over");
});

Deno.test("digestSelection: the bytes of the selected entries' own digest, sorted or not, with a trailer", () => {
  const r = createRandom(2026);
  const trailer = new Uint8Array([9, 8, 7]);
  for (let round = 0; round < 150; round++) {
    const digest = randomDigest(r, 60);
    const n = digest.nodes.length;
    // Half the rounds in wire order already (the layout has no permutation), half not.
    const nodes = round % 2 === 0
      ? [...digest.nodes].sort((a, b) => compareChitchatIds(a.chitchatId, b.chitchatId))
      : digest.nodes;
    const whole = { nodes };
    for (let k = 0; k < 3; k++) {
      const selection = r.shuffle(nodes.map((_, i) => i)).slice(0, r.int(n + 1));
      const own = { nodes: selection.map((i) => nodes[i]!) };
      const want = encodeSyn("c", freshIds(own));
      const shared = k % 2 === 0;
      assert.deepEqual(
        encodeSyn("c", whole, { digestSelection: selection, shared }),
        want,
        `round ${round}, pick ${k}`,
      );
      const withTrailer = encodeSynAck(whole, new Uint8Array([0]), {
        digestSelection: selection,
        trailer,
        shared,
      });
      const plain = encodeSynAck(freshIds(own), new Uint8Array([0]));
      assert.deepEqual(withTrailer.subarray(0, plain.length), plain);
      assert.deepEqual(withTrailer.subarray(plain.length), trailer);
    }
  }
});

Deno.test("digestSelection: refuses bad indices and other wires, and the next encoding is exact", () => {
  const r = createRandom(31);
  let digest = randomDigest(r, 20);
  while (digest.nodes.length < 3) digest = randomDigest(r, 20);
  const refuse = (selection: number[], want: RegExp, options = {}) =>
    assert.throws(
      () => encodeSyn("c", digest, { digestSelection: selection, ...options }),
      (err: unknown) => err instanceof EncodeError && want.test(err.message),
    );
  const n = digest.nodes.length;
  refuse([0, n], /digestSelection\[1\] must be an index into the digest's/);
  refuse([1, -1], /must be an index/);
  refuse([0.5], /must be an index/);
  refuse([2, 0, 2], /lists entry 2 twice/);
  refuse([0], /version-0 wire/, { protocolVersion: 1 });
  refuse([0], /not digestBytes/, { digestBytes: encodeDigest(digest) });
  // A failed selection leaves nothing marked: every entry can be selected again.
  const all = digest.nodes.map((_, i) => i);
  assert.deepEqual(
    encodeSyn("c", digest, { digestSelection: all }),
    encodeSyn("c", freshIds(digest)),
  );
  // A selection on a digest whose layout differs from a cached one with the same ends.
  const other = {
    nodes: digest.nodes.map((e, i) =>
      i === 0 || i === n - 1 ? e : { ...e, chitchatId: { ...e.chitchatId, nodeId: `x${i}` } }
    ),
  };
  const pick = [n - 1, 1, 0];
  assert.deepEqual(
    encodeSyn("c", other, { digestSelection: pick }),
    encodeSyn("c", freshIds({ nodes: pick.map((i) => other.nodes[i]!) })),
  );
});

Deno.test("trailer: written after an Ack and a BadCluster too", async () => {
  const { encodeAck, encodeBadCluster } = await import("./message.ts");
  const t = new Uint8Array([1, 2]);
  assert.deepEqual(
    encodeAck(new Uint8Array([0]), { trailer: t }),
    new Uint8Array([0x53, 0xb0, 0, 2, 0, 1, 2]),
  );
  assert.deepEqual(
    encodeBadCluster({ trailer: t, shared: true }),
    new Uint8Array([0x53, 0xb0, 0, 3, 1, 2]),
  );
});
