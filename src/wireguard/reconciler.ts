/**
 * `WireGuardReconciler`: keeps one WireGuard interface's peer set equal to a pool's live peers,
 * through the `wg` tool (kernel module or userspace implementation alike).
 *
 * @module
 */
import type { PeerInfo } from "../pool/peer_info.ts";
import type { TopologyEvent } from "../pool/pool.ts";
import { ConfigError } from "../common/errors.ts";
import { parseWgDump, type WgInterfaceState } from "./dump.ts";
import {
  type DesiredPeer,
  planReconcile,
  type Refusal,
  REFUSAL_REASONS,
  type RefusalReason,
  wgSetArgs,
} from "./plan.ts";
import { parseWgKey } from "./key.ts";
import { CommandWgRunner, runWg, type WgRunner } from "./runner.ts";
import { readWgStateFile, writeWgStateFile } from "./_state_file.ts";

/** A tunnel counts as up when its last handshake is younger than this (WireGuard rekeys every
 * 2 minutes and rejects sessions older than 3).
 *
 * @example
 * ```ts
 * import { TUNNEL_UP_SECONDS, type WgRunner, WireGuardReconciler } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const line = (n: number, handshake: number) =>
 *   `${key(n)}\t(none)\t10.0.0.${n}:51820\t10.42.0.${n}/32\t${handshake}\t0\t0\t25\n`;
 * const dump = `PRIV\t${key(1)}\t51820\toff\n` + line(2, 1000 - TUNNEL_UP_SECONDS + 1) +
 *   line(3, 1000 - TUNNEL_UP_SECONDS);
 * const runner: WgRunner = { // fake wg: a fixed dump, `set` does nothing
 *   run: (args) =>
 *     Promise.resolve({ code: 0, stderr: "", stdout: args[0] === "show" ? dump : "" }),
 * };
 * const wg = new WireGuardReconciler({ interface: "wg0", runner, resyncIntervalMs: 0, now: () => 1_000_000 });
 * wg.setPeers([2, 3].map((n) => ({
 *   nodeId: BigInt(n), wgPubkey: key(n), wgEndpoint: `10.0.0.${n}:51820`, overlayIp: `10.42.0.${n}`, labels: {},
 * })));
 * await wg.flush();
 * console.log(TUNNEL_UP_SECONDS, wg.tunnels().map((t) => t.up)); // 180 [true, false]
 * await wg.close();
 * ```
 */
export const TUNNEL_UP_SECONDS = 180;

/** Where the live peers come from: a `GossipPool` fits.
 *
 * @example
 * ```ts
 * import { type PeerSource, type WgRunner, WireGuardReconciler } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const calls: string[] = [];
 * const runner: WgRunner = { // records argv instead of running wg
 *   run(args) {
 *     calls.push(args[0]!);
 *     const stdout = args[0] === "show" ? `PRIV\t${key(1)}\t51820\toff\n` : "";
 *     return Promise.resolve({ code: 0, stdout, stderr: "" });
 *   },
 * };
 * const source: PeerSource = { // a fixed set of live peers and no topology events
 *   peers: () => [
 *     { nodeId: 2n, wgPubkey: key(2), wgEndpoint: "10.0.0.2:51820", overlayIp: "10.42.0.2", labels: {} },
 *   ],
 *   subscribe: async function* () {},
 * };
 * const wg = new WireGuardReconciler({ interface: "wg0", runner, resyncIntervalMs: 0 });
 * wg.follow(source);
 * await wg.flush();
 * console.log(calls, wg.metrics.peersConfigured); // ["show", "set"] 1
 * await wg.close();
 * ```
 */
export interface PeerSource {
  /** The live peers now. */
  peers(): PeerInfo[];
  /** Topology events; the reconciler only uses them as a signal to re-read `peers()`. */
  subscribe(options?: { replay?: boolean }): AsyncIterableIterator<TopologyEvent>;
}

/** Options of {@link WireGuardReconciler}.
 *
 * @example
 * ```ts
 * import { type WgRunner, WireGuardReconciler, type WireGuardReconcilerOptions } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const calls: string[][] = [];
 * const runner: WgRunner = { // records argv instead of running wg
 *   run(args) {
 *     calls.push([...args]);
 *     const stdout = args[0] === "show" ? `PRIV\t${key(1)}\t51820\toff\n` : "";
 *     return Promise.resolve({ code: 0, stdout, stderr: "" });
 *   },
 * };
 * const options: WireGuardReconcilerOptions = {
 *   interface: "wg1",
 *   runner,
 *   keepaliveSeconds: 0,
 *   resyncIntervalMs: 0,
 *   batchDelayMs: 0,
 * };
 * const wg = new WireGuardReconciler(options);
 * wg.setPeers([
 *   { nodeId: 2n, wgPubkey: key(2), wgEndpoint: "10.0.0.2:51820", overlayIp: "10.42.0.2", labels: {} },
 * ]);
 * await wg.flush();
 * console.log(calls[1]![1], calls[1]!.slice(-2)); // wg1 ["persistent-keepalive", "off"]
 * await wg.close();
 * ```
 */
export interface WireGuardReconcilerOptions {
  /** The interface name (`wg0`). */
  interface: string;
  /** How to run `wg`; default the real one on PATH. */
  runner?: WgRunner;
  /** Persistent keepalive in seconds; 0 turns it off. Default 25. */
  keepaliveSeconds?: number;
  /** Also remove peers this reconciler did not add. Default false. */
  prune?: boolean;
  /** Re-read the interface and converge this often (ms); 0 turns it off. Default 10 000. */
  resyncIntervalMs?: number;
  /** Wait this long after a change before applying, so a burst becomes one `wg set`. Default 20. */
  batchDelayMs?: number;
  /** Peers per `wg set` invocation at most (argv size bound). Default 4096. */
  maxPeersPerCommand?: number;
  /** This node's public key (refused as a peer's); default the interface's. */
  selfPublicKey?: string;
  /** This node's overlay IP (refused as a peer's). */
  selfOverlayIp?: string;
  /** Receives refusals (once each) and failures. Default `console.warn`. */
  onWarning?: (message: string) => void;
  /** Wall clock in ms (for handshake ages). Default `Date.now`. */
  now?: () => number;
  /** Called after every run, successful or not (e.g. to report tunnels going up). */
  onRun?: () => void;
  /** Record the keys of the peers this reconciler configures in this JSON file (written
   * atomically, mode 0600), so that after a restart it removes its own peers that left while it
   * was down, and leaves peers others added alone. Default: no file (a restart then leaves
   * such stale peers, unless `prune`). */
  stateFile?: string;
  /** With `stateFile`: how long (ms) after start the recorded peers wait for the pool to show
   * them again before the ones it does not show are removed. Default 10 000. */
  staleGraceMs?: number;
}

/** Counters of a reconciler.
 *
 * @example
 * ```ts
 * import { type WgRunner, type WireGuardMetrics, WireGuardReconciler } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const runner: WgRunner = { // fake wg: an empty interface, `set` does nothing
 *   run: (args) => {
 *     const stdout = args[0] === "show" ? `PRIV\t${key(1)}\t51820\toff\n` : "";
 *     return Promise.resolve({ code: 0, stdout, stderr: "" });
 *   },
 * };
 * const wg = new WireGuardReconciler({ interface: "wg0", runner, resyncIntervalMs: 0, onWarning: () => {} });
 * wg.setPeers([
 *   { nodeId: 2n, wgPubkey: key(2), wgEndpoint: "10.0.0.2:51820", overlayIp: "10.42.0.2", labels: {} },
 *   { nodeId: 3n, wgPubkey: "bad", wgEndpoint: "10.0.0.3:51820", overlayIp: "10.42.0.3", labels: {} },
 * ]);
 * await wg.flush();
 * const m: WireGuardMetrics = wg.metrics;
 * console.log(m.peersConfigured, m.runs, m.setCommands, m.refused.bad_key, m.lastError); // 1 1 1 1 undefined
 * await wg.close();
 * ```
 */
export interface WireGuardMetrics {
  /** Peers this reconciler holds configured on the interface now. */
  readonly peersConfigured: number;
  /** Reconcile runs (each reads the interface, and changes it when needed). */
  readonly runs: number;
  /** Runs that failed (wg missing, interface gone, command refused...). */
  readonly failures: number;
  /** `wg set` invocations made. */
  readonly setCommands: number;
  /** Distinct refused PeerInfos, by reason (each counted once, when first seen). */
  readonly refused: Readonly<Record<RefusalReason, number>>;
  /** The last failure's message, if the last run failed. */
  readonly lastError: string | undefined;
}

/** One configured tunnel.
 *
 * @example
 * ```ts
 * import { type TunnelStatus, type WgRunner, WireGuardReconciler } from "./mod.ts";
 * const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
 * const dump = `PRIV\t${key(1)}\t51820\toff\n` +
 *   `${key(2)}\t(none)\t10.0.0.2:51820\t10.42.0.2/32\t1000\t0\t0\t25\n`;
 * const runner: WgRunner = { // fake wg: a fixed dump, `set` does nothing
 *   run: (args) =>
 *     Promise.resolve({ code: 0, stderr: "", stdout: args[0] === "show" ? dump : "" }),
 * };
 * const wg = new WireGuardReconciler({ interface: "wg0", runner, resyncIntervalMs: 0, now: () => 1_030_000 });
 * wg.setPeers([
 *   { nodeId: 2n, wgPubkey: key(2), wgEndpoint: "10.0.0.2:51820", overlayIp: "10.42.0.2", labels: {} },
 * ]);
 * await wg.flush();
 * const t: TunnelStatus = wg.tunnels()[0]!;
 * console.log(t.nodeId, t.endpoint, t.allowedIp, t.handshakeAgeSeconds, t.up);
 * // 2n 10.0.0.2:51820 10.42.0.2/32 30 true
 * await wg.close();
 * ```
 */
export interface TunnelStatus {
  /** The peer's node id. */
  readonly nodeId: bigint;
  /** The peer's public key. */
  readonly publicKey: string;
  /** The endpoint the interface uses. */
  readonly endpoint: string | undefined;
  /** The overlay IP routed to it (`ip/32`). */
  readonly allowedIp: string;
  /** Seconds since the last handshake, or undefined when there was none. */
  readonly handshakeAgeSeconds: number | undefined;
  /** Whether the last handshake is younger than {@link TUNNEL_UP_SECONDS}. */
  readonly up: boolean;
}

/** Keeps a WireGuard interface's peers equal to a set of live PeerInfos.
 *
 * Changes are coalesced: any number of `setPeers` calls (or pool events) within `batchDelayMs`
 * become one `wg show <if> dump` and at most one `wg set` with every change in it. Peers are
 * removed when they leave, when their key changes (the new key is added in the same command),
 * or, with `prune`, when something else added them. A periodic re-read converges after a
 * restart, a lost command or a manual change. PeerInfos that cannot be applied are refused,
 * counted by reason and reported once each, and never disturb the other peers.
 *
 * @example
 * ```ts
 * import { WireGuardReconciler, type WgRunner } from "./mod.ts";
 * const key = (n: number) => {
 *   const b = new Uint8Array(32).fill(7);
 *   b[0] = n & 255;
 *   b[1] = n >> 8;
 *   return b.toBase64();
 * };
 * const calls: string[][] = [];
 * const runner: WgRunner = { // records argv instead of running wg
 *   run(args) {
 *     calls.push([...args]);
 *     const stdout = args[0] === "show" ? `PRIV\t${key(0)}\t51820\toff\n` : "";
 *     return Promise.resolve({ code: 0, stdout, stderr: "" });
 *   },
 * };
 * const wg = new WireGuardReconciler({ interface: "wg0", runner, resyncIntervalMs: 0 });
 * const peers = Array.from({ length: 1000 }, (_, j) => ({
 *   nodeId: BigInt(j + 1), wgPubkey: key(j + 1), wgEndpoint: `10.0.${j >> 8}.${j & 255}:51820`,
 *   overlayIp: `10.42.${j >> 8}.${j & 255}`, labels: {},
 * }));
 * for (let i = 1; i <= 1000; i++) wg.setPeers(peers.slice(0, i)); // 1000 joins in a burst
 * await wg.flush();
 * console.log(calls.map((c) => c[0]), wg.metrics.peersConfigured); // ["show", "set"] 1000
 * await wg.close();
 * ```
 */
export class WireGuardReconciler {
  readonly #iface: string;
  readonly #runner: WgRunner;
  readonly #keepalive: number;
  readonly #prune: boolean;
  readonly #resyncMs: number;
  readonly #batchMs: number;
  readonly #maxPeers: number;
  readonly #warn: (m: string) => void;
  readonly #now: () => number;
  readonly #onRun: (() => void) | undefined;
  #selfKey: string | undefined;
  #selfIp: string | undefined;
  #peers: readonly PeerInfo[] = [];
  /** Keys this reconciler added (and the endpoint it last set). */
  readonly #managed = new Map<string, string>();
  #desired: ReadonlyMap<string, DesiredPeer> = new Map();
  #state: WgInterfaceState | undefined;
  #refusedNow: readonly Refusal[] = [];
  readonly #reported = new Set<string>();
  readonly #refusedCount: Record<RefusalReason, number> = Object.fromEntries(
    REFUSAL_REASONS.map((r) => [r, 0]),
  ) as Record<RefusalReason, number>;
  #runs = 0;
  #failures = 0;
  #setCommands = 0;
  #lastError: string | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resyncTimer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #following: AsyncIterableIterator<TopologyEvent> | undefined;
  readonly #stateFile: string | undefined;
  readonly #graceMs: number;
  readonly #startedAt: number;
  /** Keys recorded by an earlier run and not configured by this one yet; undefined before the
   * state file is read. */
  #inherited: Set<string> | undefined;
  #saved = "";
  #stateError: string | undefined;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;

  /** Creates a reconciler; nothing runs until {@link setPeers}, {@link follow} or
   * {@link reconcile}. Throws a `ConfigError` for a bad option. */
  constructor(options: WireGuardReconcilerOptions) {
    if (!/^[A-Za-z0-9_.=+-]{1,15}$/.test(options.interface ?? "")) {
      throw new ConfigError(
        "interface",
        `must be a network interface name of 1 to 15 characters [A-Za-z0-9_.=+-], got ${
          JSON.stringify(options.interface)
        }`,
      );
    }
    const keepalive = options.keepaliveSeconds ?? 25;
    if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65_535) {
      throw new ConfigError("keepaliveSeconds", `must be an integer in 0..65535, got ${keepalive}`);
    }
    const nonNeg = (field: string, v: number | undefined, def: number): number => {
      const n = v ?? def;
      if (!Number.isFinite(n) || n < 0) {
        throw new ConfigError(field, `must be a non-negative number, got ${n}`);
      }
      return n;
    };
    this.#iface = options.interface;
    this.#runner = options.runner ?? new CommandWgRunner();
    this.#keepalive = keepalive;
    this.#prune = options.prune ?? false;
    this.#resyncMs = nonNeg("resyncIntervalMs", options.resyncIntervalMs, 10_000);
    this.#batchMs = nonNeg("batchDelayMs", options.batchDelayMs, 20);
    this.#maxPeers = Math.max(
      1,
      Math.floor(nonNeg("maxPeersPerCommand", options.maxPeersPerCommand, 4096)),
    );
    this.#warn = options.onWarning ?? ((m) => console.warn(`hearsay wireguard: ${m}`));
    this.#now = options.now ?? Date.now;
    this.#onRun = options.onRun;
    this.#stateFile = options.stateFile;
    this.#graceMs = nonNeg("staleGraceMs", options.staleGraceMs, 10_000);
    this.#startedAt = this.#now();
    this.setSelf({
      ...(options.selfPublicKey !== undefined ? { publicKey: options.selfPublicKey } : {}),
      ...(options.selfOverlayIp !== undefined ? { overlayIp: options.selfOverlayIp } : {}),
    });
  }

  /** The interface name. */
  get interface(): string {
    return this.#iface;
  }

  /** Sets this node's own key and overlay IP (after a key rotation or an address change);
   * schedules a reconcile. The key is validated (a `WgKeyError` when bad). */
  setSelf(self: { publicKey?: string; overlayIp?: string }): void {
    if (self.publicKey !== undefined) this.#selfKey = parseWgKey(self.publicKey);
    if (self.overlayIp !== undefined) this.#selfIp = self.overlayIp;
    if (this.#peers.length > 0) this.#schedule();
  }

  /** Replaces the set of live peers; the interface follows after `batchDelayMs`. */
  setPeers(peers: readonly PeerInfo[]): void {
    this.#peers = [...peers];
    this.#schedule();
  }

  /** Follows a pool: applies its live peers now and after every topology event, and starts
   * the periodic re-read. Returns at once; {@link close} stops following. */
  follow(source: PeerSource): void {
    if (this.#following !== undefined) {
      throw new ConfigError("follow", "is already following a source");
    }
    const events = source.subscribe({ replay: false });
    this.#following = events;
    this.setPeers(source.peers());
    (async () => {
      for await (const _ of events) {
        if (this.#closed) break;
        this.setPeers(source.peers());
      }
    })().catch((e) => this.#warn(`following the pool stopped: ${(e as Error).message}`));
    this.#armResync();
  }

  /** Reads the interface and converges it now (or waits for the run under way, then runs
   * again). Failures are counted and reported, not thrown. */
  reconcile(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#loop().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Waits until no change is pending or running. */
  async flush(): Promise<void> {
    while (this.#timer !== undefined || this.#running !== undefined) {
      if (this.#timer !== undefined) await this.reconcile();
      else await this.#running;
    }
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      await this.#once();
    } while (this.#again && !this.#closed);
  }

  async #once(): Promise<void> {
    this.#runs++;
    try {
      const inherited = await this.#loadState();
      const state = parseWgDump(await runWg(this.#runner, ["show", this.#iface, "dump"]));
      this.#state = state;
      const graceOver = this.#now() - this.#startedAt >= this.#graceMs;
      const plan = planReconcile(this.#peers, state, {
        selfPublicKey: this.#selfKey ?? state.publicKey,
        selfOverlayIp: this.#selfIp,
        keepaliveSeconds: this.#keepalive,
        managed: new Set([...this.#managed.keys(), ...(graceOver ? inherited : [])]),
        prune: this.#prune,
        appliedEndpoints: this.#managed,
      });
      this.#desired = plan.desired;
      this.#report(plan.refused);
      for (const args of wgSetArgs(this.#iface, plan, this.#maxPeers)) {
        this.#setCommands++;
        await runWg(this.#runner, args);
      }
      for (const key of plan.remove) {
        this.#managed.delete(key);
        inherited.delete(key);
      }
      // A recorded peer the interface no longer holds is gone already.
      for (const key of inherited) if (!state.peers.has(key)) inherited.delete(key);
      const endpointSet = new Set(
        plan.set.filter((c) => c.endpoint !== undefined).map((c) => c.publicKey),
      );
      for (const d of plan.desired.values()) {
        if (endpointSet.has(d.publicKey) || !this.#managed.has(d.publicKey)) {
          this.#managed.set(d.publicKey, d.endpoint);
        }
        inherited.delete(d.publicKey);
      }
      await this.#saveState();
      if (this.#lastError !== undefined) this.#warn(`reconcile of ${this.#iface} works again`);
      this.#lastError = undefined;
    } catch (e) {
      this.#failures++;
      const message = (e as Error).message;
      if (message !== this.#lastError) this.#warn(`reconcile of ${this.#iface} failed: ${message}`);
      this.#lastError = message;
    }
    try {
      this.#onRun?.();
    } catch (e) {
      this.#warn(`onRun threw: ${(e as Error).message}`);
    }
  }

  /** Reads the state file once (a bad file is reported and ignored); the keys recorded by an
   * earlier run, still waiting to be configured again or removed. */
  async #loadState(): Promise<Set<string>> {
    if (this.#inherited !== undefined) return this.#inherited;
    let keys = new Set<string>();
    if (this.#stateFile !== undefined) {
      try {
        keys = await readWgStateFile(this.#stateFile, this.#iface);
      } catch (e) {
        this.#warn(`ignoring the state file: ${(e as Error).message}`);
      }
    }
    this.#inherited = keys;
    this.#saved = JSON.stringify([...keys].sort());
    const wait = this.#graceMs - (this.#now() - this.#startedAt);
    if (keys.size > 0 && wait > 0 && !this.#closed) {
      this.#graceTimer = setTimeout(() => {
        this.#graceTimer = undefined;
        this.#schedule();
      }, wait);
    }
    return keys;
  }

  /** Writes the state file when the recorded keys changed; a failure is reported (once until
   * it changes or a write works), and retried by the next run. */
  async #saveState(): Promise<void> {
    if (this.#stateFile === undefined) return;
    const keys = new Set([...this.#managed.keys(), ...(this.#inherited ?? [])]);
    const text = JSON.stringify([...keys].sort());
    if (text === this.#saved) return;
    try {
      await writeWgStateFile(this.#stateFile, this.#iface, keys);
      this.#saved = text;
      this.#stateError = undefined;
    } catch (e) {
      const message = `cannot write the state file ${this.#stateFile}: ${(e as Error).message}`;
      if (message !== this.#stateError) this.#warn(message);
      this.#stateError = message;
    }
  }

  #report(refused: readonly Refusal[]): void {
    this.#refusedNow = refused;
    for (const r of refused) {
      const tag = `${r.nodeId}\u0000${r.reason}\u0000${r.detail}`;
      if (this.#reported.has(tag)) continue;
      if (this.#reported.size >= 10_000) this.#reported.clear();
      this.#reported.add(tag);
      this.#refusedCount[r.reason]++;
      this.#warn(`refusing PeerInfo of worker ${r.nodeId} (${r.reason}): ${r.detail}`);
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.reconcile();
    }, this.#batchMs);
  }

  #armResync(): void {
    if (this.#resyncMs === 0 || this.#resyncTimer !== undefined || this.#closed) return;
    this.#resyncTimer = setInterval(() => {
      if (this.#running === undefined) void this.reconcile();
    }, this.#resyncMs);
  }

  /** Counters. */
  get metrics(): WireGuardMetrics {
    return {
      peersConfigured: this.#managed.size,
      runs: this.#runs,
      failures: this.#failures,
      setCommands: this.#setCommands,
      refused: { ...this.#refusedCount },
      lastError: this.#lastError,
    };
  }

  /** The PeerInfos refused by the last run. */
  get refused(): readonly Refusal[] {
    return this.#refusedNow;
  }

  /** The interface as last read (before that run's changes), or undefined before the first. */
  get lastState(): WgInterfaceState | undefined {
    return this.#state;
  }

  /** The tunnels this reconciler wants, with their handshake state as last read. */
  tunnels(): TunnelStatus[] {
    const now = this.#now() / 1000;
    return [...this.#desired.values()].map((d) => {
      const have = this.#state?.peers.get(d.publicKey);
      const hs = have?.latestHandshake ?? 0;
      const age = hs > 0 ? Math.max(0, Math.round(now - hs)) : undefined;
      return {
        nodeId: d.nodeId,
        publicKey: d.publicKey,
        endpoint: have?.endpoint ?? d.endpoint,
        allowedIp: d.allowedIp,
        handshakeAgeSeconds: age,
        up: age !== undefined && age < TUNNEL_UP_SECONDS,
      };
    });
  }

  /** Stops following and the timers, after the run under way. Peers stay configured. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#resyncTimer !== undefined) clearInterval(this.#resyncTimer);
    this.#resyncTimer = undefined;
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    await this.#following?.return?.();
    await this.#running;
  }
}
