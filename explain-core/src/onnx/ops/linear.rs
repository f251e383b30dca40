//! Matrix products: `Gemm`, `MatMul`, and onnx-ir's fused `Linear` (a Gemm or MatMul+Add with a
//! constant weight).
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Gemm.html>,
//! <https://onnx.ai/onnx/operators/onnx__MatMul.html> (numpy `matmul`: batch dims broadcast,
//! 1-D operands get a unit dim added and removed).

use burn::tensor::Device;
use burn::tensor::Tensor;
use onnx_ir::{Node, NodeType};

use super::{Op, OpResult, Registry, float_input, optional_float_input, typed_node};
use crate::onnx::value::{FloatValue, MAX_RANK, Value, padded_shape};

pub(super) fn register(registry: &mut Registry) {
    registry.add(NodeType::Gemm, build_gemm);
    registry.add(NodeType::Linear, build_linear);
    registry.add(NodeType::MatMul, |_, _| Ok(Box::new(MatMul)));
}

fn matrix(v: &FloatValue, what: &str) -> Result<Tensor<2>, String> {
    v.to_rank::<2>()
        .ok_or_else(|| format!("{what} must be 2-D, got shape {:?}", v.dims()))
}

struct Gemm {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

fn build_gemm(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let c = &typed_node!(node, Gemm).config;
    Ok(Box::new(Gemm {
        alpha: c.alpha,
        beta: c.beta,
        trans_a: c.trans_a != 0,
        trans_b: c.trans_b != 0,
    }))
}

impl Op for Gemm {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let mut a = matrix(&float_input(inputs, 0)?, "A")?;
        let mut b = matrix(&float_input(inputs, 1)?, "B")?;
        if self.trans_a {
            a = a.transpose();
        }
        if self.trans_b {
            b = b.transpose();
        }
        let ([m, k], [k2, n]) = (a.dims(), b.dims());
        if k != k2 {
            return Err(format!(
                "A is {m}x{k} but B is {k2}x{n}: inner sizes differ"
            ));
        }
        let mut y = a.matmul(b);
        if self.alpha != 1.0 {
            y = y.mul_scalar(self.alpha);
        }
        let mut y = FloatValue::from_tensor(y);
        if let Some(c) = optional_float_input(inputs, 2)? {
            let c = c.map(|t| {
                if self.beta == 1.0 {
                    t
                } else {
                    t.mul_scalar(self.beta)
                }
            });
            y = y.map(|t| t + c.into_padded());
        }
        Ok(vec![Value::Float(y)])
    }
}

struct Linear {
    transpose_weight: bool,
}

fn build_linear(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let c = &typed_node!(node, Linear).config;
    Ok(Box::new(Linear {
        transpose_weight: c.transpose_weight,
    }))
}

impl Op for Linear {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = float_input(inputs, 0)?;
        let mut w = matrix(&float_input(inputs, 1)?, "the weight")?;
        if self.transpose_weight {
            w = w.transpose();
        }
        let y = match x.to_rank::<2>() {
            // A classifier's head: multiply by the transposed view as it is (padding it to the
            // engine's rank would copy the whole weight on every run).
            Some(x2) if x2.dims()[1] == w.dims()[0] => FloatValue::from_tensor(x2.matmul(w)),
            _ => matmul(x, FloatValue::from_tensor(w))?,
        };
        let y = match optional_float_input(inputs, 2)? {
            Some(bias) => y.map(|t| t + bias.into_padded()),
            None => y,
        };
        Ok(vec![Value::Float(y)])
    }
}

struct MatMul;

impl Op for MatMul {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        Ok(vec![Value::Float(matmul(
            float_input(inputs, 0)?,
            float_input(inputs, 1)?,
        )?)])
    }
}

/// numpy `matmul` on logical shapes.
fn matmul(a: FloatValue, b: FloatValue) -> Result<FloatValue, String> {
    let (da, db) = (a.dims(), b.dims());
    if da.is_empty() || db.is_empty() {
        return Err("MatMul operands must have at least one dimension".into());
    }
    // 1-D operands: a row vector on the left, a column vector on the right.
    let a_vec = da.len() == 1;
    let b_vec = db.len() == 1;
    let a = if a_vec { a.reshape(&[1, da[0]]) } else { a };
    let b = if b_vec { b.reshape(&[db[0], 1]) } else { b };
    let (da, db) = (a.dims(), b.dims());
    let (k, k2) = (da[da.len() - 1], db[db.len() - 2]);
    if k != k2 {
        return Err(format!(
            "shapes {da:?} and {db:?} do not multiply: inner sizes {k} and {k2}"
        ));
    }
    let batch_a = &da[..da.len() - 2];
    let batch_b = &db[..db.len() - 2];
    let rank = da.len().max(db.len());
    let mut batch = vec![1; rank - 2];
    for (i, slot) in batch.iter_mut().rev().enumerate() {
        let x = batch_a.iter().rev().nth(i).copied().unwrap_or(1);
        let y = batch_b.iter().rev().nth(i).copied().unwrap_or(1);
        if x != y && x != 1 && y != 1 {
            return Err(format!(
                "batch dimensions of {da:?} and {db:?} do not broadcast"
            ));
        }
        *slot = x.max(y);
    }
    // Burn's matmul wants equal batch shapes: expand both to the broadcast batch.
    let m = da[da.len() - 2];
    let n = db[db.len() - 1];
    let expand = |v: FloatValue, rows: usize, cols: usize| -> Tensor<MAX_RANK> {
        let mut full = batch.clone();
        full.extend([rows, cols]);
        v.into_padded().expand(padded_shape(&full))
    };
    let y = expand(a, m, k).matmul(expand(b, k, n));
    let mut out_dims = batch.clone();
    out_dims.extend([m, n]);
    let y = FloatValue::from_padded(y, out_dims.len());
    Ok(match (a_vec, b_vec) {
        (true, true) => y.reshape(&out_dims[..out_dims.len() - 2]),
        (true, false) => {
            let mut d = out_dims.clone();
            d.remove(d.len() - 2);
            y.reshape(&d)
        }
        (false, true) => y.reshape(&out_dims[..out_dims.len() - 1]),
        (false, false) => y,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{fv, read};
    use super::*;

    #[test]
    fn gemm_with_transposed_b_and_bias_matches_hand_computation() {
        let op = Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true,
        };
        // x = [1, 2], W = [[1, 0], [0, 1], [1, 1]] (3 outputs x 2 inputs), b = [0, 10, 100]
        let out = op
            .run(&[
                fv(&[1.0, 2.0], &[1, 2]),
                fv(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2]),
                fv(&[0.0, 10.0, 100.0], &[3]),
            ])
            .expect("run");
        assert_eq!(read(&out), (vec![1.0, 12.0, 103.0], vec![1, 3]));
    }

    #[test]
    fn matmul_broadcasts_batch_dims() {
        // [2, 1, 2] x [2, 1] -> [2, 1, 1]
        let out = MatMul
            .run(&[
                fv(&[1.0, 2.0, 3.0, 4.0], &[2, 1, 2]),
                fv(&[1.0, 1.0], &[2, 1]),
            ])
            .expect("run");
        assert_eq!(read(&out), (vec![3.0, 7.0], vec![2, 1, 1]));
    }

    #[test]
    fn matmul_of_vectors_is_a_dot_product() {
        let out = MatMul
            .run(&[fv(&[1.0, 2.0, 3.0], &[3]), fv(&[4.0, 5.0, 6.0], &[3])])
            .expect("run");
        assert_eq!(read(&out), (vec![32.0], vec![]));
    }

    #[test]
    fn gemm_reports_inner_size_mismatch() {
        let op = Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        };
        let err = op
            .run(&[fv(&[1.0; 6], &[2, 3]), fv(&[1.0; 4], &[2, 2])])
            .expect_err("error");
        assert!(err.contains("inner sizes differ"), "{err}");
    }
}
