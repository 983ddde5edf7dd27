//! Rebuilds datagram bytes from a decoded `Message` JSON value, cutting and compressing the delta
//! the way chitchat 0.10.1's writer does (PROTOCOL.md §4.3: 16 384-byte blocks, each zstd level 0
//! into a buffer the size of the block, stored raw when that does not fit; 0.13.0's `delta.rs` is
//! the same file, so this serves both builds).
//!
//! Why: chitchat keeps the length of the delta bytes it parsed and its `serialize` asserts that
//! its own writer produces exactly that length. An input whose delta was cut or compressed
//! differently (a legal choice for another sender) therefore cannot be re-serialized directly.
//! `codec::decode` then parses these canonical bytes with chitchat, checks they decode to the
//! same message, and serializes that parse instead: the `reserialized` bytes still come out of
//! chitchat's own `serialize`; this module only has to get the delta length right.
//!
//! All primitive encodings (u16/u64 little-endian, strings, ChitchatIds) use chitchat's public
//! `Serializable` impls.

use std::net::{IpAddr, SocketAddr};

use chitchat::{ChitchatId, Serializable};
use serde_json::Value;

const MAGIC: u16 = 45_139;
const BLOCK_THRESHOLD: usize = 16_384;

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name)
        .ok_or_else(|| format!("decoded JSON lacks `{name}`"))
}

fn text<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| format!("decoded JSON `{name}` is not a string"))
}

fn u64_field(v: &Value, name: &str) -> Result<u64, String> {
    text(v, name)?
        .parse()
        .map_err(|_| format!("decoded JSON `{name}` is not a decimal u64"))
}

fn items<'a>(v: &'a Value, name: &str) -> Result<&'a Vec<Value>, String> {
    field(v, name)?
        .as_array()
        .ok_or_else(|| format!("decoded JSON `{name}` is not an array"))
}

fn chitchat_id(v: &Value) -> Result<ChitchatId, String> {
    let addr = field(v, "gossipAdvertiseAddr")?;
    let ip: IpAddr = text(addr, "ip")?
        .parse()
        .map_err(|_| "bad ip in decoded JSON".to_string())?;
    let port = field(addr, "port")?
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| "bad port in decoded JSON".to_string())?;
    Ok(ChitchatId::new(
        text(v, "nodeId")?.to_string(),
        u64_field(v, "generationId")?,
        SocketAddr::new(ip, port),
    ))
}

fn digest(v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    let nodes = items(v, "nodes")?;
    let count = u16::try_from(nodes.len()).map_err(|_| "too many digest entries".to_string())?;
    count.serialize(out);
    for node in nodes {
        chitchat_id(field(node, "chitchatId")?)?.serialize(out);
        u64_field(node, "heartbeat")?.serialize(out);
        u64_field(node, "lastGcVersion")?.serialize(out);
        u64_field(node, "maxVersion")?.serialize(out);
    }
    Ok(())
}

/// The delta's operation stream (before block cutting).
fn delta_ops(v: &Value) -> Result<Vec<u8>, String> {
    let mut ops = Vec::new();
    for node in items(v, "nodeDeltas")? {
        ops.push(0u8);
        chitchat_id(field(node, "chitchatId")?)?.serialize(&mut ops);
        u64_field(node, "lastGcVersion")?.serialize(&mut ops);
        u64_field(node, "fromVersionExcluded")?.serialize(&mut ops);
        let kvs = items(node, "keyValues")?;
        for kv in kvs {
            ops.push(1u8);
            text(kv, "key")?.serialize(&mut ops);
            text(kv, "value")?.serialize(&mut ops);
            u64_field(kv, "version")?.serialize(&mut ops);
            ops.push(match text(kv, "status")? {
                "set" => 0u8,
                "deleted" => 1u8,
                "deleteAfterTtl" => 2u8,
                other => return Err(format!("unknown status {other:?} in decoded JSON")),
            });
        }
        let max_version = u64_field(node, "maxVersion")?;
        if kvs.is_empty() && max_version > 0 {
            ops.push(2u8);
            max_version.serialize(&mut ops);
        }
    }
    Ok(ops)
}

fn blocks(ops: &[u8], out: &mut Vec<u8>) {
    let mut scratch = vec![0u8; BLOCK_THRESHOLD];
    for block in ops.chunks(BLOCK_THRESHOLD) {
        let room = &mut scratch[..block.len()];
        match zstd::bulk::compress_to_buffer(block, room, 0) {
            Ok(n) => {
                out.push(1u8);
                (n as u16).serialize(out);
                out.extend_from_slice(&room[..n]);
            }
            Err(_) => {
                out.push(2u8);
                (block.len() as u16).serialize(out);
                out.extend_from_slice(block);
            }
        }
    }
    out.push(0u8);
}

fn delta(v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    blocks(&delta_ops(v)?, out);
    Ok(())
}

/// Canonical datagram bytes for a `Message` JSON value.
pub fn encode_message(message: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    MAGIC.serialize(&mut out);
    out.push(0u8); // protocol version
    match text(message, "type")? {
        "syn" => {
            out.push(0u8);
            digest(field(message, "digest")?, &mut out)?;
            text(message, "clusterId")?.serialize(&mut out);
        }
        "synAck" => {
            out.push(1u8);
            digest(field(message, "digest")?, &mut out)?;
            delta(field(message, "delta")?, &mut out)?;
        }
        "ack" => {
            out.push(2u8);
            delta(field(message, "delta")?, &mut out)?;
        }
        "badCluster" => out.push(3u8),
        other => return Err(format!("unknown message type {other:?} in decoded JSON")),
    }
    Ok(out)
}
