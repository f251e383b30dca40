//! Occlusion sensitivity (Zeiler & Fergus 2014) with Captum's conventions exactly:
//! windows of `(c, h, w)` moved by `(c, h, w)` strides from the origin, `ceil((D − w) / s) + 1`
//! positions per axis with the last window clipped at the edge, occluded values set to the
//! baseline *in the preprocessed input*, each window contributing `f(x) − f(x_occluded)` to every
//! element it covers, and each element divided by the number of windows covering it.
//!
//! Windows go through the network in batches; the map is accumulated on the device. Each
//! occluded copy recomputes only what its window reaches (incremental inference, see
//! `onnx/incremental.rs`); the full recompute stays as the reference.

#[cfg(feature = "engine")]
use burn::tensor::{Device, Tensor, TensorData};

#[cfg(feature = "engine")]
use super::{Progress, Target, check_one, step, target_scores};
use crate::error::{Error, Result};
#[cfg(feature = "engine")]
use crate::model::{Classifier, Layout};
#[cfg(feature = "engine")]
use crate::onnx::incremental::{BaseRun, Patch, Region};
#[cfg(feature = "engine")]
use crate::onnx::{FloatValue, Value};

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

/// How the occluded copies' scores are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Recompute {
    /// Only the region of each layer a window reaches (`onnx/incremental.rs`), where the model
    /// allows it (a free batch axis, NCHW); otherwise the whole network.
    #[default]
    Incremental,
    /// The whole network for every copy: the reference the incremental path is tested against.
    Full,
}

/// The occlusion map, the input's shape.
#[cfg(feature = "engine")]
pub fn occlusion(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    settings: &Occlusion,
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    occlusion_with(
        classifier,
        image,
        target,
        settings,
        Recompute::Incremental,
        progress,
    )
}

/// [`occlusion`] computed the way `recompute` says.
#[cfg(feature = "engine")]
pub fn occlusion_with(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    settings: &Occlusion,
    recompute: Recompute,
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    occlusion_of_part(
        classifier,
        image,
        target,
        settings,
        recompute,
        (0, 1),
        progress,
    )
}

/// Part `index` of `count` of the occlusion map, for workers that share one: the windows are
/// split into `count` contiguous runs, and the parts' sum is the map (each element is divided by
/// the number of all windows that cover it).
#[cfg(feature = "engine")]
pub fn occlusion_part(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    settings: &Occlusion,
    (index, count): (usize, usize),
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    occlusion_of_part(
        classifier,
        image,
        target,
        settings,
        Recompute::Incremental,
        (index, count),
        progress,
    )
}

/// Part `index` of `count` of the map, computed the way `recompute` says.
#[cfg(feature = "engine")]
pub(crate) fn occlusion_of_part(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    settings: &Occlusion,
    recompute: Recompute,
    (index, count): (usize, usize),
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    if count == 0 || index >= count {
        return Err(Error::Settings(format!(
            "part {index} of {count} of an occlusion map does not exist"
        )));
    }
    check_one(classifier, image, target)?;
    let spec = classifier.input();
    let dims = [spec.channels, spec.height, spec.width];
    let windows = Windows::new(dims, settings)?;
    let all = windows.list.len();
    let mine = &windows.list[all * index / count..all * (index + 1) / count];
    let device = image.device();
    let x = image
        .to_rank::<4>()
        .ok_or_else(|| Error::Settings("the input is not 4-D".into()))?;
    let incremental = match recompute {
        Recompute::Incremental => Incremental::prepare(classifier, image, &windows, settings),
        Recompute::Full => None,
    };
    let base = match &incremental {
        Some(run) => target_scores(&run.logits, target)?,
        None => target_scores(&classifier.logits(image.clone())?, target)?,
    };
    let batch = settings.batch.max(1);
    let mut sum = Tensor::<4>::zeros(x.dims(), &device);
    for (done, chunk) in mine.chunks(batch).enumerate() {
        let b = chunk.len();
        let mask = windows.masks(chunk, spec.layout, &device);
        let logits = match &incremental {
            Some(run) => run.logits_of(classifier, &x, &windows, chunk, settings.baseline)?,
            None => {
                let keep = mask.clone().neg().add_scalar(1.0);
                let occluded =
                    x.clone().expand(mask.dims()) * keep + mask.clone() * settings.baseline;
                classifier.logits(FloatValue::from_tensor(occluded))?
            }
        };
        let scores = target_scores(&logits, target)?;
        let delta = (base.clone().expand([b]) - scores).reshape([b, 1, 1, 1]);
        sum = sum + (mask * delta).sum_dim(0);
        step(progress, (done * batch + b).min(mine.len()), mine.len())?;
    }
    let count = Tensor::<4>::from_data(
        TensorData::new(windows.count(), [1, dims[0], dims[1], dims[2]]),
        &device,
    );
    let count = match spec.layout {
        Layout::Nchw => count,
        Layout::Nhwc => count.permute([0, 2, 3, 1]),
    };
    Ok(FloatValue::from_tensor(sum / count.clamp_min(1.0)))
}

/// Every window of an input, in Captum's order.
#[cfg(feature = "engine")]
struct Windows {
    dims: [usize; 3],
    size: [usize; 3],
    list: Vec<[usize; 3]>,
}

#[cfg(feature = "engine")]
impl Windows {
    fn new(dims: [usize; 3], settings: &Occlusion) -> Result<Self> {
        let starts: Vec<Vec<usize>> = (0..3)
            .map(|a| Occlusion::starts(dims[a], settings.window[a], settings.stride[a]))
            .collect::<Result<_>>()?;
        let mut list = Vec::new();
        for &c in &starts[0] {
            for &h in &starts[1] {
                for &w in &starts[2] {
                    list.push([c, h, w]);
                }
            }
        }
        Ok(Self {
            dims,
            size: settings.window,
            list,
        })
    }

    /// What window `start` covers along axis `a`, clipped at the edge.
    fn span(&self, a: usize, start: usize) -> std::ops::Range<usize> {
        start..(start + self.size[a]).min(self.dims[a])
    }

    /// How many windows cover each element (CHW order).
    fn count(&self) -> Vec<f32> {
        let [_, height, width] = self.dims;
        let mut count = vec![0f32; self.dims.iter().product()];
        for window in &self.list {
            for c in self.span(0, window[0]) {
                for h in self.span(1, window[1]) {
                    for w in self.span(2, window[2]) {
                        count[(c * height + h) * width + w] += 1.0;
                    }
                }
            }
        }
        count
    }

    /// One mask per window of `chunk` (1 where it occludes), in the model's layout.
    fn masks(&self, chunk: &[[usize; 3]], layout: Layout, device: &Device) -> Tensor<4> {
        let [channels, height, width] = self.dims;
        let area = channels * height * width;
        let mut mask = vec![0f32; chunk.len() * area];
        for (i, window) in chunk.iter().enumerate() {
            for c in self.span(0, window[0]) {
                for h in self.span(1, window[1]) {
                    for w in self.span(2, window[2]) {
                        mask[i * area + (c * height + h) * width + w] = 1.0;
                    }
                }
            }
        }
        let mask = Tensor::<4>::from_data(
            TensorData::new(mask, [chunk.len(), channels, height, width]),
            device,
        );
        match layout {
            Layout::Nchw => mask,
            Layout::Nhwc => mask.permute([0, 2, 3, 1]),
        }
    }
}

/// The unoccluded run's values, which each occluded copy is computed against.
#[cfg(feature = "engine")]
struct Incremental {
    base: BaseRun,
    logits: FloatValue,
}

#[cfg(feature = "engine")]
impl Incremental {
    /// Records the unoccluded run when the model allows incremental runs: a free batch axis
    /// and an NCHW input. A trial on the first window catches graphs it cannot follow (a
    /// tensor without a batch axis), which then take the full recompute.
    fn prepare(
        classifier: &Classifier,
        image: &FloatValue,
        windows: &Windows,
        settings: &Occlusion,
    ) -> Option<Self> {
        if classifier.fixed_batch().is_some() || classifier.input().layout != Layout::Nchw {
            return None;
        }
        let graph = classifier.graph();
        let base = graph.record(Value::Float(image.clone())).ok()?;
        let logits = match base.output(graph)? {
            Value::Float(v) => v.clone().reshape(&[1, classifier.num_classes()]),
            Value::Int { .. } => return None,
        };
        let run = Self { base, logits };
        let x = image.to_rank::<4>()?;
        let first = windows.list.first()?;
        run.logits_of(classifier, &x, windows, &[*first], settings.baseline)
            .ok()?;
        Some(run)
    }

    /// The logits `[B, K]` of the copies occluded by `chunk`'s windows.
    fn logits_of(
        &self,
        classifier: &Classifier,
        x: &Tensor<4>,
        windows: &Windows,
        chunk: &[[usize; 3]],
        baseline: f32,
    ) -> Result<FloatValue> {
        let channels = windows.dims[0];
        let edits = chunk
            .iter()
            .map(|w| {
                let region = Region {
                    rows: windows.span(1, w[1]),
                    cols: windows.span(2, w[2]),
                };
                let covered = windows.span(0, w[0]);
                let (rows, cols) = (region.rows.clone(), region.cols.clone());
                let original = x
                    .clone()
                    .slice([0..1, 0..channels, rows.clone(), cols.clone()]);
                let fill = Tensor::<4>::full(
                    [1, covered.len(), rows.len(), cols.len()],
                    baseline,
                    &x.device(),
                );
                let values =
                    original.slice_assign([0..1, covered, 0..rows.len(), 0..cols.len()], fill);
                Some(Patch { region, values })
            })
            .collect();
        let out = classifier.graph().run_edited(&self.base, edits)?;
        match out {
            Value::Float(v) => Ok(v.reshape(&[chunk.len(), classifier.num_classes()])),
            Value::Int { .. } => Err(Error::NotAClassifier(
                "the model's first output is not a float tensor".into(),
            )),
        }
    }
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
