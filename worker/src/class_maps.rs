//! Explanations of many dataset images as a background job (a confusion cell, a class,
//! everything predicted as one class): one image per step, each map sent as it is made, then
//! their mean map and mean deletion and insertion areas (explain-core's
//! `explain/class_average.rs`, as `unpic explain-class` computes them).

use std::collections::HashMap;

use explain_core::data::{ImageSource, Item, Preprocess, prepare_batch};
use explain_core::explain::class_average::ClassMaps;
use explain_core::explain::{Method, Silent, Target};
use explain_core::metrics::faithfulness::{area_under_curve, score_map};
use explain_core::npy::write_f32;
use explain_core::onnx::FloatValue;
use explain_core::render::normalise;
use explain_core::{Classifier, Result, Score};

use crate::jobs::{Job, Step};
use crate::{Engine, Reply, failed};
use unpic_app::protocol::{
    ClassMapsResult, ExplainMethod, ImageMapResult, Response, Task, f32_bytes,
};

/// The most images one job explains: a gallery's worth.
pub const MAX_IMAGES: usize = 500;

/// A job under way.
pub struct ClassMapsJob {
    pub id: u64,
    method: ExplainMethod,
    engine_method: Method,
    layer: Option<String>,
    preprocess: Preprocess,
    /// Each image and the class to explain in it.
    images: Vec<(Item, usize)>,
    next: usize,
    maps: ClassMaps,
    skipped: Vec<String>,
}

impl ClassMapsJob {
    pub fn task(&self) -> String {
        format!("Explaining the images with {}", self.method.label())
    }

    pub fn total(&self) -> usize {
        self.images.len()
    }

    /// Explains the next image (its map is the step's answer); after the last, the summary.
    pub async fn step(
        &mut self,
        classifier: &Classifier,
        source: &mut dyn ImageSource,
    ) -> Result<Step> {
        let Some((item, class)) = self.images.get(self.next).cloned() else {
            return Ok(self.finish());
        };
        self.next += 1;
        let batch = prepare_batch(source, std::slice::from_ref(&item), &self.preprocess)?;
        if batch.kept.is_empty() {
            self.skipped
                .extend(batch.skipped.into_iter().map(|s| s.reason));
            return Ok(Step::Progress {
                task: self.task(),
                done: self.next,
                total: self.images.len(),
            });
        }
        let target = Target {
            class,
            score: Score::Logit,
        };
        let image = classifier.batch(batch.data.clone(), 1)?;
        let map = self
            .engine_method
            .run(classifier, &image, target, &mut Silent)?;
        let dims = map.dims();
        let values = map.to_vec_async().await?;
        let signed = self.method.signed();
        let (ranking, deletion, insertion) =
            score_map(classifier, &image, target, &values, &dims, signed)?;
        let deletion = area_under_curve(&FloatValue::from_tensor(deletion).to_vec_async().await?);
        let insertion = area_under_curve(&FloatValue::from_tensor(insertion).to_vec_async().await?);
        let shown = normalise(&ranking, signed);
        self.maps
            .push(&values, &dims, &shown, class, (deletion, insertion))?;
        let mut bytes = self.preprocess.to_rgba(&batch.data);
        bytes.extend(f32_bytes(&shown));
        Ok(Step::Partial(
            Box::new(Response::ImageMap(ImageMapResult {
                id: self.id,
                index: self.next - 1,
                path: item.path,
                target: class,
                width: self.preprocess.width,
                height: self.preprocess.height,
                deletion_auc: deletion,
                insertion_auc: insertion,
                done: self.next,
                total: self.images.len(),
            })),
            Some(bytes),
        ))
    }

    fn finish(&mut self) -> Step {
        let maps = std::mem::take(&mut self.maps);
        let mut bytes = f32_bytes(&maps.shown.mean());
        let values_len = bytes.len();
        if maps.count() > 0
            && let Ok(npy) = write_f32(&maps.raw.mean(), maps.raw.dims())
        {
            bytes.extend(npy);
        }
        Step::Done(
            Box::new(Response::ClassMaps(ClassMapsResult {
                id: self.id,
                method: self.method,
                layer: self.layer.clone(),
                width: self.preprocess.width,
                height: self.preprocess.height,
                images: maps.count(),
                dims: maps.raw.dims().to_vec(),
                values_len,
                faithfulness: maps.faithfulness(),
                skipped: std::mem::take(&mut self.skipped),
            })),
            Some(bytes),
        )
    }
}

impl Engine {
    /// Queues the explanation of `images` (dataset paths, each with the class to explain).
    pub(super) fn start_class_maps(
        &mut self,
        id: u64,
        preprocess: Preprocess,
        method: ExplainMethod,
        layer: Option<String>,
        images: Vec<(String, usize)>,
    ) -> Reply {
        let during = format!("computing {} of many images", method.label());
        let (_, items) = match self.job_inputs(&preprocess) {
            Ok(x) => x,
            Err(e) => return failed(Task::ClassMaps, &during, e),
        };
        let Some(classifier) = &self.classifier else {
            return failed(Task::ClassMaps, &during, "open a model first");
        };
        if images.is_empty() || images.len() > MAX_IMAGES {
            return failed(
                Task::ClassMaps,
                &during,
                format!(
                    "{} images were asked for: choose between 1 and {MAX_IMAGES}",
                    images.len()
                ),
            );
        }
        let classes = classifier.num_classes();
        let by_path: HashMap<&str, &Item> = items.iter().map(|i| (i.path.as_str(), i)).collect();
        let mut chosen = Vec::with_capacity(images.len());
        for (path, class) in images {
            let Some(item) = by_path.get(path.as_str()) else {
                return failed(
                    Task::ClassMaps,
                    &during,
                    format!("'{path}' is not an image of the open dataset"),
                );
            };
            if class >= classes {
                return failed(
                    Task::ClassMaps,
                    &during,
                    format!("class {class} does not exist: the model has {classes} classes"),
                );
            }
            chosen.push(((*item).clone(), class));
        }
        let layer = match (method.uses_layer(), layer) {
            (true, None) => classifier.layer_table().gradcam_layer,
            (true, Some(l)) => Some(l),
            (false, _) => None,
        };
        let engine_method = method.method(classifier.input(), layer.clone());
        self.queue(Job::ClassMaps(Box::new(ClassMapsJob {
            id,
            method,
            engine_method,
            layer,
            preprocess,
            images: chosen,
            next: 0,
            maps: ClassMaps::default(),
            skipped: Vec::new(),
        })))
    }
}
