//! JSON shapes shared with the TypeScript side (see COMMANDS.md) and typed access to request
//! arguments. Every u64 is written as a decimal string.

use std::net::SocketAddr;

use chitchat::{ChitchatId, DeletionStatus, VersionedValue};
use serde_json::{json, Map, Value};

/// A command's result: the fields to add next to `"ok": true`, or the error text.
pub type CmdResult = Result<Map<String, Value>, String>;

/// Builds a `CmdResult` from a `json!({...})` object.
pub fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub fn socket_addr_json(addr: &SocketAddr) -> Value {
    json!({ "ip": addr.ip().to_string(), "port": addr.port() })
}

pub fn chitchat_id_json(id: &ChitchatId) -> Value {
    json!({
        "nodeId": &*id.node_id,
        "generationId": id.generation_id.to_string(),
        "gossipAdvertiseAddr": socket_addr_json(&id.gossip_advertise_addr),
    })
}

pub fn versioned_value_json(key: &str, value: &VersionedValue) -> Value {
    let status = match value.status {
        DeletionStatus::Set => "set",
        DeletionStatus::Deleted(_) => "deleted",
        DeletionStatus::DeleteAfterTtl(_) => "deleteAfterTtl",
    };
    json!({
        "key": key,
        "value": value.value,
        "version": value.version.to_string(),
        "status": status,
    })
}

/// Typed, checked access to a request's arguments.
pub struct Args<'a>(pub &'a Map<String, Value>);

impl Args<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Result<&str, String> {
        self.opt_str(name)?
            .ok_or_else(|| format!("missing argument `{name}` (a string)"))
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("argument `{name}` must be a string, got {other}")),
        }
    }

    /// A u64 given as a decimal string (the protocol's form) or as a non-negative integer.
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => s
                .parse::<u64>()
                .ok()
                .filter(|_| !s.starts_with('+'))
                .map(Some)
                .ok_or_else(|| format!("argument `{name}` must be a decimal u64, got {s:?}")),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
                format!("argument `{name}` must be a non-negative integer, got {n}")
            }),
            Some(other) => Err(format!("argument `{name}` must be a u64, got {other}")),
        }
    }

    pub fn u64(&self, name: &str) -> Result<u64, String> {
        self.opt_u64(name)?
            .ok_or_else(|| format!("missing argument `{name}` (a u64)"))
    }

    /// A finite, non-negative number.
    pub fn opt_f64(&self, name: &str) -> Result<Option<f64>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                _ => Err(format!(
                    "argument `{name}` must be a finite number >= 0, got {n}"
                )),
            },
            Some(other) => Err(format!("argument `{name}` must be a number, got {other}")),
        }
    }

    pub fn opt_array(&self, name: &str) -> Result<Option<&Vec<Value>>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(format!("argument `{name}` must be an array, got {other}")),
        }
    }
}

pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

pub fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    let digits = text.as_bytes();
    if digits.len() & 1 == 1 {
        return Err(format!("hex text has an odd length ({})", digits.len()));
    }
    let nibble = |c: u8, at: usize| -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!("not a hex digit at offset {at}: {:?}", c as char)),
        }
    };
    digits
        .chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| Ok(nibble(pair[0], 2 * i)? << 4 | nibble(pair[1], 2 * i + 1)?))
        .collect()
}
