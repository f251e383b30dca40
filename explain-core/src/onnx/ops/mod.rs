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

mod conv;
mod elementwise;
mod linear;
mod norm;
mod shape;

use std::collections::HashMap;

use onnx_ir::{Node, NodeType};

use super::value::{FloatValue, Value};

/// What an op returns: its outputs, or a reason the executor tags with the node's name.
pub type OpResult = std::result::Result<Vec<Value>, String>;

/// One executable node.
pub trait Op {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult;
}

/// A builder: parsed node -> executable op, or a reason it cannot be built.
pub type Builder = fn(&Node) -> std::result::Result<Box<dyn Op>, String>;

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
        linear::register(&mut registry);
        norm::register(&mut registry);
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

    /// Names of the supported op types, sorted (for `unpic ops` and the docs).
    pub fn op_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.builders.keys().map(ToString::to_string).collect();
        names.sort();
        names
    }
}

/// The ONNX op type an onnx-ir node type comes from (onnx-ir splits some by dimension and fuses
/// Gemm/MatMul+Add into `Linear`).
fn onnx_op_type(node_type: &NodeType) -> Option<String> {
    Some(match node_type {
        NodeType::Conv2d => "Conv".to_string(),
        NodeType::MaxPool2d => "MaxPool".to_string(),
        NodeType::AveragePool2d => "AveragePool".to_string(),
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

/// An op that is a pure function of its first input.
pub struct Unary<F: Fn(FloatValue) -> FloatValue>(pub F);

impl<F: Fn(FloatValue) -> FloatValue> Op for Unary<F> {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        Ok(vec![Value::Float((self.0)(float_input(inputs, 0)?))])
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
