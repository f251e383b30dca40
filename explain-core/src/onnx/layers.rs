//! The layer table: every tensor a node produces, with the facts a user needs to pick one for
//! activations or Grad-CAM — its op, shape, whether it is a spatial feature map (and which axis
//! holds the channels), and a suggested Grad-CAM layer.

use serde::{Deserialize, Serialize};

#[cfg(feature = "engine")]
use super::graph::{Graph, LayoutRule, Slot};
#[cfg(feature = "engine")]
use crate::model::Layout;

/// One named tensor of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// The tensor's name in the model file.
    pub name: String,
    /// The ONNX op that produces it.
    pub op: String,
    /// Static shape; `None` = dynamic (the batch).
    pub shape: Vec<Option<usize>>,
    /// A 4-D feature map with more than one position: Grad-CAM and activation maps apply.
    pub spatial: bool,
    /// The channel axis of a 4-D tensor (1 = channels first, 3 = channels last).
    pub channel_axis: Option<usize>,
}

impl Layer {
    /// Number of channels of a 4-D tensor (or features of a 2-D one).
    pub fn channels(&self) -> Option<usize> {
        match self.shape.len() {
            4 => self.shape[self.channel_axis?],
            2 => self.shape[1],
            _ => None,
        }
    }

    /// `(height, width)` of a 4-D tensor.
    pub fn spatial_size(&self) -> Option<(usize, usize)> {
        if self.shape.len() != 4 {
            return None;
        }
        let (h, w) = match self.channel_axis? {
            1 => (2, 3),
            _ => (1, 2),
        };
        Some((self.shape[h]?, self.shape[w]?))
    }
}

/// All layers in execution order, and the suggested Grad-CAM layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerTable {
    pub layers: Vec<Layer>,
    /// The last spatial feature map before the classifier head (see [`suggest_gradcam`]).
    pub gradcam_layer: Option<String>,
}

#[cfg(feature = "engine")]
impl Graph {
    /// The layer table of a model whose image input has `input_layout` and `num_classes` outputs.
    pub fn layer_table(&self, input_layout: Layout, num_classes: usize) -> LayerTable {
        let channels_last = self.channels_last(input_layout);
        let layers: Vec<Layer> = self
            .nodes
            .iter()
            .flat_map(|node| node.outputs.iter())
            .filter_map(|&slot| {
                let info = &self.tensors[slot];
                let shape = info.shape.clone()?;
                let channel_axis =
                    (shape.len() == 4).then(|| if channels_last[slot] { 3 } else { 1 });
                let mut layer = Layer {
                    name: info.name.clone(),
                    op: info.op.clone(),
                    shape,
                    spatial: false,
                    channel_axis,
                };
                layer.spatial = layer.spatial_size().is_some_and(|(h, w)| h * w > 1);
                Some(layer)
            })
            .collect();
        let gradcam_layer = suggest_gradcam(&layers, num_classes);
        LayerTable {
            layers,
            gradcam_layer,
        }
    }

    /// Whether each slot's 4-D tensor is channels-last, propagated from the input through the
    /// nodes' layout rules.
    fn channels_last(&self, input_layout: Layout) -> Vec<bool> {
        let mut last = vec![false; self.tensors.len()];
        for &slot in &self.inputs {
            last[slot] = input_layout == Layout::Nhwc;
        }
        for node in &self.nodes {
            let first_input = node.inputs.iter().flatten().next().map(|&s: &Slot| last[s]);
            let out = match &node.layout {
                LayoutRule::ChannelsFirst => false,
                LayoutRule::Permute(perm) => match perm.as_slice() {
                    [0, 2, 3, 1] => true,
                    [0, 3, 1, 2] => false,
                    _ => first_input.unwrap_or(false),
                },
                LayoutRule::Inherit => first_input.unwrap_or(false),
            };
            for &slot in &node.outputs {
                last[slot] = out;
            }
        }
        last
    }
}

/// The last spatial feature map, before pooling, whose channel count is not the number of
/// classes, made by an op that computes (not one that only moves data).
///
/// That is the output of the last convolutional block, the layer Grad-CAM's authors and
/// pytorch-grad-cam use (ResNet's `layer4`, MobileNet's last block, the last ReLU of a small
/// CNN rather than the max-pool after it). A map with one channel per class is the classifier
/// itself (SqueezeNet's and mini-Xception's final conv), and a 1x1 map (MobileNetV3's head after
/// pooling) has no spatial extent, so both are skipped.
pub fn suggest_gradcam(layers: &[Layer], num_classes: usize) -> Option<String> {
    layers
        .iter()
        .rev()
        .find(|l| l.spatial && !pools_or_moves(&l.op) && l.channels() != Some(num_classes))
        .map(|l| l.name.clone())
}

/// Pooling summarises the features; a transpose, reshape or pad only moves them (Keras
/// exports transpose back to channels-last after the last block). Neither is the feature map.
fn pools_or_moves(op: &str) -> bool {
    matches!(
        op,
        "MaxPool"
            | "AveragePool"
            | "LpPool"
            | "Transpose"
            | "Reshape"
            | "Pad"
            | "Identity"
            | "Dropout"
            | "Squeeze"
            | "Unsqueeze"
            | "Flatten"
    )
}

/// `[N, 3, 224, 224]`-style display of a partly static shape.
pub fn format_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("N".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str, shape: [usize; 4]) -> Layer {
        let shape: Vec<Option<usize>> = shape.iter().map(|&d| Some(d)).collect();
        let mut l = Layer {
            name: name.into(),
            op: "Conv".into(),
            shape,
            spatial: false,
            channel_axis: Some(1),
        };
        l.spatial = l.spatial_size().is_some_and(|(h, w)| h * w > 1);
        l
    }

    #[test]
    fn gradcam_skips_class_maps_and_one_by_one_heads() {
        let mut pooled = layer("pooled", [1, 512, 6, 6]);
        pooled.op = "MaxPool".into();
        let layers = [
            layer("features", [1, 512, 13, 13]),
            pooled,
            layer("class_map", [1, 1000, 13, 13]),
            layer("head_1x1", [1, 1280, 1, 1]),
        ];
        assert_eq!(suggest_gradcam(&layers, 1000).as_deref(), Some("features"));
        assert_eq!(suggest_gradcam(&layers, 10).as_deref(), Some("class_map"));
    }

    #[test]
    fn channels_last_maps_read_their_size_from_the_middle_axes() {
        let mut l = layer("nhwc", [1, 7, 5, 64]);
        l.channel_axis = Some(3);
        assert_eq!(l.channels(), Some(64));
        assert_eq!(l.spatial_size(), Some((7, 5)));
    }
}
