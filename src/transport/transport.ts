/**
 * The transport interface: how the engine sends and receives datagrams. Implementations: UDP
 * (`udp.ts`) and the in-memory simulated network (`memory.ts`).
 *
 * @module
 */
import type { SocketAddr } from "../common/types.ts";

/** Called for every datagram received, with the sender's address. Must not throw.
 *
 * @example
 * ```ts
 * import type { DatagramHandler } from "./transport.ts";
 * const h: DatagramHandler = (data, from) => console.log(data.length, from.port);
 * h(new Uint8Array(3), { ip: "127.0.0.1", port: 9 });
 * ```
 */
export type DatagramHandler = (data: Uint8Array, from: SocketAddr) => void;

/** Counters every transport keeps.
 *
 * @example
 * ```ts
 * import type { TransportStats } from "./transport.ts";
 * const s: TransportStats = { datagramsIn: 0, bytesIn: 0, datagramsOut: 0, bytesOut: 0, sendErrors: 0 };
 * console.log(s.datagramsIn);
 * ```
 */
export interface TransportStats {
  /** Datagrams delivered to the handler. */
  datagramsIn: number;
  /** Bytes delivered to the handler. */
  bytesIn: number;
  /** Datagrams handed to the network. */
  datagramsOut: number;
  /** Bytes handed to the network. */
  bytesOut: number;
  /** Sends that failed (unreachable, too large, closed socket...). */
  sendErrors: number;
}

/** A bound datagram socket: one socket both sends and receives (replies go to the source
 * address, so this matters for chitchat).
 *
 * @example
 * ```ts
 * import type { Transport } from "./transport.ts";
 * import { bindUdp } from "./udp.ts";
 * function echo(t: Transport): void {
 *   t.onReceive((data, from) => t.send(from, data));
 * }
 * const server: Transport = await bindUdp({ ip: "127.0.0.1", port: 0 });
 * const client: Transport = await bindUdp({ ip: "127.0.0.1", port: 0 });
 * echo(server);
 * const reply = new Promise<Uint8Array>((resolve) => client.onReceive((data) => resolve(data)));
 * client.send(server.localAddr, new Uint8Array([1, 2, 3]));
 * console.log(await reply, server.stats.datagramsIn); // Uint8Array(3) [ 1, 2, 3 ] 1
 * await Promise.all([server.close(), client.close()]);
 * ```
 */
export interface Transport {
  /** The address the socket is bound to (the real port when 0 was asked for). */
  readonly localAddr: SocketAddr;
  /** Counters. */
  readonly stats: TransportStats;
  /** Largest datagram this transport can carry, when below the UDP limit of 65 507 bytes (an
   * encrypting transport needs room for its own framing). The engine sizes messages to fit. */
  readonly maxDatagramSize?: number;
  /** Sends one datagram; never throws (failures are counted in `stats.sendErrors`). `data` may
   * be a view into a larger buffer (mind `byteOffset`); the caller does not modify it after the
   * call, so an implementation may keep it until the datagram is out. */
  send(to: SocketAddr, data: Uint8Array): void;
  /** Sets the receive handler (replacing any earlier one). Datagrams that arrive before a
   * handler is set are dropped. */
  onReceive(handler: DatagramHandler): void;
  /** Closes the socket; pending receives end, later sends are counted as errors. */
  close(): Promise<void>;
}
