//! The explanation methods the page offers, and the engine's [`Method`] each one runs.

use explain_core::InputSpec;
use explain_core::explain::grad_cam::CamMethod;
use explain_core::explain::integrated_gradients::IntegratedGradients;
use explain_core::explain::occlusion::{Occlusion, Recompute};
use explain_core::explain::saliency::SmoothGrad;
use explain_core::explain::{CamConvention, Method};
use serde::{Deserialize, Serialize};

/// The explanation methods the page offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExplainMethod {
    GradCam,
    GradCamPlusPlus,
    HiResCam,
    LayerCam,
    ScoreCam,
    Saliency,
    GradientXInput,
    SmoothGrad,
    /// Occlusion with a square mask of `mask` pixels moved by `stride` (0: the middle preset).
    Occlusion {
        mask: usize,
        stride: usize,
    },
    IntegratedGradients,
    /// Offered for vision transformers only (models with an attention softmax).
    AttentionRollout,
}

impl ExplainMethod {
    /// Every method, for the page's checkboxes.
    pub const ALL: [ExplainMethod; 11] = [
        ExplainMethod::GradCam,
        ExplainMethod::GradCamPlusPlus,
        ExplainMethod::HiResCam,
        ExplainMethod::LayerCam,
        ExplainMethod::ScoreCam,
        ExplainMethod::Occlusion { mask: 0, stride: 0 },
        ExplainMethod::Saliency,
        ExplainMethod::GradientXInput,
        ExplainMethod::SmoothGrad,
        ExplainMethod::IntegratedGradients,
        ExplainMethod::AttentionRollout,
    ];

    pub fn label(self) -> &'static str {
        self.kind().label()
    }

    /// The key used in the page's controls and in file names.
    pub fn key(self) -> &'static str {
        match self {
            ExplainMethod::GradCam => "gradcam",
            ExplainMethod::GradCamPlusPlus => "gradcampp",
            ExplainMethod::HiResCam => "hirescam",
            ExplainMethod::LayerCam => "layercam",
            ExplainMethod::ScoreCam => "scorecam",
            ExplainMethod::Saliency => "saliency",
            ExplainMethod::GradientXInput => "gxi",
            ExplainMethod::SmoothGrad => "smoothgrad",
            ExplainMethod::Occlusion { .. } => "occlusion",
            ExplainMethod::IntegratedGradients => "ig",
            ExplainMethod::AttentionRollout => "rollout",
        }
    }

    /// The engine's method and settings for this choice: the app's defaults, occlusion with a
    /// square window over all channels (the middle preset when the mask is 0), the CAM at
    /// `layer` in pytorch-grad-cam's form.
    pub fn method(self, spec: &InputSpec, layer: Option<String>) -> Method {
        let cam = |kind| Method::Cam {
            kind,
            layer: layer.clone(),
            convention: CamConvention::PytorchGradCam,
        };
        match self {
            ExplainMethod::GradCam => cam(CamMethod::GradCam),
            ExplainMethod::GradCamPlusPlus => cam(CamMethod::GradCamPlusPlus),
            ExplainMethod::HiResCam => cam(CamMethod::HiResCam),
            ExplainMethod::LayerCam => cam(CamMethod::LayerCam),
            ExplainMethod::ScoreCam => cam(CamMethod::ScoreCam),
            ExplainMethod::Saliency => Method::Saliency,
            ExplainMethod::GradientXInput => Method::GradientXInput,
            ExplainMethod::SmoothGrad => Method::SmoothGrad(SmoothGrad::default()),
            ExplainMethod::Occlusion { mask, stride } => {
                let preset = Occlusion::preset(3, spec.channels, spec.height, spec.width);
                let settings = if mask == 0 || stride == 0 {
                    preset
                } else {
                    Occlusion {
                        window: [spec.channels, mask, mask],
                        stride: [spec.channels, stride, stride],
                        ..preset
                    }
                };
                Method::Occlusion {
                    settings,
                    recompute: Recompute::Incremental,
                }
            }
            ExplainMethod::IntegratedGradients => {
                Method::IntegratedGradients(IntegratedGradients::default())
            }
            ExplainMethod::AttentionRollout => Method::AttentionRollout,
        }
    }

    /// The method with any settings: for what does not depend on them.
    fn kind(self) -> Method {
        let any = InputSpec {
            name: String::new(),
            channels: 1,
            height: 1,
            width: 1,
            layout: explain_core::Layout::Nchw,
            any_size: false,
        };
        self.method(&any, None)
    }

    /// Whether helper workers can share the map (see [`Method::shareable`]).
    pub fn shared(self) -> bool {
        self.kind().shareable()
    }

    /// Whether the map is signed (evidence for and against the class).
    pub fn signed(self) -> bool {
        self.kind().signed()
    }

    /// Whether it needs a layer (class activation maps).
    pub fn uses_layer(self) -> bool {
        matches!(self.kind(), Method::Cam { .. })
    }

    /// Whether it applies to a model with these layers: attention rollout needs attention.
    pub fn applies_to(self, layers: &explain_core::onnx::LayerTable) -> bool {
        self != ExplainMethod::AttentionRollout
            || layers
                .layers
                .iter()
                .any(explain_core::onnx::layers::is_attention)
    }
}
