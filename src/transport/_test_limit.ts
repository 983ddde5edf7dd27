// A transport wrapper for tests that need to see every datagram a node sends to a small limit
// (a limit alone: `MemoryNetwork.bind(addr, { maxDatagramSize })`).
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
