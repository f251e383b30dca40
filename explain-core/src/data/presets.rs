//! The common input conventions a classifier is trained with, and the preprocessing each one
//! means for a model's input. The page's preset menu, the CLI's `--preset` and the preprocessing
//! checker all use these.

use serde::{Deserialize, Serialize};

use super::preprocess::Preprocess;
use crate::model::InputSpec;

/// Common input conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preset {
    /// pixels / 255 -> [0, 1] (most small PyTorch and Keras models).
    Unit,
    /// [0, 1] then ImageNet mean/std (torchvision, timm).
    Imagenet,
    /// raw 0..255 (normalisation inside the model).
    Raw,
    /// [-1, 1]: (pixels / 255 - 0.5) / 0.5 (Keras mobilenet-style, mini-Xception).
    Symmetric,
}

impl Preset {
    pub const ALL: [Preset; 4] = [
        Preset::Unit,
        Preset::Imagenet,
        Preset::Raw,
        Preset::Symmetric,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Preset::Unit => "unit",
            Preset::Imagenet => "imagenet",
            Preset::Raw => "raw",
            Preset::Symmetric => "symmetric",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::Unit => "[0, 1] (pixel / 255)",
            Preset::Imagenet => "ImageNet mean/std",
            Preset::Raw => "raw 0-255",
            Preset::Symmetric => "[-1, 1]",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }

    /// The preprocessing of this preset for a model's input.
    pub fn apply(self, input: &InputSpec) -> Preprocess {
        let unit = Preprocess::unit_range(input);
        match self {
            Preset::Unit => unit,
            Preset::Imagenet if input.channels == 3 => Preprocess::imagenet(input),
            // ImageNet statistics for a grey network: the mean of the three channels.
            Preset::Imagenet => Preprocess {
                mean: vec![0.449],
                std: vec![0.226],
                ..unit
            },
            Preset::Raw => Preprocess { scale: 1.0, ..unit },
            Preset::Symmetric => Preprocess {
                mean: vec![0.5],
                std: vec![0.5],
                ..unit
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layout;

    fn input(channels: usize) -> InputSpec {
        InputSpec {
            name: "x".into(),
            channels,
            height: 8,
            width: 8,
            layout: Layout::Nchw,
            any_size: false,
        }
    }

    #[test]
    fn presets_keep_the_model_geometry() {
        for preset in Preset::ALL {
            let p = preset.apply(&input(3));
            assert_eq!((p.channels, p.height, p.width), (3, 8, 8));
            assert!(p.validate().is_ok(), "{preset:?}");
            assert_eq!(Preset::from_key(preset.key()), Some(preset));
        }
    }

    #[test]
    fn imagenet_on_a_grey_network_uses_one_channel() {
        let p = Preset::Imagenet.apply(&input(1));
        assert_eq!(p.mean.len(), 1);
        assert!(p.validate().is_ok());
    }
}
