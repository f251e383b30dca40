//! `unpic`: UNPIC's engine from the command line.

mod predict;
mod preprocess_args;

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
}

#[derive(Subcommand)]
enum Command {
    /// Class scores of one image (or a preprocessed tensor) and its top classes.
    Predict(predict::PredictArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Predict(args) => predict::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
