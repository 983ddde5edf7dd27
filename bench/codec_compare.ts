/**
 * `deno run -A bench/codec_compare.ts`: hearsay's codec versus chitchat 0.10.1's serializer
 * (timed inside Rust through the interop peer, `deno task build:interop`) on the same bytes, in
 * one run. Prints a markdown table. chitchat's serialize always compresses, so the encode rows
 * compare against hearsay with `compress: true`.
 */
import * as zlib from "node:zlib";
import { decodeMessage, encodeMessage } from "../src/codec/message.ts";
import type { ChitchatMessage } from "../src/common/types.ts";
import { InteropPeer } from "../interop/peer.ts";
import { ACK, RECORDS, SYN } from "./codec_fixtures.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median ns per call over `rounds` rounds of `iterations` calls. */
function time(f: () => void, iterations: number, rounds = 15): number {
  for (let i = 0; i < iterations; i++) f(); // warm up
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) f();
    per.push(((performance.now() - t0) * 1e6) / iterations);
  }
  return median(per);
}

const cases: { name: string; msg: ChitchatMessage; compress: boolean }[] = [
  { name: `Ack, ${RECORDS}-record delta, raw blocks`, msg: ACK, compress: false },
  { name: `Ack, ${RECORDS}-record delta, zstd blocks`, msg: ACK, compress: true },
  { name: "Syn, 1000-node digest", msg: SYN, compress: false },
];

const peer = await InteropPeer.start();
const rows: string[] = [];
try {
  for (const c of cases) {
    const bytes = encodeMessage(c.msg, { compress: c.compress });
    const iterations = 300;
    const oursDecode = time(() => decodeMessage(bytes), iterations);
    const oursEncode = time(() => encodeMessage(c.msg), iterations);
    // One Rust run at a time: concurrent runs would share this machine's cores (and look slower).
    const runs = [];
    for (let r = 0; r < 3; r++) runs.push(await peer.benchCodec(bytes, 2000));
    const rust = median(runs.map((r) => r.decodeNsPerOp));
    const rustEnc = median(runs.map((r) => r.encodeNsPerOp));
    // Throughput is measured on the logical (uncompressed) message size.
    const logical = encodeMessage(c.msg, { compress: false }).length;
    const mbs = (ns: number) => (logical / ns * 1e3).toFixed(0);
    const us = (ns: number) => (ns / 1e3).toFixed(1);
    rows.push(
      `| ${c.name} (${bytes.length} B on the wire) | decode | ${us(oursDecode)} µs, ${
        mbs(oursDecode)
      } MB/s | ${us(rust)} µs, ${mbs(rust)} MB/s | ${(rust / oursDecode).toFixed(2)} |`,
    );
    if (c.compress || c.msg.type === "syn") {
      rows.push(
        `| ${c.name} | encode | ${us(oursEncode)} µs, ${mbs(oursEncode)} MB/s | ${
          us(rustEnc)
        } µs, ${mbs(rustEnc)} MB/s | ${(rustEnc / oursEncode).toFixed(2)} |`,
      );
    }
  }
} finally {
  await peer.close();
}
console.log("| message | op | hearsay (WASM + JS) | chitchat 0.10.1 (Rust) | speed vs chitchat |");
console.log("|---|---|---|---|---|");
for (const r of rows) console.log(r);
console.log(
  "\nMB/s = uncompressed message bytes per second; 'speed vs chitchat' > 1 means hearsay is faster.",
);

// How much of the zstd rows is zstd itself: node:zlib's one-shot calls on the Ack's blocks (the
// codec reuses one context per direction where the runtime allows it; see src/codec/_zstd.ts).
const ops = encodeMessage(ACK, { compress: false });
const blocks: Uint8Array[] = [];
for (let p = 4; ops[p] !== 0;) {
  const n = ops[p + 1]! | (ops[p + 2]! << 8);
  blocks.push(ops.slice(p + 3, p + 3 + n));
  p += 3 + n;
}
const level3 = (n: number) =>
  ({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 }, pledgedSrcSize: n }) as Parameters<
    typeof zlib.zstdCompressSync
  >[1];
const frames = blocks.map((b) => zlib.zstdCompressSync(b, level3(b.length)));
const comp = time(() => {
  for (const b of blocks) zlib.zstdCompressSync(b, level3(b.length));
}, 300);
const decomp = time(() => {
  for (const f of frames) zlib.zstdDecompressSync(f);
}, 300);
console.log(
  `zstd alone on the Ack's ${blocks.length} blocks, node:zlib one-shot API: compress ${
    (comp / 1e3).toFixed(1)
  } µs, decompress ${(decomp / 1e3).toFixed(1)} µs.`,
);
