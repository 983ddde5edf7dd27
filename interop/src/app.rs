//! The command loop shared by both builds of the interop peer (`hearsay-interop` against
//! chitchat 0.10.1, `hearsay-interop-v013` against chitchat 0.13.0): it reads one JSON request per
//! line on stdin and writes one JSON answer per request on stdout, in order (see ../COMMANDS.md). Logs go to stderr. It exits when stdin closes. Bad input never
//! panics the process: it gets an `ok: false` answer.
//!
//! Layout: one module per command group (`codec`, `nodes`, `sim`); `dispatch` below maps command
//! names to them. What differs between the two crate versions lives in `compat` and `codec`, which
//! each binary's root (`main.rs`, `main_v013.rs`) maps to its own file.

use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::codec;
use crate::json::{Args, CmdResult};
use crate::{nodes, sim};

/// Longest request line accepted (a 65 507-byte datagram is 131 014 hex digits).
const MAX_LINE_BYTES: u64 = 8 << 20;

/// Everything the commands share.
#[derive(Default)]
struct Peer {
    nodes: nodes::Nodes,
}

impl Peer {
    async fn dispatch(&mut self, cmd: &str, args: &Args<'_>) -> CmdResult {
        match cmd {
            "version" => Ok(crate::json::fields(serde_json::json!({
                "chitchat": crate::compat::CHITCHAT_VERSION,
                "protocolVersions": crate::compat::PROTOCOL_VERSIONS,
            }))),
            "decode" => codec::decode(args).await,
            "encode" => codec::encode(args).await,
            "bench_codec" => codec::bench_codec(args).await,
            "node_start" => self.nodes.start(args).await,
            "node_set" => self.nodes.set(args, false).await,
            "node_set_with_ttl" => self.nodes.set(args, true).await,
            "node_delete" => self.nodes.delete(args, false).await,
            "node_delete_after_ttl" => self.nodes.delete(args, true).await,
            "node_state" => self.nodes.state(args).await,
            "node_stop" => self.nodes.stop(args).await,
            "node_kill" => self.nodes.kill(args).await,
            // Runs on its own thread and runtime (see sim.rs).
            "zlayer_peers" => self.nodes.zlayer_peers(args).await,
            "zlayer_announce" => self.nodes.zlayer_announce(args).await,
            "sim_run" => sim::run(args).await,
            other => Err(format!("unknown command {other:?}")),
        }
    }

    /// Answers one request line.
    async fn answer(&mut self, line: &str) -> Value {
        let request: Map<String, Value> = match serde_json::from_str(line) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return failure(Value::Null, "a request must be a JSON object".into()),
            Err(e) => return failure(Value::Null, format!("request is not valid JSON: {e}")),
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let Some(cmd) = request.get("cmd").and_then(Value::as_str) else {
            return failure(id, "missing `cmd` (a string)".into());
        };
        match self.dispatch(cmd, &Args(&request)).await {
            Ok(mut result) => {
                result.insert("id".into(), id);
                result.insert("ok".into(), Value::Bool(true));
                Value::Object(result)
            }
            Err(error) => failure(id, error),
        }
    }
}

thread_local! {
    static EXPECTING_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `catch_unwind` that keeps the panic hook quiet: chitchat asserts inside code the codec
/// commands call on untrusted input, and such a panic becomes an `ok: false` answer.
pub fn quiet_catch_unwind<T>(
    f: impl FnOnce() -> T + std::panic::UnwindSafe,
) -> std::thread::Result<T> {
    EXPECTING_PANIC.with(|flag| flag.set(true));
    let result = std::panic::catch_unwind(f);
    EXPECTING_PANIC.with(|flag| flag.set(false));
    result
}

fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !EXPECTING_PANIC.with(|flag| flag.get()) {
            default_hook(info);
        }
    }));
}

fn failure(id: Value, error: String) -> Value {
    serde_json::json!({ "id": id, "ok": false, "error": error })
}

/// Runs the peer until stdin closes.
pub fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    runtime.block_on(serve());
}

async fn serve() {
    install_panic_hook();
    let mut peer = Peer::default();
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut stdout = tokio::io::stdout();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut stdin)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)
            .await;
        let answer = match read {
            Ok(0) => break,
            Err(e) => {
                eprintln!("hearsay-interop: stdin read failed: {e}");
                break;
            }
            Ok(_) if !line.ends_with(b"\n") && line.len() as u64 >= MAX_LINE_BYTES => {
                // Skip the rest of the oversized line.
                let mut sink = Vec::new();
                loop {
                    sink.clear();
                    match (&mut stdin)
                        .take(MAX_LINE_BYTES)
                        .read_until(b'\n', &mut sink)
                        .await
                    {
                        Ok(0) | Err(_) => break,
                        Ok(_) if sink.ends_with(b"\n") => break,
                        Ok(_) => {}
                    }
                }
                failure(
                    Value::Null,
                    format!("request line longer than {MAX_LINE_BYTES} bytes"),
                )
            }
            Ok(_) => match std::str::from_utf8(&line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => peer.answer(text.trim_end()).await,
                Err(_) => failure(Value::Null, "request line is not UTF-8".into()),
            },
        };
        let mut out = answer.to_string();
        out.push('\n');
        if stdout.write_all(out.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
            break;
        }
    }
    peer.nodes.abort_all();
}
