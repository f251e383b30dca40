//! The classifier families users bring (fixtures: tests/fixtures/families, made by
//! make_families.py there): each imports, its logits equal onnxruntime's within 1e-4 of
//! max |logit|, its input gradient equals PyTorch autograd's, and its layer table suggests a
//! spatial Grad-CAM layer.

mod common;

use std::path::PathBuf;

use explain_core::npy::{HostTensor, read_f32};
use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device, Score, Wrt};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/families")
}

fn npy(name: &str, what: &str) -> Option<HostTensor> {
    let bytes = std::fs::read(dir().join(format!("{name}.{what}.npy"))).ok()?;
    Some(read_f32(&bytes, what).expect(what))
}

fn max_rel_diff(got: &[f32], expected: &[f32]) -> f32 {
    common::max_abs_diff(got, expected) / common::max_abs(expected)
}

fn load(name: &str) -> (Classifier, FloatValue) {
    let device = Device::flex();
    let bytes = std::fs::read(dir().join(format!("{name}.onnx"))).expect("model file");
    let classifier =
        Classifier::from_bytes(&bytes, &device).unwrap_or_else(|e| panic!("{name}: {e}"));
    let input = npy(name, "input").expect("input");
    let x = FloatValue::from_vec(input.data, &input.shape, &device).expect("upload");
    (classifier, x)
}

/// Logits (and, where PyTorch made the model, the input gradient) equal the references.
fn check(name: &str) -> Classifier {
    let (classifier, x) = load(name);
    let expected = npy(name, "logits").expect("logits");
    let logits = classifier
        .logits(x.clone())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(logits.dims(), expected.shape, "{name}: logits shape");
    let diff = max_rel_diff(&logits.to_vec().expect("read"), &expected.data);
    assert!(
        diff <= 1e-4,
        "{name}: logits differ by {diff} of max |logit|"
    );

    if let Some(saliency) = npy(name, "saliency") {
        let target = argmax(&expected.data);
        let gradient = classifier
            .gradient(x, &[target], Score::Logit, Wrt::Input)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let diff = max_rel_diff(&gradient.gradient.to_vec().expect("read"), &saliency.data);
        assert!(
            diff <= 1e-4,
            "{name}: input gradient differs by {diff} of its max"
        );
    }
    classifier
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f32::MIN),
            |best, (i, &x)| if x > best.1 { (i, x) } else { best },
        )
        .0
}

/// The suggested Grad-CAM layer is a spatial map with more than one position.
fn assert_gradcam_layer(classifier: &Classifier, name: &str) -> String {
    let table = classifier.layer_table();
    let suggested = table
        .gradcam_layer
        .clone()
        .unwrap_or_else(|| panic!("{name}: no Grad-CAM layer suggested"));
    let layer = table
        .layers
        .iter()
        .find(|l| l.name == suggested)
        .expect("suggested layer in the table");
    assert!(layer.spatial, "{name}: {layer:?}");
    suggested
}

/// A vision transformer's suggestion is the normalised input of its last block's attention,
/// read as tokens on the 4x4 patch grid after the class token (32-pixel images, 8-pixel patches).
fn assert_transformer_cam_layer(classifier: &Classifier, name: &str) {
    let table = classifier.layer_table();
    let suggested = table.gradcam_layer.clone().expect("a suggestion");
    let layer = table
        .layers
        .iter()
        .find(|l| l.name == suggested)
        .expect("in the table");
    assert_eq!(layer.op, "LayerNormalization", "{name}: {layer:?}");
    assert_eq!(
        layer.tokens,
        Some(explain_core::onnx::TokenGrid {
            skip: 1,
            height: 4,
            width: 4
        }),
        "{name}: {layer:?}"
    );
}

macro_rules! family {
    ($($test:ident => $name:literal, cnn: $cnn:literal;)*) => {$(
        #[test]
        fn $test() {
            let classifier = check($name);
            if $cnn {
                assert_gradcam_layer(&classifier, $name);
            } else {
                assert_transformer_cam_layer(&classifier, $name);
            }
        }
    )*};
}

family! {
    alexnet_with_local_response_norm => "alexnet_lrn", cnn: true;
    vgg_with_batchnorm => "vgg_bn", cnn: true;
    googlenet_inception_blocks => "googlenet_mini", cnn: true;
    resnet_dynamo_export_opset_18 => "resnet_basic_dynamo", cnn: true;
    densenet => "densenet_mini", cnn: true;
    shufflenet_v2_channel_shuffle => "shufflenet_v2", cnn: true;
    efficientnet_silu_and_squeeze_excite => "efficientnet_mini", cnn: true;
    regnet_grouped_convolutions => "regnet_grouped", cnn: true;
    convnext_layernorm_gelu_depthwise_7x7 => "convnext_mini", cnn: true;
    vision_transformer_torchscript => "vit_tiny", cnn: false;
    vision_transformer_dynamo => "vit_tiny_dynamo", cnn: false;
    keras_style_nhwc_constant_weights => "keras_style_nhwc", cnn: true;
    legacy_opset_7 => "legacy_opset7", cnn: true;
    opset_24 => "keras_style_opset24", cnn: true;
}

/// MobileNetV3 ends in a 1x1 conv after pooling: the suggestion must be the last map before it.
#[test]
fn mobilenet_v3_gradcam_skips_the_1x1_head() {
    let classifier = check("mobilenet_v3_small");
    let suggested = assert_gradcam_layer(&classifier, "mobilenet_v3_small");
    let table = classifier.layer_table();
    let layer = table
        .layers
        .iter()
        .find(|l| l.name == suggested)
        .expect("layer");
    assert_eq!(layer.spatial_size(), Some((2, 2)), "{layer:?}");
}

/// A Keras model's input is channels-last; the table must read its maps' channels from axis 3
/// and the convolutions' (transposed inside the graph) from axis 1.
#[test]
fn keras_layouts_are_followed_through_transposes() {
    let (classifier, _) = load("keras_style_nhwc");
    let table = classifier.layer_table();
    let find = |n: &str| table.layers.iter().find(|l| l.name == n).expect(n).clone();
    assert_eq!(find("nchw").channel_axis, Some(1));
    assert_eq!(find("relu6").channels(), Some(8));
    assert_eq!(find("nhwc").channel_axis, Some(3));
    assert_eq!(find("nhwc").channels(), Some(8));
    assert_eq!(table.gradcam_layer.as_deref(), Some("hswish"));
}
