//! Normalisation at inference: `BatchNormalization` with running statistics.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__BatchNormalization.html> (opsets 7-15; training
//! mode outputs are not produced). `y = (x - mean) / sqrt(var + eps) * scale + bias` over axis 1.

use onnx_ir::node::batch_norm::BatchNormConfig;
use onnx_ir::{Node, NodeType};

use super::{Op, OpResult, Registry, float_input, typed_node};
use crate::onnx::value::{FloatValue, Value};

pub(super) fn register(registry: &mut Registry) {
    registry.add(NodeType::BatchNormalization, build_batch_norm);
}

struct BatchNorm {
    epsilon: f64,
}

fn build_batch_norm(node: &Node) -> Result<Box<dyn Op>, String> {
    let epsilon = match &typed_node!(node, BatchNormalization).config {
        BatchNormConfig::Static(c) => c.epsilon,
        BatchNormConfig::Runtime(c) => c.epsilon,
    };
    Ok(Box::new(BatchNorm { epsilon }))
}

/// Reshapes a per-channel vector to `[C, 1, ..]` so it broadcasts over an `[N, C, ..]` input.
fn per_channel(v: FloatValue, channels: usize, rank: usize) -> Result<FloatValue, String> {
    if v.dims() != [channels] {
        return Err(format!(
            "a per-channel parameter has shape {:?}, expected [{channels}]",
            v.dims()
        ));
    }
    let mut dims = vec![1; rank - 1];
    dims[0] = channels;
    Ok(v.reshape(&dims))
}

impl Op for BatchNorm {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = float_input(inputs, 0)?;
        let dims = x.dims();
        if dims.len() < 2 {
            return Err(format!("expected an [N, C, ..] input, got {dims:?}"));
        }
        let (c, rank) = (dims[1], dims.len());
        let p = |i| per_channel(float_input(inputs, i)?, c, rank).map(FloatValue::into_padded);
        let (scale, bias, mean, var) = (p(1)?, p(2)?, p(3)?, p(4)?);
        // Fold into one multiply-add: y = x * k + (bias - mean * k), k = scale / sqrt(var + eps).
        let k = scale / var.add_scalar(self.epsilon).sqrt();
        let shift = bias - mean * k.clone();
        Ok(vec![Value::Float(x.map(|t| t * k + shift))])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{fv, read};
    use super::*;

    #[test]
    fn batch_norm_normalises_each_channel() {
        let out = BatchNorm { epsilon: 0.0 }
            .run(&[
                fv(&[1.0, 3.0, 10.0, 20.0], &[1, 2, 2]),
                fv(&[1.0, 2.0], &[2]),  // scale
                fv(&[0.0, 1.0], &[2]),  // bias
                fv(&[2.0, 15.0], &[2]), // mean
                fv(&[1.0, 25.0], &[2]), // var
            ])
            .expect("run");
        assert_eq!(read(&out), (vec![-1.0, 1.0, -1.0, 3.0], vec![1, 2, 2]));
    }
}
