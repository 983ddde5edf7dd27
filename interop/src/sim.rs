//! Simulation commands: many real chitchat nodes in this process on chitchat's in-process
//! `ChannelTransport`, with the configuration of chitchat's own perf test (COMMANDS.md,
//! "Simulation commands"). Used by hearsay's cluster benchmarks to put chitchat's figures next to
//! hearsay's, measured on the same machine in the same run.
//!
//! One `sim_run` builds a fresh tokio runtime on its own thread, so the nodes never share
//! workers with the command loop:
//! - clock `"real"`: a 2-worker multi-thread runtime; every time is wall-clock, so at large sizes
//!   the figures include this machine's CPU saturation (chitchat runs in real time);
//! - clock `"virtual"`: a current-thread runtime with tokio's time paused; time moves only when
//!   every task is idle (chitchat reads `tokio::time::Instant` everywhere), so the figures are
//!   those of an infinitely fast CPU, like hearsay's `VirtualClock` simulations.
//!
//! Every phase has a deadline in simulated time and the whole run a wall-clock budget; a phase
//! that runs out reports what it reached with `"timedOut": true` instead of failing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chitchat::transport::{ChannelTransport, Socket, Transport};
use chitchat::{spawn_chitchat, ChitchatHandle, ChitchatId, FailureDetectorConfig};
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::json::{fields, Args, CmdResult};

/// chitchat's perf test: an MTU of the largest UDP payload.
const CHANNEL_MTU: usize = 65_507;
/// Bounds that keep one command from exhausting the machine.
const MAX_NODES: u64 = 5_000;
const MAX_PHASE_MS: u64 = 3_600_000;
const MAX_WALL_MS: u64 = 3_600_000;
/// The scenarios, in the order they run on one cluster.
const SCENARIOS: [&str; 4] = ["membership", "traffic", "propagation", "detection"];
/// The key set on one node by the propagation scenario.
const PROPAGATION_KEY: &str = "sim_probe";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ClockKind {
    Real,
    Virtual,
}

struct SimOptions {
    num_nodes: usize,
    gossip_interval: Duration,
    initial_interval: Duration,
    phi_threshold: f64,
    loss_rate: f64,
    seed: u64,
    clock: ClockKind,
    scenarios: Vec<&'static str>,
    phase_timeout: Duration,
    traffic_window: Duration,
    wall_budget: Duration,
    protocol_version: crate::compat::Wire,
    ids: IdShape,
}

/// The shape of the simulated node ids, as `sim/scenarios.ts` has them: `Short` is chitchat's
/// perf test (`node_<i>`, generation 0); `Zlayer` is a zlayer worker id (`worker:<u64>` with 20
/// digits, a u64 start time in ns as generation), 68 bytes per V0 digest entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum IdShape {
    Short,
    Zlayer,
}

/// The first zlayer-style worker id: the smallest 20-digit u64.
const ZLAYER_BASE: u64 = 10_000_000_000_000_000_000;

fn sim_chitchat_id(i: usize, ids: IdShape, addr: SocketAddr) -> ChitchatId {
    match ids {
        IdShape::Short => ChitchatId::new(format!("node_{i}"), 0, addr),
        IdShape::Zlayer => ChitchatId::new(
            format!("worker:{}", ZLAYER_BASE + i as u64 * 1_000_007),
            1_764_633_600_000_000_000 + i as u64,
            addr,
        ),
    }
}

fn sim_options(args: &Args) -> Result<SimOptions, String> {
    let num_nodes = args.u64("numNodes")?;
    if !(3..=MAX_NODES).contains(&num_nodes) {
        return Err(format!(
            "`numNodes` must be in 3..={MAX_NODES}, got {num_nodes}"
        ));
    }
    let ms = |name: &str, default: u64, min: u64, max: u64| -> Result<Duration, String> {
        match args.opt_u64(name)?.unwrap_or(default) {
            v if (min..=max).contains(&v) => Ok(Duration::from_millis(v)),
            v => Err(format!("`{name}` must be in {min}..={max} ms, got {v}")),
        }
    };
    let gossip_interval = ms("gossipIntervalMs", 300, 1, 60_000)?;
    let initial_interval = ms(
        "initialIntervalMs",
        gossip_interval.as_millis() as u64,
        0,
        MAX_PHASE_MS,
    )?;
    let phi_threshold = args
        .opt_f64("phiThreshold")?
        .unwrap_or(FailureDetectorConfig::default().phi_threshold);
    let loss_rate = match args.opt_f64("lossRate")?.unwrap_or(0.0) {
        p if p < 1.0 => p,
        p => return Err(format!("`lossRate` must be in [0, 1), got {p}")),
    };
    let seed = args.opt_u64("seed")?.unwrap_or(1);
    let clock = match args.opt_str("clock")?.unwrap_or("real") {
        "real" => ClockKind::Real,
        "virtual" => ClockKind::Virtual,
        other => {
            return Err(format!(
                "`clock` must be \"real\" or \"virtual\", got {other:?}"
            ))
        }
    };
    let mut wanted: Vec<String> = Vec::new();
    if let Some(one) = args.opt_str("scenario")? {
        wanted.push(one.to_string());
    }
    for s in args.opt_array("scenarios")?.into_iter().flatten() {
        let text = s
            .as_str()
            .ok_or_else(|| format!("a scenario must be a string, got {s}"))?;
        wanted.push(text.to_string());
    }
    for name in &wanted {
        if !SCENARIOS.contains(&name.as_str()) {
            return Err(format!(
                "unknown scenario {name:?}; expected one of {SCENARIOS:?}"
            ));
        }
    }
    // Membership always runs: every other scenario starts from a converged cluster.
    let scenarios = SCENARIOS
        .iter()
        .copied()
        .filter(|s| wanted.is_empty() || *s == "membership" || wanted.iter().any(|w| w == s))
        .collect();
    Ok(SimOptions {
        num_nodes: num_nodes as usize,
        gossip_interval,
        initial_interval,
        phi_threshold,
        loss_rate,
        seed,
        clock,
        scenarios,
        phase_timeout: ms("phaseTimeoutMs", 60_000, 1, MAX_PHASE_MS)?,
        traffic_window: ms("trafficWindowMs", 3_000, 1, MAX_PHASE_MS)?,
        wall_budget: ms("wallBudgetMs", 120_000, 1, MAX_WALL_MS)?,
        protocol_version: crate::nodes::protocol_version_arg(args)?,
        ids: match args.opt_str("ids")?.unwrap_or("short") {
            "short" => IdShape::Short,
            "zlayer" => IdShape::Zlayer,
            other => {
                return Err(format!(
                    "`ids` must be \"short\" or \"zlayer\", got {other:?}"
                ))
            }
        },
    })
}

// ------------------------------------------------------------------ lossy, counting transport

/// What the nodes handed to the network, before any loss (hearsay's `datagramsOut` counts the
/// same thing). `ChannelTransport::statistics()` counts what survived the loss.
#[derive(Default)]
pub struct Offered {
    messages: AtomicU64,
    bytes: AtomicU64,
    syn: AtomicU64,
    syn_ack: AtomicU64,
    ack: AtomicU64,
}

/// Wraps chitchat's `ChannelTransport`: counts every send, then drops it with probability
/// `loss_rate` (a seeded xorshift per socket, so a run's loss pattern is reproducible). Its
/// `Socket` impl is version-specific (the trait changed in 0.12 and 0.13): see `compat`.
pub struct LossyTransport {
    inner: ChannelTransport,
    /// A second in-process transport on which nothing listens: chitchat 0.13 keeps a message's
    /// serialized length crate-private, so a dropped message is measured by sending it there.
    sizer: ChannelTransport,
    loss_rate: f64,
    seed: u64,
    opened: AtomicU64,
    offered: Arc<Offered>,
}

pub struct LossySocket {
    pub inner: Box<dyn Socket>,
    /// This socket on `LossyTransport::sizer` (only the 0.13 build opens and reads it).
    #[allow(dead_code)]
    pub sizer: Option<Box<dyn Socket>>,
    loss_rate: f64,
    rng: u64,
    offered: Arc<Offered>,
}

/// What kind of message a send carried.
pub enum SentKind {
    Syn,
    SynAck,
    Ack,
    Other,
}

/// SplitMix64: turns (seed, socket index) into a well-mixed non-zero xorshift state.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) | 1
}

impl LossySocket {
    fn next_unit(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Counts one offered send of `bytes` bytes.
    pub fn offer(&self, kind: SentKind, bytes: usize) {
        let o = &self.offered;
        o.messages.fetch_add(1, Ordering::Relaxed);
        o.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        match kind {
            SentKind::Syn => o.syn.fetch_add(1, Ordering::Relaxed),
            SentKind::SynAck => o.syn_ack.fetch_add(1, Ordering::Relaxed),
            SentKind::Ack => o.ack.fetch_add(1, Ordering::Relaxed),
            SentKind::Other => 0,
        };
    }

    /// Whether the loss model drops this send (one draw per send when `loss_rate` > 0).
    pub fn drops(&mut self) -> bool {
        self.loss_rate > 0.0 && self.next_unit() < self.loss_rate
    }
}

#[async_trait]
impl Transport for LossyTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let index = self.opened.fetch_add(1, Ordering::Relaxed);
        let inner = self.inner.open(listen_addr).await?;
        let sizer = crate::compat::open_sizer(&self.sizer, listen_addr).await?;
        Ok(Box::new(LossySocket {
            inner,
            sizer,
            loss_rate: self.loss_rate,
            rng: splitmix(self.seed ^ index.wrapping_mul(0x100_0000_01B3)),
            offered: self.offered.clone(),
        }))
    }
}

// ------------------------------------------------------------------ measurements

/// Per-node arrival times (ms since a phase's start), filled in by watcher tasks or callbacks.
#[derive(Clone)]
struct Arrivals(Arc<Mutex<Vec<Option<f64>>>>);

impl Arrivals {
    fn new(n: usize) -> Self {
        Arrivals(Arc::new(Mutex::new(vec![None; n])))
    }

    fn record(&self, i: usize, ms: f64) {
        let mut v = self.0.lock().unwrap();
        if v[i].is_none() {
            v[i] = Some(ms);
        }
    }

    fn count(&self) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.is_some())
            .count()
    }

    fn get(&self, i: usize) -> Option<f64> {
        self.0.lock().unwrap()[i]
    }

    /// Reached times, ascending.
    fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.0.lock().unwrap().iter().flatten().copied().collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1_000.0
}

fn round3(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}

/// The time by which a fraction `q` of `total` had arrived (nearest rank), if it did.
fn quantile_of_total(sorted: &[f64], total: usize, q: f64) -> Value {
    let rank = ((q * total as f64).ceil() as usize).max(1);
    sorted
        .get(rank - 1)
        .map(|&x| json!(round3(x)))
        .unwrap_or(Value::Null)
}

/// Median (lower middle) and max of what arrived.
fn median_max(sorted: &[f64]) -> (Value, Value) {
    if sorted.is_empty() {
        return (Value::Null, Value::Null);
    }
    (
        json!(round3(sorted[(sorted.len() - 1) / 2])),
        json!(round3(*sorted.last().unwrap())),
    )
}

/// Resident set size of this process, from /proc (None elsewhere).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4_096)
}

struct Budget {
    wall_start: std::time::Instant,
    wall_budget: Duration,
}

impl Budget {
    fn exhausted(&self) -> bool {
        self.wall_start.elapsed() >= self.wall_budget
    }
}

/// Enforces the wall-clock budget from outside the runtime: when the nodes keep the CPU busy,
/// the simulation's own polling may not run for a long time (with the virtual clock, time does
/// not even move), so a plain OS thread aborts every node task once the budget is spent. The
/// phases then see the budget exhausted and report what they reached.
struct Watchdog {
    nodes: Arc<Mutex<Vec<Arc<ChitchatHandle>>>>,
    done: Arc<AtomicBool>,
}

impl Watchdog {
    fn start(budget: &Budget) -> Self {
        let nodes: Arc<Mutex<Vec<Arc<ChitchatHandle>>>> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let (nodes2, done2) = (nodes.clone(), done.clone());
        let deadline = budget.wall_start + budget.wall_budget;
        std::thread::spawn(move || {
            while !done2.load(Ordering::Relaxed) {
                if std::time::Instant::now() >= deadline {
                    for handle in nodes2.lock().unwrap().iter() {
                        handle.abort();
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Watchdog { nodes, done }
    }

    fn watch(&self, handle: Arc<ChitchatHandle>) {
        self.nodes.lock().unwrap().push(handle);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// How many live nodes (self included) each node sees: min, median, max.
async fn live_counts(handles: &[Arc<ChitchatHandle>]) -> Value {
    let mut counts = Vec::with_capacity(handles.len());
    for handle in handles {
        counts.push(handle.with_chitchat(|c| c.live_nodes().count()).await);
    }
    counts.sort_unstable();
    match (counts.first(), counts.last()) {
        (Some(min), Some(max)) => {
            json!({ "min": min, "median": counts[(counts.len() - 1) / 2], "max": max })
        }
        _ => Value::Null,
    }
}

/// Sleeps in steps of `poll` until `done()` or the phase deadline or the wall budget.
/// Returns whether `done()` held.
async fn wait_until(
    done: impl Fn() -> bool,
    deadline: Instant,
    poll: Duration,
    budget: &Budget,
) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline || budget.exhausted() {
            return false;
        }
        tokio::time::sleep(poll).await;
    }
}

fn node_addr(i: usize) -> SocketAddr {
    // Never bound: ChannelTransport routes by address inside this process.
    let port = 10_000 + (i % 50_000) as u16;
    SocketAddr::from(([127, 0, (i / 50_000) as u8, 1], port))
}

async fn spawn_one(
    i: usize,
    opts: &SimOptions,
    transport: &dyn Transport,
) -> anyhow::Result<ChitchatHandle> {
    let addr = node_addr(i);
    let config = crate::compat::chitchat_config(crate::nodes::ConfigParts {
        chitchat_id: sim_chitchat_id(i, opts.ids, addr),
        cluster_id: "default-cluster".to_string(),
        gossip_interval: opts.gossip_interval,
        listen_addr: addr,
        seed_nodes: vec![node_addr(0).to_string()],
        failure_detector_config: FailureDetectorConfig {
            phi_threshold: opts.phi_threshold,
            initial_interval: opts.initial_interval,
            ..Default::default()
        },
        marked_for_deletion_grace_period: Duration::from_secs(10_000),
        protocol_version: opts.protocol_version,
    });
    spawn_chitchat(config, Vec::new(), transport).await
}

/// Sleeps until the middle of a gossip round (every node started at `sim_start` and ticks every
/// interval from there), so that propagation and detection start at the same phase as in
/// hearsay's simulation.
async fn sleep_to_mid_round(sim_start: Instant, interval: Duration) {
    let period = interval.as_nanos();
    let into = sim_start.elapsed().as_nanos() % period;
    let target = (period / 2 + period - into) % period;
    tokio::time::sleep(Duration::from_nanos(target as u64)).await;
}

/// Runs the whole simulation on the current (fresh) runtime.
async fn simulate(opts: SimOptions) -> Result<Map<String, Value>, String> {
    let n = opts.num_nodes;
    let budget = Budget {
        wall_start: std::time::Instant::now(),
        wall_budget: opts.wall_budget,
    };
    let poll = (opts.gossip_interval / 10).max(Duration::from_millis(1));
    let channel = ChannelTransport::with_mtu(CHANNEL_MTU);
    let offered = Arc::new(Offered::default());
    let transport = LossyTransport {
        inner: channel.clone(),
        sizer: ChannelTransport::default(),
        loss_rate: opts.loss_rate,
        seed: opts.seed,
        opened: AtomicU64::new(0),
        offered: offered.clone(),
    };
    let rss_before = rss_bytes();
    let sim_start = Instant::now();

    // ---- membership: from the first spawn until each node sees all n nodes live (self too).
    let membership = Arrivals::new(n);
    let watchdog = Watchdog::start(&budget);
    let mut handles: Vec<Arc<ChitchatHandle>> = Vec::with_capacity(n);
    for i in 0..n {
        let handle = Arc::new(
            spawn_one(i, &opts, &transport)
                .await
                .map_err(|e| format!("spawning node {i} failed: {e:#}"))?,
        );
        watchdog.watch(handle.clone());
        let mut watcher = handle.chitchat().lock().await.live_nodes_watcher();
        let arrivals = membership.clone();
        tokio::spawn(async move {
            if watcher.wait_for(|live| live.len() == n).await.is_ok() {
                arrivals.record(i, ms_since(sim_start));
            }
        });
        handles.push(handle);
    }
    let spawn_ms = ms_since(sim_start);
    let spawn_wall_ms = budget.wall_start.elapsed().as_secs_f64() * 1_000.0;
    let converged = wait_until(
        || membership.count() == n,
        sim_start + opts.phase_timeout,
        poll,
        &budget,
    )
    .await;
    let sorted = membership.sorted();
    let (median, max) = median_max(&sorted);
    let mut out = Map::new();
    out.insert(
        "membership".into(),
        json!({
            "node1Ms": membership.get(1).map(round3),
            "medianMs": median,
            "allMs": if converged { max } else { Value::Null },
            "converged": sorted.len(),
            "liveSeen": live_counts(&handles).await,
            "timedOut": !converged,
        }),
    );
    let rss_converged = rss_bytes();
    let memory = match (rss_before, rss_converged) {
        (Some(a), Some(b)) => json!({
            "rssBeforeBytes": a,
            "rssConvergedBytes": b,
            "perNodeBytes": (b.saturating_sub(a)) as f64 / n as f64,
        }),
        _ => Value::Null,
    };
    out.insert("memory".into(), memory);

    // ---- traffic: a steady-state window after convergence.
    if converged && opts.scenarios.contains(&"traffic") && !budget.exhausted() {
        let o = &offered;
        let before = (
            o.messages.load(Ordering::Relaxed),
            o.bytes.load(Ordering::Relaxed),
            channel.statistics(),
            [&o.syn, &o.syn_ack, &o.ack].map(|c| c.load(Ordering::Relaxed)),
        );
        let t0 = Instant::now();
        let w0 = std::time::Instant::now();
        tokio::time::sleep(opts.traffic_window).await;
        let secs = t0.elapsed().as_secs_f64();
        let after = (
            o.messages.load(Ordering::Relaxed),
            o.bytes.load(Ordering::Relaxed),
            channel.statistics(),
            [&o.syn, &o.syn_ack, &o.ack].map(|c| c.load(Ordering::Relaxed)),
        );
        let per = |d: u64| d as f64 / (n as f64 * secs);
        out.insert(
            "traffic".into(),
            json!({
                "windowMs": round3(secs * 1_000.0),
                "windowWallMs": round3(w0.elapsed().as_secs_f64() * 1_000.0),
                "messagesPerNodePerSec": round3(per(after.0 - before.0)),
                "bytesPerNodePerSec": round3(per(after.1 - before.1)),
                "deliveredMessagesPerNodePerSec":
                    round3(per(after.2.num_messages_total - before.2.num_messages_total)),
                "deliveredBytesPerNodePerSec":
                    round3(per(after.2.num_bytes_total - before.2.num_bytes_total)),
                "synPerNodePerSec": round3(per(after.3[0] - before.3[0])),
                "synAckPerNodePerSec": round3(per(after.3[1] - before.3[1])),
                "ackPerNodePerSec": round3(per(after.3[2] - before.3[2])),
            }),
        );
    }

    // ---- propagation: a new key on the last node; when does each node hold it?
    if converged && opts.scenarios.contains(&"propagation") && !budget.exhausted() {
        let origin = n - 1;
        let arrivals = Arrivals::new(n);
        let start = Arc::new(Mutex::new(None::<Instant>));
        let mut listeners = Vec::with_capacity(n);
        for (i, handle) in handles.iter().enumerate() {
            let arrivals = arrivals.clone();
            let start = start.clone();
            let listener =
                handle
                    .chitchat()
                    .lock()
                    .await
                    .subscribe_event(PROPAGATION_KEY, move |_event| {
                        if let Some(t) = *start.lock().unwrap() {
                            arrivals.record(i, ms_since(t));
                        }
                    });
            listeners.push(listener);
        }
        sleep_to_mid_round(sim_start, opts.gossip_interval).await;
        let t0 = Instant::now();
        *start.lock().unwrap() = Some(t0);
        arrivals.record(origin, 0.0);
        handles[origin]
            .with_chitchat(|c| c.self_node_state().set(PROPAGATION_KEY, "1"))
            .await;
        let all = wait_until(
            || arrivals.count() == n,
            t0 + opts.phase_timeout,
            poll,
            &budget,
        )
        .await;
        drop(listeners);
        let sorted = arrivals.sorted();
        out.insert(
            "propagation".into(),
            json!({
                "p50Ms": quantile_of_total(&sorted, n, 0.50),
                "p99Ms": quantile_of_total(&sorted, n, 0.99),
                "p999Ms": quantile_of_total(&sorted, n, 0.999),
                "p100Ms": if all { quantile_of_total(&sorted, n, 1.0) } else { Value::Null },
                "reached": sorted.len(),
                "timedOut": !all,
                "arrivalsMs": sorted.iter().map(|&x| round3(x)).collect::<Vec<f64>>(),
            }),
        );
    }

    // ---- detection: abort the last node; each other node's delay until it is not live.
    if converged && opts.scenarios.contains(&"detection") && !budget.exhausted() {
        let victim = handles.pop().expect("n >= 3");
        let victim_id = victim.chitchat_id().clone();
        let observers = handles.len();
        let arrivals = Arrivals::new(observers);
        let mut receivers = Vec::with_capacity(observers);
        for handle in &handles {
            receivers.push(handle.chitchat().lock().await.live_nodes_watcher());
        }
        sleep_to_mid_round(sim_start, opts.gossip_interval).await;
        let t0 = Instant::now();
        victim.abort();
        let mut watchers = Vec::with_capacity(observers);
        for (i, mut watcher) in receivers.into_iter().enumerate() {
            let arrivals = arrivals.clone();
            let victim_id = victim_id.clone();
            watchers.push(tokio::spawn(async move {
                if watcher
                    .wait_for(|live| !live.contains_key(&victim_id))
                    .await
                    .is_ok()
                {
                    arrivals.record(i, ms_since(t0));
                }
            }));
        }
        let _ = victim.termination_watcher().await;
        drop(victim);
        let all = wait_until(
            || arrivals.count() == observers,
            t0 + opts.phase_timeout,
            poll,
            &budget,
        )
        .await;
        for w in &watchers {
            w.abort();
        }
        let sorted = arrivals.sorted();
        let (median, max) = median_max(&sorted);
        out.insert(
            "detection".into(),
            json!({
                "observers": observers,
                "detected": sorted.len(),
                "node1Ms": arrivals.get(1).map(round3),
                "medianMs": median,
                "maxMs": if all { max } else { Value::Null },
                "timedOut": !all,
            }),
        );
    }

    let simulated_ms = ms_since(sim_start);
    let wall_ms = budget.wall_start.elapsed().as_secs_f64() * 1_000.0;
    for handle in &handles {
        handle.abort();
    }
    drop(handles);
    out.insert(
        "run".into(),
        json!({
            "implementation": format!("chitchat {}", crate::compat::CHITCHAT_VERSION),
            "protocolVersion": crate::compat::wire_code(opts.protocol_version),
            "transport": "ChannelTransport (in-process, MTU 65507)",
            "numNodes": n,
            "ids": if opts.ids == IdShape::Zlayer { "zlayer" } else { "short" },
            "gossipIntervalMs": opts.gossip_interval.as_millis() as u64,
            "initialIntervalMs": opts.initial_interval.as_millis() as u64,
            "phiThreshold": opts.phi_threshold,
            "lossRate": opts.loss_rate,
            "clock": if opts.clock == ClockKind::Real { "real" } else { "virtual" },
            "scenarios": opts.scenarios,
            "spawnMs": round3(spawn_ms),
            "spawnWallMs": round3(spawn_wall_ms),
            "simulatedMs": round3(simulated_ms),
            "wallMs": round3(wall_ms),
            "wallBudgetExhausted": budget.exhausted(),
        }),
    );
    Ok(out)
}

/// `sim_run`: builds the runtime the clock kind asks for on a new OS thread, runs the
/// simulation there and answers with its figures.
pub async fn run(args: &Args<'_>) -> CmdResult {
    let opts = sim_options(args)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("hearsay-sim".into())
        .spawn(move || {
            let runtime = match opts.clock {
                ClockKind::Real => tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build(),
                ClockKind::Virtual => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .start_paused(true)
                    .build(),
            };
            let result = match runtime {
                Ok(rt) => {
                    let result = rt.block_on(simulate(opts));
                    // Aborted node tasks are dropped here, with their sockets.
                    rt.shutdown_timeout(Duration::from_secs(5));
                    result
                }
                Err(e) => Err(format!("cannot build the simulation runtime: {e}")),
            };
            let _ = tx.send(result);
        })
        .map_err(|e| format!("cannot start the simulation thread: {e}"))?;
    let result = rx
        .await
        .map_err(|_| "the simulation thread panicked".to_string())??;
    Ok(fields(Value::Object(result)))
}
