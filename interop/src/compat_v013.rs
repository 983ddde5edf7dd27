//! What the chitchat 0.13.0 build does differently from the 0.10.1 one (see `compat_v010.rs`):
//! `ChitchatConfig::protocol_version` (V0 or V1), `Socket` sends and receives envelopes with
//! byte counts and knows its local address, and `Chitchat::failure_detection_timeout` exists.

use std::net::SocketAddr;

use async_trait::async_trait;
use chitchat::transport::{ChannelTransport, RecvOutcome, SendOutcome, Socket, Transport};
use chitchat::ProtocolVersion;
use chitchat::{Chitchat, ChitchatConfig, ChitchatEnvelope, ChitchatId, ChitchatMessage};
use serde_json::{json, Map, Value};

use crate::nodes::ConfigParts;
use crate::sim::{LossySocket, SentKind};

/// The chitchat crate this binary is built against.
pub const CHITCHAT_VERSION: &str = "0.13.0";
/// The protocol versions (header byte 2) this build can send.
pub const PROTOCOL_VERSIONS: [u8; 2] = [0, 1];

/// A node's wire version.
pub type Wire = ProtocolVersion;

pub fn wire_from_code(code: u8) -> Result<Wire, String> {
    ProtocolVersion::from_code(code).ok_or_else(|| {
        format!("chitchat {CHITCHAT_VERSION} knows protocol versions 0 and 1, got {code}")
    })
}

pub fn wire_code(wire: Wire) -> u8 {
    wire.to_code()
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
        protocol_version: parts.protocol_version,
    }
}

/// `failureDetectionTimeoutMs`: chitchat's `failure_detection_timeout` for that node (mean
/// heartbeat interval times the phi threshold), null for self, unknown nodes, nodes with no
/// interval sample yet and nodes whose samples were dropped when they were declared dead.
pub fn node_state_extras(chitchat: &Chitchat, id: &ChitchatId, out: &mut Map<String, Value>) {
    let timeout = chitchat
        .failure_detection_timeout(id)
        .map(|d| json!(d.as_secs_f64() * 1_000.0))
        .unwrap_or(Value::Null);
    out.insert("failureDetectionTimeoutMs".into(), timeout);
}

/// Opens this node's socket on the sizer transport (see `sim::LossyTransport::sizer`).
pub async fn open_sizer(
    sizer: &ChannelTransport,
    listen_addr: SocketAddr,
) -> anyhow::Result<Option<Box<dyn Socket>>> {
    Ok(Some(sizer.open(listen_addr).await?))
}

/// Where the sizer sends: an address no sizer socket is bound to.
const NOWHERE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9);

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
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        let kind = kind(&envelope.message);
        if self.drops() {
            let sizer = self
                .sizer
                .as_mut()
                .expect("the 0.13 build always opens a sizer socket");
            let outcome = sizer.send(NOWHERE, envelope).await?;
            self.offer(kind, outcome.num_bytes_sent);
            return Ok(outcome);
        }
        match self.inner.send(to, envelope).await {
            Ok(outcome) => {
                self.offer(kind, outcome.num_bytes_sent);
                Ok(outcome)
            }
            Err(error) => {
                // Over the MTU: chitchat does not say how long it was.
                self.offer(kind, 0);
                Err(error)
            }
        }
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        self.inner.recv().await
    }
}
