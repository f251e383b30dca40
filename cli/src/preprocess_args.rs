//! The preprocessing flags shared by every command that reads images.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use explain_core::InputSpec;
use explain_core::data::Preprocess;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Preset {
    /// pixel / 255
    Unit,
    /// pixel / 255, then ImageNet mean/std
    Imagenet,
    /// raw 0..255 (normalisation inside the model)
    Raw,
    /// [-1, 1]: (pixel / 255 - 0.5) / 0.5
    Symmetric,
}

impl Preset {
    /// The engine's preset of this name.
    pub fn core(self) -> explain_core::data::Preset {
        use explain_core::data::Preset as Core;
        match self {
            Preset::Unit => Core::Unit,
            Preset::Imagenet => Core::Imagenet,
            Preset::Raw => Core::Raw,
            Preset::Symmetric => Core::Symmetric,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct PreprocessArgs {
    /// Starting point for scale/mean/std.
    #[arg(long, value_enum, default_value = "unit")]
    pub preset: Preset,
    /// Input size as HxW (default: the model's). A model that takes any image size runs at it.
    #[arg(long)]
    pub size: Option<String>,
    /// 1 (grey) or 3 (RGB) (default: the model's).
    #[arg(long)]
    pub channels: Option<usize>,
    /// Multiplier for raw 0..255 pixels.
    #[arg(long)]
    pub scale: Option<f32>,
    /// Mean subtracted after scaling: one value or one per channel, comma separated.
    #[arg(long)]
    pub mean: Option<String>,
    /// Std divided after the mean: one value or one per channel, comma separated.
    #[arg(long)]
    pub std: Option<String>,
}

fn floats(text: &str, what: &str) -> Result<Vec<f32>> {
    text.split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--{what} must be comma-separated numbers, got '{text}'"))
}

impl PreprocessArgs {
    /// `--size HxW`, with where it came from (a model that takes any size runs at it).
    pub fn model_size(&self) -> Result<Option<([usize; 2], &'static str)>> {
        let Some(size) = &self.size else {
            return Ok(None);
        };
        let Some((h, w)) = size.split_once(['x', 'X']) else {
            bail!("--size must look like 224x224, got '{size}'");
        };
        let h = h.trim().parse().context("--size height")?;
        let w = w.trim().parse().context("--size width")?;
        Ok(Some(([h, w], "--size")))
    }

    pub fn resolve(&self, input: &InputSpec) -> Result<Preprocess> {
        let mut p = self.preset.core().apply(input);
        if let Some(([h, w], _)) = self.model_size()? {
            p.height = h;
            p.width = w;
        }
        if let Some(c) = self.channels {
            p.channels = c;
        }
        if let Some(s) = self.scale {
            p.scale = s;
        }
        if let Some(m) = &self.mean {
            p.mean = floats(m, "mean")?;
        }
        if let Some(s) = &self.std {
            p.std = floats(s, "std")?;
        }
        p.check_fits(input)
            .context("drop --size/--channels to use the model's input size")?;
        p.validate()?;
        Ok(p)
    }
}
