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
import { phiKernel } from "../src/codec/wasm.ts";
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

// Bare kernels over the same 1000-slot table: one WASM call against a TypeScript loop.
const kernel = phiKernel();
const table = kernel.alloc(NODES * 32);
const random = createRandom(11);
{
  const f = new Float64Array(kernel.buffer(), table, NODES * 4);
  const u = new Uint32Array(kernel.buffer(), table, NODES * 8);
  for (let i = 0; i < NODES; i++) {
    f[i * 4] = 90 + random.next() * 20; // sum of 100 intervals of about 1 s
    f[i * 4 + 1] = 100_000 + random.next() * 1_000;
    u[i * 8 + 6] = WINDOW;
  }
}
const copy = new ArrayBuffer(NODES * 32);
new Uint8Array(copy).set(new Uint8Array(kernel.buffer(), table, NODES * 32));
const tf = new Float64Array(copy);
const tu = new Uint32Array(copy);

Deno.bench("bare kernel, 1000 slots: one WASM call", { group: "kernel", baseline: true }, () => {
  kernel.computeAll(table, NODES, 101_500, 5, 8);
});
Deno.bench("bare kernel, 1000 slots: TS loop", { group: "kernel" }, () => {
  for (let i = 0; i < NODES; i++) {
    const phi = phiReference(tf[i * 4]!, tu[i * 8 + 6]!, tf[i * 4 + 1]!, 101_500, 5) ?? NaN;
    tf[i * 4 + 2] = phi;
    tu[i * 8 + 7] = phi <= 8 ? 1 : 0;
  }
});

globalThis.addEventListener("unload", () => {
  if (sink === 42) console.log(sink);
});
