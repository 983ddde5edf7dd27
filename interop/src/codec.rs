//! Codec commands of the 0.10.1 build: `decode`, `encode` and `bench_codec` (COMMANDS.md,
//! "Codec commands"), on chitchat's public `Serializable` / `Deserializable` impls of
//! `ChitchatMessage`. The 0.13.0 build does the same through a loopback socket (`codec_v013.rs`).

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use chitchat::{ChitchatMessage, Deserializable, Serializable};
use serde_json::{json, Value};

use crate::canonical::encode_message;
use crate::debug_text::message_json;
use crate::json::{fields, hex_decode, hex_encode, Args, CmdResult};

/// Largest input accepted, in bytes (a UDP datagram is at most 65 507 bytes; allow slack for
/// tests that probe oversized input).
const MAX_INPUT_BYTES: usize = 1 << 20;
/// Largest `iterations` accepted by `bench_codec`.
const MAX_ITERATIONS: u64 = 10_000_000;

fn input_bytes(args: &Args) -> Result<Vec<u8>, String> {
    let hex = args.str("hex")?;
    if hex.len() / 2 > MAX_INPUT_BYTES {
        return Err(format!(
            "input is {} bytes, more than the {MAX_INPUT_BYTES} accepted",
            hex.len() / 2
        ));
    }
    hex_decode(hex)
}

/// chitchat's own parser, with a panic inside the crate turned into an error.
fn parse(bytes: &[u8]) -> Result<ChitchatMessage, String> {
    let outcome = crate::quiet_catch_unwind(AssertUnwindSafe(|| {
        let mut cursor: &[u8] = bytes;
        ChitchatMessage::deserialize(&mut cursor)
    }));
    match outcome {
        Ok(Ok(msg)) => Ok(msg),
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(_) => Err("chitchat panicked while deserializing the message".to_string()),
    }
}

/// chitchat's own serializer; `None` when it panics.
fn try_serialize(msg: &ChitchatMessage) -> Option<Vec<u8>> {
    crate::quiet_catch_unwind(AssertUnwindSafe(|| {
        let mut out = Vec::new();
        msg.serialize(&mut out);
        out
    }))
    .ok()
}

/// Returns a message chitchat can serialize, equal to `msg`, and chitchat's serialization of
/// it. chitchat's `Delta::serialize` asserts that its writer reproduces the length of the delta
/// bytes it parsed, so an input cut or compressed differently (legal for another sender) makes
/// it panic; then the message is parsed again from canonical bytes (see `canonical.rs`), checked
/// to decode to the same JSON, and that parse is serialized instead.
fn serializable(msg: ChitchatMessage, json: &Value) -> Result<(ChitchatMessage, Vec<u8>), String> {
    if let Some(out) = try_serialize(&msg) {
        return Ok((msg, out));
    }
    let canonical = parse(&encode_message(json)?)
        .map_err(|e| format!("chitchat rejected the canonical re-encoding: {e}"))?;
    if message_json(&format!("{canonical:?}"))? != *json {
        return Err("the canonical re-encoding decodes to a different message".to_string());
    }
    match try_serialize(&canonical) {
        Some(out) => Ok((canonical, out)),
        None => Err(
            "chitchat's serializer panicked on the parsed message and on its canonical \
                     re-encoding"
                .to_string(),
        ),
    }
}

/// `reserializeVersion` / `protocolVersion`: 0.10.1 can only write V0.
fn check_version(args: &Args, name: &str) -> Result<(), String> {
    match args.opt_u64(name)? {
        None | Some(0) => Ok(()),
        Some(other) => Err(format!(
            "`{name}` {other}: chitchat {} writes only protocol version 0; use the 0.13.0 peer",
            crate::compat::CHITCHAT_VERSION
        )),
    }
}

pub async fn decode(args: &Args<'_>) -> CmdResult {
    check_version(args, "reserializeVersion")?;
    let bytes = input_bytes(args)?;
    let msg = parse(&bytes)?;
    let debug = format!("{msg:?}");
    let message = message_json(&debug)?;
    let (_, out) = serializable(msg, &message)?;
    Ok(fields(json!({
        "version": 0,
        "message": message,
        "reserialized": hex_encode(&out),
        "reserializedVersion": 0,
        "debug": debug,
    })))
}

/// `encode {"message": Message}`: chitchat's own bytes for a message given as JSON (built as
/// canonical bytes, parsed by chitchat, serialized); `message` in the answer is chitchat's reading
/// of it (digest sorted, duplicates merged).
pub async fn encode(args: &Args<'_>) -> CmdResult {
    check_version(args, "protocolVersion")?;
    let json = args
        .0
        .get("message")
        .ok_or_else(|| "missing argument `message` (a Message JSON value)".to_string())?;
    let msg = parse(&encode_message(json)?)
        .map_err(|e| format!("chitchat rejected the message's canonical bytes: {e}"))?;
    let debug = format!("{msg:?}");
    let message = message_json(&debug)?;
    let (_, out) = serializable(msg, &message)?;
    Ok(fields(
        json!({ "version": 0, "hex": hex_encode(&out), "message": message, "debug": debug }),
    ))
}

pub async fn bench_codec(args: &Args<'_>) -> CmdResult {
    // CPU-bound: keep it off the async workers that run the chitchat nodes.
    let owned = args.0.clone();
    tokio::task::spawn_blocking(move || bench_codec_blocking(&Args(&owned)))
        .await
        .map_err(|e| format!("bench_codec failed: {e}"))?
}

fn bench_codec_blocking(args: &Args) -> CmdResult {
    let bytes = input_bytes(args)?;
    let iterations = args.u64("iterations")?;
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(format!(
            "`iterations` must be in 1..={MAX_ITERATIONS}, got {iterations}"
        ));
    }
    let msg = parse(&bytes)?;
    let json = message_json(&format!("{msg:?}"))?;
    let (msg, _) = serializable(msg, &json)?;

    let start = Instant::now();
    for _ in 0..iterations {
        let mut cursor: &[u8] = std::hint::black_box(&bytes);
        let parsed = ChitchatMessage::deserialize(&mut cursor).map_err(|e| format!("{e:#}"))?;
        std::hint::black_box(parsed);
    }
    let decode_ns = start.elapsed().as_nanos() as f64 / iterations as f64;

    let mut out = Vec::with_capacity(bytes.len() * 2);
    let start = Instant::now();
    for _ in 0..iterations {
        out.clear();
        std::hint::black_box(&msg).serialize(&mut out);
        std::hint::black_box(&out);
    }
    let encode_ns = start.elapsed().as_nanos() as f64 / iterations as f64;

    Ok(fields(json!({
        "decodeNsPerOp": decode_ns,
        "encodeNsPerOp": encode_ns,
        "bytes": bytes.len(),
    })))
}
