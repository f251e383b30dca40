//! Gradient attribution: saliency `|∂f/∂x|` (Simonyan et al. 2014; Captum `Saliency(abs=True)`),
//! gradient × input, and SmoothGrad (Smilkov et al. 2017: the mean gradient over noisy copies,
//! seeded, batched).

use burn::tensor::{Distribution, Tensor};

use super::{Progress, Target, check_one, step};
use crate::error::{Error, Result};
use crate::gradient::Wrt;
use crate::model::Classifier;
use crate::onnx::{FloatValue, MAX_RANK};

/// `|∂ score / ∂ input|`, the input's shape.
pub fn saliency(classifier: &Classifier, image: &FloatValue, target: Target) -> Result<FloatValue> {
    Ok(gradient(classifier, image, target)?.map(|t| t.abs()))
}

/// `∂ score / ∂ input ⊙ input` (signed).
pub fn gradient_times_input(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
) -> Result<FloatValue> {
    let g = gradient(classifier, image, target)?;
    let x = image.padded().clone();
    Ok(g.map(|t| t * x))
}

fn gradient(classifier: &Classifier, image: &FloatValue, target: Target) -> Result<FloatValue> {
    check_one(classifier, image, target)?;
    Ok(classifier
        .gradient(image.clone(), &[target.class], target.score, Wrt::Input)?
        .gradient)
}

/// SmoothGrad settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SmoothGrad {
    /// Noisy copies averaged.
    pub samples: usize,
    /// Noise standard deviation as a fraction of the input's value range (the paper's 10-20%).
    pub noise: f32,
    /// Copies per forward/backward pass.
    pub batch: usize,
    /// Seed of the noise.
    pub seed: u64,
    /// Average |gradient| (like saliency) rather than the signed gradient.
    pub absolute: bool,
}

impl Default for SmoothGrad {
    fn default() -> Self {
        Self {
            samples: 25,
            noise: 0.15,
            batch: 8,
            seed: 0,
            absolute: true,
        }
    }
}

/// The mean gradient over `samples` copies of the image with Gaussian noise added.
pub fn smooth_grad(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    settings: &SmoothGrad,
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    check_one(classifier, image, target)?;
    if settings.samples == 0 || settings.batch == 0 {
        return Err(Error::Settings(
            "SmoothGrad needs at least one sample and a batch of one".into(),
        ));
    }
    let x = image.padded().clone();
    // σ = noise · (max − min), kept on the device (no read-back, so the browser never blocks).
    let sigma = (x.clone().max() - x.clone().min()).clamp_min(1e-6) * settings.noise;
    let sigma = sigma.reshape([1; MAX_RANK]);
    let device = image.device();
    // Burn's random tensors follow the device's seed; seed it for a reproducible map.
    device.seed(settings.seed);
    let dims = image.dims();
    let mut sum: Option<Tensor<MAX_RANK>> = None;
    let mut done = 0;
    while done < settings.samples {
        let b = settings.batch.min(settings.samples - done);
        let mut shape = dims.clone();
        shape[0] = b;
        let batch_shape = crate::onnx::value::padded_shape(&shape);
        let noise =
            Tensor::<MAX_RANK>::random(batch_shape, Distribution::Normal(0.0, 1.0), &device)
                * sigma.clone();
        let noisy = FloatValue::from_padded(x.clone().expand(batch_shape) + noise, dims.len());
        let g = classifier
            .gradient(noisy, &vec![target.class; b], target.score, Wrt::Input)?
            .gradient
            .into_padded();
        let g = if settings.absolute { g.abs() } else { g };
        let batch_axis = MAX_RANK - dims.len();
        let part = g.sum_dim(batch_axis);
        sum = Some(match sum {
            Some(s) => s + part,
            None => part,
        });
        done += b;
        step(progress, done, settings.samples)?;
    }
    let mean = sum.ok_or_else(|| Error::Settings("no samples".into()))? / settings.samples as f32;
    Ok(FloatValue::from_padded(mean, dims.len()))
}
