//! The open dataset and the jobs over it: opening it and its images, thumbnails, the
//! evaluation, t-SNE, the most activating images, and cancelling.

use std::collections::HashMap;

use leptos::prelude::*;

use super::{Session, random_pick};
use crate::awaiting::{Answered, Purpose};
use crate::class_maps::{ShownClassMaps, ShownImageMap};
use crate::page_model::split_files;
use crate::protocol::{
    ClassMapsResult, DatasetSummary, EvaluationResult, ExplainMethod, FileSizes, ImageMapResult,
    ImagePurpose, NearDuplicatesResult, Request,
};
use crate::ui::client;

/// Thumbnails added to the page per task of its event loop.
const THUMBNAILS_PER_TASK: usize = 12;

impl Session {
    /// Opens a set of labelled images: a zip of class folders (`files: None`), or a picked
    /// folder's files, their bytes one after another.
    pub fn open_dataset(self, name: String, files: Option<FileSizes>, bytes: Vec<u8>) {
        self.status.error.set(None);
        self.status.busy.set(Some(format!("Opening {name}…")));
        self.dataset.summary.set(None);
        self.dataset.near_duplicates.set(None);
        self.dataset.class_maps.set(None);
        self.model.preprocessing_check.set(None);
        self.dataset.evaluation.set(None);
        self.embedding.tsne.set(None);
        self.features.max_activations.set(None);
        self.dataset.selection.set(None);
        self.dataset.thumbnails.update(HashMap::clear);
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
        let Some(paths) = self.dataset.summary.with(|d| {
            d.as_ref().map(|d| {
                d.items
                    .iter()
                    .filter(|i| class.is_none_or(|c| i.label == c))
                    .map(|i| i.path.clone())
                    .collect::<Vec<_>>()
            })
        }) else {
            self.status
                .error
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
            self.dataset
                .thumbnails
                .with(|t| t.get(&path).cloned().unwrap_or_default())
        }
    }

    /// Asks for the images of `paths` not yet in [`Session::thumbnails`].
    pub fn want_thumbnails(self, paths: Vec<String>) {
        let missing: Vec<String> = self.dataset.thumbnails.with_untracked(|have| {
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
            self.model.summary.get_untracked(),
            self.model.preprocess.get_untracked(),
            self.dataset.summary.get_untracked(),
        ) else {
            return;
        };
        self.dataset.evaluation.set(None);
        // Found with another model or preprocessing.
        self.dataset.near_duplicates.set(None);
        self.dataset.class_maps.set(None);
        // The worker replaces an evaluation under way with the new one.
        self.start_job(
            Purpose::Evaluation,
            Request::Evaluate {
                id: 0,
                preprocess,
                shard: None,
            },
            "Evaluating the images",
            dataset.items.len(),
        );
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
                        self.dataset.thumbnails.update(|t| {
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
        self.status.busy.set(None);
        let first = summary.items.first().map(|i| i.path.clone());
        self.dataset.summary.set(Some(summary));
        if self.image.file.get_untracked().is_none()
            && let Some(first) = first
        {
            self.open_dataset_image(first);
        }
        self.evaluate();
        self.evaluate_second();
        self.check_preprocessing();
    }

    /// Looks for pairs of images whose penultimate features have a cosine similarity of at
    /// least `similarity` (a background job with progress).
    pub fn find_near_duplicates(self, similarity: f32) {
        let Some((preprocess, dataset)) = self.job_inputs() else {
            return;
        };
        self.dataset.near_duplicates.set(None);
        self.status.error.set(None);
        self.start_job(
            Purpose::NearDuplicates,
            Request::FindNearDuplicates {
                id: 0,
                preprocess,
                similarity,
            },
            "Comparing the images",
            dataset.items.len(),
        );
    }

    /// Explains the images of the Accuracy view's selection with `method` (at most
    /// `class_maps::MAX_EXPLAINED`, in the order shown), a background job with progress.
    pub fn explain_selection(self, method: ExplainMethod, layer: Option<String>) {
        let Some((preprocess, _)) = self.job_inputs() else {
            return;
        };
        let (Some(selection), Some(evaluation)) = (
            self.dataset.selection.get_untracked(),
            self.dataset.evaluation.get_untracked(),
        ) else {
            return;
        };
        let images = selection.images_to_explain(&evaluation.evaluation);
        if images.is_empty() {
            return;
        }
        let title = selection.describe(&evaluation.evaluation.classes);
        let asked = images.len();
        self.status.error.set(None);
        let id = self.start_job(
            Purpose::ClassMaps,
            Request::ExplainImages {
                id: 0,
                preprocess,
                method,
                layer,
                images,
            },
            &format!("Explaining the images with {}", method.label()),
            asked,
        );
        self.dataset
            .class_maps
            .set(Some(ShownClassMaps::new(id, method, title, asked)));
    }

    pub(super) fn on_image_map(self, result: ImageMapResult, bytes: Vec<u8>) {
        let (id, done, total) = (result.id, result.done, result.total);
        let task = self
            .status
            .progress
            .with_untracked(|p| p.as_ref().map(|p| p.task.clone()))
            .unwrap_or_default();
        self.on_progress(id, Purpose::ClassMaps, task, done, total);
        if let Some(map) = ShownImageMap::from_answer(result, &bytes) {
            self.dataset.class_maps.update(|c| {
                if let Some(c) = c {
                    c.add(map)
                }
            });
        }
    }

    pub(super) fn on_class_maps(self, result: ClassMapsResult, bytes: Vec<u8>) {
        self.job_ended(result.id);
        self.dataset.class_maps.update(|c| {
            if let Some(c) = c {
                c.finish(result, bytes)
            }
        });
    }

    pub(super) fn on_near_duplicates(self, result: NearDuplicatesResult) {
        self.job_ended(result.id);
        self.dataset.near_duplicates.set(Some(result));
    }

    pub(super) fn on_evaluated(self, result: EvaluationResult) {
        self.job_ended(result.id);
        self.dataset.evaluation.set(Some(result));
    }
}
