//! The explanation methods against the peers users trust, on every oracle case
//! (tests/fixtures/oracle, see its README): Captum's Saliency, Occlusion (each window/stride
//! config), LayerGradCam and IntegratedGradients (32 steps, riemann_trapezoid), and
//! pytorch-grad-cam's GradCAM map. Each map must lie within 1e-4 of the reference's value range
//! (max − min); the two gradient-chaotic random-init networks get the looser bounds explained in
//! oracle_parity.rs.
//!
//! Integrated Gradients also evaluates the gradient at points far from the image: the all-zero
//! baseline (flat feature maps, so max-pool windows of equal values) and faint copies of it. At
//! a few of those points one unit's gradient path differs from PyTorch's (measured with torch
//! through onnx2torch / torchvision: for fer_minixception only the α = 0 point differs, between
//! `add_1` and `add_2`; for SqueezeNet 8 of the 32 points differ in one unit's receptive field
//! while the other 24 agree to 3e-7). Each point's weight is 1/32, so IG is held to the measured
//! bound of each such model (listed per test) instead of 1e-4.

mod common;

use std::path::PathBuf;

use explain_core::explain::grad_cam::{
    CamMethod, class_map, pytorch_grad_cam_map, score_cam_from_scores, score_cam_scores_part,
};
use explain_core::explain::integrated_gradients::{
    IntegratedGradients, integrated_gradients, integrated_gradients_part,
};
use explain_core::explain::occlusion::{
    Occlusion, Recompute, occlusion, occlusion_part, occlusion_with,
};
use explain_core::explain::saliency::{SmoothGrad, saliency, smooth_grad_part};
use explain_core::explain::{Silent, Target};
use explain_core::npy::{HostTensor, read_f32};
use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/oracle")
}

fn npy(case: &str, file: &str) -> HostTensor {
    let path = dir().join("cases").join(case).join(file);
    read_f32(&std::fs::read(&path).expect("reference file"), file).expect(file)
}

fn assert_map(what: &str, got: &FloatValue, expected: &HostTensor, tol: f32) {
    assert_eq!(got.dims(), expected.shape, "{what}: shape");
    let got = got.to_vec().expect("read");
    let range = common::value_range(&expected.data).max(f32::MIN_POSITIVE);
    let worst = common::max_abs_diff(&got, &expected.data);
    assert!(
        worst <= tol * range,
        "{what}: max |diff| {worst} > {tol} x range {range}"
    );
}

struct Case {
    classifier: Classifier,
    image: FloatValue,
    meta: serde_json::Value,
}

impl Case {
    fn load(name: &'static str) -> Self {
        let device = Device::flex();
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir().join("cases").join(name).join("meta.json")).expect("meta"),
        )
        .expect("meta JSON");
        let model = dir().join(meta["model"].as_str().expect("model"));
        let classifier =
            Classifier::from_bytes(&std::fs::read(model).expect("model"), &device).expect("load");
        let input = npy(name, "input.npy");
        let image = FloatValue::from_vec(input.data, &input.shape, &device).expect("upload");
        Case {
            classifier,
            image,
            meta,
        }
    }

    fn target(&self) -> Target {
        Target::logit(self.meta["target_class"].as_u64().expect("target") as usize)
    }
}

/// Every method on one case; `gradient_tol` bounds the gradient-based maps, `ig_tol` IG.
fn check(name: &'static str, gradient_tol: f32, ig_tol: f32) {
    let case = Case::load(name);
    let (c, target) = (&case.classifier, case.target());

    let map = saliency(c, &case.image, target).expect("saliency");
    assert_map(
        &format!("{name} saliency"),
        &map,
        &npy(name, "saliency.npy"),
        gradient_tol,
    );

    for config in case.meta["occlusion"]
        .as_array()
        .expect("occlusion configs")
    {
        let triple = |key: &str| -> [usize; 3] {
            let v: Vec<usize> = config[key]
                .as_array()
                .expect(key)
                .iter()
                .map(|d| d.as_u64().expect("size") as usize)
                .collect();
            [v[0], v[1], v[2]]
        };
        let settings = Occlusion {
            window: triple("window"),
            stride: triple("stride"),
            baseline: config["baseline"].as_f64().expect("baseline") as f32,
            batch: 32,
        };
        let file = config["file"].as_str().expect("file");
        let map = occlusion(c, &case.image, target, &settings, &mut Silent).expect("occlusion");
        assert_map(&format!("{name} {file}"), &map, &npy(name, file), 1e-4);
    }

    let layer = case.meta["layers"]["gradcam"].as_str().expect("layer");
    let raw = class_map(
        c,
        &case.image,
        target,
        layer,
        CamMethod::GradCam,
        &mut Silent,
    )
    .expect("Grad-CAM");
    assert_map(
        &format!("{name} LayerGradCam"),
        &raw,
        &npy(name, "gradcam_captum.npy"),
        gradient_tol,
    );
    let dims = case.image.dims();
    let pgc = pytorch_grad_cam_map(&raw, dims[2], dims[3]).expect("pgc map");
    assert_map(
        &format!("{name} pytorch-grad-cam"),
        &pgc,
        &npy(name, "gradcam_pgc.npy"),
        gradient_tol,
    );

    let ig = integrated_gradients(
        c,
        &case.image,
        target,
        &IntegratedGradients::default(),
        &mut Silent,
    )
    .expect("IG");
    assert_map(
        &format!("{name} IntegratedGradients"),
        &ig,
        &npy(name, "ig.npy"),
        ig_tol,
    );
}

#[test]
fn fashion_tshirt() {
    check("fashion_tshirt", 1e-4, 1e-4);
}

#[test]
fn fashion_dynamo() {
    check("fashion_dynamo", 1e-4, 1e-4);
}

#[test]
fn face_expression_astronaut() {
    check("face_expression_astronaut", 1e-4, 1e-3);
}

#[test]
fn fer_astronaut() {
    check("fer_astronaut", 1e-4, 2e-3);
}

#[test]
fn squeezenet_coffee() {
    check("squeezenet_coffee", 1e-4, 3e-3);
}

#[test]
fn resnet18_chelsea() {
    check("resnet18_chelsea", 2e-3, 2e-3);
}

#[test]
fn mobilenet_v2_rocket() {
    check("mobilenet_v2_rocket", 5e-2, 5e-2);
}

/// Deletion and insertion curves: they start and end where they must, and the occlusion map
/// (which measures exactly what deleting does) beats its own reverse on both.
#[test]
fn faithfulness_ranks_a_faithful_map_above_its_reverse() {
    use explain_core::metrics::faithfulness::{Faithfulness, Mode, area_under_curve, curve};
    use explain_core::model::softmax;
    let case = Case::load("fer_astronaut");
    let (c, target) = (&case.classifier, case.target());
    let map = npy("fer_astronaut", "occlusion_w8_s4.npy").data;
    let reversed: Vec<f32> = map.iter().map(|v| -v).collect();
    let p0 = softmax(
        &c.logits(case.image.clone())
            .expect("logits")
            .to_vec()
            .expect("read"),
    )[target.class];
    let run = |mode: Mode, ranking: &[f32]| -> Vec<f32> {
        curve(
            c,
            &case.image,
            target,
            ranking,
            &Faithfulness::new(mode),
            &mut Silent,
        )
        .expect("curve")
        .into_data()
        .try_to_vec()
        .expect("read")
    };
    let deletion = run(Mode::Deletion, &map);
    assert_eq!(deletion.len(), 21);
    assert!(
        (deletion[0] - p0).abs() < 1e-5,
        "starts at the image's probability"
    );
    let insertion = run(Mode::Insertion, &map);
    assert!(
        (insertion[20] - p0).abs() < 1e-5,
        "ends at the image's probability"
    );
    assert!(
        (deletion[20] - insertion[0]).abs() < 1e-5,
        "both meet at the blank image"
    );
    let (del, del_rev) = (
        area_under_curve(&deletion),
        area_under_curve(&run(Mode::Deletion, &reversed)),
    );
    let (ins, ins_rev) = (
        area_under_curve(&insertion),
        area_under_curve(&run(Mode::Insertion, &reversed)),
    );
    println!(
        "deletion AUC {del:.3} (reversed {del_rev:.3}); insertion AUC {ins:.3} (reversed {ins_rev:.3})"
    );
    assert!(del < del_rev && ins > ins_rev);
}

/// Grad-CAM++, HiResCAM, LayerCAM and Score-CAM against pytorch-grad-cam 1.5.7 on the
/// Fashion-MNIST case (references: tests/fixtures/cam-variants, made by the script there).
#[test]
fn cam_variants_match_pytorch_grad_cam() {
    let case = Case::load("fashion_tshirt");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/cam-variants");
    for (method, file) in [
        (CamMethod::GradCam, "gradcam.npy"),
        (CamMethod::GradCamPlusPlus, "gradcam_plus_plus.npy"),
        (CamMethod::HiResCam, "hirescam.npy"),
        (CamMethod::LayerCam, "layercam.npy"),
        (CamMethod::ScoreCam, "scorecam.npy"),
    ] {
        let raw = class_map(
            &case.classifier,
            &case.image,
            Target::logit(0),
            "/relu2/Relu_output_0",
            method,
            &mut Silent,
        )
        .expect("map");
        let map = pytorch_grad_cam_map(&raw, 28, 28).expect("pgc map");
        let expected =
            read_f32(&std::fs::read(dir.join(file)).expect("reference"), file).expect("npy");
        assert_map(&format!("{method:?}"), &map, &expected, 1e-4);
    }
}

/// A long method stops between batches when its progress callback says so.
#[test]
fn a_cancelled_occlusion_stops_with_cancelled() {
    let case = Case::load("fashion_tshirt");
    let mut calls = 0;
    let result = occlusion(
        &case.classifier,
        &case.image,
        Target::logit(0),
        &Occlusion {
            window: [1, 4, 4],
            stride: [1, 2, 2],
            baseline: 0.0,
            batch: 8,
        },
        &mut |_: usize, _: usize| {
            calls += 1;
            calls < 3
        },
    );
    assert!(
        matches!(result, Err(explain_core::Error::Cancelled)),
        "{result:?}"
    );
    assert_eq!(calls, 3);
}

/// Incremental occlusion (each copy recomputes only what its window reaches) equals the full
/// recompute within 1e-5 of the map's range: residual adds (ResNet-18), depthwise convolutions
/// and ReLU6 (MobileNetV2), channel concatenation (SqueezeNet), max-pool and stride-2 windows
/// that miss a change; windows clipped at the edge and windows over some channels only.
#[test]
fn incremental_occlusion_equals_the_full_recompute() {
    let configs: [(&str, [usize; 3], [usize; 3]); 4] = [
        ("resnet18_chelsea", [3, 32, 32], [3, 40, 40]),
        ("mobilenet_v2_rocket", [1, 20, 20], [2, 70, 70]),
        ("squeezenet_coffee", [3, 28, 28], [3, 64, 64]),
        ("fer_astronaut", [1, 8, 8], [1, 10, 10]),
    ];
    for (name, window, stride) in configs {
        let case = Case::load(name);
        let settings = Occlusion {
            window,
            stride,
            baseline: 0.0,
            batch: 16,
        };
        let run = |recompute| {
            occlusion_with(
                &case.classifier,
                &case.image,
                case.target(),
                &settings,
                recompute,
                &mut Silent,
            )
            .expect("occlusion")
            .to_vec()
            .expect("read")
        };
        let (fast, full) = (run(Recompute::Incremental), run(Recompute::Full));
        let range = common::value_range(&full).max(f32::MIN_POSITIVE);
        let worst = common::max_abs_diff(&fast, &full);
        eprintln!("{name}: max |diff| {worst}, range {range}");
        assert!(
            worst <= 1e-5 * range,
            "{name}: max |diff| {worst} > 1e-5 x range {range}"
        );
    }
}

/// Workers that share an occlusion map each compute a part; the parts add up to the map.
#[test]
fn occlusion_parts_add_up_to_the_map() {
    let case = Case::load("resnet18_chelsea");
    let settings = Occlusion {
        window: [3, 48, 48],
        stride: [3, 32, 32],
        baseline: 0.0,
        batch: 8,
    };
    let whole = occlusion(
        &case.classifier,
        &case.image,
        case.target(),
        &settings,
        &mut Silent,
    )
    .expect("map")
    .to_vec()
    .expect("read");
    let mut sum = vec![0.0; whole.len()];
    for index in 0..3 {
        let part = occlusion_part(
            &case.classifier,
            &case.image,
            case.target(),
            &settings,
            (index, 3),
            &mut Silent,
        )
        .expect("part")
        .to_vec()
        .expect("read");
        sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
    }
    let range = common::value_range(&whole).max(f32::MIN_POSITIVE);
    let worst = common::max_abs_diff(&sum, &whole);
    assert!(worst <= 1e-6 * range, "max |diff| {worst}, range {range}");
    assert!(
        occlusion_part(
            &case.classifier,
            &case.image,
            case.target(),
            &settings,
            (3, 3),
            &mut Silent
        )
        .is_err()
    );
}

/// Workers that share Integrated Gradients each integrate a run of the quadrature points; the
/// parts add up to the map.
#[test]
fn integrated_gradients_parts_add_up_to_the_map() {
    let case = Case::load("fashion_tshirt");
    let settings = IntegratedGradients::default();
    parts_add_up("IG", 1e-6, |part| {
        integrated_gradients_part(
            &case.classifier,
            &case.image,
            case.target(),
            &settings,
            part,
            &mut Silent,
        )
        .expect("IG")
    });
}

/// SmoothGrad's noisy copies split between workers: the same copies, so the same map.
#[test]
fn smooth_grad_parts_add_up_to_the_map() {
    let case = Case::load("fashion_tshirt");
    // 10 copies in batches of 4: parts of 1, 1 and 2 batches, the last one short.
    let settings = SmoothGrad {
        samples: 10,
        batch: 4,
        ..SmoothGrad::default()
    };
    parts_add_up("SmoothGrad", 1e-6, |part| {
        smooth_grad_part(
            &case.classifier,
            &case.image,
            case.target(),
            &settings,
            part,
            &mut Silent,
        )
        .expect("SmoothGrad")
    });
}

/// Score-CAM's channel scores split between workers add up to every channel's score, and the
/// map made from them is the one-worker map.
#[test]
fn score_cam_parts_add_up_to_the_map() {
    let case = Case::load("fashion_tshirt");
    let layer = case.meta["layers"]["gradcam"].as_str().expect("layer");
    let scores = |part| {
        score_cam_scores_part(
            &case.classifier,
            &case.image,
            case.target(),
            layer,
            part,
            &mut Silent,
        )
        .expect("Score-CAM scores")
    };
    parts_add_up("Score-CAM scores", 0.0, scores);
    let whole = class_map(
        &case.classifier,
        &case.image,
        case.target(),
        layer,
        CamMethod::ScoreCam,
        &mut Silent,
    )
    .expect("Score-CAM")
    .to_vec()
    .expect("read");
    let from_scores = score_cam_from_scores(&case.classifier, &case.image, layer, &scores((0, 1)))
        .expect("map from scores")
        .to_vec()
        .expect("read");
    assert_eq!(whole, from_scores);
}

/// Runs `run` whole and in 1, 3 and 5 parts (more parts than some methods have batches): the
/// parts' sum must be the whole within `tolerance` of its value range.
fn parts_add_up(what: &str, tolerance: f32, run: impl Fn((usize, usize)) -> FloatValue) {
    let read = |v: FloatValue| v.to_vec().expect("read");
    let whole = read(run((0, 1)));
    for count in [3, 5] {
        let mut sum = vec![0.0; whole.len()];
        for index in 0..count {
            let part = read(run((index, count)));
            assert_eq!(part.len(), whole.len(), "{what}: part {index} of {count}");
            sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
        }
        let range = common::value_range(&whole).max(f32::MIN_POSITIVE);
        let worst = common::max_abs_diff(&sum, &whole);
        assert!(
            worst <= tolerance * range,
            "{what} in {count} parts: max |diff| {worst}, range {range}"
        );
    }
}
