//! The network input every command takes: a preprocessed `.npy` tensor, or an image file with
//! preprocessing flags.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use explain_core::npy::read_f32;
use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device};

use crate::preprocess_args::PreprocessArgs;

#[derive(Args, Debug)]
pub struct InputArgs {
    /// A float32 .npy tensor already preprocessed, shaped as the model's input.
    #[arg(long, conflicts_with = "image", required_unless_present = "image")]
    pub input: Option<PathBuf>,
    /// An image file (PNG, JPEG, ...), preprocessed with the flags below.
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

pub fn read(path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Loads the model (and labels) on the CPU.
pub fn load_classifier(model: &PathBuf, labels: Option<&PathBuf>) -> Result<Classifier> {
    let mut classifier = Classifier::from_bytes(&read(model)?, &Device::flex())
        .with_context(|| format!("{}", model.display()))?;
    if let Some(path) = labels {
        let text = String::from_utf8(read(path)?).context("the labels file is not UTF-8 text")?;
        classifier.set_labels(explain_core::model::parse_labels(&text)?)?;
    }
    Ok(classifier)
}

impl InputArgs {
    /// The batch on the classifier's device and its image count; notes about conversions of
    /// an image go to stderr.
    pub fn load(&self, classifier: &Classifier) -> Result<(FloatValue, usize)> {
        let device = classifier.graph().device().clone();
        match (&self.input, &self.image) {
            (Some(path), _) => {
                let t = read_f32(&read(path)?, &path.display().to_string())?;
                let n = t.shape.first().copied().unwrap_or(0);
                Ok((FloatValue::from_vec(t.data, &t.shape, &device)?, n))
            }
            (None, Some(path)) => {
                let pre = self.preprocess.resolve(classifier.input())?;
                let image = pre.prepare_bytes(&read(path)?, &path.display().to_string())?;
                for note in &image.notes {
                    eprintln!("note: {note}");
                }
                Ok((classifier.batch(image.data, 1)?, 1))
            }
            (None, None) => bail!("give --input X.npy or --image FILE"),
        }
    }
}
