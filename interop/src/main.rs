//! `hearsay-interop`: the interop peer built against the real `chitchat` 0.10.1 crate. The
//! command loop and most commands are shared with `hearsay-interop-v013` (see `app.rs`); this
//! root maps the version-specific modules to their 0.10.1 files.

extern crate chitchat010 as chitchat;

mod app;
mod canonical;
#[path = "codec.rs"]
mod codec;
#[path = "compat_v010.rs"]
mod compat;
mod debug_text;
mod json;
mod nodes;
mod sim;
mod zlayer;

pub use app::quiet_catch_unwind;

fn main() {
    app::main();
}
