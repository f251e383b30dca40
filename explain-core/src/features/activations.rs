//! One image's activations at a layer, per channel: maps to tile and value histograms. Host
//! code over a read-back activation tensor.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::onnx::Layer;

/// Each selected channel's map, `height × width` values (a 1×1 map for vector layers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelMaps {
    pub height: usize,
    pub width: usize,
    pub channels: Vec<usize>,
    /// One map per selected channel, row-major.
    pub maps: Vec<Vec<f32>>,
}

/// Splits one image's activation `values` at `layer` into the maps of `channels`. A
/// transformer's token sequence gives each feature's map over the patch grid (the class token
/// and registers left out).
pub fn channel_maps(layer: &Layer, values: &[f32], channels: &[usize]) -> Result<ChannelMaps> {
    let total = layer
        .channels()
        .ok_or_else(|| Error::Settings(format!("'{}' has no channel axis", layer.name)))?;
    let (height, width) = match layer.tokens {
        Some(grid) => (grid.height, grid.width),
        None => layer.spatial_size().unwrap_or((1, 1)),
    };
    let area = height * width;
    let skip = layer.tokens.map_or(0, |grid| grid.skip);
    if values.len() != total * (area + skip) {
        return Err(Error::Settings(format!(
            "{} values do not fit one image of '{}' ({total} channels of {height}x{width})",
            values.len(),
            layer.name
        )));
    }
    let channels_last = layer.channel_axis == Some(3) || layer.tokens.is_some();
    let values = &values[skip * total..];
    let maps = channels
        .iter()
        .map(|&c| {
            if c >= total {
                return Err(Error::Settings(format!(
                    "channel {c} does not exist: '{}' has {total}",
                    layer.name
                )));
            }
            Ok((0..area)
                .map(|p| {
                    if channels_last {
                        values[p * total + c]
                    } else {
                        values[c * area + p]
                    }
                })
                .collect())
        })
        .collect::<Result<_>>()?;
    Ok(ChannelMaps {
        height,
        width,
        channels: channels.to_vec(),
        maps,
    })
}

/// A histogram of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub min: f32,
    pub max: f32,
    /// Counts of `bins` equal-width bins over [min, max] (the last bin includes max).
    pub counts: Vec<usize>,
}

pub fn histogram(values: &[f32], bins: usize) -> Histogram {
    let bins = bins.max(1);
    let (min, max) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (min, max) = if min > max { (0.0, 0.0) } else { (min, max) };
    let width = (max - min) / bins as f32;
    let mut counts = vec![0; bins];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let b = if width > 0.0 {
            ((v - min) / width) as usize
        } else {
            0
        };
        counts[b.min(bins - 1)] += 1;
    }
    Histogram { min, max, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(shape: [usize; 4], axis: usize) -> Layer {
        Layer {
            name: "l".into(),
            op: "Conv".into(),
            shape: shape.iter().map(|&d| Some(d)).collect(),
            spatial: true,
            channel_axis: Some(axis),
            tokens: None,
        }
    }

    #[test]
    fn token_sequences_give_maps_over_the_patch_grid() {
        // Two features of a class token and a 1 x 2 patch grid: [T = 3, D = 2].
        let layer = Layer {
            name: "blocks.0.norm1".into(),
            op: "LayerNormalization".into(),
            shape: vec![None, Some(3), Some(2)],
            spatial: false,
            channel_axis: None,
            tokens: Some(crate::onnx::layers::TokenGrid {
                skip: 1,
                height: 1,
                width: 2,
            }),
        };
        let values = [9.0, 9.0, 1.0, 2.0, 3.0, 4.0];
        let maps = channel_maps(&layer, &values, &[0, 1]).expect("maps");
        assert_eq!((maps.height, maps.width), (1, 2));
        assert_eq!(maps.maps, vec![vec![1.0, 3.0], vec![2.0, 4.0]]);
    }

    #[test]
    fn maps_come_from_either_layout() {
        let first =
            channel_maps(&layer([1, 2, 1, 2], 1), &[1.0, 2.0, 3.0, 4.0], &[1]).expect("maps");
        assert_eq!(first.maps, vec![vec![3.0, 4.0]]);
        let last =
            channel_maps(&layer([1, 1, 2, 2], 3), &[1.0, 2.0, 3.0, 4.0], &[1]).expect("maps");
        assert_eq!(last.maps, vec![vec![2.0, 4.0]]);
        assert!(channel_maps(&layer([1, 2, 1, 2], 1), &[0.0; 4], &[2]).is_err());
    }

    #[test]
    fn histogram_counts_every_value_once() {
        let h = histogram(&[0.0, 0.5, 1.0, 1.0, f32::NAN], 2);
        assert_eq!((h.min, h.max, h.counts), (0.0, 1.0, vec![1, 3]));
    }
}
