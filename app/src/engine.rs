//! The worker's state: the chosen device, the loaded model, its labels. Handles one request at a
//! time and answers with [`Response`]s; every failure becomes one `Failed` message, and the state
//! stays usable (a bad model does not unload the good one).

use explain_core::model::parse_labels;
use explain_core::{Classifier, Device};

use crate::protocol::{Backend, BackendChoice, ModelSummary, PredictionResult, Request, Response};

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
        };
        self.classifier = Some(classifier);
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
        let result = async {
            let batch = classifier.batch(prepared.data, 1)?;
            let logits = classifier.logits(batch)?;
            logits.to_vec_async().await
        }
        .await;
        let forward_ms = now_ms() - start;
        let logits = match result {
            Ok(l) => l,
            Err(e) => return failed(&during, e),
        };
        let prediction = explain_core::model::prediction(&logits, classifier.labels(), 5);
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
