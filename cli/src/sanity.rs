//! `unpic sanity`: does a method's map depend on the model? The model-parameter randomisation
//! check of Adebayo et al. (2018), cascading from the output layer down (or each layer alone),
//! with each step's similarity to the original map and a verdict.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use explain_core::metrics::sanity::{Randomisation, SanitySettings, sanity_check};
use explain_core::npy::write_f32;
use explain_core::render::{ColourMap, heatmap, normalise, png};

use crate::explain::{MethodArgs, TargetArgs, method_of};
use crate::input_args::{InputArgs, load_classifier};
use crate::progress::Bar;

#[derive(Args, Debug)]
pub struct SanityArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub how: MethodArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Scramble each layer alone instead of cascading from the top layer down.
    #[arg(long)]
    pub independent: bool,
    /// At most this many steps (consecutive layers are scrambled together); default: one step
    /// per layer with weights.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Seeds the scrambled weights.
    #[arg(long, default_value_t = 0)]
    pub randomisation_seed: u64,
    /// Write each step's map here: `step_00.npy` (the original) to `step_NN.npy`, magnitudes
    /// `[H, W]`, and a PNG of each.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the check as one JSON object (method, steps with their similarities, verdict).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SanityArgs) -> Result<()> {
    if args.max_steps == Some(0) {
        bail!("--max-steps must be at least 1");
    }
    let classifier = load_classifier(&args.model, None, args.input.model_size()?)?;
    let (image, n) = args.input.load(&classifier)?;
    if n != 1 {
        bail!("sanity takes one image; the input holds {n}");
    }
    let target = args.target.resolve(&classifier, &image)?;
    let method = method_of(&args.how, classifier.input())?;
    let settings = SanitySettings {
        randomisation: if args.independent {
            Randomisation::Independent
        } else {
            Randomisation::Cascade
        },
        seed: args.randomisation_seed,
        max_steps: args.max_steps,
    };
    let mut bar = Bar::new(&format!("sanity {}", method.label()), 1);
    let mut progress = |done: usize, total: usize| {
        bar.set_total(total);
        bar.set(done);
        true
    };
    let run = sanity_check(
        &classifier,
        &image,
        target,
        &method,
        &settings,
        &mut progress,
    )?;
    bar.finish();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (i, plane) in run.planes.iter().enumerate() {
            let path = dir.join(format!("step_{i:02}"));
            std::fs::write(
                path.with_extension("npy"),
                write_f32(&plane.values, &[plane.height, plane.width])?,
            )
            .with_context(|| format!("cannot write {}", path.display()))?;
            let rgba = heatmap(&normalise(&plane.values, false), ColourMap::Viridis);
            std::fs::write(
                path.with_extension("png"),
                png(&rgba, plane.width, plane.height)?,
            )
            .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    let report = &run.report;
    for (i, step) in report.steps.iter().enumerate() {
        eprintln!(
            "step {:>2}: {:>3} layer(s) scrambled (last {}): spearman {:.3}, ssim {:.3}, top-10% overlap {:.2}",
            i + 1,
            step.randomised.len(),
            step.randomised.last().map_or("", String::as_str),
            step.spearman,
            step.ssim,
            step.top_k_overlap
        );
    }
    eprintln!("{}: {}", method.label(), report.explanation);
    if args.json {
        println!("{}", serde_json::to_string(report)?);
    }
    Ok(())
}
