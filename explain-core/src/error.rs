//! One error type for the engine. Every variant says what was wrong and, where a user can act,
//! what to do; variants name the node, op or file at fault. The engine never panics on user input.

use std::fmt;

/// An ONNX node the engine cannot run: its name and op type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedNode {
    pub node: String,
    pub op: String,
}

impl fmt::Display for UnsupportedNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.node, self.op)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a readable ONNX model (not protobuf, truncated, or inconsistent).
    #[error(
        "this file could not be read as an ONNX model: {reason}. Export the network with \
         torch.onnx.export, tf2onnx or exportONNXNetwork and open the resulting .onnx file"
    )]
    InvalidModel { reason: String },

    /// Every op of the model the engine does not implement, all at once.
    #[error(
        "the model uses {} operator(s) UNPIC cannot run yet: {}",
        .nodes.len(),
        .nodes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    UnsupportedOps { nodes: Vec<UnsupportedNode> },

    /// A node's attributes or inputs are outside what the op supports.
    #[error("node {node} ({op}): {reason}")]
    Node {
        node: String,
        op: String,
        reason: String,
    },

    /// The model is not an image classifier UNPIC can drive (e.g. no 4-D image input).
    #[error("{0}")]
    NotAClassifier(String),

    /// The model accepts any image size and none was given.
    #[error("{0}")]
    NeedsSize(String),

    /// An input tensor does not fit the model's input.
    #[error(
        "the input has shape {got:?} but the model expects {expected}. Set the preprocessing \
         (size and channels) to match the model"
    )]
    InputShape { got: Vec<usize>, expected: String },

    /// An input tensor with a dimension of 0 (a batch of no images, an image of no pixels).
    #[error(
        "the input has shape {0:?}, which holds no values: every dimension must be at least 1 \
         (a batch of at least one image)"
    )]
    EmptyInput(Vec<usize>),

    /// A named tensor does not exist in the graph.
    #[error("the model has no tensor named '{0}'; `unpic layers` lists the names")]
    UnknownTensor(String),

    /// An image that does not decode.
    #[error(
        "the image '{name}' could not be decoded: {reason}. Use a PNG, JPEG, GIF, BMP or WebP file"
    )]
    Image { name: String, reason: String },

    /// A tensor file (.npy) that cannot be read.
    #[error("the tensor file '{name}' could not be read: {reason}")]
    TensorFile { name: String, reason: String },

    /// Preprocessing settings that make no sense (e.g. a zero std).
    #[error("invalid preprocessing: {0}")]
    Preprocess(String),

    /// A labels file that does not fit the model.
    #[error("labels: {0}")]
    Labels(String),

    /// The compute backend failed (e.g. reading a result back from the GPU).
    #[error("the compute backend failed: {0}")]
    Backend(String),

    /// An image set that cannot be used (no class folders, not a zip, …).
    #[error("image set: {0}")]
    Dataset(String),

    /// The user cancelled a long computation.
    #[error("cancelled")]
    Cancelled,

    /// The model's scores hold NaN or infinity: no class order, top list or accuracy exists.
    #[error(
        "the model's output contains NaN or infinite scores ({0}): its weights or the input \
         contain NaN/Inf, or a layer overflows. Check the model with onnxruntime and the \
         preprocessing (a tiny std multiplies the pixels)"
    )]
    NonFinite(String),

    /// Settings of an explanation method that make no sense (e.g. a window larger than the input).
    #[error("{0}")]
    Settings(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A node-level error, tagged with the node and op it came from.
    pub fn node(node: &str, op: &str, reason: impl Into<String>) -> Self {
        Error::Node {
            node: node.to_string(),
            op: op.to_string(),
            reason: reason.into(),
        }
    }
}
