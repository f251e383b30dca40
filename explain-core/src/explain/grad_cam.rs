//! Class activation maps at any layer: Grad-CAM (Selvaraju et al. 2017), Grad-CAM++
//! (Chattopadhay et al. 2018), HiResCAM (Draelos & Carin 2020), LayerCAM (Jiang et al. 2021)
//! and Score-CAM (Wang et al. 2020), with pytorch-grad-cam's formulas.
//!
//! [`class_map`] returns the raw map at the layer's resolution `[1, 1, h, w]`, signed and not
//! normalised: for Grad-CAM that is exactly Captum's `LayerGradCam` (`relu_attributions=False`).
//! [`pytorch_grad_cam_map`] applies pytorch-grad-cam's display convention to it: ReLU, min-max
//! to [0, 1], bilinear resize to the input (OpenCV rules), ReLU and min-max again, `[1, H, W]`.
//! The layer may be channels-first or channels-last (Keras), or a vision transformer's token
//! sequence on its patch grid (see [`crate::onnx::layers::TokenGrid`]); A is read in
//! `[N, C, h, w]` order.

#[cfg(feature = "engine")]
use burn::tensor::activation::{relu, softmax};
#[cfg(feature = "engine")]
use burn::tensor::{Tensor, TensorData};

#[cfg(feature = "engine")]
use super::resize::bilinear;
#[cfg(feature = "engine")]
use super::{Progress, Target, check_one, step, target_scores};
#[cfg(feature = "engine")]
use crate::error::{Error, Result};
#[cfg(feature = "engine")]
use crate::gradient::Wrt;
#[cfg(feature = "engine")]
use crate::model::Classifier;
#[cfg(feature = "engine")]
use crate::onnx::FloatValue;

/// Which class activation map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum CamMethod {
    /// `Σ_k mean_hw(∂y/∂A_k) A_k`.
    #[default]
    GradCam,
    /// Grad-CAM with per-position weights from second and third powers of the gradient.
    GradCamPlusPlus,
    /// `Σ_k ∂y/∂A_k ⊙ A_k`: no spatial averaging, faithful to the gradient.
    HiResCam,
    /// `Σ_k ReLU(∂y/∂A_k) ⊙ A_k`.
    LayerCam,
    /// Gradient-free: each channel, upsampled and min-max scaled, masks the input; the class
    /// scores of the masked inputs, softmaxed over channels, weight the channels.
    ScoreCam,
}

/// How a gradient-based map weights the activations.
#[derive(Debug, Clone, Copy)]
#[cfg(feature = "engine")]
enum Weighting {
    ChannelMean,
    PlusPlus,
    Elementwise,
    PositiveElementwise,
}

#[cfg(feature = "engine")]
impl CamMethod {
    /// The gradient weighting, or `None` for the gradient-free Score-CAM.
    fn weighting(self) -> Option<Weighting> {
        match self {
            CamMethod::GradCam => Some(Weighting::ChannelMean),
            CamMethod::GradCamPlusPlus => Some(Weighting::PlusPlus),
            CamMethod::HiResCam => Some(Weighting::Elementwise),
            CamMethod::LayerCam => Some(Weighting::PositiveElementwise),
            CamMethod::ScoreCam => None,
        }
    }
}

/// The raw class activation map of `layer`, `[1, 1, h, w]`.
#[cfg(feature = "engine")]
pub fn class_map(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    layer: &str,
    method: CamMethod,
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    check_one(classifier, image, target)?;
    let layout = MapLayout::of(classifier, layer)?;
    let cam = match method.weighting() {
        None => {
            let a = layer_activations(classifier, image, layer)?;
            let c = a.dims()[1];
            let scores = channel_scores(classifier, image, target, &a, 0..c, progress)?;
            score_weighted(a, scores)
        }
        Some(weighting) => {
            let g = classifier.gradient(
                image.clone(),
                &[target.class],
                target.score,
                Wrt::Layer(layer),
            )?;
            let a = layout.to_nchw(&g.value, layer)?;
            let grad = layout.to_nchw(&g.gradient, layer)?;
            gradient_cam(a, grad, weighting)
        }
    };
    Ok(FloatValue::from_tensor(cam))
}

/// pytorch-grad-cam's map from a raw one: `[1, H, W]` in [0, 1] at the input's size.
#[cfg(feature = "engine")]
pub fn pytorch_grad_cam_map(raw: &FloatValue, height: usize, width: usize) -> Result<FloatValue> {
    let cam = as_4d(raw, "the map")?;
    let [n, _, h, w] = cam.dims();
    let cam = min_max(relu(cam.reshape([n, h, w])));
    let cam = bilinear(cam, height, width);
    Ok(FloatValue::from_tensor(min_max(relu(cam))))
}

/// How a CAM layer's tensor holds its feature map.
#[cfg(feature = "engine")]
#[derive(Debug, Clone, Copy)]
enum MapLayout {
    ChannelsFirst,
    ChannelsLast,
    /// A transformer's token sequence `[1, T, D]` on a patch grid.
    Tokens(crate::onnx::layers::TokenGrid),
}

#[cfg(feature = "engine")]
impl MapLayout {
    fn of(classifier: &Classifier, layer: &str) -> Result<MapLayout> {
        let info = classifier.layer(layer)?;
        if let Some(grid) = info.tokens {
            return Ok(MapLayout::Tokens(grid));
        }
        if !info.spatial {
            return Err(Error::Settings(format!(
                "'{layer}' has shape {}: class activation maps need a spatial feature map or a \
                 transformer's token sequence; the suggested layer is {}",
                crate::onnx::format_shape(&info.shape),
                classifier
                    .layer_table()
                    .gradcam_layer
                    .as_deref()
                    .unwrap_or("(none: this model has no spatial layer)")
            )));
        }
        Ok(match info.channel_axis {
            Some(3) => MapLayout::ChannelsLast,
            _ => MapLayout::ChannelsFirst,
        })
    }

    /// The tensor as `[N, C, h, w]`: a token sequence without its extra tokens, its patches
    /// on their grid and its features as channels (pytorch-grad-cam's ViT `reshape_transform`).
    fn to_nchw(self, v: &FloatValue, what: &str) -> Result<Tensor<4>> {
        match self {
            MapLayout::ChannelsFirst => as_4d(v, what),
            MapLayout::ChannelsLast => Ok(as_4d(v, what)?.permute([0, 3, 1, 2])),
            MapLayout::Tokens(grid) => {
                let t = v
                    .to_rank::<3>()
                    .filter(|t| t.dims()[1] == grid.skip + grid.patches())
                    .ok_or_else(|| {
                        Error::Settings(format!(
                            "'{what}' is {:?}, not a sequence of {} tokens",
                            v.dims(),
                            grid.skip + grid.patches()
                        ))
                    })?;
                let [n, _, d] = t.dims();
                Ok(t.narrow(1, grid.skip, grid.patches())
                    .reshape([n, grid.height, grid.width, d])
                    .permute([0, 3, 1, 2]))
            }
        }
    }
}

#[cfg(feature = "engine")]
fn as_4d(v: &FloatValue, what: &str) -> Result<Tensor<4>> {
    v.to_rank::<4>().ok_or_else(|| {
        Error::Settings(format!("'{what}' is {:?}, not a 4-D feature map", v.dims()))
    })
}

/// The gradient-based maps from activations and gradients `[1, C, h, w]`.
#[cfg(feature = "engine")]
fn gradient_cam(a: Tensor<4>, g: Tensor<4>, weighting: Weighting) -> Tensor<4> {
    let weighted = match weighting {
        Weighting::ChannelMean => g.mean_dim(3).mean_dim(2) * a,
        Weighting::Elementwise => g * a,
        Weighting::PositiveElementwise => relu(g) * a,
        Weighting::PlusPlus => {
            let g2 = g.clone().powi_scalar(2);
            let g3 = g2.clone() * g.clone();
            let sum_a = a.clone().sum_dim(3).sum_dim(2);
            let aij = g2.clone() / (g2 * 2.0 + sum_a * g3 + 1e-6);
            let aij = aij.mask_fill(g.clone().equal_elem(0.0), 0.0);
            let weights = (relu(g) * aij).sum_dim(3).sum_dim(2);
            weights * a
        }
    };
    weighted.sum_dim(1)
}

/// Part `index` of `count` of Score-CAM's channel scores, for workers that share one map: `[C]`,
/// the target's score of the image masked by each channel of the part's contiguous run, and 0
/// for the other channels, so the parts' sum is every channel's score.
#[cfg(feature = "engine")]
pub fn score_cam_scores_part(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    layer: &str,
    (index, count): (usize, usize),
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    check_one(classifier, image, target)?;
    if count == 0 || index >= count {
        return Err(Error::Settings(format!(
            "part {index} of {count} of a Score-CAM map does not exist"
        )));
    }
    let a = layer_activations(classifier, image, layer)?;
    let c = a.dims()[1];
    let mine = c * index / count..c * (index + 1) / count;
    let device = a.device();
    let before = Tensor::<1>::zeros([mine.start], &device);
    let after = Tensor::<1>::zeros([c - mine.end], &device);
    let scores = channel_scores(classifier, image, target, &a, mine, progress)?;
    Ok(FloatValue::from_tensor(Tensor::cat(
        vec![before, scores, after],
        0,
    )))
}

/// Score-CAM's raw map `[1, 1, h, w]` from every channel's score (the parts' sum).
#[cfg(feature = "engine")]
pub fn score_cam_from_scores(
    classifier: &Classifier,
    image: &FloatValue,
    layer: &str,
    scores: &FloatValue,
) -> Result<FloatValue> {
    let a = layer_activations(classifier, image, layer)?;
    let c = a.dims()[1];
    let scores = scores
        .to_rank::<1>()
        .filter(|s| s.dims() == [c])
        .ok_or_else(|| {
            Error::Settings(format!(
                "Score-CAM needs {c} channel scores for '{layer}', got {:?}",
                scores.dims()
            ))
        })?;
    Ok(FloatValue::from_tensor(score_weighted(a, scores)))
}

/// The layer's activations for one image, `[1, C, h, w]` whatever the layer's layout.
#[cfg(feature = "engine")]
fn layer_activations(
    classifier: &Classifier,
    image: &FloatValue,
    layer: &str,
) -> Result<Tensor<4>> {
    let layout = MapLayout::of(classifier, layer)?;
    let taps = classifier.activations(image.clone(), &[layer])?;
    layout.to_nchw(&taps[0], layer)
}

/// Channels per Score-CAM forward pass (pytorch-grad-cam's default batch).
#[cfg(feature = "engine")]
const SCORE_CAM_BATCH: usize = 16;

/// The target's score of the image masked by each channel in `channels` (upsampled with aligned
/// corners, as torch's UpsamplingBilinear2d, and min-maxed): `[channels.len()]`.
#[cfg(feature = "engine")]
fn channel_scores(
    classifier: &Classifier,
    image: &FloatValue,
    target: Target,
    a: &Tensor<4>,
    channels: std::ops::Range<usize>,
    progress: &mut dyn Progress,
) -> Result<Tensor<1>> {
    let [_, _, h, w] = a.dims();
    let input_dims = image.dims();
    let (height, width) = match classifier.input().layout {
        crate::model::Layout::Nchw => (input_dims[2], input_dims[3]),
        crate::model::Layout::Nhwc => (input_dims[1], input_dims[2]),
    };
    let device = a.device();
    let ry = Tensor::<2>::from_data(
        TensorData::new(aligned_weights(h, height), [height, h]),
        &device,
    );
    let rx = Tensor::<2>::from_data(
        TensorData::new(aligned_weights(w, width), [width, w]),
        &device,
    );
    let x = image.padded().clone();
    let total = channels.len();
    let mut scores = Vec::with_capacity(total.div_ceil(SCORE_CAM_BATCH));
    let mut done = 0;
    while done < total {
        let b = SCORE_CAM_BATCH.min(total - done);
        let maps = a
            .clone()
            .narrow(1, channels.start + done, b)
            .reshape([b, h, w]);
        let up = ry
            .clone()
            .unsqueeze::<3>()
            .expand([b, height, h])
            .matmul(maps)
            .matmul(
                rx.clone()
                    .transpose()
                    .unsqueeze::<3>()
                    .expand([b, w, width]),
            );
        let m = min_max(up);
        let m = match classifier.input().layout {
            crate::model::Layout::Nchw => m.reshape([b, 1, height, width]),
            crate::model::Layout::Nhwc => m.reshape([b, height, width, 1]),
        };
        let xi = x.clone().reshape(classifier.input().batch_shape(1));
        let batch = FloatValue::from_tensor(xi * m);
        scores.push(target_scores(&classifier.logits(batch)?, target)?);
        done += b;
        step(progress, done, total)?;
    }
    Ok(if scores.is_empty() {
        Tensor::zeros([0], &device)
    } else {
        Tensor::cat(scores, 0)
    })
}

/// `Σ_k softmax(scores)_k A_k`: `[1, 1, h, w]`.
#[cfg(feature = "engine")]
fn score_weighted(a: Tensor<4>, scores: Tensor<1>) -> Tensor<4> {
    let c = a.dims()[1];
    let weights = softmax(scores, 0).reshape([1, c, 1, 1]);
    (weights * a).sum_dim(1)
}

/// `[out, in]` weights of a bilinear resize with aligned corners.
#[cfg(feature = "engine")]
fn aligned_weights(input: usize, output: usize) -> Vec<f32> {
    let mut w = vec![0f32; output * input];
    for dst in 0..output {
        let f = if output > 1 {
            dst as f64 * (input as f64 - 1.0) / (output as f64 - 1.0)
        } else {
            0.0
        };
        let s = (f.floor() as usize).min(input - 1);
        let frac = f - s as f64;
        w[dst * input + s] += (1.0 - frac) as f32;
        if s + 1 < input {
            w[dst * input + s + 1] += frac as f32;
        }
    }
    w
}

/// Per-map min-max scaling to [0, 1] of `[N, h, w]` (pytorch-grad-cam's `scale_cam_image`:
/// `(x − min) / (1e-7 + max(x − min))`).
#[cfg(feature = "engine")]
fn min_max(maps: Tensor<3>) -> Tensor<3> {
    let [n, h, w] = maps.dims();
    let flat = maps.reshape([n, h * w]);
    let shifted = flat.clone() - flat.min_dim(1);
    let max = shifted.clone().max_dim(1);
    (shifted / (max + 1e-7)).reshape([n, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_corner_weights_hit_both_ends() {
        let w = aligned_weights(2, 3);
        assert_eq!(w, vec![1.0, 0.0, 0.5, 0.5, 0.0, 1.0]);
    }
}
