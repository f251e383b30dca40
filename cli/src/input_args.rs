//! The network input every command takes: a preprocessed `.npy` tensor, or an image file with
//! preprocessing flags.

use std::path::PathBuf;
use std::sync::OnceLock;

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

/// The global `--size`, set once by `main` before any command runs.
static MODEL_SIZE: OnceLock<Option<[usize; 2]>> = OnceLock::new();

pub fn set_model_size(size: Option<[usize; 2]>) {
    let _ = MODEL_SIZE.set(size);
}

/// `--size H,W` (or one number for a square).
pub fn parse_size(text: &str) -> std::result::Result<[usize; 2], String> {
    let parts: Vec<&str> = text.split([',', 'x']).map(str::trim).collect();
    let numbers = parts
        .iter()
        .map(|p| {
            p.parse::<usize>()
                .map_err(|_| format!("'{p}' is not a whole number"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    match numbers.as_slice() {
        [side] => Ok([*side, *side]),
        [h, w] => Ok([*h, *w]),
        _ => Err("give the size as HEIGHT,WIDTH (or one number for a square)".into()),
    }
}

/// Loads the model (and labels) on the CPU.
pub fn load_classifier(model: &PathBuf, labels: Option<&PathBuf>) -> Result<Classifier> {
    load_classifier_at(model, labels, None)
}

/// Like [`load_classifier`]; a model that takes any image size runs at `--size`, else at
/// `fallback_size` (the size of the tensor given), and says which.
pub fn load_classifier_at(
    model: &PathBuf,
    labels: Option<&PathBuf>,
    fallback_size: Option<[usize; 2]>,
) -> Result<Classifier> {
    let chosen = MODEL_SIZE.get().copied().flatten();
    let size = chosen.or(fallback_size);
    let mut classifier = Classifier::from_bytes_at(&read(model)?, &Device::flex(), size)
        .with_context(|| format!("{}", model.display()))?;
    let spec = classifier.input();
    if spec.any_size {
        let source = if chosen.is_some() {
            "--size"
        } else {
            "the --input tensor"
        };
        eprintln!(
            "note: the model takes any image size; running it at {}x{} (from {source})",
            spec.height, spec.width
        );
    }
    if let Some(path) = labels {
        let text = String::from_utf8(read(path)?).context("the labels file is not UTF-8 text")?;
        classifier.set_labels(explain_core::model::parse_labels(&text)?)?;
    }
    Ok(classifier)
}

impl InputArgs {
    /// The height and width of the `--input` tensor, for a model that takes any size.
    pub fn tensor_size(&self) -> Option<[usize; 2]> {
        let path = self.input.as_ref()?;
        let t = read_f32(&std::fs::read(path).ok()?, "").ok()?;
        match t.shape.as_slice() {
            // NCHW with few channels, else NHWC.
            [_, c, h, w] if *c <= 4 => Some([*h, *w]),
            [_, h, w, _] => Some([*h, *w]),
            _ => None,
        }
    }

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
