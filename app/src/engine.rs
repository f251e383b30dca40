//! The worker's state: the chosen device, the loaded model, its labels. Handles one request at a
//! time and answers with [`Response`]s; every failure becomes one `Failed` message, and the state
//! stays usable (a bad model does not unload the good one).

use explain_core::explain::grad_cam::{CamMethod, class_map, pytorch_grad_cam_map};
use explain_core::explain::integrated_gradients::{IntegratedGradients, integrated_gradients};
use explain_core::explain::occlusion::{Occlusion, occlusion};
use explain_core::explain::saliency::saliency;
use explain_core::explain::{Silent, Target};
use explain_core::model::{hwc_to_chw, parse_labels};
use explain_core::onnx::FloatValue;
use explain_core::render::{ColourMap, map_overlay};
use explain_core::{Classifier, Device, Layout};

use crate::protocol::{
    Backend, BackendChoice, ExplainMethod, ExplanationResult, ModelSummary, PredictionResult,
    Request, Response,
};

/// The last predicted image, kept for explanations.
struct CurrentImage {
    input: FloatValue,
    rgba: Vec<u8>,
    top: usize,
}

/// A response and the bytes that travel with it.
pub type Reply = (Response, Option<Vec<u8>>);

pub struct Engine {
    backend: Backend,
    device: Device,
    /// The WebGPU device once initialised (Burn's runtime can be initialised only once).
    webgpu: Option<Device>,
    model: Option<(String, Vec<u8>)>,
    classifier: Option<Classifier>,
    labels_text: Option<String>,
    current: Option<CurrentImage>,
}

impl Default for Engine {
    fn default() -> Self {
        Self {
            backend: Backend::Cpu,
            device: Device::flex(),
            webgpu: None,
            model: None,
            classifier: None,
            labels_text: None,
            current: None,
        }
    }
}

fn failed(during: &str, message: impl ToString) -> Reply {
    (
        Response::Failed {
            during: during.to_string(),
            message: message.to_string(),
        },
        None,
    )
}

impl Engine {
    pub async fn handle(&mut self, request: Request, bytes: Option<Vec<u8>>) -> Vec<Reply> {
        match request {
            Request::SetBackend(choice) => self.set_backend(choice).await,
            Request::LoadModel { name } => match bytes {
                Some(bytes) => vec![self.load_model(name, bytes)],
                None => vec![failed("opening the model", "no file data arrived")],
            },
            Request::SetLabels { text } => vec![self.set_labels(text)],
            Request::Predict {
                id,
                name,
                preprocess,
            } => match bytes {
                Some(bytes) => vec![self.predict(id, name, &bytes, preprocess).await],
                None => vec![failed("reading the image", "no file data arrived")],
            },
            Request::Explain {
                id,
                method,
                target,
                layer,
            } => vec![self.explain(id, method, target, layer).await],
        }
    }

    async fn set_backend(&mut self, choice: BackendChoice) -> Vec<Reply> {
        let available = webgpu_offered();
        let mut note = None;
        let want_gpu = match choice {
            BackendChoice::Cpu => false,
            BackendChoice::WebGpu => true,
            BackendChoice::Auto => available,
        };
        let (backend, device) = if want_gpu {
            match self.webgpu_device().await {
                Ok(device) => (Backend::WebGpu, device),
                Err(reason) => {
                    note = Some(format!("WebGPU is not available ({reason}); using the CPU"));
                    (Backend::Cpu, Device::flex())
                }
            }
        } else {
            (Backend::Cpu, Device::flex())
        };
        let changed = backend != self.backend;
        self.backend = backend;
        self.device = device;
        let mut replies = vec![(
            Response::Backend {
                active: backend,
                webgpu_available: available || self.webgpu.is_some(),
                note,
            },
            None,
        )];
        // Weights live on the device: re-import the model for the new one.
        if changed && let Some((name, bytes)) = self.model.take() {
            replies.push(self.load_model(name, bytes));
        }
        replies
    }

    async fn webgpu_device(&mut self) -> Result<Device, String> {
        if let Some(device) = &self.webgpu {
            return Ok(device.clone());
        }
        let device = init_webgpu().await?;
        self.webgpu = Some(device.clone());
        Ok(device)
    }

    fn load_model(&mut self, name: String, bytes: Vec<u8>) -> Reply {
        let mut classifier = match Classifier::from_bytes(&bytes, &self.device) {
            Ok(c) => c,
            Err(e) => return failed(&format!("opening the model '{name}'"), e),
        };
        // Labels given earlier still apply when they fit the new model.
        if let Some(text) = &self.labels_text
            && let Ok(labels) = parse_labels(text)
        {
            // Labels of another model (a different class count) are simply not applied.
            let _ = classifier.set_labels(labels);
        }
        let input = classifier.input().clone();
        let summary = ModelSummary {
            name: name.clone(),
            suggested: explain_core::data::Preprocess::unit_range(&input),
            input,
            num_classes: classifier.num_classes(),
            labels: classifier.labels().to_vec(),
            nodes: classifier.graph().node_count(),
            layers: classifier.layer_table(),
        };
        self.classifier = Some(classifier);
        self.current = None;
        self.model = Some((name, bytes));
        (Response::ModelLoaded(summary), None)
    }

    fn set_labels(&mut self, text: String) -> Reply {
        let labels = match parse_labels(&text) {
            Ok(l) => l,
            Err(e) => return failed("reading the labels", e),
        };
        if let Some(classifier) = &mut self.classifier
            && let Err(e) = classifier.set_labels(labels.clone())
        {
            return failed("reading the labels", e);
        }
        self.labels_text = Some(text);
        (Response::Labels(labels), None)
    }

    async fn predict(
        &mut self,
        id: u64,
        name: String,
        bytes: &[u8],
        preprocess: explain_core::data::Preprocess,
    ) -> Reply {
        let during = format!("classifying '{name}'");
        let Some(classifier) = &self.classifier else {
            return failed(&during, "open a model first");
        };
        if let Err(e) = preprocess.check_fits(classifier.input()) {
            return failed(&during, e);
        }
        let prepared = match preprocess.prepare_bytes(bytes, &name) {
            Ok(p) => p,
            Err(e) => return failed(&during, e),
        };
        let start = now_ms();
        let batch = match classifier.batch(prepared.data, 1) {
            Ok(b) => b,
            Err(e) => return failed(&during, e),
        };
        let result = async { classifier.logits(batch.clone())?.to_vec_async().await }.await;
        let forward_ms = now_ms() - start;
        let logits = match result {
            Ok(l) => l,
            Err(e) => return failed(&during, e),
        };
        let prediction = explain_core::model::prediction(&logits, classifier.labels(), 5);
        self.current = Some(CurrentImage {
            input: batch,
            rgba: prepared.rgba.clone(),
            top: prediction.top.first().map_or(0, |c| c.class),
        });
        (
            Response::Prediction(PredictionResult {
                id,
                name,
                width: preprocess.width,
                height: preprocess.height,
                prediction,
                notes: prepared.notes,
                forward_ms,
                backend: self.backend,
            }),
            Some(prepared.rgba),
        )
    }
}

impl Engine {
    /// One explanation of the last predicted image: the raw map (as `.npy`) and an overlay.
    async fn explain(
        &mut self,
        id: u64,
        method: ExplainMethod,
        target: Option<usize>,
        layer: Option<String>,
    ) -> Reply {
        let during = format!("computing {}", method.label());
        let (Some(classifier), Some(current)) = (&self.classifier, &self.current) else {
            return failed(&during, "open a model and an image first");
        };
        let target = Target::logit(target.unwrap_or(current.top));
        let spec = classifier.input().clone();
        let layer = match (method, layer) {
            (ExplainMethod::GradCam, None) => classifier.layer_table().gradcam_layer,
            (ExplainMethod::GradCam, Some(l)) => Some(l),
            _ => None,
        };
        let start = now_ms();
        let image = &current.input;
        let map = match method {
            ExplainMethod::GradCam => match &layer {
                None => Err(explain_core::Error::Settings(
                    "this model has no spatial layer for Grad-CAM".into(),
                )),
                Some(l) => class_map(
                    classifier,
                    image,
                    target,
                    l,
                    CamMethod::GradCam,
                    &mut Silent,
                )
                .and_then(|raw| pytorch_grad_cam_map(&raw, spec.height, spec.width)),
            },
            ExplainMethod::Saliency => saliency(classifier, image, target),
            ExplainMethod::Occlusion(level) => {
                let settings = Occlusion::preset(level, spec.channels, spec.height, spec.width);
                occlusion(classifier, image, target, &settings, &mut Silent)
            }
            ExplainMethod::IntegratedGradients => integrated_gradients(
                classifier,
                image,
                target,
                &IntegratedGradients::default(),
                &mut Silent,
            ),
        };
        let map = match map {
            Ok(m) => m,
            Err(e) => return failed(&during, e),
        };
        let values = match map.to_vec_async().await {
            Ok(v) => v,
            Err(e) => return failed(&during, e),
        };
        let compute_ms = now_ms() - start;
        let dims = map.dims();
        let area = spec.height * spec.width;
        let channels = values.len() / area.max(1);
        let chw = match spec.layout {
            Layout::Nhwc => hwc_to_chw(&values, channels),
            Layout::Nchw => values.clone(),
        };
        let signed = matches!(method, ExplainMethod::IntegratedGradients);
        let colours = if signed {
            ColourMap::Diverging
        } else {
            ColourMap::Viridis
        };
        let mut bytes = map_overlay(&current.rgba, &chw, channels, signed, colours, 0.5);
        let rgba_len = bytes.len();
        match explain_core::npy::write_f32(&values, &dims) {
            Ok(npy) => bytes.extend(npy),
            Err(e) => return failed(&during, e),
        }
        (
            Response::Explanation(ExplanationResult {
                id,
                method,
                target: target.class,
                target_label: classifier.labels()[target.class].clone(),
                layer,
                width: spec.width,
                height: spec.height,
                rgba_len,
                compute_ms,
            }),
            Some(bytes),
        )
    }
}

#[cfg(target_arch = "wasm32")]
fn webgpu_offered() -> bool {
    use wasm_bindgen::JsValue;
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &JsValue::from_str("navigator"))
        .and_then(|nav| js_sys::Reflect::get(&nav, &JsValue::from_str("gpu")))
        .map(|gpu| !gpu.is_undefined() && !gpu.is_null())
        .unwrap_or(false)
}

#[cfg(not(target_arch = "wasm32"))]
fn webgpu_offered() -> bool {
    false
}

#[cfg(target_arch = "wasm32")]
async fn init_webgpu() -> Result<Device, String> {
    if !webgpu_offered() {
        return Err("this browser offers no WebGPU".into());
    }
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| e.to_string())
}

#[cfg(not(target_arch = "wasm32"))]
async fn init_webgpu() -> Result<Device, String> {
    Err("WebGPU exists only in the browser build".into())
}

#[cfg(target_arch = "wasm32")]
fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    js_sys::global()
        .dyn_into::<web_sys::DedicatedWorkerGlobalScope>()
        .ok()
        .and_then(|g| g.performance())
        .map_or(0.0, |p| p.now())
}

#[cfg(not(target_arch = "wasm32"))]
fn now_ms() -> f64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::protocol::Response;

    fn fixture(path: &str) -> Vec<u8> {
        let p = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn load(engine: &mut Engine, name: &str, bytes: Vec<u8>) -> Response {
        let mut replies =
            block_on(engine.handle(Request::LoadModel { name: name.into() }, Some(bytes)));
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
        let Response::Failed { during, message } = bad else {
            panic!("{bad:?}")
        };
        assert!(
            during.contains("bad.onnx") && message.contains("ONNX"),
            "{during}: {message}"
        );

        let preprocess = crate::presets::Preset::Symmetric.apply(&summary.input);
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
        };
        let (early, _) = block_on(engine.handle(explain.clone(), None)).remove(0);
        assert!(
            matches!(early, Response::Failed { .. }),
            "no image yet: {early:?}"
        );
        let preprocess = crate::presets::Preset::Unit.apply(&summary.input);
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
        assert_eq!(result.rgba_len, 28 * 28 * 4);
        let map = explain_core::npy::read_f32(&bytes[result.rgba_len..], "map").expect("npy");
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
    fn predicting_without_a_model_says_what_to_do() {
        let mut engine = Engine::default();
        let spec = explain_core::InputSpec {
            name: "x".into(),
            channels: 1,
            height: 2,
            width: 2,
            layout: explain_core::Layout::Nchw,
        };
        let preprocess = crate::presets::Preset::Unit.apply(&spec);
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
}
