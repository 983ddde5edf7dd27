// `deno bench -A bench/codec_bench.ts`: the codec on a ~64 KiB delta and a 1000-node digest.
import { decodeMessage, encodeMessage } from "../src/codec/message.ts";
import { DeltaWriter } from "../src/codec/delta.ts";
import { ACK, DELTA, RECORDS, SYN } from "./codec_fixtures.ts";

const ackRaw = encodeMessage(ACK, { compress: false });
const ackZstd = encodeMessage(ACK);
const syn = encodeMessage(SYN);
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

function writeDelta(compress: boolean, batched = true): Uint8Array {
  const w = new DeltaWriter({ budget: 65503, compress });
  for (const nd of DELTA.nodeDeltas) {
    w.tryAddNode(nd.chitchatId, nd.lastGcVersion, nd.fromVersionExcluded);
    if (batched) w.tryAddKeyValues(nd.keyValues);
    else for (const kv of nd.keyValues) w.tryAddKeyValue(kv);
  }
  return w.finish();
}

Deno.bench(`encode delta, raw blocks (${RECORDS} records, ${kb(ackRaw.length)})`, {
  group: "delta encode",
  baseline: true,
}, () => {
  writeDelta(false);
});
Deno.bench(`encode delta, raw blocks, one tryAddKeyValue per record`, {
  group: "delta encode",
}, () => {
  writeDelta(false, false);
});
Deno.bench(`encode delta, zstd blocks (${kb(ackRaw.length)} -> ${kb(ackZstd.length)})`, {
  group: "delta encode",
}, () => {
  writeDelta(true);
});
Deno.bench(`decode delta, raw blocks (${RECORDS} records, ${kb(ackRaw.length)})`, {
  group: "delta decode",
  baseline: true,
}, () => {
  decodeMessage(ackRaw);
});
Deno.bench(`decode delta, zstd blocks (${kb(ackZstd.length)})`, { group: "delta decode" }, () => {
  decodeMessage(ackZstd);
});
Deno.bench(`encode Syn, 1000-node digest (${kb(syn.length)})`, { group: "digest" }, () => {
  encodeMessage(SYN);
});
Deno.bench(`decode Syn, 1000-node digest (${kb(syn.length)})`, { group: "digest" }, () => {
  decodeMessage(syn);
});
