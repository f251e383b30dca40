//! Faithfulness of an explanation map (Petsiuk et al. 2018, RISE): delete the pixels the map
//! ranks highest, a fraction at a time, and watch the target probability fall (deletion; a
//! faithful map makes it fall fast, low area under the curve); or insert them into a blank
//! image and watch it rise (insertion; high area). Methods can then be ranked on one image.
//!
//! Pixels are ranked by the map reduced over channels; a deleted pixel takes the baseline value
//! in every channel. All steps go through the network as batches; the curve stays on the
//! device until the caller reads it, and [`area_under_curve`] is host arithmetic.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::explain::{Progress, Target, check_one, step, target_scores};
use crate::model::{Classifier, Layout};
use crate::onnx::FloatValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    Deletion,
    Insertion,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Faithfulness {
    pub mode: Mode,
    /// Curve points after the start (each adds `1/steps` of the pixels).
    pub steps: usize,
    /// Value of removed pixels, after preprocessing.
    pub baseline: f32,
    pub batch: usize,
}

impl Faithfulness {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            steps: 20,
            baseline: 0.0,
            batch: 16,
        }
    }
}

/// The target's scores at `0, 1/steps, …, 1` of the pixels deleted (or inserted), `[steps + 1]`.
/// `ranking` holds one importance per pixel (`height × width`, row-major).
pub fn curve(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    ranking: &[f32],
    settings: &Faithfulness,
    progress: &mut dyn Progress,
) -> Result<Tensor<1>> {
    check_one(classifier, image, target)?;
    let spec = classifier.input();
    let area = spec.height * spec.width;
    if ranking.len() != area {
        return Err(Error::Settings(format!(
            "the ranking has {} values; the image has {area} pixels",
            ranking.len()
        )));
    }
    if settings.steps == 0 {
        return Err(Error::Settings("the curve needs at least one step".into()));
    }
    // Pixel order: most important first (ties: lower index first).
    let mut order: Vec<usize> = (0..area).collect();
    order.sort_by(|&a, &b| ranking[b].total_cmp(&ranking[a]).then(a.cmp(&b)));
    let mut rank = vec![0usize; area];
    for (r, &p) in order.iter().enumerate() {
        rank[p] = r;
    }
    let device = image.device();
    let x = image
        .to_rank::<4>()
        .ok_or_else(|| Error::Settings("the input is not 4-D".into()))?;
    let points: Vec<usize> = (0..=settings.steps).collect();
    let mut scores = Vec::new();
    let mut done = 0;
    for chunk in points.chunks(settings.batch.max(1)) {
        let b = chunk.len();
        // changed[i][p] = 1 where pixel p is among the first k_i ranked.
        let mut changed = vec![0f32; b * area];
        for (i, &s) in chunk.iter().enumerate() {
            let k = area * s / settings.steps;
            for p in 0..area {
                if rank[p] < k {
                    changed[i * area + p] = 1.0;
                }
            }
        }
        let mask = Tensor::<4>::from_data(
            TensorData::new(changed, [b, 1, spec.height, spec.width]),
            &device,
        );
        let mask = match spec.layout {
            Layout::Nchw => mask,
            Layout::Nhwc => mask.permute([0, 2, 3, 1]),
        };
        let shape = {
            let mut s = x.dims();
            s[0] = b;
            s
        };
        let mask = mask.expand(shape);
        let full = x.clone().expand(shape);
        let blank = full.zeros_like().add_scalar(settings.baseline);
        let batch = match settings.mode {
            // Deleted pixels become the baseline.
            Mode::Deletion => full.clone() * (mask.clone().neg().add_scalar(1.0)) + blank * mask,
            // Inserted pixels come from the image into the baseline.
            Mode::Insertion => blank * (mask.clone().neg().add_scalar(1.0)) + full * mask,
        };
        let probability = Target {
            score: crate::gradient::Score::Probability,
            ..target
        };
        scores.push(target_scores(
            &classifier.logits(FloatValue::from_tensor(batch))?,
            probability,
        )?);
        done += b;
        step(progress, done, points.len())?;
    }
    Ok(Tensor::cat(scores, 0))
}

/// The pixel ranking of an explanation map `[C, H, W]`: for signed maps the sum over channels
/// (evidence for the class first), else the channel maximum.
pub fn ranking(map_chw: &[f32], channels: usize, signed: bool) -> Vec<f32> {
    let reduce = if signed {
        crate::render::ChannelReduce::Sum
    } else {
        crate::render::ChannelReduce::Max
    };
    crate::render::reduce_channels(map_chw, channels.max(1), reduce)
}

/// A map's pixel ranking (channels reduced as [`ranking`] does: one value per pixel) and its
/// deletion and insertion curves: one map scored, as `unpic explain-class` and the app's class
/// galleries do. `values` in the model's layout (`dims`), at the image's size.
pub fn score_map(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    values: &[f32],
    dims: &[usize],
    signed: bool,
) -> Result<(Vec<f32>, Tensor<1>, Tensor<1>)> {
    let (chw, channels) = crate::explain::map_chw(classifier.input(), values, dims)?;
    let order = ranking(&chw, channels, signed);
    let (deletion, insertion) = deletion_and_insertion(classifier, image, target, &order)?;
    Ok((order, deletion, insertion))
}

/// Deletion and insertion curves (20 steps each, baseline 0) of one ranking, on the device:
/// what the app shows beside each map and `unpic explain --faithfulness` prints.
pub fn deletion_and_insertion(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    ranking: &[f32],
) -> Result<(Tensor<1>, Tensor<1>)> {
    let mut silent = crate::explain::Silent;
    let deletion = curve(
        classifier,
        image,
        target,
        ranking,
        &Faithfulness::new(Mode::Deletion),
        &mut silent,
    )?;
    let insertion = curve(
        classifier,
        image,
        target,
        ranking,
        &Faithfulness::new(Mode::Insertion),
        &mut silent,
    )?;
    Ok((deletion, insertion))
}

/// Trapezoidal area under a curve sampled at equal steps over [0, 1].
pub fn area_under_curve(curve: &[f32]) -> f64 {
    if curve.len() < 2 {
        return curve.first().copied().unwrap_or(0.0) as f64;
    }
    let h = 1.0 / (curve.len() - 1) as f64;
    curve
        .windows(2)
        .map(|w| (w[0] as f64 + w[1] as f64) * h / 2.0)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_a_line_is_half() {
        assert!((area_under_curve(&[1.0, 0.5, 0.0]) - 0.5).abs() < 1e-12);
        assert_eq!(area_under_curve(&[0.7]), 0.7f32 as f64);
    }
}
