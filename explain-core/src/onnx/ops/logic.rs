//! Type conversion, comparison and selection, mostly met in shape-computing subgraphs:
//! `Cast`, `Equal`, `Less`, `LessOrEqual`, `Greater`, `GreaterOrEqual`, `Not`, `Where`,
//! `ConstantOfShape`, `Range`, `Floor`, `Ceil`.
//!
//! Spec: <https://onnx.ai/onnx/operators/>. Integer and boolean values live on the host as
//! `Value::Int` (booleans as 0/1), so a PyTorch export's `Shape -> Equal -> Where -> Expand`
//! chain runs without touching the device. Comparisons of float tensors give a float 0/1 tensor
//! on the device; a float tensor is never read back to make a host integer (that would stall a
//! GPU), so a Cast from float to an integer type keeps the values as floats, truncated.

use burn::tensor::{Device, Tensor, TensorData};
use onnx_ir::node::constant_of_shape::ConstantOfShapeShape;
use onnx_ir::node::range::RangeInput;
use onnx_ir::{DType, Node, NodeType};

use super::{IntsArg, Op, OpResult, Registry, broadcast_host, float_on, input, typed_node};
use crate::onnx::value::{FloatValue, MAX_RANK, Value, element_count, padded_shape};

pub(super) fn register(registry: &mut Registry) {
    registry.add(NodeType::Cast, build_cast);
    registry.add(NodeType::Equal, |_, d| compare(Comparison::Equal, d));
    registry.add(NodeType::Less, |_, d| compare(Comparison::Less, d));
    registry.add(NodeType::LessOrEqual, |_, d| {
        compare(Comparison::LessOrEqual, d)
    });
    registry.add(NodeType::Greater, |_, d| compare(Comparison::Greater, d));
    registry.add(NodeType::GreaterOrEqual, |_, d| {
        compare(Comparison::GreaterOrEqual, d)
    });
    registry.add(NodeType::Not, |_, _| Ok(Box::new(Not)));
    registry.add(NodeType::Where, |_, d| Ok(Box::new(Where(d.clone()))));
    registry.add(NodeType::ConstantOfShape, build_constant_of_shape);
    registry.add(NodeType::Range, build_range);
    registry.add(NodeType::Floor, |_, _| Ok(Box::new(Rounding { up: false })));
    registry.add(NodeType::Ceil, |_, _| Ok(Box::new(Rounding { up: true })));
}

struct Cast {
    to: DType,
    device: Device,
}

fn build_cast(node: &Node, device: &Device) -> Result<Box<dyn Op>, String> {
    Ok(Box::new(Cast {
        to: typed_node!(node, Cast).config.to,
        device: device.clone(),
    }))
}

impl Op for Cast {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = input(inputs, 0)?;
        let to_float = self.to.is_float();
        let to_bool = matches!(self.to, DType::Bool(_));
        Ok(vec![match x {
            v @ Value::Int { .. } if to_float => {
                // From here on it is float arithmetic (a Div must not round), so upload it.
                Value::Float(float_on(&[Some(v)], 0, &self.device)?)
            }
            Value::Int { data, shape } if to_bool => Value::Int {
                data: data.into_iter().map(|v| i64::from(v != 0)).collect(),
                shape,
            },
            v @ Value::Int { .. } => v,
            Value::Float(f) if to_float => Value::Float(f),
            Value::Float(f) if to_bool => Value::Float(f.map(|t| t.not_equal_elem(0.0).float())),
            Value::Float(f) => Value::Float(f.map(|t| t.int().float())),
        }])
    }
}

#[derive(Debug, Clone, Copy)]
enum Comparison {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    fn host(self, a: i64, b: i64) -> bool {
        match self {
            Comparison::Equal => a == b,
            Comparison::Less => a < b,
            Comparison::LessOrEqual => a <= b,
            Comparison::Greater => a > b,
            Comparison::GreaterOrEqual => a >= b,
        }
    }
}

struct Compare {
    kind: Comparison,
    device: Device,
}

fn compare(kind: Comparison, device: &Device) -> Result<Box<dyn Op>, String> {
    Ok(Box::new(Compare {
        kind,
        device: device.clone(),
    }))
}

impl Op for Compare {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        if let (Value::Int { data: a, shape: sa }, Value::Int { data: b, shape: sb }) =
            (input(inputs, 0)?, input(inputs, 1)?)
        {
            let (shape, pairs) = broadcast_host(&sa, &sb)?;
            let data = pairs
                .iter()
                .map(|&(i, j)| i64::from(self.kind.host(a[i], b[j])))
                .collect();
            return Ok(vec![Value::Int { data, shape }]);
        }
        let a = float_on(inputs, 0, &self.device)?;
        let b = float_on(inputs, 1, &self.device)?;
        broadcast_host(&a.dims(), &b.dims())?;
        let rank = a.rank().max(b.rank());
        let (ta, tb) = (a.into_padded(), b.into_padded());
        let target = broadcast_dims(&ta.dims(), &tb.dims());
        let (ta, tb) = (ta.expand(target), tb.expand(target));
        let mask = match self.kind {
            Comparison::Equal => ta.equal(tb),
            Comparison::Less => ta.lower(tb),
            Comparison::LessOrEqual => ta.lower_equal(tb),
            Comparison::Greater => ta.greater(tb),
            Comparison::GreaterOrEqual => ta.greater_equal(tb),
        };
        Ok(vec![Value::Float(FloatValue::from_padded(
            mask.float(),
            rank,
        ))])
    }
}

/// The broadcast of two padded shapes (already checked to be compatible).
fn broadcast_dims(a: &[usize], b: &[usize]) -> [usize; MAX_RANK] {
    std::array::from_fn(|i| a[i].max(b[i]))
}

struct Not;

impl Op for Not {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        Ok(vec![match input(inputs, 0)? {
            Value::Int { data, shape } => Value::Int {
                data: data.into_iter().map(|v| i64::from(v == 0)).collect(),
                shape,
            },
            Value::Float(f) => Value::Float(f.map(|t| t.equal_elem(0.0).float())),
        }])
    }
}

/// `Where(condition, x, y)`.
struct Where(Device);

impl Op for Where {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        if let (
            Value::Int { data: c, shape: sc },
            Value::Int { data: x, shape: sx },
            Value::Int { data: y, shape: sy },
        ) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?)
        {
            let (sxy, xy) = broadcast_host(&sx, &sy)?;
            let (shape, pairs) = broadcast_host(&sc, &sxy)?;
            let data = pairs
                .iter()
                .map(|&(ci, k)| if c[ci] != 0 { x[xy[k].0] } else { y[xy[k].1] })
                .collect();
            return Ok(vec![Value::Int { data, shape }]);
        }
        let c = float_on(inputs, 0, &self.0)?;
        let x = float_on(inputs, 1, &self.0)?;
        let y = float_on(inputs, 2, &self.0)?;
        let rank = c.rank().max(x.rank()).max(y.rank());
        let (c, x, y) = (c.into_padded(), x.into_padded(), y.into_padded());
        let target = broadcast_dims(&broadcast_dims(&c.dims(), &x.dims()), &y.dims());
        let mask = c.expand(target).not_equal_elem(0.0);
        let out = y.expand(target).mask_where(mask, x.expand(target));
        Ok(vec![Value::Float(FloatValue::from_padded(out, rank))])
    }
}

/// The fill value of `ConstantOfShape`, read from the file on the host.
#[derive(Debug, Clone, Copy)]
enum Fill {
    Int(i64),
    Float(f32),
}

struct ConstantOfShape {
    shape: IntsArg,
    fill: Fill,
    device: Device,
}

fn build_constant_of_shape(node: &Node, device: &Device) -> Result<Box<dyn Op>, String> {
    let c = &typed_node!(node, ConstantOfShape).config;
    let shape = match &c.shape {
        ConstantOfShapeShape::Static(s) => IntsArg::Static(s.clone()),
        ConstantOfShapeShape::Runtime(r) => IntsArg::Input(r.input_index),
    };
    let fill = match &c.value {
        None => Fill::Float(0.0),
        Some(data) if data.dtype().is_float() => Fill::Float(first(data.clone().convert::<f32>())?),
        Some(data) => Fill::Int(first(data.clone().convert::<i64>())?),
    };
    Ok(Box::new(ConstantOfShape {
        shape,
        fill,
        device: device.clone(),
    }))
}

fn first<E: burn::tensor::Element>(data: TensorData) -> Result<E, String> {
    data.try_to_vec::<E>()
        .map_err(|e| format!("{e:?}"))?
        .first()
        .copied()
        .ok_or_else(|| "the fill value is empty".to_string())
}

impl Op for ConstantOfShape {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let dims: Vec<usize> = self
            .shape
            .resolve(inputs)?
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
            .collect::<Result<_, _>>()?;
        if dims.len() > MAX_RANK {
            return Err(format!(
                "rank {} exceeds the supported {MAX_RANK}",
                dims.len()
            ));
        }
        let count = element_count(&dims).map_err(|e| format!("ConstantOfShape: {e}"))?;
        Ok(vec![match self.fill {
            Fill::Int(v) => Value::Int {
                data: vec![v; count],
                shape: dims,
            },
            Fill::Float(v) => Value::Float(FloatValue::from_padded(
                Tensor::full(padded_shape(&dims), v, &self.device),
                dims.len(),
            )),
        }])
    }
}

struct Range {
    args: [RangeArg; 3],
}

#[derive(Debug, Clone)]
enum RangeArg {
    Int(i64),
    Float,
    Input(usize),
}

fn build_range(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let c = &typed_node!(node, Range).config;
    let arg = |r: &RangeInput| match r {
        RangeInput::Static(v) => RangeArg::Int(*v),
        RangeInput::StaticFloat(_) => RangeArg::Float,
        RangeInput::Runtime(r) => RangeArg::Input(r.input_index),
    };
    Ok(Box::new(Range {
        args: [arg(&c.start), arg(&c.limit), arg(&c.delta)],
    }))
}

impl Op for Range {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let mut ints = Vec::new();
        for a in &self.args {
            match a {
                RangeArg::Int(v) => ints.push(*v),
                RangeArg::Input(i) => match input(inputs, *i)? {
                    Value::Int { data, .. } if data.len() == 1 => ints.push(data[0]),
                    _ => return Err("Range bounds computed on the device are not supported".into()),
                },
                RangeArg::Float => {
                    return Err("floating-point Range is not supported".into());
                }
            }
        }
        let (start, limit, delta) = (ints[0], ints[1], ints[2]);
        if delta == 0 {
            return Err("Range delta must not be zero".into());
        }
        // In i128 and f64: no bound or step a file holds can overflow the count.
        let count = ((limit as i128 - start as i128) as f64 / delta as f64)
            .ceil()
            .max(0.0);
        let most = crate::limits::current().tensor_elements;
        if count > most as f64 {
            return Err(format!(
                "Range({start}, {limit}, {delta}) would make {count:.0} values, more than the \
                 {most} one tensor may hold: the model asks for too much memory"
            ));
        }
        let count = count as usize;
        // Each value lies between start and limit; only the product needs the wider type.
        let data: Vec<i64> = (0..count as i128)
            .map(|i| (start as i128 + i * delta as i128) as i64)
            .collect();
        Ok(vec![Value::Int {
            data,
            shape: vec![count],
        }])
    }
}

struct Rounding {
    up: bool,
}

impl Op for Rounding {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        Ok(vec![match input(inputs, 0)? {
            v @ Value::Int { .. } => v,
            Value::Float(f) => Value::Float(f.map(|t| if self.up { t.ceil() } else { t.floor() })),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(data: &[i64], shape: &[usize]) -> Option<Value> {
        Some(Value::Int {
            data: data.to_vec(),
            shape: shape.to_vec(),
        })
    }

    #[test]
    fn host_comparisons_and_where_broadcast_like_numpy() {
        let eq = Compare {
            kind: Comparison::Equal,
            device: Device::flex(),
        }
        .run(&[ints(&[2, -1, 3], &[3]), ints(&[-1], &[])])
        .expect("run");
        assert_eq!(eq[0].as_ints(), Some(&[0, 1, 0][..]));
        let picked = Where(Device::flex())
            .run(&[
                Some(eq[0].clone()),
                ints(&[1], &[]),
                ints(&[2, -1, 3], &[3]),
            ])
            .expect("run");
        assert_eq!(picked[0].as_ints(), Some(&[2, 1, 3][..]));
    }

    #[test]
    fn tensors_of_terabytes_are_refused_before_allocating() {
        let fill = ConstantOfShape {
            shape: IntsArg::Static(vec![100_000, 100_000]),
            fill: Fill::Float(0.0),
            device: Device::flex(),
        };
        let e = fill.run(&[]).expect_err("1e10 elements");
        assert!(
            e.contains("ConstantOfShape") && e.contains("too much memory"),
            "{e}"
        );
        let ints = ConstantOfShape {
            shape: IntsArg::Static(vec![1 << 40]),
            fill: Fill::Int(1),
            device: Device::flex(),
        };
        assert!(ints.run(&[]).is_err());
        for (start, limit, delta) in [(0, 1_000_000_000_000, 1), (i64::MIN, i64::MAX, 1)] {
            let range = Range {
                args: [
                    RangeArg::Int(start),
                    RangeArg::Int(limit),
                    RangeArg::Int(delta),
                ],
            };
            let e = range.run(&[]).expect_err("too many values");
            assert!(e.contains("too much memory"), "{e}");
        }
    }

    #[test]
    fn range_counts_like_python() {
        let r = Range {
            args: [RangeArg::Int(0), RangeArg::Int(7), RangeArg::Int(3)],
        }
        .run(&[])
        .expect("run");
        assert_eq!(r[0].as_ints(), Some(&[0, 3, 6][..]));
    }
}
