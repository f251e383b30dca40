//! The page's shared state (one `Session` in context) and the actions that change it. Views read
//! signals and call actions; only actions talk to the worker.

use explain_core::data::Preprocess;
use leptos::prelude::*;

use super::client;
use crate::presets::Preset;
use crate::protocol::{
    Backend, BackendChoice, ExplainMethod, ExplanationResult, ModelSummary, PredictionResult,
    Request, Response,
};

/// An image file the user picked (or the demo's).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A prediction with the pixels the network saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub result: PredictionResult,
    pub rgba: Vec<u8>,
}

/// An explanation of the shown image: the overlay and the raw map as `.npy` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownExplanation {
    pub result: ExplanationResult,
    pub rgba: Vec<u8>,
    pub npy: Vec<u8>,
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
    /// The explanation of the shown image, if one was asked for.
    pub explanation: RwSignal<Option<ShownExplanation>>,
    /// What the engine is doing now, for the status line.
    pub busy: RwSignal<Option<String>>,
    pub error: RwSignal<Option<String>>,
    latest_request: RwSignal<u64>,
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
        explanation: RwSignal::new(None),
        busy: RwSignal::new(None),
        error: RwSignal::new(None),
        latest_request: RwSignal::new(0),
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
        client::send(Request::LoadModel { name }, Some(bytes));
    }

    pub fn open_labels(self, text: String) {
        self.error.set(None);
        client::send(Request::SetLabels { text }, None);
    }

    pub fn open_image(self, name: String, bytes: Vec<u8>) {
        self.error.set(None);
        self.image.set(Some(ImageFile { name, bytes }));
        self.predict();
    }

    pub fn set_preset(self, preset: Preset) {
        self.preset.set(preset);
        if let Some(model) = self.model.get_untracked() {
            self.preprocess.set(Some(preset.apply(&model.input)));
            self.predict();
        }
    }

    pub fn set_preprocess(self, preprocess: Preprocess) {
        self.preprocess.set(Some(preprocess));
        self.predict();
    }

    /// Classifies the current image with the current model and preprocessing, if all are set.
    /// Explains the shown image with `method` (Grad-CAM at `layer`, or the suggested one).
    pub fn explain(self, method: ExplainMethod, layer: Option<String>) {
        if self.shown.get_untracked().is_none() {
            self.error.set(Some(
                "Open a model and an image first, then explain it.".into(),
            ));
            return;
        }
        let id = self.latest_request.get_untracked() + 1;
        self.latest_request.set(id);
        self.error.set(None);
        self.busy
            .set(Some(format!("Computing {}…", method.label())));
        client::send(
            Request::Explain {
                id,
                method,
                target: None,
                layer,
            },
            None,
        );
    }

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

    fn on_response(self, response: Response, bytes: Option<Vec<u8>>) {
        match response {
            Response::Started => {}
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
            }
            Response::Prediction(result) => {
                if result.id == self.latest_request.get_untracked() {
                    self.busy.set(None);
                    self.shown.set(Some(Shown {
                        result,
                        rgba: bytes.unwrap_or_default(),
                    }));
                    // A new image: an old map no longer applies.
                    self.explanation.set(None);
                }
            }
            Response::Explanation(result) => {
                if result.id == self.latest_request.get_untracked() {
                    self.busy.set(None);
                    let mut rgba = bytes.unwrap_or_default();
                    let npy = rgba.split_off(result.rgba_len.min(rgba.len()));
                    self.explanation
                        .set(Some(ShownExplanation { result, rgba, npy }));
                }
            }
            Response::Failed { during, message } => {
                self.busy.set(None);
                self.error
                    .set(Some(format!("Error while {during}: {message}")));
            }
        }
    }
}
