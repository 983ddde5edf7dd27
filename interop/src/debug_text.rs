//! Turns the `Debug` text of a parsed `chitchat::ChitchatMessage` into the JSON shapes of
//! `interop/COMMANDS.md`.
//!
//! Why text: chitchat 0.10.1 keeps `Digest`, `Delta`, `NodeDelta` and `KeyValueMutation` in
//! private modules with crate-private fields, so a program outside the crate cannot read a parsed
//! message any other way. Their `Debug` output is derived (field names and order are fixed by the
//! struct definitions), except `ChitchatId`, which prints `node_id:generation_id:addr` with the
//! node id written raw (not quoted, not escaped).
//!
//! The grammar handled here (`{:?}`, not the `{:#?}` pretty form):
//!
//! ```text
//! message   = "BadCluster"
//!           | "Syn { cluster_id: " string ", digest: " digest " }"
//!           | "SynAck { digest: " digest ", delta: " delta " }"
//!           | "Ack { delta: " delta " }"
//! digest    = "Digest { node_digests: {" [ entry { ", " entry } ] "} }"
//! entry     = raw_id ": NodeDigest { heartbeat: Heartbeat(" u64 "), last_gc_version: " u64
//!             ", max_version: " u64 " }"
//! delta     = "Delta { node_deltas: [" [ node_delta { ", " node_delta } ] "], serialized_len: "
//!             u64 " }"
//! node_delta = "NodeDelta { chitchat_id: " raw_id ", from_version_excluded: " u64
//!             ", last_gc_version: " u64 ", key_values: [" [ kv { ", " kv } ] "], max_version: "
//!             u64 " }"
//! kv        = "KeyValueMutation { key: " string ", value: " string ", version: " u64
//!             ", status: " ( "Set" | "Delete" | "DeleteAfterTtl" ) " }"
//! raw_id    = node_id ":" u64 ":" ( ipv4 ":" port | "[" ipv6 "]:" port )
//! string    = Rust Debug-escaped string literal
//! ```
//!
//! LIMITATION: because the node id inside `raw_id` is printed raw, a raw id is taken to end at
//! the first occurrence of the text that follows it (`: NodeDigest { heartbeat: Heartbeat(` in a
//! digest, `, from_version_excluded: ` in a delta). A node id that itself contains that text is
//! not supported: it is cut at the wrong place and the decode reports an error (it is never
//! silently mis-decoded unless the remainder happens to parse). Every other node id, including
//! ids with ':' such as `worker:42`, spaces, quotes or newlines, is handled: the generation and
//! address are split off from the right, and each id is checked by printing it again with
//! chitchat's own `Debug`.

use std::net::{IpAddr, SocketAddr};

use chitchat::ChitchatId;
use serde_json::{json, Value};

use crate::json::chitchat_id_json;

/// Parses the `Debug` text of a whole `ChitchatMessage` into a COMMANDS.md `Message` JSON value.
pub fn message_json(text: &str) -> Result<Value, String> {
    let mut cur = Cursor::new(text);
    let value = if cur.eat("BadCluster") {
        json!({ "type": "badCluster" })
    } else if cur.eat("SynAck { digest: ") {
        let digest = digest(&mut cur)?;
        cur.expect(", delta: ")?;
        let delta = delta(&mut cur)?;
        cur.expect(" }")?;
        json!({ "type": "synAck", "digest": digest, "delta": delta })
    } else if cur.eat("Syn { cluster_id: ") {
        let cluster_id = cur.string()?;
        cur.expect(", digest: ")?;
        let digest = digest(&mut cur)?;
        cur.expect(" }")?;
        json!({ "type": "syn", "clusterId": cluster_id, "digest": digest })
    } else if cur.eat("Ack { delta: ") {
        let delta = delta(&mut cur)?;
        cur.expect(" }")?;
        json!({ "type": "ack", "delta": delta })
    } else {
        return Err(cur.error("a message variant (Syn, SynAck, Ack or BadCluster)"));
    };
    if !cur.at_end() {
        return Err(cur.error("the end of the message"));
    }
    Ok(value)
}

const DIGEST_ENTRY_TAIL: &str = ": NodeDigest { heartbeat: Heartbeat(";
const NODE_DELTA_ID_TAIL: &str = ", from_version_excluded: ";

fn digest(cur: &mut Cursor) -> Result<Value, String> {
    cur.expect("Digest { node_digests: {")?;
    let mut nodes = Vec::new();
    if !cur.eat("}") {
        loop {
            let raw = cur.until(DIGEST_ENTRY_TAIL)?;
            let id = parse_chitchat_id(raw).map_err(|e| format!("digest entry: {e}"))?;
            cur.expect(DIGEST_ENTRY_TAIL)?;
            let heartbeat = cur.u64()?;
            cur.expect("), last_gc_version: ")?;
            let last_gc_version = cur.u64()?;
            cur.expect(", max_version: ")?;
            let max_version = cur.u64()?;
            cur.expect(" }")?;
            nodes.push(json!({
                "chitchatId": chitchat_id_json(&id),
                "heartbeat": heartbeat.to_string(),
                "lastGcVersion": last_gc_version.to_string(),
                "maxVersion": max_version.to_string(),
            }));
            if cur.eat(", ") {
                continue;
            }
            cur.expect("}")?;
            break;
        }
    }
    cur.expect(" }")?;
    Ok(json!({ "nodes": nodes }))
}

fn delta(cur: &mut Cursor) -> Result<Value, String> {
    cur.expect("Delta { node_deltas: [")?;
    let mut node_deltas = Vec::new();
    if !cur.eat("]") {
        loop {
            node_deltas.push(node_delta(cur)?);
            if cur.eat(", ") {
                continue;
            }
            cur.expect("]")?;
            break;
        }
    }
    cur.expect(", serialized_len: ")?;
    cur.u64()?;
    cur.expect(" }")?;
    Ok(json!({ "nodeDeltas": node_deltas }))
}

fn node_delta(cur: &mut Cursor) -> Result<Value, String> {
    cur.expect("NodeDelta { chitchat_id: ")?;
    let raw = cur.until(NODE_DELTA_ID_TAIL)?;
    let id = parse_chitchat_id(raw).map_err(|e| format!("node delta: {e}"))?;
    cur.expect(NODE_DELTA_ID_TAIL)?;
    let from_version_excluded = cur.u64()?;
    cur.expect(", last_gc_version: ")?;
    let last_gc_version = cur.u64()?;
    cur.expect(", key_values: [")?;
    let mut key_values = Vec::new();
    if !cur.eat("]") {
        loop {
            key_values.push(key_value(cur)?);
            if cur.eat(", ") {
                continue;
            }
            cur.expect("]")?;
            break;
        }
    }
    cur.expect(", max_version: ")?;
    let max_version = cur.u64()?;
    cur.expect(" }")?;
    Ok(json!({
        "chitchatId": chitchat_id_json(&id),
        "lastGcVersion": last_gc_version.to_string(),
        "fromVersionExcluded": from_version_excluded.to_string(),
        "keyValues": key_values,
        "maxVersion": max_version.to_string(),
    }))
}

fn key_value(cur: &mut Cursor) -> Result<Value, String> {
    cur.expect("KeyValueMutation { key: ")?;
    let key = cur.string()?;
    cur.expect(", value: ")?;
    let value = cur.string()?;
    cur.expect(", version: ")?;
    let version = cur.u64()?;
    cur.expect(", status: ")?;
    // Longest name first: "Delete" is a prefix of "DeleteAfterTtl".
    let status = if cur.eat("DeleteAfterTtl") {
        "deleteAfterTtl"
    } else if cur.eat("Delete") {
        "deleted"
    } else if cur.eat("Set") {
        "set"
    } else {
        return Err(cur.error("a status (Set, Delete or DeleteAfterTtl)"));
    };
    cur.expect(" }")?;
    Ok(json!({ "key": key, "value": value, "version": version.to_string(), "status": status }))
}

/// Splits chitchat's `node_id:generation_id:addr` from the right (node ids may contain ':'),
/// then checks the result by printing it again with chitchat's own `Debug`.
pub fn parse_chitchat_id(raw: &str) -> Result<ChitchatId, String> {
    let bad = |what: &str| format!("cannot read ChitchatId {raw:?}: {what}");
    let (rest, port_text) = raw.rsplit_once(':').ok_or_else(|| bad("no ':port'"))?;
    let port: u16 = parse_decimal(port_text)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| bad("the port is not a number in 0..65535"))?;
    let (node_and_generation, ip_text) = if let Some(inside) = rest.strip_suffix(']') {
        let open = inside.rfind('[').ok_or_else(|| bad("']' without '['"))?;
        let before = inside[..open]
            .strip_suffix(':')
            .ok_or_else(|| bad("no ':' before the IPv6 address"))?;
        (before, &inside[open + 1..])
    } else {
        rest.rsplit_once(':')
            .ok_or_else(|| bad("no ':' before the address"))?
    };
    let ip: IpAddr = ip_text
        .parse()
        .map_err(|_| bad("the address is not an IP address"))?;
    if matches!(ip, IpAddr::V6(_)) != rest.ends_with(']') {
        return Err(bad("IPv6 addresses must be bracketed, IPv4 ones must not"));
    }
    let (node_id, generation_text) = node_and_generation
        .rsplit_once(':')
        .ok_or_else(|| bad("no ':generation'"))?;
    let generation_id = parse_decimal(generation_text).ok_or_else(|| bad("bad generation"))?;
    let id = ChitchatId::new(
        node_id.to_string(),
        generation_id,
        SocketAddr::new(ip, port),
    );
    if format!("{id:?}") != raw {
        return Err(bad("printing the parsed id again gives different text"));
    }
    Ok(id)
}

fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A position in the Debug text.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    fn error(&self, expected: &str) -> String {
        let rest = self.rest();
        let shown: String = rest.chars().take(60).collect();
        format!(
            "unexpected chitchat Debug text at byte {}: expected {expected}, found {shown:?}{}",
            self.pos,
            if shown.len() < rest.len() { "..." } else { "" }
        )
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.rest().starts_with(literal) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, literal: &str) -> Result<(), String> {
        if self.eat(literal) {
            Ok(())
        } else {
            Err(self.error(&format!("{literal:?}")))
        }
    }

    /// The text up to (not including) the first occurrence of `terminator`; does not consume it.
    fn until(&mut self, terminator: &str) -> Result<&'a str, String> {
        let rest = self.rest();
        match rest.find(terminator) {
            Some(n) => {
                self.pos += n;
                Ok(&rest[..n])
            }
            None => Err(self.error(&format!("text followed by {terminator:?}"))),
        }
    }

    fn u64(&mut self) -> Result<u64, String> {
        let rest = self.rest();
        let n = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        match parse_decimal(&rest[..n]) {
            Some(v) => {
                self.pos += n;
                Ok(v)
            }
            None => Err(self.error("an unsigned 64-bit integer")),
        }
    }

    /// A Rust `Debug` string literal: `"..."` with `\"`, `\\`, `\n`, `\t`, `\r`, `\0`, `\'`
    /// and `\u{hex}` escapes.
    fn string(&mut self) -> Result<String, String> {
        let start = self.pos;
        self.expect("\"")?;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        loop {
            let Some((i, c)) = chars.next() else {
                self.pos = start;
                return Err(self.error("a string literal closed by '\"'"));
            };
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => {
                    let escaped = match chars.next() {
                        Some((_, '"')) => '"',
                        Some((_, '\\')) => '\\',
                        Some((_, '\'')) => '\'',
                        Some((_, 'n')) => '\n',
                        Some((_, 't')) => '\t',
                        Some((_, 'r')) => '\r',
                        Some((_, '0')) => '\0',
                        Some((_, 'u')) => {
                            let mut hex = String::new();
                            if !matches!(chars.next(), Some((_, '{'))) {
                                self.pos = start;
                                return Err(self.error("'{' after \\u in a string literal"));
                            }
                            loop {
                                match chars.next() {
                                    Some((_, '}')) => break,
                                    Some((_, h)) if h.is_ascii_hexdigit() && hex.len() < 6 => {
                                        hex.push(h)
                                    }
                                    _ => {
                                        self.pos = start;
                                        return Err(self.error("a \\u{hex} escape"));
                                    }
                                }
                            }
                            let code = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                            match code {
                                Some(ch) => ch,
                                None => {
                                    self.pos = start;
                                    return Err(self.error("a \\u{hex} escape of a valid char"));
                                }
                            }
                        }
                        _ => {
                            self.pos = start;
                            return Err(self.error("a known escape in a string literal"));
                        }
                    };
                    out.push(escaped);
                }
                other => out.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_from_the_right() {
        let id = parse_chitchat_id("worker:42:0:0.0.0.0:7946").unwrap();
        assert_eq!(&*id.node_id, "worker:42");
        assert_eq!(id.generation_id, 0);
        let id = parse_chitchat_id("n:1:[2001:db8::1]:7946").unwrap();
        assert_eq!(&*id.node_id, "n");
        assert_eq!(id.gossip_advertise_addr.to_string(), "[2001:db8::1]:7946");
        let id = parse_chitchat_id("a[b]:7:[::ffff:1.2.3.4]:1").unwrap();
        assert_eq!(&*id.node_id, "a[b]");
        assert!(parse_chitchat_id("x:1:::1:7").is_err());
        assert!(parse_chitchat_id("x:99999999999999999999:1.2.3.4:7").is_err());
    }

    #[test]
    fn strings_unescape() {
        let mut c = Cursor::new(r#""a\"b\\c\n\t\r\0\'\u{301}é""#);
        assert_eq!(c.string().unwrap(), "a\"b\\c\n\t\r\0'\u{301}é");
        assert!(c.at_end());
        assert!(Cursor::new(r#""abc"#).string().is_err());
        assert!(Cursor::new(r#""\u{110000}""#).string().is_err());
    }
}
