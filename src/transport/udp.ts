/**
 * The UDP transport. It uses `Deno.listenDatagram` when it exists (Deno with `--unstable-net`,
 * or `"unstable": ["net"]` in the running project's deno.json) and falls back to `node:dgram`
 * otherwise (Deno without the flag, Node, Bun), warning once per process about the fallback
 * when running on Deno.
 *
 * @module
 */
import { AddressInUseError, ConfigError, HearsayError } from "../common/errors.ts";
import type { SocketAddr } from "../common/types.ts";
import { MAX_DATAGRAM_SIZE } from "../codec/wire.ts";
import type { DatagramHandler, Transport, TransportStats } from "./transport.ts";

/** Receive buffer: larger than any datagram we accept, so an oversize one is seen (and dropped)
 * rather than silently truncated. */
const RECEIVE_BUFFER_BYTES = 65_536;

/** Datagrams waiting for the socket beyond this are refused (counted as send errors), like a
 * full kernel send buffer. */
const MAX_QUEUED_SENDS = 4096;

/** After this many receive errors in a row the loop gives up (reported through the warning
 * callback) instead of spinning. */
const MAX_CONSECUTIVE_RECEIVE_ERRORS = 1000;

/** Counters of a UDP transport: the common ones plus receive-side problems.
 *
 * @example
 * ```ts
 * import { bindUdp, type UdpTransportStats } from "./udp.ts";
 * const t = await bindUdp({ ip: "127.0.0.1", port: 0 });
 * t.send({ ip: "0.0.0.0", port: 9 }, new Uint8Array(1)); // refused: unspecified address
 * const s: UdpTransportStats = t.stats;
 * console.log(s.sendErrors, s.handlerErrors, s.oversizeDropped); // 1 0 0
 * await t.close();
 * ```
 */
export interface UdpTransportStats extends TransportStats {
  /** Receive handlers that threw (the loop carries on). */
  handlerErrors: number;
  /** Errors reported by the socket while receiving. */
  receiveErrors: number;
  /** Received datagrams larger than {@link MAX_DATAGRAM_SIZE}, dropped. */
  oversizeDropped: number;
  /** Datagrams that arrived while no handler was set, dropped. */
  unhandledDropped: number;
}

/** A bound UDP socket.
 *
 * @example
 * ```ts
 * import { bindUdp, type UdpTransport } from "./udp.ts";
 * const t: UdpTransport = await bindUdp({ ip: "127.0.0.1", port: 0 });
 * console.log(t.backend, t.localAddr.port > 0);
 * await t.close();
 * ```
 */
export interface UdpTransport extends Transport {
  /** Counters. */
  readonly stats: UdpTransportStats;
  /** Which socket API carries the traffic. */
  readonly backend: "deno" | "node:dgram";
}

/** Options of {@link bindUdp}.
 *
 * @example
 * ```ts
 * import { bindUdp, type BindUdpOptions } from "./udp.ts";
 * const warnings: string[] = [];
 * const options: BindUdpOptions = { forceNodeDgram: true, onWarning: (m) => warnings.push(m) };
 * const t = await bindUdp({ ip: "127.0.0.1", port: 0 }, options);
 * console.log(t.backend, warnings.length); // node:dgram 0
 * await t.close();
 * ```
 */
export interface BindUdpOptions {
  /** Use `node:dgram` even when `Deno.listenDatagram` is available (no warning then). */
  readonly forceNodeDgram?: boolean;
  /** Receives warnings (the fallback notice, a receive loop that gave up) instead of
   * `console.warn`. */
  readonly onWarning?: (msg: string) => void;
}

let fallbackWarned = false;

function warn(options: BindUdpOptions, msg: string): void {
  if (options.onWarning !== undefined) options.onWarning(msg);
  else console.warn(msg);
}

function formatAddr(addr: SocketAddr): string {
  return addr.ip.includes(":") ? `[${addr.ip}]:${addr.port}` : `${addr.ip}:${addr.port}`;
}

/** Whether `ip` is an unspecified address (0.0.0.0, ::, or ::ffff:0.0.0.0). */
function isUnspecified(ip: string): boolean {
  if (ip === "0.0.0.0") return true;
  if (!ip.includes(":")) return false;
  return /^[0:]+$/.test(ip) || /^::ffff:0\.0\.0\.0$/i.test(ip);
}

/** Whether a send to `to` can be attempted at all. */
function sendable(to: SocketAddr): boolean {
  return typeof to === "object" && to !== null && typeof to.ip === "string" && to.ip !== "" &&
    !isUnspecified(to.ip) && Number.isInteger(to.port) && to.port > 0 && to.port <= 65535;
}

function newStats(): UdpTransportStats {
  return {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    sendErrors: 0,
    handlerErrors: 0,
    receiveErrors: 0,
    oversizeDropped: 0,
    unhandledDropped: 0,
  };
}

/** Shared receive path and bookkeeping of both backends. */
abstract class UdpBase implements UdpTransport {
  abstract readonly backend: "deno" | "node:dgram";
  readonly stats: UdpTransportStats = newStats();
  readonly localAddr: SocketAddr;
  protected closed = false;
  #handler: DatagramHandler | null = null;
  readonly #queue: { to: SocketAddr; bytes: Uint8Array }[] = [];
  #pump: Promise<void> | null = null;
  #closing: Promise<void> | null = null;

  constructor(localAddr: SocketAddr) {
    this.localAddr = Object.freeze({ ip: localAddr.ip, port: localAddr.port });
  }

  onReceive(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  /** Hands one received datagram (already copied to its own buffer) to the handler. */
  protected deliver(data: Uint8Array, from: SocketAddr): void {
    if (data.length > MAX_DATAGRAM_SIZE) {
      this.stats.oversizeDropped++;
      return;
    }
    const handler = this.#handler;
    if (handler === null || this.closed) {
      this.stats.unhandledDropped++;
      return;
    }
    this.stats.datagramsIn++;
    this.stats.bytesIn += data.length;
    try {
      handler(data, from);
    } catch {
      this.stats.handlerErrors++;
    }
  }

  send(to: SocketAddr, data: Uint8Array): void {
    if (this.closed || !sendable(to) || !(data instanceof Uint8Array)) {
      this.stats.sendErrors++;
      return;
    }
    if (data.length > MAX_DATAGRAM_SIZE) {
      this.stats.sendErrors++;
      return;
    }
    if (this.#queue.length >= MAX_QUEUED_SENDS) {
      this.stats.sendErrors++;
      return;
    }
    // The socket reads the bytes after send() returns; copy so the caller may reuse its buffer.
    this.#queue.push({ to, bytes: data.slice() });
    if (this.#pump === null) this.#pump = this.#drain();
  }

  /** Sends queued datagrams one at a time. Both socket APIs resolve the destination
   * asynchronously, so concurrent sends can overtake each other; one at a time keeps the
   * caller's order. */
  async #drain(): Promise<void> {
    for (;;) {
      const next = this.#queue.shift();
      if (next === undefined) break;
      try {
        const n = await this.transmit(next.to, next.bytes);
        this.stats.datagramsOut++;
        this.stats.bytesOut += n;
      } catch {
        this.stats.sendErrors++;
      }
    }
    this.#pump = null;
  }

  close(): Promise<void> {
    if (this.#closing === null) {
      this.closed = true;
      this.#handler = null;
      this.#closing = (async () => {
        // Datagrams already accepted by send() still go out before the socket closes.
        if (this.#pump !== null) await this.#pump;
        await this.shutdown();
      })();
    }
    return this.#closing;
  }

  /** Sends `bytes` (a private copy); resolves with the byte count or rejects. */
  protected abstract transmit(to: SocketAddr, bytes: Uint8Array): Promise<number>;
  /** Closes the socket; resolves once no operation of it is pending. */
  protected abstract shutdown(): Promise<void>;
}

class DenoUdp extends UdpBase {
  readonly backend = "deno" as const;
  readonly #conn: Deno.DatagramConn;
  readonly #loop: Promise<void>;
  readonly #options: BindUdpOptions;

  constructor(conn: Deno.DatagramConn, options: BindUdpOptions) {
    const addr = conn.addr as Deno.NetAddr;
    super({ ip: addr.hostname, port: addr.port });
    this.#conn = conn;
    this.#options = options;
    this.#loop = this.#receiveLoop();
  }

  async #receiveLoop(): Promise<void> {
    const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
    let errorsInARow = 0;
    while (!this.closed) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await this.#conn.receive(buffer);
      } catch (e) {
        if (
          this.closed || e instanceof Deno.errors.BadResource ||
          e instanceof Deno.errors.Interrupted
        ) {
          return;
        }
        this.stats.receiveErrors++;
        if (++errorsInARow >= MAX_CONSECUTIVE_RECEIVE_ERRORS) {
          warn(
            this.#options,
            `hearsay: UDP receive on ${formatAddr(this.localAddr)} failed ${errorsInARow} times ` +
              `in a row (last: ${e}); no longer receiving`,
          );
          return;
        }
        continue;
      }
      errorsInARow = 0;
      const [view, remote] = received;
      const from = remote as Deno.NetAddr;
      // `view` aliases the shared buffer: copy out exactly the datagram before handing it on.
      this.deliver(view.slice(), { ip: from.hostname, port: from.port });
    }
  }

  protected transmit(to: SocketAddr, bytes: Uint8Array): Promise<number> {
    return this.#conn.send(bytes, { transport: "udp", hostname: to.ip, port: to.port });
  }

  protected async shutdown(): Promise<void> {
    try {
      this.#conn.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) throw e;
    }
    await this.#loop;
  }
}

type NodeDgram = typeof import("node:dgram");
type NodeSocket = import("node:dgram").Socket;

class NodeUdp extends UdpBase {
  readonly backend = "node:dgram" as const;
  readonly #socket: NodeSocket;

  constructor(socket: NodeSocket) {
    const a = socket.address();
    super({ ip: a.address, port: a.port });
    this.#socket = socket;
    socket.on("message", (msg, rinfo) => {
      // Copy into a plain Uint8Array of exactly the datagram's length.
      this.deliver(new Uint8Array(msg), { ip: rinfo.address, port: rinfo.port });
    });
    socket.on("error", () => {
      this.stats.receiveErrors++;
    });
  }

  protected transmit(to: SocketAddr, bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#socket.send(bytes, to.port, to.ip, (err, n) => {
        if (err) reject(err);
        else resolve(n);
      });
    });
  }

  protected shutdown(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}

function canonicalIp(ip: string): string {
  return ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
}

function denoListenDatagram(): typeof Deno.listenDatagram | undefined {
  const deno = (globalThis as { Deno?: { listenDatagram?: unknown } }).Deno;
  const fn = deno?.listenDatagram;
  return typeof fn === "function" ? fn as typeof Deno.listenDatagram : undefined;
}

function bindError(where: string, e: unknown): Error {
  const code = (e as { code?: unknown } | null)?.code;
  const inUse = code === "EADDRINUSE" ||
    ((globalThis as { Deno?: unknown }).Deno !== undefined && e instanceof Deno.errors.AddrInUse);
  if (inUse) return new AddressInUseError(where, { cause: e });
  return new HearsayError(
    `cannot bind UDP socket on ${where}: ${e instanceof Error ? e.message : String(e)}`,
    { cause: e },
  );
}

/** Binds a UDP socket (port 0 picks a free port; `localAddr` reports the real one).
 *
 * `send` never throws: failures, oversize datagrams (over {@link MAX_DATAGRAM_SIZE}), sends to an
 * unspecified address (0.0.0.0, ::) or port 0, and sends after close are counted in
 * `stats.sendErrors`. Received datagrams are copied to their own buffer before the handler runs;
 * a throwing handler is counted and the receive loop continues. `close()` is idempotent and
 * resolves once the socket has no pending operation.
 *
 * Throws an {@link AddressInUseError} when the address is taken, a {@link ConfigError} for a
 * malformed address, a {@link HearsayError} for other bind failures.
 *
 * @example
 * ```ts
 * import { bindUdp } from "./udp.ts";
 * const a = await bindUdp({ ip: "127.0.0.1", port: 0 });
 * const b = await bindUdp({ ip: "127.0.0.1", port: 0 });
 * const got = new Promise<string>((resolve) =>
 *   b.onReceive((data, from) => resolve(`${data.length} bytes from port ${from.port}`))
 * );
 * a.send(b.localAddr, new Uint8Array([1, 2, 3]));
 * console.log(await got);
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export async function bindUdp(
  addr: SocketAddr | { ip: string; port: number },
  options: BindUdpOptions = {},
): Promise<UdpTransport> {
  if (typeof addr?.ip !== "string" || addr.ip === "") {
    throw new ConfigError("address", `needs an IP string, got ${JSON.stringify(addr?.ip)}`);
  }
  if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) {
    throw new ConfigError("port", `must be an integer in 0..65535, got ${addr.port}`);
  }
  const ip = canonicalIp(addr.ip);
  const where = formatAddr({ ip, port: addr.port });
  const listen = options.forceNodeDgram ? undefined : denoListenDatagram();
  if (listen !== undefined) {
    let conn: Deno.DatagramConn;
    try {
      conn = listen({ transport: "udp", hostname: ip, port: addr.port });
    } catch (e) {
      throw bindError(where, e);
    }
    return new DenoUdp(conn, options);
  }
  const onDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  if (onDeno && !options.forceNodeDgram && !fallbackWarned) {
    fallbackWarned = true;
    warn(
      options,
      "hearsay: Deno.listenDatagram is unavailable (it needs --unstable-net, or " +
        '"unstable": ["net"] in deno.json); using node:dgram instead',
    );
  }
  const dgram: NodeDgram = await import("node:dgram");
  const socket = dgram.createSocket({ type: ip.includes(":") ? "udp6" : "udp4" });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => {
      const fail = () => reject(bindError(where, e));
      try {
        socket.close(fail);
      } catch {
        fail();
      }
    };
    socket.once("error", onError);
    socket.bind({ address: ip, port: addr.port, exclusive: true }, () => {
      socket.off("error", onError);
      resolve();
    });
  });
  return new NodeUdp(socket);
}
