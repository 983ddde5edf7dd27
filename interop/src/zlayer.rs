//! zlayer's gossip-pool conventions, written again on the Rust side so the tests can check that
//! a Rust reader accepts what hearsay publishes and vice versa: each worker publishes one key
//! `worker:<u64>` whose value is base64url (no padding) of the serde JSON of `PeerInfo`.
//! `peers` walks the node states the way zlayer's `GossipPool::peers()` does (every node but
//! self, visible keys only, no liveness filter, no de-duplication).

use std::collections::HashMap;
use std::net::SocketAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chitchat::Chitchat;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::json::chitchat_id_json;

/// The same fields, types and serde attributes as zlayer's `PeerInfo`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PeerInfo {
    pub node_id: u64,
    pub wg_pubkey: String,
    pub wg_endpoint: SocketAddr,
    pub overlay_ip: String,
    #[serde(default)]
    pub labels: HashMap<String, String>,
}

fn peer_json(info: &PeerInfo) -> Value {
    json!({
        "nodeId": info.node_id.to_string(),
        "wgPubkey": info.wg_pubkey,
        "wgEndpoint": info.wg_endpoint.to_string(),
        "overlayIp": info.overlay_ip,
        "labels": info.labels,
    })
}

/// zlayer's `peers()`: PeerInfos parsed from every other node's visible `worker:<u64>` keys,
/// each with the chitchat id of the node that published it. Values that do not decode are
/// reported in `errors` (zlayer logs base64 errors and skips JSON errors silently).
pub fn peers(chitchat: &Chitchat) -> Value {
    let me = chitchat.self_chitchat_id().clone();
    let mut peers = Vec::new();
    let mut errors = Vec::new();
    for (id, state) in chitchat.node_states() {
        if *id == me {
            continue;
        }
        for (key, value) in state.key_values() {
            let Some(suffix) = key.strip_prefix("worker:") else {
                continue;
            };
            if suffix.parse::<u64>().is_err() {
                continue;
            }
            let bytes = match URL_SAFE_NO_PAD.decode(value) {
                Ok(bytes) => bytes,
                Err(e) => {
                    errors.push(format!("{key}: base64: {e}"));
                    continue;
                }
            };
            match serde_json::from_slice::<PeerInfo>(&bytes) {
                Ok(info) => {
                    let mut p = peer_json(&info);
                    p["owner"] = chitchat_id_json(id);
                    peers.push(p);
                }
                Err(e) => errors.push(format!("{key}: json: {e}")),
            }
        }
    }
    json!({ "peers": peers, "errors": errors })
}

/// zlayer's encoding of a PeerInfo given as JSON (`node_id` as a decimal string): the key
/// `worker:<id>` and its value.
pub fn encode(info: &Value) -> Result<(String, String), String> {
    let field = |name: &str| -> Result<&str, String> {
        info.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("info.{name} must be a string"))
    };
    let node_id: u64 = field("nodeId")?
        .parse()
        .map_err(|e| format!("info.nodeId: {e}"))?;
    let wg_endpoint: SocketAddr = field("wgEndpoint")?
        .parse()
        .map_err(|e| format!("info.wgEndpoint: {e}"))?;
    let labels: HashMap<String, String> = match info.get("labels") {
        None => HashMap::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("info.labels: {e}"))?,
    };
    let peer = PeerInfo {
        node_id,
        wg_pubkey: field("wgPubkey")?.to_string(),
        wg_endpoint,
        overlay_ip: field("overlayIp")?.to_string(),
        labels,
    };
    let json = serde_json::to_vec(&peer).map_err(|e| e.to_string())?;
    Ok((format!("worker:{node_id}"), URL_SAFE_NO_PAD.encode(json)))
}
