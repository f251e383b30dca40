//! The opened dataset and the jobs over it (evaluation, t-SNE, max activations): queued, then
//! advanced one batch at a time between requests so the worker keeps answering.

use std::collections::BTreeSet;

use explain_core::data::{FileSet, ImageSource, Item, Preprocess, ZipDataset};
use explain_core::embed::tsne::TsneSettings;

use crate::jobs::{ClassMapping, EvaluationJob, Job, MaxActivationsJob, Step, TsneJob};
use crate::platform::now_ms;
use crate::{Engine, Reply, failed, progress};
use unpic_app::protocol::{
    DatasetSummary, FileSizes, ImagePurpose, Response, Shard, Task, TsneMap,
};

impl Engine {
    pub(super) fn load_dataset(
        &mut self,
        name: String,
        files: Option<FileSizes>,
        bytes: Vec<u8>,
    ) -> Reply {
        let during = format!("opening the images '{name}'");
        let source: explain_core::Result<Box<dyn ImageSource>> = match files {
            None => ZipDataset::from_bytes(&name, bytes).map(|z| Box::new(z) as _),
            Some(list) => match split_files(list, bytes) {
                Ok(files) => FileSet::new(&name, files).map(|f| Box::new(f) as _),
                Err(e) => return failed(Task::Dataset, &during, e),
            },
        };
        let source = match source {
            Ok(s) => s,
            Err(e) => return failed(Task::Dataset, &during, e),
        };
        let dataset = source.dataset();
        let summary = DatasetSummary {
            name,
            classes: dataset.classes.clone(),
            counts: dataset.counts(),
            items: dataset.items.clone(),
        };
        self.dataset = Some(source);
        self.jobs.clear();
        self.second.jobs.clear();
        (Response::DatasetLoaded(summary), None)
    }

    /// How the dataset's folders map to the model's classes (by name when labels were given).
    pub(super) fn class_mapping(&self) -> Result<ClassMapping, String> {
        let (Some(classifier), Some(source)) = (&self.classifier, &self.dataset) else {
            return Err("open a model and a folder of images first".into());
        };
        let dataset = source.dataset();
        let k = classifier.num_classes();
        let mut notes = BTreeSet::new();
        let labels = self.labels_applied.then(|| classifier.labels());
        let model_class = match dataset.model_classes(labels, k) {
            Ok(m) => m,
            // Folders named otherwise than the labels but as many: take them in sorted order.
            Err(_) if labels.is_some() && dataset.classes.len() == k => {
                notes.insert(format!(
                    "the folder names do not match the labels, so the {k} sorted folders were \
                     taken as classes 0 to {} in order",
                    k - 1
                ));
                (0..k).collect()
            }
            Err(e) => return Err(e.to_string()),
        };
        let names = match labels {
            Some(labels) => labels.to_vec(),
            None => dataset.class_names(&model_class, classifier.labels()),
        };
        Ok(ClassMapping {
            model_class,
            names,
            notes,
        })
    }

    /// Checks the preprocessing and the class mapping before a dataset job.
    pub(super) fn job_inputs(
        &self,
        preprocess: &Preprocess,
    ) -> Result<(ClassMapping, Vec<Item>), String> {
        let classes = self.class_mapping()?;
        if let Some(classifier) = &self.classifier {
            preprocess
                .check_fits(classifier.input())
                .map_err(|e| e.to_string())?;
        }
        let items = self
            .dataset
            .as_ref()
            .map(|d| d.dataset().items.clone())
            .unwrap_or_default();
        Ok((classes, items))
    }

    /// Queues a job, replacing a queued one of the same kind.
    pub(super) fn queue(&mut self, job: Job) -> Reply {
        self.jobs.retain(|j| !j.same_kind(&job));
        let (id, total, task) = (job.id(), job.size(), job.task());
        self.jobs.push_back(job);
        progress(id, &task, 0, total)
    }

    /// Starts classifying every image of the dataset, or the shard of it this worker was given;
    /// [`Engine::step`] advances it.
    pub(super) fn start_evaluation(
        &mut self,
        id: u64,
        preprocess: Preprocess,
        shard: Option<Shard>,
    ) -> Reply {
        let inputs = self
            .job_inputs(&preprocess)
            .map(|(classes, items)| match shard {
                Some(shard) => {
                    let run = shard.range(items.len());
                    (classes, items[run].to_vec())
                }
                None => (classes, items),
            });
        match inputs {
            Ok((classes, items)) => self.queue(Job::Evaluation(Box::new(EvaluationJob::new(
                id,
                preprocess,
                items,
                classes,
                now_ms(),
            )))),
            Err(e) => {
                self.jobs.retain(|j| !matches!(j, Job::Evaluation(_)));
                failed(Task::Evaluation, "evaluating the images", e)
            }
        }
    }

    pub(super) fn start_tsne(&mut self, id: u64, preprocess: Preprocess, map: TsneMap) -> Reply {
        let TsneMap {
            method,
            layer,
            perplexity,
            seed,
            every,
            classes,
        } = map;
        let settings = TsneSettings {
            perplexity,
            seed,
            ..TsneSettings::default()
        };
        let during = "computing the t-SNE map";
        let (mapping, items) = match self.job_inputs(&preprocess) {
            Ok(x) => x,
            Err(e) => return failed(Task::Tsne, during, e),
        };
        if let Some(classifier) = &self.classifier
            && let Err(e) = classifier.layer(&layer)
        {
            return failed(Task::Tsne, during, e);
        }
        let items: Vec<Item> = items
            .into_iter()
            .filter(|i| classes.as_ref().is_none_or(|c| c.contains(&i.label)))
            .step_by(every.max(1))
            .collect();
        if items.len() < 4 {
            return failed(
                Task::Tsne,
                during,
                format!(
                    "only {} image(s) are selected; include more classes or take every image",
                    items.len()
                ),
            );
        }
        if !(settings.perplexity > 0.0 && settings.perplexity * 3.0 < items.len() as f64) {
            return failed(
                Task::Tsne,
                during,
                format!(
                    "the perplexity must be positive and below a third of the {} selected images; got {}",
                    items.len(),
                    settings.perplexity
                ),
            );
        }
        self.queue(Job::Tsne(Box::new(TsneJob::new(
            id,
            layer,
            preprocess,
            items,
            mapping,
            (method, settings),
            now_ms(),
        ))))
    }

    pub(super) fn start_max_activations(
        &mut self,
        id: u64,
        layer: String,
        preprocess: Preprocess,
        k: usize,
    ) -> Reply {
        let during = "finding the most activating images";
        let (_, items) = match self.job_inputs(&preprocess) {
            Ok(x) => x,
            Err(e) => return failed(Task::MaxActivations, during, e),
        };
        let layer = match self.classifier.as_ref().map(|c| c.layer(&layer)) {
            Some(Ok(l)) if l.channels().is_some() => l,
            Some(Ok(l)) => {
                return failed(
                    Task::MaxActivations,
                    during,
                    format!("'{}' has no channel axis", l.name),
                );
            }
            Some(Err(e)) => return failed(Task::MaxActivations, during, e),
            None => return failed(Task::MaxActivations, during, "open a model first"),
        };
        self.queue(Job::MaxActivations(Box::new(MaxActivationsJob::new(
            id, layer, preprocess, items, k,
        ))))
    }

    /// Whether a background job has work left.
    pub fn has_job(&self) -> bool {
        !self.jobs.is_empty() || !self.second.jobs.is_empty()
    }

    /// Stops every background job (the second model's too).
    pub fn cancel(&mut self) -> Vec<Reply> {
        self.jobs
            .drain(..)
            .chain(self.second.jobs.drain(..))
            .map(|j| (Response::Cancelled { id: j.id() }, None))
            .collect()
    }

    /// Advances the first background job by one step (the first model's, then the second's):
    /// its progress, or its result when done.
    pub async fn step(&mut self) -> Option<Reply> {
        if !self.jobs.is_empty() || self.second.jobs.is_empty() {
            return self.step_queue().await;
        }
        self.swap_models();
        let reply = self.step_queue().await;
        self.swap_models();
        reply
    }

    async fn step_queue(&mut self) -> Option<Reply> {
        let job = self.jobs.front_mut()?;
        let id = job.id();
        let Some(classifier) = &self.classifier else {
            let (task, during) = (job.kind(), job.during());
            self.jobs.clear();
            return Some(failed(task, during, "the model was closed"));
        };
        let source = self
            .dataset
            .as_deref_mut()
            .map(|s| s as &mut dyn ImageSource);
        match job.step(classifier, source, self.backend, now_ms()).await {
            Ok(Step::Progress { task, done, total }) => Some(progress(id, &task, done, total)),
            Ok(Step::Partial(response, bytes)) => Some((*response, bytes)),
            Ok(Step::Done(response, bytes)) => {
                self.jobs.pop_front();
                Some((*response, bytes))
            }
            Err(e) => {
                let (task, during) = (job.kind(), job.during());
                self.jobs.pop_front();
                Some(failed(task, during, e))
            }
        }
    }

    pub(super) fn read_images(
        &mut self,
        id: u64,
        paths: Vec<String>,
        purpose: ImagePurpose,
    ) -> Reply {
        let Some(source) = &mut self.dataset else {
            return failed(
                Task::Images,
                "reading images",
                "open a folder of images first",
            );
        };
        let mut bytes = Vec::new();
        let mut lens = Vec::with_capacity(paths.len());
        for path in &paths {
            match source.read(path) {
                Ok(b) => {
                    lens.push(b.len());
                    bytes.extend(b);
                }
                Err(e) => return failed(Task::Images, "reading images", e),
            }
        }
        (
            Response::Images {
                id,
                paths,
                lens,
                purpose,
            },
            Some(bytes),
        )
    }
}

/// Cuts the concatenated bytes of a picked folder back into its files.
fn split_files(list: FileSizes, bytes: Vec<u8>) -> Result<Vec<(String, Vec<u8>)>, String> {
    let total: usize = list.iter().map(|(_, n)| n).sum();
    if total != bytes.len() {
        return Err(format!(
            "the files' sizes add up to {total} bytes but {} arrived",
            bytes.len()
        ));
    }
    let mut rest = bytes.as_slice();
    Ok(list
        .into_iter()
        .map(|(path, n)| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            (path, head.to_vec())
        })
        .collect())
}
