//! What the chitchat 0.10.1 build does differently from the 0.13.0 one (see `compat_v013.rs`):
//! one protocol version, `Socket` sends bare messages, no failure-detection timeout.

use std::net::SocketAddr;

use async_trait::async_trait;
use chitchat::transport::{ChannelTransport, Socket};
use chitchat::{Chitchat, ChitchatConfig, ChitchatId, ChitchatMessage, Serializable};
use serde_json::{Map, Value};

use crate::nodes::ConfigParts;
use crate::sim::{LossySocket, SentKind};

/// The chitchat crate this binary is built against.
pub const CHITCHAT_VERSION: &str = "0.10.1";
/// The protocol versions (header byte 2) this build can send.
pub const PROTOCOL_VERSIONS: [u8; 1] = [0];

/// A node's wire version: 0.10.1 has only V0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wire;

pub fn wire_from_code(code: u8) -> Result<Wire, String> {
    match code {
        0 => Ok(Wire),
        other => Err(format!(
            "chitchat {CHITCHAT_VERSION} knows only protocol version 0, got {other}; \
             use the 0.13.0 peer (`InteropPeer.start({{ version: \"0.13.0\" }})`) for V1"
        )),
    }
}

pub fn wire_code(_wire: Wire) -> u8 {
    0
}

pub fn chitchat_config(parts: ConfigParts) -> ChitchatConfig {
    ChitchatConfig {
        chitchat_id: parts.chitchat_id,
        cluster_id: parts.cluster_id,
        gossip_interval: parts.gossip_interval,
        listen_addr: parts.listen_addr,
        seed_nodes: parts.seed_nodes,
        failure_detector_config: parts.failure_detector_config,
        marked_for_deletion_grace_period: parts.marked_for_deletion_grace_period,
        catchup_callback: None,
        extra_liveness_predicate: None,
    }
}

/// Nothing to add: 0.10.1 has no `failure_detection_timeout`.
pub fn node_state_extras(_chitchat: &Chitchat, _id: &ChitchatId, _out: &mut Map<String, Value>) {}

/// 0.10.1 measures a message itself (`Serializable::serialized_len`): no sizer socket.
pub async fn open_sizer(
    _sizer: &ChannelTransport,
    _listen_addr: SocketAddr,
) -> anyhow::Result<Option<Box<dyn Socket>>> {
    Ok(None)
}

fn kind(msg: &ChitchatMessage) -> SentKind {
    match msg {
        ChitchatMessage::Syn { .. } => SentKind::Syn,
        ChitchatMessage::SynAck { .. } => SentKind::SynAck,
        ChitchatMessage::Ack { .. } => SentKind::Ack,
        _ => SentKind::Other,
    }
}

#[async_trait]
impl Socket for LossySocket {
    async fn send(&mut self, to: SocketAddr, msg: ChitchatMessage) -> anyhow::Result<()> {
        self.offer(kind(&msg), msg.serialized_len());
        if self.drops() {
            return Ok(());
        }
        self.inner.send(to, msg).await
    }

    async fn recv(&mut self) -> anyhow::Result<(SocketAddr, ChitchatMessage)> {
        self.inner.recv().await
    }
}
