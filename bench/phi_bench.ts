/**
 * phi for 1000 nodes with 100-sample windows: the WASM kernel against the pure-TypeScript
 * reference, both through the failure detector (bookkeeping included) and bare.
 *
 * Run: `deno bench -A bench/phi_bench.ts`
 */
import {
  DEFAULT_FAILURE_DETECTOR_CONFIG,
  FailureDetector,
  type PhiBackend,
  phiReference,
} from "../src/failure_detector/failure_detector.ts";
import { PhiTable } from "../src/codec/_phi_table.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { createRandom } from "../src/common/random.ts";

const NODES = 1_000;
const WINDOW = 100;
const config = { ...DEFAULT_FAILURE_DETECTOR_CONFIG, samplingWindowSize: WINDOW };
const keys = Array.from(
  { length: NODES },
  (_, i) => `node-${i}/${1_700_000_000 + i}/10.0.0.1:7946`,
);

function filled(backend: PhiBackend): { fd: FailureDetector; clock: VirtualClock } {
  const clock = new VirtualClock();
  const fd = new FailureDetector(config, clock, { backend });
  const random = createRandom(7);
  for (let beat = 0; beat <= WINDOW + 20; beat++) {
    for (const k of keys) fd.reportHeartbeat(k);
    clock.advance(900 + random.int(200));
  }
  fd.updateLiveness(keys);
  if (fd.liveNodes().length !== NODES) throw new Error("bench setup: every node must be live");
  return { fd, clock };
}

const wasm = filled("wasm");
const ts = filled("typescript");

Deno.bench(
  "updateLiveness, 1000 nodes: WASM batch",
  { group: "updateLiveness", baseline: true },
  () => {
    wasm.fd.updateLiveness(keys);
  },
);
Deno.bench("updateLiveness, 1000 nodes: TS reference", { group: "updateLiveness" }, () => {
  ts.fd.updateLiveness(keys);
});

let sink = 0;
Deno.bench("phi(key) x 1000: WASM", { group: "phi(key)", baseline: true }, () => {
  for (const k of keys) sink += wasm.fd.phi(k)!;
});
Deno.bench("phi(key) x 1000: TS reference", { group: "phi(key)" }, () => {
  for (const k of keys) sink += ts.fd.phi(k)!;
});

// Bare kernels over 1000-slot tables with the same contents (100 intervals of about 1 s per
// slot): one WASM call against a TypeScript loop over the same 64-byte slot layout.
const SLOT_F64 = 8;
const SLOT_U32 = 16;
const table = new PhiTable(globalThis);
table.grow(1024, 0);
const copy = new ArrayBuffer(NODES * 64);
const tf = new Float64Array(copy);
const tu = new Uint32Array(copy);
{
  const random = createRandom(11);
  const slots = new Uint32Array(NODES * (WINDOW + 1));
  const times = new Float64Array(slots.length);
  for (let i = 0; i < NODES; i++) {
    table.init(i);
    let t = 100_000 - (WINDOW + 1) * 1_000 + random.next() * 1_000;
    let sum = 0;
    for (let beat = 0; beat <= WINDOW; beat++) {
      const interval = 900 + random.next() * 200;
      if (beat > 0) sum += interval / 1000;
      t += beat > 0 ? interval : 0;
      slots[i * (WINDOW + 1) + beat] = i;
      times[i * (WINDOW + 1) + beat] = t;
    }
    tf[i * SLOT_F64] = sum;
    tf[i * SLOT_F64 + 1] = t;
    tu[i * SLOT_U32 + 6] = WINDOW;
  }
  table.reportMany(slots, times, slots.length, 10_000, WINDOW);
}

Deno.bench("bare kernel, 1000 slots: one WASM call", { group: "kernel", baseline: true }, () => {
  table.computeAll(NODES, 101_500, 5, 8);
});
Deno.bench("bare kernel, 1000 slots: TS loop", { group: "kernel" }, () => {
  for (let i = 0; i < NODES; i++) {
    const phi = phiReference(
      tf[i * SLOT_F64]!,
      tu[i * SLOT_U32 + 6]!,
      tf[i * SLOT_F64 + 1]!,
      101_500,
      5,
    ) ?? NaN;
    tf[i * SLOT_F64 + 2] = phi;
    tu[i * SLOT_U32 + 7] = phi <= 8 ? 1 : 0;
  }
});

globalThis.addEventListener("unload", () => {
  if (sink === 42) console.log(sink);
});
