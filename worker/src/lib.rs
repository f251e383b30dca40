//! The compute worker: an [`Engine`] owns the chosen device, the loaded model, its labels, the
//! current image and the opened dataset, and answers the page's [`Request`]s one at a time with
//! [`Response`]s. Every failure becomes one `Failed` message, and the state stays usable (a bad
//! model does not unload the good one).
//!
//! The engine's parts, one file each: `session` (backend, model, labels), `image` (prediction,
//! activations and deep dream of one image), `explain` (explanation maps, whole or in shares),
//! `dataset` (opening a dataset; evaluation, t-SNE and max-activation jobs, stepped by `jobs`),
//! `preprocessing` (the preprocessing checker's job), `label_issues` (the near-duplicate
//! search's job), `sanity` (the sanity check's job),
//! `platform` (what differs between the browser and native tests); `message_loop` is the
//! worker's entry point in the browser.

mod class_maps;
mod dataset;
mod explain;
mod image;
pub mod jobs;
mod label_issues;
#[cfg(target_arch = "wasm32")]
mod message_loop;
mod platform;
mod preprocessing;
mod sanity;
mod session;
#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
pub use message_loop::start;

use std::collections::VecDeque;

use explain_core::data::ImageSource;
use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device};

use explain::ExplainSettings;
use jobs::Job;
use unpic_app::protocol::{Backend, Request, Response, Task};

/// The last predicted image, kept for explanations.
struct CurrentImage {
    input: FloatValue,
    top: usize,
    /// The model's raw outputs, for the runner-up class.
    scores: Vec<f32>,
}

/// The second model of a comparison (the page's Compare view): its file, its classifier, its
/// current image and its jobs. [`Engine::swap_models`] trades it with the first model's for the
/// length of one request or one job step, so every request runs on either model with the
/// same code; the backend, the labels and the images are shared.
#[derive(Default)]
struct SecondModel {
    model: Option<(String, Vec<u8>, Option<[usize; 2]>)>,
    classifier: Option<Classifier>,
    labels_applied: bool,
    current: Option<CurrentImage>,
    jobs: VecDeque<Job>,
}

/// A response and the bytes that travel with it.
pub type Reply = (Response, Option<Vec<u8>>);

pub struct Engine {
    backend: Backend,
    device: Device,
    /// The WebGPU device once initialised (Burn's runtime can be initialised only once).
    webgpu: Option<Device>,
    model: Option<(String, Vec<u8>, Option<[usize; 2]>)>,
    classifier: Option<Classifier>,
    labels_text: Option<String>,
    /// Whether the labels text names this model's classes (then folders are matched by name).
    labels_applied: bool,
    current: Option<CurrentImage>,
    dataset: Option<Box<dyn ImageSource>>,
    /// Dataset jobs (evaluation, t-SNE), advanced a step at a time between requests.
    jobs: VecDeque<Job>,
    /// The second model of a comparison, on the same images.
    second: SecondModel,
    /// Sends progress while a request runs in one go (an explanation, a dream).
    notify: Box<dyn Fn(Reply)>,
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
            labels_applied: false,
            current: None,
            dataset: None,
            jobs: VecDeque::new(),
            second: SecondModel::default(),
            notify: Box::new(|_| {}),
        }
    }
}

fn failed(task: Task, during: &str, message: impl ToString) -> Reply {
    (
        Response::Failed {
            task,
            during: during.to_string(),
            message: message.to_string(),
        },
        None,
    )
}

impl Engine {
    /// Where progress of one-go requests goes (the worker posts it to the page at once).
    pub fn set_notify(&mut self, notify: Box<dyn Fn(Reply)>) {
        self.notify = notify;
    }

    /// Trades the first model (and its image and jobs) with the second.
    fn swap_models(&mut self) {
        let second = &mut self.second;
        std::mem::swap(&mut self.model, &mut second.model);
        std::mem::swap(&mut self.classifier, &mut second.classifier);
        std::mem::swap(&mut self.labels_applied, &mut second.labels_applied);
        std::mem::swap(&mut self.current, &mut second.current);
        std::mem::swap(&mut self.jobs, &mut second.jobs);
    }

    /// `request` for the second model: the model's own requests (open it, classify, explain,
    /// evaluate, explain many images); the shared state (backend, labels, images) is the
    /// first model's to set.
    async fn handle_second(&mut self, request: Request, bytes: Option<Vec<u8>>) -> Vec<Reply> {
        let Some(task) = request.task() else {
            return vec![];
        };
        let own = matches!(
            request,
            Request::LoadModel { .. }
                | Request::Predict { .. }
                | Request::Explain { .. }
                | Request::Evaluate { shard: None, .. }
                | Request::ExplainImages { .. }
        );
        if !own {
            return vec![failed(
                task,
                &request.describe(),
                "only opening, classifying, evaluating and explaining go to the second model",
            )];
        }
        if self.second.classifier.is_none() && !matches!(request, Request::LoadModel { .. }) {
            return vec![failed(
                task,
                &request.describe(),
                "open a second model first",
            )];
        }
        self.swap_models();
        let replies = Box::pin(self.handle(request, bytes)).await;
        self.swap_models();
        replies
    }

    pub async fn handle(&mut self, request: Request, bytes: Option<Vec<u8>>) -> Vec<Reply> {
        match request {
            Request::Second(request) => self.handle_second(*request, bytes).await,
            Request::SetBackend(choice) => self.set_backend(choice).await,
            Request::LoadModel { name, size } => match bytes {
                Some(bytes) => vec![self.load_model(name, bytes, size)],
                None => vec![failed(
                    Task::Model,
                    "opening the model",
                    "no file data arrived",
                )],
            },
            Request::SetLabels { text } => vec![self.set_labels(text)],
            Request::Predict {
                id,
                name,
                preprocess,
            } => match bytes {
                Some(bytes) => vec![self.predict(id, name, &bytes, preprocess).await],
                None => vec![failed(
                    Task::Prediction,
                    "reading the image",
                    "no file data arrived",
                )],
            },
            Request::Explain {
                id,
                method,
                target,
                layer,
                probability,
                sum_channels,
                part,
            } => {
                let score = if probability {
                    explain_core::Score::Probability
                } else {
                    explain_core::Score::Logit
                };
                let settings = ExplainSettings {
                    method,
                    target,
                    layer,
                    score,
                    sum_channels,
                };
                vec![self.explain(id, settings, part, bytes).await]
            }
            Request::LoadDataset { name, files } => match bytes {
                Some(bytes) => vec![self.load_dataset(name, files, bytes)],
                None => vec![failed(
                    Task::Dataset,
                    "opening the images",
                    "no file data arrived",
                )],
            },
            Request::Evaluate {
                id,
                preprocess,
                shard,
            } => vec![self.start_evaluation(id, preprocess, shard)],
            Request::ReadImages { id, paths, purpose } => {
                vec![self.read_images(id, paths, purpose)]
            }
            Request::CheckPreprocessing { id, sample } => {
                vec![self.start_preprocessing_check(id, sample)]
            }
            Request::FindNearDuplicates {
                id,
                preprocess,
                similarity,
            } => vec![self.start_near_duplicates(id, preprocess, similarity)],
            Request::ExplainImages {
                id,
                preprocess,
                method,
                layer,
                images,
            } => vec![self.start_class_maps(id, preprocess, method, layer, images)],
            Request::Cancel => self.cancel(),
            Request::SanityCheck {
                id,
                method,
                target,
                layer,
                probability,
                max_steps,
                seed,
            } => {
                let request = sanity::SanityRequest {
                    method,
                    target,
                    layer,
                    score: if probability {
                        explain_core::Score::Probability
                    } else {
                        explain_core::Score::Logit
                    },
                    max_steps,
                    seed,
                };
                vec![self.start_sanity_check(id, request, platform::now_ms())]
            }
            Request::Activations { id, layer } => vec![self.activations(id, layer).await],
            Request::MaxActivations {
                id,
                layer,
                preprocess,
                k,
            } => vec![self.start_max_activations(id, layer, preprocess, k)],
            Request::DeepDream {
                id,
                layer,
                channel,
                preprocess,
                settings,
            } => vec![self.dream(id, layer, channel, preprocess, settings).await],
            Request::Tsne {
                id,
                preprocess,
                map,
            } => vec![self.start_tsne(id, preprocess, map)],
        }
    }
}

fn progress(id: u64, task: &str, done: usize, total: usize) -> Reply {
    (
        Response::Progress {
            id,
            task: task.to_string(),
            done,
            total,
        },
        None,
    )
}
