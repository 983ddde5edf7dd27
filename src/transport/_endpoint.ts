/**
 * The bound endpoint that in-process networks hand out: a {@link Transport} whose sends go to
 * the network that created it, with the per-endpoint counters and the receive handler. Internal:
 * shared by {@link MemoryNetwork} (src/transport/memory.ts) and the simulation networks of
 * `sim/` (the sharded simulator's shard-local network), so both count and deliver the same way.
 *
 * @module
 */
import type { SocketAddr } from "../common/types.ts";
import type { DatagramHandler, Transport, TransportStats } from "./transport.ts";

/** What a network supplies to its endpoints: where sends go and what closing does.
 *
 * @example
 * ```ts
 * import { DatagramEndpoint, type EndpointHooks } from "./_endpoint.ts";
 * const sent: number[] = [];
 * const hooks: EndpointHooks<number> = {
 *   // Refuses datagrams over 10 bytes (a send error).
 *   send: (ep, _to, data) => data.length <= 10 && sent.push(ep.id) > 0,
 *   unbind: (ep) => console.log("unbound", ep.id), // unbound 7
 * };
 * const ep = new DatagramEndpoint(7, { ip: "10.0.0.7", port: 1 }, hooks);
 * ep.send({ ip: "10.0.0.8", port: 1 }, new Uint8Array(4));
 * ep.send({ ip: "10.0.0.8", port: 1 }, new Uint8Array(40));
 * await ep.close();
 * console.log(sent, ep.stats.datagramsOut, ep.stats.sendErrors); // [ 7 ] 1 1
 * ```
 */
export interface EndpointHooks<Id> {
  /** Takes a datagram from `ep`; false when the network refused it (counted as a send error). */
  send(ep: DatagramEndpoint<Id>, to: SocketAddr, data: Uint8Array): boolean;
  /** Called once when `ep` closes. */
  unbind(ep: DatagramEndpoint<Id>): void;
}

/** One bound endpoint of an in-process network. `id` is the network's own handle for it (an
 * address key, a node index). The network delivers with {@link DatagramEndpoint.receiver}.
 *
 * @example
 * ```ts
 * import { DatagramEndpoint } from "./_endpoint.ts";
 * const addr = { ip: "10.0.0.1", port: 7946 };
 * // A loopback network of one endpoint: every send comes straight back.
 * const ep: DatagramEndpoint<string> = new DatagramEndpoint("a", addr, {
 *   send: (self, _to, data) => {
 *     self.receiver(data.length)?.(data, self.localAddr);
 *     return true;
 *   },
 *   unbind: () => {},
 * });
 * ep.onReceive((data) => console.log("got", data.length)); // got 3
 * ep.send(addr, new Uint8Array(3));
 * console.log(ep.stats.datagramsIn, ep.stats.bytesOut); // 1 3
 * ```
 */
export class DatagramEndpoint<Id> implements Transport {
  /** The bound address. */
  readonly localAddr: SocketAddr;
  /** Counters of this endpoint. */
  readonly stats: TransportStats = {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    sendErrors: 0,
  };
  /** The largest datagram the network carries for this endpoint, when it was bound with one
   * (the engine then sizes its messages to it); absent: the UDP limit. */
  declare readonly maxDatagramSize?: number;
  /** The network's handle for this endpoint. */
  readonly id: Id;
  /** The receive handler, null before `onReceive` and after closing. */
  handler: DatagramHandler | null = null;
  /** Whether the endpoint was closed. */
  closed = false;
  readonly #hooks: EndpointHooks<Id>;

  /** An endpoint bound at `localAddr` whose sends go to `hooks.send`; `maxDatagramSize`, when
   * given, is what it reports as {@link Transport.maxDatagramSize}. */
  constructor(
    id: Id,
    localAddr: SocketAddr,
    hooks: EndpointHooks<Id>,
    maxDatagramSize?: number,
  ) {
    this.id = id;
    this.localAddr = localAddr;
    this.#hooks = hooks;
    if (maxDatagramSize !== undefined) this.maxDatagramSize = maxDatagramSize;
  }

  /** Hands a datagram to the network and counts it (sent, or a send error when refused). */
  send(to: SocketAddr, data: Uint8Array): void {
    if (this.#hooks.send(this, to, data)) {
      this.stats.datagramsOut++;
      this.stats.bytesOut += data.length;
    } else {
      this.stats.sendErrors++;
    }
  }

  /** Sets the receive handler. */
  onReceive(handler: DatagramHandler): void {
    this.handler = handler;
  }

  /** For the network: the handler to give an arriving datagram of `size` bytes, with the
   * datagram counted as received; null (nothing counted) when there is no handler. */
  receiver(size: number): DatagramHandler | null {
    const handler = this.handler;
    if (handler === null) return null;
    this.stats.datagramsIn++;
    this.stats.bytesIn += size;
    return handler;
  }

  /** Closes at once: no handler, no more sends, and the network is told (once). */
  closeNow(): void {
    if (this.closed) return;
    this.closed = true;
    this.handler = null;
    this.#hooks.unbind(this);
  }

  /** Closes (see {@link DatagramEndpoint.closeNow}). */
  close(): Promise<void> {
    this.closeNow();
    return Promise.resolve();
  }
}
