//! What the worker answers with: the summaries and results the page shows.

use serde::{Deserialize, Serialize};

use super::{Backend, ExplainMethod};
use explain_core::data::Preprocess;
use explain_core::onnx::LayerTable;
use explain_core::{InputSpec, Prediction};

/// A dataset's listing, for the Data view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub name: String,
    /// Class folders, sorted.
    pub classes: Vec<String>,
    /// Images per class folder.
    pub counts: Vec<usize>,
    /// Every image's path (`class/file.png`) and class folder index, in set order.
    pub items: Vec<explain_core::data::Item>,
}

/// The predictions over the whole dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationResult {
    pub id: u64,
    pub evaluation: explain_core::metrics::Evaluation,
    /// Conversions made (colour, size) and how folders were matched to classes.
    pub notes: Vec<String>,
    pub elapsed_ms: f64,
    pub backend: Backend,
}

impl EvaluationResult {
    /// The results of a job's shards, in shard order, as one: images in set order, counts
    /// summed, the slowest worker's time. `None` when there are none.
    pub fn join(parts: Vec<EvaluationResult>) -> Option<EvaluationResult> {
        let mut parts = parts.into_iter();
        let mut whole = parts.next()?;
        for part in parts {
            whole.evaluation.append(part.evaluation);
            for note in part.notes {
                if !whole.notes.contains(&note) {
                    whole.notes.push(note);
                }
            }
            whole.elapsed_ms = whole.elapsed_ms.max(part.elapsed_ms);
        }
        Some(whole)
    }
}

/// A t-SNE map: one point per image, with its true and predicted (model) class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TsneResult {
    pub id: u64,
    pub method: super::MapMethod,
    pub layer: String,
    pub points: Vec<[f32; 2]>,
    pub paths: Vec<String>,
    pub truth: Vec<usize>,
    pub predicted: Vec<usize>,
    /// One name per model class.
    pub classes: Vec<String>,
    /// t-SNE's final KL divergence (lower: the map keeps neighbourhoods better).
    pub kl: Option<f64>,
    pub elapsed_ms: f64,
}

/// One image's activations at a layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationsResult {
    pub id: u64,
    pub layer: String,
    pub channels: usize,
    /// Map size (1 × 1 for a vector layer).
    pub height: usize,
    pub width: usize,
    /// Every value of the layer.
    pub histogram: explain_core::features::activations::Histogram,
}

/// The top images of every channel of a layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxActivationsResult {
    pub id: u64,
    pub layer: String,
    /// Per channel: `(mean activation, dataset path)`, best first.
    pub best: Vec<Vec<(f32, String)>>,
}

/// A dreamed image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DreamResult {
    pub id: u64,
    pub layer: String,
    pub channel: Option<usize>,
    pub width: usize,
    pub height: usize,
    pub compute_ms: f64,
}

/// One explanation map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplanationResult {
    pub id: u64,
    pub method: ExplainMethod,
    pub target: usize,
    pub target_label: String,
    /// The layer of a class activation map.
    pub layer: Option<String>,
    pub width: usize,
    pub height: usize,
    /// The first `values_len` bytes are the map as one value per pixel in [0, 1] (float32,
    /// `width × height`; signed maps centred on 0.5), for the page to colour; the rest is the
    /// raw map as a float32 `.npy` file (the method's own shape and values).
    pub values_len: usize,
    /// Area under the deletion curve (lower: the map finds what matters).
    pub deletion_auc: f64,
    /// Area under the insertion curve (higher is better).
    pub insertion_auc: f64,
    pub compute_ms: f64,
    /// How many compute workers shared the map (`ui/pool.rs`).
    #[serde(default = "one_worker")]
    pub workers: usize,
    /// What is wrong with the map, if anything (zero, constant, saturated, NaN...).
    #[serde(default)]
    pub diagnostics: Vec<explain_core::metrics::diagnostics::Diagnosis>,
    /// The deletion and insertion curves behind the areas (the target's probability after
    /// each twentieth of the pixels is removed / revealed, most important first).
    #[serde(default)]
    pub deletion: Vec<f32>,
    #[serde(default)]
    pub insertion: Vec<f32>,
}

/// A model-parameter randomisation check of one method's map (Adebayo et al. 2018).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SanityResult {
    pub id: u64,
    pub method: ExplainMethod,
    pub target: usize,
    pub target_label: String,
    pub plane_width: usize,
    pub plane_height: usize,
    pub report: explain_core::metrics::sanity::SanityReport,
    pub compute_ms: f64,
}

fn one_worker() -> usize {
    1
}

/// What the page needs to know about a loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    pub input: InputSpec,
    pub num_classes: usize,
    pub labels: Vec<String>,
    pub nodes: usize,
    /// A starting point for preprocessing: the model's size and channels, pixels / 255.
    pub suggested: Preprocess,
    /// Every tensor a user can inspect, with the suggested Grad-CAM layer.
    pub layers: LayerTable,
}

/// One image's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionResult {
    pub id: u64,
    pub name: String,
    pub width: usize,
    pub height: usize,
    pub prediction: Prediction,
    /// Conversions the user should know about (colour, size).
    pub notes: Vec<String>,
    /// Forward pass plus read-back, in milliseconds.
    pub forward_ms: f64,
    pub backend: Backend,
}

/// Every common preprocessing's accuracy on a sample of the labelled dataset (the page turns
/// them into advice for the preset in use with `preprocess_check::advise`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessingCheckResult {
    pub id: u64,
    /// How many images were scored (the damaged ones of the sample left out).
    pub sample: usize,
    /// Each candidate's accuracy, in `Candidate::all` order.
    pub scores: Vec<explain_core::data::preprocess_check::CandidateScore>,
    /// The number of classes of the model (chance is one over it).
    pub classes: usize,
}

/// Pairs of near-duplicate images, most similar first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearDuplicatesResult {
    pub id: u64,
    /// The layer whose features were compared.
    pub layer: String,
    pub pairs: Vec<explain_core::metrics::label_issues::NearDuplicate>,
}

/// One image's map in a job over many images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageMapResult {
    pub id: u64,
    /// The image's place in the request (maps arrive in that order).
    pub index: usize,
    pub path: String,
    /// The class explained.
    pub target: usize,
    pub width: usize,
    pub height: usize,
    pub deletion_auc: f64,
    pub insertion_auc: f64,
    /// Images explained so far, and asked for.
    pub done: usize,
    pub total: usize,
}

/// The maps of many images summed up: the mean map (bytes) and the mean deletion and insertion
/// areas of each class explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMapsResult {
    pub id: u64,
    pub method: ExplainMethod,
    pub layer: Option<String>,
    pub width: usize,
    pub height: usize,
    /// Images explained (and averaged).
    pub images: usize,
    /// Shape of the raw mean map (the model's layout).
    pub dims: Vec<usize>,
    /// Length in bytes of the shown mean map, before the `.npy`.
    pub values_len: usize,
    pub faithfulness: Vec<explain_core::explain::class_average::ClassFaithfulness>,
    /// The images that could not be read, and why.
    pub skipped: Vec<String>,
}
