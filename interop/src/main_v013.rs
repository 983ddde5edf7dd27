//! `hearsay-interop-v013`: the interop peer built against the real `chitchat` 0.13.0 crate. The
//! command loop and most commands are shared with `hearsay-interop` (0.10.1, see `app.rs`); this
//! root maps the version-specific modules to their 0.13.0 files.

extern crate chitchat013 as chitchat;

mod app;
mod canonical;
#[path = "codec_v013.rs"]
mod codec;
#[path = "compat_v013.rs"]
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
