//! `unpic-train`: trains the demo network on Fashion-MNIST (Debian's `dataset-fashion-mnist`) on
//! the CPU with Burn's flex backend, checks that the exported ONNX file gives the trained network's
//! logits in UNPIC's own importer, and writes the demo the app opens on.

mod demo;
mod fit;
mod idx;
mod net;
mod onnx_export;

use std::{path::PathBuf, time::Instant};

use anyhow::{Result, ensure};
use burn::tensor::Device;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Folder with the gzipped IDX files of Fashion-MNIST.
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data: PathBuf,
    /// Where the demo files go.
    #[arg(long, default_value = "public/demo")]
    out: PathBuf,
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    #[arg(long, default_value_t = 2e-3)]
    learning_rate: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Batches per epoch at most (for a quick timing run).
    #[arg(long)]
    max_batches: Option<usize>,
    /// Test images per class in the demo's sample.
    #[arg(long, default_value_t = 200)]
    per_class: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let train = idx::Split::read(&args.data, "train")?;
    let test = idx::Split::read(&args.data, "t10k")?;
    eprintln!(
        "Fashion-MNIST: {} training and {} test images",
        train.len(),
        test.len()
    );

    let started = Instant::now();
    let schedule = fit::Schedule {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        seed: args.seed,
        max_batches: args.max_batches,
    };
    let model = fit::train(&train, &test, demo::CLASSES.len(), &schedule);
    eprintln!(
        "trained in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );

    let onnx = onnx_export::to_onnx(&model, demo::CLASSES.len());
    check_export(&model, &onnx, &test)?;
    demo::write(&args.out, &onnx, &test, args.per_class)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// The exported file, run by UNPIC's importer, must give the trained network's logits.
fn check_export(model: &net::FashionCnn, onnx: &[u8], test: &idx::Split) -> Result<()> {
    let indices: Vec<usize> = (0..256).collect();
    let (images, _) = fit::batch(test, &indices, &[false; 256], &Device::flex());
    let (diff, scale) = onnx_export::compare_with_importer(model, onnx, images)?;
    eprintln!(
        "ONNX export: max |logit difference| {diff:.2e} (max |logit| {scale:.1}) on 256 test images"
    );
    ensure!(
        diff <= 1e-4 * scale,
        "the exported model does not match the trained one"
    );
    Ok(())
}
