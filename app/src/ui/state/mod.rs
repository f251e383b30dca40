//! The page's shared state (one `Session` in context) and the actions that change it. Views read
//! signals and call actions; only actions talk to the worker. The state is cut by domain, each
//! a struct of signals with its actions and answer handlers in its own file: `model` (backend,
//! model, labels, preprocessing), `image` (the current image, its explanations and sanity
//! checks), `dataset` (the dataset, its evaluation and galleries), `features` (activations,
//! most activating images, deep dreams), `embedding` (the t-SNE map) and `status` (the job's
//! progress, cancelling). This file routes each answer, once `awaiting.rs` says it is wanted;
//! the handlers apply it with `page_model.rs`'s pure functions.

mod compare;
mod dataset;
mod embedding;
mod features;
mod image;
mod model;
mod status;

use std::collections::HashMap;

use explain_core::data::Preprocess;
use explain_core::render::report::PinnedMap;
use leptos::prelude::*;

use super::client;
use crate::awaiting::{Answered, Awaiting, Purpose};
use crate::class_maps::ShownClassMaps;
use crate::presets::Preset;
use crate::protocol::{
    ActivationsResult, Backend, BackendChoice, DatasetSummary, DreamResult, EvaluationResult,
    MaxActivationsResult, ModelSummary, NearDuplicatesResult, PreprocessingCheckResult, Request,
    Response, SanityResult, TsneResult,
};

pub use crate::page_model::{ImageFile, JobProgress, Selection, Shown, ShownExplanation, View};

/// The page's state, one struct per domain, each holding what its views show as signals; the
/// actions and answer handlers of a domain live in its file. `awaiting` holds the requests
/// whose answers are still wanted (`awaiting.rs`: an answer to an earlier click is dropped there).
#[derive(Clone, Copy)]
pub struct Session {
    pub model: ModelState,
    pub image: ImageState,
    pub dataset: DatasetState,
    pub features: FeaturesState,
    pub embedding: EmbeddingState,
    pub compare: CompareState,
    pub status: StatusState,
    awaiting: StoredValue<Awaiting>,
}

/// The backend, the model, and how images are prepared for it (`model.rs`).
#[derive(Clone, Copy)]
pub struct ModelState {
    pub choice: RwSignal<BackendChoice>,
    pub backend: RwSignal<Option<Backend>>,
    pub webgpu_available: RwSignal<bool>,
    pub backend_note: RwSignal<Option<String>>,
    pub summary: RwSignal<Option<ModelSummary>>,
    pub preset: RwSignal<Preset>,
    pub preprocess: RwSignal<Option<Preprocess>>,
    /// A model that takes any image size waits for the user's size: (file name, why).
    pub needs_size: RwSignal<Option<(String, String)>>,
    /// Every common preprocessing's accuracy on a sample of the open dataset.
    pub preprocessing_check: RwSignal<Option<PreprocessingCheckResult>>,
}

/// The current image, its prediction and its explanations (`image.rs`).
#[derive(Clone, Copy)]
pub struct ImageState {
    pub file: RwSignal<Option<ImageFile>>,
    pub shown: RwSignal<Option<Shown>>,
    /// The explanations of the shown image, in the order they were asked for.
    pub explanations: RwSignal<Vec<ShownExplanation>>,
    /// The last sanity check of a map and its maps (the original's first, values in [0, 1]).
    pub sanity: RwSignal<Option<(SanityResult, Vec<f32>)>>,
    /// The maps the user pinned for the report (kept across images).
    pub pinned: RwSignal<Vec<PinnedMap>>,
}

/// The open dataset, its evaluation and its galleries (`dataset.rs`).
#[derive(Clone, Copy)]
pub struct DatasetState {
    pub summary: RwSignal<Option<DatasetSummary>>,
    /// The predictions over the dataset with the current model and preprocessing.
    pub evaluation: RwSignal<Option<EvaluationResult>>,
    /// Dataset path -> `data:` URL of the image, filled as galleries ask for them.
    pub thumbnails: RwSignal<HashMap<String, String>>,
    /// The images the Accuracy view's gallery shows.
    pub selection: RwSignal<Option<Selection>>,
    /// Pairs of near-duplicate images, once looked for.
    pub near_duplicates: RwSignal<Option<NearDuplicatesResult>>,
    /// The maps of the last "explain these images" click, as they arrive.
    pub class_maps: RwSignal<Option<ShownClassMaps>>,
}

/// What a layer's channels respond to (`features.rs`).
#[derive(Clone, Copy)]
pub struct FeaturesState {
    /// The shown image's activations at the Features view's layer, and their maps.
    pub activations: RwSignal<Option<(ActivationsResult, Vec<f32>)>>,
    /// The top dataset images of every channel of a layer.
    pub max_activations: RwSignal<Option<MaxActivationsResult>>,
    /// The deep dreams of the last click (one per channel) and their RGBA pixels.
    pub dreams: RwSignal<Vec<(DreamResult, Vec<u8>)>>,
}

/// The map of the dataset's embedding (`embedding.rs`).
#[derive(Clone, Copy)]
pub struct EmbeddingState {
    /// The last t-SNE map.
    pub tsne: RwSignal<Option<TsneResult>>,
}

/// A second model on the same images, for the Compare view (`compare.rs`).
#[derive(Clone, Copy)]
pub struct CompareState {
    pub summary: RwSignal<Option<ModelSummary>>,
    /// Its own preprocessing preset (at its own input size).
    pub preset: RwSignal<Preset>,
    pub evaluation: RwSignal<Option<EvaluationResult>>,
    /// Its prediction of the current image, with the pixels it saw.
    pub shown: RwSignal<Option<Shown>>,
    /// Its maps of the current image, beside the first model's.
    pub explanations: RwSignal<Vec<ShownExplanation>>,
    /// Its file, to open it again at the first model's size if it takes any size.
    file: StoredValue<Option<(String, Vec<u8>)>>,
}

/// What the engine is doing, what went wrong, and which view shows (`status.rs`).
#[derive(Clone, Copy)]
pub struct StatusState {
    /// What the engine is doing now, for the status line.
    pub busy: RwSignal<Option<String>>,
    pub error: RwSignal<Option<String>>,
    /// The running job's progress.
    pub progress: RwSignal<Option<JobProgress>>,
    pub view: RwSignal<View>,
}

pub fn provide_session(choice: BackendChoice) -> Session {
    let session = Session {
        model: ModelState {
            choice: RwSignal::new(choice),
            backend: RwSignal::new(None),
            webgpu_available: RwSignal::new(false),
            backend_note: RwSignal::new(None),
            summary: RwSignal::new(None),
            preset: RwSignal::new(Preset::Unit),
            preprocess: RwSignal::new(None),
            needs_size: RwSignal::new(None),
            preprocessing_check: RwSignal::new(None),
        },
        image: ImageState {
            file: RwSignal::new(None),
            shown: RwSignal::new(None),
            explanations: RwSignal::new(Vec::new()),
            sanity: RwSignal::new(None),
            pinned: RwSignal::new(Vec::new()),
        },
        dataset: DatasetState {
            summary: RwSignal::new(None),
            evaluation: RwSignal::new(None),
            thumbnails: RwSignal::new(HashMap::new()),
            selection: RwSignal::new(None),
            near_duplicates: RwSignal::new(None),
            class_maps: RwSignal::new(None),
        },
        features: FeaturesState {
            activations: RwSignal::new(None),
            max_activations: RwSignal::new(None),
            dreams: RwSignal::new(Vec::new()),
        },
        embedding: EmbeddingState {
            tsne: RwSignal::new(None),
        },
        compare: CompareState {
            summary: RwSignal::new(None),
            preset: RwSignal::new(Preset::Unit),
            evaluation: RwSignal::new(None),
            shown: RwSignal::new(None),
            explanations: RwSignal::new(Vec::new()),
            file: StoredValue::new(None),
        },
        status: StatusState {
            busy: RwSignal::new(None),
            error: RwSignal::new(None),
            progress: RwSignal::new(None),
            view: RwSignal::new(View::Accuracy),
        },
        awaiting: StoredValue::new(Awaiting::default()),
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
        let result =
            client::start(move |id, response, bytes| self.on_response(id, response, bytes));
        if let Err(e) = result {
            self.status.error.set(Some(e));
            return;
        }
        self.status.busy.set(Some("Starting the engine…".into()));
        client::send(Request::SetBackend(self.model.choice.get_untracked()), None);
    }

    /// Sends `request` for `purpose`, superseding the purpose's earlier requests; returns the
    /// id its answers will carry.
    fn ask(self, purpose: Purpose, request: Request, bytes: Option<Vec<u8>>) -> u64 {
        let id = client::send(request, bytes);
        self.awaiting.update_value(|a| a.replace(purpose, &[id]));
        id
    }

    /// Sends `requests` as one round of `purpose` (a click that wants several answers); returns
    /// the first id.
    fn ask_all(self, purpose: Purpose, requests: Vec<Request>) -> u64 {
        let ids: Vec<u64> = requests
            .into_iter()
            .map(|request| client::send(request, None))
            .collect();
        self.awaiting.update_value(|a| a.replace(purpose, &ids));
        ids.first().copied().unwrap_or(0)
    }

    /// Sends `request` for `purpose` beside the requests already awaited for it.
    fn ask_also(self, purpose: Purpose, request: Request) {
        let id = client::send(request, None);
        self.awaiting.update_value(|a| a.add(purpose, id));
    }

    /// Notes the final answer to request `id`: `None` if it answers a superseded click.
    fn answered(self, id: u64) -> Option<Answered> {
        self.awaiting.try_update_value(|a| a.answered(id)).flatten()
    }

    /// What request `id` is for, while it is still wanted.
    fn purpose_of(self, id: u64) -> Option<Purpose> {
        self.awaiting.with_value(|a| a.purpose_of(id))
    }

    /// Routes the worker's answer to request `id` (0: none) to its domain. Answers to a
    /// superseded request are dropped here, in one place.
    fn on_response(self, id: u64, response: Response, bytes: Option<Vec<u8>>) {
        match response {
            // A worker that replaces one after a Cancel has the model and images back, but not
            // the jobs queued on the old one: ask again for the evaluation.
            Response::Started => {
                if self.dataset.evaluation.with_untracked(Option::is_none) {
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
            Response::ModelLoaded(summary) => {
                if self.purpose_of(id) == Some(Purpose::SecondModel) {
                    self.answered(id);
                    self.on_second_model(summary)
                } else {
                    self.on_model_loaded(summary)
                }
            }
            Response::Labels(labels) => self.on_labels(labels),
            Response::NeedsSize { name, message } => {
                if self.purpose_of(id) == Some(Purpose::SecondModel) {
                    self.on_second_needs_size(message)
                } else {
                    self.on_needs_size(name, message)
                }
            }
            Response::DatasetLoaded(summary) => self.on_dataset_loaded(summary),
            Response::Progress {
                id,
                task,
                done,
                total,
            } => {
                if let Some(purpose) = self.purpose_of(id).filter(|p| p.shows_progress()) {
                    self.on_progress(id, purpose, task, done, total)
                }
            }
            // One map of many: the job goes on.
            Response::ImageMap(result) => {
                if self.purpose_of(result.id) == Some(Purpose::ClassMaps) {
                    self.on_image_map(result, bytes.unwrap_or_default())
                }
            }
            Response::Failed {
                task,
                during,
                message,
            } => {
                let ended = self.answered(id).map(|a| a.purpose);
                if !ended.is_none_or(Purpose::reports_failure) {
                    web_sys::console::warn_1(&format!("{during}: {message}").into());
                    return;
                }
                self.status.busy.set(None);
                if ended.is_some_and(Purpose::shows_progress) || task.shows_progress() {
                    self.status.progress.set(None);
                }
                self.status
                    .error
                    .set(Some(format!("Error while {during}: {message}")));
            }
            response => {
                let Some(answered) = self.answered(id) else {
                    return;
                };
                let second = matches!(
                    answered.purpose,
                    Purpose::SecondImage | Purpose::SecondEvaluation | Purpose::SecondExplanations
                );
                match response {
                    Response::Prediction(result) if second => {
                        self.on_second_prediction(result, bytes)
                    }
                    Response::Explanation(result) if second => {
                        self.on_second_explanation(answered, result, bytes)
                    }
                    Response::Evaluated(result) if second => self.on_second_evaluated(result),
                    Response::Prediction(result) => self.on_prediction(result, bytes),
                    Response::Explanation(result) => self.on_explanation(answered, result, bytes),
                    Response::Activations(result) => self.on_activations(result, bytes),
                    Response::Dream(result) => self.on_dream(answered, result, bytes),
                    Response::Sanity(result) => self.on_sanity(result, bytes),
                    Response::Images { paths, lens, .. } => {
                        self.on_images(answered, paths, lens, bytes.unwrap_or_default())
                    }
                    Response::Evaluated(result) => self.on_evaluated(result),
                    Response::Tsne(result) => self.on_tsne(result),
                    Response::MaxActivations(result) => self.on_max_activations(result),
                    Response::NearDuplicates(result) => self.on_near_duplicates(result),
                    Response::ClassMaps(result) => {
                        self.on_class_maps(result, bytes.unwrap_or_default())
                    }
                    Response::PreprocessingChecked(result) => {
                        self.model.preprocessing_check.set(Some(result))
                    }
                    Response::Cancelled { id } => self.job_ended(id),
                    _ => {}
                }
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
