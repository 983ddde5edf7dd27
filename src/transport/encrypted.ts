/**
 * Opt-in encryption and authentication for any {@link Transport}: {@link EncryptedTransport}
 * seals every outgoing datagram with a {@link Keyring}'s primary key and opens incoming ones with
 * any installed key, dropping (and counting) whatever does not authenticate. Plain mode, without
 * this wrapper, is byte-compatible chitchat and has no protection at all.
 *
 * @module
 */
import { ConfigError } from "../common/errors.ts";
import { toHex } from "../common/_encoding.ts";
import { DecryptError, ENCRYPTION_OVERHEAD, type Keyring, NONCE_SIZE } from "./keyring.ts";
import type { SocketAddr } from "../common/types.ts";
import { MAX_DATAGRAM_SIZE } from "../codec/wire.ts";
import type { DatagramHandler, Transport, TransportStats } from "./transport.ts";

/** The largest plaintext an {@link EncryptedTransport} sends in one UDP datagram:
 * 65 507 - 29 = 65 478 bytes. The engine's datagram budgets must stay within it, or its largest
 * messages are dropped (counted as `tooLarge`).
 *
 * @example
 * ```ts
 * import { MAX_ENCRYPTED_PLAINTEXT } from "./encrypted.ts";
 * console.log(MAX_ENCRYPTED_PLAINTEXT); // 65478
 * ```
 */
export const MAX_ENCRYPTED_PLAINTEXT: number = MAX_DATAGRAM_SIZE - ENCRYPTION_OVERHEAD;

/** Default size of the replay window (nonces remembered). */
const DEFAULT_REPLAY_WINDOW = 4096;

/** Options of an {@link EncryptedTransport}.
 *
 * @example
 * ```ts
 * import type { EncryptedTransportOptions } from "./encrypted.ts";
 * const o: EncryptedTransportOptions = { replayWindow: 0 };
 * console.log(o.replayWindow);
 * ```
 */
export interface EncryptedTransportOptions {
  /** How many nonces of recently accepted datagrams to remember; a datagram whose nonce is among
   * them is dropped (reason `replay`). Bounded memory (about 100 bytes a nonce); older replays
   * still get through and are harmless (chitchat ignores stale digests and deltas). 0 disables
   * the window. Default 4096. */
  readonly replayWindow?: number;
  /** Largest plaintext sent; larger sends are dropped (reason `tooLarge`). Default
   * {@link MAX_ENCRYPTED_PLAINTEXT}; lower it when the inner transport has a smaller MTU. */
  readonly maxDatagramSize?: number;
  /** Called when the receive handler throws (it must not). The datagram is counted in
   * `dropped.handlerError` either way. */
  readonly onHandlerError?: (error: unknown) => void;
}

/** Bounded FIFO set of nonces (hex). */
class ReplayWindow {
  readonly #seen = new Set<string>();
  readonly #order: string[];
  #next = 0;

  constructor(size: number) {
    this.#order = new Array<string>(size);
  }

  /** Records `nonce`; returns false when it was already there. */
  admit(nonce: string): boolean {
    if (this.#seen.has(nonce)) return false;
    const evicted = this.#order[this.#next];
    if (evicted !== undefined) this.#seen.delete(evicted);
    this.#order[this.#next] = nonce;
    this.#next = (this.#next + 1) % this.#order.length;
    this.#seen.add(nonce);
    return true;
  }
}

/**
 * A {@link Transport} decorator that encrypts and authenticates every datagram with AES-GCM.
 * Wrap any transport (UDP, in-memory) and hand the result to the engine:
 * `GossipNode.start({ ..., transport: new EncryptedTransport(await bindUdp(addr), keyring) })`.
 *
 * - `send` is fire-and-forget: the plaintext is read at once (the caller may reuse its buffer),
 *   sealed asynchronously and handed to the inner transport in call order. It never throws;
 *   failures count in `stats.sendErrors` and `dropped` (`tooLarge`, `closed`, `encryptFailed`).
 * - Received datagrams are opened asynchronously and delivered in arrival order. Those that do
 *   not authenticate are dropped and counted by reason in `dropped`: `tooShort`, `badVersion`,
 *   `noKey` (see `DecryptError`), `replay` (nonce seen within the replay window).
 * - `stats` counts plaintext datagrams and bytes as the engine sees them (delivered to the
 *   handler; handed, sealed, to the inner transport); `sendErrors` includes the inner
 *   transport's. The wire bytes (29 more per datagram) are in `inner.stats`.
 * - `close()` waits for every seal and open in flight (sealed datagrams still go out), then closes
 *   the inner transport.
 *
 * The plaintext limit is {@link MAX_ENCRYPTED_PLAINTEXT} (65 478 bytes): 29 bytes of overhead
 * ({@link EncryptedTransport.overhead}) must fit in the 65 507-byte UDP payload.
 *
 * @example
 * ```ts
 * import { EncryptedTransport } from "./encrypted.ts";
 * import { MemoryNetwork } from "./memory.ts";
 * import { generateKey, Keyring } from "./keyring.ts";
 * import { VirtualClock } from "../common/virtual_clock.ts";
 * const clock = new VirtualClock();
 * const net = new MemoryNetwork({ clock, seed: 1 });
 * const keyring = await Keyring.create([generateKey()]);
 * const a = new EncryptedTransport(net.bind({ ip: "10.0.0.1", port: 7946 }), keyring);
 * const b = new EncryptedTransport(net.bind({ ip: "10.0.0.2", port: 7946 }), keyring);
 * b.onReceive((data) => console.log(new TextDecoder().decode(data))); // hello
 * a.send(b.localAddr, new TextEncoder().encode("hello"));
 * await a.idle(); // sealed and handed to the network
 * clock.advance(1); // the network delivers
 * await b.idle(); // opened and delivered
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export class EncryptedTransport implements Transport {
  /** The wrapped transport (its stats count wire bytes). */
  readonly inner: Transport;
  /** The keys; rotate them on the keyring while the transport runs. */
  readonly keyring: Keyring;
  /** Bytes added to every datagram: version (1) + nonce (12) + tag (16) = 29. */
  readonly overhead: number = ENCRYPTION_OVERHEAD;
  /** Largest datagram (plaintext) `send` accepts; larger ones are dropped as `tooLarge`. The
   * engine should size its messages to this (see {@link EncryptedTransportOptions.maxDatagramSize}). */
  readonly maxDatagramSize: number;
  /** Datagrams dropped by this layer, by reason. */
  readonly dropped: Record<string, number> = {};
  readonly #stats: TransportStats = {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    sendErrors: 0,
  };
  readonly #replay: ReplayWindow | null;
  readonly #onHandlerError: ((error: unknown) => void) | undefined;
  #handler: DatagramHandler | null = null;
  #listening = false;
  #closed = false;
  #closing: Promise<void> | null = null;
  readonly #inFlight = new Set<Promise<void>>();
  #sendTail: Promise<void> = Promise.resolve();
  #receiveTail: Promise<void> = Promise.resolve();

  /** Wraps `inner`. The transport takes ownership: `close()` closes `inner`. */
  constructor(inner: Transport, keyring: Keyring, options: EncryptedTransportOptions = {}) {
    const window = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    if (!Number.isInteger(window) || window < 0 || window > 1_000_000) {
      throw new ConfigError("replayWindow", `must be an integer in 0..1000000, got ${window}`);
    }
    const max = options.maxDatagramSize ?? MAX_ENCRYPTED_PLAINTEXT;
    if (!Number.isInteger(max) || max < 0 || max > MAX_ENCRYPTED_PLAINTEXT) {
      throw new ConfigError(
        "maxDatagramSize",
        `must be an integer in 0..${MAX_ENCRYPTED_PLAINTEXT}, got ${max}`,
      );
    }
    this.inner = inner;
    this.keyring = keyring;
    this.maxDatagramSize = max;
    this.#replay = window > 0 ? new ReplayWindow(window) : null;
    this.#onHandlerError = options.onHandlerError;
  }

  /** The inner transport's address. */
  get localAddr(): SocketAddr {
    return this.inner.localAddr;
  }

  /** Plaintext counters (a snapshot); `sendErrors` includes the inner transport's. */
  get stats(): TransportStats {
    return { ...this.#stats, sendErrors: this.#stats.sendErrors + this.inner.stats.sendErrors };
  }

  /** Seals and operations still running. */
  get pending(): number {
    return this.#inFlight.size;
  }

  #drop(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }

  #sendFailed(reason: string): void {
    this.#stats.sendErrors++;
    this.#drop(reason);
  }

  /** Runs `work` in flight; it never rejects (a bug in it is counted as `internal`). */
  #track(work: () => Promise<void>): Promise<void> {
    const job: Promise<void> = work().catch(() => this.#drop("internal")).finally(() => {
      this.#inFlight.delete(job);
    });
    this.#inFlight.add(job);
    return job;
  }

  /** Seals `data` and sends it through the inner transport. Never throws. */
  send(to: SocketAddr, data: Uint8Array): void {
    if (this.#closed) return this.#sendFailed("closed");
    if (!(data instanceof Uint8Array) || data.length > this.maxDatagramSize) {
      return this.#sendFailed("tooLarge");
    }
    const size = data.length;
    // encrypt() reads the plaintext before it returns: the caller may reuse its buffer.
    const sealing = this.keyring.encrypt(data);
    const previous = this.#sendTail;
    this.#sendTail = this.#track(async () => {
      let sealed: Uint8Array | undefined;
      try {
        sealed = await sealing;
      } catch {
        sealed = undefined;
      }
      await previous; // keep the caller's order
      if (sealed === undefined) return this.#sendFailed("encryptFailed");
      this.#stats.datagramsOut++;
      this.#stats.bytesOut += size;
      this.inner.send(to, sealed);
    });
  }

  /** Sets the handler that gets every authenticated plaintext. */
  onReceive(handler: DatagramHandler): void {
    this.#handler = handler;
    if (!this.#listening && !this.#closed) {
      this.#listening = true;
      this.inner.onReceive((data, from) => this.#received(data, from));
    }
  }

  #received(data: Uint8Array, from: SocketAddr): void {
    if (this.#closed) return this.#drop("closed");
    // decrypt() checks and copies the bytes before it returns.
    const opening = this.keyring.decrypt(data);
    const nonce = this.#replay === null || data.length < 1 + NONCE_SIZE
      ? ""
      : toHex(data.subarray(1, 1 + NONCE_SIZE));
    const previous = this.#receiveTail;
    this.#receiveTail = this.#track(async () => {
      let plain: Uint8Array | undefined;
      let reason = "";
      try {
        plain = await opening;
      } catch (e) {
        reason = e instanceof DecryptError ? e.reason : "internal";
      }
      await previous; // deliver in arrival order
      if (plain === undefined) return this.#drop(reason);
      if (this.#replay !== null && !this.#replay.admit(nonce)) return this.#drop("replay");
      const handler = this.#handler;
      if (this.#closed || handler === null) return this.#drop("closed");
      this.#stats.datagramsIn++;
      this.#stats.bytesIn += plain.length;
      try {
        handler(plain, from);
      } catch (e) {
        this.#drop("handlerError");
        this.#onHandlerError?.(e);
      }
    });
  }

  /** Resolves once no seal or open is running (including ones started meanwhile by the
   * handler). Useful with a virtual clock: advance, then await `idle()`. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** Stops receiving, waits for the seals and opens in flight (sealed datagrams still go out),
   * then closes the inner transport. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closed = true;
      this.#handler = null;
      this.#closing = (async () => {
        await this.idle();
        await this.inner.close();
      })();
    }
    return this.#closing;
  }
}
