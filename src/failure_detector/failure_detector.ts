/**
 * chitchat's phi-accrual failure detector (PROTOCOL.md §8), with the phi of every node computed
 * in one pass per gossip round.
 *
 * phi is chitchat's simplified form, not the classic `-log10(1 - CDF)`: the time since the last
 * heartbeat divided by a smoothed mean of the recent heartbeat intervals,
 *
 * ```text
 * mean = (sum of intervals + 5 · initialInterval) / (number of intervals + 5)
 * phi  = (now − last heartbeat) / mean          (all in seconds)
 * ```
 *
 * and a node is alive iff phi is defined (at least one interval) and `phi ≤ phiThreshold`.
 *
 * Data layout of the default `"wasm"` backend: a table of 64-byte slots in the WASM module's
 * memory (sum of intervals, count, last heartbeat, the phi / alive outputs and ring bookkeeping), one slot per
 * node that ever reported a heartbeat, reused after {@link FailureDetector.remove} or garbage
 * collection. The interval rings are in WASM memory too, as chains of 128-byte chunks that grow
 * lazily up to `samplingWindowSize` and are returned when a node is found dead. The detector
 * addresses slots by number through the codec's `PhiTable` (src/codec/_phi_table.ts). The
 * `"compact"` backend (`_compact_table.ts`) keeps each window in a fixed 100 bytes instead.
 *
 * @module
 */
import type { Clock } from "../common/clock.ts";
import { ConfigError } from "../common/errors.ts";
import { KeySerialIndex } from "../common/_key_serial.ts";
import { PhiTable } from "../codec/_phi_table.ts";
import { CompactTable } from "./_compact_table.ts";
import { phiOf, smoothedMeanSecs } from "./_phi.ts";

/** Settings of the failure detector (chitchat's `FailureDetectorConfig`, times in
 * milliseconds).
 *
 * @example
 * ```ts
 * import { DEFAULT_FAILURE_DETECTOR_CONFIG, type FailureDetectorConfig } from "./failure_detector.ts";
 * const cfg: FailureDetectorConfig = { ...DEFAULT_FAILURE_DETECTOR_CONFIG, phiThreshold: 12 };
 * console.log(cfg.phiThreshold, cfg.samplingWindowSize); // 12 1000
 * ```
 */
export interface FailureDetectorConfig {
  /** A node is alive iff its phi is defined and at most this (chitchat: 8). */
  readonly phiThreshold: number;
  /** How many of the most recent heartbeat intervals are kept per node (chitchat: 1000). */
  readonly samplingWindowSize: number;
  /** Heartbeat intervals longer than this are discarded, not clamped (chitchat: 10 s). */
  readonly maxIntervalMs: number;
  /** Prior mean interval, weighted as 5 samples in the smoothed mean (chitchat: 5 s). */
  readonly initialIntervalMs: number;
  /** A dead node is removed this long after its time of death, and left out of digests and
   * deltas after half of it (chitchat: 24 h). */
  readonly deadNodeGracePeriodMs: number;
}

/** chitchat 0.10.1's `FailureDetectorConfig::default()`.
 *
 * @example
 * ```ts
 * import { DEFAULT_FAILURE_DETECTOR_CONFIG } from "./failure_detector.ts";
 * console.log(DEFAULT_FAILURE_DETECTOR_CONFIG.phiThreshold); // 8
 * ```
 */
export const DEFAULT_FAILURE_DETECTOR_CONFIG: FailureDetectorConfig = Object.freeze({
  phiThreshold: 8,
  samplingWindowSize: 1_000,
  maxIntervalMs: 10_000,
  initialIntervalMs: 5_000,
  deadNodeGracePeriodMs: 24 * 60 * 60 * 1_000,
});

/** Largest accepted `samplingWindowSize` (2^24 intervals, 128 MiB per node when full). */
export const MAX_SAMPLING_WINDOW_SIZE = 16_777_216;

/** Checks a {@link FailureDetectorConfig}; throws a {@link ConfigError} naming the first bad
 * field and what was expected.
 *
 * @example
 * ```ts
 * import { DEFAULT_FAILURE_DETECTOR_CONFIG, validateFailureDetectorConfig } from "./failure_detector.ts";
 * validateFailureDetectorConfig(DEFAULT_FAILURE_DETECTOR_CONFIG);
 * try {
 *   validateFailureDetectorConfig({ ...DEFAULT_FAILURE_DETECTOR_CONFIG, samplingWindowSize: 0 });
 * } catch (e) {
 *   console.log((e as Error).message);
 * }
 * ```
 */
export function validateFailureDetectorConfig(cfg: FailureDetectorConfig): void {
  if (typeof cfg !== "object" || cfg === null) {
    throw new ConfigError("failureDetector", `must be an object, got ${describe(cfg)}`);
  }
  const positive = (field: keyof FailureDetectorConfig): void => {
    const v: unknown = cfg[field];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new ConfigError(field, `must be a finite positive number, got ${describe(v)}`);
    }
  };
  positive("phiThreshold");
  const w: unknown = cfg.samplingWindowSize;
  if (
    typeof w !== "number" || !Number.isInteger(w) || w < 1 || w > MAX_SAMPLING_WINDOW_SIZE
  ) {
    throw new ConfigError(
      "samplingWindowSize",
      `must be an integer in 1..${MAX_SAMPLING_WINDOW_SIZE}, got ${describe(w)}`,
    );
  }
  positive("maxIntervalMs");
  positive("initialIntervalMs");
  positive("deadNodeGracePeriodMs");
}

function describe(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/** The phi arithmetic in plain TypeScript, operation for operation what the WASM kernel does
 * (so results are bit-identical). Used by tests and benchmarks to cross-check the kernel.
 * `undefined` when there is no stored interval.
 *
 * @param sumSecs sum of the stored intervals, in seconds
 * @param count number of stored intervals
 * @param lastHeartbeatMs time of the last heartbeat (clock milliseconds)
 * @param nowMs current time (clock milliseconds); elapsed time saturates at 0
 * @param priorSecs `initialIntervalMs / 1000`
 *
 * @example
 * ```ts
 * import { phiReference } from "./failure_detector.ts";
 * // one interval of 1 s, 34.7 s of silence, default prior of 5 s: phi just above 8
 * console.log(phiReference(1, 1, 0, 34_700, 5)); // 8.0076...
 * ```
 */
export function phiReference(
  sumSecs: number,
  count: number,
  lastHeartbeatMs: number,
  nowMs: number,
  priorSecs: number,
): number | undefined {
  return count === 0 ? undefined : phiOf(sumSecs, count, lastHeartbeatMs, nowMs, priorSecs);
}

/** Where the windows live and phi is computed: `"wasm"` (default: every interval in the WASM
 * module's memory, chitchat's exact window, phi in one WASM call), `"compact"` (a fixed 100
 * bytes per node in a JavaScript typed array, the window kept as block sums, see
 * `_compact_table.ts`: for large clusters, where 8 bytes per stored interval add up) or
 * `"typescript"`, the same data layout and bookkeeping with {@link phiReference} as the WASM
 * kernel (for cross-checks and benchmarks). All three give bit-identical phi until a
 * window first fills (and always for windows of at most 8 intervals).
 *
 * @example
 * ```ts
 * import type { PhiBackend } from "./failure_detector.ts";
 * const b: PhiBackend = "typescript";
 * console.log(b); // typescript
 * ```
 */
export type PhiBackend = "compact" | "wasm" | "typescript";

/** Options of {@link FailureDetector} beyond its config.
 *
 * @example
 * ```ts
 * import type { FailureDetectorOptions } from "./failure_detector.ts";
 * const o: FailureDetectorOptions = { backend: "wasm" };
 * console.log(o.backend); // wasm
 * ```
 */
export interface FailureDetectorOptions {
  /** Where phi is computed (default `"wasm"`). */
  readonly backend?: PhiBackend;
}

/** Slot layout, shared with wasm/assembly/phi.ts: 8 f64 / 16 u32 per slot (the WASM backend
 * also keeps its ring bookkeeping in the slot's second half). */
const SLOT_BYTES = 64;
const SLOT_F64 = SLOT_BYTES / 8;
const SLOT_U32 = SLOT_BYTES / 4;
const F_SUM = 0; // f64 index within a slot
const F_LAST = 1;
const F_PHI = 2;
const U_COUNT = 6; // u32 index within a slot
const U_ALIVE = 7;
const FIRST_CAPACITY = 16;
/** Heartbeat reports queued at most before they are applied anyway. */
const MAX_PENDING = 1 << 10;

/** A table of slots and the interval rings behind them, addressed by slot number: the WASM
 * backend's {@link PhiTable} or the TypeScript backend's {@link TsTable}. */
interface SlotTable {
  readonly capacity: number;
  /** Grows to `capacity` slots, keeping the contents of the first `used`. */
  grow(capacity: number, used: number): void;
  /** Records a heartbeat of `slot` at `nowMs` (see `phiReport` in wasm/assembly/phi.ts). */
  report(slot: number, nowMs: number, maxIntervalMs: number, window: number): void;
  /** {@link SlotTable.report} of `slots[i]` at `times[i]` for `i < count`, in order. */
  reportMany(
    slots: Uint32Array,
    times: Float64Array,
    count: number,
    maxIntervalMs: number,
    window: number,
  ): void;
  /** Drops the intervals of `slot`; keeps its last heartbeat. */
  clear(slot: number): void;
  /** Empties `slot`: no interval, no heartbeat. */
  reset(slot: number): void;
  /** Makes `slot` empty without reading it (never used, or already reset). */
  init(slot: number): void;
  /** Computes phi and the alive flag of slots `0..slots`. */
  computeAll(slots: number, nowMs: number, priorSecs: number, threshold: number): void;
  /** The alive flag of `slot` as the last `computeAll` set it. */
  isAlive(slot: number): boolean;
  phiAt(slot: number, nowMs: number, priorSecs: number): number;
  /** The stored intervals of `slot`: their sum in seconds and their number. */
  intervals(slot: number): { sumSecs: number; count: number };
}

/** The TypeScript backend: the same slot layout in a JavaScript buffer, with the rings as
 * plain arrays per slot, an implementation independent of the WASM chunk chains (tests compare
 * the two bit for bit). */
class TsTable implements SlotTable {
  capacity = 0;
  f64: Float64Array = new Float64Array(0);
  u32: Uint32Array = new Uint32Array(0);
  /** Ring of intervals per slot, its write position once full, and whether it is full. */
  readonly #rings: { ring: number[]; index: number; filled: boolean }[] = [];

  grow(capacity: number, used: number): void {
    const buf = new ArrayBuffer(capacity * SLOT_BYTES);
    new Uint8Array(buf).set(new Uint8Array(this.f64.buffer, 0, used * SLOT_BYTES));
    this.f64 = new Float64Array(buf);
    this.u32 = new Uint32Array(buf);
    this.capacity = capacity;
  }

  report(slot: number, nowMs: number, maxIntervalMs: number, window: number): void {
    const f = this.f64;
    const at = slot * SLOT_F64;
    const last = f[at + F_LAST]!;
    if (!Number.isNaN(last)) {
      const ms = nowMs > last ? nowMs - last : 0;
      if (ms <= maxIntervalMs) {
        const secs = ms / 1000;
        const r = this.#rings[slot]!;
        const sum = f[at + F_SUM]!;
        if (r.filled) {
          const old = r.ring[r.index]!;
          r.ring[r.index] = secs;
          if (++r.index === r.ring.length) r.index = 0;
          f[at + F_SUM] = (sum - old) + secs;
        } else {
          r.ring.push(secs);
          f[at + F_SUM] = sum + secs;
          if (r.ring.length === window) r.filled = true;
        }
        this.u32[slot * SLOT_U32 + U_COUNT] = r.ring.length;
      }
    }
    f[at + F_LAST] = nowMs;
  }

  reportMany(
    slots: Uint32Array,
    times: Float64Array,
    count: number,
    maxIntervalMs: number,
    window: number,
  ): void {
    for (let i = 0; i < count; i++) this.report(slots[i]!, times[i]!, maxIntervalMs, window);
  }

  clear(slot: number): void {
    this.#rings[slot] = { ring: [], index: 0, filled: false };
    this.f64[slot * SLOT_F64 + F_SUM] = 0;
    this.u32[slot * SLOT_U32 + U_COUNT] = 0;
  }

  reset(slot: number): void {
    this.clear(slot);
    this.f64[slot * SLOT_F64 + F_LAST] = NaN;
    this.f64[slot * SLOT_F64 + F_PHI] = NaN;
    this.u32[slot * SLOT_U32 + U_ALIVE] = 0;
  }

  init(slot: number): void {
    this.reset(slot);
  }

  computeAll(slots: number, nowMs: number, priorSecs: number, threshold: number): void {
    const f = this.f64;
    const u = this.u32;
    for (let i = 0; i < slots; i++) {
      const phi = phiReference(
        f[i * SLOT_F64 + F_SUM]!,
        u[i * SLOT_U32 + U_COUNT]!,
        f[i * SLOT_F64 + F_LAST]!,
        nowMs,
        priorSecs,
      ) ??
        NaN;
      f[i * SLOT_F64 + F_PHI] = phi;
      u[i * SLOT_U32 + U_ALIVE] = phi <= threshold ? 1 : 0;
    }
  }

  isAlive(slot: number): boolean {
    return this.u32[slot * SLOT_U32 + U_ALIVE] === 1;
  }

  intervals(slot: number): { sumSecs: number; count: number } {
    return {
      sumSecs: this.f64[slot * SLOT_F64 + F_SUM]!,
      count: this.u32[slot * SLOT_U32 + U_COUNT]!,
    };
  }

  phiAt(slot: number, nowMs: number, priorSecs: number): number {
    const f = this.f64;
    return phiReference(
      f[slot * SLOT_F64 + F_SUM]!,
      this.u32[slot * SLOT_U32 + U_COUNT]!,
      f[slot * SLOT_F64 + F_LAST]!,
      nowMs,
      priorSecs,
    ) ?? NaN;
  }
}

/** The token {@link FailureDetector.reportHeartbeat} returns: one object for every report, so
 * that a caller keeping it per node stores a pointer, not an object per node. */
const TOKEN: object = Object.freeze({});

/** `to` (a larger column) with `from`'s values at its start. */
function grown<T extends Uint8Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** chitchat's failure detector, keyed by a stable string per node (the engine uses one per
 * `ChitchatId`). Times come from the {@link Clock} in milliseconds; intervals and phi are
 * computed in seconds as chitchat does.
 *
 * - {@link FailureDetector.reportHeartbeat} when a node's heartbeat increased;
 * - {@link FailureDetector.updateLiveness} at the end of every gossip round, for all known nodes
 *   except self: one WASM call computes every phi;
 * - {@link FailureDetector.garbageCollect} afterwards to drop nodes dead for the grace period.
 *
 * A node that never produced an interval is dead as soon as it is evaluated ("dead" includes
 * "not yet confirmed alive"): it takes three heartbeat increases (the first is remembered, the
 * second starts the window, the third gives the first interval) to be seen alive.
 *
 * @example
 * ```ts
 * import { FailureDetector, DEFAULT_FAILURE_DETECTOR_CONFIG } from "./failure_detector.ts";
 * import { VirtualClock } from "../common/virtual_clock.ts";
 * const clock = new VirtualClock();
 * const fd = new FailureDetector(DEFAULT_FAILURE_DETECTOR_CONFIG, clock);
 * for (let i = 0; i < 3; i++) {
 *   fd.reportHeartbeat("node-a");
 *   clock.advance(1_000);
 * }
 * fd.updateLiveness(["node-a", "node-b"]);
 * console.log(fd.liveNodes(), fd.deadNodes()); // [ "node-a" ] [ "node-b" ]
 * ```
 */
export class FailureDetector {
  readonly #config: FailureDetectorConfig;
  readonly #clock: Clock;
  readonly #priorSecs: number;
  readonly #table: SlotTable;
  /** Slot by key, for nodes that reported a heartbeat (`KeySerialIndex`: 4 bytes per key of the
   * process instead of a Map entry per node, which is what a simulation of thousands of nodes in
   * one process holds most of). */
  readonly #slots = new KeySerialIndex((slot) => this.#keyOf[slot], () => this.#keyOf.length);
  /** By slot: 1 when the slot's node is in the live set, else 0. */
  #liveFlags: Uint8Array = new Uint8Array(0);
  /** The live set in the order its nodes became live: a list threaded through the slots
   * (`#next`/`#prev` by slot, -1 ends it), with each slot's key in `#keyOf`. A set of keys
   * cost ~35 bytes per node; this costs 16. */
  #next: Int32Array = new Int32Array(0);
  #prev: Int32Array = new Int32Array(0);
  #head = -1;
  #tail = -1;
  /** Key by slot (undefined for a free slot). */
  readonly #keyOf: (string | undefined)[] = [];
  /** Free slot numbers below `#used`. */
  readonly #free: number[] = [];
  /** Slots `0..#used` have been handed out at least once (the kernel scans them all). */
  #used = 0;
  #livenessVersion = 0;
  /** Heartbeat reports not yet applied, in order: slot numbers and times. */
  #pending = new Uint32Array(64);
  #pendingTimes = new Float64Array(64);
  #pendingCount = 0;
  /** Cache of the earliest time of death in `#dead` (undefined: unknown). */
  #earliest: number | undefined = undefined;
  /** Dead nodes and their time of death. */
  readonly #dead = new Map<string, number>();

  /** Creates a detector; validates `config` (throws {@link ConfigError}). */
  constructor(config: FailureDetectorConfig, clock: Clock, options: FailureDetectorOptions = {}) {
    validateFailureDetectorConfig(config);
    this.#config = { ...config };
    this.#clock = clock;
    this.#priorSecs = config.initialIntervalMs / 1000;
    const backend = options.backend ?? "wasm";
    if (backend === "compact") this.#table = new CompactTable();
    else if (backend === "wasm") this.#table = new PhiTable(this);
    else if (backend === "typescript") this.#table = new TsTable();
    else {throw new ConfigError(
        "backend",
        `must be "compact", "wasm" or "typescript", got ${describe(backend)}`,
      );}
  }

  /** The config in use. */
  get config(): FailureDetectorConfig {
    return this.#config;
  }

  /** Records a heartbeat increase of `key` now. The interval since the previous one becomes a
   * sample if it is at most `maxIntervalMs` (longer gaps are discarded); the last-heartbeat time
   * moves to now either way.
   *
   * Returns an opaque token that may be passed back with the next report of `key`. It is the
   * same object for every report and the key is always looked up (a per-node token cost more
   * memory than the lookup costs time), so any token, stale or not, is accepted and ignored. */
  reportHeartbeat(key: string, _token?: object): object {
    const now = this.#clock.now();
    const slot = this.#slots.get(key) ?? this.#allocate(key);
    // Queued with its time and applied in order before the next read: a digest reports hundreds
    // of nodes, and one call into WASM for all of them is much cheaper than one each.
    if (this.#pendingCount === this.#pending.length) {
      if (this.#pendingCount >= MAX_PENDING) this.#flush();
      else {
        const slots = new Uint32Array(this.#pending.length * 2);
        slots.set(this.#pending);
        this.#pending = slots;
        const times = new Float64Array(slots.length);
        times.set(this.#pendingTimes);
        this.#pendingTimes = times;
      }
    }
    this.#pending[this.#pendingCount] = slot;
    this.#pendingTimes[this.#pendingCount++] = now;
    return TOKEN;
  }

  /** The current phi of `key`, or undefined when it has no stored interval (never two
   * heartbeats in a row within `maxIntervalMs`, or cleared by being found dead). */
  phi(key: string): number | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    this.#flush();
    const phi = this.#table.phiAt(slot, this.#clock.now(), this.#priorSecs);
    return Number.isNaN(phi) ? undefined : phi;
  }

  /** How long `key` may stay silent (no heartbeat increase) before its phi passes the
   * threshold, in ms: the smoothed mean heartbeat interval times `phiThreshold`, the mean being
   * (sum of the stored intervals + 5 × `initialIntervalMs`) / (number of intervals + 5).
   * chitchat 0.12+'s `failure_detection_timeout`, in milliseconds. Undefined when `key` has no
   * stored interval: unknown, fewer than two heartbeats, or cleared when it was found dead. The
   * node is only declared dead at the next liveness evaluation after that (a gossip round).
   *
   * @example
   * ```ts
   * import { FailureDetector, DEFAULT_FAILURE_DETECTOR_CONFIG } from "./failure_detector.ts";
   * import { VirtualClock } from "../common/virtual_clock.ts";
   * const clock = new VirtualClock();
   * const fd = new FailureDetector({ ...DEFAULT_FAILURE_DETECTOR_CONFIG, initialIntervalMs: 100 }, clock);
   * for (let i = 0; i < 6; i++) {
   *   fd.reportHeartbeat("b");
   *   await clock.advance(100);
   * }
   * // five 100 ms intervals and the 100 ms prior: mean 100 ms, times phi 8
   * console.log(fd.failureDetectionTimeoutMs("b"), fd.failureDetectionTimeoutMs("z")); // 800 undefined
   * ```
   */
  failureDetectionTimeoutMs(key: string): number | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    this.#flush();
    const { sumSecs, count } = this.#table.intervals(slot);
    if (count === 0) return undefined;
    return smoothedMeanSecs(sumSecs, count, this.#priorSecs) * this.#config.phiThreshold * 1000;
  }

  /** Evaluates every node in `keys` at the current time with one WASM call: alive iff phi is
   * defined and at most the threshold. A node not alive becomes (or stays) dead, keeps its first
   * time of death, and has its intervals cleared (its last-heartbeat time is kept). */
  updateLiveness(keys: Iterable<string>): void {
    const now = this.#clock.now();
    const t = this.#table;
    this.#flush();
    if (this.#used > 0) t.computeAll(this.#used, now, this.#priorSecs, this.#config.phiThreshold);
    // A key is in the live list exactly when it has a window marked live, so the sets are only
    // touched (and the version only moves) when a node changes sides.
    const flags = this.#liveFlags;
    for (const key of keys) {
      const slot = this.#slots.get(key);
      if (slot !== undefined && t.isAlive(slot)) {
        if (flags[slot] === 0) {
          flags[slot] = 1;
          this.#link(slot);
          this.#undead(key);
          this.#livenessVersion++;
        }
      } else {
        if (slot !== undefined) {
          if (flags[slot] === 1) {
            flags[slot] = 0;
            this.#unlink(slot);
          }
          this.#table.clear(slot);
        }
        if (!this.#dead.has(key)) {
          this.#dead.set(key, now);
          if (this.#earliest !== undefined && now < this.#earliest) this.#earliest = now;
          this.#livenessVersion++;
        }
      }
    }
  }

  /** A counter that moves whenever the live or the dead set changes: equal values mean the
   * same live and dead nodes. */
  get livenessVersion(): number {
    return this.#livenessVersion;
  }

  /** Nodes found alive at their last evaluation. */
  liveNodes(): string[] {
    const out: string[] = [];
    const next = this.#next;
    const keyOf = this.#keyOf;
    for (let slot = this.#head; slot !== -1; slot = next[slot]!) out.push(keyOf[slot]!);
    return out;
  }

  /** Whether `key` was found alive at its last evaluation. */
  isLive(key: string): boolean {
    const slot = this.#slots.get(key);
    return slot !== undefined && this.#liveFlags[slot] === 1;
  }

  /** Nodes found dead (or never confirmed alive) at their last evaluation. */
  deadNodes(): string[] {
    return [...this.#dead.keys()];
  }

  /** When `key` was first found dead (clock ms), or undefined when it is not dead. */
  timeOfDeath(key: string): number | undefined {
    return this.#dead.get(key);
  }

  /** Dead nodes past half the grace period (`timeOfDeath + grace/2 < now`): these are left out
   * of digests and deltas. */
  scheduledForDeletion(): string[] {
    const out: string[] = [];
    if (this.#dead.size === 0) return out;
    const now = this.#clock.now();
    const half = this.#config.deadNodeGracePeriodMs / 2;
    // Asked for every message: skip the walk while even the earliest death is too recent.
    if (!(this.#earliestDeath() + half < now)) return out;
    this.#dead.forEach((tod, key) => {
      if (tod + half < now) out.push(key);
    });
    return out;
  }

  /** Takes `key` out of the dead set; returns whether it was there. */
  #undead(key: string): boolean {
    const tod = this.#dead.get(key);
    if (tod === undefined) return false;
    this.#dead.delete(key);
    if (tod === this.#earliest) this.#earliest = undefined;
    return true;
  }

  /** The earliest time of death (computed again only after that node left the dead set). */
  #earliestDeath(): number {
    if (this.#earliest === undefined) {
      let min = Infinity;
      this.#dead.forEach((tod) => {
        if (tod < min) min = tod;
      });
      this.#earliest = min;
    }
    return this.#earliest;
  }

  /** Removes and returns the dead nodes whose grace period is over
   * (`now ≥ timeOfDeath + grace`). */
  garbageCollect(): string[] {
    const now = this.#clock.now();
    const grace = this.#config.deadNodeGracePeriodMs;
    const out: string[] = [];
    // Called every round: skip the walk while even the earliest death is too recent.
    if (this.#dead.size === 0 || !(now >= this.#earliestDeath() + grace)) return out;
    this.#dead.forEach((tod, key) => {
      if (now >= tod + grace) out.push(key);
    });
    for (const key of out) this.remove(key);
    return out;
  }

  /** Forgets everything about `key`; returns whether anything was known. Its slot is reused. */
  remove(key: string): boolean {
    this.#flush();
    const slot = this.#slots.get(key);
    let known = false;
    if (slot !== undefined && this.#liveFlags[slot] === 1) {
      this.#unlink(slot);
      known = true;
    }
    known = this.#undead(key) || known;
    if (known) this.#livenessVersion++;
    if (slot === undefined) return known;
    this.#slots.delete(key);
    this.#keyOf[slot] = undefined;
    this.#liveFlags[slot] = 0;
    this.#table.reset(slot);
    this.#free.push(slot);
    return true;
  }

  /** Appends `slot` to the live list. */
  #link(slot: number): void {
    this.#prev[slot] = this.#tail;
    this.#next[slot] = -1;
    if (this.#tail === -1) this.#head = slot;
    else this.#next[this.#tail] = slot;
    this.#tail = slot;
  }

  /** Takes `slot` out of the live list. */
  #unlink(slot: number): void {
    const p = this.#prev[slot]!;
    const n = this.#next[slot]!;
    if (p === -1) this.#head = n;
    else this.#next[p] = n;
    if (n === -1) this.#tail = p;
    else this.#prev[n] = p;
  }

  /** Applies the queued heartbeat reports. */
  #flush(): void {
    const n = this.#pendingCount;
    if (n === 0) return;
    this.#pendingCount = 0;
    const c = this.#config;
    this.#table.reportMany(
      this.#pending,
      this.#pendingTimes,
      n,
      c.maxIntervalMs,
      c.samplingWindowSize,
    );
  }

  #allocate(key: string): number {
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#used++;
      if (slot >= this.#table.capacity) {
        // By a quarter, not double: a node's table holds a slot per peer for as long as it
        // lives, so the slack is steady-state memory (up to 100 % of it when doubling).
        const c = this.#table.capacity;
        this.#table.grow(Math.max(FIRST_CAPACITY, c + (c >>> 2)), slot);
      }
      if (slot >= this.#liveFlags.length) {
        const capacity = this.#table.capacity;
        this.#liveFlags = grown(this.#liveFlags, new Uint8Array(capacity));
        this.#next = grown(this.#next, new Int32Array(capacity));
        this.#prev = grown(this.#prev, new Int32Array(capacity));
      }
    }
    this.#keyOf[slot] = key;
    this.#slots.set(key, slot);
    // A slot from the free list was reset when its node was removed (and its flag cleared).
    this.#table.init(slot);
    return slot;
  }
}
