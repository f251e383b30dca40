//! Integrated Gradients (Sundararajan et al. 2017): `(x − b) ⊙ Σ_i w_i ∇f(b + α_i (x − b))`.
//!
//! The quadrature rules are Captum's: `RiemannTrapezoid` takes `α_i = i / (n − 1)` with weights
//! `1/n`, halved at both ends (Captum's step sizes, which sum to `(n − 1)/n`, not a textbook
//! trapezoid); `GaussLegendre` takes the Gauss-Legendre nodes and weights mapped to [0, 1].
//! The path points go through the network in batches.

#[cfg(feature = "engine")]
use burn::tensor::{Tensor, TensorData};

#[cfg(feature = "engine")]
use super::{Progress, Target, check_one, step};
#[cfg(feature = "engine")]
use crate::error::{Error, Result};
#[cfg(feature = "engine")]
use crate::gradient::Wrt;
#[cfg(feature = "engine")]
use crate::model::Classifier;
#[cfg(feature = "engine")]
use crate::onnx::{FloatValue, MAX_RANK};

/// How the path integral is approximated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Quadrature {
    #[default]
    RiemannTrapezoid,
    GaussLegendre,
}

/// Integrated Gradients settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntegratedGradients {
    pub steps: usize,
    pub quadrature: Quadrature,
    /// The baseline's value everywhere, after preprocessing.
    pub baseline: f32,
    /// Path points per forward/backward pass.
    pub batch: usize,
}

impl Default for IntegratedGradients {
    fn default() -> Self {
        Self {
            steps: 32,
            quadrature: Quadrature::RiemannTrapezoid,
            baseline: 0.0,
            batch: 8,
        }
    }
}

/// `(α_i, w_i)` of the rule.
pub fn quadrature(rule: Quadrature, n: usize) -> Vec<(f64, f64)> {
    match rule {
        Quadrature::RiemannTrapezoid => {
            if n == 1 {
                return vec![(1.0, 1.0)];
            }
            (0..n)
                .map(|i| {
                    let alpha = i as f64 / (n - 1) as f64;
                    let w = if i == 0 || i == n - 1 {
                        0.5 / n as f64
                    } else {
                        1.0 / n as f64
                    };
                    (alpha, w)
                })
                .collect()
        }
        Quadrature::GaussLegendre => gauss_legendre(n)
            .into_iter()
            .map(|(x, w)| ((x + 1.0) / 2.0, w / 2.0))
            .collect(),
    }
}

/// The most steps an Integrated Gradients map takes: far past where its sum stops changing, and
/// the Gauss-Legendre nodes cost O(steps²) before the first gradient.
pub const MAX_STEPS: usize = 10_000;

/// Gauss-Legendre nodes and weights on [-1, 1], ascending (Newton on the Legendre recurrence).
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut x = -(std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut derivative = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            // p1 = P_n(x), p0 = P_{n-1}(x) (also for n = 1).
            derivative = n as f64 * (x * p1 - p0) / (x * x - 1.0);
            let dx = p1 / derivative;
            x -= dx;
            if dx.abs() < 1e-15 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - x * x) * derivative * derivative);
        out.push((x, w));
    }
    out
}

/// The attribution map, the input's shape.
#[cfg(feature = "engine")]
pub fn integrated_gradients(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    settings: &IntegratedGradients,
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    integrated_gradients_part(classifier, image, target, settings, (0, 1), progress)
}

/// Part `index` of `count` of the attribution map, for workers that share one: the quadrature
/// points are split into `count` contiguous runs, and the parts' sum is the map.
#[cfg(feature = "engine")]
pub fn integrated_gradients_part(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    settings: &IntegratedGradients,
    (index, count): (usize, usize),
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    check_one(classifier, image, target)?;
    if !(1..=MAX_STEPS).contains(&settings.steps) {
        return Err(Error::Settings(format!(
            "Integrated Gradients takes 1 to {MAX_STEPS} steps; got {} (Captum's default is 50)",
            settings.steps
        )));
    }
    if count == 0 || index >= count {
        return Err(Error::Settings(format!(
            "part {index} of {count} of an Integrated Gradients map does not exist"
        )));
    }
    let all = quadrature(settings.quadrature, settings.steps);
    let rule = &all[all.len() * index / count..all.len() * (index + 1) / count];
    let x = image.padded().clone();
    let rank = image.rank();
    let device = image.device();
    let baseline = x.clone().zeros_like().add_scalar(settings.baseline);
    let diff = x - baseline.clone();
    let batch_axis = MAX_RANK - rank;
    let mut total: Option<Tensor<MAX_RANK>> = None;
    let batch = settings.batch.max(1);
    let mut done = 0;
    for chunk in rule.chunks(batch) {
        let b = chunk.len();
        let mut shape = diff.dims();
        shape[batch_axis] = b;
        let coef = |f: fn(&(f64, f64)) -> f64| {
            let v: Vec<f32> = chunk.iter().map(|p| f(p) as f32).collect();
            let mut s = [1; MAX_RANK];
            s[batch_axis] = b;
            Tensor::<MAX_RANK>::from_data(TensorData::new(v, s), &device)
        };
        let alphas = coef(|p| p.0);
        let weights = coef(|p| p.1);
        let points = baseline.clone().expand(shape) + diff.clone().expand(shape) * alphas;
        let g = classifier
            .gradient(
                FloatValue::from_padded(points, rank),
                &vec![target.class; b],
                target.score,
                Wrt::Input,
            )?
            .gradient
            .into_padded();
        let part = (g * weights).sum_dim(batch_axis);
        total = Some(match total {
            Some(t) => t + part,
            None => part,
        });
        done += b;
        step(progress, done, rule.len())?;
    }
    // A part without points (more parts than points) adds nothing.
    let total = total.unwrap_or_else(|| diff.zeros_like());
    Ok(FloatValue::from_padded(diff * total, rank))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captum_trapezoid_weights_sum_to_n_minus_one_over_n() {
        let q = quadrature(Quadrature::RiemannTrapezoid, 32);
        assert_eq!(q[0], (0.0, 1.0 / 64.0));
        assert_eq!(q[31].1, 1.0 / 64.0);
        let sum: f64 = q.iter().map(|p| p.1).sum();
        assert!((sum - 31.0 / 32.0).abs() < 1e-12);
    }

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        // ∫_0^1 x^5 dx = 1/6 with 3 nodes (exact up to degree 5).
        let q = quadrature(Quadrature::GaussLegendre, 3);
        let integral: f64 = q.iter().map(|(a, w)| w * a.powi(5)).sum();
        assert!((integral - 1.0 / 6.0).abs() < 1e-12, "{integral}");
        assert!(q.iter().all(|(a, _)| (0.0..=1.0).contains(a)));
    }
}
