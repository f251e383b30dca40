//! Vision transformers (fixtures: tests/fixtures/vit, made by make_vit.py there): the layer
//! table reads token sequences on their patch grid and suggests pytorch-grad-cam's documented
//! layer (`blocks[-1].norm1`); Grad-CAM and Grad-CAM++ there equal pytorch-grad-cam with its
//! hand-written `reshape_transform`, with no reshape given here; attention rollout equals
//! vit-explain's. One model has a class token on a square grid (torchscript export), the other
//! a class token and four registers on a 6x8 grid (dynamo export).

mod common;

use std::path::PathBuf;

use explain_core::explain::grad_cam::CamMethod;
use explain_core::explain::rollout::rollout_grid;
use explain_core::explain::{CamConvention, Method, Silent, Target};
use explain_core::npy::{HostTensor, read_f32};
use explain_core::onnx::{FloatValue, TokenGrid};
use explain_core::{Classifier, Device};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/vit")
}

fn npy(name: &str, what: &str) -> HostTensor {
    let bytes = std::fs::read(dir().join(format!("{name}.{what}.npy"))).expect(what);
    read_f32(&bytes, what).expect(what)
}

fn meta(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("vit.json")).expect("vit.json");
    serde_json::from_str::<serde_json::Value>(&text).expect("json")[name].clone()
}

fn load(name: &str) -> (Classifier, FloatValue) {
    let device = Device::flex();
    let bytes = std::fs::read(dir().join(format!("{name}.onnx"))).expect("model file");
    let classifier = Classifier::from_bytes(&bytes, &device).unwrap_or_else(|e| panic!("{e}"));
    let input = npy(name, "input");
    let x = FloatValue::from_vec(input.data, &input.shape, &device).expect("upload");
    (classifier, x)
}

fn check(name: &str, grid: TokenGrid) {
    let meta = meta(name);
    let (classifier, x) = load(name);
    let logits = classifier
        .logits(x.clone())
        .expect("logits")
        .to_vec()
        .expect("read");
    let expected = npy(name, "logits").data;
    assert!(
        common::max_abs_diff(&logits, &expected) <= 1e-4 * common::max_abs(&expected),
        "{name}: logits"
    );

    // The suggested layer is blocks[-1].norm1, read on its grid.
    let table = classifier.layer_table();
    let suggested = table.gradcam_layer.clone().expect("a suggestion");
    assert_eq!(
        suggested,
        meta["gradcam_layer"].as_str().expect("ok"),
        "{name}"
    );
    let layer = table
        .layers
        .iter()
        .find(|l| l.name == suggested)
        .expect("ok");
    assert_eq!(layer.tokens, Some(grid), "{name}");

    let target = Target::logit(meta["target"].as_u64().expect("ok") as usize);
    for (kind, file) in [
        (CamMethod::GradCam, "gradcam_pgc"),
        (CamMethod::GradCamPlusPlus, "gradcampp_pgc"),
    ] {
        let method = Method::Cam {
            kind,
            layer: None,
            convention: CamConvention::PytorchGradCam,
        };
        let map = method
            .run(&classifier, &x, target, &mut Silent)
            .expect("cam");
        let reference = npy(name, file);
        assert_eq!(map.dims(), reference.shape, "{name} {file}");
        let diff = common::max_abs_diff(&map.to_vec().expect("ok"), &reference.data);
        assert!(diff <= 1e-4, "{name} {file}: max |diff| {diff}");
    }

    let rollout = rollout_grid(&classifier, &x, &mut Silent).expect("rollout");
    let reference = npy(name, "rollout");
    assert_eq!(rollout.dims(), [1, grid.height, grid.width]);
    let values = FloatValue::from_tensor(rollout).to_vec().expect("ok");
    let diff = common::max_abs_diff(&values, &reference.data);
    assert!(diff <= 1e-5, "{name} rollout: max |diff| {diff}");
    // Peaked attention: the map is not flat (a flat map would match any flat reference).
    let spread = common::value_range(&reference.data);
    assert!(
        spread > 0.2,
        "{name}: the reference rollout is nearly flat ({spread})"
    );

    // The method as users call it: the rollout resized to the image.
    let map = Method::AttentionRollout
        .run(&classifier, &x, target, &mut Silent)
        .expect("rollout map");
    assert_eq!(map.dims(), [1, x.dims()[2], x.dims()[3]]);
}

#[test]
fn vit_with_a_class_token_equals_pytorch_grad_cam_and_vit_explain() {
    check(
        "vit_cls",
        TokenGrid {
            skip: 1,
            height: 8,
            width: 8,
        },
    );
}

#[test]
fn vit_with_registers_on_a_wide_image_equals_pytorch_grad_cam_and_vit_explain() {
    check(
        "vit_reg",
        TokenGrid {
            skip: 5,
            height: 6,
            width: 8,
        },
    );
}

#[test]
fn rollout_on_a_convolutional_network_says_what_to_use_instead() {
    let device = Device::flex();
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/oracle/models/smallcnn_fashion.onnx"),
    )
    .expect("ok");
    let classifier = Classifier::from_bytes(&bytes, &device).expect("ok");
    let x = FloatValue::from_vec(vec![0.0; 28 * 28], &[1, 1, 28, 28], &device).expect("ok");
    let err = Method::AttentionRollout
        .run(&classifier, &x, Target::logit(0), &mut Silent)
        .expect_err("an error")
        .to_string();
    assert!(
        err.contains("no attention") && err.contains("Grad-CAM"),
        "{err}"
    );
}
