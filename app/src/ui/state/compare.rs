//! A second model on the same images (the Compare view): opening it, its evaluation, its
//! prediction and maps of the current image. The worker runs each on the second model when
//! the request is wrapped in `Request::Second`; the comparison itself is explain-core's pure
//! `metrics::comparison`, computed in the view.

use leptos::prelude::*;

use super::{Session, Shown, ShownExplanation};
use crate::awaiting::{Answered, Purpose};
use crate::page_model::insert_explanation;
use crate::presets::Preset;
use crate::protocol::{
    EvaluationResult, ExplanationResult, ModelSummary, PredictionResult, Request,
};

impl Session {
    /// Opens `name` as the second model (replacing one open before).
    pub fn open_second_model(self, name: String, bytes: Vec<u8>) {
        self.status.error.set(None);
        self.status
            .busy
            .set(Some(format!("Opening {name} as the second model…")));
        self.compare.summary.set(None);
        self.compare.evaluation.set(None);
        self.compare.shown.set(None);
        self.compare.explanations.set(Vec::new());
        self.compare
            .file
            .set_value(Some((name.clone(), bytes.clone())));
        self.ask(
            Purpose::SecondModel,
            Request::Second(Box::new(Request::LoadModel { name, size: None })),
            Some(bytes),
        );
    }

    /// The second model's preprocessing: its own preset at its own input size.
    fn second_preprocess(self) -> Option<explain_core::data::Preprocess> {
        let summary = self.compare.summary.get_untracked()?;
        Some(self.compare.preset.get_untracked().apply(&summary.input))
    }

    pub fn set_second_preset(self, preset: Preset) {
        self.compare.preset.set(preset);
        self.evaluate_second();
        self.predict_second();
    }

    /// Classifies the whole dataset with the second model (a background job with progress).
    pub(super) fn evaluate_second(self) {
        let (Some(preprocess), Some(dataset)) = (
            self.second_preprocess(),
            self.dataset.summary.get_untracked(),
        ) else {
            return;
        };
        self.compare.evaluation.set(None);
        self.start_job(
            Purpose::SecondEvaluation,
            Request::Second(Box::new(Request::Evaluate {
                id: 0,
                preprocess,
                shard: None,
            })),
            "Evaluating the images with the second model",
            dataset.items.len(),
        );
    }

    /// Classifies the current image with the second model, if one is open.
    pub(super) fn predict_second(self) {
        let (Some(preprocess), Some(image)) =
            (self.second_preprocess(), self.image.file.get_untracked())
        else {
            return;
        };
        self.compare.explanations.set(Vec::new());
        self.ask(
            Purpose::SecondImage,
            Request::Second(Box::new(Request::Predict {
                id: 0,
                name: image.name,
                preprocess,
            })),
            Some(image.bytes),
        );
    }

    /// The same explanation requests as the first model's, for the second model's maps beside
    /// them (computed on the main worker alone); class activation maps at the second model's
    /// own suggested layer (the first's layer names are not its).
    pub(super) fn explain_second(self, requests: &[Request]) {
        self.compare.explanations.set(Vec::new());
        if self.compare.shown.with_untracked(Option::is_none) {
            return;
        }
        let wrapped = requests
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if let Request::Explain { layer, .. } = &mut r {
                    *layer = None;
                }
                Request::Second(Box::new(r))
            })
            .collect();
        self.ask_all(Purpose::SecondExplanations, wrapped);
    }

    // The worker's answers.

    pub(super) fn on_second_model(self, summary: ModelSummary) {
        self.status.busy.set(None);
        // The same preset as the first model until the user picks another.
        self.compare.preset.set(self.model.preset.get_untracked());
        self.compare.summary.set(Some(summary));
        self.evaluate_second();
        self.predict_second();
    }

    /// A second model that takes any image size runs at the first model's size.
    pub(super) fn on_second_needs_size(self, message: String) {
        let size = self
            .model
            .summary
            .with_untracked(|m| m.as_ref().map(|m| [m.input.height, m.input.width]));
        let (Some(size), Some((name, bytes))) = (size, self.compare.file.get_value()) else {
            self.status.busy.set(None);
            self.status.error.set(Some(format!(
                "The second model takes images of any size ({message}): open a first model, \
                 then the second runs at its size"
            )));
            return;
        };
        self.ask(
            Purpose::SecondModel,
            Request::Second(Box::new(Request::LoadModel {
                name,
                size: Some(size),
            })),
            Some(bytes),
        );
    }

    pub(super) fn on_second_evaluated(self, result: EvaluationResult) {
        self.job_ended(result.id);
        self.compare.evaluation.set(Some(result));
    }

    pub(super) fn on_second_prediction(self, result: PredictionResult, bytes: Option<Vec<u8>>) {
        self.compare.shown.set(Some(Shown {
            result,
            rgba: bytes.unwrap_or_default(),
        }));
    }

    pub(super) fn on_second_explanation(
        self,
        answered: Answered,
        result: ExplanationResult,
        bytes: Option<Vec<u8>>,
    ) {
        let explanation = ShownExplanation::from_answer(result, bytes.unwrap_or_default());
        self.compare
            .explanations
            .update(|list| insert_explanation(list, explanation));
        if answered.round_complete {
            self.status.busy.set(None);
        }
    }

    /// Closes the comparison: its answers still coming are dropped (the worker keeps the model
    /// until another replaces it).
    pub fn close_second_model(self) {
        self.awaiting.update_value(|a| {
            for p in [
                Purpose::SecondModel,
                Purpose::SecondEvaluation,
                Purpose::SecondImage,
                Purpose::SecondExplanations,
            ] {
                a.forget(p)
            }
        });
        self.compare.summary.set(None);
        self.compare.evaluation.set(None);
        self.compare.shown.set(None);
        self.compare.explanations.set(Vec::new());
        self.compare.file.set_value(None);
    }
}
