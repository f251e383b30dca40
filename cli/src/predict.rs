//! `unpic predict`: scores and top classes for one image or a preprocessed tensor.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use explain_core::Prediction;
use serde_json::json;

use crate::input_args::{InputArgs, load_classifier};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Class names: one per line, or a JSON array.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// How many top classes to list.
    #[arg(long, default_value_t = 5, value_parser = crate::input_args::parse_top)]
    pub top: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let classifier = load_classifier(&args.model, args.labels.as_ref(), args.input.model_size()?)?;
    let (batch, n) = args.input.load(&classifier)?;
    let logits = classifier.logits(batch)?;
    let predictions = classifier.predictions(&logits.to_vec()?, args.top)?;
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
