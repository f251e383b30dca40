//! ONNX model -> executable graph on Burn tensors (see ARCHITECTURE.md).

pub mod exec;
pub mod graph;
pub mod ops;
pub mod value;

pub use exec::{RunOutput, format_shape};
pub use graph::{Graph, Slot, TensorInfo};
pub use value::{FloatValue, MAX_RANK, Value};
