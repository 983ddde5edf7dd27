//! Node commands: real chitchat nodes on loopback UDP with chitchat's own `UdpTransport`
//! (COMMANDS.md, "Node commands"). Several nodes can run in one process; each is named by a
//! numeric handle.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use chitchat::transport::UdpTransport;
use chitchat::{spawn_chitchat, Chitchat, ChitchatHandle, ChitchatId};
use chitchat::{FailureDetectorConfig, NodeState};
use serde_json::{json, Value};

use crate::json::{chitchat_id_json, fields, versioned_value_json, Args, CmdResult};

/// How many fresh ports `listenPort: 0` tries before giving up.
const PORT_ATTEMPTS: usize = 8;
/// How long `node_kill` waits for the aborted task to be dropped (its socket closed).
const KILL_WAIT: Duration = Duration::from_secs(5);
/// Bounds on configuration values that would otherwise panic or allocate without limit.
const MAX_SAMPLING_WINDOW: u64 = 1_000_000;
const MAX_MS: u64 = 1_000 * 3_600 * 24 * 365;

/// The running nodes of this process.
#[derive(Default)]
pub struct Nodes {
    next_handle: u64,
    handles: HashMap<u64, (ChitchatHandle, crate::compat::Wire)>,
}

struct NodeOptions {
    node_id: String,
    generation_id: u64,
    listen_ip: IpAddr,
    listen_port: u16,
    seeds: Vec<String>,
    cluster_id: String,
    gossip_interval: Duration,
    marked_for_deletion_grace_period: Duration,
    failure_detector: FailureDetectorConfig,
    initial_key_values: Vec<(String, String)>,
    protocol_version: crate::compat::Wire,
}

/// What every chitchat version's `ChitchatConfig` has; `compat::chitchat_config` adds the
/// version's own fields (0.13: `protocol_version`).
pub struct ConfigParts {
    pub chitchat_id: ChitchatId,
    pub cluster_id: String,
    pub gossip_interval: Duration,
    pub listen_addr: SocketAddr,
    pub seed_nodes: Vec<String>,
    pub failure_detector_config: FailureDetectorConfig,
    pub marked_for_deletion_grace_period: Duration,
    // Read only by the 0.13 build (0.10.1 has no choice).
    #[allow(dead_code)]
    pub protocol_version: crate::compat::Wire,
}

/// The optional `protocolVersion` argument (0 or 1; default 0), checked against what this
/// build's chitchat knows.
pub fn protocol_version_arg(args: &Args) -> Result<crate::compat::Wire, String> {
    match args.opt_u64("protocolVersion")? {
        None => crate::compat::wire_from_code(0),
        Some(code) if code <= u8::MAX as u64 => crate::compat::wire_from_code(code as u8),
        Some(code) => Err(format!("`protocolVersion` must be 0 or 1, got {code}")),
    }
}

fn millis(args: &Args, name: &str, default: Duration, min: u64) -> Result<Duration, String> {
    match args.opt_u64(name)? {
        None => Ok(default),
        Some(ms) if (min..=MAX_MS).contains(&ms) => Ok(Duration::from_millis(ms)),
        Some(ms) => Err(format!("`{name}` must be in {min}..={MAX_MS} ms, got {ms}")),
    }
}

/// Addresses this peer may bind or gossip to: loopback, and 10.213.0.0/16, the private subnet
/// that tests/netns_test.ts creates inside its own network namespaces (the peer then runs inside
/// one of them, so that traffic never leaves the namespaces the test made).
fn allowed_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || matches!(v4.octets(), [10, 213, _, _]),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

fn node_options(args: &Args) -> Result<NodeOptions, String> {
    let node_id = args.str("nodeId")?.to_string();
    let generation_id = args.opt_u64("generationId")?.unwrap_or(0);
    let listen_ip = match args.opt_str("listenIp")? {
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(text) => match text.parse::<IpAddr>() {
            Ok(ip) if allowed_ip(ip) => ip,
            _ => {
                return Err(format!(
                    "`listenIp` must be a loopback address or in 10.213.0.0/16, got {text:?}"
                ))
            }
        },
    };
    let listen_port = match args.opt_u64("listenPort")?.unwrap_or(0) {
        p if p <= u16::MAX as u64 => p as u16,
        p => return Err(format!("`listenPort` must be in 0..=65535, got {p}")),
    };
    let mut seeds = Vec::new();
    for seed in args.opt_array("seeds")?.into_iter().flatten() {
        let text = seed
            .as_str()
            .ok_or_else(|| format!("a seed must be a string, got {seed}"))?;
        // Only loopback (or the netns test's subnet, see `allowed_ip`): this peer must never
        // send traffic off the machine, and a host name would make chitchat resolve it via DNS.
        match text.parse::<SocketAddr>() {
            Ok(addr) if allowed_ip(addr.ip()) => seeds.push(text.to_string()),
            _ => {
                return Err(format!(
                    "a seed must be a loopback (or 10.213.0.0/16) \"ip:port\", got {text:?}"
                ))
            }
        }
    }
    let cluster_id = args
        .opt_str("clusterId")?
        .unwrap_or("default-cluster")
        .to_string();
    let gossip_interval = millis(args, "gossipIntervalMs", Duration::from_secs(1), 1)?;
    let marked_for_deletion_grace_period = millis(
        args,
        "markedForDeletionGracePeriodMs",
        Duration::from_secs(2 * 3_600),
        0,
    )?;
    let defaults = FailureDetectorConfig::default();
    let phi_threshold = args
        .opt_f64("phiThreshold")?
        .unwrap_or(defaults.phi_threshold);
    let sampling_window_size = match args.opt_u64("samplingWindowSize")? {
        None => defaults.sampling_window_size,
        Some(n) if (1..=MAX_SAMPLING_WINDOW).contains(&n) => n as usize,
        Some(n) => {
            return Err(format!(
                "`samplingWindowSize` must be in 1..={MAX_SAMPLING_WINDOW}, got {n}"
            ))
        }
    };
    let failure_detector = FailureDetectorConfig::new(
        phi_threshold,
        sampling_window_size,
        millis(args, "maxIntervalMs", defaults.max_interval, 0)?,
        millis(args, "initialIntervalMs", defaults.initial_interval, 0)?,
        millis(
            args,
            "deadNodeGracePeriodMs",
            defaults.dead_node_grace_period,
            0,
        )?,
    );
    let mut initial_key_values = Vec::new();
    for pair in args.opt_array("initialKeyValues")?.into_iter().flatten() {
        match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(k), Value::String(v)]) => {
                initial_key_values.push((k.clone(), v.clone()))
            }
            _ => {
                return Err(format!(
                    "`initialKeyValues` entries must be [key, value], got {pair}"
                ))
            }
        }
    }
    let protocol_version = protocol_version_arg(args)?;
    Ok(NodeOptions {
        protocol_version,
        node_id,
        generation_id,
        listen_ip,
        listen_port,
        seeds,
        cluster_id,
        gossip_interval,
        marked_for_deletion_grace_period,
        failure_detector,
        initial_key_values,
    })
}

/// A UDP port on `ip` that was free a moment ago (chitchat binds it itself right after).
fn free_loopback_port(ip: IpAddr) -> Result<u16, String> {
    let socket = std::net::UdpSocket::bind((ip, 0))
        .map_err(|e| format!("cannot bind a probe socket on {ip}: {e}"))?;
    let port = socket.local_addr().map_err(|e| e.to_string())?.port();
    Ok(port)
}

async fn spawn_node(opts: &NodeOptions, port: u16) -> anyhow::Result<ChitchatHandle> {
    let addr = SocketAddr::from((opts.listen_ip, port));
    let config = crate::compat::chitchat_config(ConfigParts {
        chitchat_id: ChitchatId::new(opts.node_id.clone(), opts.generation_id, addr),
        cluster_id: opts.cluster_id.clone(),
        gossip_interval: opts.gossip_interval,
        listen_addr: addr,
        seed_nodes: opts.seeds.clone(),
        failure_detector_config: opts.failure_detector.clone(),
        marked_for_deletion_grace_period: opts.marked_for_deletion_grace_period,
        protocol_version: opts.protocol_version,
    });
    spawn_chitchat(config, opts.initial_key_values.clone(), &UdpTransport).await
}

fn node_state_json(chitchat: &Chitchat, state: &NodeState) -> Value {
    let key_values: Vec<Value> = state
        .key_values_including_deleted()
        .map(|(key, value)| versioned_value_json(key, value))
        .collect();
    let mut out = json!({
        "chitchatId": chitchat_id_json(state.chitchat_id()),
        "heartbeat": u64::from(state.heartbeat()).to_string(),
        "maxVersion": state.max_version().to_string(),
        "lastGcVersion": state.last_gc_version().to_string(),
        "keyValues": key_values,
    });
    if let Value::Object(map) = &mut out {
        crate::compat::node_state_extras(chitchat, state.chitchat_id(), map);
    }
    out
}

fn ids_json<'a>(ids: impl Iterator<Item = &'a ChitchatId>) -> Vec<Value> {
    ids.map(chitchat_id_json).collect()
}

impl Nodes {
    fn handle(&self, args: &Args) -> Result<&ChitchatHandle, String> {
        let h = args.u64("handle")?;
        self.handles
            .get(&h)
            .map(|(handle, _)| handle)
            .ok_or_else(|| format!("no running node with handle {h}"))
    }

    fn take_handle(&mut self, args: &Args) -> Result<ChitchatHandle, String> {
        let h = args.u64("handle")?;
        self.handles
            .remove(&h)
            .map(|(handle, _)| handle)
            .ok_or_else(|| format!("no running node with handle {h}"))
    }

    /// Runs `f` on a node's `Chitchat` under its lock.
    async fn with_node<T>(
        &self,
        args: &Args<'_>,
        f: impl FnMut(&mut Chitchat) -> T,
    ) -> Result<T, String> {
        Ok(self.handle(args)?.with_chitchat(f).await)
    }

    pub async fn start(&mut self, args: &Args<'_>) -> CmdResult {
        let opts = node_options(args)?;
        let handle = if opts.listen_port != 0 {
            spawn_node(&opts, opts.listen_port)
                .await
                .map_err(|e| format!("{e:#}"))?
        } else {
            let mut last_error = String::new();
            let mut started = None;
            for _ in 0..PORT_ATTEMPTS {
                let port = free_loopback_port(opts.listen_ip)?;
                match spawn_node(&opts, port).await {
                    Ok(handle) => {
                        started = Some(handle);
                        break;
                    }
                    Err(e) => last_error = format!("{e:#}"),
                }
            }
            started.ok_or_else(|| {
                format!("could not start a node on a free port after {PORT_ATTEMPTS} tries: {last_error}")
            })?
        };
        self.next_handle += 1;
        let h = self.next_handle;
        let id = chitchat_id_json(handle.chitchat_id());
        self.handles.insert(h, (handle, opts.protocol_version));
        Ok(fields(json!({ "handle": h, "chitchatId": id })))
    }

    pub async fn set(&self, args: &Args<'_>, with_ttl: bool) -> CmdResult {
        let key = args.str("key")?.to_string();
        let value = args.str("value")?.to_string();
        self.with_node(args, |c| {
            let state = c.self_node_state();
            if with_ttl {
                state.set_with_ttl(&key, &value)
            } else {
                state.set(&key, &value)
            }
        })
        .await?;
        Ok(Default::default())
    }

    pub async fn delete(&self, args: &Args<'_>, after_ttl: bool) -> CmdResult {
        let key = args.str("key")?.to_string();
        self.with_node(args, |c| {
            let state = c.self_node_state();
            if after_ttl {
                state.delete_after_ttl(&key)
            } else {
                state.delete(&key)
            }
        })
        .await?;
        Ok(Default::default())
    }

    /// zlayer's `peers()` on this node (see `zlayer.rs`).
    pub async fn zlayer_peers(&self, args: &Args<'_>) -> CmdResult {
        self.with_node(args, |c| fields(crate::zlayer::peers(c)))
            .await
    }

    /// zlayer's `announce_self(info)`: sets `worker:<id>` to the encoded PeerInfo.
    pub async fn zlayer_announce(&self, args: &Args<'_>) -> CmdResult {
        let info = args
            .0
            .get("info")
            .ok_or_else(|| "missing field info".to_string())?;
        let (key, value) = crate::zlayer::encode(info)?;
        self.with_node(args, |c| {
            c.self_node_state().set(key.clone(), value.clone())
        })
        .await?;
        Ok(Default::default())
    }

    pub async fn state(&self, args: &Args<'_>) -> CmdResult {
        let h = args.u64("handle")?;
        let wire = self.handles.get(&h).map(|(_, wire)| *wire);
        self.with_node(args, |c| {
            let nodes: Vec<Value> = c
                .node_states()
                .values()
                .map(|state| node_state_json(c, state))
                .collect();
            fields(json!({
                "chitchatVersion": crate::compat::CHITCHAT_VERSION,
                "protocolVersion": wire.map(crate::compat::wire_code),
                "self": chitchat_id_json(c.self_chitchat_id()),
                "nodes": nodes,
                "live": ids_json(c.live_nodes()),
                "dead": ids_json(c.dead_nodes()),
                "scheduledForDeletion": ids_json(c.scheduled_for_deletion_nodes()),
            }))
        })
        .await
    }

    pub async fn stop(&mut self, args: &Args<'_>) -> CmdResult {
        let handle = self.take_handle(args)?;
        handle
            .shutdown()
            .await
            .map_err(|e| format!("chitchat shutdown failed: {e:#}"))?;
        Ok(Default::default())
    }

    /// Aborts the node's task at once: no last message, no graceful anything. Answers once the
    /// task is gone (so its socket is closed).
    pub async fn kill(&mut self, args: &Args<'_>) -> CmdResult {
        let handle = self.take_handle(args)?;
        handle.abort();
        // The task's end (here: dropped by the abort) is what `termination_watcher` reports.
        let ended = tokio::time::timeout(KILL_WAIT, handle.termination_watcher()).await;
        drop(handle);
        match ended {
            Ok(_) => Ok(Default::default()),
            Err(_) => Err(format!(
                "the node task did not end within {KILL_WAIT:?} of the abort"
            )),
        }
    }

    /// Aborts every node (used when stdin closes).
    pub fn abort_all(&mut self) {
        for (_, (handle, _)) in self.handles.drain() {
            handle.abort();
        }
    }
}
