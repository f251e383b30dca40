//! A classifier = an ONNX graph with one image input and a score output, plus class labels.
//! `predict` turns a batch of preprocessed images into per-image scores and a top-k.

#[cfg(feature = "engine")]
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
#[cfg(feature = "engine")]
use crate::onnx::format_shape;
#[cfg(feature = "engine")]
use crate::onnx::{FloatValue, Graph, Value};

/// Memory layout of the image input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// `[N, C, H, W]` (PyTorch, MATLAB, Paddle).
    Nchw,
    /// `[N, H, W, C]` (Keras / tf2onnx).
    Nhwc,
}

/// What the network expects as input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    pub name: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub layout: Layout,
    /// The model accepts any height and width; `height` and `width` are the size it was set
    /// up for (the user's choice), not the file's.
    #[serde(default)]
    pub any_size: bool,
}

impl InputSpec {
    /// Shape of a batch of `n` images in the model's layout.
    pub fn batch_shape(&self, n: usize) -> [usize; 4] {
        match self.layout {
            Layout::Nchw => [n, self.channels, self.height, self.width],
            Layout::Nhwc => [n, self.height, self.width, self.channels],
        }
    }

    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// The largest image side a user can ask a size-free model to run at.
pub const MAX_SIDE: usize = 8192;

/// The largest labels file read: a million names of 16 bytes. More is not a labels file.
pub const MAX_LABELS_BYTES: usize = 16 << 20;

/// One class and its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    pub class: usize,
    pub label: String,
    pub probability: f32,
}

/// Scores of one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub logits: Vec<f32>,
    pub probabilities: Vec<f32>,
    /// Classes by decreasing probability (ties: lower class first).
    pub top: Vec<ClassScore>,
}

/// A loaded image classifier.
#[cfg(feature = "engine")]
pub struct Classifier {
    graph: Graph,
    input: InputSpec,
    /// The batch size the file fixes (dynamo exports and many converters write 1); `None`
    /// when the batch axis is free. Larger batches run in pieces of this size.
    fixed_batch: Option<usize>,
    num_classes: usize,
    labels: Vec<String>,
}

#[cfg(feature = "engine")]
impl Classifier {
    /// Imports an ONNX classifier and checks that it has one image input and a score output.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        Self::from_bytes_at(bytes, device, None)
    }

    /// Like [`Classifier::from_bytes`], with the image size (height, width) to run a model
    /// that accepts any size at. Ignored when the file fixes the size.
    pub fn from_bytes_at(bytes: &[u8], device: &Device, size: Option<[usize; 2]>) -> Result<Self> {
        let mut graph = Graph::from_bytes(bytes, device)?;
        let inputs = graph.input_infos();
        let [input] = inputs.as_slice() else {
            return Err(Error::NotAClassifier(format!(
                "the model has {} inputs; UNPIC needs exactly one image input",
                inputs.len()
            )));
        };
        let shape = input.shape.clone().unwrap_or_default();
        let dims: Vec<Option<usize>> = shape.clone();
        let wrong_shape = || {
            Error::NotAClassifier(format!(
                "the input '{}' has shape {}; UNPIC needs an image input [N, C, H, W] or \
                 [N, H, W, C] with 1 to 4 channels",
                input.name,
                format_shape(&shape)
            ))
        };
        let (channels, height, width, layout) = match dims.as_slice() {
            [_, Some(c), h, w] if *c <= 4 => (*c, *h, *w, Layout::Nchw),
            [_, h, w, Some(c)] if *c <= 4 => (*c, *h, *w, Layout::Nhwc),
            _ => return Err(wrong_shape()),
        };
        let spec = match (height, width, size) {
            (Some(height), Some(width), _) => InputSpec {
                name: input.name.clone(),
                channels,
                height,
                width,
                layout,
                any_size: false,
            },
            (_, _, Some([h, w])) if (1..=MAX_SIDE).contains(&h) && (1..=MAX_SIDE).contains(&w) => {
                InputSpec {
                    name: input.name.clone(),
                    channels,
                    height: height.unwrap_or(h),
                    width: width.unwrap_or(w),
                    layout,
                    any_size: true,
                }
            }
            (_, _, Some([h, w])) => {
                return Err(Error::Preprocess(format!(
                    "the image size {h}x{w} is out of range: give a height and width from 1 to \
                     {MAX_SIDE}"
                )));
            }
            (_, _, None) => {
                return Err(Error::NeedsSize(format!(
                    "the model's input '{}' ({}) takes images of any height and width: give the \
                     size to run it at (the CLI's --size H,W; the app's Size field), e.g. the size \
                     it was trained at",
                    input.name,
                    format_shape(&shape)
                )));
            }
        };
        // Checked before anything is allocated for the input: a file may declare any size.
        if spec.channels == 0 || spec.height == 0 || spec.width == 0 {
            return Err(Error::NotAClassifier(format!(
                "the input '{}' has shape {}: an image needs at least one channel and one pixel",
                input.name,
                format_shape(&shape)
            )));
        }
        if spec.height > MAX_SIDE || spec.width > MAX_SIDE {
            return Err(Error::NotAClassifier(format!(
                "the input '{}' takes images of {}x{} pixels; UNPIC runs images of up to {MAX_SIDE} \
                 pixels a side",
                input.name, spec.height, spec.width
            )));
        }
        if shape.first().copied().flatten() == Some(0) {
            return Err(Error::NotAClassifier(format!(
                "the input '{}' has shape {}: a batch of 0 images cannot be run",
                input.name,
                format_shape(&shape)
            )));
        }
        let fixed_batch = shape.first().copied().flatten();
        if graph.has_unknown_shapes() || spec.any_size {
            // The layer table and the class count need every shape; one small run on zeros
            // settles them (two images when the batch is dynamic, to tell it apart).
            let batch = shape.first().copied().flatten();
            let n = batch.unwrap_or(2);
            let example = FloatValue::from_vec(
                vec![0.0; n * spec.image_len()],
                &spec.batch_shape(n),
                device,
            )?;
            graph.complete_shapes(Value::Float(example), batch.is_none().then_some(n))?;
        }
        let outputs = graph.output_infos();
        let num_classes = match outputs.first().and_then(|o| o.shape.clone()).as_deref() {
            Some([_, Some(k)]) => *k,
            // Caffe-style [N, K, 1, 1] scores.
            Some([_, Some(k), rest @ ..]) if rest.iter().all(|d| *d == Some(1)) => *k,
            other => {
                return Err(Error::NotAClassifier(format!(
                    "the first output has shape {}; UNPIC needs class scores [N, K]",
                    other.map_or("unknown".into(), format_shape)
                )));
            }
        };
        if num_classes == 0 {
            return Err(Error::NotAClassifier(format!(
                "the first output has shape {}: no class scores at all; UNPIC needs a classifier \
                 with at least one class",
                outputs
                    .first()
                    .and_then(|o| o.shape.as_deref())
                    .map_or("unknown".into(), format_shape)
            )));
        }
        Ok(Self {
            graph,
            input: spec,
            fixed_batch,
            num_classes,
            labels: (0..num_classes).map(|k| k.to_string()).collect(),
        })
    }

    /// The same classifier with the weights of `layers` (indices into
    /// [`Graph::parameter_layers`]) scrambled by `seed`: the sanity checks' randomised models.
    pub fn with_randomised_layers(&self, layers: &[usize], seed: u64) -> Result<Self> {
        Ok(self.with_graph(self.graph.with_randomised_layers(layers, seed)?))
    }

    /// The same classifier with some constants replaced (see [`Graph::with_constants`]).
    pub fn with_constants(
        &self,
        replaced: &std::collections::HashMap<crate::onnx::Slot, Value>,
    ) -> Self {
        self.with_graph(self.graph.with_constants(replaced))
    }

    fn with_graph(&self, graph: Graph) -> Self {
        Self {
            graph,
            input: self.input.clone(),
            fixed_batch: self.fixed_batch,
            num_classes: self.num_classes,
            labels: self.labels.clone(),
        }
    }

    /// Sets the class names (one per class, in class order).
    pub fn set_labels(&mut self, labels: Vec<String>) -> Result<()> {
        if labels.len() != self.num_classes {
            return Err(Error::Labels(format!(
                "{} labels were given but the model has {} classes",
                labels.len(),
                self.num_classes
            )));
        }
        self.labels = labels;
        Ok(())
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn input(&self) -> &InputSpec {
        &self.input
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Every tensor a user can inspect, with the suggested Grad-CAM layer.
    pub fn layer_table(&self) -> crate::onnx::LayerTable {
        self.graph.layer_table(self.input.layout, self.num_classes)
    }

    /// One row of the layer table, by any of the tensor's names (an Identity's output is an
    /// alias of its input).
    pub fn layer(&self, name: &str) -> Result<crate::onnx::Layer> {
        let slot = self.graph.slot(name)?;
        let canonical = self
            .graph
            .tensor_info(slot)
            .map_or(name, |t| t.name.as_str());
        self.layer_table()
            .layers
            .into_iter()
            .find(|l| l.name == canonical)
            .ok_or_else(|| Error::UnknownTensor(name.to_string()))
    }

    /// Raw scores `[N, K]` for a batch already in the model's layout.
    pub fn logits(&self, batch: FloatValue) -> Result<FloatValue> {
        let mut out = self.in_model_batches(batch, |piece, _| {
            let rows = piece.dims().first().copied().unwrap_or(0);
            let run = self.graph.run(vec![Value::Float(piece)], &[])?;
            Ok(vec![self.scores(&run, rows)?])
        })?;
        Ok(out.swap_remove(0))
    }

    /// The batch size the model file fixes, if it does.
    pub fn fixed_batch(&self) -> Option<usize> {
        self.fixed_batch
    }

    /// Runs `f` over `batch` in the batches the model accepts: at once when its batch axis is
    /// free, otherwise in pieces of the size the file fixes, the last one padded with zeros.
    /// `f` gets each piece and the rows of `batch` it holds, and returns values whose leading
    /// axis is the piece's; they are joined and the padding dropped.
    pub(crate) fn in_model_batches(
        &self,
        batch: FloatValue,
        mut f: impl FnMut(FloatValue, std::ops::Range<usize>) -> Result<Vec<FloatValue>>,
    ) -> Result<Vec<FloatValue>> {
        let n = batch.dims().first().copied().unwrap_or(0);
        let Some(fixed) = self.fixed_batch.filter(|&b| b > 0 && b != n && n > 0) else {
            return f(batch, 0..n);
        };
        let mut pieces: Vec<Vec<FloatValue>> = Vec::new();
        for start in (0..n).step_by(fixed) {
            let len = fixed.min(n - start);
            let piece = batch
                .clone()
                .narrow_batch(start, len)
                .pad_batch(fixed - len);
            let outputs = f(piece, start..start + len)?;
            let outputs = outputs
                .into_iter()
                .map(|v| match v.dims().first() {
                    Some(&rows) if rows == fixed => Ok(v.narrow_batch(0, len)),
                    _ => Err(Error::NotAClassifier(format!(
                        "the model fixes its batch at {fixed} and a tensor asked for has shape \
                         {:?}, which has no batch axis to split: ask for one image at a time",
                        v.dims()
                    ))),
                })
                .collect::<Result<Vec<_>>>()?;
            pieces.push(outputs);
        }
        let count = pieces.first().map_or(0, Vec::len);
        (0..count)
            .map(|i| {
                let column: Vec<FloatValue> = pieces.iter().map(|p| p[i].clone()).collect();
                FloatValue::cat_batch(column).ok_or_else(|| {
                    Error::NotAClassifier("internal: pieces of a batch differ in rank".into())
                })
            })
            .collect()
    }

    /// The class scores of a run as `[N, K]` (a Caffe-style `[N, K, 1, 1]` output is flattened).
    pub(crate) fn scores(&self, run: &crate::onnx::RunOutput, rows: usize) -> Result<FloatValue> {
        let scores = run.first_float()?;
        let dims = scores.dims();
        let n = dims.first().copied().unwrap_or(1);
        // The declared [N, K] is only a claim: a graph can compute something else.
        if n != rows || dims.iter().product::<usize>() != rows * self.num_classes {
            return Err(Error::NotAClassifier(format!(
                "run on {rows} image(s), the model answers shape {dims:?} instead of \
                 [{rows}, {}]: its output does not match what the file declares",
                self.num_classes
            )));
        }
        Ok(if scores.rank() == 2 {
            scores
        } else {
            scores.reshape(&[n, self.num_classes])
        })
    }

    /// Uploads `n` preprocessed images (each `image_len` values, CHW order) as a batch in the
    /// model's layout.
    pub fn batch(&self, images: Vec<f32>, n: usize) -> Result<FloatValue> {
        let spec = &self.input;
        if images.len() != n * spec.image_len() {
            return Err(Error::InputShape {
                got: vec![images.len()],
                expected: format!("{n} images of {}", spec.image_len()),
            });
        }
        let data = match spec.layout {
            Layout::Nchw => images,
            Layout::Nhwc => chw_to_hwc(&images, n, spec.channels, spec.height * spec.width),
        };
        FloatValue::from_vec(data, &spec.batch_shape(n), self.graph.device())
    }

    /// Turns host logits `[N * K]` into predictions with the top `k` classes (an error if any
    /// score is NaN or infinite).
    pub fn predictions(&self, logits: &[f32], k: usize) -> Result<Vec<Prediction>> {
        check_scores(logits, self.num_classes, |i| format!("image {}", i + 1))?;
        Ok(logits
            .chunks(self.num_classes)
            .map(|row| prediction(row, &self.labels, k))
            .collect())
    }
}

/// Refuses scores `[N * K]` that are not all finite, naming (by `name_of` its index) the first
/// image whose are not: NaN has no order, so a top list or an accuracy made from it would be
/// made up.
pub fn check_scores(
    scores: &[f32],
    num_classes: usize,
    name_of: impl Fn(usize) -> String,
) -> Result<()> {
    let Some(at) = scores.iter().position(|s| !s.is_finite()) else {
        return Ok(());
    };
    let k = num_classes.max(1);
    Err(Error::NonFinite(format!(
        "{}, class {}: {}",
        name_of(at / k),
        at % k,
        scores[at]
    )))
}

/// One image's values from `[H, W, C]` to `[C, H, W]` order.
pub fn hwc_to_chw(image: &[f32], channels: usize) -> Vec<f32> {
    let area = image.len() / channels.max(1);
    (0..channels)
        .flat_map(|c| (0..area).map(move |p| image[p * channels + c]))
        .collect()
}

#[cfg(feature = "engine")]
fn chw_to_hwc(images: &[f32], n: usize, channels: usize, area: usize) -> Vec<f32> {
    let mut out = vec![0.0; images.len()];
    for i in 0..n {
        let base = i * channels * area;
        for c in 0..channels {
            for p in 0..area {
                out[base + p * channels + c] = images[base + c * area + p];
            }
        }
    }
    out
}

/// Softmax and top-k of one row of logits.
pub fn prediction(logits: &[f32], labels: &[String], k: usize) -> Prediction {
    let probabilities = softmax(logits);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| {
        probabilities[b]
            .total_cmp(&probabilities[a])
            .then(a.cmp(&b))
    });
    let top = order
        .into_iter()
        .take(k)
        .map(|class| ClassScore {
            class,
            label: labels
                .get(class)
                .cloned()
                .unwrap_or_else(|| class.to_string()),
            probability: probabilities[class],
        })
        .collect();
    Prediction {
        logits: logits.to_vec(),
        probabilities,
        top,
    }
}

/// Numerically stable softmax (in f64, so tiny probabilities keep their digits).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}

/// Parses a labels file: one label per line, or a JSON array of strings.
pub fn parse_labels(text: &str) -> Result<Vec<String>> {
    if text.len() > MAX_LABELS_BYTES {
        return Err(Error::Labels(format!(
            "the labels file holds {} MB; a labels file is one class name per line (at most {} \
             MB): is this the right file?",
            text.len() >> 20,
            MAX_LABELS_BYTES >> 20
        )));
    }
    // A byte-order mark (Windows editors write one) is not part of the first name.
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(trimmed)
            .map_err(|e| Error::Labels(format!("not a JSON array of strings: {e}")));
    }
    let labels: Vec<String> = trimmed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if labels.is_empty() {
        return Err(Error::Labels("the labels file is empty".into()));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_lose_a_byte_order_mark_and_refuse_what_is_not_a_labels_file() {
        let labels = parse_labels("\u{feff}cat\r\ndog\r\n").expect("labels");
        assert_eq!(labels, ["cat", "dog"]);
        let huge = "x\n".repeat(MAX_LABELS_BYTES / 2 + 1);
        let err = parse_labels(&huge).expect_err("too large");
        assert!(err.to_string().contains("is this the right file?"), "{err}");
        assert!(parse_labels(" \n\n").is_err(), "empty");
    }

    #[test]
    fn scores_with_nan_or_infinity_are_refused_with_the_image_named() {
        let name = |i: usize| format!("image {}", i + 1);
        assert!(check_scores(&[0.5, -2.0, 1e30, 0.0], 2, name).is_ok());
        let err = check_scores(&[0.5, -2.0, 1.0, f32::NAN], 2, name).expect_err("NaN");
        assert!(err.to_string().contains("(image 2, class 1: NaN)"), "{err}");
        let err = check_scores(&[f32::INFINITY, 0.0], 2, name).expect_err("inf");
        assert!(err.to_string().contains("(image 1, class 0: inf)"), "{err}");
    }

    #[test]
    fn top_k_orders_by_probability_and_breaks_ties_by_class() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let p = prediction(&[1.0, 3.0, 1.0], &labels, 3);
        let order: Vec<usize> = p.top.iter().map(|c| c.class).collect();
        assert_eq!(order, vec![1, 0, 2]);
        assert_eq!(p.top[0].label, "b");
        let total: f32 = p.probabilities.iter().sum();
        assert!((total - 1.0).abs() < 1e-6);
    }

    #[test]
    fn labels_parse_from_lines_or_json() {
        assert_eq!(
            parse_labels("cat\n\ndog\n").expect("lines"),
            vec!["cat", "dog"]
        );
        assert_eq!(
            parse_labels(r#"["cat", "dog"]"#).expect("json"),
            vec!["cat", "dog"]
        );
        assert!(parse_labels("  \n").is_err());
    }

    #[test]
    fn hwc_to_chw_undoes_chw_to_hwc() {
        let chw = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(hwc_to_chw(&chw_to_hwc(&chw, 1, 3, 2), 3), chw);
    }

    #[test]
    fn chw_to_hwc_interleaves_channels() {
        // 1 image, 2 channels, 2 pixels: CHW [r0 r1 g0 g1] -> HWC [r0 g0 r1 g1]
        assert_eq!(
            chw_to_hwc(&[1.0, 2.0, 3.0, 4.0], 1, 2, 2),
            vec![1.0, 3.0, 2.0, 4.0]
        );
    }
}
