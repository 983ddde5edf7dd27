//! Codec commands: `decode` and `bench_codec` (PROTOCOL.md, "Codec commands").

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use chitchat::{ChitchatMessage, Deserializable, Serializable};
use serde_json::json;

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
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut cursor: &[u8] = bytes;
        ChitchatMessage::deserialize(&mut cursor)
    }));
    match outcome {
        Ok(Ok(msg)) => Ok(msg),
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(_) => Err("chitchat panicked while deserializing the message".to_string()),
    }
}

pub fn decode(args: &Args) -> CmdResult {
    let bytes = input_bytes(args)?;
    let msg = parse(&bytes)?;
    let debug = format!("{msg:?}");
    let message = message_json(&debug)?;
    let mut out = Vec::with_capacity(bytes.len());
    msg.serialize(&mut out);
    Ok(fields(json!({
        "message": message,
        "reserialized": hex_encode(&out),
        "debug": debug,
    })))
}

pub fn bench_codec(args: &Args) -> CmdResult {
    let bytes = input_bytes(args)?;
    let iterations = args.u64("iterations")?;
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(format!("`iterations` must be in 1..={MAX_ITERATIONS}, got {iterations}"));
    }
    let msg = parse(&bytes)?;

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
