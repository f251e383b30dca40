//! ONNX model -> executable graph on Burn tensors (the import pipeline is drawn in the
//! repository's ARCHITECTURE.md).

//!
//! Without the `engine` feature only the layer table (what the page lists) is compiled.

#[cfg(feature = "engine")]
pub mod exec;
#[cfg(feature = "engine")]
mod fuse;
#[cfg(feature = "engine")]
pub mod graph;
#[cfg(feature = "engine")]
mod import;
#[cfg(feature = "engine")]
pub mod incremental;
pub mod layers;
#[cfg(feature = "engine")]
pub mod ops;
#[cfg(feature = "engine")]
pub mod randomise;
#[cfg(feature = "engine")]
pub mod value;

#[cfg(feature = "engine")]
pub use exec::{Needs, RunOutput, Watched};
#[cfg(feature = "engine")]
pub use graph::{Graph, Slot, TensorInfo};
pub use layers::{Layer, LayerTable, TokenGrid, format_shape};
#[cfg(feature = "engine")]
pub use randomise::ParameterLayer;
#[cfg(feature = "engine")]
pub use value::{FloatValue, MAX_RANK, Value};
