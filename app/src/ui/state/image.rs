//! The current image: opening and classifying it, and its explanations, activations and dreams.

use leptos::prelude::*;

use super::{ImageFile, Session, Shown, ShownExplanation};
use crate::awaiting::{Answered, Purpose};
use crate::page_model::insert_explanation;
use crate::protocol::{
    ExplainMethod, ExplainPart, ExplanationResult, PredictionResult, Request, SanityResult,
    bytes_f32,
};

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
        self.status.error.set(None);
        self.image.file.set(Some(ImageFile {
            name,
            bytes,
            dataset_path,
        }));
        self.predict();
    }

    /// Classifies the current image with the current model and preprocessing, if all are set.
    pub fn predict(self) {
        let (Some(_), Some(preprocess), Some(image)) = (
            self.model.summary.get_untracked(),
            self.model.preprocess.get_untracked(),
            self.image.file.get_untracked(),
        ) else {
            return;
        };
        self.status
            .busy
            .set(Some(format!("Classifying {}…", image.name)));
        self.ask(
            Purpose::Image,
            Request::Predict {
                id: 0,
                name: image.name,
                preprocess,
            },
            Some(image.bytes),
        );
        self.predict_second();
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
        if self.image.shown.get_untracked().is_none() {
            self.status.error.set(Some(
                "Open a model and an image first, then explain it.".into(),
            ));
            return;
        }
        if methods.is_empty() {
            self.status
                .error
                .set(Some("Tick at least one method to explain with.".into()));
            return;
        }
        self.image.explanations.set(Vec::new());
        self.status.error.set(None);
        let names: Vec<&str> = methods.iter().map(|m| m.label()).collect();
        self.status
            .busy
            .set(Some(format!("Computing {}…", names.join(", "))));
        let requests = methods
            .into_iter()
            .map(|method| Request::Explain {
                id: 0,
                method,
                target,
                layer: layer.clone(),
                probability,
                sum_channels,
                part: ExplainPart::Whole,
            })
            .collect::<Vec<_>>();
        self.ask_all(Purpose::Explanations, requests.clone());
        self.explain_second(&requests);
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
        if self.image.shown.get_untracked().is_none() {
            self.status.error.set(Some(
                "Open a model and an image first, then check a map.".into(),
            ));
            return;
        }
        self.image.sanity.set(None);
        self.status.error.set(None);
        self.ask(
            Purpose::Sanity,
            Request::SanityCheck {
                id: 0,
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

    // The worker's answers (only those still awaited reach here: `mod.rs`).

    pub(super) fn on_prediction(self, result: PredictionResult, bytes: Option<Vec<u8>>) {
        self.status.busy.set(None);
        let id = result.id;
        self.image.shown.set(Some(Shown {
            result,
            rgba: bytes.unwrap_or_default(),
        }));
        // A new image: the maps of the one before no longer apply; maps asked for after this
        // image was sent are of it (the worker answers in order) and stay awaited.
        self.awaiting
            .update_value(|a| a.forget_older(Purpose::Explanations, id));
        self.image.explanations.set(Vec::new());
        self.image.sanity.set(None);
    }

    pub(super) fn on_explanation(
        self,
        answered: Answered,
        result: ExplanationResult,
        bytes: Option<Vec<u8>>,
    ) {
        let explanation = ShownExplanation::from_answer(result, bytes.unwrap_or_default());
        self.image
            .explanations
            .update(|list| insert_explanation(list, explanation));
        // The status line clears when the last map of the click is in.
        if answered.round_complete {
            self.status.busy.set(None);
        }
    }

    pub(super) fn on_sanity(self, result: SanityResult, bytes: Option<Vec<u8>>) {
        self.job_ended(result.id);
        let planes = bytes_f32(&bytes.unwrap_or_default());
        self.image.sanity.set(Some((result, planes)));
    }
}
