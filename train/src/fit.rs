//! The training loop: Adam with a cosine learning-rate schedule, shuffled mini-batches with random
//! horizontal flips, and test accuracy after every epoch.

use std::time::Instant;

use burn::{
    module::Module,
    nn::loss::CrossEntropyLossConfig,
    optim::{AdamConfig, GradientsParams},
    tensor::{Device, Int, Tensor, TensorData},
};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};

use crate::{idx::Split, net::FashionCnn};

pub struct Schedule {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// Stop each epoch after this many batches (for timing runs and tests).
    pub max_batches: Option<usize>,
}

/// Trains a fresh network on `train` and reports accuracy on `test` after each epoch.
pub fn train(train: &Split, test: &Split, classes: usize, schedule: &Schedule) -> FashionCnn {
    let device = Device::flex().autodiff();
    device.seed(schedule.seed);
    let mut rng = StdRng::seed_from_u64(schedule.seed);
    let mut model = FashionCnn::new(classes, &device);
    let mut optimizer = AdamConfig::new().init();
    let loss = CrossEntropyLossConfig::new().init(&device);

    let batches_per_epoch = train.len().div_ceil(schedule.batch_size);
    let batches_per_epoch = schedule
        .max_batches
        .map_or(batches_per_epoch, |m| m.min(batches_per_epoch));
    let total_steps = schedule.epochs * batches_per_epoch;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let started = Instant::now();
    for epoch in 0..schedule.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for (step, indices) in order
            .chunks(schedule.batch_size)
            .take(batches_per_epoch)
            .enumerate()
        {
            let flips: Vec<bool> = indices.iter().map(|_| rng.random_bool(0.5)).collect();
            let (images, labels) = batch(train, indices, &flips, &device);
            let batch_loss = loss.forward(model.forward(images), labels);
            loss_sum += f64::from(batch_loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(batch_loss.backward(), &model);
            let global_step = epoch * batches_per_epoch + step;
            model = optimizer.step(
                cosine(schedule.learning_rate, global_step, total_steps),
                model,
                grads,
            );
        }
        let accuracy = accuracy(&model.valid(), test);
        eprintln!(
            "epoch {}/{}: mean loss {:.4}, test accuracy {:.2}%, {:.0} s elapsed",
            epoch + 1,
            schedule.epochs,
            loss_sum / batches_per_epoch as f64,
            100.0 * accuracy,
            started.elapsed().as_secs_f64()
        );
    }
    model.valid()
}

/// Cosine decay from `base` to 0 over `total` steps.
fn cosine(base: f64, step: usize, total: usize) -> f64 {
    base * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total as f64).cos())
}

/// Images `[B, 1, H, W]` in [0, 1] (mirrored where `flips` says so) and their labels `[B]`.
pub fn batch(
    split: &Split,
    indices: &[usize],
    flips: &[bool],
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let (h, w) = (split.height, split.width);
    let mut pixels = Vec::with_capacity(indices.len() * h * w);
    for (&i, &flip) in indices.iter().zip(flips) {
        for row in split.pixels(i).chunks_exact(w) {
            let scaled = row.iter().map(|&p| f32::from(p) / 255.0);
            if flip {
                pixels.extend(scaled.rev());
            } else {
                pixels.extend(scaled);
            }
        }
    }
    let labels: Vec<i64> = indices
        .iter()
        .map(|&i| i64::from(split.labels[i]))
        .collect();
    (
        Tensor::from_data(TensorData::new(pixels, [indices.len(), 1, h, w]), device),
        Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
    )
}

/// Fraction of `split` the (inference-mode) model classifies correctly.
pub fn accuracy(model: &FashionCnn, split: &Split) -> f64 {
    let device = Device::flex();
    let indices: Vec<usize> = (0..split.len()).collect();
    let mut correct = 0;
    for chunk in indices.chunks(500) {
        let (images, _) = batch(split, chunk, &vec![false; chunk.len()], &device);
        let predicted = model.forward(images).argmax(1).into_data();
        let predicted = predicted
            .convert::<i64>()
            .try_into_vec::<i64>()
            .unwrap_or_default();
        correct += chunk
            .iter()
            .zip(&predicted)
            .filter(|&(&i, &p)| i64::from(split.labels[i]) == p)
            .count();
    }
    correct as f64 / split.len() as f64
}
