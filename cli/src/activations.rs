//! `unpic activations`: the full output tensor of one layer for an image or tensor, as `.npy`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use explain_core::npy::write_f32;

use crate::input_args::{InputArgs, load_classifier};

#[derive(Args, Debug)]
pub struct ActivationsArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// The tensor to capture, by its name in the model (`unpic layers` lists them).
    #[arg(long)]
    pub layer: String,
    /// Where to write the activations (float32 .npy, the layer's shape).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: ActivationsArgs) -> Result<()> {
    let classifier = load_classifier(&args.model, None, args.input.model_size()?)?;
    let (batch, _) = args.input.load(&classifier)?;
    let taps = classifier.activations(batch, &[args.layer.as_str()])?;
    let activations = &taps[0];
    let dims = activations.dims();
    let bytes = write_f32(&activations.to_vec()?, &dims)?;
    std::fs::write(&args.out, bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("{} {:?} -> {}", args.layer, dims, args.out.display());
    Ok(())
}
