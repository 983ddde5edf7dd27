/**
 * Prometheus text for a {@link WireGuardReconciler}'s counters and tunnels.
 *
 * @module
 */
import { REFUSAL_REASONS } from "./plan.ts";
import type { WireGuardReconciler } from "./reconciler.ts";

/** The reconciler's metrics in the Prometheus text format (lines, no trailing newline):
 * `hearsay_wg_peers_configured`, `hearsay_wg_reconcile_runs_total`,
 * `hearsay_wg_reconcile_failures_total`, `hearsay_wg_set_commands_total`,
 * `hearsay_wg_refused_peer_infos_total{reason}`, `hearsay_wg_tunnels{state}` and
 * `hearsay_wg_last_handshake_age_seconds{node_id}` (absent for peers that never shook hands).
 *
 * @example
 * ```ts
 * import { WireGuardReconciler, wireGuardPrometheus } from "./mod.ts";
 * const runner = { run: () => Promise.resolve({ code: 1, stdout: "", stderr: "no wg" }) };
 * const wg = new WireGuardReconciler({ interface: "wg0", runner, onWarning: () => {} });
 * await wg.reconcile();
 * console.log(wireGuardPrometheus(wg).split("\n").find((l) => l.startsWith("hearsay_wg_reconcile_failures")));
 * // hearsay_wg_reconcile_failures_total{interface="wg0"} 1
 * await wg.close();
 * ```
 */
export function wireGuardPrometheus(wg: WireGuardReconciler): string {
  const m = wg.metrics;
  const i = `interface="${wg.interface}"`;
  const tunnels = wg.tunnels();
  const up = tunnels.filter((t) => t.up).length;
  return [
    "# HELP hearsay_wg_peers_configured WireGuard peers this worker holds configured.",
    "# TYPE hearsay_wg_peers_configured gauge",
    `hearsay_wg_peers_configured{${i}} ${m.peersConfigured}`,
    "# HELP hearsay_wg_reconcile_runs_total Reconcile runs (read the interface, apply changes).",
    "# TYPE hearsay_wg_reconcile_runs_total counter",
    `hearsay_wg_reconcile_runs_total{${i}} ${m.runs}`,
    "# HELP hearsay_wg_reconcile_failures_total Reconcile runs that failed.",
    "# TYPE hearsay_wg_reconcile_failures_total counter",
    `hearsay_wg_reconcile_failures_total{${i}} ${m.failures}`,
    "# HELP hearsay_wg_set_commands_total wg set invocations.",
    "# TYPE hearsay_wg_set_commands_total counter",
    `hearsay_wg_set_commands_total{${i}} ${m.setCommands}`,
    "# HELP hearsay_wg_refused_peer_infos_total PeerInfos not applied, by reason.",
    "# TYPE hearsay_wg_refused_peer_infos_total counter",
    ...REFUSAL_REASONS.map((r) =>
      `hearsay_wg_refused_peer_infos_total{${i},reason="${r}"} ${m.refused[r]}`
    ),
    "# HELP hearsay_wg_tunnels Tunnels wanted, by state (up: handshake within 180 s).",
    "# TYPE hearsay_wg_tunnels gauge",
    `hearsay_wg_tunnels{${i},state="up"} ${up}`,
    `hearsay_wg_tunnels{${i},state="down"} ${tunnels.length - up}`,
    "# HELP hearsay_wg_last_handshake_age_seconds Seconds since each peer's last handshake.",
    "# TYPE hearsay_wg_last_handshake_age_seconds gauge",
    ...tunnels.filter((t) => t.handshakeAgeSeconds !== undefined).map((t) =>
      `hearsay_wg_last_handshake_age_seconds{${i},node_id="${t.nodeId}"} ${t.handshakeAgeSeconds}`
    ),
  ].join("\n");
}
