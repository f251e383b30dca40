//! Every explanation method as one value with one call shape (after Captum's `attribute()` and
//! pytorch-grad-cam's `BaseCAM`): a [`Method`] carries its settings, [`Method::run`] computes its
//! map, [`Method::signed`] says how to read it. The CLI parses into a `Method`, the browser's
//! worker receives one; a new method is a variant here and its own file beside this one.
//!
//! Methods that loop over batches can also be computed in parts by several workers
//! ([`Method::run_part`]); the parts add up, and [`Method::finish`] turns their sum into the map.

use serde::{Deserialize, Serialize};

use super::grad_cam::CamMethod;
#[cfg(feature = "engine")]
use super::grad_cam::{
    class_map, pytorch_grad_cam_map, score_cam_from_scores, score_cam_scores_part,
};
use super::integrated_gradients::IntegratedGradients;
#[cfg(feature = "engine")]
use super::integrated_gradients::integrated_gradients_part;
#[cfg(feature = "engine")]
use super::occlusion::occlusion_of_part;
use super::occlusion::{Occlusion, Recompute};
#[cfg(feature = "engine")]
use super::rollout::attention_rollout;
use super::saliency::SmoothGrad;
#[cfg(feature = "engine")]
use super::saliency::{gradient_times_input, saliency, smooth_grad_part};
#[cfg(feature = "engine")]
use super::{Progress, Target};
#[cfg(feature = "engine")]
use crate::error::{Error, Result};
#[cfg(feature = "engine")]
use crate::model::Classifier;
#[cfg(feature = "engine")]
use crate::onnx::FloatValue;

/// One explanation method and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Method {
    /// |∂score/∂input| (Simonyan et al. 2014).
    Saliency,
    /// ∂score/∂input ⊙ input.
    GradientXInput,
    /// The mean gradient over noisy copies (Smilkov et al. 2017).
    SmoothGrad(SmoothGrad),
    /// The score's drop when a window is covered (Zeiler & Fergus 2014).
    Occlusion {
        settings: Occlusion,
        recompute: Recompute,
    },
    /// The gradient integrated along a path from a baseline (Sundararajan et al. 2017).
    IntegratedGradients(IntegratedGradients),
    /// A class activation map at `layer` (the model's suggested layer when `None`).
    Cam {
        kind: CamMethod,
        layer: Option<String>,
        convention: CamConvention,
    },
    /// How attention flows from the patches to a vision transformer's class token (Abnar &
    /// Zuidema 2020); the same for every class.
    AttentionRollout,
}

/// The form of a class activation map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CamConvention {
    /// Raw, signed, at the layer's resolution (Captum's `LayerGradCam`).
    Captum,
    /// ReLU, min-max, bilinear resize to the input (pytorch-grad-cam's display).
    #[default]
    PytorchGradCam,
}

impl Method {
    /// The method's name as people know it.
    pub fn label(&self) -> &'static str {
        match self {
            Method::Saliency => "Saliency",
            Method::GradientXInput => "Gradient × input",
            Method::SmoothGrad(_) => "SmoothGrad",
            Method::Occlusion { .. } => "Occlusion",
            Method::IntegratedGradients(_) => "Integrated Gradients",
            Method::Cam { kind, .. } => match kind {
                CamMethod::GradCam => "Grad-CAM",
                CamMethod::GradCamPlusPlus => "Grad-CAM++",
                CamMethod::HiResCam => "HiResCAM",
                CamMethod::LayerCam => "LayerCAM",
                CamMethod::ScoreCam => "Score-CAM",
            },
            Method::AttentionRollout => "Attention rollout",
        }
    }

    /// Whether the map is signed (evidence for and against the class): its channels are summed
    /// and it is shown on a diverging scale. (A raw Captum-form CAM is signed too, but at the
    /// layer's size it is neither ranked nor drawn over the image.)
    pub fn signed(&self) -> bool {
        matches!(
            self,
            Method::GradientXInput | Method::IntegratedGradients(_)
        )
    }

    /// Whether [`Method::run_part`] splits the work: runs of windows, path points, noisy
    /// copies or channels.
    pub fn shareable(&self) -> bool {
        matches!(
            self,
            Method::Occlusion { .. }
                | Method::IntegratedGradients(_)
                | Method::SmoothGrad(_)
                | Method::Cam {
                    kind: CamMethod::ScoreCam,
                    ..
                }
        )
    }

    /// Whether the map of another class costs about one more gradient (saliency, gradient ×
    /// input, the gradient-weighted CAMs): for these the runner-up's map is computed too, to
    /// check that the map depends on the class. Attention rollout is the same for every class.
    pub fn cheap_per_class(&self) -> bool {
        match self {
            Method::Saliency | Method::GradientXInput => true,
            Method::Cam { kind, .. } => *kind != CamMethod::ScoreCam,
            _ => false,
        }
    }

    /// The class activation map's layer: the one given or the model's suggestion (`None` for
    /// the other methods).
    #[cfg(feature = "engine")]
    pub fn layer(&self, classifier: &Classifier) -> Result<Option<String>> {
        let Method::Cam { layer, .. } = self else {
            return Ok(None);
        };
        match layer.clone().or(classifier.layer_table().gradcam_layer) {
            Some(layer) => Ok(Some(layer)),
            None => Err(Error::Settings(
                "this model has no spatial layer for a class activation map; choose a layer".into(),
            )),
        }
    }

    /// The map of `target` for one image (a batch of one in the model's layout).
    #[cfg(feature = "engine")]
    pub fn run(
        &self,
        classifier: &Classifier,
        image: &FloatValue,
        target: Target,
        progress: &mut dyn Progress,
    ) -> Result<FloatValue> {
        let whole = self.run_part(classifier, image, target, (0, 1), progress)?;
        self.finish(classifier, image, whole)
    }

    /// Part `index` of `count` of the work (see [`Method::shareable`]); the parts' elementwise
    /// sum, given to [`Method::finish`], is the map. A method that cannot be split has one part.
    #[cfg(feature = "engine")]
    pub fn run_part(
        &self,
        classifier: &Classifier,
        image: &FloatValue,
        target: Target,
        (index, count): (usize, usize),
        progress: &mut dyn Progress,
    ) -> Result<FloatValue> {
        if count == 0 || index >= count || (count > 1 && !self.shareable()) {
            return Err(Error::Settings(format!(
                "{} has no part {index} of {count}",
                self.label()
            )));
        }
        let part = (index, count);
        match self {
            Method::Saliency => saliency(classifier, image, target),
            Method::GradientXInput => gradient_times_input(classifier, image, target),
            Method::SmoothGrad(settings) => {
                smooth_grad_part(classifier, image, target, settings, part, progress)
            }
            Method::Occlusion {
                settings,
                recompute,
            } => occlusion_of_part(
                classifier, image, target, settings, *recompute, part, progress,
            ),
            Method::IntegratedGradients(settings) => {
                integrated_gradients_part(classifier, image, target, settings, part, progress)
            }
            Method::Cam {
                kind: CamMethod::ScoreCam,
                ..
            } => {
                let layer = &self.layer(classifier)?.unwrap_or_default();
                score_cam_scores_part(classifier, image, target, layer, part, progress)
            }
            Method::Cam { kind, .. } => {
                let layer = &self.layer(classifier)?.unwrap_or_default();
                class_map(classifier, image, target, layer, *kind, progress)
            }
            Method::AttentionRollout => {
                super::check_one(classifier, image, target)?;
                attention_rollout(classifier, image, progress)
            }
        }
    }

    /// The shape of one part (and of the parts' sum): the input's for the methods that split
    /// pixels' work, `[C]` for Score-CAM's channel scores.
    #[cfg(feature = "engine")]
    pub fn part_shape(&self, classifier: &Classifier) -> Result<Vec<usize>> {
        match self {
            Method::Cam {
                kind: CamMethod::ScoreCam,
                ..
            } => {
                let layer = &self.layer(classifier)?.unwrap_or_default();
                let channels = classifier.layer(layer)?.channels().ok_or_else(|| {
                    Error::Settings(format!("'{layer}' has no fixed number of channels"))
                })?;
                Ok(vec![channels])
            }
            _ => Ok(classifier.input().batch_shape(1).to_vec()),
        }
    }

    /// The map from the parts' sum: Score-CAM weighs the layer's channels by their scores, the
    /// class activation maps take their form, the other methods' sum is their map.
    #[cfg(feature = "engine")]
    pub fn finish(
        &self,
        classifier: &Classifier,
        image: &FloatValue,
        sum: FloatValue,
    ) -> Result<FloatValue> {
        match self {
            Method::Cam {
                kind: CamMethod::ScoreCam,
                ..
            } => {
                let layer = &self.layer(classifier)?.unwrap_or_default();
                let raw = score_cam_from_scores(classifier, image, layer, &sum)?;
                self.cam_form(classifier, raw)
            }
            Method::Cam { .. } => self.cam_form(classifier, sum),
            _ => Ok(sum),
        }
    }

    #[cfg(feature = "engine")]
    fn cam_form(&self, classifier: &Classifier, raw: FloatValue) -> Result<FloatValue> {
        match self {
            Method::Cam {
                convention: CamConvention::PytorchGradCam,
                ..
            } => {
                let spec = classifier.input();
                pytorch_grad_cam_map(&raw, spec.height, spec.width)
            }
            _ => Ok(raw),
        }
    }
}
