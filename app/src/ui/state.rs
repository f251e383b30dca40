//! The page's shared state (one `Session` in context) and the actions that change it. Views read
//! signals and call actions; only actions talk to the worker.

use std::collections::HashMap;

use explain_core::data::Preprocess;
use explain_core::features::DeepDream;
use leptos::prelude::*;

use super::client;
use crate::presets::Preset;
use crate::protocol::{
    ActivationsResult, Backend, BackendChoice, DatasetSummary, DreamResult, EvaluationResult,
    ExplainMethod, ExplainPart, ExplanationResult, FileSizes, ImagePurpose, MaxActivationsResult,
    ModelSummary, PredictionResult, Request, Response, TsneResult, bytes_f32,
};

/// The views of the page, one shown at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Data,
    Accuracy,
    Predict,
    Features,
    Tsne,
    Help,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Data,
        View::Accuracy,
        View::Predict,
        View::Features,
        View::Tsne,
        View::Help,
    ];

    pub fn label(self) -> &'static str {
        match self {
            View::Data => "Image data",
            View::Accuracy => "Accuracy",
            View::Predict => "Predict & explain",
            View::Features => "Features",
            View::Tsne => "t-SNE",
            View::Help => "Help",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            View::Data => "data",
            View::Accuracy => "accuracy",
            View::Predict => "predict",
            View::Features => "features",
            View::Tsne => "tsne",
            View::Help => "help",
        }
    }
}

/// A set of the evaluated images a gallery shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// True class `truth` predicted as `pred` (a confusion-matrix cell).
    Cell { truth: usize, pred: usize },
    /// Everything predicted as this class (a column).
    PredictedAs(usize),
    /// Everything of this true class (a row).
    TrueClass(usize),
}

impl Selection {
    pub fn contains(self, file: &explain_core::metrics::FileResult) -> bool {
        match self {
            Selection::Cell { truth, pred } => file.label == truth && file.pred == pred,
            Selection::PredictedAs(pred) => file.pred == pred,
            Selection::TrueClass(truth) => file.label == truth,
        }
    }

    pub fn describe(self, classes: &[String]) -> String {
        let name = |k: usize| classes.get(k).cloned().unwrap_or_else(|| k.to_string());
        match self {
            Selection::Cell { truth, pred } => {
                format!("True {} predicted as {}", name(truth), name(pred))
            }
            Selection::PredictedAs(pred) => format!("Predicted as {}", name(pred)),
            Selection::TrueClass(truth) => format!("True class {}", name(truth)),
        }
    }
}

/// A long job in the worker: what it is and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct JobProgress {
    pub id: u64,
    pub task: String,
    pub done: usize,
    pub total: usize,
    /// When the page asked for it (`Date.now()`, ms), for the estimate of time left.
    pub started_ms: f64,
    /// Computed in one go by the worker (an explanation, a dream): cancelled by restarting it.
    pub one_go: bool,
}

/// An image file the user picked (or the demo's).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFile {
    pub name: String,
    pub bytes: Vec<u8>,
    /// Its path in the open dataset, when it came from there.
    pub dataset_path: Option<String>,
}

/// A prediction with the pixels the network saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub result: PredictionResult,
    pub rgba: Vec<u8>,
}

/// An explanation of the shown image: the map as one value per pixel in [0, 1] (coloured by
/// the page with the chosen colour map and opacity) and the raw map as `.npy` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownExplanation {
    pub result: ExplanationResult,
    pub values: Vec<f32>,
    pub npy: Vec<u8>,
}

/// Thumbnails added to the page per task of its event loop.
const THUMBNAILS_PER_TASK: usize = 12;

/// Explanation ids: `EXPLAIN_IDS + batch * EXPLAIN_BATCH + i`, so the maps of one click are
/// told apart from those of an earlier one, and from job ids.
const EXPLAIN_BATCH: u64 = 1000;
const EXPLAIN_IDS: u64 = 1 << 40;

fn explain_id(batch: u64, i: u64) -> u64 {
    EXPLAIN_IDS + batch * EXPLAIN_BATCH + i
}

fn explain_batch_of(id: u64) -> Option<u64> {
    id.checked_sub(EXPLAIN_IDS).map(|x| x / EXPLAIN_BATCH)
}

#[derive(Clone, Copy)]
pub struct Session {
    pub choice: RwSignal<BackendChoice>,
    pub backend: RwSignal<Option<Backend>>,
    pub webgpu_available: RwSignal<bool>,
    pub backend_note: RwSignal<Option<String>>,
    pub model: RwSignal<Option<ModelSummary>>,
    pub preset: RwSignal<Preset>,
    pub preprocess: RwSignal<Option<Preprocess>>,
    pub image: RwSignal<Option<ImageFile>>,
    pub shown: RwSignal<Option<Shown>>,
    /// The explanations of the shown image, in the order they were asked for.
    pub explanations: RwSignal<Vec<ShownExplanation>>,
    explain_batch: RwSignal<u64>,
    /// How many maps the last click asked for.
    explain_expected: RwSignal<usize>,
    /// What the engine is doing now, for the status line.
    pub busy: RwSignal<Option<String>>,
    pub error: RwSignal<Option<String>>,
    /// A model that takes any image size waits for the user's size: (file name, why).
    pub needs_size: RwSignal<Option<(String, String)>>,
    latest_request: RwSignal<u64>,
    pub view: RwSignal<View>,
    pub dataset: RwSignal<Option<DatasetSummary>>,
    /// The predictions over the dataset with the current model and preprocessing.
    pub evaluation: RwSignal<Option<EvaluationResult>>,
    pub progress: RwSignal<Option<JobProgress>>,
    latest_evaluation: RwSignal<u64>,
    /// The last t-SNE map, and the id of the one asked for.
    pub tsne: RwSignal<Option<TsneResult>>,
    latest_tsne: RwSignal<u64>,
    /// The shown image's activations at the Features view's layer, and their maps.
    pub activations: RwSignal<Option<(ActivationsResult, Vec<f32>)>>,
    /// The top dataset images of every channel of a layer.
    pub max_activations: RwSignal<Option<MaxActivationsResult>>,
    latest_max: RwSignal<u64>,
    /// The deep dreams of the last click (one per channel) and their RGBA pixels.
    pub dreams: RwSignal<Vec<(DreamResult, Vec<u8>)>>,
    /// The ids of the last click's dreams: `first_dream..=latest_dream`.
    first_dream: RwSignal<u64>,
    latest_dream: RwSignal<u64>,
    latest_feature_request: RwSignal<u64>,
    /// Dataset path -> `data:` URL of the image, filled as galleries ask for them.
    pub thumbnails: RwSignal<HashMap<String, String>>,
    /// Counts the datasets opened: images read for an earlier one are not shown as this one's
    /// (their paths may be the same).
    thumbnail_epoch: RwSignal<u64>,
    /// The images the Accuracy view's gallery shows.
    pub selection: RwSignal<Option<Selection>>,
}

pub fn provide_session(choice: BackendChoice) -> Session {
    let session = Session {
        choice: RwSignal::new(choice),
        backend: RwSignal::new(None),
        webgpu_available: RwSignal::new(false),
        backend_note: RwSignal::new(None),
        model: RwSignal::new(None),
        preset: RwSignal::new(Preset::Unit),
        preprocess: RwSignal::new(None),
        image: RwSignal::new(None),
        shown: RwSignal::new(None),
        explanations: RwSignal::new(Vec::new()),
        explain_batch: RwSignal::new(0),
        explain_expected: RwSignal::new(0),
        busy: RwSignal::new(None),
        error: RwSignal::new(None),
        needs_size: RwSignal::new(None),
        latest_request: RwSignal::new(0),
        view: RwSignal::new(View::Accuracy),
        dataset: RwSignal::new(None),
        evaluation: RwSignal::new(None),
        progress: RwSignal::new(None),
        latest_evaluation: RwSignal::new(0),
        tsne: RwSignal::new(None),
        latest_tsne: RwSignal::new(0),
        activations: RwSignal::new(None),
        max_activations: RwSignal::new(None),
        latest_max: RwSignal::new(0),
        dreams: RwSignal::new(Vec::new()),
        first_dream: RwSignal::new(u64::MAX),
        latest_dream: RwSignal::new(0),
        latest_feature_request: RwSignal::new(0),
        thumbnails: RwSignal::new(HashMap::new()),
        thumbnail_epoch: RwSignal::new(0),
        selection: RwSignal::new(None),
    };
    provide_context(session);
    session
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

impl Session {
    /// Starts the worker and asks for the chosen backend.
    pub fn start(self) {
        let result = client::start(move |response, bytes| self.on_response(response, bytes));
        if let Err(e) = result {
            self.error.set(Some(e));
            return;
        }
        self.busy.set(Some("Starting the engine…".into()));
        client::send(Request::SetBackend(self.choice.get_untracked()), None);
    }

    pub fn set_backend(self, choice: BackendChoice) {
        self.choice.set(choice);
        self.busy.set(Some("Switching backend…".into()));
        client::send(Request::SetBackend(choice), None);
    }

    pub fn open_model(self, name: String, bytes: Vec<u8>) {
        self.error.set(None);
        self.busy.set(Some(format!("Opening {name}…")));
        self.needs_size.set(None);
        client::send(Request::LoadModel { name, size: None }, Some(bytes));
    }

    /// Opens the model that asked for a size again, at `size` (height, width).
    pub fn open_model_at(self, size: [usize; 2]) {
        let Some((name, _)) = self.needs_size.get_untracked() else {
            return;
        };
        let Some(bytes) = client::last_model(&name) else {
            self.error.set(Some(format!(
                "Open '{name}' again: its file is no longer held"
            )));
            return;
        };
        self.error.set(None);
        self.needs_size.set(None);
        self.busy
            .set(Some(format!("Opening {name} at {}x{}…", size[0], size[1])));
        client::send(
            Request::LoadModel {
                name,
                size: Some(size),
            },
            Some(bytes),
        );
    }

    pub fn open_labels(self, text: String) {
        self.error.set(None);
        client::send(Request::SetLabels { text }, None);
    }

    pub fn open_image(self, name: String, bytes: Vec<u8>) {
        self.open_image_from(name, bytes, None);
    }

    fn open_image_from(self, name: String, bytes: Vec<u8>, dataset_path: Option<String>) {
        self.error.set(None);
        self.image.set(Some(ImageFile {
            name,
            bytes,
            dataset_path,
        }));
        self.predict();
    }

    /// Opens a set of labelled images: a zip of class folders (`files: None`), or a picked
    /// folder's files, their bytes one after another.
    pub fn open_dataset(self, name: String, files: Option<FileSizes>, bytes: Vec<u8>) {
        self.error.set(None);
        self.busy.set(Some(format!("Opening {name}…")));
        self.dataset.set(None);
        self.evaluation.set(None);
        self.tsne.set(None);
        self.max_activations.set(None);
        self.selection.set(None);
        self.thumbnails.update(HashMap::clear);
        self.thumbnail_epoch.update(|e| *e += 1);
        client::send(Request::LoadDataset { name, files }, Some(bytes));
    }

    /// Makes the dataset image at `path` the current one.
    pub fn open_dataset_image(self, path: String) {
        let id = self.latest_request.get_untracked() + 1;
        self.latest_request.set(id);
        client::send(
            Request::ReadImages {
                id,
                paths: vec![path],
                purpose: ImagePurpose::Open,
            },
            None,
        );
    }

    /// Opens a random image of the dataset (of folder class `class`, if given).
    pub fn open_random_image(self, class: Option<usize>) {
        let Some(paths) = self.dataset.with(|d| {
            d.as_ref().map(|d| {
                d.items
                    .iter()
                    .filter(|i| class.is_none_or(|c| i.label == c))
                    .map(|i| i.path.clone())
                    .collect::<Vec<_>>()
            })
        }) else {
            self.error
                .set(Some("Open a folder of images first.".into()));
            return;
        };
        if let Some(path) = random_pick(&paths, 1).into_iter().next() {
            self.open_dataset_image(path);
        }
    }

    /// The `data:` URL of `path`'s image as a reactive attribute value ("" until it arrives). Each
    /// `<img>` follows its own entry, so a batch of new thumbnails updates `src`s and never
    /// rebuilds a gallery (which would decode every image again).
    pub fn thumbnail(self, path: String) -> impl Fn() -> String + Send + Sync + 'static {
        move || {
            self.thumbnails
                .with(|t| t.get(&path).cloned().unwrap_or_default())
        }
    }

    /// Asks for the images of `paths` not yet in [`Session::thumbnails`].
    pub fn want_thumbnails(self, paths: Vec<String>) {
        let missing: Vec<String> = self.thumbnails.with_untracked(|have| {
            paths
                .into_iter()
                .filter(|p| !have.contains_key(p))
                .collect()
        });
        if !missing.is_empty() {
            client::send(
                Request::ReadImages {
                    id: self.thumbnail_epoch.get_untracked(),
                    paths: missing,
                    purpose: ImagePurpose::Gallery,
                },
                None,
            );
        }
    }

    /// Classifies the whole dataset (replacing a running evaluation).
    pub fn evaluate(self) {
        let (Some(_), Some(preprocess), Some(dataset)) = (
            self.model.get_untracked(),
            self.preprocess.get_untracked(),
            self.dataset.get_untracked(),
        ) else {
            return;
        };
        let id = self.next_job_id();
        self.latest_evaluation.set(id);
        self.evaluation.set(None);
        self.progress.set(Some(JobProgress {
            id,
            task: "Evaluating the images".into(),
            done: 0,
            total: dataset.items.len(),
            started_ms: js_sys::Date::now(),
            one_go: false,
        }));
        // The worker replaces an evaluation under way with the new one.
        client::send(
            Request::Evaluate {
                id,
                preprocess,
                shard: None,
            },
            None,
        );
    }

    /// Job ids are shared by evaluations and t-SNE maps, so progress messages never mix.
    fn next_job_id(self) -> u64 {
        self.latest_evaluation
            .get_untracked()
            .max(self.latest_tsne.get_untracked())
            .max(self.latest_max.get_untracked())
            .max(self.latest_dream.get_untracked())
            + 1
    }

    fn is_wanted_job(self, id: u64) -> bool {
        id == self.latest_evaluation.get_untracked()
            || id == self.latest_tsne.get_untracked()
            || id == self.latest_max.get_untracked()
            || self.is_dream(id)
            || explain_batch_of(id) == Some(self.explain_batch.get_untracked())
    }

    /// Asks for the shown image's activations at `layer`.
    pub fn show_activations(self, layer: String) {
        if self.shown.get_untracked().is_none() {
            return;
        }
        let id = self.latest_feature_request.get_untracked() + 1;
        self.latest_feature_request.set(id);
        client::send(Request::Activations { id, layer }, None);
    }

    /// Finds the dataset images that excite each channel of `layer` most (a background job).
    pub fn find_max_activations(self, layer: String) {
        let (Some(preprocess), Some(dataset)) = (
            self.preprocess.get_untracked(),
            self.dataset.get_untracked(),
        ) else {
            self.error
                .set(Some("Open a model and a folder of images first.".into()));
            return;
        };
        let id = self.next_job_id();
        self.latest_max.set(id);
        self.max_activations.set(None);
        self.progress.set(Some(JobProgress {
            id,
            task: "Finding the most activating images".into(),
            done: 0,
            total: dataset.items.len(),
            started_ms: js_sys::Date::now(),
            one_go: false,
        }));
        client::send(
            Request::MaxActivations {
                id,
                layer,
                preprocess,
                k: 9,
            },
            None,
        );
    }

    /// Dreams an input for each of `channels` of `layer` (the whole layer if empty), one after
    /// another.
    pub fn dream_of(self, layer: String, channels: Vec<usize>, settings: DeepDream) {
        let Some(preprocess) = self.preprocess.get_untracked() else {
            return;
        };
        let targets: Vec<Option<usize>> = if channels.is_empty() {
            vec![None]
        } else {
            channels.into_iter().map(Some).collect()
        };
        let first = self.next_job_id();
        self.first_dream.set(first);
        self.latest_dream.set(first + targets.len() as u64 - 1);
        self.dreams.set(Vec::new());
        self.progress.set(Some(JobProgress {
            id: first,
            task: "Deep dream".into(),
            done: 0,
            total: settings.iterations * settings.levels,
            started_ms: js_sys::Date::now(),
            one_go: true,
        }));
        for (i, channel) in targets.into_iter().enumerate() {
            client::send(
                Request::DeepDream {
                    id: first + i as u64,
                    layer: layer.clone(),
                    channel,
                    preprocess: preprocess.clone(),
                    settings,
                },
                None,
            );
        }
    }

    fn is_dream(self, id: u64) -> bool {
        (self.first_dream.get_untracked()..=self.latest_dream.get_untracked()).contains(&id)
    }

    /// Asks for a t-SNE map of `layer` over the dataset.
    pub fn run_tsne(
        self,
        layer: String,
        perplexity: f64,
        seed: u64,
        every: usize,
        classes: Option<Vec<usize>>,
    ) {
        let (Some(preprocess), Some(dataset)) = (
            self.preprocess.get_untracked(),
            self.dataset.get_untracked(),
        ) else {
            self.error.set(Some(
                "Open a model and a folder of images first, then make the t-SNE map.".into(),
            ));
            return;
        };
        let id = self.next_job_id();
        self.latest_tsne.set(id);
        self.error.set(None);
        if self.progress.get_untracked().is_none() {
            self.progress.set(Some(JobProgress {
                id,
                task: "t-SNE".into(),
                done: 0,
                total: dataset.items.len(),
                started_ms: js_sys::Date::now(),
                one_go: false,
            }));
        }
        client::send(
            Request::Tsne {
                id,
                layer,
                preprocess,
                perplexity,
                seed,
                every,
                classes,
            },
            None,
        );
    }

    /// Stops the running job.
    pub fn cancel(self) {
        if self.progress.get_untracked().is_some_and(|p| p.one_go) {
            // An explanation or a dream runs in one go: only a new worker stops it.
            self.progress.set(None);
            self.busy.set(None);
            self.explain_batch.update(|b| *b += 1);
            self.first_dream.set(u64::MAX);
            // The new worker's `Started` resumes what the page still waits for.
            client::restart();
        } else {
            client::send(Request::Cancel, None);
        }
    }

    pub fn set_preset(self, preset: Preset) {
        self.preset.set(preset);
        if let Some(model) = self.model.get_untracked() {
            self.preprocess.set(Some(preset.apply(&model.input)));
            self.predict();
            self.evaluate();
        }
    }

    pub fn set_preprocess(self, preprocess: Preprocess) {
        self.preprocess.set(Some(preprocess));
        self.predict();
        self.evaluate();
    }

    /// Explains the shown image with each of `methods` (class activation maps at `layer`, or
    /// the suggested one); the maps replace the previous ones and arrive one by one.
    pub fn explain(
        self,
        methods: Vec<ExplainMethod>,
        layer: Option<String>,
        target: Option<usize>,
        probability: bool,
        sum_channels: bool,
    ) {
        if self.shown.get_untracked().is_none() {
            self.error.set(Some(
                "Open a model and an image first, then explain it.".into(),
            ));
            return;
        }
        if methods.is_empty() {
            self.error
                .set(Some("Tick at least one method to explain with.".into()));
            return;
        }
        let batch = self.explain_batch.get_untracked() + 1;
        self.explain_batch.set(batch);
        self.explain_expected.set(methods.len());
        self.explanations.set(Vec::new());
        self.error.set(None);
        let names: Vec<&str> = methods.iter().map(|m| m.label()).collect();
        self.busy
            .set(Some(format!("Computing {}…", names.join(", "))));
        for (i, method) in methods.into_iter().enumerate() {
            client::send(
                Request::Explain {
                    id: explain_id(batch, i as u64),
                    method,
                    target,
                    layer: layer.clone(),
                    probability,
                    sum_channels,
                    part: ExplainPart::Whole,
                },
                None,
            );
        }
    }

    /// Classifies the current image with the current model and preprocessing, if all are set.
    pub fn predict(self) {
        let (Some(_), Some(preprocess), Some(image)) = (
            self.model.get_untracked(),
            self.preprocess.get_untracked(),
            self.image.get_untracked(),
        ) else {
            return;
        };
        let id = self.latest_request.get_untracked() + 1;
        self.latest_request.set(id);
        self.busy.set(Some(format!("Classifying {}…", image.name)));
        client::send(
            Request::Predict {
                id,
                name: image.name,
                preprocess,
            },
            Some(image.bytes),
        );
    }

    fn on_images(
        self,
        id: u64,
        paths: Vec<String>,
        lens: Vec<usize>,
        purpose: ImagePurpose,
        bytes: Vec<u8>,
    ) {
        let mut offset = 0;
        let mut files = Vec::with_capacity(paths.len());
        for (path, len) in paths.into_iter().zip(lens) {
            let Some(slice) = bytes.get(offset..offset + len) else {
                break;
            };
            offset += len;
            files.push((path, slice.to_vec()));
        }
        match purpose {
            // The browser reads each new `<img>` at once (about a millisecond): a few per task,
            // so a hundred thumbnails never hold up a click.
            ImagePurpose::Gallery => wasm_bindgen_futures::spawn_local(async move {
                for chunk in files.chunks(THUMBNAILS_PER_TASK) {
                    if id != self.thumbnail_epoch.get_untracked() {
                        return;
                    }
                    self.thumbnails.update(|t| {
                        for (path, bytes) in chunk {
                            t.insert(path.clone(), crate::data_url::image_data_url(bytes));
                        }
                    });
                    crate::event_loop::next_task().await;
                }
            }),
            ImagePurpose::Open => {
                if id == self.latest_request.get_untracked()
                    && let Some((path, bytes)) = files.into_iter().next()
                {
                    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
                    self.open_image_from(name, bytes, Some(path));
                }
            }
        }
    }

    fn on_response(self, response: Response, bytes: Option<Vec<u8>>) {
        match response {
            // A worker that replaces one (after a Cancel or a crash) has the model and images
            // back, but not the jobs queued on the old one: ask again for the evaluation.
            Response::Started => {
                if self.evaluation.with_untracked(Option::is_none) {
                    self.evaluate();
                }
            }
            // Shares of a map are joined by the client's pool and never reach the page.
            Response::MapPart { .. } => {}
            Response::Backend {
                active,
                webgpu_available,
                note,
            } => {
                self.backend.set(Some(active));
                self.webgpu_available.set(webgpu_available);
                self.backend_note.set(note);
                if self.model.get_untracked().is_none() {
                    self.busy.set(None);
                }
            }
            Response::ModelLoaded(summary) => {
                let same_input = self
                    .model
                    .get_untracked()
                    .is_some_and(|m| m.input == summary.input);
                // Keep the user's preprocessing when the input is unchanged (a backend switch).
                if !same_input || self.preprocess.get_untracked().is_none() {
                    self.preprocess
                        .set(Some(self.preset.get_untracked().apply(&summary.input)));
                }
                self.model.set(Some(summary));
                self.busy.set(None);
                self.predict();
                self.evaluate();
            }
            Response::Labels(labels) => {
                self.model.update(|m| {
                    if let Some(m) = m
                        && m.labels.len() == labels.len()
                    {
                        m.labels = labels;
                    }
                });
                self.predict();
                self.evaluate();
            }
            Response::Prediction(result) => {
                if result.id == self.latest_request.get_untracked() {
                    self.busy.set(None);
                    self.shown.set(Some(Shown {
                        result,
                        rgba: bytes.unwrap_or_default(),
                    }));
                    // A new image: old maps no longer apply.
                    self.explain_batch.update(|b| *b += 1);
                    self.explanations.set(Vec::new());
                }
            }
            Response::Explanation(result) => {
                if explain_batch_of(result.id) == Some(self.explain_batch.get_untracked()) {
                    let mut values = bytes.unwrap_or_default();
                    let npy = values.split_off(result.values_len.min(values.len()));
                    let values = bytes_f32(&values);
                    self.explanations.update(|list| {
                        list.push(ShownExplanation {
                            result,
                            values,
                            npy,
                        });
                        list.sort_by_key(|e| e.result.id);
                    });
                    // The status line clears when the last map of the click is in.
                    if self.explanations.get_untracked().len()
                        == self.explain_expected.get_untracked()
                    {
                        self.busy.set(None);
                    }
                }
            }
            Response::DatasetLoaded(summary) => {
                self.busy.set(None);
                let first = summary.items.first().map(|i| i.path.clone());
                self.dataset.set(Some(summary));
                if self.image.get_untracked().is_none()
                    && let Some(first) = first
                {
                    self.open_dataset_image(first);
                }
                self.evaluate();
            }
            Response::Progress {
                id,
                task,
                done,
                total,
            } => {
                if self.is_wanted_job(id) {
                    self.progress.update(|p| {
                        // A new job (or a new phase of one) restarts the clock of the estimate.
                        let restart = p.as_ref().is_none_or(|p| p.id != id || p.task != task);
                        let started_ms = match p {
                            Some(p) if !restart => p.started_ms,
                            _ => js_sys::Date::now(),
                        };
                        let one_go = explain_batch_of(id).is_some() || self.is_dream(id);
                        *p = Some(JobProgress {
                            id,
                            task,
                            done,
                            total,
                            started_ms,
                            one_go,
                        });
                    });
                }
            }
            Response::Activations(result) => {
                if result.id == self.latest_feature_request.get_untracked() {
                    let maps = bytes_f32(&bytes.unwrap_or_default());
                    self.activations.set(Some((result, maps)));
                }
            }
            Response::MaxActivations(result) => {
                if result.id == self.latest_max.get_untracked() {
                    if self
                        .progress
                        .get_untracked()
                        .is_some_and(|p| p.id == result.id)
                    {
                        self.progress.set(None);
                    }
                    self.max_activations.set(Some(result));
                }
            }
            Response::Dream(result) => {
                if self.is_dream(result.id) {
                    if result.id == self.latest_dream.get_untracked()
                        && self.progress.get_untracked().is_some_and(|p| p.one_go)
                    {
                        self.progress.set(None);
                    }
                    self.dreams
                        .update(|d| d.push((result, bytes.unwrap_or_default())));
                }
            }
            Response::Tsne(result) => {
                if result.id == self.latest_tsne.get_untracked() {
                    if self
                        .progress
                        .get_untracked()
                        .is_some_and(|p| p.id == result.id)
                    {
                        self.progress.set(None);
                    }
                    self.tsne.set(Some(result));
                }
            }
            Response::Evaluated(result) => {
                if result.id == self.latest_evaluation.get_untracked() {
                    if self
                        .progress
                        .get_untracked()
                        .is_some_and(|p| p.id == result.id)
                    {
                        self.progress.set(None);
                    }
                    self.evaluation.set(Some(result));
                }
            }
            Response::Cancelled { id } => {
                if self.progress.get_untracked().is_some_and(|p| p.id == id) {
                    self.progress.set(None);
                }
            }
            Response::Images {
                id,
                paths,
                lens,
                purpose,
            } => self.on_images(id, paths, lens, purpose, bytes.unwrap_or_default()),
            Response::NeedsSize { name, message } => {
                self.busy.set(None);
                self.needs_size.set(Some((name, message)));
            }
            Response::Failed { during, message } => {
                self.busy.set(None);
                if during.starts_with("evaluating")
                    || during.starts_with("computing")
                    || during.starts_with("dreaming")
                    || during.contains("t-SNE")
                    || during.contains("activating")
                {
                    self.progress.set(None);
                }
                self.error
                    .set(Some(format!("Error while {during}: {message}")));
            }
        }
    }
}

/// `n` distinct elements of `items` at random (all of them, shuffled, if there are fewer).
pub fn random_pick<T: Clone>(items: &[T], n: usize) -> Vec<T> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    // A partial Fisher-Yates shuffle with the browser's random numbers.
    let len = order.len();
    for i in 0..n.min(len) {
        let j = i + (js_sys::Math::random() * (len - i) as f64) as usize;
        order.swap(i, j.min(len - 1));
    }
    order.truncate(n);
    order.into_iter().map(|i| items[i].clone()).collect()
}
