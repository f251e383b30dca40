//! Shape and data-movement ops: `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Transpose`,
//! `Concat`, `Shape`, `Gather`, `Identity`, `Dropout` (inference: identity), `Constant`.
//!
//! Spec: <https://onnx.ai/onnx/operators/>. Reshape follows opset 5+ (`0` copies the input
//! dimension, `-1` is inferred). Integer values (shapes, indices) are computed on the host, so
//! shape subgraphs (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) cost nothing on the device.

use burn::tensor::Device;
use burn::tensor::{Int, Tensor, TensorData};
use onnx_ir::node::reshape::ReshapeInput;
use onnx_ir::node::squeeze::SqueezeInput;
use onnx_ir::node::unsqueeze::UnsqueezeConfig;
use onnx_ir::{Node, NodeType};

use super::{IntsArg, Locality, Op, OpResult, Registry, axis, float_input, input, typed_node};
use crate::onnx::value::{FloatValue, MAX_RANK, Value, element_count};

pub(super) fn register(registry: &mut Registry) {
    registry.add(NodeType::Identity, |_, _| Ok(Box::new(PassThrough)));
    registry.add(NodeType::Dropout, |_, _| Ok(Box::new(PassThrough)));
    registry.add(NodeType::Reshape, build_reshape);
    registry.add(NodeType::Flatten, build_flatten);
    registry.add(NodeType::Squeeze, build_squeeze);
    registry.add(NodeType::Unsqueeze, build_unsqueeze);
    registry.add(NodeType::Transpose, build_transpose);
    registry.add(NodeType::Concat, build_concat);
    registry.add(NodeType::Shape, build_shape);
    registry.add(NodeType::Gather, build_gather);
}

/// Identity / Dropout at inference: the first input, unchanged, whatever its kind.
struct PassThrough;

impl Op for PassThrough {
    fn locality(&self, _: [usize; 2]) -> Option<Locality> {
        Some(Locality::Pointwise)
    }

    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        match inputs.first() {
            Some(Some(v)) => Ok(vec![v.clone()]),
            _ => Err("input 0 is missing".into()),
        }
    }
}

pub(super) fn reshape_value(v: Value, dims: &[usize]) -> Result<Value, String> {
    if dims.len() > MAX_RANK {
        return Err(format!(
            "rank {} exceeds the supported {MAX_RANK}",
            dims.len()
        ));
    }
    Ok(match v {
        Value::Float(f) => Value::Float(f.reshape(dims)),
        Value::Int { data, .. } => Value::Int {
            data,
            shape: dims.to_vec(),
        },
    })
}

struct Reshape {
    shape: IntsArg,
}

fn build_reshape(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let shape = match &typed_node!(node, Reshape).config.shape {
        ReshapeInput::Static(s) => IntsArg::Static(s.clone()),
        ReshapeInput::Runtime(r) => IntsArg::Input(r.input_index),
    };
    Ok(Box::new(Reshape { shape }))
}

/// ONNX Reshape semantics: `0` copies the input dim, one `-1` is inferred.
pub fn reshape_target(input: &[usize], spec: &[i64]) -> Result<Vec<usize>, String> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            0 => out.push(
                *input
                    .get(i)
                    .ok_or("a 0 in the shape has no input dim to copy")?,
            ),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            s if s > 0 => out.push(s as usize),
            _ => return Err(format!("invalid target shape {spec:?}")),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {input:?} to {spec:?}"));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(format!(
            "cannot reshape {input:?} ({total} values) to {spec:?}"
        ));
    }
    Ok(out)
}

impl Op for Reshape {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = input(inputs, 0)?;
        let spec = self.shape.resolve(inputs)?;
        let dims = reshape_target(&x.dims(), &spec)?;
        Ok(vec![reshape_value(x, &dims)?])
    }
}

struct Flatten {
    axis: usize,
}

fn build_flatten(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    Ok(Box::new(Flatten {
        axis: typed_node!(node, Flatten).config.axis,
    }))
}

impl Op for Flatten {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = input(inputs, 0)?;
        let dims = x.dims();
        let split = self.axis.min(dims.len());
        let outer: usize = dims[..split].iter().product();
        let inner: usize = dims[split..].iter().product();
        Ok(vec![reshape_value(x, &[outer, inner])?])
    }
}

struct Squeeze {
    axes: Option<IntsArg>,
}

fn build_squeeze(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let axes = match &typed_node!(node, Squeeze).config.axes {
        None => None,
        Some(SqueezeInput::Static(a)) => Some(IntsArg::Static(a.clone())),
        Some(SqueezeInput::Runtime(r)) => Some(IntsArg::Input(r.input_index)),
    };
    Ok(Box::new(Squeeze { axes }))
}

impl Op for Squeeze {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = input(inputs, 0)?;
        let dims = x.dims();
        let drop: Vec<usize> = match &self.axes {
            None => (0..dims.len()).filter(|&i| dims[i] == 1).collect(),
            Some(a) => a
                .resolve(inputs)?
                .into_iter()
                .map(|a| axis(a, dims.len()))
                .collect::<Result<_, _>>()?,
        };
        if let Some(&bad) = drop.iter().find(|&&i| dims[i] != 1) {
            return Err(format!("cannot squeeze axis {bad} of size {}", dims[bad]));
        }
        let kept: Vec<usize> = (0..dims.len())
            .filter(|i| !drop.contains(i))
            .map(|i| dims[i])
            .collect();
        Ok(vec![reshape_value(x, &kept)?])
    }
}

struct Unsqueeze {
    axes: IntsArg,
}

fn build_unsqueeze(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let axes = match &typed_node!(node, Unsqueeze).config {
        UnsqueezeConfig::Static(a) => IntsArg::Static(a.clone()),
        UnsqueezeConfig::Runtime(r) => IntsArg::Input(r.input_index),
    };
    Ok(Box::new(Unsqueeze { axes }))
}

impl Op for Unsqueeze {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = input(inputs, 0)?;
        let dims = x.dims();
        let out_rank = dims.len() + self.axes.resolve(inputs)?.len();
        let mut axes: Vec<usize> = self
            .axes
            .resolve(inputs)?
            .into_iter()
            .map(|a| axis(a, out_rank))
            .collect::<Result<_, _>>()?;
        axes.sort_unstable();
        let mut out = dims.clone();
        for a in axes {
            out.insert(a, 1);
        }
        Ok(vec![reshape_value(x, &out)?])
    }
}

struct Transpose {
    perm: Vec<i64>,
}

fn build_transpose(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    Ok(Box::new(Transpose {
        perm: typed_node!(node, Transpose).config.perm.clone(),
    }))
}

impl Op for Transpose {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = float_input(inputs, 0)?;
        let rank = x.rank();
        let perm: Vec<usize> = if self.perm.is_empty() {
            (0..rank).rev().collect()
        } else {
            self.perm
                .iter()
                .map(|&a| axis(a, rank))
                .collect::<Result<_, _>>()?
        };
        if perm.len() != rank {
            return Err(format!("perm {:?} does not fit rank {rank}", self.perm));
        }
        let pad = MAX_RANK - rank;
        let mut full: [usize; MAX_RANK] = std::array::from_fn(|i| i);
        for (i, &p) in perm.iter().enumerate() {
            full[pad + i] = pad + p;
        }
        Ok(vec![Value::Float(x.map(|t| t.permute(full)))])
    }
}

struct Concat {
    axis: usize,
}

fn build_concat(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    Ok(Box::new(Concat {
        axis: typed_node!(node, Concat).config.axis,
    }))
}

impl Op for Concat {
    /// Along channels, each output pixel is its inputs' pixels (the incremental executor
    /// only asks for 4-D outputs).
    fn locality(&self, _: [usize; 2]) -> Option<Locality> {
        (self.axis == 1).then_some(Locality::Pointwise)
    }

    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let values: Vec<Value> = inputs.iter().flatten().cloned().collect();
        if values.iter().all(|v| matches!(v, Value::Int { .. })) {
            // Host integers: only 1-D concatenation occurs in shape subgraphs.
            let data: Vec<i64> = values
                .iter()
                .flat_map(|v| v.as_ints().unwrap_or(&[]).to_vec())
                .collect();
            let len = data.len();
            return Ok(vec![Value::Int {
                data,
                shape: vec![len],
            }]);
        }
        let floats: Vec<FloatValue> = (0..inputs.len())
            .filter(|&i| inputs[i].is_some())
            .map(|i| float_input(inputs, i))
            .collect::<Result<_, _>>()?;
        let first = floats.first().ok_or("Concat needs at least one input")?;
        let rank = first.rank();
        if self.axis >= rank || floats.iter().any(|f| f.rank() != rank) {
            return Err("Concat inputs must share a rank that contains the axis".into());
        }
        // Burn panics on a mismatch; a file can ask for one.
        let shape = first.dims();
        let same_but_axis =
            |dims: &[usize]| (0..rank).all(|a| a == self.axis || dims[a] == shape[a]);
        if let Some(other) = floats.iter().map(|f| f.dims()).find(|d| !same_but_axis(d)) {
            return Err(format!(
                "Concat along axis {} needs the same shape elsewhere; got {shape:?} and {other:?}",
                self.axis
            ));
        }
        let mut joined = shape.clone();
        joined[self.axis] = floats
            .iter()
            .try_fold(0usize, |n, f| n.checked_add(f.dims()[self.axis]))
            .ok_or("Concat: the joined size overflows")?;
        element_count(&joined).map_err(|e| format!("Concat: {e}"))?;
        let dim = first.physical_axis(self.axis);
        let tensors = floats.into_iter().map(FloatValue::into_padded).collect();
        Ok(vec![Value::Float(FloatValue::from_padded(
            Tensor::cat(tensors, dim),
            rank,
        ))])
    }
}

struct ShapeOp {
    start: usize,
    end: usize,
}

fn build_shape(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let c = &typed_node!(node, Shape).config;
    Ok(Box::new(ShapeOp {
        start: c.start,
        end: c.end,
    }))
}

impl Op for ShapeOp {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let dims = input(inputs, 0)?.dims();
        let end = self.end.min(dims.len());
        let data: Vec<i64> = dims[self.start.min(end)..end]
            .iter()
            .map(|&d| d as i64)
            .collect();
        let len = data.len();
        Ok(vec![Value::Int {
            data,
            shape: vec![len],
        }])
    }
}

struct Gather {
    axis: usize,
}

fn build_gather(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    Ok(Box::new(Gather {
        axis: typed_node!(node, Gather).config.axis,
    }))
}

impl Op for Gather {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = input(inputs, 0)?;
        let (indices, index_shape) = match input(inputs, 1)? {
            Value::Int { data, shape } => (data, shape),
            Value::Float(_) => return Err("Gather indices must be integers".into()),
        };
        let dims = x.dims();
        let size = *dims.get(self.axis).ok_or("Gather axis is out of range")? as i64;
        let idx: Vec<i64> = indices
            .iter()
            .map(|&i| if i < 0 { i + size } else { i })
            .collect();
        if let Some(bad) = idx.iter().find(|&&i| !(0..size).contains(&i)) {
            return Err(format!("index {bad} is out of range for size {size}"));
        }
        let mut out_dims = dims[..self.axis].to_vec();
        out_dims.extend(&index_shape);
        out_dims.extend(&dims[self.axis + 1..]);
        match x {
            Value::Int { data, .. } => {
                let inner: usize = dims[self.axis + 1..].iter().product();
                let outer: usize = dims[..self.axis].iter().product();
                let axis_len = dims[self.axis];
                let mut out = Vec::with_capacity(outer * idx.len() * inner);
                for o in 0..outer {
                    for &i in &idx {
                        let start = (o * axis_len + i as usize) * inner;
                        out.extend_from_slice(&data[start..start + inner]);
                    }
                }
                Ok(vec![Value::Int {
                    data: out,
                    shape: out_dims,
                }])
            }
            Value::Float(f) => {
                let device = f.device();
                let index =
                    Tensor::<1, Int>::from_data(TensorData::new(idx, [indices.len()]), &device);
                let dim = f.physical_axis(self.axis);
                let picked = f.into_padded().select(dim, index);
                let picked = FloatValue::from_padded(picked, dims.len());
                Ok(vec![Value::Float(picked.reshape(&out_dims))])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{fv, read};
    use super::*;

    #[test]
    fn reshape_copies_zeros_and_infers_minus_one() {
        assert_eq!(
            reshape_target(&[2, 3, 4], &[0, -1]).expect("ok"),
            vec![2, 12]
        );
        assert!(reshape_target(&[2, 3, 4], &[5, -1]).is_err());
        assert!(reshape_target(&[2, 3], &[4, 2]).is_err());
    }

    #[test]
    fn transpose_reverses_by_default() {
        let out = Transpose { perm: vec![] }
            .run(&[fv(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])])
            .expect("run");
        assert_eq!(read(&out), (vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0], vec![3, 2]));
    }

    #[test]
    fn concat_joins_channels() {
        let out = Concat { axis: 1 }
            .run(&[fv(&[1.0, 2.0], &[1, 1, 2]), fv(&[3.0, 4.0], &[1, 1, 2])])
            .expect("run");
        assert_eq!(read(&out), (vec![1.0, 2.0, 3.0, 4.0], vec![1, 2, 2]));
    }

    #[test]
    fn gather_on_a_shape_picks_the_batch_size() {
        let shape = ShapeOp {
            start: 0,
            end: usize::MAX,
        }
        .run(&[fv(&[0.0; 6], &[2, 3])])
        .expect("shape");
        let out = Gather { axis: 0 }
            .run(&[
                Some(shape[0].clone()),
                Some(Value::Int {
                    data: vec![0],
                    shape: vec![],
                }),
            ])
            .expect("gather");
        assert_eq!(out[0].as_ints(), Some(&[2][..]));
        assert_eq!(out[0].dims(), Vec::<usize>::new());
    }

    #[test]
    fn flatten_keeps_the_batch_axis() {
        let out = Flatten { axis: 1 }
            .run(&[fv(&[0.0; 24], &[2, 3, 4])])
            .expect("run");
        assert_eq!(out[0].dims(), vec![2, 12]);
    }
}
