//! `unpic check-preprocessing`: tries every common preprocessing (each preset, and BGR order for
//! colour models) on a sample of a labelled set and says when another one scores clearly better
//! than the one given, or when all of them score near chance (a labels problem).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use explain_core::data::prepare_batch;
use explain_core::data::preprocess_check::{
    Candidate, CandidateScore, advise, raw_pixels, right_answers, sample_positions,
};
use explain_core::model::check_scores;

use crate::eval::open_source;
use crate::input_args::load_classifier;
use crate::preprocess_args::Preset;
use crate::progress::Bar;

#[derive(Args, Debug)]
pub struct CheckPreprocessingArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// A folder with one subfolder of images per class, or a .zip of such a folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Class names of the model (one per line, or a JSON array): folders are matched to them.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Images tried, spread evenly over the set.
    #[arg(long, default_value_t = 200)]
    pub sample: usize,
    /// The preprocessing in use, judged against the others.
    #[arg(long, value_enum, default_value = "unit")]
    pub preset: Preset,
    /// Print JSON (`{"presets": [{"name", "accuracy"}], "suggested", "warning", "sample"}`).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CheckPreprocessingArgs) -> Result<()> {
    if args.sample == 0 {
        bail!("--sample must be at least 1");
    }
    let classifier = load_classifier(&args.model, args.labels.as_ref(), None)?;
    let spec = classifier.input().clone();
    let mut source = open_source(&args.data)?;
    let dataset = source.dataset().clone();
    let labels = args.labels.as_ref().map(|_| classifier.labels().to_vec());
    let model_class = dataset.model_classes(labels.as_deref(), classifier.num_classes())?;
    let items: Vec<_> = sample_positions(dataset.items.len(), args.sample)
        .into_iter()
        .map(|i| dataset.items[i].clone())
        .collect();
    // Decoded once, as raw pixels; each candidate is computed from them.
    let batch = prepare_batch(source.as_mut(), &items, &raw_pixels(&spec))?;
    for skipped in &batch.skipped {
        eprintln!("skipped: {}", skipped.reason);
    }
    let kept: Vec<usize> = batch
        .kept
        .iter()
        .map(|&i| model_class[items[i].label])
        .collect();
    if kept.is_empty() {
        bail!("none of the sampled images could be read");
    }
    let candidates = Candidate::all(spec.channels);
    let mut bar = Bar::new("check-preprocessing", candidates.len());
    let mut scores = Vec::with_capacity(candidates.len());
    let k = classifier.num_classes();
    for candidate in &candidates {
        let input = candidate.apply(&batch.data, &spec);
        let mut right = 0;
        for (chunk, truth) in input.chunks(64 * spec.image_len()).zip(kept.chunks(64)) {
            let logits = classifier
                .logits(classifier.batch(chunk.to_vec(), truth.len())?)?
                .to_vec()?;
            check_scores(&logits, k, |i| format!("image {i}"))?;
            right += right_answers(&logits, truth, k);
        }
        scores.push(CandidateScore {
            name: candidate.name(),
            accuracy: right as f64 / kept.len() as f64,
        });
        bar.advance(1);
    }
    bar.finish();
    let advice = advise(&scores, args.preset.core().key(), k);
    if args.json {
        let json = serde_json::json!({
            "presets": scores,
            "suggested": advice.suggested,
            "warning": advice.warning,
            "sample": kept.len(),
        });
        println!("{json}");
    } else {
        for s in &scores {
            println!("{:>7.2} %  {}", 100.0 * s.accuracy, s.name);
        }
        println!("on {} images; suggested: {}", kept.len(), advice.suggested);
        if let Some(w) = &advice.warning {
            println!("warning: {w}");
        }
    }
    Ok(())
}
