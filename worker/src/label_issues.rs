//! Near-duplicate images of the dataset as a background job (explain-core's
//! `metrics/label_issues.rs`): a batch per step through the model, each image's penultimate
//! features compared with those before it; the most similar pairs are kept in a bounded heap.
//! (The other label hint, confidently wrong images, needs only the evaluation: the page finds
//! them itself.)

use explain_core::data::{ImageSource, Item, Preprocess};
use explain_core::metrics::label_issues::DuplicateFinder;
use explain_core::{Classifier, Result};

use crate::jobs::{DATASET_BATCH, Job, Step, TappedBatch};
use crate::{Engine, Reply, failed};
use unpic_app::protocol::{NearDuplicatesResult, Response, Task};

/// The most pairs kept (the most similar).
pub const MAX_PAIRS: usize = 500;

/// A search under way.
pub struct NearDuplicatesJob {
    pub id: u64,
    layer: String,
    preprocess: Preprocess,
    items: Vec<Item>,
    next: usize,
    finder: Option<DuplicateFinder>,
}

impl NearDuplicatesJob {
    pub fn task(&self) -> String {
        format!("Comparing the images' features at {}", self.layer)
    }

    pub fn total(&self) -> usize {
        self.items.len()
    }

    pub async fn step(
        &mut self,
        classifier: &Classifier,
        source: &mut dyn ImageSource,
    ) -> Result<Step> {
        let Some(finder) = self.finder.as_mut() else {
            return Err(explain_core::Error::Settings(
                "the search has finished".into(),
            ));
        };
        let end = (self.next + DATASET_BATCH).min(self.items.len());
        let chunk = &self.items[self.next..end];
        let tapped =
            TappedBatch::of(classifier, source, chunk, &self.preprocess, &self.layer).await?;
        if let Some(batch) = tapped {
            for (&i, f) in batch
                .kept
                .iter()
                .zip(batch.features.chunks(batch.dim().max(1)))
            {
                finder.push(&chunk[i].path, f)?;
            }
        }
        self.next = end;
        if end < self.items.len() {
            return Ok(Step::Progress {
                task: self.task(),
                done: end,
                total: self.items.len(),
            });
        }
        let pairs = self.finder.take().map(DuplicateFinder::finish);
        Ok(Step::Done(
            Box::new(Response::NearDuplicates(NearDuplicatesResult {
                id: self.id,
                layer: self.layer.clone(),
                pairs: pairs.unwrap_or_default(),
            })),
            None,
        ))
    }
}

impl Engine {
    /// Queues the search for pairs of images whose penultimate features have a cosine
    /// similarity of at least `similarity`.
    pub(super) fn start_near_duplicates(
        &mut self,
        id: u64,
        preprocess: Preprocess,
        similarity: f32,
    ) -> Reply {
        let during = "looking for near-duplicate images";
        let (_, items) = match self.job_inputs(&preprocess) {
            Ok(x) => x,
            Err(e) => return failed(Task::NearDuplicates, during, e),
        };
        let Some(classifier) = &self.classifier else {
            return failed(Task::NearDuplicates, during, "open a model first");
        };
        let Some(layer) = classifier.layer_table().penultimate() else {
            return failed(
                Task::NearDuplicates,
                during,
                "the model has no vector layer before its scores to compare images by",
            );
        };
        if !(similarity.is_finite() && (-1.0..=1.0).contains(&similarity)) {
            return failed(
                Task::NearDuplicates,
                during,
                format!("the similarity threshold {similarity} is not a cosine in [-1, 1]"),
            );
        }
        self.queue(Job::NearDuplicates(Box::new(NearDuplicatesJob {
            id,
            layer,
            preprocess,
            items,
            next: 0,
            finder: Some(DuplicateFinder::new(similarity, MAX_PAIRS)),
        })))
    }
}
