//! Features of a real network (the oracle SmallCNN on Fashion-MNIST test images): deep dream
//! raises its objective (with patterns, not pixel noise, when its gradient is blurred), and the streamed max-activating images equal a brute-force ranking.

use std::path::PathBuf;

use explain_core::data::{ImageSource, Preprocess, ZipDataset};
use explain_core::explain::Silent;
use explain_core::features::deep_dream::{DeepDream, deep_dream, objective};
use explain_core::features::max_activations::{TopImages, channel_means};
use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn smallcnn() -> Classifier {
    let bytes =
        std::fs::read(fixtures().join("oracle/models/smallcnn_fashion.onnx")).expect("model");
    Classifier::from_bytes(&bytes, &Device::flex()).expect("load")
}

fn channel_score(c: &Classifier, image: &FloatValue, layer: &str, channel: usize) -> f32 {
    let forward = c.forward(image.clone(), &[layer]).expect("forward");
    objective(&forward.taps[0], Some(channel), false)
        .expect("objective")
        .into_scalar::<f32>()
}

#[test]
fn deep_dream_raises_its_objective_at_every_pyramid_level_count() {
    let c = smallcnn();
    let layer = "/relu2/Relu_output_0";
    let start: Vec<f32> = (0..28 * 28)
        .map(|i| 0.5 + 0.01 * ((i * 37 % 17) as f32 - 8.0))
        .collect();
    let start = FloatValue::from_vec(start, &[1, 1, 28, 28], &Device::flex()).expect("upload");
    let before = channel_score(&c, &start, layer, 5);
    for levels in [1, 2, 3] {
        let settings = DeepDream {
            levels,
            ..DeepDream::default()
        };
        let mut steps = 0;
        let dreamed = deep_dream(&c, layer, Some(5), &start, &settings, &mut |done, total| {
            steps = total;
            done <= total
        })
        .expect("deep dream");
        assert_eq!(dreamed.dims(), vec![1, 1, 28, 28]);
        assert_eq!(steps, 10 * levels);
        let after = channel_score(&c, &dreamed, layer, 5);
        assert!(after > before + 0.1, "{levels} levels: {before} -> {after}");
    }
    // Same seed, same dream.
    let a = deep_dream(
        &c,
        layer,
        Some(5),
        &start,
        &DeepDream::default(),
        &mut Silent,
    )
    .expect("a");
    let b = deep_dream(
        &c,
        layer,
        Some(5),
        &start,
        &DeepDream::default(),
        &mut Silent,
    )
    .expect("b");
    assert_eq!(a.to_vec().expect("a"), b.to_vec().expect("b"));
}

/// Mean absolute difference between neighbouring pixels, over the image's standard deviation:
/// about 1.1 for white noise, near 0 for a smooth image (measured here: 1.43 without the blur,
/// 0.84 with it).
fn roughness(image: &[f32], width: usize) -> f32 {
    let n = image.len() as f32;
    let mean = image.iter().sum::<f32>() / n;
    let std = (image.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    let diffs: Vec<f32> = image
        .windows(2)
        .enumerate()
        .filter(|(i, _)| (i + 1) % width != 0)
        .map(|(_, w)| (w[1] - w[0]).abs())
        .collect();
    diffs.iter().sum::<f32>() / diffs.len() as f32 / std
}

#[test]
fn a_blurred_gradient_dreams_patterns_not_pixel_noise() {
    let c = smallcnn();
    let layer = "/relu2/Relu_output_0";
    let start =
        FloatValue::from_vec(vec![0.5; 28 * 28], &[1, 1, 28, 28], &Device::flex()).expect("upload");
    let dream = |gradient_blur: f32| {
        let settings = DeepDream {
            gradient_blur,
            ..DeepDream::default()
        };
        let image = deep_dream(&c, layer, Some(5), &start, &settings, &mut Silent)
            .expect("dream")
            .to_vec()
            .expect("read");
        let score = channel_score(
            &c,
            &FloatValue::from_vec(image.clone(), &[1, 1, 28, 28], &Device::flex()).expect("up"),
            layer,
            5,
        );
        (roughness(&image, 28), score)
    };
    let (sharp, sharp_score) = dream(0.0);
    let (smooth, smooth_score) = dream(DeepDream::default().gradient_blur);
    assert!(
        smooth < 0.75 * sharp,
        "roughness with blur {smooth}, without {sharp}"
    );
    // The smooth dream still excites the channel.
    let grey = channel_score(&c, &start, layer, 5);
    assert!(
        smooth_score > grey + 0.5 * (sharp_score - grey),
        "channel 5: grey {grey}, sharp dream {sharp_score}, smooth dream {smooth_score}"
    );
}

#[test]
fn streamed_max_activations_equal_a_brute_force_ranking() {
    let c = smallcnn();
    let layer = "/relu2/Relu_output_0";
    let zip = std::fs::read(fixtures().join("fashion-mnist-test.zip")).expect("zip");
    let mut data = ZipDataset::from_bytes("fashion", zip).expect("dataset");
    let pre = Preprocess::unit_range(c.input());
    let items: Vec<String> = data
        .dataset
        .items
        .iter()
        .step_by(40)
        .take(120)
        .map(|i| i.path.clone())
        .collect();
    let images: Vec<Vec<f32>> = items
        .iter()
        .map(|p| {
            pre.prepare_bytes(&data.read(p).expect("read"), p)
                .expect("decode")
                .data
        })
        .collect();

    // Streamed: batches of 16, running top-5 per channel.
    let mut top = TopImages::new(32, 5);
    for (b, chunk) in images.chunks(16).enumerate() {
        let batch = c.batch(chunk.concat(), chunk.len()).expect("batch");
        let acts = c.forward(batch, &[layer]).expect("forward").taps[0]
            .to_vec()
            .expect("read");
        let ids: Vec<usize> = (b * 16..b * 16 + chunk.len()).collect();
        top.add_batch(&ids, &channel_means(&acts, chunk.len(), 32, false));
    }

    // Brute force: one image at a time, every score, full sort.
    let mut all = vec![Vec::new(); 32];
    for (i, image) in images.iter().enumerate() {
        let x = c.batch(image.clone(), 1).expect("batch");
        let acts = c.forward(x, &[layer]).expect("forward").taps[0]
            .to_vec()
            .expect("read");
        for (ch, &s) in channel_means(&acts, 1, 32, false).iter().enumerate() {
            all[ch].push((s, i));
        }
    }
    for (ch, mut list) in all.into_iter().enumerate() {
        list.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let want: Vec<usize> = list.iter().take(5).map(|e| e.1).collect();
        let got: Vec<usize> = top.best[ch].iter().map(|e| e.1).collect();
        assert_eq!(got, want, "channel {ch}");
        for ((s, _), (t, _)) in top.best[ch].iter().zip(&list) {
            assert!((s - t).abs() < 1e-5);
        }
    }
}
