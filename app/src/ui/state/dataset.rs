//! The open dataset and the jobs over it: opening it and its images, thumbnails, the
//! evaluation, t-SNE, the most activating images, and cancelling.

use std::collections::HashMap;

use leptos::prelude::*;

use super::{JobProgress, Session, random_pick};
use crate::page_model::explain_batch_of;
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
    pub(super) fn next_job_id(self) -> u64 {
        self.latest_evaluation
            .get_untracked()
            .max(self.latest_tsne.get_untracked())
            .max(self.latest_max.get_untracked())
            .max(self.latest_dream.get_untracked())
            .max(self.latest_sanity.get_untracked())
            + 1
    }

    pub(super) fn is_wanted_job(self, id: u64) -> bool {
        id == self.latest_evaluation.get_untracked()
            || id == self.latest_tsne.get_untracked()
            || id == self.latest_max.get_untracked()
            || self.is_dream(id)
            || id == self.latest_sanity.get_untracked()
            || explain_batch_of(id) == Some(self.explain_batch.get_untracked())
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

    pub(super) fn on_images(
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

    pub(super) fn on_progress(self, id: u64, task: String, done: usize, total: usize) {
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

    pub(super) fn on_max_activations(self, result: MaxActivationsResult) {
        if result.id == self.latest_max.get_untracked() {
            self.job_ended(result.id);
            self.max_activations.set(Some(result));
        }
    }

    pub(super) fn on_tsne(self, result: TsneResult) {
        if result.id == self.latest_tsne.get_untracked() {
            self.job_ended(result.id);
            self.tsne.set(Some(result));
        }
    }

    pub(super) fn on_evaluated(self, result: EvaluationResult) {
        if result.id == self.latest_evaluation.get_untracked() {
            self.job_ended(result.id);
            self.evaluation.set(Some(result));
        }
    }

    pub(super) fn on_cancelled(self, id: u64) {
        self.job_ended(id);
    }

    /// Job `id` finished or stopped: its progress goes (another job's stays).
    pub(super) fn job_ended(self, id: u64) {
        if self.progress.get_untracked().is_some_and(|p| p.id == id) {
            self.progress.set(None);
        }
    }
}
