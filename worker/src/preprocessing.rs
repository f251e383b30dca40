//! The preprocessing checker as a background job (explain-core's `data/preprocess_check.rs`):
//! the sample's images are decoded once as raw pixels, then each step scores one candidate
//! convention (a preset, or its BGR form), so the page is answered in between and a Cancel
//! stops it.

use explain_core::data::preprocess_check::{
    Candidate, CandidateScore, raw_pixels, right_answers, sample_positions,
};
use explain_core::data::{ImageSource, Item, prepare_batch};
use explain_core::model::check_scores;
use explain_core::{Classifier, Result};

use crate::jobs::{DATASET_BATCH, Job, Step};
use crate::{Engine, Reply, failed};
use unpic_app::protocol::{PreprocessingCheckResult, Response, Task};

/// The most images a check scores (spread over the set, every class represented).
pub const MAX_SAMPLE: usize = 1000;

/// A check under way over a sample of the dataset.
pub struct PreprocessingCheckJob {
    pub id: u64,
    /// The sample, and each image's model class.
    items: Vec<Item>,
    truth: Vec<usize>,
    /// The sample's raw pixels (the images that could be read), once decoded.
    raw: Option<Vec<f32>>,
    candidates: Vec<Candidate>,
    scores: Vec<CandidateScore>,
}

impl PreprocessingCheckJob {
    pub const TASK: &str = "Checking the preprocessing";

    /// The steps: decoding the sample, then one per candidate.
    pub fn total(&self) -> usize {
        1 + self.candidates.len()
    }

    pub async fn step(
        &mut self,
        classifier: &Classifier,
        source: &mut dyn ImageSource,
    ) -> Result<Step> {
        let spec = classifier.input().clone();
        let Some(raw) = &self.raw else {
            let batch = prepare_batch(source, &self.items, &raw_pixels(&spec))?;
            self.truth = batch.kept.iter().map(|&i| self.truth[i]).collect();
            if self.truth.is_empty() {
                return Err(explain_core::Error::Dataset(
                    "none of the sampled images could be read".into(),
                ));
            }
            self.raw = Some(batch.data);
            return Ok(self.progress());
        };
        let candidate = self.candidates[self.scores.len()];
        let input = candidate.apply(raw, &spec);
        let k = classifier.num_classes();
        let mut right = 0;
        let chunks = input.chunks(DATASET_BATCH * spec.image_len());
        for (chunk, truth) in chunks.zip(self.truth.chunks(DATASET_BATCH)) {
            let x = classifier.batch(chunk.to_vec(), truth.len())?;
            let logits = classifier.logits(x)?.to_vec_async().await?;
            check_scores(&logits, k, |i| format!("sampled image {i}"))?;
            right += right_answers(&logits, truth, k);
        }
        self.scores.push(CandidateScore {
            name: candidate.name(),
            accuracy: right as f64 / self.truth.len() as f64,
        });
        if self.scores.len() < self.candidates.len() {
            return Ok(self.progress());
        }
        Ok(Step::Done(
            Box::new(Response::PreprocessingChecked(PreprocessingCheckResult {
                id: self.id,
                sample: self.truth.len(),
                scores: std::mem::take(&mut self.scores),
                classes: k,
            })),
            None,
        ))
    }

    fn progress(&self) -> Step {
        Step::Progress {
            task: Self::TASK.into(),
            done: 1 + self.scores.len(),
            total: self.total(),
        }
    }
}

impl Engine {
    /// Queues a check of every common preprocessing on `sample` images of the dataset.
    pub(super) fn start_preprocessing_check(&mut self, id: u64, sample: usize) -> Reply {
        let during = "checking the preprocessing";
        let Some(classifier) = &self.classifier else {
            return failed(Task::PreprocessingCheck, during, "open a model first");
        };
        let channels = classifier.input().channels;
        let classes = match self.class_mapping() {
            Ok(classes) => classes,
            Err(e) => return failed(Task::PreprocessingCheck, during, e),
        };
        let all = self
            .dataset
            .as_ref()
            .map(|d| d.dataset().items.clone())
            .unwrap_or_default();
        if all.is_empty() {
            return failed(
                Task::PreprocessingCheck,
                during,
                "open labelled images first",
            );
        }
        let items: Vec<Item> = sample_positions(all.len(), sample.clamp(1, MAX_SAMPLE))
            .into_iter()
            .map(|i| all[i].clone())
            .collect();
        let truth = items.iter().map(|i| classes.model_class[i.label]).collect();
        self.queue(Job::PreprocessingCheck(Box::new(PreprocessingCheckJob {
            id,
            items,
            truth,
            raw: None,
            candidates: Candidate::all(channels),
            scores: Vec::new(),
        })))
    }
}
