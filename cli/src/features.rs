//! `unpic tsne`, `unpic max-activations`, `unpic deep-dream`: the dataset-level feature views.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use explain_core::data::prepare_batch;
use explain_core::embed::tsne::{TsneMethod, TsneSettings, tsne};
use explain_core::embed::umap::{UmapRun, UmapSettings};
use explain_core::explain::Progress;
use explain_core::features::deep_dream::{DeepDream, deep_dream, grey_start};
use explain_core::features::max_activations::{TopImages, channel_means};
use explain_core::npy::{read_f32, write_f32};
use explain_core::onnx::FloatValue;
use explain_core::render::png;
use serde_json::json;

use crate::eval::open_source;
use crate::input_args::{load_classifier, read};
use crate::preprocess_args::PreprocessArgs;
use crate::progress::Bar;

/// A model, a data set and a layer: what the dataset-wide feature commands share.
#[derive(Args, Debug)]
pub struct LayerData {
    /// The ONNX model.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A folder of class folders, or a .zip of one.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The layer (a name from `unpic layers`).
    #[arg(long)]
    pub layer: Option<String>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64, value_parser = crate::input_args::parse_batch)]
    pub batch: usize,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

impl LayerData {
    fn classifier(&self) -> Result<(explain_core::Classifier, String)> {
        let (Some(model), Some(layer)) = (&self.model, &self.layer) else {
            bail!("give --model, --data and --layer");
        };
        let size = self.preprocess.model_size()?;
        Ok((load_classifier(model, None, size)?, layer.clone()))
    }

    /// Streams the set through the model; `sink` gets (the batch's first index among the images
    /// read, its activations at the layer, its size). Returns the set of the images read (a
    /// damaged one is skipped with a warning).
    fn stream(
        &self,
        classifier: &explain_core::Classifier,
        what: &str,
        mut sink: impl FnMut(usize, &[f32], usize) -> Result<()>,
    ) -> Result<explain_core::data::Dataset> {
        let (Some(data), Some(layer)) = (&self.data, &self.layer) else {
            bail!("give --model, --data and --layer");
        };
        let mut source = open_source(data)?;
        let mut dataset = source.dataset().clone();
        let pre = self.preprocess.resolve(classifier.input())?;
        let mut bar = Bar::new(what, dataset.items.len());
        let mut kept = Vec::with_capacity(dataset.items.len());
        for chunk in dataset.items.chunks(self.batch.max(1)) {
            let batch = prepare_batch(source.as_mut(), chunk, &pre)?;
            for skipped in &batch.skipped {
                bar.warn(&format!("skipped: {}", skipped.reason));
            }
            if !batch.kept.is_empty() {
                let x = classifier.batch(batch.data, batch.kept.len())?;
                let acts = classifier.forward(x, &[layer.as_str()])?.taps[0].to_vec()?;
                sink(kept.len(), &acts, batch.kept.len())?;
                kept.extend(batch.kept.iter().map(|&i| chunk[i].clone()));
            }
            bar.advance(chunk.len());
        }
        bar.finish();
        dataset.items = kept;
        Ok(dataset)
    }
}

#[derive(Args, Debug)]
pub struct TsneArgs {
    /// Features already computed: a float32 .npy of shape [N, D] (instead of --model/--data).
    #[arg(long)]
    pub features: Option<PathBuf>,
    #[command(flatten)]
    pub source: LayerData,
    #[arg(long, default_value_t = 30.0)]
    pub perplexity: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Force the exact method (default: exact up to 2,000 points, Barnes-Hut above).
    #[arg(long)]
    pub exact: bool,
    /// UMAP instead of t-SNE (15 neighbours, min_dist 0.1: umap-learn's defaults); --seed applies.
    #[arg(long, conflicts_with_all = ["exact", "perplexity"])]
    pub umap: bool,
    /// Where to write the [N, 2] embedding (.npy).
    #[arg(long)]
    pub out: PathBuf,
    /// Also save the features (the layer's activations, [N, D]) as .npy.
    #[arg(long)]
    pub save_features: Option<PathBuf>,
    /// Print JSON: points with path, label, and the final KL.
    #[arg(long)]
    pub json: bool,
}

pub fn tsne_run(args: TsneArgs) -> Result<()> {
    let (features, n, d, paths, labels) = match &args.features {
        Some(path) => {
            let t = read_f32(&read(path)?, &path.display().to_string())?;
            let [n, d] = t.shape[..] else {
                bail!("{} must be [N, D]; it is {:?}", path.display(), t.shape);
            };
            (t.data, n, d, Vec::new(), Vec::new())
        }
        None => {
            let mut all = Vec::new();
            let (classifier, _) = args.source.classifier()?;
            let dataset = args.source.stream(&classifier, "features", |_, acts, _| {
                all.extend_from_slice(acts);
                Ok(())
            })?;
            let n = dataset.items.len();
            let d = all.len() / n.max(1);
            let paths: Vec<String> = dataset.items.iter().map(|i| i.path.clone()).collect();
            let labels: Vec<usize> = dataset.items.iter().map(|i| i.label).collect();
            (all, n, d, paths, labels)
        }
    };
    if let Some(path) = &args.save_features {
        std::fs::write(path, write_f32(&features, &[n, d])?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.umap {
        return umap_run(&args, &features, n, d, &paths, &labels);
    }
    let settings = TsneSettings {
        perplexity: args.perplexity,
        seed: args.seed,
        method: if args.exact {
            TsneMethod::Exact
        } else {
            TsneMethod::Auto
        },
        ..TsneSettings::default()
    };
    let mut bar = Bar::new("t-SNE", 1);
    let mut progress = |done: usize, total: usize| {
        bar.set_total(total);
        bar.set(done);
        true
    };
    let start = std::time::Instant::now();
    let embedding = tsne(
        &features,
        n,
        d,
        &settings,
        &mut progress as &mut dyn Progress,
    )?;
    bar.finish();
    let flat: Vec<f32> = embedding
        .points
        .iter()
        .flat_map(|p| [p[0] as f32, p[1] as f32])
        .collect();
    std::fs::write(&args.out, write_f32(&flat, &[n, 2])?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let summary = json!({
        "points": n,
        "dimensions": d,
        "kl": embedding.kl,
        "exact": embedding.exact,
        "seconds": start.elapsed().as_secs_f64(),
        "files": paths.iter().zip(&labels).zip(&embedding.points)
            .map(|((p, l), e)| json!({"path": p, "label": l, "x": e[0], "y": e[1]}))
            .collect::<Vec<_>>(),
    });
    if args.json {
        println!("{summary}");
    } else {
        eprintln!(
            "t-SNE of {n} points ({d}-D): KL {:.4} -> {}",
            embedding.kl,
            args.out.display()
        );
    }
    Ok(())
}

/// `unpic tsne --umap`: the UMAP map of the features, written and summed up as t-SNE's is.
fn umap_run(
    args: &TsneArgs,
    features: &[f32],
    n: usize,
    d: usize,
    paths: &[String],
    labels: &[usize],
) -> Result<()> {
    let settings = UmapSettings {
        seed: args.seed,
        ..UmapSettings::default()
    };
    let start = std::time::Instant::now();
    let mut run = UmapRun::new(features, n, d, &settings)?;
    let mut bar = Bar::new("UMAP", run.total_steps());
    while !run.is_done() {
        run.advance(10);
        bar.set(run.steps_done());
    }
    bar.finish();
    let points = run.points().context("UMAP did not finish")?;
    let flat: Vec<f32> = points
        .iter()
        .flat_map(|p| [p[0] as f32, p[1] as f32])
        .collect();
    std::fs::write(&args.out, write_f32(&flat, &[n, 2])?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let summary = json!({
        "method": "umap",
        "points": n,
        "dimensions": d,
        "seconds": start.elapsed().as_secs_f64(),
        "files": paths.iter().zip(labels).zip(points)
            .map(|((p, l), e)| json!({"path": p, "label": l, "x": e[0], "y": e[1]}))
            .collect::<Vec<_>>(),
    });
    if args.json {
        println!("{summary}");
    } else {
        eprintln!("UMAP of {n} points ({d}-D) -> {}", args.out.display());
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct MaxActivationsArgs {
    #[command(flatten)]
    pub source: LayerData,
    /// Images kept per channel.
    #[arg(long, default_value_t = 9, value_parser = crate::input_args::parse_top)]
    pub top: usize,
    /// Only these channels of the layer, comma-separated (default: all).
    #[arg(long = "only-channels", value_delimiter = ',')]
    pub only_channels: Option<Vec<usize>>,
    #[arg(long)]
    pub json: bool,
}

pub fn max_activations_run(args: MaxActivationsArgs) -> Result<()> {
    let (classifier, layer) = args.source.classifier()?;
    let info = classifier.layer(&layer)?;
    let channels = info.channels().context("the layer has no channel axis")?;
    let channels_last = info.channel_axis == Some(3);
    let mut top = TopImages::new(channels, args.top.max(1));
    let dataset = args
        .source
        .stream(&classifier, "max activations", |start, acts, n| {
            let ids: Vec<usize> = (start..start + n).collect();
            top.add_batch(&ids, &channel_means(acts, n, channels, channels_last));
            Ok(())
        })?;
    let selected: Vec<usize> = args
        .only_channels
        .clone()
        .unwrap_or_else(|| (0..top.best.len()).collect());
    let out: Vec<_> = selected
        .iter()
        .filter_map(|&c| top.best.get(c).map(|list| (c, list)))
        .map(|(c, list)| {
            json!({"channel": c, "images": list.iter().map(|&(score, i)| json!({
                "path": dataset.items[i].path, "class": dataset.classes[dataset.items[i].label], "score": score
            })).collect::<Vec<_>>()})
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for entry in &out {
            println!("channel {}", entry["channel"]);
            for image in entry["images"].as_array().into_iter().flatten() {
                println!(
                    "  {:>10.4}  {}",
                    image["score"].as_f64().unwrap_or(0.0),
                    image["path"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct DeepDreamArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub layer: String,
    /// The channel to excite (default: the whole layer).
    #[arg(long)]
    pub channel: Option<usize>,
    /// Start from this image (default: mid-grey with a little seeded noise).
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    pub iterations: usize,
    #[arg(long, default_value_t = 2)]
    pub levels: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sigma in pixels of the Gaussian blur of each step's gradient (0: none).
    #[arg(long, default_value_t = DeepDream::default().gradient_blur)]
    pub blur: f32,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
    /// The dreamed image (PNG).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn deep_dream_run(args: DeepDreamArgs) -> Result<()> {
    let classifier = load_classifier(&args.model, None, args.preprocess.model_size()?)?;
    let spec = classifier.input().clone();
    let pre = args.preprocess.resolve(&spec)?;
    let start: Vec<f32> = match &args.image {
        Some(path) => {
            pre.prepare_bytes(&read(path)?, &path.display().to_string())?
                .data
        }
        None => grey_start(&pre, args.seed),
    };
    let start = classifier.batch(start, 1)?;
    let settings = DeepDream {
        iterations: args.iterations,
        levels: args.levels,
        seed: args.seed,
        gradient_blur: args.blur,
        ..DeepDream::default()
    };
    let mut bar = Bar::new("deep dream", args.iterations * args.levels);
    let mut progress = |done: usize, _: usize| {
        bar.set(done);
        true
    };
    let dreamed: FloatValue = deep_dream(
        &classifier,
        &args.layer,
        args.channel,
        &start,
        &settings,
        &mut progress,
    )?;
    bar.finish();
    let mut chw = dreamed.to_vec()?;
    if spec.layout == explain_core::Layout::Nhwc {
        chw = explain_core::model::hwc_to_chw(&chw, spec.channels);
    }
    std::fs::write(&args.out, png(&pre.to_rgba(&chw), spec.width, spec.height)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("deep dream of {} -> {}", args.layer, args.out.display());
    Ok(())
}
