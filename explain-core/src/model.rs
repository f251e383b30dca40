//! A classifier = an ONNX graph with one image input and a score output, plus class labels.
//! `predict` turns a batch of preprocessed images into per-image scores and a top-k.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::onnx::{FloatValue, Graph, Value, format_shape};

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
pub struct Classifier {
    graph: Graph,
    input: InputSpec,
    num_classes: usize,
    labels: Vec<String>,
}

impl Classifier {
    /// Imports an ONNX classifier and checks that it has one image input and a score output.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
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
        let spec = match dims.as_slice() {
            [_, Some(c), Some(h), Some(w)] if *c <= 4 => InputSpec {
                name: input.name.clone(),
                channels: *c,
                height: *h,
                width: *w,
                layout: Layout::Nchw,
            },
            [_, Some(h), Some(w), Some(c)] if *c <= 4 => InputSpec {
                name: input.name.clone(),
                channels: *c,
                height: *h,
                width: *w,
                layout: Layout::Nhwc,
            },
            _ => {
                return Err(Error::NotAClassifier(format!(
                    "the input '{}' has shape {}; UNPIC needs an image input [N, C, H, W] or \
                     [N, H, W, C] with fixed size and 1 to 4 channels",
                    input.name,
                    format_shape(&shape)
                )));
            }
        };
        if graph.has_unknown_shapes() {
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
        Ok(Self {
            graph,
            input: spec,
            num_classes,
            labels: (0..num_classes).map(|k| k.to_string()).collect(),
        })
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
        self.scores(&self.graph.run(vec![Value::Float(batch)], &[])?)
    }

    /// The class scores of a run as `[N, K]` (a Caffe-style `[N, K, 1, 1]` output is flattened).
    pub(crate) fn scores(&self, run: &crate::onnx::RunOutput) -> Result<FloatValue> {
        let scores = run.first_float()?;
        let n = scores.dims().first().copied().unwrap_or(1);
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

    /// Turns host logits `[N * K]` into predictions with the top `k` classes.
    pub fn predictions(&self, logits: &[f32], k: usize) -> Vec<Prediction> {
        logits
            .chunks(self.num_classes)
            .map(|row| prediction(row, &self.labels, k))
            .collect()
    }
}

/// One image's values from `[H, W, C]` to `[C, H, W]` order.
pub fn hwc_to_chw(image: &[f32], channels: usize) -> Vec<f32> {
    let area = image.len() / channels.max(1);
    (0..channels)
        .flat_map(|c| (0..area).map(move |p| image[p * channels + c]))
        .collect()
}

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
    let trimmed = text.trim();
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
