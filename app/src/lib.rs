//! UNPIC's browser app. The page (`ui`) never computes: it sends [`protocol::Request`]s to a Web
//! Worker that owns the engine (`engine`, `worker`) and draws what comes back, so the page stays
//! responsive however long a network takes.

pub mod engine;
pub mod export;
pub mod jobs;
pub mod presets;
pub mod protocol;
#[cfg(target_arch = "wasm32")]
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod worker;
