//! `unpic report`: a labelled set evaluated and, for each `--pin` image, the method's map over
//! it, written as one self-contained HTML file (explain-core's `render::report`: the same
//! report the app downloads), with the session's settings and predictions inside it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use explain_core::Score;
use explain_core::explain::{Silent, Target};
use explain_core::metrics::diagnostics::diagnose;
use explain_core::metrics::evaluation::argmax;
use explain_core::metrics::faithfulness::{area_under_curve, score_map};
use explain_core::onnx::FloatValue;
use explain_core::render::report::{PinnedMap, Report, render_html};
use explain_core::render::{ColourMap, normalise, overlay, png};

use crate::eval::{evaluate, open_source};
use crate::explain::{MAP_AT_LAYER_SIZE, MethodArgs, method_of};
use crate::input_args::load_classifier;
use crate::preprocess_args::PreprocessArgs;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// A folder with one subfolder of images per class, or a .zip of such a folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Class names of the model (one per line, or a JSON array): folders are matched to them.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64, value_parser = crate::input_args::parse_batch)]
    pub batch: usize,
    /// An image to explain in the report (its top class), as many times as wanted.
    #[arg(long)]
    pub pin: Vec<PathBuf>,
    #[command(flatten)]
    pub how: MethodArgs,
    /// Where to write the report (.html).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let classifier = load_classifier(
        &args.model,
        args.labels.as_ref(),
        args.preprocess.model_size()?,
    )?;
    let spec = classifier.input().clone();
    let pre = args.preprocess.resolve(&spec)?;
    let mut source = open_source(&args.data)?;
    let evaluation = evaluate(
        &classifier,
        source.as_mut(),
        args.labels.is_some(),
        &pre,
        args.batch,
        "report",
    )?;
    let method = method_of(&args.how, &spec)?;
    let signed = method.signed();
    let colours = if signed {
        ColourMap::Diverging
    } else {
        ColourMap::Viridis
    };
    let mut pinned = Vec::new();
    for path in &args.pin {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        let prepared = pre.prepare_bytes(&bytes, &name)?;
        let image = classifier.batch(prepared.data.clone(), 1)?;
        let logits = classifier.logits(image.clone())?.to_vec()?;
        let target = Target {
            class: argmax(&logits),
            score: Score::Logit,
        };
        let map = method.run(&classifier, &image, target, &mut Silent)?;
        let dims = map.dims();
        let values = map.to_vec()?;
        let (ranking, deletion, insertion) =
            score_map(&classifier, &image, target, &values, &dims, signed)
                .context(MAP_AT_LAYER_SIZE)?;
        let rgba = overlay(&prepared.rgba, &normalise(&ranking, signed), colours, 0.5);
        let layer = match &method {
            explain_core::explain::Method::Cam {
                layer: Some(layer), ..
            } => format!(" at {layer}"),
            _ => String::new(),
        };
        pinned.push(PinnedMap {
            image: name,
            png: png(&rgba, spec.width, spec.height)?,
            settings: format!(
                "{}{layer} of '{}' (logit)",
                method.label(),
                classifier.labels()[target.class]
            ),
            deletion_auc: Some(area_under_curve(
                &FloatValue::from_tensor(deletion).to_vec()?,
            )),
            insertion_auc: Some(area_under_curve(
                &FloatValue::from_tensor(insertion).to_vec()?,
            )),
            diagnostics: diagnose(&values)
                .into_iter()
                .map(|d| format!("{}. Try: {}", d.message, d.advice))
                .collect(),
        });
    }
    let dataset = source.dataset();
    let session = serde_json::json!({
        "app": "unpic (CLI)",
        "version": env!("CARGO_PKG_VERSION"),
        "model": {"name": args.model.display().to_string(), "input": spec, "labels": classifier.labels()},
        "dataset": {"name": args.data.display().to_string(), "classes": dataset.classes, "images": dataset.items.len()},
        "preprocessing": pre,
        "method": format!("{:?}", args.how.method),
        "pinned": pinned,
        "evaluation": {
            "accuracy": evaluation.accuracy(),
            "per_class": evaluation.per_class(),
            "classes": evaluation.classes,
            "confusion": evaluation.confusion,
            "files": evaluation.files,
        },
    });
    let report = Report {
        made_by: format!("unpic {} (command line)", env!("CARGO_PKG_VERSION")),
        model: vec![
            ("File".into(), args.model.display().to_string()),
            (
                "Input".into(),
                format!(
                    "{} channel(s), {}x{} ({:?})",
                    spec.channels, spec.width, spec.height, spec.layout
                ),
            ),
            ("Classes".into(), classifier.num_classes().to_string()),
            ("Nodes".into(), classifier.graph().node_count().to_string()),
        ],
        dataset: vec![
            ("Images".into(), args.data.display().to_string()),
            (
                "Count".into(),
                format!(
                    "{} images in {} class folders",
                    dataset.items.len(),
                    dataset.classes.len()
                ),
            ),
            (
                "Preprocessing".into(),
                format!(
                    "x = (pixel x {} - mean {:?}) / std {:?}",
                    pre.scale, pre.mean, pre.std
                ),
            ),
        ],
        evaluation: Some(evaluation),
        pinned,
        session_json: serde_json::to_string_pretty(&session)?,
    };
    std::fs::write(&args.out, render_html(&report))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "report with {} pinned map(s) -> {}",
        report.pinned.len(),
        args.out.display()
    );
    Ok(())
}
