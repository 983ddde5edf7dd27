// A transport wrapper for tests that need a node to size its messages to a small datagram.
import type { Transport } from "./transport.ts";

/** `inner` (a MemoryNetwork endpoint, say), declaring `limit` as its largest datagram; `onSend`,
 * when given, sees a copy of every datagram sent. */
export function withDatagramLimit(
  inner: Transport,
  limit: number,
  onSend?: (data: Uint8Array) => void,
): Transport {
  return {
    get localAddr() {
      return inner.localAddr;
    },
    get stats() {
      return inner.stats;
    },
    maxDatagramSize: limit,
    send: (to, data) => {
      onSend?.(data.slice());
      return inner.send(to, data);
    },
    onReceive: (handler) => inner.onReceive(handler),
    close: () => inner.close(),
  };
}
