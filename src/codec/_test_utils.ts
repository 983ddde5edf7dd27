// Shared generators for the codec tests (seeded, deterministic), plus a check of the generators.
import { createRandom, type Random } from "../common/random.ts";
import { fromHex, toHex } from "../common/_encoding.ts";
import type {
  ChitchatId,
  ChitchatMessage,
  Delta,
  Digest,
  KeyStatus,
  KeyValueMutation,
  NodeDelta,
  NodeDigest,
  SocketAddr,
} from "../common/types.ts";

export const hex = (b: Uint8Array): string => toHex(b);

/** Hex to bytes; spaces and other separators in the text are ignored. */
export const unhex = (s: string): Uint8Array => fromHex(s.replace(/[^0-9a-fA-F]/g, ""));

export const U64_MAX = (1n << 64n) - 1n;

export function id(nodeId: string, gen: bigint, ip: string, port: number): ChitchatId {
  return { nodeId, generationId: gen, gossipAdvertiseAddr: { ip, port } };
}

const PIECES = ["a", "z", "-", ":", "é", "ß", "中", "文", "😀", "\u{10FFFF}", "\uFFFD", "0", "9"];

export function randomString(r: Random, maxPieces: number): string {
  let s = "";
  const n = r.int(maxPieces + 1);
  for (let i = 0; i < n; i++) s += PIECES[r.int(PIECES.length)];
  return s;
}

/** A node id whose first character is ASCII, with multi-byte characters after it. */
export function randomNodeId(r: Random): string {
  return "n" + randomString(r, 6) + String(r.int(1000));
}

/** A key whose first character is ASCII (or the empty key). */
export function randomKey(r: Random): string {
  return r.int(20) === 0 ? "" : "k" + randomString(r, 5);
}

export function randomU64(r: Random): bigint {
  switch (r.int(5)) {
    case 0:
      return 0n;
    case 1:
      return U64_MAX;
    case 2:
      return BigInt(r.int(100));
    default:
      return (BigInt(r.int(2 ** 32)) << 32n) | BigInt(r.int(2 ** 32));
  }
}

export function randomAddr(r: Random): SocketAddr {
  const port = r.int(65536);
  switch (r.int(5)) {
    case 0:
      return { ip: `${r.int(256)}.${r.int(256)}.${r.int(256)}.${r.int(256)}`, port };
    case 1:
      return { ip: "::1", port };
    case 2:
      return { ip: `::ffff:${r.int(256)}.${r.int(256)}.${r.int(256)}.${r.int(256)}`, port };
    case 3:
      return { ip: `2001:db8::${r.int(65536).toString(16)}`, port };
    default:
      return { ip: "0.0.0.0", port };
  }
}

export function randomId(r: Random): ChitchatId {
  return {
    nodeId: randomNodeId(r),
    generationId: randomU64(r),
    gossipAdvertiseAddr: randomAddr(r),
  };
}

export function randomDigest(r: Random, maxNodes: number): Digest {
  const nodes: NodeDigest[] = [];
  const n = r.int(maxNodes + 1);
  for (let i = 0; i < n; i++) {
    nodes.push({
      chitchatId: randomId(r),
      heartbeat: randomU64(r),
      lastGcVersion: randomU64(r),
      maxVersion: randomU64(r),
    });
  }
  return { nodes };
}

const STATUSES: KeyStatus[] = ["set", "deleted", "deleteAfterTtl"];

/** A delta obeying chitchat's rules: unique ids, versions strictly increasing from >= 1. */
export function randomDelta(r: Random, maxNodes: number, maxKvs: number, big = false): Delta {
  const nodeDeltas: NodeDelta[] = [];
  const n = r.int(maxNodes + 1);
  for (let i = 0; i < n; i++) {
    const chitchatId = { ...randomId(r), nodeId: `n${i}` + randomString(r, 3) };
    const kvs: KeyValueMutation[] = [];
    let v = BigInt(r.int(3));
    const m = r.int(maxKvs + 1);
    for (let j = 0; j < m; j++) {
      v += 1n + BigInt(r.int(3));
      const status = STATUSES[r.int(3)]!;
      const value = big && j === 0
        ? "x".repeat(60 * 1024)
        : r.int(10) === 0
        ? ""
        : randomString(r, 12);
      kvs.push({ key: randomKey(r), value, version: v, status });
    }
    if (r.int(10) === 0 && m > 0) {
      kvs[kvs.length - 1] = { ...kvs[kvs.length - 1]!, version: U64_MAX };
    }
    const maxVersion = kvs.length > 0
      ? kvs[kvs.length - 1]!.version
      : r.int(3) === 0
      ? 0n
      : randomU64(r);
    nodeDeltas.push({
      chitchatId,
      lastGcVersion: randomU64(r),
      fromVersionExcluded: randomU64(r),
      keyValues: kvs,
      maxVersion,
    });
  }
  return { nodeDeltas };
}

export function randomMessage(r: Random): ChitchatMessage {
  switch (r.int(4)) {
    case 0:
      return { type: "syn", clusterId: randomString(r, 8), digest: randomDigest(r, 8) };
    case 1:
      return { type: "synAck", digest: randomDigest(r, 5), delta: randomDelta(r, 4, 6) };
    case 2:
      return { type: "ack", delta: randomDelta(r, 5, 8) };
    default:
      return { type: "badCluster" };
  }
}

export { createRandom };
