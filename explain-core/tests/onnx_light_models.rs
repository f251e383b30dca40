//! The nine structural models of the `onnx` wheel's backend tests
//! (`onnx/backend/test/data/light/`, copied to tests/fixtures/onnx-light): old Caffe2 exports
//! at opset 9 whose weights are ConstantOfShape nodes and whose initializers are listed among
//! the graph inputs. Each must import as a classifier and reproduce its stored output for the
//! backend tests' input (`arange(n) / n`, onnx's `generate_dummy_data(random=False)`).

mod common;

use std::path::PathBuf;

use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device};
use onnx_ir::{Message, TensorProto};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx-light")
}

fn expected_output(name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(dir().join(format!("{name}_output_0.pb"))).expect("output file");
    let tensor = TensorProto::parse_from_bytes(&bytes).expect("TensorProto");
    let dims = tensor.dims.iter().map(|&d| d as usize).collect();
    let data = if tensor.float_data.is_empty() {
        tensor
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        tensor.float_data.clone()
    };
    (dims, data)
}

fn check(name: &str) {
    let device = Device::flex();
    let bytes = std::fs::read(dir().join(format!("{name}.onnx"))).expect("model file");
    let classifier =
        Classifier::from_bytes(&bytes, &device).unwrap_or_else(|e| panic!("{name}: {e}"));
    let shape = classifier.input().batch_shape(1);
    let n: usize = shape.iter().product();
    let input: Vec<f32> = (0..n).map(|i| (i as f64 / n as f64) as f32).collect();
    let x = FloatValue::from_vec(input, &shape, &device).expect("upload");
    let got = classifier
        .logits(x)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (dims, expected) = expected_output(name);
    // Caffe-style [N, K, 1, 1] scores are given to the user as [N, K].
    assert_eq!(got.dims(), dims[..2], "{name}: output shape {dims:?}");
    let got = got.to_vec().expect("read");
    let scale = common::max_abs(&expected);
    let worst = common::max_abs_diff(&got, &expected);
    assert!(
        worst <= 1e-4 * scale.max(1e-6),
        "{name}: max |diff| {worst} vs max |value| {scale}"
    );
}

macro_rules! light {
    ($($test:ident => $name:literal;)*) => {$(
        #[test]
        fn $test() {
            check($name);
        }
    )*};
}

light! {
    bvlc_alexnet => "light_bvlc_alexnet";
    densenet121 => "light_densenet121";
    inception_v1 => "light_inception_v1";
    inception_v2 => "light_inception_v2";
    resnet50 => "light_resnet50";
    shufflenet => "light_shufflenet";
    squeezenet => "light_squeezenet";
    vgg19 => "light_vgg19";
    zfnet512 => "light_zfnet512";
}
