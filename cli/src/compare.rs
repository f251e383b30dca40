//! `unpic compare`: two models on one labelled set — each one's accuracy and per-class
//! accuracy, the disagreement table (both right, only A, only B, both wrong) with McNemar's exact
//! test, and every image's two predictions.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use explain_core::metrics::comparison::{Comparison, compare};

use crate::eval::{evaluate, open_source};
use crate::input_args::load_classifier;
use crate::preprocess_args::{PreprocessArgs, Preset};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Model A.
    #[arg(long)]
    pub model: PathBuf,
    /// Model B (the same classes, in the same order or named by --labels).
    #[arg(long)]
    pub model_b: PathBuf,
    /// A folder with one subfolder of images per class, or a .zip of such a folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Class names of both models (one per line, or a JSON array).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64, value_parser = crate::input_args::parse_batch)]
    pub batch: usize,
    /// Model B's preset (default: model A's); B reads images at its own size and channels.
    #[arg(long, value_enum)]
    pub preset_b: Option<Preset>,
    /// Print JSON (`{"classes", "accuracy_a", "accuracy_b", "per_class", "table",
    /// "mcnemar_p", "mcnemar_test", "files"}`).
    #[arg(long)]
    pub json: bool,
    /// Model A's preprocessing.
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

pub fn run(args: CompareArgs) -> Result<()> {
    let a = load_classifier(
        &args.model,
        args.labels.as_ref(),
        args.preprocess.model_size()?,
    )
    .context("model A")?;
    let b = load_classifier(&args.model_b, args.labels.as_ref(), None).context("model B")?;
    let pre_a = args.preprocess.resolve(a.input())?;
    let pre_b = PreprocessArgs {
        preset: args.preset_b.unwrap_or(args.preprocess.preset),
        size: None,
        channels: None,
        scale: None,
        mean: None,
        std: None,
    }
    .resolve(b.input())?;
    let named = args.labels.is_some();
    let mut source = open_source(&args.data)?;
    let eval_a = evaluate(&a, source.as_mut(), named, &pre_a, args.batch, "model A")?;
    let eval_b = evaluate(&b, source.as_mut(), named, &pre_b, args.batch, "model B")?;
    let comparison = compare(&eval_a, &eval_b)?;
    if args.json {
        let mut json = serde_json::to_value(&comparison)?;
        json["mcnemar_test"] = "exact binomial, two-sided".into();
        println!("{json}");
    } else {
        print_summary(&comparison);
    }
    Ok(())
}

fn print_summary(c: &Comparison) {
    let t = &c.table;
    println!(
        "accuracy  A {:.4}  B {:.4}  on {} images",
        c.accuracy_a,
        c.accuracy_b,
        c.files.len()
    );
    println!(
        "both right {}  only A right {}  only B right {}  both wrong {}",
        t.both_right, t.only_a, t.only_b, t.both_wrong
    );
    println!(
        "McNemar's exact test: p = {:.4}{}",
        c.mcnemar_p,
        if c.mcnemar_p < 0.05 {
            " (the difference is unlikely to be chance)"
        } else {
            " (the difference may be chance)"
        }
    );
    println!("{:>8}  {:>8}  class", "A", "B");
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    for row in &c.per_class {
        println!(
            "{:>8}  {:>8}  {}",
            show(row.accuracy_a),
            show(row.accuracy_b),
            row.class
        );
    }
}
