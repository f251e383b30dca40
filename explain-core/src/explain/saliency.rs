//! Gradient attribution: saliency `|∂f/∂x|` (Simonyan et al. 2014; Captum `Saliency(abs=True)`),
//! gradient × input, and SmoothGrad (Smilkov et al. 2017: the mean gradient over noisy copies,
//! seeded, batched).

#[cfg(feature = "engine")]
use burn::tensor::{Distribution, Tensor};

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

/// `|∂ score / ∂ input|`, the input's shape.
#[cfg(feature = "engine")]
pub fn saliency(classifier: &Classifier, image: &FloatValue, target: Target) -> Result<FloatValue> {
    Ok(gradient(classifier, image, target)?.map(|t| t.abs()))
}

/// `∂ score / ∂ input ⊙ input` (signed).
#[cfg(feature = "engine")]
pub fn gradient_times_input(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
) -> Result<FloatValue> {
    let g = gradient(classifier, image, target)?;
    let x = image.padded().clone();
    Ok(g.map(|t| t * x))
}

#[cfg(feature = "engine")]
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

/// The most noisy copies a SmoothGrad map averages (its noise is gone long before).
pub const MAX_SAMPLES: usize = 100_000;
/// The most noisy copies in one forward and backward pass (each holds the model's activations).
pub const MAX_BATCH: usize = 1024;

/// The mean gradient over `samples` copies of the image with Gaussian noise added.
#[cfg(feature = "engine")]
pub fn smooth_grad(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    settings: &SmoothGrad,
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    smooth_grad_part(classifier, image, target, settings, (0, 1), progress)
}

/// Part `index` of `count` of the SmoothGrad map, for workers that share one: the batches of
/// noisy copies are split into `count` contiguous runs, and the parts' sum is the map. Each
/// batch draws its noise from its own seed, so a batch's copies are the same whoever runs it.
#[cfg(feature = "engine")]
pub fn smooth_grad_part(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    settings: &SmoothGrad,
    (index, count): (usize, usize),
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    check_one(classifier, image, target)?;
    if !(1..=MAX_SAMPLES).contains(&settings.samples) || !(1..=MAX_BATCH).contains(&settings.batch)
    {
        return Err(Error::Settings(format!(
            "SmoothGrad takes 1 to {MAX_SAMPLES} noisy samples in batches of 1 to {MAX_BATCH}; \
             got {} in batches of {}",
            settings.samples, settings.batch
        )));
    }
    if count == 0 || index >= count {
        return Err(Error::Settings(format!(
            "part {index} of {count} of a SmoothGrad map does not exist"
        )));
    }
    let batches = settings.samples.div_ceil(settings.batch);
    let mine = batches * index / count..batches * (index + 1) / count;
    let x = image.padded().clone();
    // σ = noise · (max − min), kept on the device (no read-back, so the browser never blocks).
    let sigma = (x.clone().max() - x.clone().min()).clamp_min(1e-6) * settings.noise;
    let sigma = sigma.reshape([1; MAX_RANK]);
    let device = image.device();
    let dims = image.dims();
    let batch_axis = MAX_RANK - dims.len();
    let mut sum: Option<Tensor<MAX_RANK>> = None;
    // Progress counts copies, as the whole map's does.
    let total = (mine.end * settings.batch).min(settings.samples)
        - (mine.start * settings.batch).min(settings.samples);
    let mut done = 0;
    for batch in mine {
        let first = batch * settings.batch;
        let b = settings.batch.min(settings.samples - first);
        let mut shape = dims.clone();
        shape[0] = b;
        let batch_shape = crate::onnx::value::padded_shape(&shape);
        // Burn's random tensors follow the device's seed: one seed per batch.
        device.seed(batch_seed(settings.seed, batch));
        let noise =
            Tensor::<MAX_RANK>::random(batch_shape, Distribution::Normal(0.0, 1.0), &device)
                * sigma.clone();
        let noisy = FloatValue::from_padded(x.clone().expand(batch_shape) + noise, dims.len());
        let g = classifier
            .gradient(noisy, &vec![target.class; b], target.score, Wrt::Input)?
            .gradient
            .into_padded();
        let g = if settings.absolute { g.abs() } else { g };
        let part = g.sum_dim(batch_axis);
        sum = Some(match sum {
            Some(s) => s + part,
            None => part,
        });
        done += b;
        step(progress, done, total)?;
    }
    // A part without batches (more parts than batches) adds nothing.
    let sum = sum.unwrap_or_else(|| x.zeros_like());
    Ok(FloatValue::from_padded(
        sum / settings.samples as f32,
        dims.len(),
    ))
}

/// The noise seed of one batch: the user's seed and the batch's index, mixed.
#[cfg(feature = "engine")]
fn batch_seed(seed: u64, batch: usize) -> u64 {
    seed ^ (batch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
