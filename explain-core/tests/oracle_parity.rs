//! Parity with the oracle kit (onnxruntime logits, PyTorch activations, Captum saliency): every
//! model's outputs on its case input equal the references within 1e-4 of their max |value|
//! (fixtures: tests/fixtures/oracle, see its README for provenance).

mod common;

use std::path::PathBuf;

use explain_core::npy::{HostTensor, read_f32};
use explain_core::onnx::{FloatValue, Graph};
use explain_core::{Classifier, Device, Error, Score, Wrt};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One oracle case: a model, a preprocessed input and the reference outputs (see the kit's README).
struct Case {
    classifier: Classifier,
    input: FloatValue,
    meta: serde_json::Value,
}

impl Case {
    fn load(name: &'static str) -> Self {
        let device = Device::flex();
        let dir = fixtures().join("oracle");
        let meta: serde_json::Value =
            serde_json::from_slice(&read(dir.join(format!("cases/{name}/meta.json"))))
                .expect("meta");
        let model = meta["model"].as_str().expect("model path");
        let classifier = Classifier::from_bytes(&read(dir.join(model)), &device)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let input = reference(name, "input.npy");
        let input = FloatValue::from_vec(input.data, &input.shape, &device).expect("upload");
        Case {
            classifier,
            input,
            meta,
        }
    }

    fn layer(&self, role: &str) -> &str {
        self.meta["layers"][role].as_str().expect("layer name")
    }

    fn target(&self) -> usize {
        self.meta["target_class"].as_u64().expect("target") as usize
    }
}

fn reference(case: &str, file: &str) -> HostTensor {
    let path = fixtures().join(format!("oracle/cases/{case}/{file}"));
    read_f32(&read(path), file).expect(file)
}

/// Asserts `got` equals the reference within `rel` of the reference's max |value|.
fn assert_close(what: &str, got: &FloatValue, expected: &HostTensor, rel: f32) {
    assert_eq!(got.dims(), expected.shape, "{what}: shape");
    let got = got.to_vec().expect("read back");
    let scale = common::max_abs(&expected.data);
    let worst = common::max_abs_diff(&got, &expected.data);
    assert!(
        worst <= rel * scale,
        "{what}: max |diff| {worst} > {rel} * max |value| {scale}"
    );
}

/// Logits, the activations at the case's layer, and the input gradient (Captum's Saliency =
/// |∂f_c/∂x|) all equal the references; gradients within `gradient_tol` of their max.
fn assert_case_matches(name: &'static str, gradient_tol: f32) {
    let case = Case::load(name);
    let layer = case.layer("activations");
    let forward = case
        .classifier
        .forward(case.input.clone(), &[layer])
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_close(
        &format!("{name} logits"),
        &forward.logits,
        &reference(name, "logits.npy"),
        1e-4,
    );
    assert_close(
        &format!("{name} activations at {layer}"),
        &forward.taps[0],
        &reference(name, "activations.npy"),
        1e-4,
    );
    let gradient = case
        .classifier
        .gradient(
            case.input.clone(),
            &[case.target()],
            Score::Logit,
            Wrt::Input,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let saliency = gradient.gradient.map(|t| t.abs());
    assert_close(
        &format!("{name} saliency"),
        &saliency,
        &reference(name, "saliency.npy"),
        gradient_tol,
    );

    // The gradient at a layer, through Captum's LayerGradCam: Σ_k mean_hw(∂f_c/∂A_k) A_k.
    let gradcam_layer = case.layer("gradcam");
    let at_layer = case
        .classifier
        .gradient(
            case.input.clone(),
            &[case.target()],
            Score::Logit,
            Wrt::Layer(gradcam_layer),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let a = at_layer.value.to_rank::<4>().expect("4-D layer");
    let g = at_layer.gradient.to_rank::<4>().expect("4-D gradient");
    let alpha = g.mean_dim(3).mean_dim(2);
    let cam = FloatValue::from_tensor((a * alpha).sum_dim(1));
    assert_close(
        &format!("{name} Grad-CAM at {gradcam_layer}"),
        &cam,
        &reference(name, "gradcam_captum.npy"),
        gradient_tol,
    );

    // The layer table suggests the layer the oracle's authors picked for Grad-CAM.
    let table = case.classifier.layer_table();
    assert_eq!(
        table.gradcam_layer.as_deref(),
        Some(gradcam_layer),
        "{name}: suggested Grad-CAM layer"
    );
}

#[test]
fn smallcnn_torchscript_export_matches_the_references() {
    assert_case_matches("fashion_tshirt", 1e-4);
}

#[test]
fn smallcnn_dynamo_export_matches_the_references() {
    assert_case_matches("fashion_dynamo", 1e-4);
}

#[test]
fn face_expression_matches_the_references() {
    assert_case_matches("face_expression_astronaut", 1e-4);
}

#[test]
fn fer_minixception_matches_the_references() {
    assert_case_matches("fer_astronaut", 1e-4);
}

/// One ReLU input of this image (`/layer2/layer2.0/Add_output_0` at [0,3,23,23]) is -6.7e-8 here
/// and a rounding error above zero in PyTorch, so that unit's gradient path is cut in one and
/// open in the other: its receptive field in the input gradient differs by up to 1e-3 of the
/// max. Every layer gradient above it agrees to 1e-6 (checked against torch via onnx2torch).
#[test]
fn resnet18_with_unfused_batchnorm_matches_the_references() {
    assert_case_matches("resnet18_chelsea", 2e-3);
}

#[test]
fn squeezenet_matches_the_references() {
    assert_case_matches("squeezenet_coffee", 1e-4);
}

/// This random-init network's float32 input gradient is ill-conditioned: PyTorch's own float32
/// saliency on this ONNX file differs from its float64 one by 2.7% of the max (ours: 1.2%), so
/// the gradients are held to 5% and the logits and activations to 1e-4.
#[test]
fn mobilenet_v2_matches_the_references() {
    assert_case_matches("mobilenet_v2_rocket", 5e-2);
}

#[test]
fn a_batch_of_two_gives_each_image_its_own_logits() {
    let device = Device::flex();
    let dir = fixtures().join("oracle");
    let classifier = Classifier::from_bytes(
        &read(dir.join("models/smallcnn_fashion_dynamo.onnx")),
        &device,
    )
    .expect("load");
    let input = read_f32(
        &read(dir.join("cases/fashion_dynamo/input.npy")),
        "input.npy",
    )
    .expect("input");
    let zeros = vec![0.0; input.data.len()];
    let batch = classifier
        .batch([input.data.clone(), zeros].concat(), 2)
        .expect("batch");
    let both = classifier
        .logits(batch)
        .expect("forward")
        .to_vec()
        .expect("read");
    let single = classifier
        .logits(FloatValue::from_vec(input.data, &input.shape, &device).expect("upload"))
        .expect("forward")
        .to_vec()
        .expect("read");
    assert_eq!(both.len(), 20);
    for (a, b) in both[..10].iter().zip(&single) {
        assert!((a - b).abs() < 1e-5);
    }
    assert_ne!(&both[..10], &both[10..]);
}

#[test]
fn unsupported_ops_are_listed_all_at_once_with_node_names() {
    let err = Graph::from_bytes(
        &read(fixtures().join("unsupported_ops.onnx")),
        &Device::flex(),
    )
    .err()
    .expect("must fail");
    let Error::UnsupportedOps { nodes } = &err else {
        panic!("expected UnsupportedOps, got {err}");
    };
    let names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(names, ["pick_one", "vendor_pool"], "{err}");
    let text = err.to_string();
    assert!(
        text.contains("Hardmax") && text.contains("FancyPool"),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_onnx_is_rejected_clearly() {
    let err = Graph::from_bytes(b"this is a text file, not a model", &Device::flex())
        .err()
        .expect("must fail");
    assert!(matches!(err, Error::InvalidModel { .. }), "{err}");
    assert!(err.to_string().contains("ONNX"), "{err}");
}

#[test]
fn a_truncated_model_is_rejected_without_panicking() {
    let bytes = read(fixtures().join("oracle/models/fer_minixception.onnx"));
    for cut in [10, bytes.len() / 3, bytes.len() - 100] {
        let err = Graph::from_bytes(&bytes[..cut], &Device::flex())
            .err()
            .expect("must fail");
        assert!(
            matches!(err, Error::InvalidModel { .. }),
            "cut {cut}: {err}"
        );
    }
}

#[test]
fn a_wrong_input_size_names_both_shapes() {
    let device = Device::flex();
    let classifier = Classifier::from_bytes(
        &read(fixtures().join("oracle/models/smallcnn_fashion.onnx")),
        &device,
    )
    .expect("load");
    let x = FloatValue::from_vec(vec![0.0; 3 * 32 * 32], &[1, 3, 32, 32], &device).expect("upload");
    let err = classifier.logits(x).expect_err("must fail");
    let text = err.to_string();
    assert!(
        text.contains("[1, 3, 32, 32]") && text.contains("1, 28, 28]"),
        "{text}"
    );
    // The classifier keeps working after a bad input.
    let ok = FloatValue::from_vec(vec![0.0; 28 * 28], &[1, 1, 28, 28], &device).expect("upload");
    assert!(classifier.logits(ok).is_ok());
}

/// Corrupted files (bytes overwritten all over a real model) load or fail with an error, never
/// a panic; each run that loads also runs or fails cleanly.
#[test]
fn corrupted_models_never_panic() {
    let bytes = read(fixtures().join("oracle/models/smallcnn_fashion_dynamo.onnx"));
    let device = Device::flex();
    // A fixed pseudo-random walk over positions and values (xorshift), 300 corruptions.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let mut corrupted = bytes.clone();
        for _ in 0..4 {
            // Mostly the graph structure (the first few KB), sometimes anywhere.
            let span = if next() % 4 == 0 {
                corrupted.len()
            } else {
                4096
            };
            let at = (next() as usize) % span.min(corrupted.len());
            corrupted[at] = next() as u8;
        }
        let outcome = std::panic::catch_unwind(|| {
            if let Ok(classifier) = Classifier::from_bytes(&corrupted, &device) {
                let shape = classifier.input().batch_shape(1);
                let n = shape.iter().product();
                let x = FloatValue::from_vec(vec![0.5; n], &shape, &device).expect("upload");
                let _ = classifier.logits(x);
            }
        });
        assert!(outcome.is_ok(), "a corrupted model panicked");
    }
}

/// The softmax-probability target: its gradient matches central finite differences, and each
/// image of a batch gets the gradient of its own target.
#[test]
fn probability_gradients_match_finite_differences_and_stay_per_image() {
    let case = Case::load("fashion_tshirt");
    let device = Device::flex();
    // The image plus a little deterministic noise: Fashion-MNIST's flat black background makes
    // max-pool ties, where the function has a kink and no derivative to compare with.
    let x: Vec<f32> = case
        .input
        .to_vec()
        .expect("read")
        .iter()
        .enumerate()
        .map(|(i, v)| v + ((i * 7919) % 101) as f32 * 1e-3)
        .collect();
    let shape = case.input.dims();
    let input = FloatValue::from_vec(x.clone(), &shape, &device).expect("upload");
    let prob = |data: Vec<f32>, class: usize| -> f64 {
        let v = FloatValue::from_vec(data, &shape, &device).expect("upload");
        let logits = case
            .classifier
            .logits(v)
            .expect("forward")
            .to_vec()
            .expect("read");
        explain_core::model::softmax(&logits)[class] as f64
    };
    let target = case.target();
    let g = case
        .classifier
        .gradient(input.clone(), &[target], Score::Probability, Wrt::Input)
        .expect("gradient")
        .gradient
        .to_vec()
        .expect("read");
    // The directional derivative along the gradient, by central differences, is |g|.
    let norm = g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    let h = 1e-3;
    let step = |sign: f64| -> Vec<f32> {
        x.iter()
            .zip(&g)
            .map(|(&xi, &gi)| (xi as f64 + sign * h * gi as f64 / norm) as f32)
            .collect()
    };
    let fd = (prob(step(1.0), target) - prob(step(-1.0), target)) / (2.0 * h);
    assert!(
        (fd - norm).abs() <= 0.05 * norm,
        "directional derivative {fd} vs |g| {norm}"
    );
    let scale = g.iter().fold(0f32, |m, v| m.max(v.abs()));

    // A batch of [x, zeros] with targets [c, 3]: row 0 equals the single-image gradient.
    let zeros = vec![0.0; x.len()];
    let batch = case
        .classifier
        .batch([x.clone(), zeros].concat(), 2)
        .expect("batch");
    let both = case
        .classifier
        .gradient(batch, &[target, 3], Score::Probability, Wrt::Input)
        .expect("gradient")
        .gradient
        .to_vec()
        .expect("read");
    for (a, b) in both[..x.len()].iter().zip(&g) {
        assert!((a - b).abs() <= 1e-6 + 1e-4 * scale);
    }
    let wrong_class = case
        .classifier
        .gradient(case.input.clone(), &[10], Score::Logit, Wrt::Input)
        .expect_err("class 10 of 10");
    assert!(
        wrong_class.to_string().contains("class 10"),
        "{wrong_class}"
    );
}
