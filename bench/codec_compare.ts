/**
 * `deno run -A bench/codec_compare.ts`: hearsay's codec versus chitchat 0.10.1's serializer
 * (timed inside Rust through the interop peer, `deno task build:interop`) on the same bytes, in
 * one run. Prints a markdown table. chitchat's serialize always compresses, so the encode rows
 * compare against hearsay with `compress: true`.
 */
import { decodeMessage, encodeMessage } from "../src/message.ts";
import type { ChitchatMessage } from "../src/types.ts";
import { InteropPeer } from "../tests/interop/peer.ts";
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
    const rust = median(
      await Promise.all([1, 2, 3].map(() => peer.benchCodec(bytes, 2000))).then((rs) =>
        rs.map((r) => r.decodeNsPerOp)
      ),
    );
    const rustEnc = median(
      await Promise.all([1, 2, 3].map(() => peer.benchCodec(bytes, 2000))).then((rs) =>
        rs.map((r) => r.encodeNsPerOp)
      ),
    );
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
