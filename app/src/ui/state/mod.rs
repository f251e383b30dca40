//! The page's shared state (one `Session` in context) and the actions that change it. Views read
//! signals and call actions; only actions talk to the worker. The actions and the handling of
//! the worker's answers live by what they are about: `model` (backend, model, labels,
//! preprocessing), `image` (the current image, its explanations, activations and dreams) and
//! `dataset` (the dataset, its galleries and the jobs over it); this file routes each answer.

mod dataset;
mod image;
mod model;

use std::collections::HashMap;

use explain_core::data::Preprocess;
use leptos::prelude::*;

use super::client;
use crate::presets::Preset;
use crate::protocol::{
    ActivationsResult, Backend, BackendChoice, DatasetSummary, DreamResult, EvaluationResult,
    MaxActivationsResult, ModelSummary, Request, Response, SanityResult, TsneResult,
};

pub use crate::page_model::{ImageFile, JobProgress, Selection, Shown, ShownExplanation, View};

/// The page's state: what the views show, as signals, and the ids of the answers still awaited
/// (an answer to an earlier click is dropped).
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
    /// The last sanity check of a map and its maps (the original's first, values in [0, 1]).
    pub sanity: RwSignal<Option<(SanityResult, Vec<f32>)>>,
    latest_sanity: RwSignal<u64>,
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
        sanity: RwSignal::new(None),
        latest_sanity: RwSignal::new(0),
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

    fn on_response(self, response: Response, bytes: Option<Vec<u8>>) {
        match response {
            // A worker that replaces one after a Cancel has the model and images back, but not
            // the jobs queued on the old one: ask again for the evaluation.
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
            } => self.on_backend(active, webgpu_available, note),
            Response::ModelLoaded(summary) => self.on_model_loaded(summary),
            Response::Labels(labels) => self.on_labels(labels),
            Response::NeedsSize { name, message } => self.on_needs_size(name, message),
            Response::Prediction(result) => self.on_prediction(result, bytes),
            Response::Explanation(result) => self.on_explanation(result, bytes),
            Response::Activations(result) => self.on_activations(result, bytes),
            Response::Dream(result) => self.on_dream(result, bytes),
            Response::Sanity(result) => self.on_sanity(result, bytes),
            Response::DatasetLoaded(summary) => self.on_dataset_loaded(summary),
            Response::Images {
                id,
                paths,
                lens,
                purpose,
            } => self.on_images(id, paths, lens, purpose, bytes.unwrap_or_default()),
            Response::Progress {
                id,
                task,
                done,
                total,
            } => self.on_progress(id, task, done, total),
            Response::Evaluated(result) => self.on_evaluated(result),
            Response::Tsne(result) => self.on_tsne(result),
            Response::MaxActivations(result) => self.on_max_activations(result),
            Response::Cancelled { id } => self.on_cancelled(id),
            Response::Failed {
                task,
                during,
                message,
            } => {
                self.busy.set(None);
                if task.shows_progress() {
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
