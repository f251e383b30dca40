//! Export variants users bring: a dynamo export with its batch fixed at 1, and a model whose
//! height and width are dynamic (tests/fixtures/exports, made by its make_exports.py).

mod common;

use std::path::PathBuf;

use explain_core::explain::integrated_gradients::{IntegratedGradients, integrated_gradients};
use explain_core::explain::occlusion::{Occlusion, occlusion};
use explain_core::explain::saliency::{SmoothGrad, smooth_grad};
use explain_core::explain::{Silent, Target};
use explain_core::npy::read_f32;
use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device, Error};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn load(path: &str, size: Option<[usize; 2]>) -> explain_core::Result<Classifier> {
    let bytes = std::fs::read(fixtures().join(path)).expect("fixture");
    Classifier::from_bytes_at(&bytes, &Device::flex(), size)
}

fn upload(path: &str) -> FloatValue {
    let t = read_f32(&std::fs::read(fixtures().join(path)).expect("input"), path).expect("npy");
    FloatValue::from_vec(t.data, &t.shape, &Device::flex()).expect("upload")
}

fn assert_same(what: &str, a: &FloatValue, b: &FloatValue) {
    assert_eq!(a.dims(), b.dims(), "{what}: shape");
    let (a, b) = (a.to_vec().expect("read"), b.to_vec().expect("read"));
    let range = common::value_range(&b).max(f32::MIN_POSITIVE);
    let worst = common::max_abs_diff(&a, &b);
    assert!(
        worst <= 1e-5 * range,
        "{what}: max |diff| {worst} (range {range})"
    );
}

#[test]
fn a_model_with_its_batch_fixed_at_one_runs_every_batched_method() {
    let fixed = load("exports/smallcnn_fashion_dynamo_b1.onnx", None).expect("b1 export");
    let free = load("oracle/models/smallcnn_fashion.onnx", None).expect("dynamic export");
    assert_eq!(fixed.fixed_batch(), Some(1));
    assert_eq!(free.fixed_batch(), None);
    let image = upload("oracle/cases/fashion_tshirt/input.npy");
    let target = Target::logit(0);

    // Occlusion: 169 occluded copies, run 32 at a time on the free model and one at a time
    // on the fixed one.
    let settings = Occlusion {
        window: [1, 4, 4],
        stride: [1, 2, 2],
        baseline: 0.0,
        batch: 32,
    };
    let a = occlusion(&fixed, &image, target, &settings, &mut Silent).expect("occlusion b1");
    let b = occlusion(&free, &image, target, &settings, &mut Silent).expect("occlusion");
    assert_same("occlusion", &a, &b);

    let ig = IntegratedGradients::default();
    let a = integrated_gradients(&fixed, &image, target, &ig, &mut Silent).expect("IG b1");
    let b = integrated_gradients(&free, &image, target, &ig, &mut Silent).expect("IG");
    assert_same("integrated gradients", &a, &b);

    let sg = SmoothGrad::default();
    let a = smooth_grad(&fixed, &image, target, &sg, &mut Silent).expect("SmoothGrad b1");
    let b = smooth_grad(&free, &image, target, &sg, &mut Silent).expect("SmoothGrad");
    assert_same("SmoothGrad", &a, &b);

    // Evaluation-style batches: 5 images (one piece padded) give each image's own scores.
    let pixels = image.to_vec().expect("read");
    let batch: Vec<f32> = (0..5)
        .flat_map(|i| pixels.iter().map(move |v| v * (1.0 - 0.1 * i as f32)))
        .collect();
    let batch = FloatValue::from_vec(batch, &[5, 1, 28, 28], &Device::flex()).expect("batch");
    let a = fixed.logits(batch.clone()).expect("logits b1");
    let b = free.logits(batch).expect("logits");
    assert_same("logits of a batch", &a, &b);
}

#[test]
fn a_model_of_any_size_runs_at_the_size_given_and_equals_onnxruntime() {
    let err = load("exports/dynamic_hw.onnx", None)
        .err()
        .expect("needs a size");
    assert!(matches!(err, Error::NeedsSize(_)), "{err}");
    assert!(err.to_string().contains("--size"), "{err}");
    assert!(!err.to_string().contains("18446744073709551615"), "{err}");

    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("exports/dynamic_hw_logits.json")).expect("logits"),
    )
    .expect("json");
    for case in reference["cases"].as_array().expect("cases") {
        let size: Vec<usize> = case["size"]
            .as_array()
            .expect("size")
            .iter()
            .map(|v| v.as_u64().expect("side") as usize)
            .collect();
        let classifier =
            load("exports/dynamic_hw.onnx", Some([size[0], size[1]])).expect("load at size");
        let spec = classifier.input();
        assert!(spec.any_size);
        assert_eq!([spec.height, spec.width], [size[0], size[1]]);
        let x = upload(&format!(
            "exports/{}",
            case["input"].as_str().expect("input")
        ));
        let logits = classifier
            .logits(x.clone())
            .expect("logits")
            .to_vec()
            .expect("read");
        let expected: Vec<f32> = case["logits"]
            .as_array()
            .expect("logits")
            .iter()
            .map(|v| v.as_f64().expect("logit") as f32)
            .collect();
        let worst = common::max_abs_diff(&logits, &expected);
        assert!(worst < 1e-4, "{size:?}: max |diff| {worst}");
        // Explanations at that size too.
        let map = explain_core::explain::saliency::saliency(&classifier, &x, Target::logit(1))
            .expect("saliency");
        assert_eq!(map.dims(), vec![1, 3, size[0], size[1]]);
    }
    let err = load("exports/dynamic_hw.onnx", Some([0, 10]))
        .err()
        .expect("bad size");
    assert!(err.to_string().contains("out of range"), "{err}");
}
