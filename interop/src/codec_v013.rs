//! Codec commands of the 0.13.0 build: `decode`, `encode` (and `bench_codec`, which cannot be
//! offered) on chitchat 0.13.0's own wire code.
//!
//! Why a socket: from 0.12 on, chitchat's message (de)serializer (`ChitchatEnvelope::serialize`
//! and `deserialize`, in `message_serialize.rs`) is crate-private, and `ChitchatMessage` no longer
//! implements the public `Serializable` / `Deserializable` traits. The only public code that turns
//! bytes into an envelope and back is the transport: `chitchat::transport::UdpSocket`. So this
//! module keeps one such socket on 127.0.0.1 (the "station", on its own thread and current-thread
//! runtime) and two plain tokio sockets beside it:
//! - decode: the `sender` socket sends the datagram to chitchat's socket; its `recv()` answers with
//!   the parsed envelope (header version + message). chitchat drops a datagram it cannot parse
//!   after logging `invalid-chitchat-payload` with the error through `tracing`; a subscriber on
//!   the station's thread catches that event, so a rejection answers at once, with chitchat's
//!   error text (its `Display`, the outermost context only, where the 0.10.1 build shows the whole
//!   `{:#}` chain).
//! - serialize: chitchat's socket `send()`s an envelope (any version) to the `sink` socket, whose
//!   datagram is chitchat's own serialization.
//!
//! Like 0.10.1, `Delta::serialize` asserts that it reproduces the length of the delta it parsed,
//! so a delta cut or compressed differently by another sender panics there; the station is then
//! rebuilt and the message is parsed again from canonical bytes (see `canonical.rs`), exactly as
//! the 0.10.1 codec does.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

use chitchat::transport::{Socket, UdpSocket as ChitchatSocket};
use chitchat::{ChitchatEnvelope, ChitchatMessage, ProtocolVersion};
use serde_json::{json, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata};

use crate::canonical::encode_message;
use crate::debug_text::message_json;
use crate::json::{fields, hex_decode, hex_encode, Args, CmdResult};

/// chitchat's UDP receive buffer (and the largest UDP payload): longer input cannot reach it.
const MAX_DATAGRAM_BYTES: usize = 65_507;
/// How often a pending decode checks for a rejection.
const POLL: Duration = Duration::from_millis(1);
/// How long a datagram may take to cross the loopback interface.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

// ------------------------------------------------------------------ the station thread

type Job = Box<dyn FnOnce(&mut Option<Station>) + Send>;

fn station_thread() -> Result<&'static Mutex<mpsc::Sender<Job>>, String> {
    static JOBS: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    if let Some(jobs) = JOBS.get() {
        return Ok(jobs);
    }
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("hearsay-codec".into())
        .spawn(move || {
            let _capture = tracing::subscriber::set_default(Capture);
            let mut station: Option<Station> = None;
            for job in rx {
                if crate::quiet_catch_unwind(AssertUnwindSafe(|| job(&mut station))).is_err() {
                    station = None;
                }
            }
        })
        .map_err(|e| format!("cannot start the codec thread: {e}"))?;
    Ok(JOBS.get_or_init(|| Mutex::new(tx)))
}

/// Runs `f` on the station thread (building the station first if needed).
async fn on_station<T: Send + 'static>(
    f: impl FnOnce(&mut Option<Station>) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move |slot| {
        let _ = tx.send(f(slot));
    });
    station_thread()?
        .lock()
        .unwrap()
        .send(job)
        .map_err(|_| "the codec thread is gone".to_string())?;
    rx.await
        .map_err(|_| "chitchat panicked while handling the request".to_string())?
}

/// The station, built on first use and after a panic dropped it.
fn station(slot: &mut Option<Station>) -> Result<&mut Station, String> {
    if slot.is_none() {
        *slot = Some(Station::new()?);
    }
    Ok(slot.as_mut().expect("just built"))
}

/// Runs `f` on the station; `Ok(None)` when chitchat panicked (the station is then dropped).
fn guarded<T>(
    slot: &mut Option<Station>,
    f: impl FnOnce(&mut Station) -> Result<T, String>,
) -> Result<Option<T>, String> {
    let st = station(slot)?;
    match crate::quiet_catch_unwind(AssertUnwindSafe(|| f(st))) {
        Ok(result) => result.map(Some),
        Err(_) => {
            *slot = None;
            Ok(None)
        }
    }
}

// ------------------------------------------------------------------ rejections, via tracing

thread_local! {
    /// `(from, err)` of each `invalid-chitchat-payload` event seen on the station thread.
    static REJECTED: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// A `tracing` subscriber for the station thread only: it keeps chitchat's warnings (and
/// nothing else) and records the payload rejections.
struct Capture;

impl Capture {
    fn wanted(meta: &Metadata<'_>) -> bool {
        meta.is_event() && *meta.level() == Level::WARN && meta.target().starts_with("chitchat")
    }
}

#[derive(Default)]
struct RejectionFields {
    message: String,
    from: String,
    err: String,
}

impl Visit for RejectionFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let slot = match field.name() {
            "message" => &mut self.message,
            "from" => &mut self.from,
            "err" => &mut self.err,
            _ => return,
        };
        *slot = format!("{value:?}");
    }
}

impl tracing::Subscriber for Capture {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if Self::wanted(meta) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        Self::wanted(meta)
    }
    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _span: &Id, _values: &Record<'_>) {}
    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = RejectionFields::default();
        event.record(&mut fields);
        if fields.message == "invalid-chitchat-payload" {
            REJECTED.with(|r| r.borrow_mut().push((fields.from, fields.err)));
        }
    }
    fn enter(&self, _span: &Id) {}
    fn exit(&self, _span: &Id) {}
}

// ------------------------------------------------------------------ the station

struct Station {
    runtime: tokio::runtime::Runtime,
    chitchat: ChitchatSocket,
    chitchat_addr: SocketAddr,
    sender: tokio::net::UdpSocket,
    sender_addr: SocketAddr,
    sink: tokio::net::UdpSocket,
}

impl Station {
    fn new() -> Result<Station, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build the codec runtime: {e}"))?;
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let (chitchat, chitchat_addr, sender, sender_addr, sink) = runtime.block_on(async {
            let chitchat = ChitchatSocket::open(loopback)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let chitchat_addr = chitchat.local_addr().map_err(|e| format!("{e:#}"))?;
            let sender = tokio::net::UdpSocket::bind(loopback)
                .await
                .map_err(|e| format!("cannot bind the codec's sender socket: {e}"))?;
            let sender_addr = sender.local_addr().map_err(|e| e.to_string())?;
            let sink = tokio::net::UdpSocket::bind(loopback)
                .await
                .map_err(|e| format!("cannot bind the codec's sink socket: {e}"))?;
            Ok::<_, String>((chitchat, chitchat_addr, sender, sender_addr, sink))
        })?;
        Ok(Station {
            runtime,
            chitchat,
            chitchat_addr,
            sender,
            sender_addr,
            sink,
        })
    }

    /// chitchat's parse of one datagram, or its error text.
    fn parse(&mut self, bytes: &[u8]) -> Result<ChitchatEnvelope, String> {
        if bytes.len() > MAX_DATAGRAM_BYTES {
            return Err(format!(
                "input is {} bytes; chitchat {} reads datagrams through its UdpSocket, which \
                 holds at most {MAX_DATAGRAM_BYTES} bytes",
                bytes.len(),
                crate::compat::CHITCHAT_VERSION
            ));
        }
        REJECTED.with(|r| r.borrow_mut().clear());
        let from = self.sender_addr.to_string();
        let Station {
            runtime,
            chitchat,
            chitchat_addr,
            sender,
            sender_addr,
            ..
        } = self;
        runtime.block_on(async {
            sender
                .send_to(bytes, *chitchat_addr)
                .await
                .map_err(|e| format!("cannot send the datagram to chitchat's socket: {e}"))?;
            let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
            loop {
                match tokio::time::timeout(POLL, chitchat.recv()).await {
                    Ok(Ok(outcome)) if outcome.from_addr == *sender_addr => {
                        return Ok(outcome.envelope)
                    }
                    Ok(Ok(_stray)) => continue,
                    Ok(Err(e)) => return Err(format!("chitchat's UdpSocket failed: {e:#}")),
                    Err(_) => {
                        let rejected = REJECTED.with(|r| {
                            r.borrow()
                                .iter()
                                .find(|(f, _)| *f == from)
                                .map(|(_, err)| err.clone())
                        });
                        if let Some(err) = rejected {
                            return Err(err);
                        }
                        if tokio::time::Instant::now() >= deadline {
                            return Err(format!(
                                "chitchat's socket neither parsed nor rejected the datagram \
                                 within {ANSWER_WAIT:?}"
                            ));
                        }
                    }
                }
            }
        })
    }

    /// chitchat's own serialization of an envelope (may panic inside chitchat, see module doc).
    fn serialize(&mut self, envelope: ChitchatEnvelope) -> Result<Vec<u8>, String> {
        let Station {
            runtime,
            chitchat,
            chitchat_addr,
            sink,
            ..
        } = self;
        let to = sink.local_addr().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            chitchat
                .send(to, envelope)
                .await
                .map_err(|e| format!("chitchat could not send the message: {e:#}"))?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let (n, from) = tokio::time::timeout(ANSWER_WAIT, sink.recv_from(&mut buf))
                    .await
                    .map_err(|_| "chitchat's datagram did not arrive".to_string())?
                    .map_err(|e| format!("cannot read chitchat's datagram: {e}"))?;
                if from == *chitchat_addr {
                    return Ok(buf[..n].to_vec());
                }
            }
        })
    }
}

// ------------------------------------------------------------------ commands

fn version_arg(args: &Args, name: &str) -> Result<Option<ProtocolVersion>, String> {
    match args.opt_u64(name)? {
        None => Ok(None),
        Some(code) => u8::try_from(code)
            .ok()
            .and_then(ProtocolVersion::from_code)
            .map(Some)
            .ok_or_else(|| format!("`{name}` must be 0 or 1, got {code}")),
    }
}

fn input_bytes(args: &Args) -> Result<Vec<u8>, String> {
    let hex = args.str("hex")?;
    if hex.len() / 2 > 1 << 20 {
        return Err(format!(
            "input is {} bytes, more than the 1 MiB accepted",
            hex.len() / 2
        ));
    }
    hex_decode(hex)
}

/// chitchat's bytes for `message` in `version`, falling back to a parse of the canonical
/// re-encoding when chitchat's serializer panics on the parsed message (see module doc).
fn reserialize(
    slot: &mut Option<Station>,
    message: ChitchatMessage,
    version: ProtocolVersion,
    json: &Value,
) -> Result<Vec<u8>, String> {
    let first = guarded(slot, |st| {
        st.serialize(ChitchatEnvelope { version, message })
    })?;
    if let Some(out) = first {
        return Ok(out);
    }
    let canonical = encode_message(json)?;
    let parsed = guarded(slot, |st| st.parse(&canonical))
        .map_err(|e| format!("chitchat rejected the canonical re-encoding: {e}"))?
        .ok_or_else(|| "chitchat panicked while parsing the canonical re-encoding".to_string())?;
    if message_json(&format!("{:?}", parsed.message))? != *json {
        return Err("the canonical re-encoding decodes to a different message".to_string());
    }
    guarded(slot, |st| {
        st.serialize(ChitchatEnvelope {
            version,
            message: parsed.message,
        })
    })?
    .ok_or_else(|| {
        "chitchat's serializer panicked on the parsed message and on its canonical re-encoding"
            .to_string()
    })
}

pub async fn decode(args: &Args<'_>) -> CmdResult {
    let bytes = input_bytes(args)?;
    let wanted = version_arg(args, "reserializeVersion")?;
    on_station(move |slot| {
        let envelope = guarded(slot, |st| st.parse(&bytes))?
            .ok_or_else(|| "chitchat panicked while deserializing the message".to_string())?;
        let debug = format!("{:?}", envelope.message);
        let message = message_json(&debug)?;
        let version = wanted.unwrap_or(envelope.version);
        let out = reserialize(slot, envelope.message, version, &message)?;
        Ok(fields(json!({
            "version": envelope.version.to_code(),
            "message": message,
            "reserialized": hex_encode(&out),
            "reserializedVersion": version.to_code(),
            "debug": debug,
        })))
    })
    .await
}

pub async fn encode(args: &Args<'_>) -> CmdResult {
    let json = args
        .0
        .get("message")
        .cloned()
        .ok_or_else(|| "missing argument `message` (a Message JSON value)".to_string())?;
    let version = version_arg(args, "protocolVersion")?.unwrap_or(ProtocolVersion::V0);
    let canonical = encode_message(&json)?;
    on_station(move |slot| {
        let envelope = guarded(slot, |st| st.parse(&canonical))
            .map_err(|e| format!("chitchat rejected the message's canonical bytes: {e}"))?
            .ok_or_else(|| "chitchat panicked while parsing the message".to_string())?;
        let debug = format!("{:?}", envelope.message);
        let message = message_json(&debug)?;
        let out = reserialize(slot, envelope.message, version, &message)?;
        Ok(fields(json!({
            "version": version.to_code(),
            "hex": hex_encode(&out),
            "message": message,
            "debug": debug,
        })))
    })
    .await
}

pub async fn bench_codec(_args: &Args<'_>) -> CmdResult {
    Err(format!(
        "bench_codec is not available with chitchat {}: its message (de)serializer is \
         crate-private since 0.12 (only a socket reaches it), so there is no codec call to time; \
         use the 0.10.1 peer, whose codec is the same for V0",
        crate::compat::CHITCHAT_VERSION
    ))
}
