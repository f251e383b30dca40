//! What a layer's channels respond to: the shown image's activations, the dataset images that
//! excite each channel most, and deep dreams.

use explain_core::features::DeepDream;
use leptos::prelude::*;

use super::{JobProgress, Session};
use crate::awaiting::{Answered, Purpose};
use crate::protocol::{ActivationsResult, DreamResult, MaxActivationsResult, Request, bytes_f32};

impl Session {
    /// Asks for the shown image's activations at `layer`.
    pub fn show_activations(self, layer: String) {
        if self.image.shown.get_untracked().is_none() {
            return;
        }
        self.ask(
            Purpose::Activations,
            Request::Activations { id: 0, layer },
            None,
        );
    }

    /// Dreams an input for each of `channels` of `layer` (the whole layer if empty), one after
    /// another.
    pub fn dream_of(self, layer: String, channels: Vec<usize>, settings: DeepDream) {
        let Some(preprocess) = self.model.preprocess.get_untracked() else {
            return;
        };
        let targets: Vec<Option<usize>> = if channels.is_empty() {
            vec![None]
        } else {
            channels.into_iter().map(Some).collect()
        };
        self.features.dreams.set(Vec::new());
        let requests = targets
            .into_iter()
            .map(|channel| Request::DeepDream {
                id: 0,
                layer: layer.clone(),
                channel,
                preprocess: preprocess.clone(),
                settings,
            })
            .collect();
        let first = self.ask_all(Purpose::Dreams, requests);
        self.status.progress.set(Some(JobProgress {
            id: first,
            task: "Deep dream".into(),
            done: 0,
            total: settings.iterations * settings.levels,
            started_ms: js_sys::Date::now(),
            one_go: true,
        }));
    }

    /// Finds the dataset images that excite each channel of `layer` most (a background job).
    pub fn find_max_activations(self, layer: String) {
        let Some((preprocess, dataset)) = self.job_inputs() else {
            return;
        };
        self.features.max_activations.set(None);
        self.start_job(
            Purpose::MaxActivations,
            Request::MaxActivations {
                id: 0,
                layer,
                preprocess,
                k: 9,
            },
            "Finding the most activating images",
            dataset.items.len(),
        );
    }

    // The worker's answers (only those still awaited reach here: `mod.rs`).

    pub(super) fn on_activations(self, result: ActivationsResult, bytes: Option<Vec<u8>>) {
        let maps = bytes_f32(&bytes.unwrap_or_default());
        self.features.activations.set(Some((result, maps)));
    }

    pub(super) fn on_dream(self, answered: Answered, result: DreamResult, bytes: Option<Vec<u8>>) {
        if answered.round_complete
            && self
                .status
                .progress
                .get_untracked()
                .is_some_and(|p| p.one_go)
        {
            self.status.progress.set(None);
        }
        self.features
            .dreams
            .update(|d| d.push((result, bytes.unwrap_or_default())));
    }

    pub(super) fn on_max_activations(self, result: MaxActivationsResult) {
        self.job_ended(result.id);
        self.features.max_activations.set(Some(result));
    }
}
