//! ONNX operators on Burn tensors.
//!
//! Each op family lives in its own file and registers its builders in a [`Registry`]; a builder
//! turns one parsed `onnx_ir::Node` (with its typed config) into an [`Op`] that runs on
//! [`Value`]s. The importer looks every node up here and collects the ones nobody registered, so
//! a user sees every unsupported op of a model at once.
//!
//! Ops read all their inputs — weights included — from the argument list at run time; weights are
//! graph constants already on the device, so this costs a clone of a handle, and an op never
//! cares whether a weight came from an initializer, a Constant node or another node's output.

pub(crate) mod conv;
pub(crate) mod elementwise;
mod indexing;
mod linear;
mod logic;
pub(crate) mod norm;
mod reduce;
mod shape;

use std::collections::HashMap;

use burn::tensor::Device;
use onnx_ir::{Node, NodeType};

use super::value::{FloatValue, Value};

/// What an op returns: its outputs, or a reason the executor tags with the node's name.
pub type OpResult = std::result::Result<Vec<Value>, String>;

/// One executable node.
pub trait Op {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult;

    /// Which input pixels each output pixel of a 4-D (NCHW) output reads, for recomputing
    /// only the part of a tensor an edit of the image reaches (`onnx/incremental.rs`), given
    /// the spatial size of the first input. `None`: any output may read any input.
    fn locality(&self, _in_size: [usize; 2]) -> Option<Locality> {
        None
    }

    /// A [`Locality::Window`] op run on a crop of its first input with these (begin, end) pads
    /// per spatial axis instead of its own.
    fn run_cropped(&self, _inputs: &[Option<Value>], _pads: [(usize, usize); 2]) -> OpResult {
        Err("internal: this op does not run on crops".into())
    }

    /// The op as `Any`, for the import-time fusion pass (`onnx/fuse.rs`) to recognise the ops
    /// it folds together; `None` for every other op.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// How an op's output pixels depend on its inputs' pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locality {
    /// Output pixel (y, x) reads pixel (y, x) of every input with the output's height and
    /// width; other inputs are per-channel constants broadcast over the image (elementwise
    /// ops, BatchNorm, concatenation along channels).
    Pointwise,
    /// A sliding window over the first input (convolution, pooling); the other inputs are
    /// weights.
    Window {
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        /// (begin, end) pads per spatial axis for the full input.
        pads: [(usize, usize); 2],
    },
}

/// A builder: parsed node -> executable op, or a reason it cannot be built.
pub type Builder = fn(&Node, &Device) -> std::result::Result<Box<dyn Op>, String>;

/// The op types the engine can run.
pub struct Registry {
    builders: HashMap<NodeType, Builder>,
}

impl Registry {
    /// Every op family's registrations.
    pub fn standard() -> Self {
        let mut registry = Registry {
            builders: HashMap::new(),
        };
        conv::register(&mut registry);
        elementwise::register(&mut registry);
        indexing::register(&mut registry);
        linear::register(&mut registry);
        logic::register(&mut registry);
        norm::register(&mut registry);
        reduce::register(&mut registry);
        shape::register(&mut registry);
        registry
    }

    pub fn add(&mut self, node_type: NodeType, builder: Builder) {
        self.builders.insert(node_type, builder);
    }

    pub fn get(&self, node_type: &NodeType) -> Option<Builder> {
        self.builders.get(node_type).copied()
    }

    /// The ONNX op types (as written in a model file) the registered builders cover.
    pub fn onnx_op_types(&self) -> std::collections::HashSet<String> {
        let mut ops: std::collections::HashSet<String> =
            self.builders.keys().filter_map(onnx_op_type).collect();
        // Folded into constants or fused by the importer before any builder sees them.
        ops.extend(["Constant".to_string(), "Identity".to_string()]);
        ops
    }

    /// The ONNX op types UNPIC runs, sorted (for `unpic ops` and the docs).
    pub fn supported_onnx_ops(&self) -> Vec<String> {
        let mut ops: Vec<String> = self.onnx_op_types().into_iter().collect();
        ops.extend(["Gemm".to_string(), "MatMul".to_string()]);
        ops.sort();
        ops.dedup();
        ops
    }
}

/// The ONNX op type an onnx-ir node type comes from (onnx-ir splits some by dimension and fuses
/// Gemm/MatMul+Add into `Linear`).
fn onnx_op_type(node_type: &NodeType) -> Option<String> {
    Some(match node_type {
        NodeType::Conv2d => "Conv".to_string(),
        NodeType::MaxPool2d => "MaxPool".to_string(),
        NodeType::AveragePool2d => "AveragePool".to_string(),
        NodeType::Lrn => "LRN".to_string(),
        NodeType::Linear => return None,
        other => other.to_string(),
    })
}

/// Extracts the typed node of a builder's variant (the registry guarantees it matches).
macro_rules! typed_node {
    ($node:expr, $variant:ident) => {
        match $node {
            onnx_ir::Node::$variant(n) => n,
            other => {
                return Err(format!(
                    "internal: {} builder called with a {} node",
                    stringify!($variant),
                    other.node_type()
                ))
            }
        }
    };
}
pub(crate) use typed_node;

/// Input `i` as a float tensor.
pub fn float_input(inputs: &[Option<Value>], i: usize) -> std::result::Result<FloatValue, String> {
    match inputs.get(i) {
        Some(Some(Value::Float(v))) => Ok(v.clone()),
        Some(Some(Value::Int { .. })) => {
            Err(format!("input {i} is an integer tensor, expected float"))
        }
        _ => Err(format!("input {i} is missing")),
    }
}

/// Optional input `i` as a float tensor.
pub fn optional_float_input(
    inputs: &[Option<Value>],
    i: usize,
) -> std::result::Result<Option<FloatValue>, String> {
    match inputs.get(i) {
        Some(Some(_)) => float_input(inputs, i).map(Some),
        _ => Ok(None),
    }
}

/// Input `i` as host integers (shapes, axes).
pub fn int_input(inputs: &[Option<Value>], i: usize) -> std::result::Result<Vec<i64>, String> {
    match inputs.get(i) {
        Some(Some(Value::Int { data, .. })) => Ok(data.clone()),
        Some(Some(Value::Float(_))) => {
            Err(format!("input {i} is a float tensor, expected integers"))
        }
        _ => Err(format!("input {i} is missing")),
    }
}

/// Input `i` of any kind.
pub fn input(inputs: &[Option<Value>], i: usize) -> std::result::Result<Value, String> {
    inputs
        .get(i)
        .cloned()
        .flatten()
        .ok_or_else(|| format!("input {i} is missing"))
}

/// Input `i` as a float tensor on `device`; host integers (shape arithmetic that meets float
/// data, e.g. a Cast of a dimension) are uploaded.
pub fn float_on(
    inputs: &[Option<Value>],
    i: usize,
    device: &Device,
) -> std::result::Result<FloatValue, String> {
    match input(inputs, i)? {
        Value::Float(v) => Ok(v),
        Value::Int { data, shape } => {
            FloatValue::from_vec(data.iter().map(|&v| v as f32).collect(), &shape, device)
                .map_err(|e| e.to_string())
        }
    }
}

/// A list of integers given either in the node's attributes or as a run-time input.
#[derive(Debug, Clone)]
pub enum IntsArg {
    Static(Vec<i64>),
    Input(usize),
}

impl IntsArg {
    pub fn resolve(&self, inputs: &[Option<Value>]) -> std::result::Result<Vec<i64>, String> {
        match self {
            IntsArg::Static(v) => Ok(v.clone()),
            IntsArg::Input(i) => int_input(inputs, *i),
        }
    }
}

/// Resolves a possibly negative axis against `rank`.
pub fn axis(axis: i64, rank: usize) -> std::result::Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}

/// A broadcast output shape and, per output element, the source index in each operand.
pub type Broadcast = (Vec<usize>, Vec<(usize, usize)>);

/// Numpy broadcasting of host data: the output shape and, for each output index, the index
/// into `a` and into `b`.
pub fn broadcast_host(sa: &[usize], sb: &[usize]) -> Result<Broadcast, String> {
    let rank = sa.len().max(sb.len());
    let pad = |s: &[usize]| {
        let mut p = vec![1; rank - s.len()];
        p.extend_from_slice(s);
        p
    };
    let (pa, pb) = (pad(sa), pad(sb));
    let mut out = Vec::with_capacity(rank);
    for (&x, &y) in pa.iter().zip(&pb) {
        out.push(match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {sa:?} and {sb:?} do not broadcast")),
        });
    }
    let total: usize = out.iter().product();
    let mut pairs = Vec::with_capacity(total);
    for flat in 0..total {
        let (mut rem, mut ia, mut ib, mut stride_a, mut stride_b) = (flat, 0, 0, 1, 1);
        for d in (0..rank).rev() {
            let i = rem % out[d];
            rem /= out[d];
            ia += if pa[d] == 1 { 0 } else { i * stride_a };
            ib += if pb[d] == 1 { 0 } else { i * stride_b };
            stride_a *= pa[d];
            stride_b *= pb[d];
        }
        pairs.push((ia, ib));
    }
    Ok((out, pairs))
}

/// An op that is a pure function of its first input.
pub struct Unary<F: Fn(FloatValue) -> FloatValue>(pub F);

impl<F: Fn(FloatValue) -> FloatValue> Op for Unary<F> {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        Ok(vec![Value::Float((self.0)(float_input(inputs, 0)?))])
    }

    fn locality(&self, _: [usize; 2]) -> Option<Locality> {
        Some(Locality::Pointwise)
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use burn::tensor::Device;

    use super::*;

    pub fn fv(data: &[f32], dims: &[usize]) -> Option<Value> {
        Some(Value::Float(
            FloatValue::from_vec(data.to_vec(), dims, &Device::flex()).expect("upload"),
        ))
    }

    pub fn read(values: &[Value]) -> (Vec<f32>, Vec<usize>) {
        let v = values[0].as_float().expect("float output");
        (v.to_vec().expect("read"), v.dims())
    }
}
