//! `unpic`: UNPIC's engine from the command line.

mod activations;
mod bench;
mod check_preprocessing;
mod compare;
mod eval;
mod explain;
mod explain_class;
mod features;
mod input_args;
mod label_issues;
mod layers;
mod limit_args;
mod predict;
mod preprocess_args;
mod progress;
mod report;
mod sanity;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "unpic",
    version,
    about = "Understand the predictions of an ONNX image classifier"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    limits: limit_args::LimitArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Class scores of one image (or a preprocessed tensor) and its top classes.
    Predict(predict::PredictArgs),
    /// Every tensor of the model: op, shape, how a CAM reads it, and the suggested Grad-CAM layer.
    Layers(layers::LayersArgs),
    /// Writes one layer's activations for an image or tensor to a .npy file.
    Activations(activations::ActivationsArgs),
    /// Forward-pass latency on the CPU (see benchmarks/ for the side-by-side with onnxruntime).
    Bench(bench::BenchArgs),
    /// Accuracy, per-class accuracy and confusion matrix over a folder (or zip) of class folders.
    Eval(eval::EvalArgs),
    /// Two models on one data set: accuracies, who gets which images right, McNemar's test.
    Compare(Box<compare::CompareArgs>),
    /// Tries each common preprocessing on a sample of a labelled set and says which fits.
    CheckPreprocessing(check_preprocessing::CheckPreprocessingArgs),
    /// Images the model confidently puts in another class, and near-duplicate pairs.
    LabelIssues(Box<label_issues::LabelIssuesArgs>),
    /// One explanation map (saliency, occlusion, Grad-CAM and variants, IG, ...) as .npy/.png.
    Explain(Box<explain::ExplainArgs>),
    /// One method's maps averaged over a class, a confusion cell, or a predicted class.
    ExplainClass(Box<explain_class::ExplainClassArgs>),
    /// Does a method's map depend on the model? Scrambles the weights layer by layer (Adebayo
    /// et al. 2018) and measures how far the map changes.
    Sanity(Box<sanity::SanityArgs>),
    /// A t-SNE map of a layer's activations over a data set (or of a features .npy).
    Tsne(Box<features::TsneArgs>),
    /// The data set's images that activate each channel of a layer most.
    MaxActivations(Box<features::MaxActivationsArgs>),
    /// An image synthesised to excite a channel (or a whole layer).
    DeepDream(Box<features::DeepDreamArgs>),
    /// A self-contained HTML report: the model, the set's accuracy and confusion matrix, and
    /// the maps of the images given with --pin.
    Report(Box<report::ReportArgs>),
    /// The ONNX operators the engine runs.
    Ops,
}

fn main() {
    let cli = Cli::parse();
    cli.limits.apply();
    let result = match cli.command {
        Command::Predict(args) => predict::run(args),
        Command::Layers(args) => layers::run(args),
        Command::Activations(args) => activations::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Compare(args) => compare::run(*args),
        Command::CheckPreprocessing(args) => check_preprocessing::run(args),
        Command::LabelIssues(args) => label_issues::run(*args),
        Command::Explain(args) => explain::run(*args),
        Command::Sanity(args) => sanity::run(*args),
        Command::ExplainClass(args) => explain_class::run(*args),
        Command::Tsne(args) => features::tsne_run(*args),
        Command::MaxActivations(args) => features::max_activations_run(*args),
        Command::DeepDream(args) => features::deep_dream_run(*args),
        Command::Report(args) => report::run(*args),
        Command::Ops => {
            let ops = explain_core::onnx::ops::Registry::standard().supported_onnx_ops();
            println!("{}", ops.join("\n"));
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
