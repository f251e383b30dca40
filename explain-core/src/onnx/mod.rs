//! ONNX model -> executable graph on Burn tensors (the import pipeline is drawn in the
//! repository's ARCHITECTURE.md).

pub mod exec;
mod fuse;
pub mod graph;
pub mod incremental;
pub mod layers;
pub mod ops;
pub mod value;

pub use exec::{Needs, RunOutput, Watched, format_shape};
pub use graph::{Graph, Slot, TensorInfo};
pub use layers::{Layer, LayerTable};
pub use value::{FloatValue, MAX_RANK, Value};
