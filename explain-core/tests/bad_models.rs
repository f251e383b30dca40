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
