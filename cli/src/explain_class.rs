//! `unpic explain-class`: one method's maps over a class, a confusion cell, or everything
//! predicted as a class, averaged at the network's input size, with the mean deletion and
//! insertion areas: what the model looks at for that class across the set.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use explain_core::Score;
use explain_core::data::prepare_batch;
use explain_core::explain::class_average::ClassMaps;
use explain_core::explain::{Progress, Target};
use explain_core::metrics::evaluation::argmax;
use explain_core::metrics::faithfulness::{area_under_curve, score_map};
use explain_core::model::check_scores;
use explain_core::npy::write_f32;
use explain_core::onnx::FloatValue;
use explain_core::render::normalise;

use crate::eval::open_source;
use crate::explain::{MAP_AT_LAYER_SIZE, MethodArgs, ScoreArg, method_of};
use crate::input_args::load_classifier;
use crate::preprocess_args::PreprocessArgs;
use crate::progress::Bar;

#[derive(Args, Debug)]
pub struct ExplainClassArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// A folder with one subfolder of images per class, or a .zip of such a folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Class names of the model (one per line, or a JSON array): folders are matched to them.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// The images labelled with this class (a model class index).
    #[arg(long)]
    pub class: Option<usize>,
    /// The images predicted as this class (with --class: one cell of the confusion matrix).
    #[arg(long)]
    pub predicted: Option<usize>,
    /// At most this many images, in set order.
    #[arg(long, default_value_t = 500)]
    pub max_images: usize,
    #[command(flatten)]
    pub how: MethodArgs,
    /// Differentiate the raw output (logit) or its softmax probability.
    #[arg(long, value_enum, default_value = "logit")]
    pub score: ScoreArg,
    /// Where to write the average map (float32 .npy, one image's map shape).
    #[arg(long)]
    pub out: PathBuf,
    /// Print `{"class", "predicted", "target", "images", "paths", "deletion_auc",
    /// "insertion_auc", "out"}` (the areas averaged over the images).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

pub fn run(args: ExplainClassArgs) -> Result<()> {
    if args.class.is_none() && args.predicted.is_none() {
        bail!("give --class K (images labelled K), --predicted K (images predicted as K), or both");
    }
    let classifier = load_classifier(
        &args.model,
        args.labels.as_ref(),
        args.preprocess.model_size()?,
    )?;
    let k = classifier.num_classes();
    for c in [args.class, args.predicted].into_iter().flatten() {
        if c >= k {
            bail!(
                "class {c} does not exist: the model has {k} classes (0 to {})",
                k - 1
            );
        }
    }
    // The class explained: the prediction when images are chosen by it (why did the model say
    // K2?), else the label.
    let target = Target {
        class: args.predicted.or(args.class).unwrap_or_default(),
        score: match args.score {
            ScoreArg::Logit => Score::Logit,
            ScoreArg::Probability => Score::Probability,
        },
    };
    let spec = classifier.input().clone();
    let method = method_of(&args.how, &spec)?;
    let mut source = open_source(&args.data)?;
    let dataset = source.dataset().clone();
    let labels = args.labels.as_ref().map(|_| classifier.labels().to_vec());
    let model_class = dataset.model_classes(labels.as_deref(), k)?;
    let pre = args.preprocess.resolve(&spec)?;
    let candidates: Vec<_> = dataset
        .items
        .iter()
        .filter(|item| args.class.is_none_or(|c| model_class[item.label] == c))
        .cloned()
        .collect();
    let mut maps = ClassMaps::default();
    let mut paths = Vec::new();
    let mut bar = Bar::new("explain-class", candidates.len());
    for chunk in candidates.chunks(64) {
        if paths.len() >= args.max_images {
            break;
        }
        let batch = prepare_batch(source.as_mut(), chunk, &pre)?;
        for skipped in &batch.skipped {
            bar.warn(&format!("skipped: {}", skipped.reason));
        }
        if batch.kept.is_empty() {
            bar.advance(chunk.len());
            continue;
        }
        let x = classifier.batch(batch.data.clone(), batch.kept.len())?;
        let logits = classifier.logits(x)?.to_vec()?;
        check_scores(&logits, k, |i| format!("'{}'", chunk[batch.kept[i]].path))?;
        let image_len = spec.image_len();
        for (j, (&i, row)) in batch.kept.iter().zip(logits.chunks(k)).enumerate() {
            if args.predicted.is_some_and(|p| argmax(row) != p) || paths.len() >= args.max_images {
                continue;
            }
            let image = FloatValue::from_vec(
                batch.data[j * image_len..(j + 1) * image_len].to_vec(),
                &spec.batch_shape(1),
                classifier.graph().device(),
            )?;
            let progress: &mut dyn Progress = &mut explain_core::explain::Silent;
            let map = method.run(&classifier, &image, target, progress)?;
            let dims = map.dims();
            let values = map.to_vec()?;
            let (shown, del, ins) =
                score_map(&classifier, &image, target, &values, &dims, method.signed())
                    .context(MAP_AT_LAYER_SIZE)?;
            let areas = (
                area_under_curve(&FloatValue::from_tensor(del).to_vec()?),
                area_under_curve(&FloatValue::from_tensor(ins).to_vec()?),
            );
            maps.push(
                &values,
                &dims,
                &normalise(&shown, method.signed()),
                target.class,
                areas,
            )?;
            paths.push(chunk[i].path.clone());
        }
        bar.advance(chunk.len());
    }
    bar.finish();
    if paths.is_empty() {
        bail!("no image of the set is {}", selection(&args));
    }
    std::fs::write(&args.out, write_f32(&maps.raw.mean(), maps.raw.dims())?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let areas = maps
        .faithfulness()
        .pop()
        .context("no image was explained")?;
    eprintln!(
        "{:?} of class {} averaged over {} images ({}) -> {}",
        args.how.method,
        target.class,
        paths.len(),
        selection(&args),
        args.out.display()
    );
    if args.json {
        let json = serde_json::json!({
            "class": args.class,
            "predicted": args.predicted,
            "target": target.class,
            "images": paths.len(),
            "paths": paths,
            "deletion_auc": areas.deletion_auc,
            "insertion_auc": areas.insertion_auc,
            "dims": maps.raw.dims(),
            "out": args.out.display().to_string(),
        });
        println!("{json}");
    }
    Ok(())
}

fn selection(args: &ExplainClassArgs) -> String {
    match (args.class, args.predicted) {
        (Some(c), Some(p)) => format!("labelled {c} and predicted {p}"),
        (Some(c), None) => format!("labelled {c}"),
        (None, Some(p)) => format!("predicted {p}"),
        (None, None) => "chosen".into(),
    }
}
