//! Maps to pixels: channel reduction, normalisation, colour maps and overlays, as RGBA buffers.
//! Pure host code, the same for the app's canvases and the CLI's PNGs.

use serde::{Deserialize, Serialize};

pub mod report;

/// How a multi-channel map becomes one value per pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ChannelReduce {
    /// Largest value over channels (Simonyan et al.'s saliency display).
    #[default]
    Max,
    /// Sum over channels (signed attributions such as IG).
    Sum,
    /// Largest absolute value over channels.
    MaxAbs,
}

/// `[C, H, W]` (channels first) to `[H, W]`.
pub fn reduce_channels(data: &[f32], channels: usize, reduce: ChannelReduce) -> Vec<f32> {
    let area = data.len() / channels.max(1);
    (0..area)
        .map(|p| {
            let values = (0..channels).map(|c| data[c * area + p]);
            match reduce {
                ChannelReduce::Max => values.fold(f32::MIN, f32::max),
                ChannelReduce::Sum => values.sum(),
                ChannelReduce::MaxAbs => values.map(f32::abs).fold(0.0, f32::max),
            }
        })
        .collect()
}

/// Scales to [0, 1]: min-max, or for signed maps `|v| / max|v|` keeping the sign
/// (`symmetric`, then 0 maps to 0.5).
pub fn normalise(map: &[f32], symmetric: bool) -> Vec<f32> {
    if symmetric {
        let m = map
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()))
            .max(f32::MIN_POSITIVE);
        map.iter().map(|v| 0.5 + 0.5 * v / m).collect()
    } else {
        let (lo, hi) = map
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let span = (hi - lo).max(f32::MIN_POSITIVE);
        map.iter().map(|v| (v - lo) / span).collect()
    }
}

/// Colour maps for heatmaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ColourMap {
    /// Perceptually uniform, readable in grey and by colour-blind users.
    #[default]
    Viridis,
    Inferno,
    /// Google's improved rainbow (polynomial fit): more contrast than viridis, without jet's
    /// false edges.
    Turbo,
    /// The classic rainbow (what the original used), kept for comparison.
    Jet,
    /// Blue-white-red for signed maps.
    Diverging,
    Grey,
}

/// Anchor colours of the maps (evenly spaced, linearly interpolated).
#[rustfmt::skip]
fn anchors(map: ColourMap) -> &'static [[u8; 3]] {
    match map {
        ColourMap::Viridis => &[
            [68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
            [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37],
        ],
        ColourMap::Inferno => &[
            [0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
            [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164],
        ],
        ColourMap::Turbo => &[
            [35, 23, 27], [73, 62, 175], [68, 106, 238], [50, 149, 247], [38, 189, 225],
            [41, 221, 187], [64, 243, 146], [102, 253, 109], [150, 250, 80], [198, 235, 59],
            [238, 208, 45], [255, 171, 36], [255, 128, 29], [238, 84, 21], [201, 45, 12],
            [161, 18, 2], [144, 13, 0],
        ],
        ColourMap::Jet => &[
            [0, 0, 128], [0, 0, 255], [0, 128, 255], [0, 255, 255], [128, 255, 128],
            [255, 255, 0], [255, 128, 0], [255, 0, 0], [128, 0, 0],
        ],
        ColourMap::Diverging => &[[33, 102, 172], [247, 247, 247], [178, 24, 43]],
        ColourMap::Grey => &[[0, 0, 0], [255, 255, 255]],
    }
}

/// The colour of `t` in [0, 1] (clamped).
pub fn colour(map: ColourMap, t: f32) -> [u8; 3] {
    let a = anchors(map);
    let x = t.clamp(0.0, 1.0) * (a.len() - 1) as f32;
    let i = (x.floor() as usize).min(a.len() - 2);
    let f = x - i as f32;
    std::array::from_fn(|c| (a[i][c] as f32 * (1.0 - f) + a[i + 1][c] as f32 * f).round() as u8)
}

/// A normalised map as an RGBA heatmap.
pub fn heatmap(values: &[f32], map: ColourMap) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| {
            let [r, g, b] = colour(map, v);
            [r, g, b, 255]
        })
        .collect()
}

/// The heatmap blended over an RGBA image of the same size with `opacity` in [0, 1].
pub fn overlay(image: &[u8], values: &[f32], map: ColourMap, opacity: f32) -> Vec<u8> {
    let a = opacity.clamp(0.0, 1.0);
    image
        .chunks_exact(4)
        .zip(values)
        .flat_map(|(px, &v)| {
            let c = colour(map, v);
            let mix = |i: usize| (px[i] as f32 * (1.0 - a) + c[i] as f32 * a).round() as u8;
            [mix(0), mix(1), mix(2), 255]
        })
        .collect()
}

/// An explanation map (one image, `[C, H, W]`) as one value per pixel in [0, 1]: channels
/// reduced (summed for signed maps, maximum otherwise) and normalised (around 0.5 for signed
/// maps), ready for [`overlay`] with any colour map.
pub fn map_values(map_chw: &[f32], channels: usize, signed: bool) -> Vec<f32> {
    let reduce = if signed {
        ChannelReduce::Sum
    } else {
        ChannelReduce::Max
    };
    normalise(&reduce_channels(map_chw, channels.max(1), reduce), signed)
}

/// An explanation map (one image, `[C, H, W]`) drawn over the image: channels reduced (summed
/// for signed maps, maximum otherwise), normalised (around zero for signed maps), coloured.
pub fn map_overlay(
    image: &[u8],
    map_chw: &[f32],
    channels: usize,
    signed: bool,
    colours: ColourMap,
    opacity: f32,
) -> Vec<u8> {
    overlay(
        image,
        &map_values(map_chw, channels, signed),
        colours,
        opacity,
    )
}

/// Encodes RGBA pixels as PNG bytes.
pub fn png(rgba: &[u8], width: usize, height: usize) -> crate::Result<Vec<u8>> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    image::ImageEncoder::write_image(
        encoder,
        rgba,
        width as u32,
        height as u32,
        image::ExtendedColorType::Rgba8,
    )
    .map_err(|e| crate::Error::Settings(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_maps_hit_their_ends() {
        assert_eq!(colour(ColourMap::Grey, 0.0), [0, 0, 0]);
        assert_eq!(colour(ColourMap::Grey, 1.0), [255, 255, 255]);
        assert_eq!(colour(ColourMap::Viridis, 2.0), [253, 231, 37]);
        assert_eq!(colour(ColourMap::Diverging, 0.5), [247, 247, 247]);
    }

    #[test]
    fn reduce_normalise_and_overlay() {
        let map = reduce_channels(&[1.0, -3.0, 2.0, 0.5], 2, ChannelReduce::Max);
        assert_eq!(map, vec![2.0, 0.5]);
        assert_eq!(normalise(&[1.0, 3.0], false), vec![0.0, 1.0]);
        assert_eq!(normalise(&[-2.0, 1.0], true), vec![0.0, 0.75]);
        let image = [100, 100, 100, 255, 0, 0, 0, 255];
        let out = overlay(&image, &[1.0, 0.0], ColourMap::Grey, 0.5);
        assert_eq!(out, vec![178, 178, 178, 255, 0, 0, 0, 255]);
        let bytes = png(&out, 2, 1).expect("png");
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
