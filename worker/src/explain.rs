//! Explanation maps of the current image: computed whole, or as one worker's share (the page's
//! pool sums the shares) and finished from the sum; each map comes with its deletion and
//! insertion scores.

use explain_core::explain::{Method, Target, map_chw};
use explain_core::metrics::faithfulness;
use explain_core::onnx::FloatValue;
use explain_core::render::{ChannelReduce, normalise, reduce_channels};

use crate::platform::now_ms;
use crate::{Engine, Reply, failed, progress};
use explain_core::metrics::diagnostics::{diagnose, runner_up, target_insensitivity};
use unpic_app::protocol::{
    ExplainMethod, ExplainPart, ExplanationResult, Response, Task, bytes_f32, f32_bytes,
};

impl Engine {
    /// One explanation of the last predicted image: the map as values in [0, 1] for the page to
    /// colour, the raw map (as `.npy`), and its deletion and insertion scores.
    pub(super) async fn explain(
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
            return failed(
                Task::Explanation,
                &during,
                "open a model and an image first",
            );
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
                Err(e) => failed(Task::Explanation, &during, e),
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
            let mut diagnostics = diagnose(&values);
            // Does the map depend on the class? The runner-up's map, where it costs one gradient.
            if let Some(other) = runner_up(&current.scores, target.class)
                .filter(|_| engine_method.cheap_per_class() && diagnostics.is_empty())
            {
                let other_target = Target {
                    class: other,
                    ..target
                };
                let other_map = engine_method
                    .run(
                        classifier,
                        image,
                        other_target,
                        &mut explain_core::explain::Silent,
                    )?
                    .to_vec_async()
                    .await?;
                diagnostics.extend(target_insensitivity(
                    &values,
                    &other_map,
                    &classifier.labels()[other],
                ));
            }
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
                    diagnostics,
                    deletion,
                    insertion,
                },
                bytes,
            ))
        }
        .await;
        match result {
            Ok((result, bytes)) => (Response::Explanation(result), Some(bytes)),
            Err(e) => failed(Task::Explanation, &during, e),
        }
    }
}

/// What an explanation request asks for.
pub(super) struct ExplainSettings {
    pub(super) method: ExplainMethod,
    pub(super) target: Option<usize>,
    pub(super) layer: Option<String>,
    pub(super) score: explain_core::Score,
    pub(super) sum_channels: bool,
}
