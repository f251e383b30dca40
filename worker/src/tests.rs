//! The engine as the page drives it: requests in, responses out, on the fixtures and the demo.

use futures::executor::block_on;

use std::collections::BTreeSet;

use explain_core::data::{Preprocess, ZipDataset};
use explain_core::features::deep_dream::DeepDream;

use crate::jobs::DATASET_BATCH;
use crate::*;
use unpic_app::protocol::{EvaluationResult, MapMethod, Response, Shard, TsneMap};
use unpic_app::protocol::{ExplainMethod, ExplainPart, bytes_f32};

fn fixture(path: &str) -> Vec<u8> {
    let p = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn load(engine: &mut Engine, name: &str, bytes: Vec<u8>) -> Response {
    let mut replies = block_on(engine.handle(
        Request::LoadModel {
            name: name.into(),
            size: None,
        },
        Some(bytes),
    ));
    replies.remove(0).0
}

#[test]
fn a_bad_model_keeps_the_good_one_loaded() {
    let mut engine = Engine::default();
    let good = load(
        &mut engine,
        "fer.onnx",
        fixture("oracle/models/fer_minixception.onnx"),
    );
    let Response::ModelLoaded(summary) = good else {
        panic!("{good:?}")
    };
    assert_eq!(
        (
            summary.input.channels,
            summary.input.height,
            summary.num_classes
        ),
        (1, 64, 7)
    );

    let bad = load(&mut engine, "bad.onnx", b"nope".to_vec());
    let Response::Failed {
        task,
        during,
        message,
    } = bad
    else {
        panic!("{bad:?}")
    };
    assert!(
        task == Task::Model && during.contains("bad.onnx") && message.contains("ONNX"),
        "{during}: {message}"
    );

    let preprocess = unpic_app::presets::Preset::Symmetric.apply(&summary.input);
    let image = fixture("oracle/cases/fer_astronaut/image.png");
    let request = Request::Predict {
        id: 7,
        name: "image.png".into(),
        preprocess,
    };
    let (reply, rgba) = block_on(engine.handle(request, Some(image))).remove(0);
    let Response::Prediction(result) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(result.id, 7);
    assert_eq!(
        result.prediction.top[0].class, 3,
        "fer_astronaut's oracle top class"
    );
    assert_eq!(rgba.map(|b| b.len()), Some(64 * 64 * 4));
}

/// Workers that share a map each answer their share (a part of the map, or Score-CAM's
/// channel scores); the main worker, given the shares' sum, answers the explanation a single
/// worker gives. Every method the pool shares is checked, with three workers.
#[test]
fn a_map_finished_from_its_shares_equals_the_whole() {
    let mut engine = Engine::default();
    let loaded = load(
        &mut engine,
        "smallcnn.onnx",
        fixture("oracle/models/smallcnn_fashion.onnx"),
    );
    let Response::ModelLoaded(summary) = loaded else {
        panic!("{loaded:?}")
    };
    let predict = Request::Predict {
        id: 2,
        name: "image.png".into(),
        preprocess: unpic_app::presets::Preset::Unit.apply(&summary.input),
    };
    let image = fixture("oracle/cases/fashion_tshirt/image.png");
    block_on(engine.handle(predict, Some(image)));
    let shared: Vec<ExplainMethod> = ExplainMethod::ALL
        .into_iter()
        .map(|m| match m {
            ExplainMethod::Occlusion { .. } => ExplainMethod::Occlusion { mask: 6, stride: 3 },
            m => m,
        })
        .filter(|m| m.shared())
        .collect();
    assert_eq!(shared.len(), 4, "{shared:?}");
    for method in shared {
        let explain = |part| Request::Explain {
            id: 3,
            method,
            target: None,
            layer: None,
            probability: false,
            sum_channels: false,
            part,
        };
        let (reply, whole_bytes) =
            block_on(engine.handle(explain(ExplainPart::Whole), None)).remove(0);
        let Response::Explanation(whole) = reply else {
            panic!("{method:?}: {reply:?}")
        };
        let count = 3;
        let mut sum: Vec<f32> = Vec::new();
        for index in 0..count {
            let share = ExplainPart::Share(Shard { index, count });
            let (reply, bytes) = block_on(engine.handle(explain(share), None)).remove(0);
            assert!(matches!(reply, Response::MapPart { id: 3 }), "{reply:?}");
            let values: Vec<f32> = bytes
                .expect("share")
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if sum.is_empty() {
                sum = vec![0.0; values.len()];
            }
            assert_eq!(values.len(), sum.len(), "{method:?}");
            sum.iter_mut().zip(&values).for_each(|(s, v)| *s += v);
        }
        let joined: Vec<u8> = sum.iter().flat_map(|v| v.to_le_bytes()).collect();
        let (reply, joined_bytes) =
            block_on(engine.handle(explain(ExplainPart::Joined), Some(joined))).remove(0);
        let Response::Explanation(finished) = reply else {
            panic!("{method:?}: {reply:?}")
        };
        assert_eq!(finished.target, whole.target);
        let read = |bytes: Option<Vec<u8>>, at: usize| {
            explain_core::npy::read_f32(&bytes.expect("bytes")[at..], "map")
                .expect("npy")
                .data
        };
        let (a, b) = (
            read(whole_bytes, whole.values_len),
            read(joined_bytes, finished.values_len),
        );
        assert_eq!(a.len(), b.len(), "{method:?}");
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-5 * scale,
            "{method:?}: max |diff| {worst} of {scale}"
        );
        assert!(
            (finished.deletion_auc - whole.deletion_auc).abs() < 1e-4,
            "{method:?}"
        );
    }
}

/// The Explain view's request: Grad-CAM of the predicted image equals pytorch-grad-cam's map
/// (the oracle's), and the overlay covers the image.
#[test]
fn explaining_the_current_image_gives_pytorch_grad_cams_map() {
    let mut engine = Engine::default();
    let loaded = load(
        &mut engine,
        "smallcnn.onnx",
        fixture("oracle/models/smallcnn_fashion.onnx"),
    );
    let Response::ModelLoaded(summary) = loaded else {
        panic!("{loaded:?}")
    };
    assert_eq!(
        summary.layers.gradcam_layer.as_deref(),
        Some("/relu2/Relu_output_0")
    );
    let explain = Request::Explain {
        id: 1,
        method: ExplainMethod::GradCam,
        target: None,
        layer: None,
        probability: false,
        sum_channels: false,
        part: ExplainPart::Whole,
    };
    let (early, _) = block_on(engine.handle(explain.clone(), None)).remove(0);
    assert!(
        matches!(early, Response::Failed { .. }),
        "no image yet: {early:?}"
    );
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    let image = fixture("oracle/cases/fashion_tshirt/image.png");
    let predict = Request::Predict {
        id: 2,
        name: "image.png".into(),
        preprocess,
    };
    block_on(engine.handle(predict, Some(image)));
    let (reply, bytes) = block_on(engine.handle(explain, None)).remove(0);
    let Response::Explanation(result) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(
        (result.target, result.layer.as_deref()),
        (0, Some("/relu2/Relu_output_0"))
    );
    let bytes = bytes.expect("bytes");
    assert_eq!(result.values_len, 28 * 28 * 4);
    assert!(
        (0.0..=1.0).contains(&result.deletion_auc)
            && (0.0..=1.0).contains(&result.insertion_auc)
            && result.deletion_auc < result.insertion_auc,
        "a faithful map: deletion {} < insertion {}",
        result.deletion_auc,
        result.insertion_auc
    );
    // The curves behind the areas: 20 steps and the start, probabilities.
    assert_eq!((result.deletion.len(), result.insertion.len()), (21, 21));
    assert!(
        result
            .deletion
            .iter()
            .chain(&result.insertion)
            .all(|p| (0.0..=1.0).contains(p))
    );
    let map = explain_core::npy::read_f32(&bytes[result.values_len..], "map").expect("npy");
    let expected = explain_core::npy::read_f32(
        &fixture("oracle/cases/fashion_tshirt/gradcam_pgc.npy"),
        "gradcam_pgc.npy",
    )
    .expect("npy");
    assert_eq!(map.shape, expected.shape);
    let worst = map
        .data
        .iter()
        .zip(&expected.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-3, "max |diff| {worst}");
}

#[test]
fn a_sanity_check_runs_as_a_job_and_equals_the_native_check() {
    let mut engine = Engine::default();
    let Response::ModelLoaded(summary) = load(
        &mut engine,
        "smallcnn.onnx",
        fixture("oracle/models/smallcnn_fashion.onnx"),
    ) else {
        panic!("the model loads")
    };
    let check = |id| Request::SanityCheck {
        id,
        method: ExplainMethod::Saliency,
        target: None,
        layer: None,
        probability: false,
        max_steps: 3,
        seed: 0,
    };
    let (early, _) = block_on(engine.handle(check(1), None)).remove(0);
    assert!(
        matches!(
            early,
            Response::Failed {
                task: Task::Sanity,
                ..
            }
        ),
        "{early:?}"
    );
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    let predict = Request::Predict {
        id: 2,
        name: "image.png".into(),
        preprocess,
    };
    block_on(engine.handle(
        predict,
        Some(fixture("oracle/cases/fashion_tshirt/image.png")),
    ));
    let (queued, _) = block_on(engine.handle(check(3), None)).remove(0);
    assert!(
        matches!(
            queued,
            Response::Progress {
                id: 3,
                done: 0,
                total: 4,
                ..
            }
        ),
        "{queued:?}"
    );
    let mut seen = Vec::new();
    let (result, bytes) = loop {
        match block_on(engine.step()) {
            Some((Response::Progress { done, total, .. }, _)) => seen.push((done, total)),
            Some((Response::Sanity(result), bytes)) => break (result, bytes.expect("maps")),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(seen, vec![(1, 4), (2, 4), (3, 4)]);
    assert_eq!(
        (result.id, result.plane_width, result.plane_height),
        (3, 28, 28)
    );
    let planes = bytes_f32(&bytes);
    assert_eq!(planes.len(), 4 * 28 * 28);
    assert!(planes.iter().all(|v| (0.0..=1.0).contains(v)));

    // The same check natively (the CLI's path) gives the same report.
    #[cfg(not(target_family = "wasm"))]
    {
        let device = explain_core::Device::flex();
        let classifier = explain_core::Classifier::from_bytes(
            &fixture("oracle/models/smallcnn_fashion.onnx"),
            &device,
        )
        .expect("model");
        let input = explain_core::npy::read_f32(
            &fixture("oracle/cases/fashion_tshirt/input.npy"),
            "input.npy",
        )
        .expect("npy");
        let image = explain_core::onnx::FloatValue::from_vec(input.data, &input.shape, &device)
            .expect("image");
        let native = explain_core::metrics::sanity::sanity_check(
            &classifier,
            &image,
            explain_core::explain::Target::logit(result.target),
            &explain_core::explain::Method::Saliency,
            &explain_core::metrics::sanity::SanitySettings {
                max_steps: Some(3),
                ..Default::default()
            },
            &mut explain_core::explain::Silent,
        )
        .expect("native check");
        assert_eq!(result.report.steps.len(), 3);
        for (a, b) in result.report.steps.iter().zip(&native.report.steps) {
            assert_eq!(a.randomised, b.randomised);
            assert!((a.spearman - b.spearman).abs() < 1e-3, "{a:?} vs {b:?}");
        }
        assert_eq!(result.report.verdict, native.report.verdict);
    }

    // A Cancel stops a check under way.
    block_on(engine.handle(check(4), None));
    block_on(engine.step());
    let cancelled = block_on(engine.handle(Request::Cancel, None));
    assert!(
        matches!(cancelled[0].0, Response::Cancelled { id: 4 }),
        "{cancelled:?}"
    );
    assert!(block_on(engine.step()).is_none());
}

fn demo(file: &str) -> Vec<u8> {
    let p = format!("{}/../public/demo/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The demo model and labels, loaded.
fn demo_engine() -> (Engine, unpic_app::protocol::ModelSummary) {
    let mut engine = Engine::default();
    let labels = String::from_utf8(demo("labels.txt")).expect("utf-8");
    block_on(engine.handle(Request::SetLabels { text: labels }, None));
    let Response::ModelLoaded(summary) = load(&mut engine, "demo.onnx", demo("fashion-cnn.onnx"))
    else {
        panic!("the demo model loads")
    };
    (engine, summary)
}

fn open_dataset(
    engine: &mut Engine,
    files: Option<unpic_app::protocol::FileSizes>,
    bytes: Vec<u8>,
) {
    let request = Request::LoadDataset {
        name: "sample".into(),
        files,
    };
    let (reply, _) = block_on(engine.handle(request, Some(bytes))).remove(0);
    assert!(matches!(reply, Response::DatasetLoaded(_)), "{reply:?}");
}

/// Runs an evaluation to its end; returns the result and the progress counts seen.
fn evaluate(
    engine: &mut Engine,
    id: u64,
    preprocess: &Preprocess,
) -> (EvaluationResult, Vec<usize>) {
    evaluate_shard(engine, id, preprocess, None)
}

fn evaluate_shard(
    engine: &mut Engine,
    id: u64,
    preprocess: &Preprocess,
    shard: Option<Shard>,
) -> (EvaluationResult, Vec<usize>) {
    let request = Request::Evaluate {
        id,
        preprocess: preprocess.clone(),
        shard,
    };
    let mut seen = Vec::new();
    let mut replies = block_on(engine.handle(request, None));
    loop {
        match replies.pop().map(|r| r.0) {
            Some(Response::Progress { done, .. }) => seen.push(done),
            Some(Response::Evaluated(result)) => return (result, seen),
            other => panic!("{other:?}"),
        }
        replies = block_on(engine.step()).into_iter().collect();
    }
}

/// The demo's images, as a zip and as the files of a picked folder, evaluate alike, batch
/// by batch with progress, to the demo network's accuracy.
#[test]
fn a_zip_and_a_picked_folder_of_the_same_images_evaluate_alike() {
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    let zip = demo("fashion-mnist-sample.zip");
    open_dataset(&mut engine, None, zip.clone());
    let (from_zip, progress) = evaluate(&mut engine, 1, &preprocess);
    let n = from_zip.evaluation.files.len();
    assert_eq!(n, 2000);
    assert_eq!(progress.len(), n.div_ceil(DATASET_BATCH), "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]) && progress[0] == 0);
    assert!(
        from_zip.evaluation.accuracy() > 0.9,
        "{}",
        from_zip.evaluation.accuracy()
    );
    assert_eq!(
        from_zip.evaluation.classes[6], "Shirt",
        "classes named by the labels"
    );
    assert!(!engine.has_job());

    // The same files, as a browser hands over a picked folder (wrapped in its folder).
    let mut archive = ZipDataset::from_bytes("sample", zip).expect("zip");
    let items = archive.dataset.items.clone();
    let mut list = Vec::new();
    let mut bytes = Vec::new();
    for item in &items {
        let b = archive.read(&item.path).expect("entry");
        list.push((format!("picked/{}", item.path), b.len()));
        bytes.extend(b);
    }
    open_dataset(&mut engine, Some(list), bytes);
    let (from_folder, _) = evaluate(&mut engine, 2, &preprocess);
    assert_eq!(from_folder.evaluation, from_zip.evaluation);

    // Three workers' shards, joined in order, are the one worker's evaluation.
    let parts = (0..3)
        .map(|index| {
            let shard = Some(Shard { index, count: 3 });
            evaluate_shard(&mut engine, 3 + index as u64, &preprocess, shard).0
        })
        .collect();
    let joined = EvaluationResult::join(parts).expect("parts");
    assert_eq!(joined.evaluation, from_zip.evaluation);
}

/// A picked folder with a damaged file, an empty one and a text file among its images: the
/// evaluation goes on without them and lists each with why; t-SNE and the most activating
/// images leave them out too.
#[test]
fn damaged_images_are_left_out_of_an_evaluation_and_named() {
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    let mut archive =
        ZipDataset::from_bytes("sample", demo("fashion-mnist-sample.zip")).expect("zip");
    let items: Vec<_> = archive.dataset.items.iter().step_by(20).cloned().collect();
    let mut list = Vec::new();
    let mut bytes = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let b = match i {
            3 => b"not an image".to_vec(),
            7 => Vec::new(),
            _ => archive.read(&item.path).expect("entry"),
        };
        list.push((item.path.clone(), b.len()));
        bytes.extend(b);
    }
    open_dataset(&mut engine, Some(list), bytes);
    let (result, _) = evaluate(&mut engine, 1, &preprocess);
    let e = result.evaluation;
    assert_eq!(e.files.len(), items.len() - 2);
    let skipped: Vec<&str> = e.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(skipped, [items[3].path.as_str(), items[7].path.as_str()]);
    assert!(
        e.skipped[1].reason.contains("the file is empty"),
        "{:?}",
        e.skipped
    );
    assert!(
        !e.files.iter().any(|f| f.path == items[3].path),
        "a damaged image has no prediction"
    );

    let tsne = Request::Tsne {
        id: 2,
        preprocess: preprocess.clone(),
        map: TsneMap {
            method: MapMethod::Tsne,
            layer: "fc1/relu".into(),
            perplexity: 5.0,
            seed: 1,
            every: 1,
            classes: None,
        },
    };
    let mut replies = block_on(engine.handle(tsne, None));
    let map = loop {
        match replies.pop().map(|r| r.0) {
            Some(Response::Progress { .. }) => {}
            Some(Response::Tsne(map)) => break map,
            other => panic!("{other:?}"),
        }
        replies = block_on(engine.step()).into_iter().collect();
    };
    assert_eq!(map.points.len(), items.len() - 2);
    assert!(!map.paths.contains(&items[7].path));
}

#[test]
fn an_evaluation_can_be_cancelled_and_a_new_model_drops_it() {
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    open_dataset(&mut engine, None, demo("fashion-mnist-sample.zip"));
    let start = Request::Evaluate {
        id: 5,
        preprocess: preprocess.clone(),
        shard: None,
    };
    block_on(engine.handle(start.clone(), None));
    let (reply, _) = block_on(engine.step()).expect("a batch");
    assert!(
        matches!(
            reply,
            Response::Progress {
                id: 5,
                done: 64,
                ..
            }
        ),
        "{reply:?}"
    );
    let (reply, _) = block_on(engine.handle(Request::Cancel, None)).remove(0);
    assert!(matches!(reply, Response::Cancelled { id: 5 }), "{reply:?}");
    assert!(!engine.has_job() && block_on(engine.step()).is_none());

    block_on(engine.handle(start, None));
    assert!(engine.has_job());
    load(&mut engine, "demo.onnx", demo("fashion-cnn.onnx"));
    assert!(!engine.has_job(), "results of two models must not mix");
}

/// Folders named otherwise than the labels, but as many: taken in sorted order, and the
/// user is told. Without labels, the folder names name the classes.
#[test]
fn folders_that_do_not_match_the_labels_are_taken_in_order_with_a_note() {
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    let image = fixture("oracle/cases/fashion_tshirt/image.png");
    let mut list = Vec::new();
    let mut bytes = Vec::new();
    for k in 0..10 {
        list.push((format!("class{k}/a.png"), image.len()));
        bytes.extend(&image);
    }
    open_dataset(&mut engine, Some(list.clone()), bytes.clone());
    let (result, _) = evaluate(&mut engine, 1, &preprocess);
    assert!(
        result
            .notes
            .iter()
            .any(|n| n.contains("taken as classes 0 to 9")),
        "{:?}",
        result.notes
    );
    assert_eq!(result.evaluation.files.len(), 10);

    let mut engine = Engine::default();
    load(&mut engine, "demo.onnx", demo("fashion-cnn.onnx"));
    open_dataset(&mut engine, Some(list), bytes);
    let (result, _) = evaluate(&mut engine, 1, &preprocess);
    assert_eq!(result.evaluation.classes[3], "class3");
    assert!(result.notes.is_empty(), "{:?}", result.notes);
}

/// The t-SNE view's job on the demo: every 4th image of the included classes, embedded
/// from the penultimate layer; classes form neighbourhoods (most points' nearest neighbour
/// has their class), and a bad perplexity is refused with the number that fits.
#[test]
fn a_tsne_map_of_the_demo_keeps_classes_together() {
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    open_dataset(&mut engine, None, demo("fashion-mnist-sample.zip"));
    let request = |perplexity: f64| Request::Tsne {
        id: 9,
        preprocess: preprocess.clone(),
        map: TsneMap {
            method: MapMethod::Tsne,
            layer: "fc1/relu".into(),
            perplexity,
            seed: 0,
            every: 4,
            classes: Some((0..8).collect()),
        },
    };
    let (bad, _) = block_on(engine.handle(request(200.0), None)).remove(0);
    let Response::Failed { message, .. } = bad else {
        panic!("{bad:?}")
    };
    assert!(message.contains("400 selected images"), "{message}");

    block_on(engine.handle(request(30.0), None));
    let mut tasks = BTreeSet::new();
    let result = loop {
        match block_on(engine.step()).map(|r| r.0) {
            Some(Response::Progress { task, .. }) => {
                tasks.insert(task);
            }
            Some(Response::Tsne(result)) => break result,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(tasks.len(), 2, "activations, then t-SNE: {tasks:?}");
    assert_eq!(result.points.len(), 400);
    assert!(result.truth.iter().all(|&t| t < 8));
    let agree = (0..400)
        .filter(|&i| {
            let d = |j: usize| {
                let (a, b) = (result.points[i], result.points[j]);
                (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
            };
            let nearest = (0..400)
                .filter(|&j| j != i)
                .min_by(|&a, &b| d(a).total_cmp(&d(b)));
            nearest.is_some_and(|j| result.truth[j] == result.truth[i])
        })
        .count();
    assert!(
        agree > 320,
        "{agree} of 400 points have a nearest neighbour of their class"
    );
}

/// The Features view's requests on the demo: the top images of a channel (found batch by
/// batch over the dataset) have, when opened one at a time, that channel mean; the
/// activations come with every channel and a histogram of all values; a dream comes back as
/// an image of the input's size.
#[test]
fn features_of_the_demo_agree_between_the_dataset_pass_and_one_image() {
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    let zip = demo("fashion-mnist-sample.zip");
    open_dataset(&mut engine, None, zip.clone());
    let request = Request::MaxActivations {
        id: 3,
        layer: "block2/relu".into(),
        preprocess: preprocess.clone(),
        k: 5,
    };
    block_on(engine.handle(request, None));
    let best = loop {
        match block_on(engine.step()).map(|r| r.0) {
            Some(Response::Progress { .. }) => {}
            Some(Response::MaxActivations(r)) => break r.best,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(best.len(), 64, "one list per channel");
    assert!(
        best.iter()
            .all(|l| l.len() == 5 && l.windows(2).all(|w| w[0].0 >= w[1].0))
    );

    let channel = 7;
    let (score, path) = best[channel][0].clone();
    let mut archive = ZipDataset::from_bytes("sample", zip).expect("zip");
    let image = archive.read(&path).expect("image");
    let predict = Request::Predict {
        id: 4,
        name: path.clone(),
        preprocess,
    };
    block_on(engine.handle(predict, Some(image)));
    let (reply, bytes) = block_on(engine.handle(
        Request::Activations {
            id: 5,
            layer: "block2/relu".into(),
        },
        None,
    ))
    .remove(0);
    let Response::Activations(acts) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!((acts.channels, acts.height, acts.width), (64, 14, 14));
    assert_eq!(acts.histogram.counts.iter().sum::<usize>(), 64 * 14 * 14);
    let values: Vec<f32> = bytes
        .expect("maps")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let area = 14 * 14;
    let mean = values[channel * area..(channel + 1) * area]
        .iter()
        .sum::<f32>()
        / area as f32;
    assert!(
        (mean - score).abs() <= 1e-4 * score.abs().max(1.0),
        "{mean} vs {score}"
    );

    let dream = Request::DeepDream {
        id: 6,
        layer: "block2/relu".into(),
        channel: Some(channel),
        preprocess: unpic_app::presets::Preset::Unit.apply(&summary.input),
        settings: DeepDream {
            iterations: 5,
            levels: 2,
            ..DeepDream::default()
        },
    };
    let (reply, rgba) = block_on(engine.handle(dream, None)).remove(0);
    assert!(matches!(reply, Response::Dream(_)), "{reply:?}");
    let rgba = rgba.expect("image");
    assert_eq!(rgba.len(), 28 * 28 * 4);
    assert!(
        rgba.chunks(4).any(|p| p[0] != rgba[0]),
        "the dream is not flat"
    );
}

/// Occlusion takes the mask and stride the page shows; without them, the middle preset,
/// and the answer says which were used.
#[test]
fn occlusion_uses_the_mask_and_stride_asked_for() {
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    let image = fixture("oracle/cases/fashion_tshirt/image.png");
    let predict = Request::Predict {
        id: 1,
        name: "t.png".into(),
        preprocess,
    };
    block_on(engine.handle(predict, Some(image)));
    let explain = |mask, stride| Request::Explain {
        id: 2,
        method: ExplainMethod::Occlusion { mask, stride },
        target: None,
        layer: None,
        probability: false,
        sum_channels: false,
        part: ExplainPart::Whole,
    };
    for ((mask, stride), used) in [((0, 0), (4, 2)), ((7, 7), (7, 7))] {
        let (reply, bytes) = block_on(engine.handle(explain(mask, stride), None)).remove(0);
        let Response::Explanation(result) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(
            result.method,
            ExplainMethod::Occlusion {
                mask: used.0,
                stride: used.1
            }
        );
        let map = explain_core::npy::read_f32(&bytes.expect("bytes")[result.values_len..], "map")
            .expect("npy");
        assert_eq!(map.data.len(), 28 * 28);
    }
}

#[test]
fn predicting_without_a_model_says_what_to_do() {
    let mut engine = Engine::default();
    let spec = explain_core::InputSpec {
        name: "x".into(),
        channels: 1,
        height: 2,
        width: 2,
        layout: explain_core::Layout::Nchw,
        any_size: false,
    };
    let preprocess = unpic_app::presets::Preset::Unit.apply(&spec);
    let request = Request::Predict {
        id: 1,
        name: "a.png".into(),
        preprocess,
    };
    let (reply, _) = block_on(engine.handle(request, Some(vec![1, 2, 3]))).remove(0);
    let Response::Failed { message, .. } = reply else {
        panic!("{reply:?}")
    };
    assert!(message.contains("open a model first"));
}

/// The preprocessing check as the page starts it: a job whose steps are the decoding of the
/// sample and one candidate each, whose scores equal onnxruntime's on the same 200 images
/// (tests/fixtures/preprocessing, made by make_preprocessing.py) within one image.
#[test]
fn the_preprocessing_check_scores_every_preset_as_onnxruntime_does() {
    let (mut engine, _) = demo_engine();
    let request = Request::CheckPreprocessing { id: 4, sample: 200 };
    let Response::Failed { message, .. } =
        block_on(engine.handle(request.clone(), None)).remove(0).0
    else {
        panic!("a check without images must fail")
    };
    assert!(message.contains("open"), "{message}");
    open_dataset(&mut engine, None, demo("fashion-mnist-sample.zip"));
    let mut replies = block_on(engine.handle(request, None));
    let mut steps = Vec::new();
    let result = loop {
        match replies.pop().map(|r| r.0) {
            Some(Response::Progress {
                id, done, total, ..
            }) => {
                assert_eq!(id, 4);
                steps.push((done, total));
            }
            Some(Response::PreprocessingChecked(result)) => break result,
            other => panic!("{other:?}"),
        }
        replies = block_on(engine.step()).into_iter().collect();
    };
    // Decoding, then the four presets of a grey model (no BGR order to try).
    assert_eq!(steps.last(), Some(&(4, 5)), "{steps:?}");
    assert_eq!((result.id, result.sample, result.classes), (4, 200, 10));
    let reference: serde_json::Value =
        serde_json::from_slice(&fixture("preprocessing/preprocessing.json")).expect("reference");
    let names: Vec<&str> = result.scores.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["unit", "imagenet", "raw", "symmetric"]);
    for score in &result.scores {
        let expected = reference["presets"][&score.name]
            .as_f64()
            .expect("a number");
        assert!(
            (score.accuracy - expected).abs() <= 0.005 + 1e-9,
            "{}: {} vs onnxruntime {expected}",
            score.name,
            score.accuracy
        );
    }
}

/// The near-duplicate search as the page starts it, on the set with planted copies
/// (tests/fixtures/label_issues, made by make_label_issues.py with onnxruntime and numpy): the
/// pairs found are the reference's, in its order, with its similarities.
#[test]
fn near_duplicates_are_found_as_numpy_finds_them() {
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    open_dataset(&mut engine, None, fixture("label_issues/planted.zip"));
    let request = Request::FindNearDuplicates {
        id: 6,
        preprocess,
        similarity: 0.99,
    };
    let mut replies = block_on(engine.handle(request, None));
    let result = loop {
        match replies.pop().map(|r| r.0) {
            Some(Response::Progress { id, .. }) => assert_eq!(id, 6),
            Some(Response::NearDuplicates(result)) => break result,
            other => panic!("{other:?}"),
        }
        replies = block_on(engine.step()).into_iter().collect();
    };
    let reference: serde_json::Value =
        serde_json::from_slice(&fixture("label_issues/reference.json")).expect("reference");
    assert_eq!(result.layer, reference["layer"]);
    let expected = reference["near_duplicates"].as_array().expect("pairs");
    assert_eq!(result.pairs.len(), expected.len(), "{:?}", result.pairs);
    for (got, want) in result.pairs.iter().zip(expected) {
        // The page's paths are relative to the zip's top folder.
        let path = |v: &serde_json::Value| {
            let p = v.as_str().unwrap_or_default();
            p.strip_prefix("planted/").unwrap_or(p).to_string()
        };
        assert_eq!(
            (got.a.clone(), got.b.clone()),
            (path(&want[0]), path(&want[1]))
        );
        let similarity = want[2].as_f64().unwrap_or_default();
        assert!(
            (f64::from(got.similarity) - similarity).abs() < 1e-4,
            "{got:?} vs {want}"
        );
    }
    // A threshold that is not a cosine is refused with what is wrong.
    let bad = Request::FindNearDuplicates {
        id: 7,
        preprocess: unpic_app::presets::Preset::Unit.apply(&summary.input),
        similarity: f32::NAN,
    };
    let (reply, _) = block_on(engine.handle(bad, None)).remove(0);
    assert!(
        matches!(&reply, Response::Failed { message, .. } if message.contains("cosine")),
        "{reply:?}"
    );
}

/// The PCA map as the page asks for it: the demo's 2,000 images at the penultimate layer on
/// their first two principal components, equal to numpy's SVD with scikit-learn's signs
/// (tests/fixtures/pca, made by make_pca.py with onnxruntime) within 1e-3 of the spread.
#[test]
fn a_pca_map_of_the_demo_equals_numpys() {
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    open_dataset(&mut engine, None, demo("fashion-mnist-sample.zip"));
    let request = Request::Tsne {
        id: 3,
        preprocess,
        map: TsneMap {
            method: MapMethod::Pca,
            layer: "fc1/relu".into(),
            perplexity: 30.0,
            seed: 0,
            every: 1,
            classes: None,
        },
    };
    let mut replies = block_on(engine.handle(request, None));
    let map = loop {
        match replies.pop().map(|r| r.0) {
            Some(Response::Progress { task, .. }) => {
                assert!(
                    !task.contains("t-SNE"),
                    "PCA runs no t-SNE iterations: {task}"
                )
            }
            Some(Response::Tsne(map)) => break map,
            other => panic!("{other:?}"),
        }
        replies = block_on(engine.step()).into_iter().collect();
    };
    assert_eq!((map.method, map.kl), (MapMethod::Pca, None));
    let reference: serde_json::Value =
        serde_json::from_slice(&fixture("pca/reference.json")).expect("reference");
    let points = reference["points"].as_object().expect("points");
    assert_eq!(map.points.len(), points.len());
    let spread = points
        .values()
        .filter_map(|p| p[0].as_f64())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    for (path, got) in map.paths.iter().zip(&map.points) {
        let want = &points[path.as_str()];
        for k in 0..2 {
            let w = want[k].as_f64().unwrap_or(f64::NAN);
            assert!(
                (f64::from(got[k]) - w).abs() <= 1e-3 * spread,
                "{path}[{k}]: {} vs numpy {w}",
                got[k]
            );
        }
    }
}

/// A confusion cell explained as the page asks for it (T-shirts taken for shirts, Saliency of
/// "Shirt"): every image's map arrives in order, then the mean map, equal to the independent
/// reference (tests/fixtures/class_maps, made by make_class_maps.py: onnxruntime picks the
/// images, onnx2torch + autograd explain each, numpy averages).
#[test]
fn a_confusion_cells_mean_map_equals_the_independent_reference() {
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    open_dataset(&mut engine, None, demo("fashion-mnist-sample.zip"));
    let reference: serde_json::Value =
        serde_json::from_slice(&fixture("class_maps/class_maps.json")).expect("reference");
    // The page's paths are relative to the zip's top folder.
    let paths: Vec<String> = reference["cell_0_as_6"]["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .map(|p| {
            let p = p.as_str().unwrap_or_default();
            p.split_once('/').map_or(p, |(_, rest)| rest).to_string()
        })
        .collect();
    let request = Request::ExplainImages {
        id: 9,
        preprocess,
        method: unpic_app::protocol::ExplainMethod::Saliency,
        layer: None,
        images: paths.iter().map(|p| (p.clone(), 6)).collect(),
    };
    let mut replies = block_on(engine.handle(request, None));
    let mut seen = Vec::new();
    let (result, bytes) = loop {
        match replies.pop() {
            Some((Response::Progress { id, .. }, _)) => assert_eq!(id, 9),
            Some((Response::ImageMap(map), bytes)) => {
                assert_eq!((map.id, map.index, map.target), (9, seen.len(), 6));
                let (w, h) = (map.width, map.height);
                assert_eq!(bytes.expect("bytes").len(), w * h * 4 + w * h * 4);
                assert!((0.0..=1.0).contains(&map.deletion_auc), "{map:?}");
                seen.push(map.path);
            }
            Some((Response::ClassMaps(result), bytes)) => break (result, bytes.expect("bytes")),
            other => panic!("{other:?}"),
        }
        replies = block_on(engine.step()).into_iter().collect();
    };
    assert_eq!(seen, paths, "every map, in the order asked");
    assert_eq!(result.images, paths.len());
    assert_eq!(result.faithfulness.len(), 1);
    assert_eq!(
        (result.faithfulness[0].class, result.faithfulness[0].images),
        (6, paths.len())
    );
    let mean = explain_core::npy::read_f32(&bytes[result.values_len..], "mean").expect("npy");
    let want = explain_core::npy::read_f32(&fixture("class_maps/cell_0_as_6.mean.npy"), "want")
        .expect("npy");
    assert_eq!(mean.shape, want.shape);
    let scale = want.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = mean
        .data
        .iter()
        .zip(&want.data)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        diff <= 1e-4 * scale,
        "mean map differs by {diff} (max {scale})"
    );
    // The mean as shown: one value per pixel in [0, 1].
    let shown = unpic_app::protocol::bytes_f32(&bytes[..result.values_len]);
    assert_eq!(shown.len(), result.width * result.height);
    assert!(shown.iter().all(|v| (0.0..=1.0).contains(v)));
    // A path that is not in the set is refused by name.
    let bad = Request::ExplainImages {
        id: 10,
        preprocess: unpic_app::presets::Preset::Unit.apply(&summary.input),
        method: unpic_app::protocol::ExplainMethod::Saliency,
        layer: None,
        images: vec![("nowhere/x.png".into(), 1)],
    };
    let (reply, _) = block_on(engine.handle(bad, None)).remove(0);
    assert!(
        matches!(&reply, Response::Failed { message, .. } if message.contains("nowhere/x.png")),
        "{reply:?}"
    );
}

/// A second model beside the first (the page's Compare view): opened, classifying and
/// evaluating on the same images without touching the first model's image or jobs; the two
/// evaluations compare as the independent reference does (tests/fixtures/compare, made by
/// make_compare.py with onnxruntime, numpy and statsmodels).
#[test]
fn a_second_model_evaluates_beside_the_first_as_onnxruntime_does() {
    use explain_core::metrics::comparison::compare;
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    open_dataset(&mut engine, None, demo("fashion-mnist-sample.zip"));
    // Nothing goes to a second model before it is open.
    let early = Request::Second(Box::new(Request::Evaluate {
        id: 1,
        preprocess: preprocess.clone(),
        shard: None,
    }));
    let (reply, _) = block_on(engine.handle(early, None)).remove(0);
    assert!(
        matches!(&reply, Response::Failed { message, .. } if message.contains("second model first")),
        "{reply:?}"
    );
    let open = Request::Second(Box::new(Request::LoadModel {
        name: "b.onnx".into(),
        size: None,
    }));
    let (reply, _) =
        block_on(engine.handle(open, Some(fixture("oracle/models/smallcnn_fashion.onnx"))))
            .remove(0);
    let Response::ModelLoaded(b) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(b.num_classes, 10);
    // Each model classifies the image with its own weights.
    let predict = |name: &str, second: bool| {
        let request = Request::Predict {
            id: 2,
            name: name.into(),
            preprocess: preprocess.clone(),
        };
        if second {
            Request::Second(Box::new(request))
        } else {
            request
        }
    };
    let image = fixture("oracle/cases/fashion_tshirt/image.png");
    let (a_pred, _) =
        block_on(engine.handle(predict("t.png", false), Some(image.clone()))).remove(0);
    let (b_pred, _) = block_on(engine.handle(predict("t.png", true), Some(image))).remove(0);
    let (Response::Prediction(a_pred), Response::Prediction(b_pred)) = (a_pred, b_pred) else {
        panic!("both classify")
    };
    assert_ne!(
        a_pred.prediction.logits, b_pred.prediction.logits,
        "two models"
    );

    let (a, _) = evaluate(&mut engine, 3, &preprocess);
    let request = Request::Second(Box::new(Request::Evaluate {
        id: 4,
        preprocess: preprocess.clone(),
        shard: None,
    }));
    let mut replies = block_on(engine.handle(request, None));
    let b = loop {
        match replies.pop().map(|r| r.0) {
            Some(Response::Progress { id, .. }) => assert_eq!(id, 4),
            Some(Response::Evaluated(result)) => break result,
            other => panic!("{other:?}"),
        }
        replies = block_on(engine.step()).into_iter().collect();
    };
    let reference: serde_json::Value =
        serde_json::from_slice(&fixture("compare/compare.json")).expect("reference");
    let c = compare(&a.evaluation, &b.evaluation).expect("same classes");
    let table = &reference["table"];
    assert_eq!(
        [
            c.table.both_right,
            c.table.only_a,
            c.table.only_b,
            c.table.both_wrong
        ],
        ["both_right", "only_a", "only_b", "both_wrong"]
            .map(|k| table[k].as_u64().unwrap_or(0) as usize)
    );
    let p = reference["mcnemar_p"].as_f64().expect("p");
    assert!(
        (c.mcnemar_p - p).abs() <= 1e-9 * p.max(1e-300),
        "{} vs {p}",
        c.mcnemar_p
    );
    assert!((c.accuracy_b - reference["accuracy_b"].as_f64().expect("acc")).abs() < 1e-12);
}

/// The UMAP map as the page asks for it: the demo's 2,000 images at the penultimate layer. Its
/// neighbours are exact (scikit-learn's brute-force search), and the map keeps as much as
/// umap-learn's does (tests/fixtures/umap, made by make_umap.py with onnxruntime, umap-learn and
/// scikit-learn): at least 90 % of umap-learn's 15-neighbour preservation and of its 10-NN
/// label agreement in the plane, measured alike.
#[test]
fn a_umap_map_of_the_demo_keeps_what_umap_learns_keeps() {
    use explain_core::data::{ImageSource, ZipDataset};
    use explain_core::embed::tsne::knn_preservation;
    use explain_core::embed::umap::{UmapRun, UmapSettings};
    let (mut engine, summary) = demo_engine();
    let preprocess = unpic_app::presets::Preset::Unit.apply(&summary.input);
    open_dataset(&mut engine, None, demo("fashion-mnist-sample.zip"));
    let reference: serde_json::Value =
        serde_json::from_slice(&fixture("umap/reference.json")).expect("reference");
    let layer = reference["layer"].as_str().expect("layer").to_string();
    let request = Request::Tsne {
        id: 3,
        preprocess: preprocess.clone(),
        map: TsneMap {
            method: MapMethod::Umap,
            layer: layer.clone(),
            perplexity: 30.0,
            seed: 0,
            every: 1,
            classes: None,
        },
    };
    let mut replies = block_on(engine.handle(request, None));
    let mut umap_steps = 0;
    let map = loop {
        match replies.pop().map(|r| r.0) {
            Some(Response::Progress { task, .. }) => umap_steps += usize::from(task == "UMAP"),
            Some(Response::Tsne(map)) => break map,
            other => panic!("{other:?}"),
        }
        replies = block_on(engine.step()).into_iter().collect();
    };
    assert!(umap_steps > 10, "UMAP runs in steps ({umap_steps})");
    assert_eq!(
        (map.method, map.kl, map.points.len()),
        (MapMethod::Umap, None, 2000)
    );

    // The same features, read here, for the neighbour checks.
    let classifier = explain_core::Classifier::from_bytes_at(
        &demo("fashion-cnn.onnx"),
        &explain_core::Device::flex(),
        None,
    )
    .expect("model");
    let mut source = ZipDataset::from_bytes("demo", demo("fashion-mnist-sample.zip")).expect("zip");
    let items = source.dataset().items.clone();
    let mut features = Vec::new();
    for chunk in items.chunks(256) {
        let batch = block_on(crate::jobs::TappedBatch::of(
            &classifier,
            &mut source as &mut dyn ImageSource,
            chunk,
            &preprocess,
            &layer,
        ))
        .expect("batch")
        .expect("images");
        features.extend(batch.features);
    }
    let (n, d) = (items.len(), features.len() / items.len());
    let mut run = UmapRun::new(&features, n, d, &UmapSettings::default()).expect("run");
    run.advance(n.div_ceil(256));
    let nb = run.neighbours();
    let index = |p: &str| items.iter().position(|i| i.path == p).expect("path");
    for (path, want) in reference["neighbours"].as_object().expect("neighbours") {
        let i = index(path);
        for (c, w) in want.as_array().expect("list").iter().enumerate() {
            let distance = w[1].as_f64().expect("distance");
            assert!(
                (f64::from(nb.distances[i * nb.k + c]) - distance).abs() < 1e-3 * distance.max(1.0),
                "{path}: neighbour {c} at {} vs {distance}",
                nb.distances[i * nb.k + c]
            );
        }
    }

    // Measured as make_umap.py measures umap-learn's map.
    let points: Vec<[f64; 2]> = map
        .points
        .iter()
        .map(|p| [f64::from(p[0]), f64::from(p[1])])
        .collect();
    let x: Vec<f64> = map
        .paths
        .iter()
        .flat_map(|p| {
            let i = index(p);
            features[i * d..(i + 1) * d].iter().map(|&v| f64::from(v))
        })
        .collect();
    let preservation = knn_preservation(&x, d, &points, 15);
    let agreement = (0..n)
        .filter(|&i| {
            let mut near: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let e = (points[i][0] - points[j][0]).powi(2)
                        + (points[i][1] - points[j][1]).powi(2);
                    (e, j)
                })
                .collect();
            near.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut votes = vec![0usize; map.classes.len().max(10)];
            for &(_, j) in &near[..10] {
                votes[map.truth[j]] += 1;
            }
            let best = (0..votes.len()).max_by_key(|&k| (votes[k], std::cmp::Reverse(k)));
            best == Some(map.truth[i])
        })
        .count() as f64
        / n as f64;
    let want = &reference["umap_learn"];
    let (p_ref, a_ref) = (
        want["knn_preservation"].as_f64().expect("p"),
        want["knn_accuracy"].as_f64().expect("a"),
    );
    assert!(
        preservation >= 0.9 * p_ref && agreement >= 0.9 * a_ref,
        "neighbours kept {preservation:.3} (umap-learn {p_ref:.3}), labels agreeing {agreement:.3} \
         (umap-learn {a_ref:.3})"
    );
    eprintln!(
        "UMAP of the demo: neighbours kept {preservation:.3} (umap-learn {p_ref:.3}), labels \
         agreeing {agreement:.3} (umap-learn {a_ref:.3}), {:.0} ms",
        map.elapsed_ms
    );
}
