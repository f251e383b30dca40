//! The sanity check of a map as a background job: one map per step (the original's, then each
//! scrambled model's, explain-core's `metrics/sanity.rs`), so the page sees progress, other
//! requests are answered in between and a Cancel stops it at the next step.

use explain_core::explain::{Method, Silent, Target};
use explain_core::metrics::sanity::{Plane, SanityCheck, SanitySettings};
use explain_core::onnx::FloatValue;
use explain_core::render::normalise;
use explain_core::{Classifier, Result};

use crate::jobs::{Job, Step};
use crate::{Engine, Reply, failed};
use unpic_app::protocol::{ExplainMethod, Response, SanityResult, Task, f32_bytes};

/// A check under way on the current image.
pub struct SanityJob {
    pub id: u64,
    method: ExplainMethod,
    engine_method: Method,
    image: FloatValue,
    target: Target,
    target_label: String,
    /// `None` once finished.
    check: Option<SanityCheck>,
    started_ms: f64,
}

impl SanityJob {
    pub fn task(&self) -> String {
        format!("Checking {} on scrambled models", self.method.label())
    }

    pub fn total(&self) -> usize {
        self.check.as_ref().map_or(0, SanityCheck::total)
    }

    /// Explains the image with the next model (the original, then each step's scrambled one).
    pub async fn step(&mut self, classifier: &Classifier, now_ms: f64) -> Result<Step> {
        let Some(check) = self.check.as_mut() else {
            return Err(explain_core::Error::Settings(
                "the check has finished".into(),
            ));
        };
        if let Some(model) = check.next_model(classifier)? {
            let map = self
                .engine_method
                .run(&model, &self.image, self.target, &mut Silent)?;
            let values = map.to_vec_async().await?;
            let plane = Plane::of_map(
                model.input(),
                &values,
                &map.dims(),
                self.engine_method.signed(),
            )?;
            check.record(plane)?;
        }
        let (done, total) = (check.done(), check.total());
        if done < total {
            return Ok(Step::Progress {
                task: self.task(),
                done,
                total,
            });
        }
        let Some(check) = self.check.take() else {
            return Err(explain_core::Error::Settings(
                "the check has finished".into(),
            ));
        };
        let run = check.finish();
        let (plane_width, plane_height) =
            run.planes.first().map_or((0, 0), |p| (p.width, p.height));
        let bytes: Vec<f32> = run
            .planes
            .iter()
            .flat_map(|p| normalise(&p.values, false))
            .collect();
        Ok(Step::Done(
            Box::new(Response::Sanity(SanityResult {
                id: self.id,
                method: self.method,
                target: self.target.class,
                target_label: std::mem::take(&mut self.target_label),
                plane_width,
                plane_height,
                report: run.report,
                compute_ms: now_ms - self.started_ms,
            })),
            Some(f32_bytes(&bytes)),
        ))
    }
}

/// What a check asks for.
pub struct SanityRequest {
    pub method: ExplainMethod,
    pub target: Option<usize>,
    pub layer: Option<String>,
    pub score: explain_core::Score,
    pub max_steps: usize,
    pub seed: u64,
}

impl Engine {
    /// Queues a check of `request.method`'s map of the last predicted image.
    pub(super) fn start_sanity_check(
        &mut self,
        id: u64,
        request: SanityRequest,
        now_ms: f64,
    ) -> Reply {
        let during = format!("checking {} on scrambled models", request.method.label());
        let (Some(classifier), Some(current)) = (&self.classifier, &self.current) else {
            return failed(Task::Sanity, &during, "open a model and an image first");
        };
        let spec = classifier.input().clone();
        let layer = match (request.method.uses_layer(), request.layer) {
            (true, None) => classifier.layer_table().gradcam_layer,
            (true, Some(l)) => Some(l),
            (false, _) => None,
        };
        let engine_method = request.method.method(&spec, layer);
        let target = Target {
            class: request.target.unwrap_or(current.top),
            score: request.score,
        };
        let Some(target_label) = classifier.labels().get(target.class).cloned() else {
            return failed(
                Task::Sanity,
                &during,
                format!("the model has no class {}", target.class),
            );
        };
        let settings = SanitySettings {
            randomisation: Default::default(),
            seed: request.seed,
            max_steps: Some(request.max_steps.max(1)),
        };
        let check = match SanityCheck::new(classifier, engine_method.label(), settings) {
            Ok(check) => check,
            Err(e) => return failed(Task::Sanity, &during, e),
        };
        self.queue(Job::Sanity(Box::new(SanityJob {
            id,
            method: request.method,
            engine_method,
            image: current.input.clone(),
            target,
            target_label,
            check: Some(check),
            started_ms: now_ms,
        })))
    }
}
