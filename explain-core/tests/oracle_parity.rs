//! Parity with onnxruntime: the logits of each oracle model on its case input equal the
//! reference `logits.npy` within 1e-4 of max |logit| (fixtures: tests/fixtures/oracle, see its
//! README for provenance).

use std::path::PathBuf;

use explain_core::npy::read_f32;
use explain_core::onnx::{FloatValue, Graph};
use explain_core::{Classifier, Device, Error};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_logits_match(model: &str, case: &str) {
    let device = Device::flex();
    let dir = fixtures().join("oracle");
    let classifier =
        Classifier::from_bytes(&read(dir.join(format!("models/{model}.onnx"))), &device)
            .unwrap_or_else(|e| panic!("{model}: {e}"));
    let input = read_f32(
        &read(dir.join(format!("cases/{case}/input.npy"))),
        "input.npy",
    )
    .expect("input");
    let expected = read_f32(
        &read(dir.join(format!("cases/{case}/logits.npy"))),
        "logits.npy",
    )
    .expect("logits");
    let x = FloatValue::from_vec(input.data, &input.shape, &device).expect("upload");
    let logits = classifier.logits(x).expect("forward");
    assert_eq!(logits.dims(), expected.shape, "{model}: output shape");
    let got = logits.to_vec().expect("read back");
    let scale = expected.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(&expected.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= 1e-4 * scale,
        "{model}: max |diff| {worst} > 1e-4 * {scale}"
    );
}

#[test]
fn smallcnn_torchscript_export_matches_onnxruntime() {
    assert_logits_match("smallcnn_fashion", "fashion_tshirt");
}

#[test]
fn smallcnn_dynamo_export_matches_onnxruntime() {
    assert_logits_match("smallcnn_fashion_dynamo", "fashion_dynamo");
}

#[test]
fn face_expression_matches_onnxruntime() {
    assert_logits_match("face_expression", "face_expression_astronaut");
}

#[test]
fn fer_minixception_matches_onnxruntime() {
    assert_logits_match("fer_minixception", "fer_astronaut");
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
