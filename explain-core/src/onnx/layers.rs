//! The layer table: every tensor a node produces, with the facts a user needs to pick one for
//! activations or Grad-CAM — its op, shape, whether it is a spatial feature map (and which axis
//! holds the channels) or a vision transformer's token sequence (and its patch grid), and a
//! suggested Grad-CAM layer.

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
    /// For a transformer's `[N, tokens, features]` sequence: the patch grid its tokens form.
    #[serde(default)]
    pub tokens: Option<TokenGrid>,
}

/// How a vision transformer's token sequence `[N, T, D]` lays out the image: `skip` leading
/// tokens that are not patches (the class token, a distillation token, registers), then the
/// patches in row-major order on a `height x width` grid. With it a CAM reads the sequence as a
/// `[N, D, height, width]` feature map, which is what pytorch-grad-cam's hand-written
/// `reshape_transform` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGrid {
    pub skip: usize,
    pub height: usize,
    pub width: usize,
}

/// At most this many leading non-patch tokens (a class token plus registers: DINOv2 and
/// timm's `reg_tokens` use 4, some use 8).
const MAX_EXTRA_TOKENS: usize = 8;

impl TokenGrid {
    /// The grid of `tokens` tokens over an image of `image = (height, width)`: the fewest
    /// leading extra tokens such that the rest tile the image in square patches
    /// (`height / grid height == width / grid width`).
    pub fn infer(tokens: usize, (image_h, image_w): (usize, usize)) -> Option<TokenGrid> {
        if image_h == 0 || image_w == 0 {
            return None;
        }
        (0..=MAX_EXTRA_TOKENS.min(tokens.saturating_sub(2))).find_map(|skip| {
            let patches = tokens - skip;
            let height = ((patches * image_h) as f64 / image_w as f64).sqrt().round() as usize;
            let width = patches.checked_div(height)?;
            (height * width == patches && height * image_w == width * image_h).then_some(
                TokenGrid {
                    skip,
                    height,
                    width,
                },
            )
        })
    }

    /// The number of patch tokens.
    pub fn patches(&self) -> usize {
        self.height * self.width
    }
}

impl Layer {
    /// Number of channels of a 4-D tensor (or features of a 2-D one or of a token sequence).
    pub fn channels(&self) -> Option<usize> {
        match self.shape.len() {
            4 => self.shape[self.channel_axis?],
            2 => self.shape[1],
            3 if self.tokens.is_some() => self.shape[2],
            _ => None,
        }
    }

    /// Whether class activation maps apply: a spatial feature map or a token sequence on a
    /// patch grid.
    pub fn cam_able(&self) -> bool {
        self.spatial || self.tokens.is_some()
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

impl LayerTable {
    /// The penultimate features: the last vector layer (`[N, D]`) before the scores, what
    /// t-SNE maps and the near-duplicate finder compares.
    pub fn penultimate(&self) -> Option<String> {
        let before_output = self.layers.len().saturating_sub(1);
        self.layers[..before_output]
            .iter()
            .rev()
            .find(|l| !l.spatial && l.shape.len() == 2)
            .map(|l| l.name.clone())
    }
}

#[cfg(feature = "engine")]
impl Graph {
    /// The layer table of a model whose image input has `input_layout` and `num_classes` outputs.
    pub fn layer_table(&self, input_layout: Layout, num_classes: usize) -> LayerTable {
        let channels_last = self.channels_last(input_layout);
        let image_size = self.image_size(input_layout);
        let layers: Vec<Layer> = self
            .nodes
            .iter()
            .flat_map(|node| node.outputs.iter())
            .filter_map(|&slot| {
                let info = &self.tensors[slot];
                let shape = info.shape.clone()?;
                let channel_axis =
                    (shape.len() == 4).then(|| if channels_last[slot] { 3 } else { 1 });
                let tokens = match (shape.as_slice(), image_size) {
                    ([_, Some(t), Some(_)], Some(image)) => TokenGrid::infer(*t, image),
                    _ => None,
                };
                let mut layer = Layer {
                    name: info.name.clone(),
                    op: info.op.clone(),
                    shape,
                    spatial: false,
                    channel_axis,
                    tokens,
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

    /// The image input's static `(height, width)`, if known.
    fn image_size(&self, input_layout: Layout) -> Option<(usize, usize)> {
        let shape = self.tensors[*self.inputs.first()?].shape.as_ref()?;
        let (h, w) = match input_layout {
            Layout::Nchw => (2, 3),
            Layout::Nhwc => (1, 2),
        };
        Some(((*shape.get(h)?)?, (*shape.get(w)?)?))
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

/// The layer for a class activation map.
///
/// For a convolutional network, the last spatial feature map, before pooling, whose channel
/// count is not the number of classes, made by an op that computes (not one that only moves
/// data): the output of the last convolutional block, the layer Grad-CAM's authors and
/// pytorch-grad-cam use (ResNet's `layer4`, MobileNet's last block, the last ReLU of a small
/// CNN rather than the max-pool after it). A map with one channel per class is the classifier
/// itself (SqueezeNet's and mini-Xception's final conv), and a 1x1 map (MobileNetV3's head after
/// pooling) has no spatial extent, so both are skipped.
///
/// For a vision transformer (token sequences after the last spatial map), see
/// [`suggest_transformer_cam`].
pub fn suggest_gradcam(layers: &[Layer], num_classes: usize) -> Option<String> {
    let last_map = layers
        .iter()
        .rposition(|l| l.spatial && !pools_or_moves(&l.op) && l.channels() != Some(num_classes));
    let last_tokens = layers.iter().rposition(|l| l.tokens.is_some());
    match (last_map, last_tokens) {
        (map, Some(tokens)) if map.is_none_or(|map| map < tokens) => {
            suggest_transformer_cam(layers).or_else(|| map.map(|i| layers[i].name.clone()))
        }
        (map, _) => map.map(|i| layers[i].name.clone()),
    }
}

/// The input of the last attention block's attention, normalised: pytorch-grad-cam's documented
/// choice for ViT (`model.blocks[-1].norm1`). Later token layers are useless for a CAM: only the
/// class token reaches the head after the last attention, so the patch tokens' gradients there
/// are zero. Found as the last sequence of the model's width (the width of its last token
/// layer, which rules out the query/key/value projection) before the last attention softmax
/// (`[N, heads, T, T]`), a `LayerNormalization` one if there is one.
pub fn suggest_transformer_cam(layers: &[Layer]) -> Option<String> {
    let width = layers
        .iter()
        .rev()
        .find_map(|l| l.tokens.and(l.channels()))?;
    let attention = layers.iter().rposition(is_attention)?;
    let candidates: Vec<&Layer> = layers[..attention]
        .iter()
        .filter(|l| l.tokens.is_some() && l.channels() == Some(width))
        .collect();
    candidates
        .iter()
        .rev()
        .find(|l| l.op == "LayerNormalization")
        .or(candidates.last())
        .map(|l| l.name.clone())
}

/// An attention matrix: the softmax over keys `[N, heads, T, T]`.
pub fn is_attention(layer: &Layer) -> bool {
    layer.op == "Softmax"
        && matches!(layer.shape.as_slice(), [_, Some(_), Some(q), Some(k)] if q == k && *q > 1)
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
            tokens: None,
        };
        l.spatial = l.spatial_size().is_some_and(|(h, w)| h * w > 1);
        l
    }

    fn sequence(name: &str, op: &str, shape: &[usize], image: (usize, usize)) -> Layer {
        let mut l = Layer {
            name: name.into(),
            op: op.into(),
            shape: std::iter::once(None)
                .chain(shape[1..].iter().map(|&d| Some(d)))
                .collect(),
            spatial: false,
            channel_axis: (shape.len() == 4).then_some(1),
            tokens: (shape.len() == 3)
                .then(|| TokenGrid::infer(shape[1], image))
                .flatten(),
        };
        l.spatial = l.spatial_size().is_some_and(|(h, w)| h * w > 1);
        l
    }

    #[test]
    fn token_grids_drop_the_class_token_and_registers() {
        let grid = |skip, height, width| {
            Some(TokenGrid {
                skip,
                height,
                width,
            })
        };
        // ViT-B/16 at 224: the class token and 14 x 14 patches.
        assert_eq!(TokenGrid::infer(197, (224, 224)), grid(1, 14, 14));
        // No class token (global-pool ViTs), and DeiT's class + distillation tokens.
        assert_eq!(TokenGrid::infer(196, (224, 224)), grid(0, 14, 14));
        assert_eq!(TokenGrid::infer(198, (224, 224)), grid(2, 14, 14));
        // A class token and four registers on a 48 x 64 image in 8-pixel patches.
        assert_eq!(TokenGrid::infer(53, (48, 64)), grid(5, 6, 8));
        // Not a patch grid: too many extra tokens, or no grid of the image's shape.
        assert_eq!(TokenGrid::infer(3, (224, 224)), None);
        assert_eq!(TokenGrid::infer(7, (48, 64)), None);
    }

    #[test]
    fn transformers_get_the_last_blocks_attention_input() {
        let image = (32, 32);
        let layers = [
            sequence("patch_embed", "Conv", &[1, 48, 4, 4], image),
            sequence("tokens", "Concat", &[1, 17, 48], image),
            sequence("blocks.0.norm1", "LayerNormalization", &[1, 17, 48], image),
            sequence("blocks.0.qkv", "MatMul", &[1, 17, 144], image),
            sequence("blocks.0.attn", "Softmax", &[1, 3, 17, 17], image),
            sequence("blocks.1.norm1", "LayerNormalization", &[1, 17, 48], image),
            sequence("blocks.1.qkv", "MatMul", &[1, 17, 144], image),
            sequence("blocks.1.attn", "Softmax", &[1, 3, 17, 17], image),
            sequence("blocks.1.norm2", "LayerNormalization", &[1, 17, 48], image),
            sequence("norm", "LayerNormalization", &[1, 17, 48], image),
            sequence("head", "Gemm", &[1, 10], image),
        ];
        assert!(layers[2].cam_able() && layers[0].cam_able() && !layers[10].cam_able());
        assert_eq!(
            suggest_gradcam(&layers, 10).as_deref(),
            Some("blocks.1.norm1")
        );
        // A convolutional network is unchanged.
        assert_eq!(
            suggest_gradcam(&layers[..1], 10).as_deref(),
            Some("patch_embed")
        );
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
