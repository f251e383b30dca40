//! Hostile models (tests/bad_inputs, made by `make_bad_models.py` there): each asks for more
//! memory than any machine has. Opening one must give a message that says so, never an abort
//! on a failed allocation or a panic; the control (the same graph at a sane size) opens.

use std::path::PathBuf;

use explain_core::{Classifier, Device};

fn open(name: &str) -> explain_core::Result<Classifier> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/bad_inputs")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Classifier::from_bytes(&bytes, &Device::flex())
}

/// Opens `name` and returns its error message, running it on one image when it opens (some
/// bombs only go off when the graph runs).
fn message(name: &str) -> String {
    match open(name) {
        Err(e) => e.to_string(),
        Ok(classifier) => {
            let spec = classifier.input().clone();
            let image = explain_core::onnx::FloatValue::from_vec(
                vec![0.5; spec.image_len()],
                &spec.batch_shape(1),
                &Device::flex(),
            )
            .expect("image");
            match classifier.logits(image) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{name} ran"),
            }
        }
    }
}

#[test]
fn the_control_model_opens_and_runs() {
    let classifier = open("tiny_control.onnx").expect("the control opens");
    assert_eq!(classifier.num_classes(), 2);
}

#[test]
fn a_constant_of_shape_of_forty_gigabytes_is_refused() {
    let m = message("constant_of_shape_bomb.onnx");
    assert!(
        m.contains("ConstantOfShape") && m.contains("too much memory"),
        "{m}"
    );
}

#[test]
fn a_range_of_a_trillion_values_is_refused() {
    let m = message("range_bomb.onnx");
    assert!(m.contains("Range") && m.contains("too much memory"), "{m}");
}

#[test]
fn an_input_of_ten_billion_pixels_is_refused() {
    let m = message("huge_input.onnx");
    assert!(m.contains("100000x100000") && m.contains("8192"), "{m}");
}

#[test]
fn an_initializer_that_declares_more_than_it_holds_is_refused() {
    let m = message("lying_initializer.onnx");
    assert!(
        m.contains("[1000000, 1000000]") && m.contains("payload has 8"),
        "{m}"
    );
}

#[test]
fn dims_that_overflow_when_multiplied_are_refused() {
    let m = message("overflowing_dims.onnx");
    assert!(m.contains("overflows"), "{m}");
}

#[test]
fn a_cycle_is_refused() {
    let m = message("cycle.onnx");
    assert!(m.contains("topologically sorted"), "{m}");
}

#[test]
fn an_input_without_channels_is_refused() {
    let m = message("zero_channels.onnx");
    assert!(
        m.contains("[N, 0, 8, 8]") && m.contains("at least one channel"),
        "{m}"
    );
}

#[test]
fn a_model_without_classes_is_refused() {
    let m = message("no_classes.onnx");
    assert!(m.contains("no class scores at all"), "{m}");
}

#[test]
fn an_output_that_is_a_map_is_refused() {
    let m = message("map_output.onnx");
    assert!(
        m.contains("[N, 1, 8, 8]") && m.contains("class scores [N, K]"),
        "{m}"
    );
}

#[test]
fn a_graph_twenty_thousand_nodes_deep_opens_and_runs() {
    let classifier = open("deep_chain.onnx").expect("the chain opens");
    let spec = classifier.input().clone();
    let image = explain_core::onnx::FloatValue::from_vec(
        vec![0.5; spec.image_len()],
        &spec.batch_shape(1),
        &Device::flex(),
    )
    .expect("image");
    let logits = classifier
        .logits(image)
        .expect("runs")
        .to_vec()
        .expect("read");
    assert_eq!(logits, [0.5, 0.5]);
}

#[test]
fn an_empty_batch_is_refused_with_a_message() {
    let classifier = open("tiny_control.onnx").expect("the control opens");
    let empty = explain_core::onnx::FloatValue::from_vec(vec![], &[0, 1, 8, 8], &Device::flex())
        .expect("an empty tensor");
    let Err(e) = classifier.logits(empty) else {
        panic!("an empty batch ran")
    };
    let m = e.to_string();
    assert!(m.contains("holds no values"), "{m}");
}
