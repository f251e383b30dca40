//! The backend, the model, its labels and its preprocessing: the actions that change them and
//! the worker's answers to them.

use explain_core::data::Preprocess;
use leptos::prelude::*;

use super::Session;
use crate::awaiting::Purpose;
use crate::presets::Preset;
use crate::protocol::{Backend, BackendChoice, ModelSummary, Request};
use crate::ui::client;

/// Images the preprocessing checker scores, spread over the dataset.
const PREPROCESSING_SAMPLE: usize = 200;

impl Session {
    pub fn set_backend(self, choice: BackendChoice) {
        self.model.choice.set(choice);
        self.status.busy.set(Some("Switching backend…".into()));
        client::send(Request::SetBackend(choice), None);
    }

    pub fn open_model(self, name: String, bytes: Vec<u8>) {
        self.status.error.set(None);
        self.status.busy.set(Some(format!("Opening {name}…")));
        self.model.needs_size.set(None);
        client::send(Request::LoadModel { name, size: None }, Some(bytes));
    }

    /// Opens the model that asked for a size again, at `size` (height, width).
    pub fn open_model_at(self, size: [usize; 2]) {
        let Some((name, _)) = self.model.needs_size.get_untracked() else {
            return;
        };
        let Some(bytes) = client::sized_model(&name) else {
            self.status.error.set(Some(format!(
                "Open '{name}' again: its file is no longer held"
            )));
            return;
        };
        self.status.error.set(None);
        self.model.needs_size.set(None);
        self.status
            .busy
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
        self.status.error.set(None);
        client::send(Request::SetLabels { text }, None);
    }

    pub fn set_preset(self, preset: Preset) {
        self.model.preset.set(preset);
        if let Some(model) = self.model.summary.get_untracked() {
            self.model.preprocess.set(Some(preset.apply(&model.input)));
            self.predict();
            self.evaluate();
        }
    }

    pub fn set_preprocess(self, preprocess: Preprocess) {
        self.model.preprocess.set(Some(preprocess));
        self.predict();
        self.evaluate();
    }

    /// Scores every common preprocessing on a sample of the open labelled images, so the page
    /// can say when another one fits the model clearly better (a background job, queued after
    /// the evaluation; its advice follows the preset in use, `ui/preprocessing_advice.rs`).
    pub(super) fn check_preprocessing(self) {
        self.model.preprocessing_check.set(None);
        let ready = self.model.summary.with_untracked(Option::is_some)
            && self.dataset.summary.with_untracked(Option::is_some);
        if !ready {
            self.awaiting
                .update_value(|a| a.forget(Purpose::PreprocessingCheck));
            return;
        }
        self.ask(
            Purpose::PreprocessingCheck,
            Request::CheckPreprocessing {
                id: 0,
                sample: PREPROCESSING_SAMPLE,
            },
            None,
        );
    }

    // The worker's answers.

    pub(super) fn on_backend(self, active: Backend, webgpu_available: bool, note: Option<String>) {
        self.model.backend.set(Some(active));
        self.model.webgpu_available.set(webgpu_available);
        self.model.backend_note.set(note);
        if self.model.summary.get_untracked().is_none() {
            self.status.busy.set(None);
        }
    }

    pub(super) fn on_model_loaded(self, summary: ModelSummary) {
        let same_input = self
            .model
            .summary
            .get_untracked()
            .is_some_and(|m| m.input == summary.input);
        // Keep the user's preprocessing when the input is unchanged (a backend switch).
        if !same_input || self.model.preprocess.get_untracked().is_none() {
            self.model.preprocess.set(Some(
                self.model.preset.get_untracked().apply(&summary.input),
            ));
        }
        self.model.summary.set(Some(summary));
        self.status.busy.set(None);
        self.predict();
        self.evaluate();
        self.check_preprocessing();
    }

    pub(super) fn on_labels(self, labels: Vec<String>) {
        self.model.summary.update(|m| {
            if let Some(m) = m
                && m.labels.len() == labels.len()
            {
                m.labels = labels;
            }
        });
        self.predict();
        self.evaluate();
        self.evaluate_second();
        self.check_preprocessing();
    }

    pub(super) fn on_needs_size(self, name: String, message: String) {
        self.status.busy.set(None);
        self.model.needs_size.set(Some((name, message)));
    }
}
