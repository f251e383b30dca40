//! Messages between the page and the compute worker.
//!
//! Each message is a JS object `{ id: number, msg: <JSON text>, bytes?: Uint8Array }`: the id the
//! page's client gave the request (a response carries the id of the request it answers; 0 for
//! what no request asked for, such as a background job's step), the typed message as JSON, and
//! any bulk data (model file, image file, pixels) beside it as a byte array, so large payloads
//! never go through JSON.

use explain_core::data::Preprocess;
use explain_core::features::DeepDream;
use serde::{Deserialize, Serialize};

mod methods;
mod results;

pub use methods::ExplainMethod;
pub use results::{
    ActivationsResult, ClassMapsResult, DatasetSummary, DreamResult, EvaluationResult,
    ExplanationResult, ImageMapResult, MaxActivationsResult, ModelSummary, NearDuplicatesResult,
    PredictionResult, PreprocessingCheckResult, SanityResult, TsneResult,
};

/// Which compute backend the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendChoice {
    /// WebGPU when the browser offers an adapter, else the CPU.
    Auto,
    WebGpu,
    Cpu,
}

impl BackendChoice {
    pub fn from_query(value: &str) -> Option<Self> {
        match value {
            "auto" => Some(Self::Auto),
            "webgpu" | "gpu" => Some(Self::WebGpu),
            "cpu" | "flex" => Some(Self::Cpu),
            _ => None,
        }
    }
}

/// The backend the engine runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    WebGpu,
    Cpu,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::WebGpu => "WebGPU",
            Backend::Cpu => "CPU (flex)",
        }
    }
}

/// The relative path and byte length of each file of a picked folder.
pub type FileSizes = Vec<(String, usize)>;

/// Page -> worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    SetBackend(BackendChoice),
    /// Bytes: the .onnx file. `size` (height, width) runs a model that takes any image size.
    LoadModel {
        name: String,
        #[serde(default)]
        size: Option<[usize; 2]>,
    },
    SetLabels {
        text: String,
    },
    /// Bytes: the image file.
    Predict {
        id: u64,
        name: String,
        preprocess: Preprocess,
    },
    /// Bytes: a zip of class folders (`files` is `None`), or the files of a picked folder one
    /// after another (`files` gives each one's relative path and length).
    LoadDataset {
        name: String,
        files: Option<FileSizes>,
    },
    /// Classifies every image of the dataset (answers with `Progress` along the way), or the
    /// `shard` of it this worker was given (`ui/pool.rs`).
    Evaluate {
        id: u64,
        preprocess: Preprocess,
        #[serde(default)]
        shard: Option<Shard>,
    },
    /// The bytes of some of the dataset's images (for galleries, or to open one).
    ReadImages {
        id: u64,
        paths: Vec<String>,
        purpose: ImagePurpose,
    },
    /// A t-SNE map of a layer's activations over the dataset.
    Tsne {
        id: u64,
        preprocess: Preprocess,
        map: TsneMap,
    },
    /// The current image's activations at a layer (every channel), with a value histogram.
    Activations {
        id: u64,
        layer: String,
    },
    /// The dataset images whose mean activation of each channel of `layer` is highest.
    MaxActivations {
        id: u64,
        layer: String,
        preprocess: Preprocess,
        k: usize,
    },
    /// An input that excites `channel` of `layer` (the whole layer if `None`), dreamed from
    /// grey noise.
    DeepDream {
        id: u64,
        layer: String,
        channel: Option<usize>,
        preprocess: Preprocess,
        /// Iterations, pyramid levels and gradient blur (the rest at the core's defaults).
        settings: DeepDream,
    },
    /// Scores every common preprocessing (each preset, and BGR order for colour models) on
    /// `sample` images spread over the labelled dataset (a background job): does another
    /// convention score clearly better than the user's?
    CheckPreprocessing {
        id: u64,
        sample: usize,
    },
    /// Pairs of dataset images whose penultimate features have a cosine similarity of at least
    /// `similarity` (a background job): the same picture twice, perhaps under two labels.
    FindNearDuplicates {
        id: u64,
        preprocess: Preprocess,
        similarity: f32,
    },
    /// Explains each of `images` (a dataset path and the class to explain) with one method, an
    /// image per step (a background job): each map as it is made ([`Response::ImageMap`]),
    /// then their mean map and mean deletion and insertion areas ([`Response::ClassMaps`]).
    ExplainImages {
        id: u64,
        preprocess: Preprocess,
        method: ExplainMethod,
        /// The layer for Grad-CAM (`None`: the suggested one).
        layer: Option<String>,
        images: Vec<(String, usize)>,
    },
    /// `0` for the second model of a comparison (open it, classify, explain, evaluate,
    /// explain many images), on the same images; its answers are the ones `0` gets.
    Second(Box<Request>),
    /// Stops the running job at its next batch (handled as soon as it arrives, not queued).
    Cancel,
    /// Explains the last predicted image.
    Explain {
        id: u64,
        method: ExplainMethod,
        /// The class to explain (`None`: the top prediction).
        target: Option<usize>,
        /// The layer for Grad-CAM (`None`: the suggested one).
        layer: Option<String>,
        /// Explain the softmax probability instead of the logit (which does not saturate).
        probability: bool,
        /// Sum a colour map's channels (else their maximum; signed maps are always summed).
        sum_channels: bool,
        /// The share of the work this worker does (workers split an occlusion map).
        #[serde(default)]
        part: ExplainPart,
    },
    /// Does `method`'s map of the last predicted image depend on the model? Scrambles the
    /// weights from the top layer down in at most `max_steps` steps (a background job, one map
    /// per step) and compares each map with the original.
    SanityCheck {
        id: u64,
        method: ExplainMethod,
        target: Option<usize>,
        layer: Option<String>,
        probability: bool,
        max_steps: usize,
        seed: u64,
    },
}

/// The t-SNE map the user asks for: the layer, which images (every `every`-th image of the
/// included class folders; `classes: None` includes all) and the settings they chose (the rest
/// at `TsneSettings`' defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TsneMap {
    /// t-SNE, or PCA (instant; the perplexity and seed then do not apply).
    #[serde(default)]
    pub method: MapMethod,
    pub layer: String,
    pub perplexity: f64,
    pub seed: u64,
    pub every: usize,
    pub classes: Option<Vec<usize>>,
}

/// How the features are laid out in two dimensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapMethod {
    /// Neighbourhoods kept (van der Maaten & Hinton 2008).
    #[default]
    Tsne,
    /// The two directions of largest variance: instant, linear, global distances kept.
    Pca,
    /// Neighbourhoods kept, faster than t-SNE on large sets (McInnes et al. 2018).
    Umap,
}

impl MapMethod {
    pub fn label(self) -> &'static str {
        match self {
            MapMethod::Tsne => "t-SNE",
            MapMethod::Pca => "PCA",
            MapMethod::Umap => "UMAP",
        }
    }
}

/// Which share of an explanation a worker computes (`ui/pool.rs` splits occlusion and
/// Integrated Gradients maps).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExplainPart {
    /// All of it.
    #[default]
    Whole,
    /// The share `Shard` of the map alone (occlusion, Integrated Gradients), answered with
    /// [`Response::MapPart`].
    Share(Shard),
    /// Bytes: the map (float32, the model's input layout), the sum of the workers' shares:
    /// finish the explanation from it.
    Joined,
}

/// Why the page asked for image bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImagePurpose {
    /// Thumbnails of a gallery.
    Gallery,
    /// The image becomes the current one.
    Open,
}

/// The part of a dataset job one of several compute workers does: the `index`-th of `count`
/// contiguous runs of the images, so the parts joined in order are the whole job's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The images of a set of `len` this shard takes.
    pub fn range(self, len: usize) -> std::ops::Range<usize> {
        let count = self.count.max(1);
        let index = self.index.min(count - 1);
        len * index / count..len * (index + 1) / count
    }
}

/// float32 values as the bytes a message carries (little-endian): the one framing of every
/// float array between the page and the workers.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The float32 values of a message's bytes (a trailing partial value is ignored).
pub fn bytes_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Worker -> page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    /// The worker's engine is loaded and listening.
    Started,
    Backend {
        active: Backend,
        webgpu_available: bool,
        /// Why the requested backend is not the active one, if so.
        note: Option<String>,
    },
    ModelLoaded(ModelSummary),
    Labels(Vec<String>),
    /// Bytes: the image at network resolution, RGBA.
    Prediction(PredictionResult),
    /// Bytes: the map for the page and the raw map (see [`ExplanationResult::values_len`]).
    Explanation(ExplanationResult),
    /// Bytes: this worker's share of an explanation's map (float32, the model's input layout).
    MapPart {
        id: u64,
    },
    DatasetLoaded(DatasetSummary),
    /// A long job's progress: `done` of `total` steps.
    Progress {
        id: u64,
        task: String,
        done: usize,
        total: usize,
    },
    Evaluated(EvaluationResult),
    Tsne(TsneResult),
    /// Bytes: the maps, float32, channel after channel (`height × width` each).
    Activations(ActivationsResult),
    MaxActivations(MaxActivationsResult),
    /// Bytes: the maps of the check, float32 in [0, 1], the original's first
    /// (`plane_height × plane_width` each).
    Sanity(SanityResult),
    /// Bytes: the image, RGBA.
    Dream(DreamResult),
    PreprocessingChecked(PreprocessingCheckResult),
    NearDuplicates(NearDuplicatesResult),
    /// One image's map of an [`Request::ExplainImages`] job (more follow). Bytes: the image at
    /// network resolution (RGBA), then its map (float32 in [0, 1], one value per pixel).
    ImageMap(ImageMapResult),
    /// The end of an [`Request::ExplainImages`] job. Bytes: the mean of the maps as shown
    /// (float32, one value per pixel), then the mean raw map as `.npy`.
    ClassMaps(ClassMapsResult),
    /// Bytes: the files one after another, `lens` long each.
    Images {
        id: u64,
        paths: Vec<String>,
        lens: Vec<usize>,
        purpose: ImagePurpose,
    },
    /// The job `id` stopped at the user's request.
    Cancelled {
        id: u64,
    },
    /// The model `name` takes images of any height and width: the page asks the user for the
    /// size to run it at and opens it again with it.
    NeedsSize {
        name: String,
        message: String,
    },
    Failed {
        /// Which kind of work failed: how the page routes the failure.
        task: Task,
        /// What the user was doing, for the message ("opening the model 'x.onnx'").
        during: String,
        message: String,
    },
}

/// The kinds of work a request starts, so that a failure is routed by what failed, never by its
/// English text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    Backend,
    Model,
    Labels,
    /// Classifying one image.
    Prediction,
    Explanation,
    Dataset,
    /// Reading images of the dataset (thumbnails, or one to open).
    Images,
    Evaluation,
    Tsne,
    Activations,
    MaxActivations,
    Dream,
    /// A sanity check of a map.
    Sanity,
    /// Scoring every common preprocessing on a sample.
    PreprocessingCheck,
    /// Comparing the dataset's images for near-duplicates.
    NearDuplicates,
    /// Explaining many images of the dataset (a class, a confusion cell).
    ClassMaps,
    /// The worker itself: a message that could not be read, an engine that stopped.
    Engine,
}

impl Task {
    /// Whether the failure ends a job whose progress the page shows.
    pub fn shows_progress(self) -> bool {
        matches!(
            self,
            Task::Explanation
                | Task::Evaluation
                | Task::Tsne
                | Task::MaxActivations
                | Task::Dream
                | Task::Sanity
                | Task::NearDuplicates
                | Task::ClassMaps
                | Task::Engine
        )
    }
}

impl Request {
    /// The request carrying `new` as its id, which every answer to it echoes. The page's client
    /// gives each request its id (`ui/client.rs`); the page writes 0.
    pub fn with_id(mut self, new: u64) -> Self {
        match &mut self {
            Request::Predict { id, .. }
            | Request::Evaluate { id, .. }
            | Request::ReadImages { id, .. }
            | Request::Tsne { id, .. }
            | Request::Activations { id, .. }
            | Request::MaxActivations { id, .. }
            | Request::DeepDream { id, .. }
            | Request::Explain { id, .. }
            | Request::SanityCheck { id, .. }
            | Request::CheckPreprocessing { id, .. }
            | Request::FindNearDuplicates { id, .. }
            | Request::ExplainImages { id, .. } => *id = new,
            Request::Second(request) => {
                let inner = std::mem::replace(request.as_mut(), Request::Cancel);
                **request = inner.with_id(new);
            }
            Request::SetBackend(_)
            | Request::LoadModel { .. }
            | Request::SetLabels { .. }
            | Request::LoadDataset { .. }
            | Request::Cancel => {}
        }
        self
    }
}

impl Response {
    /// The id of the request this answers, where the message itself carries it (a result, a
    /// job's progress); otherwise the envelope's id says it.
    pub fn answers(&self) -> Option<u64> {
        match self {
            Response::Prediction(r) => Some(r.id),
            Response::Explanation(r) => Some(r.id),
            Response::Evaluated(r) => Some(r.id),
            Response::Tsne(r) => Some(r.id),
            Response::Activations(r) => Some(r.id),
            Response::MaxActivations(r) => Some(r.id),
            Response::Sanity(r) => Some(r.id),
            Response::Dream(r) => Some(r.id),
            Response::PreprocessingChecked(r) => Some(r.id),
            Response::NearDuplicates(r) => Some(r.id),
            Response::ImageMap(r) => Some(r.id),
            Response::ClassMaps(r) => Some(r.id),
            Response::MapPart { id }
            | Response::Progress { id, .. }
            | Response::Images { id, .. }
            | Response::Cancelled { id } => Some(*id),
            Response::Started
            | Response::Backend { .. }
            | Response::ModelLoaded(_)
            | Response::Labels(_)
            | Response::DatasetLoaded(_)
            | Response::NeedsSize { .. }
            | Response::Failed { .. } => None,
        }
    }
}

impl Request {
    /// The kind of work this request starts (`None` for a Cancel).
    pub fn task(&self) -> Option<Task> {
        Some(match self {
            Request::SetBackend(_) => Task::Backend,
            Request::LoadModel { .. } => Task::Model,
            Request::SetLabels { .. } => Task::Labels,
            Request::Predict { .. } => Task::Prediction,
            Request::LoadDataset { .. } => Task::Dataset,
            Request::Evaluate { .. } => Task::Evaluation,
            Request::ReadImages { .. } => Task::Images,
            Request::Tsne { .. } => Task::Tsne,
            Request::Activations { .. } => Task::Activations,
            Request::MaxActivations { .. } => Task::MaxActivations,
            Request::DeepDream { .. } => Task::Dream,
            Request::Explain { .. } => Task::Explanation,
            Request::SanityCheck { .. } => Task::Sanity,
            Request::CheckPreprocessing { .. } => Task::PreprocessingCheck,
            Request::FindNearDuplicates { .. } => Task::NearDuplicates,
            Request::ExplainImages { .. } => Task::ClassMaps,
            Request::Second(request) => return request.task(),
            Request::Cancel => return None,
        })
    }

    /// What the user was doing when they sent it, for a message about it.
    pub fn describe(&self) -> String {
        match self {
            Request::SetBackend(_) => "switching the backend".into(),
            Request::LoadModel { name, .. } => format!("opening the model '{name}'"),
            Request::SetLabels { .. } => "reading the labels".into(),
            Request::Predict { name, .. } => format!("classifying '{name}'"),
            Request::LoadDataset { name, .. } => format!("opening the images '{name}'"),
            Request::Evaluate { .. } => "evaluating the images".into(),
            Request::ReadImages { .. } => "reading images".into(),
            Request::Tsne { .. } => "computing the t-SNE map".into(),
            Request::Activations { layer, .. } => {
                format!("reading the activations of '{layer}'")
            }
            Request::MaxActivations { .. } => "finding the most activating images".into(),
            Request::DeepDream { layer, .. } => format!("dreaming '{layer}'"),
            Request::Explain { method, .. } => format!("computing {}", method.label()),
            Request::SanityCheck { method, .. } => {
                format!("checking {} on scrambled models", method.label())
            }
            Request::CheckPreprocessing { .. } => "checking the preprocessing".into(),
            Request::FindNearDuplicates { .. } => "looking for near-duplicate images".into(),
            Request::ExplainImages { method, images, .. } => {
                format!("computing {} of {} images", method.label(), images.len())
            }
            Request::Second(request) => format!("{} (second model)", request.describe()),
            Request::Cancel => "cancelling".into(),
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod js {
    use js_sys::{Array, Object, Reflect, Uint8Array};
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use wasm_bindgen::{JsCast, JsValue};

    /// Where a message goes: a worker (from the page) or the page (from inside a worker).
    pub trait Port {
        fn post_transferring(&self, message: &JsValue, transfer: &JsValue) -> Result<(), JsValue>;
    }

    impl Port for web_sys::Worker {
        fn post_transferring(&self, message: &JsValue, transfer: &JsValue) -> Result<(), JsValue> {
            self.post_message_with_transfer(message, transfer)
        }
    }

    impl Port for web_sys::DedicatedWorkerGlobalScope {
        fn post_transferring(&self, message: &JsValue, transfer: &JsValue) -> Result<(), JsValue> {
            self.post_message_with_transfer(message, transfer)
        }
    }

    /// Sends `msg` with its request id and optional bytes: the one framing every sender uses.
    /// The bytes are copied out of wasm memory once and their buffer is transferred, so the
    /// browser does not clone it a second time. A failure is logged: the receiver's silence is
    /// then what the sender sees, as for a lost worker.
    pub fn post<T: Serialize>(port: &impl Port, id: u64, msg: &T, bytes: Option<&[u8]>) {
        let sent = encode(id, msg, bytes).and_then(|(message, transfer)| {
            port.post_transferring(&message, &transfer)
                .map_err(|e| format!("postMessage failed: {e:?}"))
        });
        if let Err(e) = sent {
            web_sys::console::error_1(&format!("unpic: {e}").into());
        }
    }

    /// Packs a message, its request id and optional bytes into a JS object, with the list of
    /// buffers to transfer.
    fn encode<T: Serialize>(
        id: u64,
        msg: &T,
        bytes: Option<&[u8]>,
    ) -> Result<(JsValue, JsValue), String> {
        let text = serde_json::to_string(msg).map_err(|e| e.to_string())?;
        let obj = Object::new();
        let set = |k: &str, v: &JsValue| {
            Reflect::set(&obj, &JsValue::from_str(k), v)
                .map_err(|_| "cannot build message".to_string())
        };
        set("id", &JsValue::from_f64(id as f64))?;
        set("msg", &JsValue::from_str(&text))?;
        let transfer = Array::new();
        if let Some(bytes) = bytes {
            let array = Uint8Array::from(bytes);
            transfer.push(&array.buffer());
            set("bytes", &array.into())?;
        }
        Ok((obj.into(), transfer.into()))
    }

    /// A message unpacked: its request id, the message and its bytes.
    pub type Decoded<T> = (u64, T, Option<Vec<u8>>);

    /// Unpacks a message made by [`post`] (a missing id reads as 0).
    pub fn decode<T: DeserializeOwned>(data: &JsValue) -> Result<Decoded<T>, String> {
        let text = Reflect::get(data, &JsValue::from_str("msg"))
            .ok()
            .and_then(|v| v.as_string())
            .ok_or("message without a body")?;
        let msg = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let bytes = Reflect::get(data, &JsValue::from_str("bytes"))
            .ok()
            .and_then(|v| v.dyn_into::<Uint8Array>().ok())
            .map(|a| a.to_vec());
        let id = Reflect::get(data, &JsValue::from_str("id"))
            .ok()
            .and_then(|v| v.as_f64())
            .map_or(0, |v| v as u64);
        Ok((id, msg, bytes))
    }
}

#[cfg(target_arch = "wasm32")]
pub use js::{Decoded, Port, decode, post};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_json() {
        let r = Request::SetBackend(BackendChoice::WebGpu);
        let text = serde_json::to_string(&r).expect("encode");
        let back: Request = serde_json::from_str(&text).expect("decode");
        assert!(matches!(back, Request::SetBackend(BackendChoice::WebGpu)));
    }

    #[test]
    fn shards_split_a_set_into_contiguous_runs_that_cover_it_once() {
        for len in [0, 1, 5, 64, 10_000] {
            for count in 1..=4 {
                let runs: Vec<_> = (0..count)
                    .map(|index| Shard { index, count }.range(len))
                    .collect();
                assert_eq!(runs[0].start, 0);
                assert_eq!(runs[count - 1].end, len);
                assert!(runs.windows(2).all(|w| w[0].end == w[1].start), "{runs:?}");
            }
        }
    }

    #[test]
    fn the_clients_id_is_the_one_every_answer_echoes() {
        let request = Request::Activations {
            id: 0,
            layer: "conv1".into(),
        }
        .with_id(42);
        assert!(matches!(request, Request::Activations { id: 42, .. }));
        let cancel = Request::Cancel.with_id(7);
        assert!(matches!(cancel, Request::Cancel));
        let progress = Response::Progress {
            id: 42,
            task: "t".into(),
            done: 1,
            total: 2,
        };
        assert_eq!(progress.answers(), Some(42));
        assert_eq!(Response::Started.answers(), None);
    }

    #[test]
    fn floats_survive_their_framing() {
        let values = [0.0, -1.5, f32::MAX, f32::MIN_POSITIVE, 3.25];
        assert_eq!(bytes_f32(&f32_bytes(&values)), values);
        assert_eq!(bytes_f32(&[0, 0, 128, 63, 9]), [1.0]);
    }

    #[test]
    fn backend_query_values_are_recognised() {
        assert_eq!(BackendChoice::from_query("cpu"), Some(BackendChoice::Cpu));
        assert_eq!(
            BackendChoice::from_query("webgpu"),
            Some(BackendChoice::WebGpu)
        );
        assert_eq!(BackendChoice::from_query("tpu"), None);
    }
}
