//! Normalisation at inference: `BatchNormalization` with running statistics,
//! `LayerNormalization` (ConvNeXt, transformers) and `LRN` (AlexNet, GoogLeNet v1).
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__BatchNormalization.html> (opsets 7-15; training
//! mode outputs are not produced): `y = (x - mean) / sqrt(var + eps) * scale + bias` over axis 1.
//! <https://onnx.ai/onnx/operators/onnx__LayerNormalization.html>: statistics over the axes from
//! `axis` to the last (only the first output; the mean and inverse-std outputs are not used by
//! classifiers). <https://onnx.ai/onnx/operators/onnx__LRN.html>: `y = x / (bias + alpha/size *
//! Σ x²)^beta`, the sum over `size` neighbouring channels.

use burn::tensor::{Device, Tensor};
use onnx_ir::node::batch_norm::BatchNormConfig;
use onnx_ir::{Node, NodeType};

use super::{
    Locality, Op, OpResult, Registry, axis, float_input, optional_float_input, typed_node,
};
use crate::onnx::value::{FloatValue, Value};

pub(super) fn register(registry: &mut Registry) {
    registry.add(NodeType::BatchNormalization, build_batch_norm);
    registry.add(NodeType::LayerNormalization, build_layer_norm);
    registry.add(NodeType::Lrn, build_lrn);
}

struct LayerNorm {
    axis: i64,
    epsilon: f64,
}

fn build_layer_norm(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let c = &typed_node!(node, LayerNormalization).config;
    Ok(Box::new(LayerNorm {
        axis: c.axis,
        epsilon: c.epsilon,
    }))
}

impl Op for LayerNorm {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = float_input(inputs, 0)?;
        let scale = float_input(inputs, 1)?;
        let bias = optional_float_input(inputs, 2)?;
        let first = axis(self.axis, x.rank())?;
        let mut mean = x.padded().clone();
        for a in first..x.rank() {
            mean = mean.mean_dim(x.physical_axis(a));
        }
        let centred = x.padded().clone() - mean;
        let mut var = centred.clone().powi_scalar(2);
        for a in first..x.rank() {
            var = var.mean_dim(x.physical_axis(a));
        }
        let mut y = centred / var.add_scalar(self.epsilon).sqrt() * scale.into_padded();
        if let Some(b) = bias {
            y = y + b.into_padded();
        }
        Ok(vec![Value::Float(FloatValue::from_padded(y, x.rank()))])
    }
}

struct Lrn {
    size: usize,
    alpha: f32,
    beta: f32,
    bias: f32,
}

fn build_lrn(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let c = &typed_node!(node, Lrn).config;
    if c.size < 1 {
        return Err(format!("size must be at least 1, got {}", c.size));
    }
    Ok(Box::new(Lrn {
        size: c.size as usize,
        alpha: c.alpha,
        beta: c.beta,
        bias: c.bias,
    }))
}

impl Op for Lrn {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = float_input(inputs, 0)?;
        let dims = x.dims();
        if dims.len() < 3 {
            return Err(format!("expected an [N, C, ..] input, got {dims:?}"));
        }
        let channels = dims[1];
        let axis = x.physical_axis(1);
        let square = x.padded().clone().powi_scalar(2);
        // Channel c sums channels c - floor((size-1)/2) ..= c + ceil((size-1)/2), zero outside:
        // pad the channel axis with zeros and add `size` shifted windows.
        let before = (self.size - 1) / 2;
        let after = self.size - 1 - before;
        let zeros = |n: usize| {
            let mut shape = square.dims();
            shape[axis] = n;
            Tensor::zeros(shape, &square.device())
        };
        let mut parts = Vec::new();
        if before > 0 {
            parts.push(zeros(before));
        }
        parts.push(square.clone());
        if after > 0 {
            parts.push(zeros(after));
        }
        let padded = Tensor::cat(parts, axis);
        let sum = (1..self.size).fold(padded.clone().narrow(axis, 0, channels), |acc, k| {
            acc + padded.clone().narrow(axis, k, channels)
        });
        let denominator = (sum * (self.alpha / self.size as f32))
            .add_scalar(self.bias)
            .powf_scalar(self.beta);
        Ok(vec![Value::Float(x.map(|t| t / denominator))])
    }
}

struct BatchNorm {
    epsilon: f64,
}

fn build_batch_norm(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
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

/// A BatchNormalization with constant parameters as the per-channel affine map it applies,
/// `y = x · k + shift` (`[C]` each), for folding into the convolution before it.
pub(crate) fn batch_norm_affine(
    op: &dyn Op,
    params: [&FloatValue; 4],
) -> Option<(Tensor<1>, Tensor<1>)> {
    let bn = op.as_any()?.downcast_ref::<BatchNorm>()?;
    let [scale, bias, mean, var] = params.map(|p| p.to_rank::<1>());
    let (scale, bias, mean, var) = (scale?, bias?, mean?, var?);
    let c = scale.dims()[0];
    if [&bias, &mean, &var].iter().any(|p| p.dims()[0] != c) {
        return None;
    }
    let k = scale / var.add_scalar(bn.epsilon).sqrt();
    let shift = bias - mean * k.clone();
    Some((k, shift))
}

impl Op for BatchNorm {
    fn locality(&self, _: [usize; 2]) -> Option<Locality> {
        Some(Locality::Pointwise)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

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
