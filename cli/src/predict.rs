//! `unpic predict`: scores and top classes for one image or a preprocessed tensor.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use explain_core::model::parse_labels;
use explain_core::npy::read_f32;
use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device, Prediction};
use serde_json::json;

use crate::preprocess_args::PreprocessArgs;

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// A float32 .npy tensor already preprocessed, shaped as the model's input.
    #[arg(long, conflicts_with = "image", required_unless_present = "image")]
    pub input: Option<PathBuf>,
    /// An image file (PNG, JPEG, ...), preprocessed with the flags below.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Class names: one per line, or a JSON array.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// How many top classes to list.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

fn read(path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Loads the model (and labels) on the CPU.
pub fn load_classifier(model: &PathBuf, labels: Option<&PathBuf>) -> Result<Classifier> {
    let mut classifier = Classifier::from_bytes(&read(model)?, &Device::flex())
        .with_context(|| format!("{}", model.display()))?;
    if let Some(path) = labels {
        let text = String::from_utf8(read(path)?).context("the labels file is not UTF-8 text")?;
        classifier.set_labels(parse_labels(&text)?)?;
    }
    Ok(classifier)
}

pub fn run(args: PredictArgs) -> Result<()> {
    let classifier = load_classifier(&args.model, args.labels.as_ref())?;
    let device = classifier.graph().device().clone();
    let (batch, n) = match (&args.input, &args.image) {
        (Some(path), _) => {
            let t = read_f32(&read(path)?, &path.display().to_string())?;
            let n = t.shape.first().copied().unwrap_or(0);
            (FloatValue::from_vec(t.data, &t.shape, &device)?, n)
        }
        (None, Some(path)) => {
            let pre = args.preprocess.resolve(classifier.input())?;
            let image = pre.prepare_bytes(&read(path)?, &path.display().to_string())?;
            for note in &image.notes {
                eprintln!("note: {note}");
            }
            (classifier.batch(image.data, 1)?, 1)
        }
        (None, None) => bail!("give --input X.npy or --image FILE"),
    };
    let logits = classifier.logits(batch)?;
    let predictions = classifier.predictions(&logits.to_vec()?, args.top);
    debug_assert_eq!(predictions.len(), n);
    if args.json {
        println!("{}", serde_json::to_string(&to_json(&predictions))?);
    } else {
        print_table(&predictions);
    }
    Ok(())
}

/// `{"logits": [[..]], "probabilities": [[..]], "top": [..]}`; `top` is the list of the one image,
/// or one list per image for a batch.
fn to_json(predictions: &[Prediction]) -> serde_json::Value {
    let top = match predictions {
        [one] => json!(one.top),
        many => json!(many.iter().map(|p| &p.top).collect::<Vec<_>>()),
    };
    json!({
        "logits": predictions.iter().map(|p| &p.logits).collect::<Vec<_>>(),
        "probabilities": predictions.iter().map(|p| &p.probabilities).collect::<Vec<_>>(),
        "top": top,
    })
}

fn print_table(predictions: &[Prediction]) {
    for (i, p) in predictions.iter().enumerate() {
        if predictions.len() > 1 {
            println!("image {i}");
        }
        for c in &p.top {
            println!("{:>8.4}  {:>4}  {}", c.probability, c.class, c.label);
        }
    }
}
