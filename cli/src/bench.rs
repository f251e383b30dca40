//! `unpic bench`: forward-pass latency of a model on the CPU (flex), for comparing with other
//! runtimes side by side (see benchmarks/). Threads follow `RAYON_NUM_THREADS`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use explain_core::onnx::FloatValue;

use crate::input_args::load_classifier;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// The image size HxW to run a model that takes any size at.
    #[arg(long, value_parser = crate::input_args::parse_size)]
    pub size: Option<[usize; 2]>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 1, value_parser = crate::input_args::parse_batch)]
    pub batch: usize,
    /// Timed runs (after two warm-up runs).
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let classifier = load_classifier(&args.model, None, args.size.map(|s| (s, "--size")))?;
    let spec = classifier.input().clone();
    let n = args.batch.max(1);
    // A fixed, non-trivial input (the values do not change the work done).
    let data: Vec<f32> = (0..n * spec.image_len())
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let device = classifier.graph().device().clone();
    let mut times = Vec::with_capacity(args.runs);
    for i in 0..args.runs + 2 {
        let x = FloatValue::from_vec(data.clone(), &spec.batch_shape(n), &device)?;
        let start = Instant::now();
        let logits = classifier.logits(x)?.to_vec()?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        std::hint::black_box(logits);
        if i >= 2 {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let json = serde_json::json!({
        "runtime": "unpic (Burn flex)",
        "model": args.model.file_name().map(|f| f.to_string_lossy().to_string()),
        "batch": n,
        "threads": std::env::var("RAYON_NUM_THREADS").ok(),
        "median_ms": median,
        "min_ms": times[0],
        "runs": times.len(),
    });
    println!("{json}");
    Ok(())
}
