/**
 * An in-memory datagram network for deterministic tests and simulations: endpoints bound on a
 * {@link MemoryNetwork} exchange datagrams through timers of a {@link Clock} (normally a
 * `VirtualClock`), with seeded loss, duplication, delay, reordering, an MTU, partitions and
 * per-link faults. The same seed, clock and sequence of calls always give the same deliveries.
 *
 * @module
 */
import type { Clock, Timer } from "../common/clock.ts";
import { AddressInUseError, ConfigError } from "../common/errors.ts";
import { createRandom, type Random } from "../common/random.ts";
import type { SocketAddr } from "../common/types.ts";
import { MAX_DATAGRAM_SIZE } from "../codec/wire.ts";
import type { Transport } from "./transport.ts";
import { DatagramEndpoint } from "./_endpoint.ts";

/** A delay in milliseconds: a fixed value, or uniform in `[min, max]`.
 *
 * @example
 * ```ts
 * import type { DelaySpec } from "./memory.ts";
 * const d: DelaySpec = { min: 1, max: 20 };
 * console.log(d);
 * ```
 */
export type DelaySpec = number | { readonly min: number; readonly max: number };

/** Fault settings of a link (or of the whole network). Probabilities are in [0, 1].
 *
 * @example
 * ```ts
 * import type { LinkFault } from "./memory.ts";
 * const flaky: LinkFault = { loss: 0.3, delayMs: { min: 5, max: 50 } };
 * console.log(flaky.loss);
 * ```
 */
export interface LinkFault {
  /** Probability that a datagram is lost. Default 0. */
  readonly loss?: number;
  /** Probability that a datagram is delivered twice (each copy with its own delay). Default 0. */
  readonly duplicate?: number;
  /** Delivery delay. A range reorders datagrams naturally. Default 0 (still asynchronous: the
   * datagram arrives from a clock timer, never inside `send`). */
  readonly delayMs?: DelaySpec;
  /** Probability that a datagram is held back an extra `reorderDelayMs`, so later datagrams
   * overtake it. Default 0. */
  readonly reorder?: number;
  /** The extra delay of a reordered datagram. Default: the link's maximum delay + 1 ms. */
  readonly reorderDelayMs?: number;
}

/** Options of a {@link MemoryNetwork}: the clock, the seed, the default link faults and the MTU.
 *
 * @example
 * ```ts
 * import type { MemoryNetworkOptions } from "./memory.ts";
 * import { VirtualClock } from "../common/virtual_clock.ts";
 * const o: MemoryNetworkOptions = { clock: new VirtualClock(), seed: 1, loss: 0.1 };
 * console.log(o.seed);
 * ```
 */
export interface MemoryNetworkOptions extends LinkFault {
  /** Drives deliveries. */
  readonly clock: Clock;
  /** Seed of the fault decisions (loss, duplication, delays). */
  readonly seed: number | bigint;
  /** Largest datagram carried, in bytes; larger sends are dropped (reason `mtu`) and counted as
   * send errors. Default `MAX_DATAGRAM_SIZE` (65 507), the largest UDP payload over IPv4. */
  readonly mtu?: number;
  /** Sees every delivery and drop, in order (for traces and debugging). */
  readonly onEvent?: (event: NetworkEvent) => void;
  /** Called when a receive handler throws. Without it the exception propagates out of the clock
   * timer (a `VirtualClock` then reports it from `advance`), so engine bugs are not hidden.
   * Either way it is counted in `stats.handlerErrors`. */
  readonly onHandlerError?: (error: unknown, at: SocketAddr) => void;
  /** Whether each delivery gets its own copy of the sent bytes, as a real network gives
   * (default true). `false` hands the sender's buffer itself to the receiver(s): no copy per
   * datagram, for large simulations whose senders never touch a buffer after sending it and
   * whose receivers only read. */
  readonly copy?: boolean;
}

/** Why the network dropped a datagram.
 * - `loss`: random loss; `partition`: a partition or isolation separates the endpoints;
 * - `mtu`: larger than the MTU; `noListener`: nobody bound at the destination on arrival;
 * - `noHandler`: bound but no receive handler set; `closed`: sent from a closed endpoint;
 * - `badAddress`: destination is an unspecified address (0.0.0.0 / ::) or port 0.
 *
 * @example
 * ```ts
 * import type { DropReason } from "./memory.ts";
 * const r: DropReason = "partition";
 * console.log(r);
 * ```
 */
export type DropReason =
  | "loss"
  | "partition"
  | "mtu"
  | "noListener"
  | "noHandler"
  | "closed"
  | "badAddress";

/** One thing that happened to a datagram. `at` is the clock time.
 *
 * @example
 * ```ts
 * import type { NetworkEvent } from "./memory.ts";
 * const e: NetworkEvent = {
 *   kind: "deliver",
 *   at: 12,
 *   from: { ip: "10.0.0.1", port: 1 },
 *   to: { ip: "10.0.0.2", port: 1 },
 *   size: 100,
 * };
 * console.log(e.kind);
 * ```
 */
export type NetworkEvent =
  | {
    readonly kind: "deliver";
    readonly at: number;
    readonly from: SocketAddr;
    readonly to: SocketAddr;
    readonly size: number;
  }
  | {
    readonly kind: "drop";
    readonly reason: DropReason;
    readonly at: number;
    readonly from: SocketAddr;
    readonly to: SocketAddr;
    readonly size: number;
  };

/** Counters of a whole {@link MemoryNetwork}.
 *
 * @example
 * ```ts
 * import type { MemoryNetworkStats } from "./memory.ts";
 * function lossRate(s: MemoryNetworkStats): number {
 *   return s.dropped.loss / Math.max(1, s.sent);
 * }
 * console.log(typeof lossRate);
 * ```
 */
export interface MemoryNetworkStats {
  /** Datagrams accepted by `send` (not refused for size, address or a closed endpoint). */
  readonly sent: number;
  /** Datagrams handed to a receive handler (duplicates count twice). */
  readonly delivered: number;
  /** Extra copies created by duplication. */
  readonly duplicated: number;
  /** Copies scheduled and not yet delivered or dropped. */
  readonly inFlight: number;
  /** Receive handlers that threw. */
  readonly handlerErrors: number;
  /** Drops by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
}

/** A handle that undoes one partition or isolation.
 *
 * @example
 * ```ts
 * import { MemoryNetwork } from "./memory.ts";
 * import { VirtualClock } from "../common/virtual_clock.ts";
 * const net = new MemoryNetwork({ clock: new VirtualClock(), seed: 1 });
 * const cut = net.isolate("10.0.0.1:7946");
 * cut.heal();
 * ```
 */
export interface PartitionHandle {
  /** Removes this partition (others stay). */
  heal(): void;
}

/** Formats an address as `ip:port` or `[v6]:port`; the network's key for an endpoint. */
function addrKey(addr: SocketAddr): string {
  return addr.ip.includes(":") ? `[${addr.ip}]:${addr.port}` : `${addr.ip}:${addr.port}`;
}

/** Parses `ip:port` / `[v6]:port` text (no name resolution) and returns its key form. */
function textKey(text: string): string {
  let ip: string;
  let portText: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]:");
    if (end < 0) throw badAddrText(text);
    ip = text.slice(1, end);
    portText = text.slice(end + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon <= 0 || text.indexOf(":") !== colon) throw badAddrText(text);
    ip = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  const port = Number(portText);
  if (!/^[0-9]{1,5}$/.test(portText) || port > 65535 || ip === "") throw badAddrText(text);
  return addrKey({ ip, port });
}

function badAddrText(text: string): ConfigError {
  return new ConfigError(
    "address",
    `must be "ip:port" or "[ipv6]:port", got ${JSON.stringify(text)}`,
  );
}

function toKey(addr: SocketAddr | string): string {
  return typeof addr === "string" ? textKey(addr) : addrKey(addr);
}

/** Whether `ip` is 0.0.0.0 or the IPv6 unspecified address (any spelling of all zeros). */
function isUnspecified(ip: string): boolean {
  if (ip === "0.0.0.0") return true;
  if (!ip.includes(":")) return false;
  return /^[0:]+$/.test(ip) || /^::ffff:0\.0\.0\.0$/i.test(ip);
}

function checkProbability(field: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!(value >= 0 && value <= 1)) {
    throw new ConfigError(field, `must be a probability in [0, 1], got ${value}`);
  }
}

function checkDelay(field: string, value: DelaySpec | undefined): void {
  if (value === undefined) return;
  const [min, max] = typeof value === "number" ? [value, value] : [value.min, value.max];
  if (!(Number.isFinite(min) && Number.isFinite(max) && min >= 0 && max >= min)) {
    throw new ConfigError(
      field,
      `must be a finite delay >= 0 or { min, max } with 0 <= min <= max, got ${
        JSON.stringify(value)
      }`,
    );
  }
}

function checkFault(prefix: string, f: LinkFault): void {
  checkProbability(`${prefix}loss`, f.loss);
  checkProbability(`${prefix}duplicate`, f.duplicate);
  checkProbability(`${prefix}reorder`, f.reorder);
  checkDelay(`${prefix}delayMs`, f.delayMs);
  if (f.reorderDelayMs !== undefined) checkDelay(`${prefix}reorderDelayMs`, f.reorderDelayMs);
}

interface Resolved {
  loss: number;
  duplicate: number;
  delayMin: number;
  delayMax: number;
  reorder: number;
  reorderDelayMs: number | undefined;
}

function merge(base: Resolved, f: LinkFault): Resolved {
  const out = { ...base };
  if (f.loss !== undefined) out.loss = f.loss;
  if (f.duplicate !== undefined) out.duplicate = f.duplicate;
  if (f.reorder !== undefined) out.reorder = f.reorder;
  if (f.reorderDelayMs !== undefined) out.reorderDelayMs = f.reorderDelayMs;
  if (f.delayMs !== undefined) {
    if (typeof f.delayMs === "number") {
      out.delayMin = f.delayMs;
      out.delayMax = f.delayMs;
    } else {
      out.delayMin = f.delayMs.min;
      out.delayMax = f.delayMs.max;
    }
  }
  return out;
}

interface Flight {
  timer: Timer | null;
}

interface Partition {
  readonly a: ReadonlySet<string>;
  readonly b: ReadonlySet<string>;
}

const FIRST_EPHEMERAL_PORT = 49152;

/** An in-memory datagram network. Bind endpoints with {@link MemoryNetwork.bind}; every fault
 * decision comes from one generator seeded with `seed`, so runs replay exactly.
 *
 * Addresses are matched exactly (no wildcard binding; binding 0.0.0.0 or :: is refused). Loss,
 * partitions, MTU and bad addresses are decided at send time; partitions are checked again on
 * arrival (a partition cuts datagrams already in flight), and the listener is looked up on
 * arrival.
 *
 * @example
 * ```ts
 * import { MemoryNetwork } from "./memory.ts";
 * import { VirtualClock } from "../common/virtual_clock.ts";
 * const clock = new VirtualClock();
 * const net = new MemoryNetwork({ clock, seed: 1, delayMs: { min: 1, max: 5 } });
 * const a = net.bind({ ip: "10.0.0.1", port: 7946 });
 * const b = net.bind({ ip: "10.0.0.2", port: 7946 });
 * b.onReceive((data, from) => b.send(from, data)); // echo
 * a.onReceive((data) => console.log("echoed", data.length, "bytes at", clock.now()));
 * a.send(b.localAddr, new Uint8Array([1, 2, 3]));
 * clock.advance(10);
 * console.log(net.stats.delivered); // 2
 * ```
 */
export class MemoryNetwork {
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #onEvent: ((event: NetworkEvent) => void) | undefined;
  readonly #onHandlerError: ((error: unknown, at: SocketAddr) => void) | undefined;
  #defaults: Resolved;
  #mtu: number;
  readonly #copy: boolean;
  readonly #endpoints = new Map<string, MemoryEndpoint>();
  readonly #nextPort = new Map<string, number>();
  readonly #links = new Map<string, LinkFault>();
  readonly #partitions = new Set<Partition>();
  readonly #isolated = new Map<string, number>();
  readonly #flights = new Set<Flight>();
  #sent = 0;
  #delivered = 0;
  #duplicated = 0;
  #handlerErrors = 0;
  readonly #dropped: Record<DropReason, number> = {
    loss: 0,
    partition: 0,
    mtu: 0,
    noListener: 0,
    noHandler: 0,
    closed: 0,
    badAddress: 0,
  };

  /** Creates a network. Throws a {@link ConfigError} for out-of-range settings. */
  constructor(options: MemoryNetworkOptions) {
    checkFault("", options);
    this.#mtu = MemoryNetwork.#checkMtu(options.mtu ?? MAX_DATAGRAM_SIZE);
    if (options.copy !== undefined && typeof options.copy !== "boolean") {
      throw new ConfigError("copy", `must be a boolean, got ${typeof options.copy}`);
    }
    this.#copy = options.copy ?? true;
    this.#clock = options.clock;
    this.#random = createRandom(options.seed);
    this.#onEvent = options.onEvent;
    this.#onHandlerError = options.onHandlerError;
    this.#defaults = merge({
      loss: 0,
      duplicate: 0,
      delayMin: 0,
      delayMax: 0,
      reorder: 0,
      reorderDelayMs: undefined,
    }, options);
  }

  static #checkMtu(mtu: number): number {
    if (!Number.isInteger(mtu) || mtu < 0) {
      throw new ConfigError("mtu", `must be a non-negative integer byte count, got ${mtu}`);
    }
    return mtu;
  }

  /** Binds an endpoint at `addr`. Port 0 picks a free port (from 49152 up). Throws an
   * {@link AddressInUseError} when the address is taken, a {@link ConfigError} for an invalid
   * or unspecified address or an invalid `maxDatagramSize`.
   *
   * `options.maxDatagramSize` (0..65 507) is what the endpoint reports as
   * {@link Transport.maxDatagramSize}, so an engine on it sizes its messages to that instead of
   * the UDP limit (the network's `mtu` still decides what is carried). The simulator uses it to
   * put a small cluster past one datagram.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory.ts";
   * import { VirtualClock } from "../common/virtual_clock.ts";
   * const net = new MemoryNetwork({ clock: new VirtualClock(), seed: 1 });
   * const small = net.bind({ ip: "10.0.0.1", port: 1 }, { maxDatagramSize: 13_000 });
   * const plain = net.bind({ ip: "10.0.0.2", port: 1 });
   * console.log(small.maxDatagramSize, plain.maxDatagramSize); // 13000 undefined
   * ```
   */
  bind(addr: SocketAddr, options: { readonly maxDatagramSize?: number } = {}): Transport {
    const max = options.maxDatagramSize;
    if (max !== undefined && (!Number.isInteger(max) || max < 0 || max > MAX_DATAGRAM_SIZE)) {
      throw new ConfigError(
        "maxDatagramSize",
        `must be an integer in 0..${MAX_DATAGRAM_SIZE}, got ${max}`,
      );
    }
    if (typeof addr.ip !== "string" || addr.ip === "" || isUnspecified(addr.ip)) {
      throw new ConfigError(
        "address",
        `must be a concrete IP (the in-memory network has no wildcard binding), got ${
          JSON.stringify(addr.ip)
        }`,
      );
    }
    if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) {
      throw new ConfigError("port", `must be an integer in 0..65535, got ${addr.port}`);
    }
    let port = addr.port;
    if (port === 0) port = this.#freePort(addr.ip);
    const local: SocketAddr = Object.freeze({ ip: addr.ip, port });
    const key = addrKey(local);
    if (this.#endpoints.has(key)) throw new AddressInUseError(key);
    const endpoint: MemoryEndpoint = new DatagramEndpoint(key, local, {
      send: (ep, to, data) => this.#send(ep, to, data),
      unbind: (ep) => {
        if (this.#endpoints.get(ep.id) === ep) this.#endpoints.delete(ep.id);
      },
    }, max);
    this.#endpoints.set(key, endpoint);
    return endpoint;
  }

  #freePort(ip: string): number {
    let port = this.#nextPort.get(ip) ?? FIRST_EPHEMERAL_PORT;
    for (let tries = 0; tries <= 65535 - FIRST_EPHEMERAL_PORT; tries++) {
      const candidate = port;
      port = port >= 65535 ? FIRST_EPHEMERAL_PORT : port + 1;
      if (!this.#endpoints.has(addrKey({ ip, port: candidate }))) {
        this.#nextPort.set(ip, port);
        return candidate;
      }
    }
    throw new AddressInUseError(`${ip}:0`);
  }

  /** Changes the network-wide fault settings and MTU at run time (only the fields given). */
  configure(changes: LinkFault & { readonly mtu?: number }): void {
    checkFault("", changes);
    if (changes.mtu !== undefined) this.#mtu = MemoryNetwork.#checkMtu(changes.mtu);
    this.#defaults = merge(this.#defaults, changes);
  }

  /** Overrides the fault settings of the one-way link `from` -> `to` (fields not given fall
   * back to the network-wide settings). `undefined` removes the override. */
  setLinkFault(from: SocketAddr | string, to: SocketAddr | string, fault?: LinkFault): void {
    const key = `${toKey(from)}>${toKey(to)}`;
    if (fault === undefined) {
      this.#links.delete(key);
      return;
    }
    checkFault("link.", fault);
    this.#links.set(key, { ...fault });
  }

  /** Drops all traffic between group `a` and group `b`, both ways, until healed. Traffic within
   * a group is untouched. Addresses are `SocketAddr`s or `ip:port` / `[v6]:port` text. */
  partition(
    a: readonly (SocketAddr | string)[],
    b: readonly (SocketAddr | string)[],
  ): PartitionHandle {
    const p: Partition = { a: new Set(a.map(toKey)), b: new Set(b.map(toKey)) };
    this.#partitions.add(p);
    return { heal: () => void this.#partitions.delete(p) };
  }

  /** Drops all traffic to and from `addr` (except to itself) until healed. */
  isolate(addr: SocketAddr | string): PartitionHandle {
    const key = toKey(addr);
    this.#isolated.set(key, (this.#isolated.get(key) ?? 0) + 1);
    let healed = false;
    return {
      heal: () => {
        if (healed) return;
        healed = true;
        const n = (this.#isolated.get(key) ?? 1) - 1;
        if (n <= 0) this.#isolated.delete(key);
        else this.#isolated.set(key, n);
      },
    };
  }

  /** Removes every partition and isolation (link faults stay). */
  heal(): void {
    this.#partitions.clear();
    this.#isolated.clear();
  }

  /** A snapshot of the network counters. */
  get stats(): MemoryNetworkStats {
    return {
      sent: this.#sent,
      delivered: this.#delivered,
      duplicated: this.#duplicated,
      inFlight: this.#flights.size,
      handlerErrors: this.#handlerErrors,
      dropped: { ...this.#dropped },
    };
  }

  /** Cancels every datagram in flight and closes every endpoint (useful with a real clock, so no
   * timer outlives a test). */
  close(): void {
    for (const f of this.#flights) f.timer?.cancel();
    this.#flights.clear();
    for (const e of [...this.#endpoints.values()]) e.closeNow();
  }

  #separated(fromKey: string, toKey: string): boolean {
    if (fromKey === toKey) return false;
    if (this.#isolated.has(fromKey) || this.#isolated.has(toKey)) return true;
    for (const p of this.#partitions) {
      if ((p.a.has(fromKey) && p.b.has(toKey)) || (p.b.has(fromKey) && p.a.has(toKey))) {
        return true;
      }
    }
    return false;
  }

  #drop(reason: DropReason, from: SocketAddr, to: SocketAddr, size: number): void {
    this.#dropped[reason]++;
    this.#onEvent?.({ kind: "drop", reason, at: this.#clock.now(), from, to, size });
  }

  /** Called by endpoints. Returns false when the send was refused (a send error). */
  #send(sender: MemoryEndpoint, to: SocketAddr, data: Uint8Array): boolean {
    const from = sender.localAddr;
    const size = data.length;
    if (sender.closed) {
      this.#drop("closed", from, to, size);
      return false;
    }
    if (
      typeof to !== "object" || to === null || typeof to.ip !== "string" || isUnspecified(to.ip) ||
      !Number.isInteger(to.port) ||
      to.port <= 0 || to.port > 65535
    ) {
      this.#drop("badAddress", from, to, size);
      return false;
    }
    if (size > this.#mtu) {
      this.#drop("mtu", from, to, size);
      return false;
    }
    this.#sent++;
    const fromKey = sender.id;
    const destKey = addrKey(to);
    if (this.#separated(fromKey, destKey)) {
      this.#drop("partition", from, to, size);
      return true;
    }
    const override = this.#links.get(`${fromKey}>${destKey}`);
    const link = override === undefined ? this.#defaults : merge(this.#defaults, override);
    const random = this.#random;
    if (link.loss > 0 && random.next() < link.loss) {
      this.#drop("loss", from, to, size);
      return true;
    }
    let copies = 1;
    if (link.duplicate > 0 && random.next() < link.duplicate) {
      copies = 2;
      this.#duplicated++;
    }
    const dest: SocketAddr = Object.freeze({ ip: to.ip, port: to.port });
    for (let i = 0; i < copies; i++) {
      let delay = link.delayMin;
      if (link.delayMax > link.delayMin) {
        delay += random.next() * (link.delayMax - link.delayMin);
      }
      if (link.reorder > 0 && random.next() < link.reorder) {
        delay += link.reorderDelayMs ?? link.delayMax + 1;
      }
      const bytes = this.#copy ? data.slice() : data;
      const flight: Flight = { timer: null };
      this.#flights.add(flight);
      flight.timer = this.#clock.setTimer(delay, () => {
        this.#flights.delete(flight);
        this.#arrive(from, fromKey, dest, destKey, bytes);
      });
    }
    return true;
  }

  #arrive(
    from: SocketAddr,
    fromKey: string,
    to: SocketAddr,
    destKey: string,
    bytes: Uint8Array,
  ): void {
    const size = bytes.length;
    if (this.#separated(fromKey, destKey)) {
      this.#drop("partition", from, to, size);
      return;
    }
    const endpoint = this.#endpoints.get(destKey);
    if (endpoint === undefined) {
      this.#drop("noListener", from, to, size);
      return;
    }
    const handler = endpoint.receiver(size);
    if (handler === null) {
      this.#drop("noHandler", from, to, size);
      return;
    }
    this.#delivered++;
    this.#onEvent?.({ kind: "deliver", at: this.#clock.now(), from, to, size });
    try {
      handler(bytes, from);
    } catch (e) {
      this.#handlerErrors++;
      if (this.#onHandlerError === undefined) throw e;
      this.#onHandlerError(e, to);
    }
  }
}

/** One bound endpoint of a {@link MemoryNetwork}, keyed by its address text. */
type MemoryEndpoint = DatagramEndpoint<string>;
