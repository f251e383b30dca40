//! `unpic explain`: one explanation map of one prediction, as `.npy` (raw values) and
//! optionally a PNG overlay on the image as the network sees it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use explain_core::Score;
use explain_core::explain::grad_cam::CamMethod;
use explain_core::explain::integrated_gradients::{IntegratedGradients, Quadrature};
use explain_core::explain::occlusion::{Occlusion, Recompute};
use explain_core::explain::saliency::SmoothGrad;
use explain_core::explain::{CamConvention, Method as ExplainMethod, Progress, Target, map_chw};
use explain_core::metrics::diagnostics::{diagnose, runner_up, target_insensitivity};
use explain_core::metrics::faithfulness::{area_under_curve, deletion_and_insertion, ranking};
use explain_core::npy::write_f32;
use explain_core::onnx::FloatValue;
use explain_core::render::{ColourMap, map_overlay, png};

use crate::input_args::{InputArgs, load_classifier, read};
use crate::progress::Bar;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Method {
    Saliency,
    GradientXInput,
    Smoothgrad,
    Occlusion,
    Gradcam,
    GradcamPlusPlus,
    Hirescam,
    Layercam,
    Scorecam,
    Ig,
    /// Attention rollout, for vision transformers.
    AttentionRollout,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Convention {
    /// Raw map at the layer's resolution, signed (Captum's LayerGradCam).
    Captum,
    /// ReLU, min-max, bilinear resize to the input (pytorch-grad-cam).
    PytorchGradCam,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScoreArg {
    Logit,
    Probability,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub how: MethodArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Where to write the map (float32 .npy).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the map over the image as a PNG (needs --image).
    #[arg(long)]
    pub png: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "viridis")]
    pub colour_map: ColourArg,
    #[arg(long, default_value_t = 0.5)]
    pub opacity: f32,
    /// Also print the map's deletion and insertion curves and their areas as JSON (Petsiuk et
    /// al. 2018; 20 steps, baseline 0; needs a map at the image's size).
    #[arg(long)]
    pub faithfulness: bool,
    /// Print what was computed as one JSON object: the method, class, map shape and time, the
    /// map's diagnostics (zero, constant, saturated, NaN...: empty when it looks sound), and
    /// with --faithfulness its curves.
    #[arg(long)]
    pub json: bool,
}

/// Which method, with its settings (shared by `explain` and `sanity`).
#[derive(Args, Debug)]
pub struct MethodArgs {
    #[arg(long, value_enum)]
    pub method: Method,
    /// The layer for class activation maps (default: the suggested Grad-CAM layer).
    #[arg(long)]
    pub layer: Option<String>,
    /// Occlusion window `c,h,w` (with --stride; default: from --level).
    #[arg(long, value_delimiter = ',')]
    pub window: Option<Vec<usize>>,
    #[arg(long, value_delimiter = ',')]
    pub stride: Option<Vec<usize>>,
    /// Occlusion: run every occluded copy through the whole network instead of recomputing
    /// only what its window reaches (the same map; for comparison and benchmarks).
    #[arg(long)]
    pub full_recompute: bool,
    /// Occlusion Fast (1) to Detailed (5) preset.
    #[arg(long, default_value_t = 3)]
    pub level: u8,
    /// Occluded value / IG baseline, after preprocessing.
    #[arg(long, default_value_t = 0.0)]
    pub baseline: f32,
    /// Integrated Gradients steps / SmoothGrad samples.
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long, value_enum, default_value = "riemann-trapezoid")]
    pub quadrature: QuadratureArg,
    /// SmoothGrad noise seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// For class activation maps: the map's form.
    #[arg(long, value_enum, default_value = "pytorch-grad-cam")]
    pub convention: Convention,
}

/// Which class score to explain.
#[derive(Args, Debug)]
pub struct TargetArgs {
    /// The class to explain (default: the top prediction).
    #[arg(long)]
    pub target: Option<usize>,
    /// Differentiate the raw output (logit) or its softmax probability.
    #[arg(long, value_enum, default_value = "logit")]
    pub score: ScoreArg,
}

impl TargetArgs {
    /// The class asked for, or the model's top class for `image`.
    pub fn resolve(
        &self,
        classifier: &explain_core::Classifier,
        image: &FloatValue,
    ) -> Result<Target> {
        let class = match self.target {
            Some(k) => k,
            None => {
                let logits = classifier.logits(image.clone())?.to_vec()?;
                explain_core::model::check_scores(&logits, logits.len(), |_| "the image".into())?;
                explain_core::metrics::evaluation::argmax(&logits)
            }
        };
        Ok(Target {
            class,
            score: match self.score {
                ScoreArg::Logit => Score::Logit,
                ScoreArg::Probability => Score::Probability,
            },
        })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum QuadratureArg {
    RiemannTrapezoid,
    GaussLegendre,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ColourArg {
    Viridis,
    Inferno,
    Turbo,
    Jet,
    Diverging,
    Grey,
}

pub fn run(args: ExplainArgs) -> Result<()> {
    let classifier = load_classifier(&args.model, None, args.input.model_size()?)?;
    let (image, n) = args.input.load(&classifier)?;
    if n != 1 {
        bail!("explain takes one image; the input holds {n}");
    }
    let target = args.target.resolve(&classifier, &image)?;
    let spec = classifier.input().clone();
    let started = std::time::Instant::now();
    let mut bar = Bar::new(&format!("{:?}", args.how.method), 1);
    let mut progress = |done: usize, total: usize| {
        bar.set_total(total);
        bar.set(done);
        true
    };
    let progress: &mut dyn Progress = &mut progress;
    let method = method_of(&args.how, &spec)?;
    let map = method.run(&classifier, &image, target, progress)?;
    bar.finish();
    let dims = map.dims();
    let values = map.to_vec()?;
    let compute_ms = started.elapsed().as_secs_f64() * 1e3;
    std::fs::write(&args.out, write_f32(&values, &dims)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "{:?} of class {} ({}) {:?} in {compute_ms:.1} ms -> {}",
        args.how.method,
        target.class,
        classifier.labels()[target.class],
        dims,
        args.out.display()
    );
    if let Some(path) = &args.png {
        write_overlay(&args, &classifier, &values, &dims, path, method.signed())?;
    }
    let mut diagnostics = diagnose(&values);
    // Does the map depend on the class? The runner-up's map, where it costs one gradient.
    if method.cheap_per_class() && diagnostics.is_empty() {
        let scores = classifier.logits(image.clone())?.to_vec()?;
        if let Some(other) = runner_up(&scores, target.class) {
            let other_target = explain_core::explain::Target {
                class: other,
                ..target
            };
            let other_map = method
                .run(
                    &classifier,
                    &image,
                    other_target,
                    &mut explain_core::explain::Silent,
                )?
                .to_vec()?;
            diagnostics.extend(target_insensitivity(
                &values,
                &other_map,
                &classifier.labels()[other],
            ));
        }
    }
    for d in &diagnostics {
        eprintln!("warning: {}. Try: {}", d.message, d.advice);
    }
    let mut json = serde_json::Map::new();
    if args.faithfulness {
        let (chw, channels) = image_sized(&classifier, &values, &dims)?;
        let ranking = ranking(&chw, channels, method.signed());
        let (deletion, insertion) = deletion_and_insertion(&classifier, &image, target, &ranking)?;
        let deletion = FloatValue::from_tensor(deletion).to_vec()?;
        let insertion = FloatValue::from_tensor(insertion).to_vec()?;
        json.insert("deletion_auc".into(), area_under_curve(&deletion).into());
        json.insert("insertion_auc".into(), area_under_curve(&insertion).into());
        json.insert("deletion".into(), serde_json::json!(deletion));
        json.insert("insertion".into(), serde_json::json!(insertion));
    }
    if args.json {
        json.insert("method".into(), format!("{:?}", args.how.method).into());
        json.insert("class".into(), target.class.into());
        json.insert(
            "label".into(),
            classifier.labels()[target.class].clone().into(),
        );
        json.insert("dims".into(), serde_json::json!(dims));
        json.insert("compute_ms".into(), compute_ms.into());
        json.insert("out".into(), args.out.display().to_string().into());
        json.insert("diagnostics".into(), serde_json::to_value(&diagnostics)?);
    }
    if args.json || args.faithfulness {
        println!("{}", serde_json::Value::Object(json));
    }
    Ok(())
}

/// The method and settings the arguments ask for.
pub fn method_of(args: &MethodArgs, spec: &explain_core::InputSpec) -> Result<ExplainMethod> {
    let cam = |kind| ExplainMethod::Cam {
        kind,
        layer: args.layer.clone(),
        convention: match args.convention {
            Convention::Captum => CamConvention::Captum,
            Convention::PytorchGradCam => CamConvention::PytorchGradCam,
        },
    };
    Ok(match args.method {
        Method::Saliency => ExplainMethod::Saliency,
        Method::GradientXInput => ExplainMethod::GradientXInput,
        Method::Smoothgrad => ExplainMethod::SmoothGrad(SmoothGrad {
            samples: args.steps.unwrap_or(SmoothGrad::default().samples),
            seed: args.seed,
            ..SmoothGrad::default()
        }),
        Method::Occlusion => {
            let mut settings =
                Occlusion::preset(args.level, spec.channels, spec.height, spec.width);
            let triple = |v: &Vec<usize>| -> Result<[usize; 3]> {
                v.as_slice()
                    .try_into()
                    .context("--window and --stride take c,h,w")
            };
            match (&args.window, &args.stride) {
                (Some(w), Some(s)) => {
                    settings.window = triple(w)?;
                    settings.stride = triple(s)?;
                }
                (None, None) => {}
                _ => bail!(
                    "--window and --stride go together: give both (e.g. --window 3,32,32 \
                     --stride 3,16,16), or neither to use --level"
                ),
            }
            settings.baseline = args.baseline;
            let recompute = if args.full_recompute {
                Recompute::Full
            } else {
                Recompute::Incremental
            };
            ExplainMethod::Occlusion {
                settings,
                recompute,
            }
        }
        Method::Gradcam => cam(CamMethod::GradCam),
        Method::GradcamPlusPlus => cam(CamMethod::GradCamPlusPlus),
        Method::Hirescam => cam(CamMethod::HiResCam),
        Method::Layercam => cam(CamMethod::LayerCam),
        Method::Scorecam => cam(CamMethod::ScoreCam),
        Method::AttentionRollout => ExplainMethod::AttentionRollout,
        Method::Ig => ExplainMethod::IntegratedGradients(IntegratedGradients {
            steps: args.steps.unwrap_or(32),
            quadrature: match args.quadrature {
                QuadratureArg::RiemannTrapezoid => Quadrature::RiemannTrapezoid,
                QuadratureArg::GaussLegendre => Quadrature::GaussLegendre,
            },
            baseline: args.baseline,
            ..IntegratedGradients::default()
        }),
    })
}

/// The map in `[C, H, W]` order at the image's size (an error for a map at a layer's size).
/// What to do about a map at a layer's size where one at the image's size is needed.
pub const MAP_AT_LAYER_SIZE: &str =
    "use --convention pytorch-grad-cam for a map at the image's size";

fn image_sized(
    classifier: &explain_core::Classifier,
    values: &[f32],
    dims: &[usize],
) -> Result<(Vec<f32>, usize)> {
    map_chw(classifier.input(), values, dims).context(MAP_AT_LAYER_SIZE)
}

/// The map reduced to `[H, W]`, normalised, coloured and blended over the image.
fn write_overlay(
    args: &ExplainArgs,
    classifier: &explain_core::Classifier,
    values: &[f32],
    dims: &[usize],
    path: &PathBuf,
    signed: bool,
) -> Result<()> {
    let Some(image_path) = &args.input.image else {
        bail!("--png needs --image (the picture to draw on)");
    };
    let spec = classifier.input();
    let (h, w) = (spec.height, spec.width);
    let (chw, channels) = image_sized(classifier, values, dims)?;
    let pre = args.input.preprocess.resolve(spec)?;
    let prepared = pre.prepare_bytes(&read(image_path)?, &image_path.display().to_string())?;
    let colour_map = match args.colour_map {
        ColourArg::Viridis => ColourMap::Viridis,
        ColourArg::Inferno => ColourMap::Inferno,
        ColourArg::Turbo => ColourMap::Turbo,
        ColourArg::Jet => ColourMap::Jet,
        ColourArg::Diverging => ColourMap::Diverging,
        ColourArg::Grey => ColourMap::Grey,
    };
    let rgba = map_overlay(
        &prepared.rgba,
        &chw,
        channels,
        signed,
        colour_map,
        args.opacity,
    );
    std::fs::write(path, png(&rgba, w, h)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
