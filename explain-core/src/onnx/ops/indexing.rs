//! Cutting, splitting, broadcasting and padding: `Slice`, `Split`, `Expand`, `Pad`.
//!
//! Spec: <https://onnx.ai/onnx/operators/> (Slice opset 10+ with inputs and opset 1-9 with
//! attributes, both resolved by onnx-ir; negative starts/ends/steps; ends clamped). Host integer
//! tensors (shape vectors) are sliced on the host. Everything on the device is expressed as
//! `narrow`, `select`, `expand` and `cat`, so autodiff and every backend follow without custom
//! kernels. ShuffleNet's channel split, ViT's class token and Keras' explicit padding use these.

use burn::tensor::{Device, Int, Tensor, TensorData};
use onnx_ir::node::expand::ExpandConfig;
use onnx_ir::node::pad::{ConstantValueInput, PadInput, PadMode};
use onnx_ir::node::slice::SliceInput;
use onnx_ir::node::split::SplitSizesInput;
use onnx_ir::{Node, NodeType};

use super::{IntsArg, Op, OpResult, Registry, axis, float_input, input, typed_node};
use crate::onnx::value::{FloatValue, MAX_RANK, Value, element_count, padded_shape};

pub(super) fn register(registry: &mut Registry) {
    registry.add(NodeType::Slice, build_slice);
    registry.add(NodeType::Split, build_split);
    registry.add(NodeType::Expand, build_expand);
    registry.add(NodeType::Pad, build_pad);
}

fn ints_arg(input: &SliceInput) -> IntsArg {
    match input {
        SliceInput::Static(v) => IntsArg::Static(v.clone()),
        SliceInput::Runtime(r) => IntsArg::Input(r.input_index),
    }
}

/// Picks indices `index` along logical `axis` of any value.
fn take(value: Value, axis: usize, index: &[usize]) -> Result<Value, String> {
    let mut dims = value.dims();
    let len = dims[axis];
    dims[axis] = index.len();
    match value {
        Value::Int { data, .. } => {
            let inner: usize = dims[axis + 1..].iter().product();
            let outer: usize = dims[..axis].iter().product();
            let mut out = Vec::with_capacity(outer * index.len() * inner);
            for o in 0..outer {
                for &i in index {
                    let start = (o * len + i) * inner;
                    out.extend_from_slice(&data[start..start + inner]);
                }
            }
            Ok(Value::Int {
                data: out,
                shape: dims,
            })
        }
        Value::Float(f) => {
            let phys = f.physical_axis(axis);
            let rank = f.rank();
            let contiguous = index.windows(2).all(|w| w[1] == w[0] + 1);
            let t = f.into_padded();
            let out = match index.first() {
                Some(&start) if contiguous => t.narrow(phys, start, index.len()),
                _ => {
                    let device = t.device();
                    let idx: Vec<i64> = index.iter().map(|&i| i as i64).collect();
                    let idx =
                        Tensor::<1, Int>::from_data(TensorData::new(idx, [index.len()]), &device);
                    t.select(phys, idx)
                }
            };
            Ok(Value::Float(FloatValue::from_padded(out, rank)))
        }
    }
}

struct Slice {
    starts: IntsArg,
    ends: IntsArg,
    axes: Option<IntsArg>,
    steps: Option<IntsArg>,
}

fn build_slice(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let c = &typed_node!(node, Slice).config;
    Ok(Box::new(Slice {
        starts: ints_arg(&c.starts),
        ends: ints_arg(&c.ends),
        axes: c.axes.as_ref().map(ints_arg),
        steps: c.steps.as_ref().map(ints_arg),
    }))
}

/// The indices `start..end` by `step` on an axis of length `len`, ONNX clamping rules.
pub fn slice_indices(len: usize, start: i64, end: i64, step: i64) -> Result<Vec<usize>, String> {
    if step == 0 {
        return Err("Slice step must not be zero".into());
    }
    let n = len as i64;
    let resolve = |v: i64| if v < 0 { v + n } else { v };
    let (start, end) = (resolve(start), resolve(end));
    let mut out = Vec::new();
    if step > 0 {
        let (mut i, end) = (start.clamp(0, n), end.clamp(0, n));
        while i < end {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (mut i, end) = (start.clamp(-1, n - 1), end.clamp(-1, n - 1));
        while i > end {
            out.push(i as usize);
            i += step;
        }
    }
    Ok(out)
}

impl Op for Slice {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let mut x = input(inputs, 0)?;
        let rank = x.dims().len();
        let starts = self.starts.resolve(inputs)?;
        let ends = self.ends.resolve(inputs)?;
        let axes = match &self.axes {
            Some(a) => a.resolve(inputs)?,
            None => (0..starts.len() as i64).collect(),
        };
        let steps = match &self.steps {
            Some(s) => s.resolve(inputs)?,
            None => vec![1; starts.len()],
        };
        if [ends.len(), axes.len(), steps.len()]
            .iter()
            .any(|&l| l != starts.len())
        {
            return Err("starts, ends, axes and steps must have the same length".into());
        }
        for i in 0..starts.len() {
            let a = axis(axes[i], rank)?;
            let len = x.dims()[a];
            let index = slice_indices(len, starts[i], ends[i], steps[i])?;
            if index.len() == len && steps[i] == 1 {
                continue;
            }
            if index.is_empty() {
                return Err(format!("the slice of axis {a} is empty"));
            }
            x = take(x, a, &index)?;
        }
        Ok(vec![x])
    }
}

struct Split {
    axis: usize,
    sizes: Option<IntsArg>,
    split_size: Option<usize>,
    outputs: usize,
}

fn build_split(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let n = typed_node!(node, Split);
    let c = &n.config;
    let sizes = c.split_sizes.as_ref().map(|s| match s {
        SplitSizesInput::Static(v) => IntsArg::Static(v.iter().map(|&s| s as i64).collect()),
        SplitSizesInput::Runtime(r) => IntsArg::Input(r.input_index),
    });
    Ok(Box::new(Split {
        axis: c.axis,
        sizes,
        split_size: c.split_size,
        outputs: c.num_outputs.unwrap_or(n.outputs.len()),
    }))
}

impl Op for Split {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = input(inputs, 0)?;
        let len = *x
            .dims()
            .get(self.axis)
            .ok_or("Split axis is out of range")?;
        let sizes: Vec<usize> = match (&self.sizes, self.split_size) {
            (Some(s), _) if !s.resolve(inputs)?.is_empty() => s
                .resolve(inputs)?
                .iter()
                .map(|&v| v.max(0) as usize)
                .collect(),
            (_, Some(size)) if size > 0 => {
                let mut v = vec![size; len / size];
                if len % size != 0 {
                    v.push(len % size);
                }
                v
            }
            _ => {
                // Equal parts, the last one smaller (opset 18 rule).
                let size = len.div_ceil(self.outputs.max(1));
                (0..self.outputs)
                    .map(|i| size.min(len.saturating_sub(i * size)))
                    .collect()
            }
        };
        if sizes.iter().sum::<usize>() != len {
            return Err(format!("split sizes {sizes:?} do not add up to {len}"));
        }
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for s in sizes {
            out.push(take(
                x.clone(),
                self.axis,
                &(start..start + s).collect::<Vec<_>>(),
            )?);
            start += s;
        }
        Ok(out)
    }
}

struct Expand {
    shape: IntsArg,
}

fn build_expand(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let shape = match &typed_node!(node, Expand).config {
        ExpandConfig::Static(s) => IntsArg::Static(s.clone()),
        ExpandConfig::Runtime(r) => IntsArg::Input(r.input_index),
    };
    Ok(Box::new(Expand { shape }))
}

impl Op for Expand {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = float_input(inputs, 0)?;
        let spec = self.shape.resolve(inputs)?;
        let dims = x.dims();
        let rank = dims.len().max(spec.len());
        if rank > MAX_RANK {
            return Err(format!("rank {rank} exceeds the supported {MAX_RANK}"));
        }
        // Bidirectional broadcast of the input shape and the requested shape.
        let pad = |s: Vec<usize>| [vec![1; rank - s.len()], s].concat();
        let a = pad(dims.clone());
        let b = pad(spec.iter().map(|&d| d.max(1) as usize).collect());
        let mut target = Vec::with_capacity(rank);
        for (&x, &y) in a.iter().zip(&b) {
            target.push(match (x, y) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return Err(format!("cannot expand {dims:?} to {spec:?}")),
            });
        }
        element_count(&target).map_err(|e| format!("Expand: {e}"))?;
        let out = x.into_padded().expand(padded_shape(&target));
        Ok(vec![Value::Float(FloatValue::from_padded(out, rank))])
    }
}

struct Pad {
    pads: PadArg,
    value: ConstantValueInput,
    mode: PadMode,
}

enum PadArg {
    Static(Vec<(usize, usize)>),
    Input { pads: usize, axes: Option<IntsArg> },
}

fn build_pad(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let c = &typed_node!(node, Pad).config;
    let pads = match &c.pads {
        PadInput::Static(p) => PadArg::Static(p.clone()),
        PadInput::Runtime { input, axes } => PadArg::Input {
            pads: input.input_index,
            axes: axes.as_ref().map(|a| match a {
                onnx_ir::node::pad::AxesInput::Static(v) => {
                    IntsArg::Static(v.iter().map(|&a| a as i64).collect())
                }
                onnx_ir::node::pad::AxesInput::Runtime(r) => IntsArg::Input(r.input_index),
            }),
        },
    };
    Ok(Box::new(Pad {
        pads,
        value: c.constant_value.clone(),
        mode: c.mode.clone(),
    }))
}

impl Pad {
    /// `(before, after)` per logical axis.
    fn pairs(&self, inputs: &[Option<Value>], rank: usize) -> Result<Vec<(usize, usize)>, String> {
        let pairs = match &self.pads {
            PadArg::Static(p) => p.clone(),
            PadArg::Input { pads, axes } => {
                let flat = IntsArg::Input(*pads).resolve(inputs)?;
                if flat.iter().any(|&p| p < 0) {
                    return Err("negative pads (cropping) are not supported".into());
                }
                let axes: Vec<usize> = match axes {
                    Some(a) => a
                        .resolve(inputs)?
                        .iter()
                        .map(|&a| axis(a, rank))
                        .collect::<Result<_, _>>()?,
                    None => (0..rank).collect(),
                };
                if flat.len() != 2 * axes.len() {
                    return Err(format!("{} pads for {} axes", flat.len(), axes.len()));
                }
                let mut full = vec![(0, 0); rank];
                for (i, &a) in axes.iter().enumerate() {
                    full[a] = (flat[i] as usize, flat[i + axes.len()] as usize);
                }
                full
            }
        };
        if pairs.len() != rank {
            return Err(format!("{} pad pairs for a rank-{rank} input", pairs.len()));
        }
        Ok(pairs)
    }
}

impl Op for Pad {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = float_input(inputs, 0)?;
        let rank = x.rank();
        let pairs = self.pairs(inputs, rank)?;
        // The pads come from the file: the padded size is checked before anything is filled.
        let padded: Vec<usize> = x
            .dims()
            .iter()
            .zip(&pairs)
            .map(|(&d, &(before, after))| d.checked_add(before)?.checked_add(after))
            .collect::<Option<_>>()
            .ok_or("Pad: the pads overflow")?;
        element_count(&padded).map_err(|e| format!("Pad: {e}"))?;
        let value = match &self.value {
            ConstantValueInput::Static(v) => *v,
            ConstantValueInput::Runtime(r) => match input(inputs, r.input_index)? {
                Value::Int { data, .. } => data.first().copied().unwrap_or(0) as f32,
                Value::Float(_) => {
                    return Err("a pad value computed on the device is not supported".into());
                }
            },
        };
        let mut t = x.clone().into_padded();
        for (a, &(before, after)) in pairs.iter().enumerate() {
            if before == 0 && after == 0 {
                continue;
            }
            let phys = x.physical_axis(a);
            let len = t.dims()[phys];
            t = match self.mode {
                PadMode::Constant => {
                    let block = |n: usize| {
                        let mut shape = t.dims();
                        shape[phys] = n;
                        Tensor::<MAX_RANK>::full(shape, value, &t.device())
                    };
                    let mut parts = Vec::new();
                    if before > 0 {
                        parts.push(block(before));
                    }
                    parts.push(t.clone());
                    if after > 0 {
                        parts.push(block(after));
                    }
                    Tensor::cat(parts, phys)
                }
                PadMode::Edge | PadMode::Reflect => {
                    let reflect = self.mode == PadMode::Reflect;
                    let source = |i: i64| -> usize {
                        let n = len as i64;
                        if reflect && n > 1 {
                            let period = 2 * (n - 1);
                            let m = i.rem_euclid(period);
                            (if m < n { m } else { period - m }) as usize
                        } else {
                            i.clamp(0, n - 1) as usize
                        }
                    };
                    let index: Vec<usize> = (-(before as i64)..(len + after) as i64)
                        .map(source)
                        .collect();
                    match take(
                        Value::Float(FloatValue::from_padded(t, MAX_RANK)),
                        phys,
                        &index,
                    )? {
                        Value::Float(f) => f.into_padded(),
                        Value::Int { .. } => return Err("internal: pad".into()),
                    }
                }
            };
        }
        Ok(vec![Value::Float(FloatValue::from_padded(t, rank))])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{fv, read};
    use super::*;

    #[test]
    fn slice_indices_follow_onnx_clamping() {
        assert_eq!(
            slice_indices(5, 1, i64::MAX, 1).expect("ok"),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            slice_indices(5, -1, i64::MIN, -1).expect("ok"),
            vec![4, 3, 2, 1, 0]
        );
        assert_eq!(slice_indices(5, 0, 5, 2).expect("ok"), vec![0, 2, 4]);
        assert!(slice_indices(5, 0, 5, 0).is_err());
    }

    #[test]
    fn split_halves_the_channels() {
        let out = Split {
            axis: 1,
            sizes: None,
            split_size: None,
            outputs: 2,
        }
        .run(&[fv(&[1.0, 2.0, 3.0, 4.0], &[1, 4])])
        .expect("run");
        assert_eq!(read(&out[1..]), (vec![3.0, 4.0], vec![1, 2]));
    }

    #[test]
    fn pad_modes_match_numpy() {
        let x = || fv(&[1.0, 2.0, 3.0], &[1, 3]);
        let pad = |mode| Pad {
            pads: PadArg::Static(vec![(0, 0), (2, 1)]),
            value: ConstantValueInput::Static(9.0),
            mode,
        };
        let run = |mode| read(&pad(mode).run(&[x()]).expect("run")).0;
        assert_eq!(run(PadMode::Constant), vec![9.0, 9.0, 1.0, 2.0, 3.0, 9.0]);
        assert_eq!(run(PadMode::Edge), vec![1.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
        assert_eq!(run(PadMode::Reflect), vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0]);
    }

    #[test]
    fn expand_broadcasts_both_ways() {
        let out = Expand {
            shape: IntsArg::Static(vec![2, 1]),
        }
        .run(&[fv(&[1.0, 2.0, 3.0], &[3])])
        .expect("run");
        assert_eq!(read(&out).1, vec![2, 3]);
    }
}
