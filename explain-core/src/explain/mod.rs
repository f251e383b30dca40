//! Explanations of one prediction: which parts of the input (or of a layer) drive a class score.
//!
//! One file per method, and one value for them all: [`Method`] (method.rs), which the CLI and the
//! browser's worker both run. Every method takes a [`Classifier`], one preprocessed image (a
//! batch of one in the model's layout), and a [`Target`]; it returns a map as a device tensor, so
//! the browser can read it without blocking and the CLI can write it. Long methods work in batches
//! and report to a [`Progress`], which can cancel between batches.
//!
//! Conventions follow the established peers exactly (Captum, pytorch-grad-cam); each file says
//! which, and the parity tests hold them to the peers' outputs in `tests/fixtures/oracle`.

pub mod class_average;
pub mod grad_cam;
pub mod integrated_gradients;
pub mod method;
pub mod occlusion;
#[cfg(feature = "engine")]
pub mod resize;
#[cfg(feature = "engine")]
pub mod rollout;
pub mod saliency;

use crate::error::{Error, Result};
use crate::gradient::Score;
#[cfg(feature = "engine")]
use crate::model::Classifier;
#[cfg(feature = "engine")]
use crate::onnx::FloatValue;

pub use method::{CamConvention, Method};

/// The class score being explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub class: usize,
    /// Raw output (logit) or softmax probability. The logit does not saturate, so it is the
    /// default (the original's softmax-only Grad-CAM flattened confident predictions).
    pub score: Score,
}

impl Target {
    pub fn logit(class: usize) -> Self {
        Self {
            class,
            score: Score::Logit,
        }
    }
}

/// Told how far a long computation is; answers whether to go on.
pub trait Progress {
    /// `done` of `total` steps finished. Return `false` to cancel.
    fn report(&mut self, done: usize, total: usize) -> bool;
}

/// For callers that do not watch.
pub struct Silent;

impl Progress for Silent {
    fn report(&mut self, _: usize, _: usize) -> bool {
        true
    }
}

impl<F: FnMut(usize, usize) -> bool> Progress for F {
    fn report(&mut self, done: usize, total: usize) -> bool {
        self(done, total)
    }
}

/// Reports and turns a cancel into `Error::Cancelled`.
pub(crate) fn step(progress: &mut dyn Progress, done: usize, total: usize) -> Result<()> {
    if progress.report(done, total) {
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}

/// Checks that `image` is one image for `classifier` and that the target class exists.
#[cfg(feature = "engine")]
pub(crate) fn check_one(classifier: &Classifier, image: &FloatValue, target: Target) -> Result<()> {
    let expected = classifier.input().batch_shape(1);
    if image.dims() != expected {
        return Err(Error::InputShape {
            got: image.dims(),
            expected: format!("{expected:?} (one image)"),
        });
    }
    if target.class >= classifier.num_classes() {
        return Err(Error::Labels(format!(
            "class {} does not exist: the model has {} classes",
            target.class,
            classifier.num_classes()
        )));
    }
    Ok(())
}

/// A map in the model's layout at the image's size, as `[C, H, W]` values and `C`: what the
/// rankings and overlays read. An error for a map at a layer's size (a raw class activation map).
pub fn map_chw(
    spec: &crate::model::InputSpec,
    values: &[f32],
    dims: &[usize],
) -> Result<(Vec<f32>, usize)> {
    let area = spec.height * spec.width;
    if area == 0 || values.is_empty() || !values.len().is_multiple_of(area) {
        return Err(Error::Settings(format!(
            "the map {dims:?} is not at the image's size ({}x{}): take the map in \
             pytorch-grad-cam's form",
            spec.height, spec.width
        )));
    }
    let channels = values.len() / area;
    let chw = match spec.layout {
        crate::model::Layout::Nhwc => crate::model::hwc_to_chw(values, channels),
        crate::model::Layout::Nchw => values.to_vec(),
    };
    Ok((chw, channels))
}

/// The target scores of a batch of logits `[B, K]`: `[B]` (on the device).
#[cfg(feature = "engine")]
pub(crate) fn target_scores(
    logits: &FloatValue,
    target: Target,
) -> Result<burn::tensor::Tensor<1>> {
    let t = logits
        .to_rank::<2>()
        .ok_or_else(|| Error::NotAClassifier("the scores are not [N, K]".into()))?;
    let t = match target.score {
        Score::Logit => t,
        Score::Probability => burn::tensor::activation::softmax(t, 1),
    };
    let b = t.dims()[0];
    Ok(t.narrow(1, target.class, 1).reshape([b]))
}

/// Seeded small random integers (xorshift) for jitter; the same sequence on every platform.
#[cfg(feature = "engine")]
pub(crate) struct SeededJitter(u64);

#[cfg(feature = "engine")]
impl SeededJitter {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A shift in `0..=2 * max` taken modulo `size` (a roll of ±max).
    pub(crate) fn shift(&mut self, max: usize, size: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let r = (self.0 % (2 * max as u64 + 1)) as i64 - max as i64;
        r.rem_euclid(size.max(1) as i64) as usize
    }
}
