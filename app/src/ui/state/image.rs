//! The current image: opening and classifying it, and its explanations, activations and dreams.

use explain_core::features::DeepDream;
use leptos::prelude::*;

use super::{ImageFile, JobProgress, Session, Shown, ShownExplanation};
use crate::page_model::{explain_batch_of, explain_id};
use crate::protocol::{
    ActivationsResult, DreamResult, ExplainMethod, ExplainPart, ExplanationResult,
    PredictionResult, Request, SanityResult, bytes_f32,
};
use crate::ui::client;

impl Session {
    pub fn open_image(self, name: String, bytes: Vec<u8>) {
        self.open_image_from(name, bytes, None);
    }

    pub(super) fn open_image_from(
        self,
        name: String,
        bytes: Vec<u8>,
        dataset_path: Option<String>,
    ) {
        self.error.set(None);
        self.image.set(Some(ImageFile {
            name,
            bytes,
            dataset_path,
        }));
        self.predict();
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

    /// Checks whether `method`'s map of the shown image depends on the model: the worker
    /// scrambles the weights from the top layer down in at most `max_steps` steps (a
    /// background job with progress, cancellable) and compares each map with the original.
    pub fn check_sanity(
        self,
        method: ExplainMethod,
        layer: Option<String>,
        target: Option<usize>,
        probability: bool,
        max_steps: usize,
    ) {
        if self.shown.get_untracked().is_none() {
            self.error.set(Some(
                "Open a model and an image first, then check a map.".into(),
            ));
            return;
        }
        let id = self.next_job_id();
        self.latest_sanity.set(id);
        self.sanity.set(None);
        self.error.set(None);
        client::send(
            Request::SanityCheck {
                id,
                method,
                target,
                layer: method.uses_layer().then_some(layer).flatten(),
                probability,
                max_steps,
                seed: 0,
            },
            None,
        );
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

    pub(super) fn is_dream(self, id: u64) -> bool {
        (self.first_dream.get_untracked()..=self.latest_dream.get_untracked()).contains(&id)
    }

    // The worker's answers.

    pub(super) fn on_prediction(self, result: PredictionResult, bytes: Option<Vec<u8>>) {
        if result.id == self.latest_request.get_untracked() {
            self.busy.set(None);
            self.shown.set(Some(Shown {
                result,
                rgba: bytes.unwrap_or_default(),
            }));
            // A new image: old maps no longer apply.
            self.explain_batch.update(|b| *b += 1);
            self.explanations.set(Vec::new());
            self.sanity.set(None);
        }
    }

    pub(super) fn on_explanation(self, result: ExplanationResult, bytes: Option<Vec<u8>>) {
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
            if self.explanations.get_untracked().len() == self.explain_expected.get_untracked() {
                self.busy.set(None);
            }
        }
    }

    pub(super) fn on_sanity(self, result: SanityResult, bytes: Option<Vec<u8>>) {
        if result.id == self.latest_sanity.get_untracked() {
            self.job_ended(result.id);
            let planes = bytes_f32(&bytes.unwrap_or_default());
            self.sanity.set(Some((result, planes)));
        }
    }

    pub(super) fn on_activations(self, result: ActivationsResult, bytes: Option<Vec<u8>>) {
        if result.id == self.latest_feature_request.get_untracked() {
            let maps = bytes_f32(&bytes.unwrap_or_default());
            self.activations.set(Some((result, maps)));
        }
    }

    pub(super) fn on_dream(self, result: DreamResult, bytes: Option<Vec<u8>>) {
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
}
