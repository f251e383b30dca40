//! UNPIC's engine: runs a user's ONNX image classifier on Burn (flex on the CPU, WebGPU in the
//! browser) and computes what the app and the CLI show. No web or UI dependency.
//!
//! Without the `engine` feature (on by default) only the plain data and pure functions are
//! compiled: what the browser's page uses to draw the worker's results (see Cargo.toml).

#[cfg(feature = "engine")]
pub mod cpu;
pub mod data;
pub mod embed;
pub mod error;
pub mod explain;
pub mod features;
pub mod gradient;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod onnx;
pub mod render;

#[cfg(feature = "engine")]
pub use burn::tensor::Device;
pub use error::{Error, Result};
pub use gradient::Score;
#[cfg(feature = "engine")]
pub use gradient::{Forward, Gradient, Wrt};
#[cfg(feature = "engine")]
pub use model::Classifier;
pub use model::{ClassScore, InputSpec, Layout, Prediction};
