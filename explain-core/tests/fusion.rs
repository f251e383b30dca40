//! Conv → BatchNorm → ReLU chains run as one fused op unless a tensor inside the chain is
//! asked for; then that chain runs node by node and the tap sees the file's own tensor.

mod common;

use std::path::PathBuf;

use explain_core::npy::read_f32;
use explain_core::onnx::{FloatValue, Needs, Value, Watched};
use explain_core::{Classifier, Device};

fn oracle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/oracle")
}

#[test]
fn a_tap_inside_a_fused_chain_sees_the_unfused_tensor() {
    let device = Device::flex();
    let bytes = std::fs::read(oracle().join("models/resnet18_bn_unfused.onnx")).expect("model");
    let classifier = Classifier::from_bytes(&bytes, &device).expect("load");
    let input = read_f32(
        &std::fs::read(oracle().join("cases/resnet18_chelsea/input.npy")).expect("input"),
        "input",
    )
    .expect("npy");
    let image = FloatValue::from_vec(input.data, &input.shape, &device).expect("upload");
    let expected_logits = read_f32(
        &std::fs::read(oracle().join("cases/resnet18_chelsea/logits.npy")).expect("logits"),
        "logits",
    )
    .expect("npy");

    // The first convolution's output and its BatchNorm's: both hidden inside conv1's chain.
    let hidden = ["/conv1/Conv_output_0", "/bn1/BatchNormalization_output_0"];
    let graph = classifier.graph();
    let slots: Vec<_> = hidden
        .iter()
        .map(|n| graph.slot(n).expect("slot"))
        .collect();
    // Reference: every node run on its own (the hook watches every tensor).
    let mut reference = vec![None; slots.len()];
    graph
        .run_with_hook(
            vec![Value::Float(image.clone())],
            &[],
            Needs::Everything,
            Watched::All,
            &mut |slot, value| {
                if let Some(i) = slots.iter().position(|s| *s == slot) {
                    reference[i] = value.as_float().cloned();
                }
                value
            },
        )
        .expect("unfused run");

    let fused = classifier.forward(image.clone(), &[]).expect("fused run");
    let tapped = classifier.forward(image, &hidden).expect("tapped run");
    for ((name, got), want) in hidden.iter().zip(&tapped.taps).zip(&reference) {
        let want = want.as_ref().expect("reference").to_vec().expect("read");
        let got = got.to_vec().expect("read");
        // conv1 reads the image itself: nothing upstream is fused, so the values are the same.
        assert_eq!(got, want, "{name}");
    }
    // The fused run (BatchNorm folded into the weights) and the tapped one agree with
    // onnxruntime's logits.
    for (what, logits) in [("fused", &fused.logits), ("tapped", &tapped.logits)] {
        let logits = logits.to_vec().expect("read");
        let worst = common::max_abs_diff(&logits, &expected_logits.data);
        let range = common::value_range(&expected_logits.data);
        assert!(
            worst <= 1e-5 * range.max(1.0) * 10.0,
            "{what}: max |diff| {worst}"
        );
    }
}

/// Activations stop at the last node the asked-for tensor depends on: the head never runs, and
/// the values are those of a full forward pass.
#[test]
fn activations_run_only_the_nodes_their_tensor_depends_on() {
    let device = Device::flex();
    let bytes = std::fs::read(oracle().join("models/resnet18_bn_unfused.onnx")).expect("model");
    let classifier = Classifier::from_bytes(&bytes, &device).expect("load");
    let graph = classifier.graph();
    let image = FloatValue::from_vec(
        (0..3 * 224 * 224)
            .map(|i| (i % 251) as f32 / 251.0 - 0.5)
            .collect(),
        &[1, 3, 224, 224],
        &device,
    )
    .expect("upload");
    let layer = "/layer1/layer1.0/relu_1/Relu_output_0";
    let slot = graph.slot(layer).expect("slot");
    let output = graph.output_infos()[0].name.clone();
    let output = graph.slot(&output).expect("output slot");

    let mut produced = Vec::new();
    let run = graph
        .run_with_hook(
            vec![Value::Float(image.clone())],
            &[slot],
            Needs::TapsOnly,
            Watched::Slots(&[]),
            &mut |slot, value| {
                produced.push(slot);
                value
            },
        )
        .expect("taps-only run");
    assert!(run.outputs.is_empty());
    assert!(produced.contains(&slot));
    assert!(!produced.contains(&output), "the head ran");
    assert!(produced.len() < 20, "{} tensors computed", produced.len());

    let alone = classifier
        .activations(image.clone(), &[layer])
        .expect("activations");
    let full = classifier.forward(image, &[layer]).expect("forward");
    assert_eq!(
        alone[0].to_vec().expect("read"),
        full.taps[0].to_vec().expect("read")
    );
}

/// EfficientNet's SiLU, exported as `Mul(x, Sigmoid(x))`, runs inside the convolution before
/// it: the sigmoid's tensor is never made on a plain forward pass, is made when every tensor is
/// watched, and both runs give the same logits (families.rs checks them, and the input
/// gradient through the fused SiLU, against PyTorch).
#[test]
fn silu_after_a_convolution_runs_inside_it() {
    let device = Device::flex();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/families");
    let bytes = std::fs::read(dir.join("efficientnet_mini.onnx")).expect("model");
    let classifier = Classifier::from_bytes(&bytes, &device).expect("load");
    let graph = classifier.graph();
    let input = read_f32(
        &std::fs::read(dir.join("efficientnet_mini.input.npy")).expect("input"),
        "input",
    )
    .expect("npy");
    let image = FloatValue::from_vec(input.data, &input.shape, &device).expect("upload");
    // The stem's SiLU: Conv → Sigmoid → Mul.
    let sigma = graph.slot("/bn1/act/Sigmoid_output_0").expect("slot");
    let run = |watched: Watched<'_>| {
        let mut produced = Vec::new();
        let run = graph
            .run_with_hook(
                vec![Value::Float(image.clone())],
                &[],
                Needs::Outputs,
                watched,
                &mut |slot, value| {
                    produced.push(slot);
                    value
                },
            )
            .expect("run");
        let logits = run.outputs[0]
            .as_float()
            .expect("float logits")
            .to_vec()
            .expect("read");
        (produced, logits)
    };
    let (fused, fused_logits) = run(Watched::Slots(&[]));
    let (unfused, unfused_logits) = run(Watched::All);
    assert!(!fused.contains(&sigma), "the stem's sigmoid ran on its own");
    assert!(unfused.contains(&sigma));
    let worst = common::max_abs_diff(&fused_logits, &unfused_logits);
    let range = common::value_range(&unfused_logits).max(1.0);
    assert!(
        worst <= 1e-5 * range,
        "fused and unfused logits differ by {worst}"
    );
}
