//! Deep dream (Mordvintsev et al. 2015; MATLAB's `deepDreamImage`): gradient ascent on the
//! input to excite a channel (its mean activation) or a whole layer (mean square), over an
//! image pyramid: the image is optimised first at a coarse resolution (upsampled to the
//! network's fixed input size for each pass, so gradients reach the coarse pixels), then
//! refined level by level. Each step's gradient is blurred a little (a Gaussian of one pixel:
//! without it a small network's dream is pixel-sized noise), normalised by its mean magnitude,
//! and taken on a randomly shifted (jittered, seeded) image. UNPIC's defaults: 10 iterations,
//! 2 levels.

#[cfg(feature = "engine")]
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

#[cfg(feature = "engine")]
use crate::error::{Error, Result};
#[cfg(feature = "engine")]
use crate::explain::resize::{bilinear, gaussian};
#[cfg(feature = "engine")]
use crate::explain::{Progress, step};
#[cfg(feature = "engine")]
use crate::model::{Classifier, Layout};
#[cfg(feature = "engine")]
use crate::onnx::FloatValue;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeepDream {
    /// Gradient steps per pyramid level (1-500).
    pub iterations: usize,
    /// Pyramid levels (1-100): level 1 is the coarsest.
    pub levels: usize,
    /// Size ratio between consecutive levels.
    pub level_scale: f32,
    /// Step size, in units of the input's values (normalised gradient).
    pub step_size: f32,
    /// Largest random shift, in pixels, before each step.
    pub jitter: usize,
    /// Sigma, in pixels of the level, of a Gaussian blur of each step's gradient (0: none).
    /// Small networks otherwise dream pixel-sized noise; the blur keeps the patterns.
    pub gradient_blur: f32,
    pub seed: u64,
}

impl Default for DeepDream {
    fn default() -> Self {
        Self {
            iterations: 10,
            levels: 2,
            level_scale: 1.4,
            step_size: 0.05,
            jitter: 2,
            gradient_blur: 1.0,
            seed: 0,
        }
    }
}

/// The usual start of a dream: mid-grey in pixel space plus ±8 levels of seeded noise,
/// preprocessed with `pre` (CHW, one image).
pub fn grey_start(pre: &crate::data::Preprocess, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005) | 1;
    let area = pre.height * pre.width;
    (0..pre.channels * area)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let pixel = 128.0 + (state % 17) as f32 - 8.0;
            let c = i / area;
            let pick = |v: &[f32]| if v.len() == 1 { v[0] } else { v[c] };
            (pixel * pre.scale - pick(&pre.mean)) / pick(&pre.std)
        })
        .collect()
}

/// The objective: one channel's mean activation, or the layer's mean square.
#[cfg(feature = "engine")]
pub fn objective(
    value: &FloatValue,
    channel: Option<usize>,
    channels_last: bool,
) -> Result<Tensor<1>> {
    let t = value.padded().clone();
    let rank = value.rank();
    match channel {
        None => Ok(t.powi_scalar(2).mean()),
        Some(c) => {
            let axis = if channels_last {
                rank - 1
            } else {
                1.min(rank - 1)
            };
            let phys = value.physical_axis(axis);
            let size = value.dims()[axis];
            if c >= size {
                return Err(Error::Settings(format!(
                    "channel {c} does not exist (the layer has {size})"
                )));
            }
            Ok(t.narrow(phys, c, 1).mean())
        }
    }
}

/// Dreams from `start` (one image in the model's layout, preprocessed); returns the image.
#[cfg(feature = "engine")]
pub fn deep_dream(
    classifier: &Classifier,
    layer: &str,
    channel: Option<usize>,
    start: &FloatValue,
    settings: &DeepDream,
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    if !(1..=500).contains(&settings.iterations) || !(1..=100).contains(&settings.levels) {
        return Err(Error::Settings(
            "deep dream takes 1-500 iterations and 1-100 pyramid levels".into(),
        ));
    }
    let spec = classifier.input().clone();
    let channels_last = classifier.layer(layer)?.channel_axis == Some(3);
    let (c, h, w) = (spec.channels, spec.height, spec.width);
    let to_chw = |t: Tensor<4>| match spec.layout {
        Layout::Nchw => t.reshape([c, h, w]),
        Layout::Nhwc => t.permute([0, 3, 1, 2]).reshape([c, h, w]),
    };
    let from_chw = |t: Tensor<3>| -> Tensor<4> {
        let t = t.reshape([1, c, h, w]);
        match spec.layout {
            Layout::Nchw => t,
            Layout::Nhwc => t.permute([0, 2, 3, 1]),
        }
    };
    let start = start
        .to_rank::<4>()
        .filter(|t| t.dims() == spec.batch_shape(1))
        .ok_or_else(|| {
            Error::Settings("deep dream starts from one image of the model's input size".into())
        })?;
    let mut rng = crate::explain::SeededJitter::new(settings.seed);
    let sizes: Vec<(usize, usize)> = (0..settings.levels)
        .map(|l| {
            let f = settings.level_scale.powi((settings.levels - 1 - l) as i32);
            (
                ((h as f32 / f).round() as usize).max(1),
                ((w as f32 / f).round() as usize).max(1),
            )
        })
        .collect();
    let mut image = bilinear(to_chw(start), sizes[0].0, sizes[0].1);
    let total = settings.levels * settings.iterations;
    for (level, &(lh, lw)) in sizes.iter().enumerate() {
        if level > 0 {
            image = bilinear(image, lh, lw);
        }
        for it in 0..settings.iterations {
            let (dy, dx) = (
                rng.shift(settings.jitter, lh),
                rng.shift(settings.jitter, lw),
            );
            let shifted = roll(roll(image.clone(), 1, dy), 2, dx);
            let leaf = shifted.clone().autodiff().require_grad();
            let full = from_chw(bilinear(leaf.clone(), h, w));
            let (_, grads) =
                classifier.layer_objective(FloatValue::from_tensor(full), layer, &|v| {
                    objective(v, channel, channels_last)
                })?;
            let g = leaf.grad(&grads).ok_or_else(|| {
                Error::Settings(format!("'{layer}' does not depend on the input"))
            })?;
            let g = gaussian(g, settings.gradient_blur);
            let g = g.clone() / (g.abs().mean().reshape([1, 1, 1]) + 1e-8);
            let stepped = shifted + g * settings.step_size;
            image = roll(
                roll(stepped, 2, lw - dx % lw.max(1)),
                1,
                lh - dy % lh.max(1),
            );
            step(progress, level * settings.iterations + it + 1, total)?;
        }
    }
    Ok(FloatValue::from_tensor(from_chw(bilinear(image, h, w))))
}

/// Rotates `t` by `shift` positions along `axis` (0 < shift < size, or a no-op).
#[cfg(feature = "engine")]
fn roll(t: Tensor<3>, axis: usize, shift: usize) -> Tensor<3> {
    let size = t.dims()[axis];
    let shift = shift % size.max(1);
    if shift == 0 {
        return t;
    }
    let tail = t.clone().narrow(axis, size - shift, shift);
    let head = t.narrow(axis, 0, size - shift);
    Tensor::cat(vec![tail, head], axis)
}
