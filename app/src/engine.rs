//! The worker's state: the chosen device, the loaded model, its labels. Handles one request at a
//! time and answers with [`Response`]s; every failure becomes one `Failed` message, and the state
//! stays usable (a bad model does not unload the good one).

use explain_core::explain::{Method, Target, map_chw};
use explain_core::metrics::faithfulness;
use explain_core::model::{hwc_to_chw, parse_labels};
use explain_core::onnx::FloatValue;
use explain_core::render::{ChannelReduce, normalise, reduce_channels};
use explain_core::{Classifier, Device, Layout};

use std::collections::BTreeSet;

use std::collections::VecDeque;

use explain_core::data::{FileSet, ImageSource, Item, Preprocess, ZipDataset};
use explain_core::embed::tsne::TsneSettings;

use explain_core::features::activations::{channel_maps, histogram};
use explain_core::features::deep_dream::{DeepDream, deep_dream, grey_start};

use crate::jobs::{ClassMapping, EvaluationJob, Job, MaxActivationsJob, Step, TsneJob};

use crate::protocol::{
    ActivationsResult, Backend, BackendChoice, DatasetSummary, DreamResult, ExplainMethod,
    ExplainPart, ExplanationResult, FileSizes, ImagePurpose, ModelSummary, PredictionResult,
    Request, Response, Shard, bytes_f32, f32_bytes,
};

/// The last predicted image, kept for explanations.
struct CurrentImage {
    input: FloatValue,
    top: usize,
}

/// A response and the bytes that travel with it.
pub type Reply = (Response, Option<Vec<u8>>);

pub struct Engine {
    backend: Backend,
    device: Device,
    /// The WebGPU device once initialised (Burn's runtime can be initialised only once).
    webgpu: Option<Device>,
    model: Option<(String, Vec<u8>, Option<[usize; 2]>)>,
    classifier: Option<Classifier>,
    labels_text: Option<String>,
    /// Whether the labels text names this model's classes (then folders are matched by name).
    labels_applied: bool,
    current: Option<CurrentImage>,
    dataset: Option<Box<dyn ImageSource>>,
    /// Dataset jobs (evaluation, t-SNE), advanced a step at a time between requests.
    jobs: VecDeque<Job>,
    /// Sends progress while a request runs in one go (an explanation, a dream).
    notify: Box<dyn Fn(Reply)>,
}

impl Default for Engine {
    fn default() -> Self {
        Self {
            backend: Backend::Cpu,
            device: Device::flex(),
            webgpu: None,
            model: None,
            classifier: None,
            labels_text: None,
            labels_applied: false,
            current: None,
            dataset: None,
            jobs: VecDeque::new(),
            notify: Box::new(|_| {}),
        }
    }
}

fn failed(during: &str, message: impl ToString) -> Reply {
    (
        Response::Failed {
            during: during.to_string(),
            message: message.to_string(),
        },
        None,
    )
}

impl Engine {
    /// Where progress of one-go requests goes (the worker posts it to the page at once).
    pub fn set_notify(&mut self, notify: Box<dyn Fn(Reply)>) {
        self.notify = notify;
    }

    pub async fn handle(&mut self, request: Request, bytes: Option<Vec<u8>>) -> Vec<Reply> {
        match request {
            Request::SetBackend(choice) => self.set_backend(choice).await,
            Request::LoadModel { name, size } => match bytes {
                Some(bytes) => vec![self.load_model(name, bytes, size)],
                None => vec![failed("opening the model", "no file data arrived")],
            },
            Request::SetLabels { text } => vec![self.set_labels(text)],
            Request::Predict {
                id,
                name,
                preprocess,
            } => match bytes {
                Some(bytes) => vec![self.predict(id, name, &bytes, preprocess).await],
                None => vec![failed("reading the image", "no file data arrived")],
            },
            Request::Explain {
                id,
                method,
                target,
                layer,
                probability,
                sum_channels,
                part,
            } => {
                let score = if probability {
                    explain_core::Score::Probability
                } else {
                    explain_core::Score::Logit
                };
                let settings = ExplainSettings {
                    method,
                    target,
                    layer,
                    score,
                    sum_channels,
                };
                vec![self.explain(id, settings, part, bytes).await]
            }
            Request::LoadDataset { name, files } => match bytes {
                Some(bytes) => vec![self.load_dataset(name, files, bytes)],
                None => vec![failed("opening the images", "no file data arrived")],
            },
            Request::Evaluate {
                id,
                preprocess,
                shard,
            } => vec![self.start_evaluation(id, preprocess, shard)],
            Request::ReadImages { id, paths, purpose } => {
                vec![self.read_images(id, paths, purpose)]
            }
            Request::Cancel => self.cancel(),
            Request::Activations { id, layer } => vec![self.activations(id, layer).await],
            Request::MaxActivations {
                id,
                layer,
                preprocess,
                k,
            } => vec![self.start_max_activations(id, layer, preprocess, k)],
            Request::DeepDream {
                id,
                layer,
                channel,
                preprocess,
                settings,
            } => vec![self.dream(id, layer, channel, preprocess, settings).await],
            Request::Tsne {
                id,
                layer,
                preprocess,
                perplexity,
                seed,
                every,
                classes,
            } => {
                let settings = TsneSettings {
                    perplexity,
                    seed,
                    ..TsneSettings::default()
                };
                vec![self.start_tsne(id, layer, preprocess, settings, every, classes)]
            }
        }
    }

    async fn set_backend(&mut self, choice: BackendChoice) -> Vec<Reply> {
        let available = webgpu_offered();
        let mut note = None;
        let want_gpu = match choice {
            BackendChoice::Cpu => false,
            BackendChoice::WebGpu => true,
            // A software adapter (SwiftShader, llvmpipe: what a browser offers without a GPU
            // driver) is ~20x slower than the CPU backend here: Auto never takes one.
            BackendChoice::Auto if available => match software_adapter().await {
                Some(name) => {
                    note = Some(format!(
                        "this browser's WebGPU runs in software ({name}), slower than the CPU: \
                         using the CPU (choose WebGPU to use it anyway)"
                    ));
                    false
                }
                None => true,
            },
            BackendChoice::Auto => false,
        };
        let (backend, device) = if want_gpu {
            match self.webgpu_device().await {
                Ok(device) => (Backend::WebGpu, device),
                Err(reason) => {
                    note = Some(format!("WebGPU is not available ({reason}); using the CPU"));
                    (Backend::Cpu, Device::flex())
                }
            }
        } else {
            (Backend::Cpu, Device::flex())
        };
        let changed = backend != self.backend;
        self.backend = backend;
        self.device = device;
        let mut replies = vec![(
            Response::Backend {
                active: backend,
                webgpu_available: available || self.webgpu.is_some(),
                note,
            },
            None,
        )];
        // Weights live on the device: re-import the model for the new one.
        if changed && let Some((name, bytes, size)) = self.model.take() {
            replies.push(self.load_model(name, bytes, size));
        }
        replies
    }

    async fn webgpu_device(&mut self) -> Result<Device, String> {
        if let Some(device) = &self.webgpu {
            return Ok(device.clone());
        }
        let device = init_webgpu().await?;
        self.webgpu = Some(device.clone());
        Ok(device)
    }

    fn load_model(&mut self, name: String, bytes: Vec<u8>, size: Option<[usize; 2]>) -> Reply {
        let mut classifier = match Classifier::from_bytes_at(&bytes, &self.device, size) {
            Ok(c) => c,
            Err(explain_core::Error::NeedsSize(message)) => {
                return (Response::NeedsSize { name, message }, None);
            }
            Err(e) => return failed(&format!("opening the model '{name}'"), e),
        };
        // Labels given earlier still apply when they fit the new model.
        if let Some(text) = &self.labels_text
            && let Ok(labels) = parse_labels(text)
        {
            // Labels of another model (a different class count) are simply not applied.
            self.labels_applied = classifier.set_labels(labels).is_ok();
        } else {
            self.labels_applied = false;
        }
        let input = classifier.input().clone();
        let summary = ModelSummary {
            name: name.clone(),
            suggested: explain_core::data::Preprocess::unit_range(&input),
            input,
            num_classes: classifier.num_classes(),
            labels: classifier.labels().to_vec(),
            nodes: classifier.graph().node_count(),
            layers: classifier.layer_table(),
        };
        self.classifier = Some(classifier);
        self.current = None;
        // Their results would mix two models: the page asks again.
        self.jobs.clear();
        self.model = Some((name, bytes, size));
        (Response::ModelLoaded(summary), None)
    }

    fn set_labels(&mut self, text: String) -> Reply {
        let labels = match parse_labels(&text) {
            Ok(l) => l,
            Err(e) => return failed("reading the labels", e),
        };
        if let Some(classifier) = &mut self.classifier
            && let Err(e) = classifier.set_labels(labels.clone())
        {
            return failed("reading the labels", e);
        }
        self.labels_text = Some(text);
        self.labels_applied = self.classifier.is_some();
        (Response::Labels(labels), None)
    }

    async fn predict(
        &mut self,
        id: u64,
        name: String,
        bytes: &[u8],
        preprocess: explain_core::data::Preprocess,
    ) -> Reply {
        let during = format!("classifying '{name}'");
        let Some(classifier) = &self.classifier else {
            return failed(&during, "open a model first");
        };
        if let Err(e) = preprocess.check_fits(classifier.input()) {
            return failed(&during, e);
        }
        let prepared = match preprocess.prepare_bytes(bytes, &name) {
            Ok(p) => p,
            Err(e) => return failed(&during, e),
        };
        let start = now_ms();
        let batch = match classifier.batch(prepared.data, 1) {
            Ok(b) => b,
            Err(e) => return failed(&during, e),
        };
        let result = async { classifier.logits(batch.clone())?.to_vec_async().await }.await;
        let forward_ms = now_ms() - start;
        let logits = match result {
            Ok(l) => l,
            Err(e) => return failed(&during, e),
        };
        let prediction = explain_core::model::prediction(&logits, classifier.labels(), 5);
        self.current = Some(CurrentImage {
            input: batch,
            top: prediction.top.first().map_or(0, |c| c.class),
        });
        (
            Response::Prediction(PredictionResult {
                id,
                name,
                width: preprocess.width,
                height: preprocess.height,
                prediction,
                notes: prepared.notes,
                forward_ms,
                backend: self.backend,
            }),
            Some(prepared.rgba),
        )
    }
}

impl Engine {
    fn load_dataset(&mut self, name: String, files: Option<FileSizes>, bytes: Vec<u8>) -> Reply {
        let during = format!("opening the images '{name}'");
        let source: explain_core::Result<Box<dyn ImageSource>> = match files {
            None => ZipDataset::from_bytes(&name, bytes).map(|z| Box::new(z) as _),
            Some(list) => match split_files(list, bytes) {
                Ok(files) => FileSet::new(&name, files).map(|f| Box::new(f) as _),
                Err(e) => return failed(&during, e),
            },
        };
        let source = match source {
            Ok(s) => s,
            Err(e) => return failed(&during, e),
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
        (Response::DatasetLoaded(summary), None)
    }

    /// How the dataset's folders map to the model's classes (by name when labels were given).
    fn class_mapping(&self) -> Result<ClassMapping, String> {
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
    fn job_inputs(&self, preprocess: &Preprocess) -> Result<(ClassMapping, Vec<Item>), String> {
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
    fn queue(&mut self, job: Job) -> Reply {
        self.jobs.retain(|j| !j.same_kind(&job));
        let (id, total, task) = (job.id(), job.size(), job.task());
        self.jobs.push_back(job);
        progress(id, &task, 0, total)
    }

    /// Starts classifying every image of the dataset, or the shard of it this worker was given;
    /// [`Engine::step`] advances it.
    fn start_evaluation(&mut self, id: u64, preprocess: Preprocess, shard: Option<Shard>) -> Reply {
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
                failed("evaluating the images", e)
            }
        }
    }

    fn start_tsne(
        &mut self,
        id: u64,
        layer: String,
        preprocess: Preprocess,
        settings: TsneSettings,
        every: usize,
        classes: Option<Vec<usize>>,
    ) -> Reply {
        let during = "computing the t-SNE map";
        let (mapping, items) = match self.job_inputs(&preprocess) {
            Ok(x) => x,
            Err(e) => return failed(during, e),
        };
        if let Some(classifier) = &self.classifier
            && let Err(e) = classifier.layer(&layer)
        {
            return failed(during, e);
        }
        let items: Vec<Item> = items
            .into_iter()
            .filter(|i| classes.as_ref().is_none_or(|c| c.contains(&i.label)))
            .step_by(every.max(1))
            .collect();
        if items.len() < 4 {
            return failed(
                during,
                format!(
                    "only {} image(s) are selected; include more classes or take every image",
                    items.len()
                ),
            );
        }
        if !(settings.perplexity > 0.0 && settings.perplexity * 3.0 < items.len() as f64) {
            return failed(
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
            settings,
            now_ms(),
        ))))
    }

    fn start_max_activations(
        &mut self,
        id: u64,
        layer: String,
        preprocess: Preprocess,
        k: usize,
    ) -> Reply {
        let during = "finding the most activating images";
        let (_, items) = match self.job_inputs(&preprocess) {
            Ok(x) => x,
            Err(e) => return failed(during, e),
        };
        let layer = match self.classifier.as_ref().map(|c| c.layer(&layer)) {
            Some(Ok(l)) if l.channels().is_some() => l,
            Some(Ok(l)) => return failed(during, format!("'{}' has no channel axis", l.name)),
            Some(Err(e)) => return failed(during, e),
            None => return failed(during, "open a model first"),
        };
        self.queue(Job::MaxActivations(Box::new(MaxActivationsJob::new(
            id, layer, preprocess, items, k,
        ))))
    }

    /// The current image's activations at `layer`: every channel's map and a histogram.
    async fn activations(&mut self, id: u64, layer: String) -> Reply {
        let during = format!("reading the activations of '{layer}'");
        let (Some(classifier), Some(current)) = (&self.classifier, &self.current) else {
            return failed(&during, "open a model and an image first");
        };
        let result = async {
            let info = classifier.layer(&layer)?;
            let taps = classifier.activations(current.input.clone(), &[layer.as_str()])?;
            let values = match taps.first() {
                Some(t) => t.to_vec_async().await?,
                None => Vec::new(),
            };
            let channels = info.channels().unwrap_or(1);
            let all: Vec<usize> = (0..channels).collect();
            let maps = channel_maps(&info, &values, &all)?;
            let bytes = f32_bytes(&maps.maps.concat());
            Ok::<_, explain_core::Error>((
                ActivationsResult {
                    id,
                    layer: layer.clone(),
                    channels,
                    height: maps.height,
                    width: maps.width,
                    histogram: histogram(&values, 40),
                },
                bytes,
            ))
        }
        .await;
        match result {
            Ok((r, bytes)) => (Response::Activations(r), Some(bytes)),
            Err(e) => failed(&during, e),
        }
    }

    /// Deep dream from grey noise; the image comes back as RGBA.
    async fn dream(
        &mut self,
        id: u64,
        layer: String,
        channel: Option<usize>,
        preprocess: Preprocess,
        settings: DeepDream,
    ) -> Reply {
        let during = format!("dreaming '{layer}'");
        let Some(classifier) = &self.classifier else {
            return failed(&during, "open a model first");
        };
        let start = now_ms();
        let result = async {
            preprocess.check_fits(classifier.input())?;
            let x = classifier.batch(grey_start(&preprocess, 0), 1)?;
            let notify = &self.notify;
            let mut report = |done: usize, total: usize| {
                notify(progress(id, "Deep dream", done, total));
                true
            };
            let dreamed = deep_dream(classifier, &layer, channel, &x, &settings, &mut report)?;
            let mut chw = dreamed.to_vec_async().await?;
            if classifier.input().layout == Layout::Nhwc {
                chw = hwc_to_chw(&chw, preprocess.channels);
            }
            Ok::<_, explain_core::Error>(preprocess.to_rgba(&chw))
        }
        .await;
        match result {
            Ok(rgba) => (
                Response::Dream(DreamResult {
                    id,
                    layer,
                    channel,
                    width: preprocess.width,
                    height: preprocess.height,
                    compute_ms: now_ms() - start,
                }),
                Some(rgba),
            ),
            Err(e) => failed(&during, e),
        }
    }

    /// Whether a background job has work left.
    pub fn has_job(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// Stops every background job.
    pub fn cancel(&mut self) -> Vec<Reply> {
        self.jobs
            .drain(..)
            .map(|j| (Response::Cancelled { id: j.id() }, None))
            .collect()
    }

    /// Advances the first background job by one step: its progress, or its result when done.
    pub async fn step(&mut self) -> Option<Reply> {
        let job = self.jobs.front_mut()?;
        let id = job.id();
        let (Some(classifier), Some(source)) = (&self.classifier, &mut self.dataset) else {
            self.jobs.clear();
            return Some(failed("computing", "the model or the images were closed"));
        };
        match job
            .step(classifier, source.as_mut(), self.backend, now_ms())
            .await
        {
            Ok(Step::Progress { task, done, total }) => Some(progress(id, &task, done, total)),
            Ok(Step::Done(response)) => {
                self.jobs.pop_front();
                Some((*response, None))
            }
            Err(e) => {
                let during = job.during();
                self.jobs.pop_front();
                Some(failed(during, e))
            }
        }
    }

    fn read_images(&mut self, id: u64, paths: Vec<String>, purpose: ImagePurpose) -> Reply {
        let Some(source) = &mut self.dataset else {
            return failed("reading images", "open a folder of images first");
        };
        let mut bytes = Vec::new();
        let mut lens = Vec::with_capacity(paths.len());
        for path in &paths {
            match source.read(path) {
                Ok(b) => {
                    lens.push(b.len());
                    bytes.extend(b);
                }
                Err(e) => return failed("reading images", e),
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

fn progress(id: u64, task: &str, done: usize, total: usize) -> Reply {
    (
        Response::Progress {
            id,
            task: task.to_string(),
            done,
            total,
        },
        None,
    )
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

impl Engine {
    /// One explanation of the last predicted image: the map as values in [0, 1] for the page to
    /// colour, the raw map (as `.npy`), and its deletion and insertion scores.
    async fn explain(
        &mut self,
        id: u64,
        settings: ExplainSettings,
        part: ExplainPart,
        bytes: Option<Vec<u8>>,
    ) -> Reply {
        let ExplainSettings {
            method,
            target,
            layer,
            score,
            sum_channels,
        } = settings;
        let during = format!("computing {}", method.label());
        let (Some(classifier), Some(current)) = (&self.classifier, &self.current) else {
            return failed(&during, "open a model and an image first");
        };
        let target = Target {
            class: target.unwrap_or(current.top),
            score,
        };
        let spec = classifier.input().clone();
        let layer = match (method.uses_layer(), layer) {
            (true, None) => classifier.layer_table().gradcam_layer,
            (true, Some(l)) => Some(l),
            (false, _) => None,
        };
        // Occlusion without a mask size takes the middle preset; the result says which.
        let engine_method = method.method(&spec, layer.clone());
        let method = match (method, &engine_method) {
            (ExplainMethod::Occlusion { .. }, Method::Occlusion { settings, .. }) => {
                ExplainMethod::Occlusion {
                    mask: settings.window[1],
                    stride: settings.stride[1],
                }
            }
            (m, _) => m,
        };
        let start = now_ms();
        let image = &current.input;
        let notify = &self.notify;
        let mut report = |done: usize, total: usize| {
            notify(progress(id, method.label(), done, total));
            true
        };
        if let ExplainPart::Share(shard) = part {
            let share = async {
                let part = engine_method.run_part(
                    classifier,
                    image,
                    target,
                    (shard.index, shard.count),
                    &mut report,
                )?;
                part.to_vec_async().await
            };
            return match share.await {
                Ok(values) => (Response::MapPart { id }, Some(f32_bytes(&values))),
                Err(e) => failed(&during, e),
            };
        }
        let result = async {
            let map = match (part, bytes) {
                (ExplainPart::Joined, Some(bytes)) => {
                    let sum = FloatValue::from_vec(
                        bytes_f32(&bytes),
                        &engine_method.part_shape(classifier)?,
                        &classifier.graph().device().clone(),
                    )?;
                    engine_method.finish(classifier, image, sum)?
                }
                _ => engine_method.run(classifier, image, target, &mut report)?,
            };
            let values = map.to_vec_async().await?;
            let compute_ms = now_ms() - start;
            let (chw, channels) = map_chw(&spec, &values, &map.dims())?;
            // One value per pixel: channels summed (signed maps, or when asked) or maxed.
            let reduce = if method.signed() || sum_channels {
                ChannelReduce::Sum
            } else {
                ChannelReduce::Max
            };
            let ranking = reduce_channels(&chw, channels, reduce);
            let (deletion, insertion) =
                faithfulness::deletion_and_insertion(classifier, image, target, &ranking)?;
            let deletion = FloatValue::from_tensor(deletion).to_vec_async().await?;
            let insertion = FloatValue::from_tensor(insertion).to_vec_async().await?;
            let mut bytes = f32_bytes(&normalise(&ranking, method.signed()));
            let values_len = bytes.len();
            bytes.extend(explain_core::npy::write_f32(&values, &map.dims())?);
            Ok::<_, explain_core::Error>((
                ExplanationResult {
                    id,
                    method,
                    target: target.class,
                    target_label: classifier.labels()[target.class].clone(),
                    layer: layer.clone(),
                    width: spec.width,
                    height: spec.height,
                    values_len,
                    deletion_auc: faithfulness::area_under_curve(&deletion),
                    insertion_auc: faithfulness::area_under_curve(&insertion),
                    compute_ms,
                    workers: 1,
                },
                bytes,
            ))
        }
        .await;
        match result {
            Ok((result, bytes)) => (Response::Explanation(result), Some(bytes)),
            Err(e) => failed(&during, e),
        }
    }
}

/// The raw map of one method for one image (class activation maps at the input's size).
/// What an explanation request asks for.
struct ExplainSettings {
    method: ExplainMethod,
    target: Option<usize>,
    layer: Option<String>,
    score: explain_core::Score,
    sum_channels: bool,
}

#[cfg(target_arch = "wasm32")]
fn webgpu_offered() -> bool {
    use wasm_bindgen::JsValue;
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &JsValue::from_str("navigator"))
        .and_then(|nav| js_sys::Reflect::get(&nav, &JsValue::from_str("gpu")))
        .map(|gpu| !gpu.is_undefined() && !gpu.is_null())
        .unwrap_or(false)
}

#[cfg(not(target_arch = "wasm32"))]
fn webgpu_offered() -> bool {
    false
}

/// The name of the browser's WebGPU adapter when it is a software one (the adapter says it is a
/// fallback, or its info names a software rasteriser); `None` for a hardware adapter.
#[cfg(target_arch = "wasm32")]
async fn software_adapter() -> Option<String> {
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    let get = |target: &JsValue, key: &str| Reflect::get(target, &JsValue::from_str(key)).ok();
    let navigator = get(&js_sys::global(), "navigator")?;
    let gpu = get(&navigator, "gpu")?;
    let request: Function = get(&gpu, "requestAdapter")?.dyn_into().ok()?;
    let promise: Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    if adapter.is_null() || adapter.is_undefined() {
        return None;
    }
    let info = get(&adapter, "info").unwrap_or(JsValue::UNDEFINED);
    let flag =
        |target: &JsValue| get(target, "isFallbackAdapter").and_then(|v| v.as_bool()) == Some(true);
    let text: Vec<String> = ["vendor", "architecture", "device", "description"]
        .iter()
        .filter_map(|key| get(&info, key)?.as_string())
        .filter(|t| !t.is_empty())
        .collect();
    let described = text.join(" ");
    let lower = described.to_lowercase();
    let software = [
        "swiftshader",
        "llvmpipe",
        "lavapipe",
        "softpipe",
        "basic render",
        "software",
    ]
    .iter()
    .any(|name| lower.contains(name));
    (flag(&adapter) || flag(&info) || software).then(|| {
        if described.is_empty() {
            "a fallback adapter".to_string()
        } else {
            described
        }
    })
}

#[cfg(not(target_arch = "wasm32"))]
async fn software_adapter() -> Option<String> {
    None
}

#[cfg(target_arch = "wasm32")]
async fn init_webgpu() -> Result<Device, String> {
    if !webgpu_offered() {
        return Err("this browser offers no WebGPU".into());
    }
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| e.to_string())
}

#[cfg(not(target_arch = "wasm32"))]
async fn init_webgpu() -> Result<Device, String> {
    Err("WebGPU exists only in the browser build".into())
}

#[cfg(target_arch = "wasm32")]
fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    js_sys::global()
        .dyn_into::<web_sys::DedicatedWorkerGlobalScope>()
        .ok()
        .and_then(|g| g.performance())
        .map_or(0.0, |p| p.now())
}

#[cfg(not(target_arch = "wasm32"))]
fn now_ms() -> f64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::jobs::DATASET_BATCH;
    use crate::protocol::{EvaluationResult, Response, Shard};

    fn fixture(path: &str) -> Vec<u8> {
        let p = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn load(engine: &mut Engine, name: &str, bytes: Vec<u8>) -> Response {
        let mut replies = block_on(engine.handle(
            Request::LoadModel {
                name: name.into(),
                size: None,
            },
            Some(bytes),
        ));
        replies.remove(0).0
    }

    #[test]
    fn a_bad_model_keeps_the_good_one_loaded() {
        let mut engine = Engine::default();
        let good = load(
            &mut engine,
            "fer.onnx",
            fixture("oracle/models/fer_minixception.onnx"),
        );
        let Response::ModelLoaded(summary) = good else {
            panic!("{good:?}")
        };
        assert_eq!(
            (
                summary.input.channels,
                summary.input.height,
                summary.num_classes
            ),
            (1, 64, 7)
        );

        let bad = load(&mut engine, "bad.onnx", b"nope".to_vec());
        let Response::Failed { during, message } = bad else {
            panic!("{bad:?}")
        };
        assert!(
            during.contains("bad.onnx") && message.contains("ONNX"),
            "{during}: {message}"
        );

        let preprocess = crate::presets::Preset::Symmetric.apply(&summary.input);
        let image = fixture("oracle/cases/fer_astronaut/image.png");
        let request = Request::Predict {
            id: 7,
            name: "image.png".into(),
            preprocess,
        };
        let (reply, rgba) = block_on(engine.handle(request, Some(image))).remove(0);
        let Response::Prediction(result) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(result.id, 7);
        assert_eq!(
            result.prediction.top[0].class, 3,
            "fer_astronaut's oracle top class"
        );
        assert_eq!(rgba.map(|b| b.len()), Some(64 * 64 * 4));
    }

    /// Workers that share a map each answer their share (a part of the map, or Score-CAM's
    /// channel scores); the main worker, given the shares' sum, answers the explanation a single
    /// worker gives. Every method the pool shares is checked, with three workers.
    #[test]
    fn a_map_finished_from_its_shares_equals_the_whole() {
        let mut engine = Engine::default();
        let loaded = load(
            &mut engine,
            "smallcnn.onnx",
            fixture("oracle/models/smallcnn_fashion.onnx"),
        );
        let Response::ModelLoaded(summary) = loaded else {
            panic!("{loaded:?}")
        };
        let predict = Request::Predict {
            id: 2,
            name: "image.png".into(),
            preprocess: crate::presets::Preset::Unit.apply(&summary.input),
        };
        let image = fixture("oracle/cases/fashion_tshirt/image.png");
        block_on(engine.handle(predict, Some(image)));
        let shared: Vec<ExplainMethod> = ExplainMethod::ALL
            .into_iter()
            .map(|m| match m {
                ExplainMethod::Occlusion { .. } => ExplainMethod::Occlusion { mask: 6, stride: 3 },
                m => m,
            })
            .filter(|m| m.shared())
            .collect();
        assert_eq!(shared.len(), 4, "{shared:?}");
        for method in shared {
            let explain = |part| Request::Explain {
                id: 3,
                method,
                target: None,
                layer: None,
                probability: false,
                sum_channels: false,
                part,
            };
            let (reply, whole_bytes) =
                block_on(engine.handle(explain(ExplainPart::Whole), None)).remove(0);
            let Response::Explanation(whole) = reply else {
                panic!("{method:?}: {reply:?}")
            };
            let count = 3;
            let mut sum: Vec<f32> = Vec::new();
            for index in 0..count {
                let share = ExplainPart::Share(Shard { index, count });
                let (reply, bytes) = block_on(engine.handle(explain(share), None)).remove(0);
                assert!(matches!(reply, Response::MapPart { id: 3 }), "{reply:?}");
                let values: Vec<f32> = bytes
                    .expect("share")
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                if sum.is_empty() {
                    sum = vec![0.0; values.len()];
                }
                assert_eq!(values.len(), sum.len(), "{method:?}");
                sum.iter_mut().zip(&values).for_each(|(s, v)| *s += v);
            }
            let joined: Vec<u8> = sum.iter().flat_map(|v| v.to_le_bytes()).collect();
            let (reply, joined_bytes) =
                block_on(engine.handle(explain(ExplainPart::Joined), Some(joined))).remove(0);
            let Response::Explanation(finished) = reply else {
                panic!("{method:?}: {reply:?}")
            };
            assert_eq!(finished.target, whole.target);
            let read = |bytes: Option<Vec<u8>>, at: usize| {
                explain_core::npy::read_f32(&bytes.expect("bytes")[at..], "map")
                    .expect("npy")
                    .data
            };
            let (a, b) = (
                read(whole_bytes, whole.values_len),
                read(joined_bytes, finished.values_len),
            );
            assert_eq!(a.len(), b.len(), "{method:?}");
            let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-5 * scale,
                "{method:?}: max |diff| {worst} of {scale}"
            );
            assert!(
                (finished.deletion_auc - whole.deletion_auc).abs() < 1e-4,
                "{method:?}"
            );
        }
    }

    /// The Explain view's request: Grad-CAM of the predicted image equals pytorch-grad-cam's map
    /// (the oracle's), and the overlay covers the image.
    #[test]
    fn explaining_the_current_image_gives_pytorch_grad_cams_map() {
        let mut engine = Engine::default();
        let loaded = load(
            &mut engine,
            "smallcnn.onnx",
            fixture("oracle/models/smallcnn_fashion.onnx"),
        );
        let Response::ModelLoaded(summary) = loaded else {
            panic!("{loaded:?}")
        };
        assert_eq!(
            summary.layers.gradcam_layer.as_deref(),
            Some("/relu2/Relu_output_0")
        );
        let explain = Request::Explain {
            id: 1,
            method: ExplainMethod::GradCam,
            target: None,
            layer: None,
            probability: false,
            sum_channels: false,
            part: ExplainPart::Whole,
        };
        let (early, _) = block_on(engine.handle(explain.clone(), None)).remove(0);
        assert!(
            matches!(early, Response::Failed { .. }),
            "no image yet: {early:?}"
        );
        let preprocess = crate::presets::Preset::Unit.apply(&summary.input);
        let image = fixture("oracle/cases/fashion_tshirt/image.png");
        let predict = Request::Predict {
            id: 2,
            name: "image.png".into(),
            preprocess,
        };
        block_on(engine.handle(predict, Some(image)));
        let (reply, bytes) = block_on(engine.handle(explain, None)).remove(0);
        let Response::Explanation(result) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(
            (result.target, result.layer.as_deref()),
            (0, Some("/relu2/Relu_output_0"))
        );
        let bytes = bytes.expect("bytes");
        assert_eq!(result.values_len, 28 * 28 * 4);
        assert!(
            (0.0..=1.0).contains(&result.deletion_auc)
                && (0.0..=1.0).contains(&result.insertion_auc)
                && result.deletion_auc < result.insertion_auc,
            "a faithful map: deletion {} < insertion {}",
            result.deletion_auc,
            result.insertion_auc
        );
        let map = explain_core::npy::read_f32(&bytes[result.values_len..], "map").expect("npy");
        let expected = explain_core::npy::read_f32(
            &fixture("oracle/cases/fashion_tshirt/gradcam_pgc.npy"),
            "gradcam_pgc.npy",
        )
        .expect("npy");
        assert_eq!(map.shape, expected.shape);
        let worst = map
            .data
            .iter()
            .zip(&expected.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-3, "max |diff| {worst}");
    }

    fn demo(file: &str) -> Vec<u8> {
        let p = format!("{}/../public/demo/{file}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// The demo model and labels, loaded.
    fn demo_engine() -> (Engine, crate::protocol::ModelSummary) {
        let mut engine = Engine::default();
        let labels = String::from_utf8(demo("labels.txt")).expect("utf-8");
        block_on(engine.handle(Request::SetLabels { text: labels }, None));
        let Response::ModelLoaded(summary) =
            load(&mut engine, "demo.onnx", demo("fashion-cnn.onnx"))
        else {
            panic!("the demo model loads")
        };
        (engine, summary)
    }

    fn open_dataset(
        engine: &mut Engine,
        files: Option<crate::protocol::FileSizes>,
        bytes: Vec<u8>,
    ) {
        let request = Request::LoadDataset {
            name: "sample".into(),
            files,
        };
        let (reply, _) = block_on(engine.handle(request, Some(bytes))).remove(0);
        assert!(matches!(reply, Response::DatasetLoaded(_)), "{reply:?}");
    }

    /// Runs an evaluation to its end; returns the result and the progress counts seen.
    fn evaluate(
        engine: &mut Engine,
        id: u64,
        preprocess: &Preprocess,
    ) -> (EvaluationResult, Vec<usize>) {
        evaluate_shard(engine, id, preprocess, None)
    }

    fn evaluate_shard(
        engine: &mut Engine,
        id: u64,
        preprocess: &Preprocess,
        shard: Option<Shard>,
    ) -> (EvaluationResult, Vec<usize>) {
        let request = Request::Evaluate {
            id,
            preprocess: preprocess.clone(),
            shard,
        };
        let mut seen = Vec::new();
        let mut replies = block_on(engine.handle(request, None));
        loop {
            match replies.pop().map(|r| r.0) {
                Some(Response::Progress { done, .. }) => seen.push(done),
                Some(Response::Evaluated(result)) => return (result, seen),
                other => panic!("{other:?}"),
            }
            replies = block_on(engine.step()).into_iter().collect();
        }
    }

    /// The demo's images, as a zip and as the files of a picked folder, evaluate alike, batch
    /// by batch with progress, to the demo network's accuracy.
    #[test]
    fn a_zip_and_a_picked_folder_of_the_same_images_evaluate_alike() {
        let (mut engine, summary) = demo_engine();
        let preprocess = crate::presets::Preset::Unit.apply(&summary.input);
        let zip = demo("fashion-mnist-sample.zip");
        open_dataset(&mut engine, None, zip.clone());
        let (from_zip, progress) = evaluate(&mut engine, 1, &preprocess);
        let n = from_zip.evaluation.files.len();
        assert_eq!(n, 2000);
        assert_eq!(progress.len(), n.div_ceil(DATASET_BATCH), "{progress:?}");
        assert!(progress.windows(2).all(|w| w[0] < w[1]) && progress[0] == 0);
        assert!(
            from_zip.evaluation.accuracy() > 0.9,
            "{}",
            from_zip.evaluation.accuracy()
        );
        assert_eq!(
            from_zip.evaluation.classes[6], "Shirt",
            "classes named by the labels"
        );
        assert!(!engine.has_job());

        // The same files, as a browser hands over a picked folder (wrapped in its folder).
        let mut archive = ZipDataset::from_bytes("sample", zip).expect("zip");
        let items = archive.dataset.items.clone();
        let mut list = Vec::new();
        let mut bytes = Vec::new();
        for item in &items {
            let b = archive.read(&item.path).expect("entry");
            list.push((format!("picked/{}", item.path), b.len()));
            bytes.extend(b);
        }
        open_dataset(&mut engine, Some(list), bytes);
        let (from_folder, _) = evaluate(&mut engine, 2, &preprocess);
        assert_eq!(from_folder.evaluation, from_zip.evaluation);

        // Three workers' shards, joined in order, are the one worker's evaluation.
        let parts = (0..3)
            .map(|index| {
                let shard = Some(Shard { index, count: 3 });
                evaluate_shard(&mut engine, 3 + index as u64, &preprocess, shard).0
            })
            .collect();
        let joined = EvaluationResult::join(parts).expect("parts");
        assert_eq!(joined.evaluation, from_zip.evaluation);
    }

    #[test]
    fn an_evaluation_can_be_cancelled_and_a_new_model_drops_it() {
        let (mut engine, summary) = demo_engine();
        let preprocess = crate::presets::Preset::Unit.apply(&summary.input);
        open_dataset(&mut engine, None, demo("fashion-mnist-sample.zip"));
        let start = Request::Evaluate {
            id: 5,
            preprocess: preprocess.clone(),
            shard: None,
        };
        block_on(engine.handle(start.clone(), None));
        let (reply, _) = block_on(engine.step()).expect("a batch");
        assert!(
            matches!(
                reply,
                Response::Progress {
                    id: 5,
                    done: 64,
                    ..
                }
            ),
            "{reply:?}"
        );
        let (reply, _) = block_on(engine.handle(Request::Cancel, None)).remove(0);
        assert!(matches!(reply, Response::Cancelled { id: 5 }), "{reply:?}");
        assert!(!engine.has_job() && block_on(engine.step()).is_none());

        block_on(engine.handle(start, None));
        assert!(engine.has_job());
        load(&mut engine, "demo.onnx", demo("fashion-cnn.onnx"));
        assert!(!engine.has_job(), "results of two models must not mix");
    }

    /// Folders named otherwise than the labels, but as many: taken in sorted order, and the
    /// user is told. Without labels, the folder names name the classes.
    #[test]
    fn folders_that_do_not_match_the_labels_are_taken_in_order_with_a_note() {
        let (mut engine, summary) = demo_engine();
        let preprocess = crate::presets::Preset::Unit.apply(&summary.input);
        let image = fixture("oracle/cases/fashion_tshirt/image.png");
        let mut list = Vec::new();
        let mut bytes = Vec::new();
        for k in 0..10 {
            list.push((format!("class{k}/a.png"), image.len()));
            bytes.extend(&image);
        }
        open_dataset(&mut engine, Some(list.clone()), bytes.clone());
        let (result, _) = evaluate(&mut engine, 1, &preprocess);
        assert!(
            result
                .notes
                .iter()
                .any(|n| n.contains("taken as classes 0 to 9")),
            "{:?}",
            result.notes
        );
        assert_eq!(result.evaluation.files.len(), 10);

        let mut engine = Engine::default();
        load(&mut engine, "demo.onnx", demo("fashion-cnn.onnx"));
        open_dataset(&mut engine, Some(list), bytes);
        let (result, _) = evaluate(&mut engine, 1, &preprocess);
        assert_eq!(result.evaluation.classes[3], "class3");
        assert!(result.notes.is_empty(), "{:?}", result.notes);
    }

    /// The t-SNE view's job on the demo: every 4th image of the included classes, embedded
    /// from the penultimate layer; classes form neighbourhoods (most points' nearest neighbour
    /// has their class), and a bad perplexity is refused with the number that fits.
    #[test]
    fn a_tsne_map_of_the_demo_keeps_classes_together() {
        let (mut engine, summary) = demo_engine();
        let preprocess = crate::presets::Preset::Unit.apply(&summary.input);
        open_dataset(&mut engine, None, demo("fashion-mnist-sample.zip"));
        let request = |perplexity: f64| Request::Tsne {
            id: 9,
            layer: "fc1/relu".into(),
            preprocess: preprocess.clone(),
            perplexity,
            seed: 0,
            every: 4,
            classes: Some((0..8).collect()),
        };
        let (bad, _) = block_on(engine.handle(request(200.0), None)).remove(0);
        let Response::Failed { message, .. } = bad else {
            panic!("{bad:?}")
        };
        assert!(message.contains("400 selected images"), "{message}");

        block_on(engine.handle(request(30.0), None));
        let mut tasks = BTreeSet::new();
        let result = loop {
            match block_on(engine.step()).map(|r| r.0) {
                Some(Response::Progress { task, .. }) => {
                    tasks.insert(task);
                }
                Some(Response::Tsne(result)) => break result,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(tasks.len(), 2, "activations, then t-SNE: {tasks:?}");
        assert_eq!(result.points.len(), 400);
        assert!(result.truth.iter().all(|&t| t < 8));
        let agree = (0..400)
            .filter(|&i| {
                let d = |j: usize| {
                    let (a, b) = (result.points[i], result.points[j]);
                    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
                };
                let nearest = (0..400)
                    .filter(|&j| j != i)
                    .min_by(|&a, &b| d(a).total_cmp(&d(b)));
                nearest.is_some_and(|j| result.truth[j] == result.truth[i])
            })
            .count();
        assert!(
            agree > 320,
            "{agree} of 400 points have a nearest neighbour of their class"
        );
    }

    /// The Features view's requests on the demo: the top images of a channel (found batch by
    /// batch over the dataset) have, when opened one at a time, that channel mean; the
    /// activations come with every channel and a histogram of all values; a dream comes back as
    /// an image of the input's size.
    #[test]
    fn features_of_the_demo_agree_between_the_dataset_pass_and_one_image() {
        let (mut engine, summary) = demo_engine();
        let preprocess = crate::presets::Preset::Unit.apply(&summary.input);
        let zip = demo("fashion-mnist-sample.zip");
        open_dataset(&mut engine, None, zip.clone());
        let request = Request::MaxActivations {
            id: 3,
            layer: "block2/relu".into(),
            preprocess: preprocess.clone(),
            k: 5,
        };
        block_on(engine.handle(request, None));
        let best = loop {
            match block_on(engine.step()).map(|r| r.0) {
                Some(Response::Progress { .. }) => {}
                Some(Response::MaxActivations(r)) => break r.best,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(best.len(), 64, "one list per channel");
        assert!(
            best.iter()
                .all(|l| l.len() == 5 && l.windows(2).all(|w| w[0].0 >= w[1].0))
        );

        let channel = 7;
        let (score, path) = best[channel][0].clone();
        let mut archive = ZipDataset::from_bytes("sample", zip).expect("zip");
        let image = archive.read(&path).expect("image");
        let predict = Request::Predict {
            id: 4,
            name: path.clone(),
            preprocess,
        };
        block_on(engine.handle(predict, Some(image)));
        let (reply, bytes) = block_on(engine.handle(
            Request::Activations {
                id: 5,
                layer: "block2/relu".into(),
            },
            None,
        ))
        .remove(0);
        let Response::Activations(acts) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!((acts.channels, acts.height, acts.width), (64, 14, 14));
        assert_eq!(acts.histogram.counts.iter().sum::<usize>(), 64 * 14 * 14);
        let values: Vec<f32> = bytes
            .expect("maps")
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let area = 14 * 14;
        let mean = values[channel * area..(channel + 1) * area]
            .iter()
            .sum::<f32>()
            / area as f32;
        assert!(
            (mean - score).abs() <= 1e-4 * score.abs().max(1.0),
            "{mean} vs {score}"
        );

        let dream = Request::DeepDream {
            id: 6,
            layer: "block2/relu".into(),
            channel: Some(channel),
            preprocess: crate::presets::Preset::Unit.apply(&summary.input),
            settings: DeepDream {
                iterations: 5,
                levels: 2,
                ..DeepDream::default()
            },
        };
        let (reply, rgba) = block_on(engine.handle(dream, None)).remove(0);
        assert!(matches!(reply, Response::Dream(_)), "{reply:?}");
        let rgba = rgba.expect("image");
        assert_eq!(rgba.len(), 28 * 28 * 4);
        assert!(
            rgba.chunks(4).any(|p| p[0] != rgba[0]),
            "the dream is not flat"
        );
    }

    /// Occlusion takes the mask and stride the page shows; without them, the middle preset,
    /// and the answer says which were used.
    #[test]
    fn occlusion_uses_the_mask_and_stride_asked_for() {
        let (mut engine, summary) = demo_engine();
        let preprocess = crate::presets::Preset::Unit.apply(&summary.input);
        let image = fixture("oracle/cases/fashion_tshirt/image.png");
        let predict = Request::Predict {
            id: 1,
            name: "t.png".into(),
            preprocess,
        };
        block_on(engine.handle(predict, Some(image)));
        let explain = |mask, stride| Request::Explain {
            id: 2,
            method: ExplainMethod::Occlusion { mask, stride },
            target: None,
            layer: None,
            probability: false,
            sum_channels: false,
            part: ExplainPart::Whole,
        };
        for ((mask, stride), used) in [((0, 0), (4, 2)), ((7, 7), (7, 7))] {
            let (reply, bytes) = block_on(engine.handle(explain(mask, stride), None)).remove(0);
            let Response::Explanation(result) = reply else {
                panic!("{reply:?}")
            };
            assert_eq!(
                result.method,
                ExplainMethod::Occlusion {
                    mask: used.0,
                    stride: used.1
                }
            );
            let map =
                explain_core::npy::read_f32(&bytes.expect("bytes")[result.values_len..], "map")
                    .expect("npy");
            assert_eq!(map.data.len(), 28 * 28);
        }
    }

    #[test]
    fn predicting_without_a_model_says_what_to_do() {
        let mut engine = Engine::default();
        let spec = explain_core::InputSpec {
            name: "x".into(),
            channels: 1,
            height: 2,
            width: 2,
            layout: explain_core::Layout::Nchw,
            any_size: false,
        };
        let preprocess = crate::presets::Preset::Unit.apply(&spec);
        let request = Request::Predict {
            id: 1,
            name: "a.png".into(),
            preprocess,
        };
        let (reply, _) = block_on(engine.handle(request, Some(vec![1, 2, 3]))).remove(0);
        let Response::Failed { message, .. } = reply else {
            panic!("{reply:?}")
        };
        assert!(message.contains("open a model first"));
    }
}
