//! Work on one image: its prediction (kept as the current image for explanations), its
//! activations at a layer, and deep dream.

use explain_core::Layout;
use explain_core::data::Preprocess;
use explain_core::features::activations::{channel_maps, histogram};
use explain_core::features::deep_dream::{DeepDream, deep_dream, grey_start};
use explain_core::model::hwc_to_chw;

use crate::platform::now_ms;
use crate::{CurrentImage, Engine, Reply, failed, progress};
use unpic_app::protocol::{
    ActivationsResult, DreamResult, PredictionResult, Response, Task, f32_bytes,
};

impl Engine {
    pub(super) async fn predict(
        &mut self,
        id: u64,
        name: String,
        bytes: &[u8],
        preprocess: explain_core::data::Preprocess,
    ) -> Reply {
        let during = format!("classifying '{name}'");
        let Some(classifier) = &self.classifier else {
            return failed(Task::Prediction, &during, "open a model first");
        };
        if let Err(e) = preprocess.check_fits(classifier.input()) {
            return failed(Task::Prediction, &during, e);
        }
        let prepared = match preprocess.prepare_bytes(bytes, &name) {
            Ok(p) => p,
            Err(e) => return failed(Task::Prediction, &during, e),
        };
        let start = now_ms();
        let batch = match classifier.batch(prepared.data, 1) {
            Ok(b) => b,
            Err(e) => return failed(Task::Prediction, &during, e),
        };
        let result = async { classifier.logits(batch.clone())?.to_vec_async().await }.await;
        let forward_ms = now_ms() - start;
        let logits = match result.and_then(|l| {
            explain_core::model::check_scores(&l, classifier.num_classes(), |_| name.clone())?;
            Ok(l)
        }) {
            Ok(l) => l,
            Err(e) => return failed(Task::Prediction, &during, e),
        };
        let prediction = explain_core::model::prediction(&logits, classifier.labels(), 5);
        self.current = Some(CurrentImage {
            input: batch,
            top: prediction.top.first().map_or(0, |c| c.class),
            scores: prediction.logits.clone(),
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

    /// The current image's activations at `layer`: every channel's map and a histogram.
    pub(super) async fn activations(&mut self, id: u64, layer: String) -> Reply {
        let during = format!("reading the activations of '{layer}'");
        let (Some(classifier), Some(current)) = (&self.classifier, &self.current) else {
            return failed(
                Task::Activations,
                &during,
                "open a model and an image first",
            );
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
            Err(e) => failed(Task::Activations, &during, e),
        }
    }

    /// Deep dream from grey noise; the image comes back as RGBA.
    pub(super) async fn dream(
        &mut self,
        id: u64,
        layer: String,
        channel: Option<usize>,
        preprocess: Preprocess,
        settings: DeepDream,
    ) -> Reply {
        let during = format!("dreaming '{layer}'");
        let Some(classifier) = &self.classifier else {
            return failed(Task::Dream, &during, "open a model first");
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
            Err(e) => failed(Task::Dream, &during, e),
        }
    }
}
