/**
 * One shard of the sharded cluster simulation (`cluster_shards.ts`): a thread (a Deno Worker)
 * that owns the nodes `i` with `i % threads === shard`, each a real `GossipNode` on this
 * thread's own `VirtualClock`, connected by a small shard-local network that delivers every
 * datagram exactly `delayMs` after it was sent. Its endpoints are the in-memory network's
 * (`src/transport/_endpoint.ts`), so they count and deliver as `MemoryNetwork`'s do. Every datagram goes into an outbox, one batch (one ArrayBuffer)
 * per destination shard per window, which the coordinator routes (batches for this shard come
 * straight back): deliveries are then scheduled in one canonical order, so the figures do not
 * depend on the sharding.
 *
 * The coordinator drives the thread with requests ({@link ShardRequest}); the thread answers
 * each with exactly one {@link ShardReply}. A `step` request carries the window end `end`
 * (exclusive): the thread schedules the inbound batches, runs every timer due before `end`, and
 * answers with its outbound batches, its next due time and what its nodes observed.
 *
 * Batch format (little-endian), repeated: `from: u32, to: u32, deliverAt: f64, seq: u32,
 * length: u32`, then `length` bytes of datagram (`seq`: the sending shard's send counter).
 *
 * @module
 */
import { GossipNode } from "../src/node/gossip_node.ts";
import { createRandom, type Random } from "../src/common/random.ts";
import { VirtualClock } from "../src/common/virtual_clock.ts";
import { DatagramEndpoint } from "../src/transport/_endpoint.ts";
import type { SocketAddr } from "../src/common/types.ts";
import { MAX_DATAGRAM_SIZE } from "../src/codec/wire.ts";
import { PROPAGATION_KEY, simAddr, simNodeOptions, type SimSettings } from "./scenarios.ts";

/** Parameters of one shard, sent once in the `init` request.
 *
 * @example
 * ```ts
 * import type { ShardConfig } from "./shard_thread.ts";
 * const c: ShardConfig = {
 *   shard: 1, threads: 2, numNodes: 10, gossipIntervalMs: 1000, initialIntervalMs: 1000,
 *   phiThreshold: 8, lossRate: 0, seed: 1, delayMs: 1,
 * };
 * // Shard 1 of 2 owns the odd nodes.
 * console.log(Array.from({ length: c.numNodes }, (_, i) => i).filter((i) => i % c.threads === c.shard));
 * // [ 1, 3, 5, 7, 9 ]
 * ```
 */
export interface ShardConfig extends
  Pick<
    SimSettings,
    "numNodes" | "gossipIntervalMs" | "initialIntervalMs" | "phiThreshold" | "lossRate" | "seed"
  > {
  /** This thread's index, 0..threads-1. `numNodes` counts the whole cluster (all shards); the
   * sending shard decides losses, one generator per sending node seeded from `seed`. */
  shard: number;
  /** Number of shard threads. */
  threads: number;
  /** Delay of every datagram, an integer >= 1 ms (the lookahead). */
  delayMs: number;
}

/** A request from the coordinator to a shard thread.
 *
 * @example
 * ```ts
 * import type { ShardRequest } from "./shard_thread.ts";
 * const r: ShardRequest = { type: "step", end: 5, inbound: [] };
 * console.log(r.type);
 * ```
 */
export type ShardRequest =
  | { type: "init"; config: ShardConfig }
  | { type: "start" }
  | { type: "step"; end: number; inbound: ArrayBuffer[] }
  | { type: "phase"; kind: "propagation" | "detection"; t0: number; target: number }
  | { type: "report" }
  | { type: "close" };

/** One outbound batch: the datagrams of one window for the nodes of shard `shard`.
 *
 * @example
 * ```ts
 * import type { OutBatch } from "./shard_thread.ts";
 * const b: OutBatch = { shard: 1, buf: new ArrayBuffer(0), min: 3, count: 0 };
 * console.log(b.shard);
 * ```
 */
export interface OutBatch {
  /** Destination shard. */
  shard: number;
  /** The batch bytes (transferred). */
  buf: ArrayBuffer;
  /** Earliest delivery time in the batch. */
  min: number;
  /** Datagrams in the batch. */
  count: number;
}

/** Cumulative counters of a shard, in this order: datagrams sent (before loss), bytes sent,
 * datagrams delivered, bytes delivered, Syn, SynAck and Ack sent, datagrams sent to other
 * shards, bytes sent to other shards.
 *
 * @example
 * ```ts
 * import type { ShardCounters } from "./shard_thread.ts";
 * const c: ShardCounters = [0, 0, 0, 0, 0, 0, 0, 0, 0];
 * console.log(c.length);
 * ```
 */
export type ShardCounters = [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];

/** A shard thread's answer. Arrival lists are flat `[node, ms, node, ms, ...]` pairs of what
 * happened since the previous answer (membership: ms since the start; propagation and
 * detection: ms since the phase's `t0`).
 *
 * @example
 * ```ts
 * import type { ShardReply } from "./shard_thread.ts";
 * const r: ShardReply = { type: "closed" };
 * console.log(r.type);
 * ```
 */
export type ShardReply =
  | { type: "ready"; heapUsed: number }
  | {
    type: "stepped";
    next: number | null;
    out: OutBatch[];
    membership: number[];
    propagation: number[];
    detection: number[];
    counters: ShardCounters;
    busyMs: number;
  }
  | { type: "report"; liveCounts: number[]; heapUsed: number }
  | { type: "closed" }
  | { type: "error"; message: string };

const HEADER = 24;

/** Batch buffers of this thread that are free for reuse: the batches it received go back here
 * once every datagram in them was delivered. A window moves tens of megabytes between the
 * threads; allocating (and copying) that much each window cost more than the sync itself. */
class BufferPool {
  readonly #spare: ArrayBuffer[] = [];
  static readonly KEEP = 16;

  /** A free buffer of at least `min` bytes (the largest one kept), or a new one. */
  get(min: number): ArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.#spare.length; i++) {
      if (best < 0 || this.#spare[i]!.byteLength > this.#spare[best]!.byteLength) best = i;
    }
    if (best >= 0 && this.#spare[best]!.byteLength >= min) {
      const b = this.#spare[best]!;
      this.#spare[best] = this.#spare[this.#spare.length - 1]!;
      this.#spare.pop();
      return b;
    }
    return new ArrayBuffer(min);
  }

  put(buf: ArrayBuffer): void {
    if (this.#spare.length < BufferPool.KEEP) this.#spare.push(buf);
  }
}

/** Bytes before the first record of a batch: the u32 length of the used part (a batch buffer
 * is usually larger than its contents). */
const BATCH_HEAD = 8;

/** The datagrams of one window for one destination shard, in one growing buffer. */
class BatchWriter {
  readonly #pool: BufferPool;
  #buf: ArrayBuffer;
  #u8: Uint8Array;
  #view: DataView;
  #len = BATCH_HEAD;
  #min = Infinity;
  #count = 0;

  constructor(pool: BufferPool) {
    this.#pool = pool;
    this.#buf = pool.get(64 * 1024);
    this.#u8 = new Uint8Array(this.#buf);
    this.#view = new DataView(this.#buf);
  }

  write(from: number, to: number, seq: number, at: number, data: Uint8Array): void {
    const need = this.#len + HEADER + data.length;
    if (need > this.#buf.byteLength) {
      let size = this.#buf.byteLength * 2;
      while (size < need) size *= 2;
      const bigger = new ArrayBuffer(size);
      const u8 = new Uint8Array(bigger);
      u8.set(this.#u8.subarray(0, this.#len));
      this.#pool.put(this.#buf);
      this.#buf = bigger;
      this.#u8 = u8;
      this.#view = new DataView(bigger);
    }
    const v = this.#view;
    const o = this.#len;
    v.setUint32(o, from, true);
    v.setUint32(o + 4, to, true);
    v.setFloat64(o + 8, at, true);
    v.setUint32(o + 16, seq, true);
    v.setUint32(o + 20, data.length, true);
    this.#u8.set(data, o + HEADER);
    this.#len = need;
    if (at < this.#min) this.#min = at;
    this.#count++;
  }

  /** The batch so far (its buffer itself, to transfer), or null when empty; the writer goes on
   * in a buffer from the pool, as large as this batch. */
  take(shard: number): OutBatch | null {
    if (this.#len === BATCH_HEAD) return null;
    this.#view.setUint32(0, this.#len, true);
    const batch: OutBatch = { shard, buf: this.#buf, min: this.#min, count: this.#count };
    this.#buf = this.#pool.get(Math.max(64 * 1024, this.#len));
    this.#u8 = new Uint8Array(this.#buf);
    this.#view = new DataView(this.#buf);
    this.#len = BATCH_HEAD;
    this.#min = Infinity;
    this.#count = 0;
    return batch;
  }
}

/** One bound endpoint of the shard network; its id is its node index. */
type ShardEndpoint = DatagramEndpoint<number>;

/** An inbound batch buffer and how many of its datagrams are still to be delivered. */
interface Inbound {
  readonly buf: ArrayBuffer;
  left: number;
}

/** One datagram of an inbound batch, before it is scheduled. */
interface Arrival {
  at: number;
  from: number;
  seq: number;
  to: number;
  bytes: Uint8Array;
  batch: Inbound;
}

function arrivalOrder(a: Arrival, b: Arrival): number {
  return a.at - b.at || a.from - b.from || a.seq - b.seq;
}

/** The shard-local network: uniform delay, loss drawn per sending node, one outbox per
 * destination shard (this one included). Every datagram goes through the outboxes and is
 * scheduled when the coordinator hands it back, sorted by (delivery time, sender, sender's send
 * order): so each node sees the same events in the same order whatever the sharding, and the
 * figures do not depend on the number of threads. */
class ShardNetwork {
  readonly counters: ShardCounters = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  readonly #clock: VirtualClock;
  readonly #cfg: ShardConfig;
  readonly #lossRandom: Random[];
  #seq = 0;
  readonly #addrs: SocketAddr[];
  readonly #byKey = new Map<string, number>();
  readonly #byObject = new WeakMap<SocketAddr, number>();
  readonly #endpoints: (ShardEndpoint | undefined)[];
  readonly #outboxes: BatchWriter[];
  readonly #pool = new BufferPool();

  constructor(clock: VirtualClock, cfg: ShardConfig) {
    this.#clock = clock;
    this.#cfg = cfg;
    this.#addrs = [];
    this.#lossRandom = [];
    for (let i = 0; i < cfg.numNodes; i++) {
      this.#lossRandom.push(
        createRandom(BigInt(cfg.seed) * 0x1_0000_0000n + 0x8000_0000n + BigInt(i)),
      );
      const a = Object.freeze(simAddr(i));
      this.#addrs.push(a);
      this.#byKey.set(`${a.ip}:${a.port}`, i);
    }
    this.#endpoints = new Array<ShardEndpoint | undefined>(cfg.numNodes);
    this.#outboxes = [];
    for (let k = 0; k < cfg.threads; k++) this.#outboxes.push(new BatchWriter(this.#pool));
  }

  bind(index: number): ShardEndpoint {
    const ep: ShardEndpoint = new DatagramEndpoint(index, this.#addrs[index]!, {
      send: (from, to, data) => this.send(from, to, data),
      unbind: () => {},
    });
    this.#endpoints[index] = ep;
    return ep;
  }

  #indexOf(to: SocketAddr): number | undefined {
    let i = this.#byObject.get(to);
    if (i === undefined) {
      i = this.#byKey.get(`${to.ip}:${to.port}`);
      if (i !== undefined && typeof to === "object") this.#byObject.set(to, i);
    }
    return i;
  }

  send(from: ShardEndpoint, to: SocketAddr, data: Uint8Array): boolean {
    if (from.closed || data.length > MAX_DATAGRAM_SIZE) return false;
    const c = this.counters;
    c[0]++;
    c[1] += data.length;
    const type = data[3];
    if (type === 0) c[4]++;
    else if (type === 1) c[5]++;
    else if (type === 2) c[6]++;
    const dest = this.#indexOf(to);
    if (dest === undefined) return true; // nobody listens there: lost, like UDP
    const loss = this.#cfg.lossRate;
    if (loss > 0 && this.#lossRandom[from.id]!.next() < loss) return true;
    const owner = dest % this.#cfg.threads;
    if (owner !== this.#cfg.shard) {
      c[7]++;
      c[8] += data.length;
    }
    const at = this.#clock.now() + this.#cfg.delayMs;
    this.#outboxes[owner]!.write(from.id, dest, this.#seq++, at, data);
    return true;
  }

  /** Schedules the datagrams of the inbound batches at their delivery times, in the canonical
   * order. */
  receive(bufs: readonly ArrayBuffer[]): void {
    const all: Arrival[] = [];
    for (const buf of bufs) this.#parse(buf, all);
    all.sort(arrivalOrder);
    const clock = this.#clock;
    const now = clock.now();
    for (const a of all) {
      if (!(a.at > now)) {
        throw new Error(
          `causality error: datagram due at ${a.at} reached shard ${this.#cfg.shard} at ${now}`,
        );
      }
      clock.setTimer(a.at - now, () => {
        this.#deliver(a.from, a.to, a.bytes);
        // Handlers only read a datagram while they run: a delivered batch can be reused.
        if (--a.batch.left === 0) this.#pool.put(a.batch.buf);
      });
    }
  }

  #parse(buf: ArrayBuffer, into: Arrival[]): void {
    const view = new DataView(buf);
    const u8 = new Uint8Array(buf);
    const end = buf.byteLength >= BATCH_HEAD ? view.getUint32(0, true) : 0;
    if (end < BATCH_HEAD || end > buf.byteLength) {
      throw new Error(`bad batch length ${end} in a buffer of ${buf.byteLength} bytes`);
    }
    const batch: Inbound = { buf, left: 0 };
    let o = BATCH_HEAD;
    while (o < end) {
      if (o + HEADER > end) {
        throw new Error(`truncated batch header at offset ${o} of ${end} bytes`);
      }
      const from = view.getUint32(o, true);
      const to = view.getUint32(o + 4, true);
      const at = view.getFloat64(o + 8, true);
      const seq = view.getUint32(o + 16, true);
      const len = view.getUint32(o + 20, true);
      o += HEADER;
      if (o + len > end || from >= this.#cfg.numNodes || to >= this.#cfg.numNodes) {
        throw new Error(`bad batch record (from ${from}, to ${to}, length ${len}) at ${o}`);
      }
      // A view, not a copy: the batch is this shard's alone and nobody writes to it again.
      into.push({ at, from, seq, to, bytes: u8.subarray(o, o + len), batch });
      batch.left++;
      o += len;
    }
  }

  #deliver(from: number, to: number, bytes: Uint8Array): void {
    const handler = this.#endpoints[to]?.receiver(bytes.length);
    if (handler === undefined || handler === null) return;
    this.counters[2]++;
    this.counters[3] += bytes.length;
    handler(bytes, this.#addrs[from]!);
  }

  takeOutboxes(): OutBatch[] {
    const out: OutBatch[] = [];
    for (let k = 0; k < this.#outboxes.length; k++) {
      const b = this.#outboxes[k]!.take(k);
      if (b !== null) out.push(b);
    }
    return out;
  }
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** The state of this thread once initialised. */
class Shard {
  readonly cfg: ShardConfig;
  readonly clock = new VirtualClock();
  readonly net: ShardNetwork;
  readonly nodes = new Map<number, GossipNode>();
  membership: number[] = [];
  propagation: number[] = [];
  detection: number[] = [];
  #phaseSeen = new Set<number>();
  #phaseOffs: (() => void)[] = [];
  #errors: unknown[] = [];

  constructor(cfg: ShardConfig) {
    this.cfg = cfg;
    this.net = new ShardNetwork(this.clock, cfg);
  }

  async start(): Promise<void> {
    const c = this.cfg;
    const n = c.numNodes;
    for (let i = c.shard; i < n; i += c.threads) {
      const node = await GossipNode.start(simNodeOptions(i, c, this.net.bind(i), this.clock));
      const off = node.onLiveNodesChange((live) => {
        if (live.length === n) {
          this.membership.push(i, this.clock.now());
          off();
        }
      });
      this.nodes.set(i, node);
    }
  }

  async step(end: number, inbound: ArrayBuffer[]): Promise<ShardReply> {
    const t = performance.now();
    const clock = this.clock;
    this.net.receive(inbound);
    const last = end - 1;
    for (let turns = 0;; turns++) {
      clock.advance(Math.max(0, last - clock.now()));
      // Let promise continuations (e.g. the tail of a node's close()) run inside the window.
      await Promise.resolve();
      const due = clock.nextDue;
      if (due === undefined || due > last) break;
      if (turns > 1000) throw new Error(`timers keep falling due at ${due} (window end ${end})`);
    }
    return this.status(performance.now() - t);
  }

  /** What happened since the last answer, without moving time. */
  status(busyMs: number): ShardReply {
    const clock = this.clock;
    if (this.#errors.length > 0) {
      const e = this.#errors[0];
      throw e instanceof Error ? e : new Error(String(e));
    }
    const next = clock.nextDue ?? null;
    if (next !== null && !Number.isInteger(next)) {
      throw new Error(
        `timer due at the non-integer time ${next}: the lookahead sync needs integer ms times`,
      );
    }
    const reply: ShardReply = {
      type: "stepped",
      next,
      out: this.net.takeOutboxes(),
      membership: this.membership,
      propagation: this.propagation,
      detection: this.detection,
      counters: [...this.net.counters] as ShardCounters,
      busyMs,
    };
    this.membership = [];
    this.propagation = [];
    this.detection = [];
    return reply;
  }

  phase(kind: "propagation" | "detection", t0: number, target: number): void {
    for (const off of this.#phaseOffs) off();
    this.#phaseOffs = [];
    this.#phaseSeen = new Set();
    const seen = this.#phaseSeen;
    const clock = this.clock;
    const delay = t0 - clock.now();
    if (!(delay >= 0)) throw new Error(`phase at ${t0} is before this shard's time ${clock.now()}`);
    if (kind === "propagation") {
      const record = (i: number) => {
        if (seen.has(i)) return;
        seen.add(i);
        this.propagation.push(i, clock.now() - t0);
      };
      for (const [i, node] of this.nodes) {
        this.#phaseOffs.push(node.onKeyChange(PROPAGATION_KEY, () => record(i)));
      }
      const origin = this.nodes.get(target);
      if (origin !== undefined) {
        clock.setTimer(delay, () => {
          record(target);
          origin.set(PROPAGATION_KEY, "1");
        });
      }
    } else {
      const victimId = `node_${target}`;
      for (const [i, node] of this.nodes) {
        if (i === target) continue;
        this.#phaseOffs.push(node.onLiveNodesChange((live) => {
          if (seen.has(i)) return;
          if (!live.some((s) => s.chitchatId.nodeId === victimId)) {
            seen.add(i);
            this.detection.push(i, clock.now() - t0);
          }
        }));
      }
      const victim = this.nodes.get(target);
      if (victim !== undefined) {
        clock.setTimer(delay, () => {
          this.nodes.delete(target);
          victim.close().catch((e) => this.#errors.push(e));
        });
      }
    }
  }

  report(): ShardReply {
    const liveCounts: number[] = [];
    for (const node of this.nodes.values()) liveCounts.push(node.liveNodes().length);
    gc();
    return { type: "report", liveCounts, heapUsed: Deno.memoryUsage().heapUsed };
  }

  async close(): Promise<void> {
    for (const off of this.#phaseOffs) off();
    await Promise.all([...this.nodes.values()].map((x) => x.close()));
    this.nodes.clear();
  }
}

interface ThreadScope {
  onmessage: ((e: MessageEvent<ShardRequest>) => void) | null;
  postMessage(message: ShardReply, transfer?: Transferable[]): void;
}

let shard: Shard | null = null;

function need(): Shard {
  if (shard === null) throw new Error("shard thread got a request before init");
  return shard;
}

async function handle(req: ShardRequest): Promise<ShardReply> {
  switch (req.type) {
    case "init":
      shard = new Shard(req.config);
      gc();
      return { type: "ready", heapUsed: Deno.memoryUsage().heapUsed };
    case "start":
      await need().start();
      return need().status(0);
    case "step":
      return await need().step(req.end, req.inbound);
    case "phase": {
      const s = need();
      s.phase(req.kind, req.t0, req.target);
      return s.status(0);
    }
    case "report":
      return need().report();
    case "close":
      await shard?.close();
      return { type: "closed" };
  }
}

// Only install the handler inside a Deno Worker (a doc test importing the types must not).
const scope = globalThis as unknown as ThreadScope & { WorkerGlobalScope?: unknown };
if (typeof scope.WorkerGlobalScope !== "undefined" || "DedicatedWorkerGlobalScope" in globalThis) {
  scope.onmessage = (e: MessageEvent<ShardRequest>) => {
    handle(e.data).then(
      (reply) => {
        const transfer = reply.type === "stepped" ? reply.out.map((b) => b.buf) : [];
        scope.postMessage(reply, transfer);
      },
      (err: unknown) => {
        const message = err instanceof Error ? `${err.message}\n${err.stack ?? ""}` : String(err);
        scope.postMessage({ type: "error", message });
      },
    );
  };
}
