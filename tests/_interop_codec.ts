/**
 * Helpers shared by the codec interop tests against the real chitchat peers
 * (tests/codec_interop_test.ts for 0.10.1, tests/interop_v013_peer_test.ts for 0.13.0): message
 * normalisation for comparisons, a peer that is always closed, the zlayer-like delta, and the
 * mutated datagrams both crates and hearsay must accept or reject alike.
 *
 * @module
 */
import { sortedDigestEntries } from "../src/codec/digest.ts";
import { decodeMessage, encodeMessage } from "../src/codec/message.ts";
import { createRandom, id, randomMessage } from "../src/codec/_test_utils.ts";
import { VECTORS } from "../src/codec/_test_vectors.ts";
import { DecodeError } from "../src/common/errors.ts";
import type { ChitchatMessage, Delta, KeyValueMutation, NodeDelta } from "../src/common/types.ts";
import { InteropPeer, type MessageJson, messageToJson, sortDigestJson } from "../interop/peer.ts";
import type { ChitchatVersion } from "../interop/paths.ts";

/** `msg` with its digest entries in wire order (chitchat's order), for comparisons. */
export function normalized(msg: ChitchatMessage): ChitchatMessage {
  if (msg.type === "syn" || msg.type === "synAck") {
    return { ...msg, digest: { nodes: sortedDigestEntries(msg.digest) } };
  }
  return msg;
}

/** `msg` as the interop peer's JSON, digest sorted the way the peer prints it. */
export function rustJson(msg: ChitchatMessage): MessageJson {
  const j = messageToJson(msg);
  if (j.type === "syn" || j.type === "synAck") return { ...j, digest: sortDigestJson(j.digest) };
  return j;
}

/** Runs `f` with a started interop peer of `version` and closes the peer afterwards. */
export async function withPeer(
  f: (peer: InteropPeer) => Promise<void>,
  version: ChitchatVersion = "0.10.1",
): Promise<void> {
  const peer = await InteropPeer.start({ version });
  try {
    await f(peer);
  } finally {
    await peer.close();
  }
}

/** A zlayer-like delta of `records` base64url JSON values (~64 KiB raw at 400). */
export function realisticDelta(records = 500): Delta {
  const nodeDeltas: NodeDelta[] = [];
  let n = 0;
  for (let node = 0; n < records; node++) {
    const kvs: KeyValueMutation[] = [];
    for (let k = 1; k <= 25 && n < records; k++, n++) {
      const info = JSON.stringify({
        node_id: node * 1000 + k,
        wg_pubkey: "",
        wg_endpoint: `10.0.${node}.${k}:51820`,
        overlay_ip: `10.200.${node}.${k}`,
        labels: {},
      });
      const value = new TextEncoder().encode(info).toBase64({
        alphabet: "base64url",
        omitPadding: true,
      });
      kvs.push({ key: `worker:${node * 1000 + k}`, value, version: BigInt(k), status: "set" });
    }
    nodeDeltas.push({
      chitchatId: id(`worker:${node}`, 0n, "0.0.0.0", 7946),
      lastGcVersion: 0n,
      fromVersionExcluded: 0n,
      keyValues: kvs,
      maxVersion: BigInt(kvs.length),
    });
  }
  return { nodeDeltas };
}

/** `count` datagrams (seeded by `seed`): the codec vectors and 40 random messages, each copy
 * with one bit flipped or cut short. */
export function mutatedDatagrams(seed: number, count = 1500): Uint8Array[] {
  const r = createRandom(seed);
  const seeds = [...VECTORS.map((v) => encodeMessage(v.msg))];
  for (let i = 0; i < 40; i++) {
    seeds.push(encodeMessage(randomMessage(r), { compress: i % 2 === 0 }));
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const seed = seeds[r.int(seeds.length)]!;
    if (r.int(2) === 0) {
      const bytes = seed.slice();
      bytes[r.int(bytes.length)]! ^= 1 << r.int(8);
      out.push(bytes);
    } else {
      out.push(seed.subarray(0, r.int(seed.length + 1)));
    }
  }
  return out;
}

/** What hearsay and the peer make of `bytes`: the message, or the refusal (hearsay refuses only
 * with a DecodeError). */
export async function decodeBoth(
  peer: InteropPeer,
  bytes: Uint8Array,
): Promise<{ ours: ChitchatMessage | DecodeError; theirs: MessageJson | Error }> {
  let ours: ChitchatMessage | DecodeError;
  try {
    ours = decodeMessage(bytes);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    ours = e;
  }
  let theirs: MessageJson | Error;
  try {
    theirs = (await peer.decode(bytes)).message;
  } catch (e) {
    theirs = e as Error;
  }
  return { ours, theirs };
}
