// The worker's `/metrics` text (Prometheus exposition format): the pool's gossip metrics, the
// encryption layer's drops and, with --wg-interface, the WireGuard reconciler's gauges.
import type { GossipPool } from "../pool/pool.ts";
import type { EncryptedTransport } from "../transport/encrypted.ts";
import { wireGuardPrometheus, type WireGuardReconciler } from "../wireguard/mod.ts";

/** The `/metrics` body of a worker running `pool` (with `encryption` and `wg` when in use). */
export function prometheus(
  pool: GossipPool,
  encryption: EncryptedTransport | undefined,
  wg: WireGuardReconciler | undefined,
): string {
  const m = pool.metrics();
  const live = pool.peers().length;
  const all = pool.peers({ includeDead: true }).length;
  const lines = [
    "# HELP hearsay_peers Known peers by state.",
    "# TYPE hearsay_peers gauge",
    `hearsay_peers{state="live"} ${live}`,
    `hearsay_peers{state="dead"} ${Math.max(0, all - live)}`,
    "# HELP hearsay_datagrams_total Datagrams by direction.",
    "# TYPE hearsay_datagrams_total counter",
    `hearsay_datagrams_total{direction="in"} ${m.datagramsIn}`,
    `hearsay_datagrams_total{direction="out"} ${m.datagramsOut}`,
    "# HELP hearsay_bytes_total Bytes by direction.",
    "# TYPE hearsay_bytes_total counter",
    `hearsay_bytes_total{direction="in"} ${m.bytesIn}`,
    `hearsay_bytes_total{direction="out"} ${m.bytesOut}`,
    "# HELP hearsay_datagrams_dropped_total Datagrams dropped, by reason.",
    "# TYPE hearsay_datagrams_dropped_total counter",
    ...Object.entries(m.dropped).map(([r, n]) =>
      `hearsay_datagrams_dropped_total{reason="${r}"} ${n}`
    ),
    `hearsay_datagrams_dropped_total{reason="send_error"} ${m.sendErrors}`,
    "# HELP hearsay_limit_rejections_total Inputs refused by a resource limit, by limit.",
    "# TYPE hearsay_limit_rejections_total counter",
    ...Object.entries(m.rejected).map(([l, n]) =>
      `hearsay_limit_rejections_total{limit="${l}"} ${n}`
    ),
    "# HELP hearsay_digest_bytes Encoded size of this node's digest in its last Syn or SynAck.",
    "# TYPE hearsay_digest_bytes gauge",
    `hearsay_digest_bytes ${m.digestBytes}`,
    "# HELP hearsay_datagram_limit_bytes Largest datagram the transport carries (the digest's ceiling).",
    "# TYPE hearsay_datagram_limit_bytes gauge",
    `hearsay_datagram_limit_bytes ${m.datagramLimit}`,
    "# HELP hearsay_gossip_rounds_total Gossip rounds run.",
    "# TYPE hearsay_gossip_rounds_total counter",
    `hearsay_gossip_rounds_total ${m.rounds}`,
    "# HELP hearsay_gossip_round_duration_seconds Time spent in gossip rounds.",
    "# TYPE hearsay_gossip_round_duration_seconds summary",
    `hearsay_gossip_round_duration_seconds_sum ${m.roundMsTotal / 1000}`,
    `hearsay_gossip_round_duration_seconds_count ${m.rounds}`,
    "# HELP hearsay_gossip_last_round_duration_seconds Duration of the last round.",
    "# TYPE hearsay_gossip_last_round_duration_seconds gauge",
    `hearsay_gossip_last_round_duration_seconds ${m.lastRoundMs / 1000}`,
    ...(encryption === undefined ? [] : [
      "# HELP hearsay_encryption_dropped_total Datagrams that failed decryption, by reason.",
      "# TYPE hearsay_encryption_dropped_total counter",
      ...Object.entries(encryption.dropped).map(([r, n]) =>
        `hearsay_encryption_dropped_total{reason="${r}"} ${n}`
      ),
    ]),
    "# HELP hearsay_malformed_peer_infos_total Malformed PeerInfo values seen from peers.",
    "# TYPE hearsay_malformed_peer_infos_total counter",
    `hearsay_malformed_peer_infos_total ${pool.malformedPeerInfos}`,
    ...(wg === undefined ? [] : [wireGuardPrometheus(wg)]),
  ];
  return lines.join("\n") + "\n";
}
