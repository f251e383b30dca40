//! UNPIC's browser app. The page (`ui`) never computes: it sends [`protocol::Request`]s to a Web
//! Worker that owns the engine (the `unpic-worker` crate, ../worker) and draws what comes back,
//! so the page stays responsive however long a network takes. The page links none of the engine
//! (`explain-core` without its `engine` feature): only the data both sides share and pure
//! functions.

pub mod awaiting;
pub mod class_maps;
pub mod data_url;
#[cfg(target_arch = "wasm32")]
pub mod event_loop;
pub mod export;
pub mod page_model;
pub mod presets;
pub mod protocol;
pub mod restore;
pub mod sharing;
#[cfg(target_arch = "wasm32")]
pub mod ui;

/// Runs the module's static constructors (Burn's compute IR registers itself with `inventory`)
/// once, from `main`. A wasm binary that never calls them itself is linked as a "command": every
/// exported function then reruns them on entry, so each callback and each message paid for them
/// (over a second of the page's start-up went there). Calling them here turns that off.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
pub fn run_static_constructors() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the linker's constructor list; called once, before anything reads what it sets up.
    unsafe { __wasm_call_ctors() }
}
