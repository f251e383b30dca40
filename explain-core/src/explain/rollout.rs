//! Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020)
//! for vision transformers: how much of the class token's final representation flows from each
//! patch, through every attention layer and its residual connection.
//!
//! Each layer's attention `[N, heads, T, T]` (the graph's attention softmaxes, found by shape) is
//! averaged over heads, the residual is added as the identity, `Ã = (A + I) / 2`, rows are
//! renormalised, and the layers are multiplied from the first to the last: `R = Ã_L ⋯ Ã_1`.
//! The class token's row over the patch tokens, on the patch grid and divided by its maximum, is
//! the map; it is resized to the image as pytorch-grad-cam resizes a CAM. That is jacobgil's
//! `vit-explain` `rollout` with mean head fusion and nothing discarded, the form the paper
//! defines. It explains the class token (the mean of all tokens for a model without one), not a
//! class: the same map for every target.

use burn::tensor::Tensor;

use super::resize::bilinear;
use super::{Progress, step};
use crate::error::{Error, Result};
use crate::model::Classifier;
use crate::onnx::layers::{TokenGrid, is_attention};
use crate::onnx::{FloatValue, format_shape};

/// The attention softmaxes of the model, in execution order, and the patch grid of their tokens.
pub fn attention_layers(classifier: &Classifier) -> Result<(Vec<String>, TokenGrid)> {
    let table = classifier.layer_table();
    let attention: Vec<_> = table.layers.iter().filter(|l| is_attention(l)).collect();
    let Some(first) = attention.first() else {
        return Err(Error::Settings(
            "attention rollout needs a transformer: this model has no attention softmax \
             ([N, heads, tokens, tokens]); use Grad-CAM or another method"
                .into(),
        ));
    };
    let tokens = first.shape[3].unwrap_or(0);
    let spec = classifier.input();
    let grid = TokenGrid::infer(tokens, (spec.height, spec.width)).ok_or_else(|| {
        Error::Settings(format!(
            "the attention '{}' {} is over {tokens} tokens, which do not tile the {}x{} image \
             in square patches",
            first.name,
            format_shape(&first.shape),
            spec.height,
            spec.width
        ))
    })?;
    if let Some(other) = attention.iter().find(|l| l.shape[3] != Some(tokens)) {
        return Err(Error::Settings(format!(
            "the attention layers differ in length ('{}' {} after '{}' {}): rollout needs one \
             token sequence through the model",
            other.name,
            format_shape(&other.shape),
            first.name,
            format_shape(&first.shape)
        )));
    }
    Ok((attention.iter().map(|l| l.name.clone()).collect(), grid))
}

/// The rollout on the patch grid, `[1, height, width]`, its maximum 1.
pub fn rollout_grid(
    classifier: &Classifier,
    image: &FloatValue,
    progress: &mut dyn Progress,
) -> Result<Tensor<3>> {
    let (layers, grid) = attention_layers(classifier)?;
    let names: Vec<&str> = layers.iter().map(String::as_str).collect();
    let taps = classifier.activations(image.clone(), &names)?;
    let tokens = grid.skip + grid.patches();
    let mut rollout: Option<Tensor<2>> = None;
    for (i, (tap, name)) in taps.iter().zip(&layers).enumerate() {
        let attention = tap
            .to_rank::<4>()
            .filter(|a| a.dims()[0] == 1 && a.dims()[2..] == [tokens, tokens])
            .ok_or_else(|| {
                Error::Settings(format!(
                    "'{name}' is {:?}, not one image's attention over {tokens} tokens",
                    tap.dims()
                ))
            })?;
        let fused = attention.mean_dim(1).reshape([tokens, tokens]);
        let identity = Tensor::<2>::eye(tokens, &fused.device());
        let residual = (fused + identity) * 0.5;
        let rows = residual.clone().sum_dim(1);
        let layer = residual / rows;
        rollout = Some(match rollout {
            None => layer,
            Some(r) => layer.matmul(r),
        });
        step(progress, i + 1, layers.len())?;
    }
    let rollout = rollout.ok_or_else(|| Error::Settings("no attention layer".into()))?;
    // The class token's row; a model without one pools all tokens, so their mean row.
    let class_row = if grid.skip > 0 {
        rollout.narrow(0, 0, 1)
    } else {
        rollout.mean_dim(0)
    };
    let class_row =
        class_row
            .narrow(1, grid.skip, grid.patches())
            .reshape([1, grid.height, grid.width]);
    let max = class_row.clone().max().reshape([1, 1, 1]);
    Ok(class_row / max)
}

/// The rollout resized to the image, `[1, H, W]` (pytorch-grad-cam's resize).
pub fn attention_rollout(
    classifier: &Classifier,
    image: &FloatValue,
    progress: &mut dyn Progress,
) -> Result<FloatValue> {
    let grid = rollout_grid(classifier, image, progress)?;
    let spec = classifier.input();
    Ok(FloatValue::from_tensor(bilinear(
        grid,
        spec.height,
        spec.width,
    )))
}
