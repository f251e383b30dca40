//! Occlusion sensitivity (Zeiler & Fergus 2014) with Captum's conventions exactly:
//! windows of `(c, h, w)` moved by `(c, h, w)` strides from the origin, `ceil((D − w) / s) + 1`
//! positions per axis with the last window clipped at the edge, occluded values set to the
//! baseline *in the preprocessed input*, each window contributing `f(x) − f(x_occluded)` to every
//! element it covers, and each element divided by the number of windows covering it.
//!
//! Windows go through the network in batches; the map is accumulated on the device.

use burn::tensor::{Tensor, TensorData};

use super::{Progress, Target, check_one, step, target_scores};
use crate::error::{Error, Result};
use crate::model::{Classifier, Layout};
use crate::onnx::FloatValue;

/// Occlusion settings, in the input's channel, height, width order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Occlusion {
    pub window: [usize; 3],
    pub stride: [usize; 3],
    /// The value occluded elements take, after preprocessing (0 = the mean colour for
    /// ImageNet-normalised inputs).
    pub baseline: f32,
    /// Occluded copies per forward pass.
    pub batch: usize,
}

/// UNPIC's Fast ↔ Detailed slider: level 1 (fast, coarse) to 5 (detailed, slow).
pub const PRESET_LEVELS: std::ops::RangeInclusive<u8> = 1..=5;

impl Occlusion {
    /// The preset at `level` for an input of `channels × height × width`: a square window of a
    /// fraction of the shorter side (1/3 at level 1 down to 1/14 at level 5) covering all
    /// channels, moved by half its size. The slider and the numbers it shows come from here,
    /// so they cannot disagree (the original's spinners did).
    pub fn preset(level: u8, channels: usize, height: usize, width: usize) -> Self {
        let fraction = match level.clamp(*PRESET_LEVELS.start(), *PRESET_LEVELS.end()) {
            1 => 1.0 / 3.0,
            2 => 1.0 / 5.0,
            3 => 1.0 / 7.0,
            4 => 1.0 / 10.0,
            _ => 1.0 / 14.0,
        };
        let side = ((height.min(width) as f64 * fraction).round() as usize).max(1);
        let stride = side.div_ceil(2).max(1);
        Self {
            window: [channels, side, side],
            stride: [channels, stride, stride],
            baseline: 0.0,
            batch: 32,
        }
    }

    /// Window start positions along an axis of length `len`.
    fn starts(len: usize, window: usize, stride: usize) -> Result<Vec<usize>> {
        if window == 0 || stride == 0 || window > len {
            return Err(Error::Settings(format!(
                "an occlusion window of {window} with stride {stride} does not fit an axis of {len}"
            )));
        }
        let count = (len - window).div_ceil(stride) + 1;
        Ok((0..count).map(|k| k * stride).collect())
    }

    /// How many windows there are, per axis.
    pub fn positions(&self, dims: [usize; 3]) -> Result<[usize; 3]> {
        let mut out = [0; 3];
        for a in 0..3 {
            out[a] = Self::starts(dims[a], self.window[a], self.stride[a])?.len();
        }
        Ok(out)
    }
}

/// The occlusion map, the input's shape.
pub fn occlusion(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    settings: &Occlusion,
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    check_one(classifier, image, target)?;
    let spec = classifier.input();
    let dims = [spec.channels, spec.height, spec.width];
    let starts: Vec<Vec<usize>> = (0..3)
        .map(|a| Occlusion::starts(dims[a], settings.window[a], settings.stride[a]))
        .collect::<Result<_>>()?;
    let mut windows: Vec<[usize; 3]> = Vec::new();
    for &c in &starts[0] {
        for &h in &starts[1] {
            for &w in &starts[2] {
                windows.push([c, h, w]);
            }
        }
    }
    let area = dims.iter().product::<usize>();
    let clip = |a: usize, start: usize| start..(start + settings.window[a]).min(dims[a]);
    let mut count = vec![0f32; area];
    for window in &windows {
        for c in clip(0, window[0]) {
            for h in clip(1, window[1]) {
                for w in clip(2, window[2]) {
                    count[(c * dims[1] + h) * dims[2] + w] += 1.0;
                }
            }
        }
    }

    let device = image.device();
    let x = image
        .to_rank::<4>()
        .ok_or_else(|| Error::Settings("the input is not 4-D".into()))?;
    let base = target_scores(&classifier.logits(image.clone())?, target)?;
    let batch = settings.batch.max(1);
    let mut sum = Tensor::<4>::zeros(x.dims(), &device);
    for (done, chunk) in windows.chunks(batch).enumerate() {
        let b = chunk.len();
        let mut mask = vec![0f32; b * area];
        for (i, window) in chunk.iter().enumerate() {
            for c in clip(0, window[0]) {
                for h in clip(1, window[1]) {
                    for w in clip(2, window[2]) {
                        mask[i * area + (c * dims[1] + h) * dims[2] + w] = 1.0;
                    }
                }
            }
        }
        let mask = Tensor::<4>::from_data(
            TensorData::new(mask, [b, dims[0], dims[1], dims[2]]),
            &device,
        );
        let mask = match spec.layout {
            Layout::Nchw => mask,
            Layout::Nhwc => mask.permute([0, 2, 3, 1]),
        };
        let shape = mask.dims();
        let keep = mask.clone().neg().add_scalar(1.0);
        let occluded = x.clone().expand(shape) * keep + mask.clone() * settings.baseline;
        let scores = target_scores(
            &classifier.logits(FloatValue::from_tensor(occluded))?,
            target,
        )?;
        let delta = (base.clone().expand([b]) - scores).reshape([b, 1, 1, 1]);
        sum = sum + (mask * delta).sum_dim(0);
        step(
            progress,
            (done * batch + b).min(windows.len()),
            windows.len(),
        )?;
    }
    let count = Tensor::<4>::from_data(
        TensorData::new(count, [1, dims[0], dims[1], dims[2]]),
        &device,
    );
    let count = match spec.layout {
        Layout::Nchw => count,
        Layout::Nhwc => count.permute([0, 2, 3, 1]),
    };
    Ok(FloatValue::from_tensor(sum / count.clamp_min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_positions_follow_captum() {
        // 28 with window 6 stride 3: ceil(22 / 3) + 1 = 9 positions, the last one clipped.
        assert_eq!(Occlusion::starts(28, 6, 3).expect("fits").len(), 9);
        assert_eq!(Occlusion::starts(28, 4, 2).expect("fits").len(), 13);
        assert!(Occlusion::starts(3, 4, 2).is_err());
    }

    #[test]
    fn presets_grow_finer_and_agree_with_their_numbers() {
        let coarse = Occlusion::preset(1, 3, 224, 224);
        let fine = Occlusion::preset(5, 3, 224, 224);
        assert!(coarse.window[1] > fine.window[1]);
        assert_eq!(coarse.window[0], 3);
        assert_eq!(fine.stride[1], fine.window[1].div_ceil(2));
    }
}
