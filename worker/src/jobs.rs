//! Background jobs over the whole dataset (evaluation, t-SNE): advanced one batch or a few
//! iterations per [`Job::step`], so the worker answers the page's other requests in between and
//! a Cancel stops them at once.

use std::collections::BTreeSet;

use explain_core::data::{ImageSource, Item, Preprocess, prepare_batch};
use explain_core::embed::pca::principal_components;
use explain_core::embed::tsne::{TsneRun, TsneSettings};
use explain_core::embed::umap::{UmapRun, UmapSettings};
use explain_core::features::max_activations::{TopImages, channel_means};
use explain_core::metrics::{Evaluation, evaluation::argmax};
use explain_core::model::check_scores;
use explain_core::{Classifier, Result};

use unpic_app::protocol::{
    Backend, EvaluationResult, MapMethod, MaxActivationsResult, Response, Task, TsneResult,
};

/// Images per forward pass when streaming a dataset.
pub const DATASET_BATCH: usize = 64;
/// t-SNE iterations per step.
const TSNE_SLICE: usize = 25;
/// UMAP steps (blocks of the neighbour search, or epochs) per step.
const UMAP_SLICE: usize = 10;

/// A map's layout under way.
enum MapRun {
    Tsne(TsneRun),
    Umap(UmapRun),
}

/// One batch of the dataset through the model with `layer` tapped.
pub struct TappedBatch {
    /// The images that could be read: positions in the batch's chunk.
    pub kept: Vec<usize>,
    /// Their scores, one row per kept image.
    pub logits: Vec<f32>,
    /// Their activations at the layer, one row per kept image.
    pub features: Vec<f32>,
}

impl TappedBatch {
    /// Reads and prepares `chunk`, runs it, and reads the scores and the tap back (images that
    /// cannot be read are left out; `None` when none could).
    pub async fn of(
        classifier: &Classifier,
        source: &mut dyn ImageSource,
        chunk: &[Item],
        preprocess: &Preprocess,
        layer: &str,
    ) -> Result<Option<TappedBatch>> {
        let batch = prepare_batch(source, chunk, preprocess)?;
        if batch.kept.is_empty() {
            return Ok(None);
        }
        let x = classifier.batch(batch.data, batch.kept.len())?;
        let forward = classifier.forward(x, &[layer])?;
        let logits = forward.logits.to_vec_async().await?;
        let features = match forward.taps.first() {
            Some(t) => t.to_vec_async().await?,
            None => Vec::new(),
        };
        Ok(Some(TappedBatch {
            kept: batch.kept,
            logits,
            features,
        }))
    }

    /// The length of one image's features.
    pub fn dim(&self) -> usize {
        self.features.len() / self.kept.len().max(1)
    }
}

/// How the dataset's class folders map to the model's classes, and what to call them.
pub struct ClassMapping {
    /// Model class of each class folder.
    pub model_class: Vec<usize>,
    /// One name per model class.
    pub names: Vec<String>,
    pub notes: BTreeSet<String>,
}

/// A job's answer after one step.
pub enum Step {
    Progress {
        task: String,
        done: usize,
        total: usize,
    },
    /// A part of the result (the job goes on), and the bytes that travel with it.
    Partial(Box<Response>, Option<Vec<u8>>),
    /// The result, and the bytes that travel with it.
    Done(Box<Response>, Option<Vec<u8>>),
}

pub enum Job {
    Evaluation(Box<EvaluationJob>),
    Tsne(Box<TsneJob>),
    MaxActivations(Box<MaxActivationsJob>),
    /// Needs only the current image, not the dataset (`sanity.rs`).
    Sanity(Box<crate::sanity::SanityJob>),
    /// `preprocessing.rs`.
    PreprocessingCheck(Box<crate::preprocessing::PreprocessingCheckJob>),
    /// `label_issues.rs`.
    NearDuplicates(Box<crate::label_issues::NearDuplicatesJob>),
    /// `class_maps.rs`.
    ClassMaps(Box<crate::class_maps::ClassMapsJob>),
}

impl Job {
    pub fn id(&self) -> u64 {
        match self {
            Job::Evaluation(j) => j.id,
            Job::Tsne(j) => j.id,
            Job::MaxActivations(j) => j.id,
            Job::Sanity(j) => j.id,
            Job::PreprocessingCheck(j) => j.id,
            Job::NearDuplicates(j) => j.id,
            Job::ClassMaps(j) => j.id,
        }
    }

    /// Jobs of one kind replace each other.
    pub fn same_kind(&self, other: &Job) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// The kind of work it is, for the page's routing of its failure.
    pub fn kind(&self) -> Task {
        match self {
            Job::Evaluation(_) => Task::Evaluation,
            Job::Tsne(_) => Task::Tsne,
            Job::MaxActivations(_) => Task::MaxActivations,
            Job::Sanity(_) => Task::Sanity,
            Job::PreprocessingCheck(_) => Task::PreprocessingCheck,
            Job::NearDuplicates(_) => Task::NearDuplicates,
            Job::ClassMaps(_) => Task::ClassMaps,
        }
    }

    /// What the job was doing, for the message of its failure.
    pub fn during(&self) -> &'static str {
        match self {
            Job::Evaluation(_) => "evaluating the images",
            Job::Tsne(_) => "computing the t-SNE map",
            Job::MaxActivations(_) => "finding the most activating images",
            Job::Sanity(_) => "checking the map on scrambled models",
            Job::PreprocessingCheck(_) => "checking the preprocessing",
            Job::NearDuplicates(_) => "looking for near-duplicate images",
            Job::ClassMaps(_) => "explaining the images",
        }
    }

    /// What the status line says while it waits for its first step.
    pub fn task(&self) -> String {
        match self {
            Job::Evaluation(_) => "Evaluating the images".into(),
            Job::Tsne(j) => format!("Collecting the activations of {}", j.layer),
            Job::MaxActivations(j) => format!("Finding the images that excite {}", j.layer.name),
            Job::Sanity(j) => j.task(),
            Job::PreprocessingCheck(_) => crate::preprocessing::PreprocessingCheckJob::TASK.into(),
            Job::NearDuplicates(j) => j.task(),
            Job::ClassMaps(j) => j.task(),
        }
    }

    pub fn size(&self) -> usize {
        match self {
            Job::Evaluation(j) => j.items.len(),
            Job::Tsne(j) => j.items.len(),
            Job::MaxActivations(j) => j.items.len(),
            Job::Sanity(j) => j.total(),
            Job::PreprocessingCheck(j) => j.total(),
            Job::NearDuplicates(j) => j.total(),
            Job::ClassMaps(j) => j.total(),
        }
    }

    /// One step; `source` is the dataset (`None` when none is open: only a job that does not
    /// read it can run).
    pub async fn step(
        &mut self,
        classifier: &Classifier,
        source: Option<&mut dyn ImageSource>,
        backend: Backend,
        now_ms: f64,
    ) -> Result<Step> {
        match (self, source) {
            (Job::Sanity(j), _) => j.step(classifier, now_ms).await,
            (Job::Evaluation(j), Some(source)) => j.step(classifier, source, backend, now_ms).await,
            (Job::Tsne(j), Some(source)) => j.step(classifier, source, now_ms).await,
            (Job::MaxActivations(j), Some(source)) => j.step(classifier, source).await,
            (Job::PreprocessingCheck(j), Some(source)) => j.step(classifier, source).await,
            (Job::NearDuplicates(j), Some(source)) => j.step(classifier, source).await,
            (Job::ClassMaps(j), Some(source)) => j.step(classifier, source).await,
            (_, None) => Err(explain_core::Error::Settings(
                "the images were closed; open them again".into(),
            )),
        }
    }
}

/// Classifies every image of the dataset.
pub struct EvaluationJob {
    pub id: u64,
    pub preprocess: Preprocess,
    pub items: Vec<Item>,
    pub classes: ClassMapping,
    pub evaluation: Evaluation,
    pub next: usize,
    pub started_ms: f64,
}

impl EvaluationJob {
    pub fn new(
        id: u64,
        preprocess: Preprocess,
        items: Vec<Item>,
        classes: ClassMapping,
        now_ms: f64,
    ) -> Self {
        Self {
            id,
            preprocess,
            items,
            evaluation: Evaluation::new(classes.names.clone()),
            classes,
            next: 0,
            started_ms: now_ms,
        }
    }

    async fn step(
        &mut self,
        classifier: &Classifier,
        source: &mut dyn ImageSource,
        backend: Backend,
        now_ms: f64,
    ) -> Result<Step> {
        let end = (self.next + DATASET_BATCH).min(self.items.len());
        let chunk = &self.items[self.next..end];
        let batch = prepare_batch(source, chunk, &self.preprocess)?;
        self.classes.notes.extend(batch.notes);
        self.evaluation.skipped.extend(batch.skipped);
        if !batch.kept.is_empty() {
            let x = classifier.batch(batch.data, batch.kept.len())?;
            let logits = classifier.logits(x)?.to_vec_async().await?;
            let kept: Vec<&Item> = batch.kept.iter().map(|&i| &chunk[i]).collect();
            check_scores(&logits, classifier.num_classes(), |i| {
                format!("'{}'", kept[i].path)
            })?;
            for (item, row) in kept.iter().zip(logits.chunks(classifier.num_classes())) {
                self.evaluation
                    .add(&item.path, self.classes.model_class[item.label], row);
            }
        }
        self.next = end;
        if end < self.items.len() {
            return Ok(Step::Progress {
                task: "Evaluating the images".into(),
                done: end,
                total: self.items.len(),
            });
        }
        Ok(Step::Done(
            Box::new(Response::Evaluated(EvaluationResult {
                id: self.id,
                evaluation: std::mem::replace(&mut self.evaluation, Evaluation::new(Vec::new())),
                notes: self.classes.notes.iter().cloned().collect(),
                elapsed_ms: now_ms - self.started_ms,
                backend,
            })),
            None,
        ))
    }
}

/// Collects a layer's activations over (part of) the dataset, then embeds them with t-SNE.
pub struct TsneJob {
    pub id: u64,
    pub layer: String,
    pub preprocess: Preprocess,
    pub items: Vec<Item>,
    pub classes: ClassMapping,
    pub settings: TsneSettings,
    pub method: MapMethod,
    features: Vec<f32>,
    dim: usize,
    predicted: Vec<usize>,
    /// The images whose activations were collected (the damaged ones are skipped).
    mapped: Vec<Item>,
    next: usize,
    run: Option<MapRun>,
    started_ms: f64,
}

impl TsneJob {
    pub fn new(
        id: u64,
        layer: String,
        preprocess: Preprocess,
        items: Vec<Item>,
        classes: ClassMapping,
        (method, settings): (MapMethod, TsneSettings),
        now_ms: f64,
    ) -> Self {
        Self {
            id,
            layer,
            preprocess,
            items,
            classes,
            settings,
            method,
            features: Vec::new(),
            dim: 0,
            predicted: Vec::new(),
            mapped: Vec::new(),
            next: 0,
            run: None,
            started_ms: now_ms,
        }
    }

    async fn step(
        &mut self,
        classifier: &Classifier,
        source: &mut dyn ImageSource,
        now_ms: f64,
    ) -> Result<Step> {
        if self.next < self.items.len() {
            let end = (self.next + DATASET_BATCH).min(self.items.len());
            let chunk = &self.items[self.next..end];
            let tapped =
                TappedBatch::of(classifier, source, chunk, &self.preprocess, &self.layer).await?;
            if let Some(batch) = tapped {
                self.dim = batch.dim();
                self.features.extend(batch.features);
                self.predicted
                    .extend(batch.logits.chunks(classifier.num_classes()).map(argmax));
                self.mapped
                    .extend(batch.kept.iter().map(|&i| chunk[i].clone()));
            }
            self.next = end;
            return Ok(Step::Progress {
                task: format!("Collecting the activations of {}", self.layer),
                done: end,
                total: self.items.len(),
            });
        }
        if self.method == MapMethod::Pca {
            let points = principal_components(&self.features, self.mapped.len(), self.dim)?;
            self.features = Vec::new();
            return Ok(self.done(&points, None, now_ms));
        }
        let (n, dim) = (self.mapped.len(), self.dim);
        let run = match &mut self.run {
            Some(run) => run,
            None => {
                let run = if self.method == MapMethod::Umap {
                    let settings = UmapSettings {
                        seed: self.settings.seed,
                        ..UmapSettings::default()
                    };
                    MapRun::Umap(UmapRun::new(&self.features, n, dim, &settings)?)
                } else {
                    MapRun::Tsne(TsneRun::new(&self.features, n, dim, &self.settings)?)
                };
                self.features = Vec::new();
                self.run.insert(run)
            }
        };
        let progress = |task: &str, done, total| {
            Ok(Step::Progress {
                task: task.into(),
                done,
                total,
            })
        };
        match run {
            MapRun::Tsne(run) if !run.is_done() => {
                run.advance(TSNE_SLICE);
                return progress("t-SNE", run.iterations_done(), run.total_iterations());
            }
            MapRun::Umap(run) if !run.is_done() => {
                run.advance(UMAP_SLICE);
                return progress("UMAP", run.steps_done(), run.total_steps());
            }
            _ => {}
        }
        match self.run.take() {
            Some(MapRun::Tsne(run)) => {
                let embedding = run.finish();
                Ok(self.done(&embedding.points, Some(embedding.kl), now_ms))
            }
            Some(MapRun::Umap(run)) => {
                let points = run.points().map(<[[f64; 2]]>::to_vec).unwrap_or_default();
                Ok(self.done(&points, None, now_ms))
            }
            None => Err(explain_core::Error::Settings("the map ended twice".into())),
        }
    }

    /// The map's answer from its points.
    fn done(&mut self, points: &[[f64; 2]], kl: Option<f64>, now_ms: f64) -> Step {
        Step::Done(
            Box::new(Response::Tsne(TsneResult {
                id: self.id,
                method: self.method,
                layer: self.layer.clone(),
                points: points.iter().map(|p| [p[0] as f32, p[1] as f32]).collect(),
                paths: self.mapped.iter().map(|i| i.path.clone()).collect(),
                truth: self
                    .mapped
                    .iter()
                    .map(|i| self.classes.model_class[i.label])
                    .collect(),
                predicted: std::mem::take(&mut self.predicted),
                classes: self.classes.names.clone(),
                kl,
                elapsed_ms: now_ms - self.started_ms,
            })),
            None,
        )
    }
}

/// Keeps the top images of every channel of a layer while the dataset streams through.
pub struct MaxActivationsJob {
    pub id: u64,
    pub layer: explain_core::onnx::Layer,
    pub preprocess: Preprocess,
    pub items: Vec<Item>,
    top: TopImages,
    next: usize,
}

impl MaxActivationsJob {
    /// `layer` must have a channel axis.
    pub fn new(
        id: u64,
        layer: explain_core::onnx::Layer,
        preprocess: Preprocess,
        items: Vec<Item>,
        k: usize,
    ) -> Self {
        let channels = layer.channels().unwrap_or(1);
        Self {
            id,
            layer,
            preprocess,
            items,
            top: TopImages::new(channels, k.max(1)),
            next: 0,
        }
    }

    async fn step(
        &mut self,
        classifier: &Classifier,
        source: &mut dyn ImageSource,
    ) -> Result<Step> {
        let end = (self.next + DATASET_BATCH).min(self.items.len());
        let chunk = &self.items[self.next..end];
        let batch = prepare_batch(source, chunk, &self.preprocess)?;
        if !batch.kept.is_empty() {
            let x = classifier.batch(batch.data, batch.kept.len())?;
            let taps = classifier.activations(x, &[self.layer.name.as_str()])?;
            let acts = match taps.first() {
                Some(t) => t.to_vec_async().await?,
                None => Vec::new(),
            };
            let channels = self.top.best.len();
            let means = channel_means(
                &acts,
                batch.kept.len(),
                channels,
                self.layer.channel_axis == Some(3),
            );
            let ids: Vec<usize> = batch.kept.iter().map(|i| self.next + i).collect();
            self.top.add_batch(&ids, &means);
        }
        self.next = end;
        if end < self.items.len() {
            return Ok(Step::Progress {
                task: format!("Finding the images that excite {}", self.layer.name),
                done: end,
                total: self.items.len(),
            });
        }
        let best = self
            .top
            .best
            .iter()
            .map(|list| {
                list.iter()
                    .map(|&(score, i)| (score, self.items[i].path.clone()))
                    .collect()
            })
            .collect();
        Ok(Step::Done(
            Box::new(Response::MaxActivations(MaxActivationsResult {
                id: self.id,
                layer: self.layer.name.clone(),
                best,
            })),
            None,
        ))
    }
}
