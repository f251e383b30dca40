//! UNPIC's engine: runs a user's ONNX image classifier on Burn (flex on the CPU, WebGPU in the
//! browser) and computes what the app and the CLI show. No web or UI dependency.

pub mod cpu;
pub mod data;
pub mod embed;
pub mod error;
pub mod explain;
pub mod features;
pub mod gradient;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod onnx;
pub mod render;

pub use burn::tensor::Device;
pub use error::{Error, Result};
pub use gradient::{Forward, Gradient, Score, Wrt};
pub use model::{ClassScore, Classifier, InputSpec, Layout, Prediction};
