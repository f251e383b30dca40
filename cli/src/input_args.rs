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

/// `--size HxW` (or `H,W`).
pub fn parse_size(text: &str) -> std::result::Result<[usize; 2], String> {
    let numbers = text
        .split(['x', 'X', ','])
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("'{text}' is not HxW, e.g. 48x192"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    match numbers.as_slice() {
        [h, w] => Ok([*h, *w]),
        _ => Err(format!("'{text}' is not HxW, e.g. 48x192")),
    }
}

/// A count between `min` and `max`, or a message that says the range.
fn bounded(text: &str, min: usize, max: usize, what: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{what} must be a whole number from {min} to {max}; got '{text}'"
        )),
    }
}

/// `--batch`: images per forward pass (each holds its activations in memory).
pub fn parse_batch(text: &str) -> std::result::Result<usize, String> {
    bounded(text, 1, 1024, "the batch")
}

/// `--top`: how many top classes or images to list.
pub fn parse_top(text: &str) -> std::result::Result<usize, String> {
    bounded(text, 1, 100_000, "--top")
}

/// Loads the model (and labels) on the CPU; a model that takes any image size runs at `size` (from
/// `--size`, or the `--input` tensor's), and the user is told which.
pub fn load_classifier(
    model: &PathBuf,
    labels: Option<&PathBuf>,
    size: Option<([usize; 2], &str)>,
) -> Result<Classifier> {
    let mut classifier =
        Classifier::from_bytes_at(&read(model)?, &Device::flex(), size.map(|(s, _)| s))
            .with_context(|| format!("{}", model.display()))?;
    let spec = classifier.input();
    if let (true, Some((_, source))) = (spec.any_size, size) {
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
    /// The size to run a model that takes any size at: `--size`, else the `--input` tensor's.
    pub fn model_size(&self) -> Result<Option<([usize; 2], &'static str)>> {
        if let Some(size) = self.preprocess.model_size()? {
            return Ok(Some(size));
        }
        Ok(self.tensor_size().map(|s| (s, "the --input tensor")))
    }

    /// The height and width of the `--input` tensor.
    fn tensor_size(&self) -> Option<[usize; 2]> {
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
                if let Some(at) = t.data.iter().position(|v| !v.is_finite()) {
                    bail!(
                        "the input '{}' contains NaN or infinite values (the first at index \
                         {at}); a model's scores on it mean nothing. Save finite values",
                        path.display()
                    );
                }
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
