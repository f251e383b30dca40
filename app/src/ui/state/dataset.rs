//! The open dataset and the jobs over it: opening it and its images, thumbnails, the
//! evaluation, t-SNE, the most activating images, and cancelling.

use std::collections::HashMap;

use leptos::prelude::*;

use super::{JobProgress, Session, random_pick};
use crate::awaiting::{Answered, Purpose};
use crate::page_model::split_files;
use crate::protocol::{
    DatasetSummary, EvaluationResult, FileSizes, ImagePurpose, MaxActivationsResult, Request,
    TsneResult,
};
use crate::ui::client;

/// Thumbnails added to the page per task of its event loop.
const THUMBNAILS_PER_TASK: usize = 12;

impl Session {
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
        // Images read for an earlier dataset are not shown as this one's (paths may repeat).
        self.awaiting
            .update_value(|a| a.forget(Purpose::Thumbnails));
        client::send(Request::LoadDataset { name, files }, Some(bytes));
    }

    /// Makes the dataset image at `path` the current one.
    pub fn open_dataset_image(self, path: String) {
        self.ask(
            Purpose::Image,
            Request::ReadImages {
                id: 0,
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
            self.ask_also(
                Purpose::Thumbnails,
                Request::ReadImages {
                    id: 0,
                    paths: missing,
                    purpose: ImagePurpose::Gallery,
                },
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
        self.evaluation.set(None);
        // The worker replaces an evaluation under way with the new one.
        let id = self.ask(
            Purpose::Evaluation,
            Request::Evaluate {
                id: 0,
                preprocess,
                shard: None,
            },
            None,
        );
        self.progress.set(Some(JobProgress {
            id,
            task: "Evaluating the images".into(),
            done: 0,
            total: dataset.items.len(),
            started_ms: js_sys::Date::now(),
            one_go: false,
        }));
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
        self.max_activations.set(None);
        let id = self.ask(
            Purpose::MaxActivations,
            Request::MaxActivations {
                id: 0,
                layer,
                preprocess,
                k: 9,
            },
            None,
        );
        self.progress.set(Some(JobProgress {
            id,
            task: "Finding the most activating images".into(),
            done: 0,
            total: dataset.items.len(),
            started_ms: js_sys::Date::now(),
            one_go: false,
        }));
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
        self.error.set(None);
        let id = self.ask(
            Purpose::Tsne,
            Request::Tsne {
                id: 0,
                layer,
                preprocess,
                perplexity,
                seed,
                every,
                classes,
            },
            None,
        );
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
    }

    /// Stops the running job.
    pub fn cancel(self) {
        if self.progress.get_untracked().is_some_and(|p| p.one_go) {
            // An explanation or a dream runs in one go: only a new worker stops it.
            self.progress.set(None);
            self.busy.set(None);
            self.awaiting.update_value(|a| a.forget_one_go());
            // The new worker's `Started` resumes what the page still waits for.
            client::restart();
        } else {
            client::send(Request::Cancel, None);
        }
    }

    pub(super) fn on_images(
        self,
        answered: Answered,
        paths: Vec<String>,
        lens: Vec<usize>,
        bytes: Vec<u8>,
    ) {
        let files = split_files(paths, &lens, &bytes);
        match answered.purpose {
            // The browser reads each new `<img>` at once (about a millisecond): a few per task,
            // so a hundred thumbnails never hold up a click.
            Purpose::Thumbnails => {
                let round = self
                    .awaiting
                    .with_value(|a| a.round_number(Purpose::Thumbnails));
                wasm_bindgen_futures::spawn_local(async move {
                    for chunk in files.chunks(THUMBNAILS_PER_TASK) {
                        let current = self
                            .awaiting
                            .try_with_value(|a| a.round_number(Purpose::Thumbnails));
                        if current != Some(round) {
                            return;
                        }
                        self.thumbnails.update(|t| {
                            for (path, bytes) in chunk {
                                t.insert(path.clone(), crate::data_url::image_data_url(bytes));
                            }
                        });
                        crate::event_loop::next_task().await;
                    }
                })
            }
            _ => {
                if let Some((path, bytes)) = files.into_iter().next() {
                    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
                    self.open_image_from(name, bytes, Some(path));
                }
            }
        }
    }

    // The worker's answers.

    pub(super) fn on_dataset_loaded(self, summary: DatasetSummary) {
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

    pub(super) fn on_progress(
        self,
        id: u64,
        purpose: Purpose,
        task: String,
        done: usize,
        total: usize,
    ) {
        let now = js_sys::Date::now();
        self.progress.update(|p| {
            *p = Some(JobProgress::advanced(
                p.as_ref(),
                id,
                task,
                done,
                total,
                now,
                purpose.one_go(),
            ))
        });
    }

    pub(super) fn on_max_activations(self, result: MaxActivationsResult) {
        self.job_ended(result.id);
        self.max_activations.set(Some(result));
    }

    pub(super) fn on_tsne(self, result: TsneResult) {
        self.job_ended(result.id);
        self.tsne.set(Some(result));
    }

    pub(super) fn on_evaluated(self, result: EvaluationResult) {
        self.job_ended(result.id);
        self.evaluation.set(Some(result));
    }

    /// Job `id` finished or stopped: its progress goes (another job's stays).
    pub(super) fn job_ended(self, id: u64) {
        if self.progress.get_untracked().is_some_and(|p| p.id == id) {
            self.progress.set(None);
        }
    }
}
