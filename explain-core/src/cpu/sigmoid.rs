//! The logistic function on flex: flex computes it with a scalar `expf` call per value, which
//! was 44% of EfficientNet-B0's forward pass (its SiLU and squeeze-excitation gates). Here
//! `exp` is a polynomial the compiler vectorises (Cephes' `expf`: range reduction by ln 2 and a
//! degree-6 polynomial, within 2 ulp of libm), under the AVX2 dispatch.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Tensor, TensorData};

use super::{f32_values, simd};

/// `1 / (1 + e^-x)`. Taped tensors (and other devices) go through Burn's own, whose backward
/// the autodiff tape needs.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !x.is_tracked()
        && let Ok(flex) = x.clone().try_into_primitive::<Flex>()
        && let Ok(values) = f32_values(&flex)
    {
        let mut out = values.into_owned();
        simd::dispatch(
            #[inline(always)]
            || {
                for v in out.iter_mut() {
                    *v = 1.0 / (1.0 + exp(-*v));
                }
            },
        );
        let shape = flex.layout().shape().clone();
        return Tensor::from_primitive::<Flex>(FlexTensor::from_data(TensorData::new(out, shape)));
    }
    burn::tensor::activation::sigmoid(x)
}

/// `x · σ(x) = x / (1 + e^-x)`, the fused SiLU.
#[inline(always)]
pub(super) fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// `e^x` for f32, branch-free so that loops over it vectorise.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.7);
    // x = n ln2 + r, |r| <= ln2 / 2, with ln 2 split in two for an exact product. n is rounded
    // by adding 1.5·2^23 (round to nearest even in the FPU): the sum's low mantissa bits are n,
    // so neither `round` nor a float-to-int cast (both scalar on x86) is needed.
    const SHIFT: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_55;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n through the exponent bits (n is in [-126, 128] after the clamp): the shifted sum's
    // bits are 0x4B40_0000 + n.
    let biased = shifted
        .to_bits()
        .wrapping_sub(0x4B40_0000)
        .wrapping_add(127);
    e * f32::from_bits(biased << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut worst = 0.0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 2.5e-7, "relative error {worst}");
    }

    #[test]
    fn sigmoid_matches_burn_and_saturates() {
        let device = burn::tensor::Device::flex();
        let values = vec![-100.0, -20.0, -3.5, -1e-3, 0.0, 1e-3, 0.7, 5.0, 30.0, 100.0];
        let x = Tensor::<1>::from_data(TensorData::new(values.clone(), [values.len()]), &device);
        let ours: Vec<f32> = sigmoid(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .expect("read");
        let burn: Vec<f32> = burn::tensor::activation::sigmoid(x)
            .into_data()
            .try_to_vec::<f32>()
            .expect("read");
        for ((o, b), v) in ours.iter().zip(&burn).zip(&values) {
            assert!((o - b).abs() <= 2e-7, "sigmoid({v}): {o} vs {b}");
        }
        assert!(ours[9] == 1.0 && ours[0] < 1e-40);
    }
}
