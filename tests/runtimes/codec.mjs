// The codec of the built package on whatever runtime runs this file: encodes and decodes the cases
// in the JSON file argv[3] (u64 values as {"$u64": "digits"}) and prints one JSON line of hex bytes
// and decoded values, for tests/runtimes_test.ts to compare with Deno's.
import process from "node:process";
import { readFileSync } from "node:fs";

const [pkg, casesPath] = process.argv.slice(2);
const codec = await import(`${pkg}/src/codec/mod.js`);
const zstd = await import(`${pkg}/src/codec/_zstd.js`);

const fromJson = (text) =>
  JSON.parse(
    text,
    (_k, v) => (v !== null && typeof v === "object" && "$u64" in v ? BigInt(v.$u64) : v),
  );
const toJson = (value) =>
  JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? { $u64: v.toString() } : v));
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);

const cases = fromJson(readFileSync(casesPath, "utf8"));
const out = { messages: [], deltas: [], decoded: [] };
for (const msg of cases.messages) {
  const bytes = codec.encodeMessage(msg);
  out.messages.push({ hex: hex(bytes), decoded: codec.decodeMessage(bytes) });
}
for (const delta of cases.deltas) {
  const bytes = codec.encodeDelta(delta);
  out.deltas.push({ hex: hex(bytes), decoded: codec.decodeDelta(bytes) });
}
for (const h of cases.decode) out.decoded.push(codec.decodeMessage(unhex(h)));
// Which zstd paths ran: the reuse this runtime allows, and the reused contexts still open after
// the compressed blocks above (a context that failed its self-check is not).
const zstdPaths = { allowed: zstd.zstdReuse, inUse: zstd.reusedZstdInUse() };
process.stdout.write(toJson(out) + "\n" + toJson(zstdPaths) + "\n");
