/**
 * The protocol step of a gossip node: one decoded message in, the reply to send (if any) out,
 * with the state changes it implies applied to the cluster state and failure detector. No
 * transport, timers or awaiting: {@link GossipNode} runs it from its datagram handler and sends
 * what it returns.
 *
 * @module
 */
import type { ClusterState } from "../state/_cluster_state.ts";
import type { FailureDetector } from "../failure_detector/failure_detector.ts";
import {
  encodeAck,
  encodeBadCluster,
  type EncodeOutputOptions,
  encodeSyn,
  encodeSynAck,
  type ProtocolVersion,
} from "../codec/message.ts";
import { encodeDigest } from "../codec/digest.ts";
import { deltaBudget, MAX_DATAGRAM_SIZE, MESSAGE_HEADER_BYTES } from "../codec/wire.ts";
import { utf8Length } from "../common/_utf8.ts";
import type { Random } from "../common/random.ts";
import {
  COMPACT_FRAMING,
  CompactSectionReader,
  CompactSectionWriter,
  DigestPicker,
  PARTIAL_TRAILER,
  partialTrailerFormat,
} from "./_partial_digest.ts";
import type { ChitchatMessage, Delta, Digest, NodeDigest } from "../common/types.ts";
import type { ResolvedConfig } from "./config.ts";

/** Replies are sent at once: encoding into the codec's shared output buffer saves an allocation
 * each (transports copy or send them at once, see `Transport.send`). One options object per
 * protocol version. */
const SHARED_OUTPUT = [
  { shared: true, protocolVersion: 0 },
  { shared: true, protocolVersion: 1 },
] as const;

/** How a message with a partial digest is encoded: in the shared buffer, the trailer behind. */
const PARTIAL_OUTPUT = { shared: true, protocolVersion: 0, trailer: PARTIAL_TRAILER } as const;

/** The digest and encoding options of a partial digest picked out of `digest`: the picked
 * indices into the whole digest when there are (its cached layout serves every pick), else the
 * picked entries as a digest of their own. */
function partialDigest(
  digest: Digest,
  partial: { nodes: NodeDigest[]; indices: number[] | undefined },
  trailer?: Uint8Array,
): [Digest, EncodeOutputOptions] {
  const output = trailer === undefined ? PARTIAL_OUTPUT : { ...PARTIAL_OUTPUT, trailer };
  if (partial.indices === undefined) return [{ nodes: partial.nodes }, output];
  return [digest, { ...output, digestSelection: partial.indices }];
}

/** Mode `compact`: the share of a partial digest's room that goes to whole digest entries (the
 * rest carries compact heartbeat entries). Measured in the simulator at 1 000 zlayer nodes on
 * 6 550-byte datagrams (a digest ten datagrams long, as 10 000 nodes have on UDP): every node
 * saw all after 60+ s (991 of 1 000 at 60 s) with 0.5, 55 s with 0.65, 48 s with 0.75, 49 s with
 * 0.85 (docs/BENCHMARKS.md, "Past one datagram: compact heartbeats"). */
const COMPACT_DIGEST_SHARE = 0.75;

const NONE_SCHEDULED: ReadonlySet<string> = new Set();

const EMPTY_DELTA = new Uint8Array([0]);

/** What {@link ProtocolStep.step} returns. The object is reused by the next call: read it (and
 * send `reply`, whose bytes live in the shared output buffer) before handling another message.
 *
 * @example
 * ```ts
 * import type { StepResult } from "./protocol.ts";
 * function describe(r: StepResult): string {
 *   return r.reply === undefined ? "no reply" : `${r.replyType}, ${r.reply.length} bytes`;
 * }
 * console.log(describe({ reply: undefined, replyType: undefined, reset: false }));
 * // no reply
 * ```
 */
export interface StepResult {
  /** The encoded reply to send to the sender, if any (in the shared output buffer: valid until the next encode). */
  reply: Uint8Array | undefined;
  /** The type of `reply`. */
  replyType: ChitchatMessage["type"] | undefined;
  /** Whether a delta made this node wipe and rebuild node states (it was too far behind). */
  reset: boolean;
}

/** Effects the caller acts on at the moment they happen within a step (so callbacks they run
 * observe the same order as the original handler: before the reply's delta is computed).
 *
 * @example
 * ```ts
 * import type { StepHooks } from "./protocol.ts";
 * let resets = 0;
 * const hooks: StepHooks = { onReset: () => resets++, onLiveNodesChanged: () => {} };
 * hooks.onReset();
 * console.log(resets); // 1
 * ```
 */
export interface StepHooks {
  /** A delta reset node states (catch-up); called right after it was applied. */
  onReset(): void;
  /** A delta changed this node's or a live node's state: the live nodes may have changed. */
  onLiveNodesChanged(): void;
}

/** What a {@link ProtocolStep} works on. */
export interface ProtocolStepOptions {
  /** The cluster state (self included). */
  readonly state: ClusterState;
  /** The failure detector heartbeats are reported to. */
  readonly fd: FailureDetector;
  /** The node's resolved configuration (`clusterId`, `compress` and, when given,
   * `protocolVersion` and `pastOneDatagram` are read; the version defaults to 0, the mode to
   * `"off"`). */
  readonly config:
    & Pick<ResolvedConfig, "clusterId" | "compress">
    & Partial<Pick<ResolvedConfig, "protocolVersion" | "pastOneDatagram">>;
  /** Randomness of the `random` partial digests (required for that mode). */
  readonly random?: Random;
  /** Effects acted on by the caller; no-ops when omitted. */
  readonly hooks?: StepHooks;
}

const NO_HOOKS: StepHooks = { onReset: () => {}, onLiveNodesChanged: () => {} };

/** The scuttlebutt message handler, apart from any I/O: Syn yields a SynAck (or BadCluster for
 * a foreign cluster), SynAck is applied and yields an Ack, Ack is applied. Every message counts
 * as a local heartbeat.
 *
 * @example
 * ```ts
 * import { ProtocolStep } from "./protocol.ts";
 * import { ClusterState } from "../state/_cluster_state.ts";
 * import { FailureDetector, DEFAULT_FAILURE_DETECTOR_CONFIG } from "../failure_detector/failure_detector.ts";
 * import { DeltaWriter } from "../codec/delta.ts";
 * import { systemClock } from "../common/clock.ts";
 * import { defaultRandom } from "../common/random.ts";
 *
 * const self = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { ip: "127.0.0.1", port: 7000 } };
 * const state = new ClusterState(self, {
 *   clockNow: () => systemClock.now(),
 *   random: defaultRandom(),
 *   newDeltaSink: (budget, compress) => new DeltaWriter({ budget, compress }),
 * });
 * const fd = new FailureDetector(DEFAULT_FAILURE_DETECTOR_CONFIG, systemClock);
 * const step = new ProtocolStep({ state, fd, config: { clusterId: "c", compress: false } });
 * const r = step.step({ type: "syn", clusterId: "other", digest: { nodes: [] } }, 65_507);
 * console.log(r.replyType); // badCluster
 * ```
 */
export class ProtocolStep {
  readonly #state: ClusterState;
  readonly #fd: FailureDetector;
  readonly #clusterId: string;
  readonly #compress: boolean;
  readonly #version: ProtocolVersion;
  readonly #hooks: StepHooks;
  readonly #result: StepResult = { reply: undefined, replyType: undefined, reset: false };
  /** Encoded size of the (whole) digest in the last Syn or SynAck built, in bytes (0 before the
   * first), in the version it was sent in. */
  lastDigestBytes = 0;
  /** Encoded size of the whole digest in the last Syn or SynAck built in this node's own protocol
   * version, in bytes (0 before the first). What the digest ceiling is measured by: the Syns
   * follow this node's configuration, replies the peers'. */
  ownDigestBytes = 0;
  /** Partial digests sent (past one datagram). */
  partialDigestsOut = 0;
  /** Partial digests received. */
  partialDigestsIn = 0;
  /** Compact heartbeat entries received that named a node this state holds. */
  compactEntriesIn = 0;
  /** Compact sections received malformed (ignored; the message itself was still handled). */
  compactSectionsRejected = 0;
  readonly #picker: DigestPicker | undefined;
  /** Mode `compact`: where the compact entries of the next message are written. */
  readonly #compactWriter: CompactSectionWriter | undefined;
  readonly #compactReader = new CompactSectionReader();
  readonly #synOverhead: number;

  /** A step over the given state, failure detector and configuration. */
  constructor(options: ProtocolStepOptions) {
    this.#state = options.state;
    this.#fd = options.fd;
    this.#clusterId = options.config.clusterId;
    this.#compress = options.config.compress;
    this.#version = options.config.protocolVersion ?? 0;
    this.#hooks = options.hooks ?? NO_HOOKS;
    const mode = options.config.pastOneDatagram ?? "off";
    if (mode !== "off") {
      if (mode === "random" && options.random === undefined) {
        throw new TypeError('ProtocolStep: pastOneDatagram "random" needs options.random');
      }
      this.#picker = new DigestPicker(mode, options.random!);
    }
    this.#compactWriter = mode === "compact" ? new CompactSectionWriter() : undefined;
    // Header, then the cluster id as a u16 length and its bytes.
    this.#synOverhead = 4 + 2 + utf8Length(this.#clusterId);
  }

  /** Handles `msg` (whose digest entries are only read, so they may be lent) and returns the
   * reply to send back; `maxDatagram` is the largest datagram the transport carries. `version`
   * is the protocol version `msg` came in (default 0): the reply goes out in it, as chitchat
   * 0.12+ answers (`Server::handle_envelope`), whatever this node's own setting, and a SynAck's
   * delta budget reserves the digest's length in that version (chitchat reserves its configured
   * version's, which can overflow a V1 node's reply to a V0 Syn: docs/CHITCHAT_VERSIONS.md).
   * `datagram`, the bytes `msg` was decoded from, tells whether its digest is partial (a trailer
   * after the message). */
  step(
    msg: ChitchatMessage,
    maxDatagram: number,
    version: ProtocolVersion = 0,
    datagram?: Uint8Array,
  ): StepResult {
    const r = this.#result;
    r.reply = undefined;
    r.replyType = undefined;
    r.reset = false;
    this.#state.selfState.incHeartbeat();
    switch (msg.type) {
      case "syn": {
        if (msg.clusterId !== this.#clusterId) {
          r.reply = encodeBadCluster(SHARED_OUTPUT[version]);
          r.replyType = "badCluster";
          return r;
        }
        const listedOnly = this.#receivePartial(msg.digest, datagram);
        const scheduled = this.#scheduledForDeletion();
        // Encoded right away: the live states serve as entries.
        const { digest, encodedLength, entrySizes } = this.#state.digestWithLength(scheduled, {
          snapshot: false,
        });
        // V1: the compressed digest's length is only known by encoding it; encoded once here
        // and written as is.
        const digestBytes = version === 1
          ? encodeDigest(digest, { protocolVersion: 1, compress: this.#compress })
          : undefined;
        const length = digestBytes?.length ?? encodedLength;
        this.lastDigestBytes = length;
        if (version === this.#version) this.ownDigestBytes = length;
        if (this.#picker !== undefined && version === 0 && 4 + length + 1 > maxDatagram) {
          // Past one datagram (V0 only): half of it for a partial digest, the rest for the delta.
          const w = this.#compactWriter;
          const room = maxDatagram - (w === undefined ? PARTIAL_TRAILER.length : COMPACT_FRAMING);
          const half = Math.floor((room - 4) / 2);
          const whole = w === undefined ? half : Math.floor(half * COMPACT_DIGEST_SHARE);
          const partial = this.#picker.pick(
            digest.nodes,
            this.#state.selfState,
            whole,
            entrySizes,
            w === undefined ? undefined : { writer: w, budget: half - whole },
          );
          const trailer = w?.finish();
          const delta = this.#deltaFor(
            msg.digest,
            deltaBudget(
              maxDatagram - (trailer?.length ?? PARTIAL_TRAILER.length),
              partial.encodedLength,
            ),
            scheduled,
            listedOnly,
          );
          this.partialDigestsOut++;
          const [d, options] = partialDigest(digest, partial, trailer);
          r.reply = encodeSynAck(d, delta, options);
          r.replyType = "synAck";
          return r;
        }
        const budget = deltaBudget(maxDatagram, length);
        const delta = this.#deltaFor(msg.digest, budget, scheduled, listedOnly);
        r.reply = encodeSynAck(digest, delta, { ...SHARED_OUTPUT[version], digestBytes });
        r.replyType = "synAck";
        return r;
      }
      case "synAck": {
        const listedOnly = this.#receivePartial(msg.digest, datagram);
        this.#applyDelta(msg.delta);
        const scheduled = this.#scheduledForDeletion();
        const delta = this.#deltaFor(msg.digest, deltaBudget(maxDatagram), scheduled, listedOnly);
        r.reply = encodeAck(delta, SHARED_OUTPUT[version]);
        r.replyType = "ack";
        return r;
      }
      case "ack":
        this.#applyDelta(msg.delta);
        return r;
      case "badCluster":
        return r;
    }
  }

  /** The encoded Syn this node sends to start a round with a peer, in the configured protocol
   * version (bytes in the shared output buffer; with a trailer when the digest is partial: past
   * one datagram, V0 only). */
  syn(maxDatagram: number = MAX_DATAGRAM_SIZE): Uint8Array {
    const scheduled = this.#scheduledForDeletion();
    const { digest, encodedLength, entrySizes } = this.#state.digestWithLength(scheduled, {
      snapshot: false,
    });
    if (this.#version === 0) {
      this.lastDigestBytes = this.ownDigestBytes = encodedLength;
      if (this.#picker !== undefined && this.#synOverhead + encodedLength > maxDatagram) {
        const w = this.#compactWriter;
        const budget = maxDatagram - this.#synOverhead -
          (w === undefined ? PARTIAL_TRAILER.length : COMPACT_FRAMING);
        const whole = w === undefined ? budget : Math.floor(budget * COMPACT_DIGEST_SHARE);
        const partial = this.#picker.pick(
          digest.nodes,
          this.#state.selfState,
          whole,
          entrySizes,
          w === undefined ? undefined : { writer: w, budget: budget - whole },
        );
        this.partialDigestsOut++;
        const [d, options] = partialDigest(digest, partial, w?.finish());
        return encodeSyn(this.#clusterId, d, options);
      }
      return encodeSyn(this.#clusterId, digest, SHARED_OUTPUT[0]);
    }
    const digestBytes = encodeDigest(digest, { protocolVersion: 1, compress: this.#compress });
    this.lastDigestBytes = this.ownDigestBytes = digestBytes.length;
    return encodeSyn(this.#clusterId, digest, { ...SHARED_OUTPUT[1], digestBytes });
  }

  /** Reports the heartbeats of a received Syn's or SynAck's digest, and of its compact
   * entries when it has any; returns whether the digest is partial (a trailer after the
   * message: the delta then covers only the nodes it lists). */
  #receivePartial(digest: Digest, datagram: Uint8Array | undefined): boolean {
    this.#reportHeartbeats(digest);
    const format = datagram === undefined ? 0 : partialTrailerFormat(datagram);
    if (format === 0) return false;
    this.partialDigestsIn++;
    if (format === 2) {
      const reader = this.#compactReader;
      // The section cannot start inside the header and the digest's entry count.
      const count = reader.read(datagram!, MESSAGE_HEADER_BYTES + 2);
      if (count < 0) this.compactSectionsRejected++;
      else if (this.#state.acceptDigest(digest)) {
        this.compactEntriesIn += this.#state.reportHeartbeatsByHash(
          reader.hashes,
          reader.heartbeats,
          count,
          this.#onSample,
        );
      }
    }
    return true;
  }

  #scheduledForDeletion(): ReadonlySet<string> {
    const keys = this.#fd.scheduledForDeletion();
    return keys.length === 0 ? NONE_SCHEDULED : new Set(keys);
  }

  #reportHeartbeats(digest: Digest): void {
    if (!this.#state.acceptDigest(digest)) return;
    this.#state.reportHeartbeats(digest, this.#onSample);
  }

  readonly #onSample = (key: string): void => {
    this.#fd.reportHeartbeat(key);
  };

  #deltaFor(
    digest: Digest,
    budget: number,
    scheduled: ReadonlySet<string>,
    listedOnly: boolean,
  ): Uint8Array {
    if (budget === 0) return EMPTY_DELTA; // deltaBudget(): too little room for a delta
    return this.#state.computeDelta(digest, budget, scheduled, this.#compress, listedOnly);
  }

  #applyDelta(delta: Delta): void {
    const { reset, changed } = this.#state.applyDelta(delta);
    if (reset) {
      this.#result.reset = true;
      this.#hooks.onReset();
    }
    if (
      changed.some((s) => s.isSelf || this.#fd.isLive(this.#state.keyOf(s.chitchatId) ?? ""))
    ) {
      this.#hooks.onLiveNodesChanged();
    }
  }
}
