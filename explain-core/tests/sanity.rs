//! The model-parameter randomisation check (Adebayo et al. 2018) on the oracle kit's models:
//! the maps of methods that read the model (saliency, Grad-CAM) drift far from the original as
//! the cascade scrambles the weights, while a "method" that ignores the model (an edge detector
//! of the image) stays the same and is flagged as such; the scrambling is reproducible by seed
//! and touches only the layers it names.
//!
//! Measured (seed 7): fully scrambled, saliency keeps a rank correlation of 0.13 (SmallCNN,
//! trained), 0.39 (MobileNetV2) and 0.33 (ResNet-18); Grad-CAM 0.36 and -0.01 on the first
//! two. On the ResNet-18 fixture, whose weights are torchvision's untrained initialisation,
//! Grad-CAM at layer4 comes back to 0.77 once every layer is scrambled: the residual paths
//! carry the image's own structure to that layer, so there is little learned to lose, and the
//! check says "partly" there. It is printed, not held to a bound.

use std::path::PathBuf;

use explain_core::explain::{CamConvention, Method, Silent, Target, grad_cam::CamMethod};
use explain_core::metrics::sanity::{
    Plane, Randomisation, SanitySettings, Verdict, sanity_check, sanity_check_with,
};
use explain_core::npy::read_f32;
use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/oracle")
}

struct Case {
    classifier: Classifier,
    image: FloatValue,
    pixels: Vec<f32>,
    target: Target,
}

fn load(name: &str) -> Case {
    let device = Device::flex();
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir().join("cases").join(name).join("meta.json")).expect("meta"),
    )
    .expect("meta JSON");
    let model = dir().join(meta["model"].as_str().expect("model"));
    let classifier =
        Classifier::from_bytes(&std::fs::read(model).expect("model"), &device).expect("load");
    let input = read_f32(
        &std::fs::read(dir().join("cases").join(name).join("input.npy")).expect("input"),
        "input.npy",
    )
    .expect("npy");
    let image = FloatValue::from_vec(input.data.clone(), &input.shape, &device).expect("upload");
    let target = Target::logit(meta["target_class"].as_u64().expect("target") as usize);
    Case {
        classifier,
        image,
        pixels: input.data,
        target,
    }
}

fn grad_cam() -> Method {
    Method::Cam {
        kind: CamMethod::GradCam,
        layer: None,
        convention: CamConvention::PytorchGradCam,
    }
}

/// Sobel gradient magnitude of the image, summed over channels: a map made without the model.
fn edges(case: &Case) -> Plane {
    let spec = case.classifier.input();
    let (c, h, w) = (spec.channels, spec.height, spec.width);
    let at = |ch: usize, y: isize, x: isize| {
        let y = y.clamp(0, h as isize - 1) as usize;
        let x = x.clamp(0, w as isize - 1) as usize;
        case.pixels[(ch * h + y) * w + x]
    };
    let mut values = vec![0f32; h * w];
    for ch in 0..c {
        for y in 0..h as isize {
            for x in 0..w as isize {
                let gx = at(ch, y - 1, x + 1) + 2.0 * at(ch, y, x + 1) + at(ch, y + 1, x + 1)
                    - at(ch, y - 1, x - 1)
                    - 2.0 * at(ch, y, x - 1)
                    - at(ch, y + 1, x - 1);
                let gy = at(ch, y + 1, x - 1) + 2.0 * at(ch, y + 1, x) + at(ch, y + 1, x + 1)
                    - at(ch, y - 1, x - 1)
                    - 2.0 * at(ch, y - 1, x)
                    - at(ch, y - 1, x + 1);
                values[y as usize * w + x as usize] += (gx * gx + gy * gy).sqrt();
            }
        }
    }
    Plane {
        values,
        height: h,
        width: w,
    }
}

fn settings(max_steps: usize) -> SanitySettings {
    SanitySettings {
        randomisation: Randomisation::Cascade,
        seed: 7,
        max_steps: Some(max_steps),
    }
}

#[test]
fn maps_that_read_the_model_change_and_an_edge_detector_does_not() {
    for (name, steps) in [
        ("fashion_tshirt", 4),
        ("mobilenet_v2_rocket", 6),
        ("resnet18_chelsea", 6),
    ] {
        let case = load(name);
        let settings = settings(steps);
        let edge = edges(&case);
        let mut edge_method = |_: &Classifier| Ok(edge.clone());
        let baseline = sanity_check_with(
            &case.classifier,
            "Sobel edges",
            &settings,
            &mut edge_method,
            &mut Silent,
        )
        .expect("edges");
        assert_eq!(baseline.report.verdict, Verdict::IgnoresModel, "{name}");
        assert!(baseline.report.steps.iter().all(|s| s.spearman > 0.999));

        let methods = if name == "resnet18_chelsea" {
            vec![Method::Saliency]
        } else {
            vec![Method::Saliency, grad_cam()]
        };
        for method in methods {
            let run = sanity_check(
                &case.classifier,
                &case.image,
                case.target,
                &method,
                &settings,
                &mut Silent,
            )
            .expect("check");
            let report = &run.report;
            let spearman: Vec<f64> = report.steps.iter().map(|s| s.spearman).collect();
            let ssim: Vec<f64> = report.steps.iter().map(|s| s.ssim).collect();
            eprintln!(
                "{name} {}: spearman {spearman:.3?} ssim {ssim:.3?}",
                method.label()
            );
            assert_eq!(report.steps.len(), steps, "{name}");
            assert_eq!(run.planes.len(), steps + 1);
            // Fully scrambled, the map resembles the original far less than the edge map does.
            let last = report.steps.last().expect("steps");
            assert!(
                last.spearman < baseline.report.steps[0].spearman - 0.5,
                "{name} {}: {spearman:?}",
                method.label()
            );
            assert!(last.top_k_overlap < 0.6, "{name}: {last:?}");
            assert_ne!(
                report.verdict,
                Verdict::IgnoresModel,
                "{name} {}",
                method.label()
            );
        }
    }
}

#[test]
fn scrambling_is_reproducible_by_seed_and_touches_only_the_named_layers() {
    let case = load("fashion_tshirt");
    let c = &case.classifier;
    let layers = c.graph().parameter_layers();
    let ops: Vec<&str> = layers.iter().map(|l| l.op.as_str()).collect();
    assert_eq!(ops, ["Conv", "Conv", "Gemm", "Gemm"], "{layers:?}");
    assert_eq!(
        layers.iter().map(|l| l.parameters).sum::<usize>(),
        // SmallCNN: conv 1->16 3x3, conv 16->32 3x3, fc 1568->64, fc 64->10, with biases.
        (16 * 9 + 16) + (32 * 16 * 9 + 32) + (1568 * 64 + 64) + (64 * 10 + 10)
    );
    let logits = |model: &Classifier| {
        model
            .logits(case.image.clone())
            .expect("run")
            .to_vec()
            .expect("read")
    };
    let original = logits(c);
    assert_eq!(
        logits(&c.with_randomised_layers(&[], 1).expect("none")),
        original
    );
    let a = logits(&c.with_randomised_layers(&[3], 1).expect("top"));
    assert_eq!(
        a,
        logits(&c.with_randomised_layers(&[3], 1).expect("again"))
    );
    assert_ne!(
        a,
        logits(&c.with_randomised_layers(&[3], 2).expect("seed 2"))
    );
    assert_ne!(a, original);
    assert!(a.iter().all(|v| v.is_finite()));
    assert!(c.with_randomised_layers(&[4], 1).is_err());

    // Scrambling only the last layer leaves the penultimate activations as they were.
    let hidden = layers[2].name.clone();
    let tap = |model: &Classifier| -> Vec<f32> {
        let slot = model.graph().slot(&hidden).expect("slot");
        let out = model
            .graph()
            .run(
                vec![explain_core::onnx::Value::Float(case.image.clone())],
                &[slot],
            )
            .expect("run");
        out.taps[&slot]
            .as_float()
            .expect("float")
            .to_vec()
            .expect("read")
    };
    assert_eq!(
        tap(&c.with_randomised_layers(&[3], 1).expect("top")),
        tap(c)
    );
    assert_ne!(
        tap(&c.with_randomised_layers(&[1], 1).expect("conv")),
        tap(c)
    );

    // The same check twice: the same report; another seed: other numbers.
    let run = |seed| {
        let settings = SanitySettings {
            seed,
            ..SanitySettings::default()
        };
        sanity_check(
            c,
            &case.image,
            case.target,
            &Method::Saliency,
            &settings,
            &mut Silent,
        )
        .expect("check")
        .report
    };
    let first = run(3);
    assert_eq!(first, run(3));
    assert_ne!(first.steps, run(4).steps);
    assert_eq!(first.steps.len(), 4);
    assert_eq!(first.steps[3].randomised.len(), 4);
}

#[test]
fn independent_checks_scramble_one_layer_at_a_time_and_can_be_cancelled() {
    let case = load("fashion_tshirt");
    let settings = SanitySettings {
        randomisation: Randomisation::Independent,
        seed: 1,
        max_steps: None,
    };
    let run = sanity_check(
        &case.classifier,
        &case.image,
        case.target,
        &grad_cam(),
        &settings,
        &mut Silent,
    )
    .expect("check");
    let names: Vec<Vec<String>> = run
        .report
        .steps
        .iter()
        .map(|s| s.randomised.clone())
        .collect();
    let layers = case.classifier.graph().parameter_layers();
    let expected: Vec<Vec<String>> = layers.iter().rev().map(|l| vec![l.name.clone()]).collect();
    assert_eq!(names, expected);

    let mut seen = Vec::new();
    let mut stop_after_two = |done: usize, total: usize| {
        seen.push((done, total));
        done < 2
    };
    let cancelled = sanity_check(
        &case.classifier,
        &case.image,
        case.target,
        &grad_cam(),
        &settings,
        &mut stop_after_two,
    );
    assert!(matches!(cancelled, Err(explain_core::Error::Cancelled)));
    assert_eq!(seen, vec![(1, 5), (2, 5)]);
}
