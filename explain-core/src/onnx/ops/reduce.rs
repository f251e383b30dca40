//! Reductions over axes: `ReduceMean`, `ReduceSum`, `ReduceMax`, `ReduceMin`, `ReduceProd`,
//! `ReduceL1`, `ReduceL2`, `ReduceSumSquare`, `ReduceLogSumExp`.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__ReduceMean.html> (axes as an attribute before
//! opset 18, as an input from 18; empty axes reduce everything unless `noop_with_empty_axes`).
//! Keras' global average pooling and squeeze-excite blocks export as `ReduceMean`.

use onnx_ir::node::reduce::{ReduceAxes, ReduceConfig};
use onnx_ir::{Node, NodeType};

use super::{IntsArg, Op, OpResult, Registry, axis, float_input};
use crate::onnx::value::{FloatValue, Value};

type Padded = burn::tensor::Tensor<{ crate::onnx::value::MAX_RANK }>;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Mean,
    Sum,
    Max,
    Min,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSumExp,
}

pub(super) fn register(registry: &mut Registry) {
    registry.add(NodeType::ReduceMean, |n, _| build(n, Kind::Mean));
    registry.add(NodeType::ReduceSum, |n, _| build(n, Kind::Sum));
    registry.add(NodeType::ReduceMax, |n, _| build(n, Kind::Max));
    registry.add(NodeType::ReduceMin, |n, _| build(n, Kind::Min));
    registry.add(NodeType::ReduceProd, |n, _| build(n, Kind::Prod));
    registry.add(NodeType::ReduceL1, |n, _| build(n, Kind::L1));
    registry.add(NodeType::ReduceL2, |n, _| build(n, Kind::L2));
    registry.add(NodeType::ReduceSumSquare, |n, _| build(n, Kind::SumSquare));
    registry.add(NodeType::ReduceLogSumExp, |n, _| build(n, Kind::LogSumExp));
}

struct Reduce {
    kind: Kind,
    axes: IntsArg,
    keepdims: bool,
    noop_with_empty_axes: bool,
}

fn config(node: &Node) -> Option<&ReduceConfig> {
    Some(match node {
        Node::ReduceMean(n) => &n.config,
        Node::ReduceSum(n) => &n.config,
        Node::ReduceMax(n) => &n.config,
        Node::ReduceMin(n) => &n.config,
        Node::ReduceProd(n) => &n.config,
        Node::ReduceL1(n) => &n.config,
        Node::ReduceL2(n) => &n.config,
        Node::ReduceSumSquare(n) => &n.config,
        Node::ReduceLogSumExp(n) => &n.config,
        _ => return None,
    })
}

fn build(node: &Node, kind: Kind) -> Result<Box<dyn Op>, String> {
    let c = config(node).ok_or("internal: not a reduction")?;
    let axes = match &c.axes {
        ReduceAxes::Static(a) => IntsArg::Static(a.iter().map(|&a| a as i64).collect()),
        ReduceAxes::Runtime(r) => IntsArg::Input(r.input_index),
    };
    Ok(Box::new(Reduce {
        kind,
        axes,
        keepdims: c.keepdims,
        noop_with_empty_axes: c.noop_with_empty_axes,
    }))
}

impl Reduce {
    /// Reduces physical axis `dim`, keeping it with size 1.
    fn along(&self, t: Padded, dim: usize) -> Padded {
        match self.kind {
            Kind::Mean => t.mean_dim(dim),
            Kind::Sum => t.sum_dim(dim),
            Kind::Max => t.max_dim(dim),
            Kind::Min => t.min_dim(dim),
            Kind::Prod => t.prod_dim(dim),
            Kind::L1 => t.abs().sum_dim(dim),
            Kind::SumSquare | Kind::L2 => t.powi_scalar(2).sum_dim(dim),
            Kind::LogSumExp => {
                let max = t.clone().max_dim(dim).detach();
                (t - max.clone()).exp().sum_dim(dim).log() + max
            }
        }
    }
}

impl Op for Reduce {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = float_input(inputs, 0)?;
        let dims = x.dims();
        let axes = match &self.axes {
            IntsArg::Input(i) if inputs.get(*i).is_none_or(Option::is_none) => Vec::new(),
            a => a.resolve(inputs)?,
        };
        if axes.is_empty() && self.noop_with_empty_axes {
            return Ok(vec![Value::Float(x)]);
        }
        let mut axes: Vec<usize> = if axes.is_empty() {
            (0..dims.len()).collect()
        } else {
            axes.iter()
                .map(|&a| axis(a, dims.len()))
                .collect::<Result<_, _>>()?
        };
        axes.sort_unstable();
        axes.dedup();
        let mut t = x.clone().into_padded();
        for &a in &axes {
            t = self.along(t, x.physical_axis(a));
        }
        if matches!(self.kind, Kind::L2) {
            t = t.sqrt();
        }
        let kept: Vec<usize> = dims
            .iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
            .collect();
        let out = FloatValue::from_padded(t, dims.len());
        Ok(vec![Value::Float(if self.keepdims {
            out.reshape(&kept)
        } else {
            let squeezed: Vec<usize> = (0..dims.len())
                .filter(|i| !axes.contains(i))
                .map(|i| dims[i])
                .collect();
            out.reshape(&squeezed)
        })])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{fv, read};
    use super::*;

    fn reduce(kind: Kind, axes: &[i64], keepdims: bool) -> Reduce {
        Reduce {
            kind,
            axes: IntsArg::Static(axes.to_vec()),
            keepdims,
            noop_with_empty_axes: false,
        }
    }

    #[test]
    fn mean_over_the_spatial_axes_is_global_average_pooling() {
        let x = fv(&[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0], &[1, 2, 2, 2]);
        let out = reduce(Kind::Mean, &[2, 3], false)
            .run(std::slice::from_ref(&x))
            .expect("run");
        assert_eq!(read(&out), (vec![2.5, 25.0], vec![1, 2]));
        let kept = reduce(Kind::Mean, &[-1, -2], true).run(&[x]).expect("run");
        assert_eq!(read(&kept).1, vec![1, 2, 1, 1]);
    }

    #[test]
    fn l2_and_log_sum_exp_match_their_definitions() {
        let x = fv(&[3.0, 4.0], &[2]);
        let l2 = reduce(Kind::L2, &[0], false)
            .run(std::slice::from_ref(&x))
            .expect("run");
        assert_eq!(read(&l2).0, vec![5.0]);
        let lse = reduce(Kind::LogSumExp, &[], false).run(&[x]).expect("run");
        let expected = (3f32.exp() + 4f32.exp()).ln();
        assert!((read(&lse).0[0] - expected).abs() < 1e-5);
    }
}
