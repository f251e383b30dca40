//! `unpic label-issues`: hints of label problems in a labelled set — the images the model
//! confidently puts in another class, and near-duplicate pairs by the cosine similarity of the
//! penultimate layer's features — from one pass over the set.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use explain_core::data::prepare_batch;
use explain_core::metrics::Evaluation;
use explain_core::metrics::label_issues::{DuplicateFinder, confidently_wrong};
use explain_core::model::check_scores;

use crate::eval::open_source;
use crate::input_args::load_classifier;
use crate::preprocess_args::PreprocessArgs;
use crate::progress::Bar;

#[derive(Args, Debug)]
pub struct LabelIssuesArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// A folder with one subfolder of images per class, or a .zip of such a folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Class names of the model (one per line, or a JSON array): folders are matched to them.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// The features compared for near-duplicates (default: the penultimate layer).
    #[arg(long)]
    pub layer: Option<String>,
    /// Wrong predictions at least this probable are listed.
    #[arg(long, default_value_t = 0.5)]
    pub min_probability: f32,
    /// Pairs at least this similar (cosine of the features) are near-duplicates.
    #[arg(long, default_value_t = 0.99)]
    pub similarity: f32,
    /// At most this many pairs, the most similar.
    #[arg(long, default_value_t = 1000)]
    pub max_pairs: usize,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64, value_parser = crate::input_args::parse_batch)]
    pub batch: usize,
    /// Print JSON (`{"layer", "confidently_wrong": [{"path", "label", "predicted",
    /// "probability"}], "near_duplicates": [{"a", "b", "similarity"}]}`).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

pub fn run(args: LabelIssuesArgs) -> Result<()> {
    let classifier = load_classifier(
        &args.model,
        args.labels.as_ref(),
        args.preprocess.model_size()?,
    )?;
    let layer = match &args.layer {
        Some(l) => l.clone(),
        None => classifier.layer_table().penultimate().context(
            "the model has no vector layer before its scores: give --layer (see unpic layers)",
        )?,
    };
    let mut source = open_source(&args.data)?;
    let dataset = source.dataset().clone();
    let labels = args.labels.as_ref().map(|_| classifier.labels().to_vec());
    let model_class = dataset.model_classes(labels.as_deref(), classifier.num_classes())?;
    let names = if args.labels.is_some() {
        classifier.labels().to_vec()
    } else {
        dataset.class_names(&model_class, classifier.labels())
    };
    let pre = args.preprocess.resolve(classifier.input())?;
    let mut evaluation = Evaluation::new(names);
    let mut duplicates = DuplicateFinder::new(args.similarity, args.max_pairs);
    let mut bar = Bar::new("label-issues", dataset.items.len());
    let k = classifier.num_classes();
    for chunk in dataset.items.chunks(args.batch.max(1)) {
        let batch = prepare_batch(source.as_mut(), chunk, &pre)?;
        for skipped in &batch.skipped {
            bar.warn(&format!("skipped: {}", skipped.reason));
        }
        if !batch.kept.is_empty() {
            let kept: Vec<_> = batch.kept.iter().map(|&i| &chunk[i]).collect();
            let x = classifier.batch(batch.data, kept.len())?;
            let forward = classifier.forward(x, &[layer.as_str()])?;
            let logits = forward.logits.to_vec()?;
            check_scores(&logits, k, |i| format!("'{}'", kept[i].path))?;
            let features = forward.taps[0].to_vec()?;
            let dim = features.len() / kept.len();
            for ((item, row), f) in kept
                .iter()
                .zip(logits.chunks(k))
                .zip(features.chunks(dim.max(1)))
            {
                evaluation.add(&item.path, model_class[item.label], row);
                duplicates.push(&item.path, f)?;
            }
        }
        bar.advance(chunk.len());
    }
    bar.finish();
    let wrong = confidently_wrong(&evaluation, args.min_probability);
    let pairs = duplicates.finish();
    if args.json {
        let json = serde_json::json!({
            "layer": layer,
            "confidently_wrong": wrong,
            "near_duplicates": pairs,
        });
        println!("{json}");
    } else {
        println!(
            "confidently wrong ({} images, most confident first):",
            wrong.len()
        );
        for w in &wrong {
            println!(
                "{:>6.1} %  {}  labelled {}, predicted {}",
                100.0 * w.probability,
                w.path,
                evaluation.classes[w.label],
                evaluation.classes[w.predicted]
            );
        }
        println!("near-duplicates at {layer} ({} pairs):", pairs.len());
        for p in &pairs {
            println!("{:.4}  {}  {}", p.similarity, p.a, p.b);
        }
    }
    Ok(())
}
