//! Image bytes -> the float tensor a network expects.
//!
//! Decode (PNG, JPEG, GIF, BMP, WebP via the `image` crate), convert grey <-> RGB to the
//! network's channel count (and say so), resize to the input size (bilinear), then
//! `x = (pixel * scale - mean[c]) / std[c]` with pixels 0..=255, in CHW order.
//! Presets cover the common conventions: `[0, 1]` inputs (scale 1/255) and ImageNet
//! (scale 1/255, mean 0.485/0.456/0.406, std 0.229/0.224/0.225).

use image::{DynamicImage, imageops::FilterType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::InputSpec;

/// How raw pixels become network input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    /// Multiplies raw 0..=255 pixel values.
    pub scale: f32,
    /// Subtracted after scaling; one value for all channels or one per channel.
    pub mean: Vec<f32>,
    /// Divides after the mean; one value or one per channel.
    pub std: Vec<f32>,
}

/// A preprocessed image with notes on what was converted.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedImage {
    /// CHW values.
    pub data: Vec<f32>,
    /// What was done that the user should know about (colour conversion, resizing).
    pub notes: Vec<String>,
    /// The image at network resolution as RGBA, for display.
    pub rgba: Vec<u8>,
}

impl Preprocess {
    /// `[0, 1]` input: pixel / 255.
    pub fn unit_range(input: &InputSpec) -> Self {
        Self {
            width: input.width,
            height: input.height,
            channels: input.channels,
            scale: 1.0 / 255.0,
            mean: vec![0.0],
            std: vec![1.0],
        }
    }

    /// ImageNet normalisation (torchvision's constants).
    pub fn imagenet(input: &InputSpec) -> Self {
        Self {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
            ..Self::unit_range(input)
        }
    }

    /// Checks the settings make sense before any image is touched.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Err(Error::Preprocess(m));
        if self.width == 0 || self.height == 0 {
            return err("width and height must be positive".into());
        }
        if !(1..=4).contains(&self.channels) {
            return err(format!(
                "{} channels; use 1 (grey) or 3 (RGB)",
                self.channels
            ));
        }
        for (name, v) in [("mean", &self.mean), ("std", &self.std)] {
            if v.len() != 1 && v.len() != self.channels {
                return err(format!(
                    "{name} has {} values; give 1 or {} (one per channel)",
                    v.len(),
                    self.channels
                ));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return err(format!("{name} must be finite numbers"));
            }
        }
        if self.std.contains(&0.0) {
            return err("std must not be zero".into());
        }
        if !self.scale.is_finite() || self.scale == 0.0 {
            return err("scale must be a non-zero number".into());
        }
        Ok(())
    }

    fn per_channel(values: &[f32], c: usize) -> f32 {
        if values.len() == 1 {
            values[0]
        } else {
            values[c]
        }
    }

    /// Checks that these settings make images of the size and channel count `input` takes.
    pub fn check_fits(&self, input: &InputSpec) -> Result<()> {
        if (self.channels, self.height, self.width) == (input.channels, input.height, input.width) {
            return Ok(());
        }
        Err(Error::Preprocess(format!(
            "it makes {}x{}x{} images but the model takes {}x{}x{} (channels x height x width)",
            self.channels, self.height, self.width, input.channels, input.height, input.width
        )))
    }

    /// The inverse: CHW network values back to RGBA pixels (clamped), to show a synthesised
    /// input (deep dream) as an image.
    pub fn to_rgba(&self, data: &[f32]) -> Vec<u8> {
        let area = self.width * self.height;
        let pixel = |c: usize, p: usize| -> u8 {
            let x = data.get(c * area + p).copied().unwrap_or(0.0);
            let v = (x * Self::per_channel(&self.std, c) + Self::per_channel(&self.mean, c))
                / self.scale;
            v.round().clamp(0.0, 255.0) as u8
        };
        (0..area)
            .flat_map(|p| {
                if self.channels >= 3 {
                    [pixel(0, p), pixel(1, p), pixel(2, p), 255]
                } else {
                    let g = pixel(0, p);
                    [g, g, g, 255]
                }
            })
            .collect()
    }

    /// Decodes and preprocesses image file bytes; `name` is used in messages.
    pub fn prepare_bytes(&self, bytes: &[u8], name: &str) -> Result<PreparedImage> {
        self.prepare(&decode_image(bytes, name)?)
    }

    /// Preprocesses a decoded image.
    pub fn prepare(&self, image: &DynamicImage) -> Result<PreparedImage> {
        self.validate()?;
        let mut notes = Vec::new();
        let source_grey = !image.color().has_color();
        let (w, h) = (self.width as u32, self.height as u32);
        let resized = if image.width() != w || image.height() != h {
            notes.push(format!(
                "resized from {}x{} to {w}x{h}",
                image.width(),
                image.height()
            ));
            image.resize_exact(w, h, FilterType::Triangle)
        } else {
            image.clone()
        };
        let area = self.width * self.height;
        let mut data = vec![0.0; self.channels * area];
        let rgba;
        if self.channels == 1 {
            if !source_grey {
                notes.push("converted the colour image to grey for this grey-scale network".into());
            }
            let grey = resized.to_luma8();
            let (m, s) = (self.mean[0], self.std[0]);
            for (i, p) in grey.as_raw().iter().enumerate() {
                data[i] = (*p as f32 * self.scale - m) / s;
            }
            rgba = DynamicImage::ImageLuma8(grey).to_rgba8().into_raw();
        } else {
            if source_grey {
                notes.push("converted the grey image to RGB for this colour network".into());
            }
            let rgb = resized.to_rgb8();
            for c in 0..self.channels.min(3) {
                let (m, s) = (
                    Self::per_channel(&self.mean, c),
                    Self::per_channel(&self.std, c),
                );
                for (i, px) in rgb.pixels().enumerate() {
                    data[c * area + i] = (px.0[c] as f32 * self.scale - m) / s;
                }
            }
            rgba = DynamicImage::ImageRgb8(rgb).to_rgba8().into_raw();
        }
        Ok(PreparedImage { data, notes, rgba })
    }
}

/// Decodes an image file within the limits in force ([`crate::limits`]: 16384 pixels a side
/// and 512 MB by default; a file can declare 100000 x 100000 in a few bytes, so the header's
/// size is checked before decoding); `name` is used in messages.
pub fn decode_image(bytes: &[u8], name: &str) -> Result<image::DynamicImage> {
    let failed = |reason: String| Error::Image {
        name: name.to_string(),
        reason,
    };
    if bytes.is_empty() {
        return Err(failed("the file is empty".into()));
    }
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| failed(e.to_string()))
    };
    // The header's size first, for a message that says it (read without the limits, which
    // would refuse a huge header before saying its size; only the header is read).
    let mut probe = reader()?;
    probe.no_limits();
    let most = crate::limits::current();
    if let Ok((width, height)) = probe.into_dimensions()
        && width.max(height) > most.image_side
    {
        return Err(failed(format!(
            "it declares {width}x{height} pixels, and UNPIC decodes at most {} a side; scale \
             it down first",
            most.image_side
        )));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(most.image_side);
    limits.max_image_height = Some(most.image_side);
    limits.max_alloc = Some(most.image_bytes);
    let mut reader = reader()?;
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => failed(format!(
            "decoding it needs more than {} MB; scale it down first",
            most.image_bytes >> 20
        )),
        e => failed(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, Luma, Rgb, RgbImage};

    use super::*;

    #[test]
    fn settings_for_another_size_do_not_fit() {
        let input = InputSpec {
            name: "x".into(),
            channels: 3,
            height: 224,
            width: 224,
            layout: crate::model::Layout::Nchw,
            any_size: false,
        };
        let mut p = Preprocess::imagenet(&input);
        assert!(p.check_fits(&input).is_ok());
        p.height = 112;
        let err = p.check_fits(&input).expect_err("wrong size");
        assert!(
            err.to_string().contains("3x112x224") && err.to_string().contains("3x224x224"),
            "{err}"
        );
    }

    fn spec(channels: usize, size: usize) -> InputSpec {
        InputSpec {
            name: "input".into(),
            channels,
            height: size,
            width: size,
            layout: crate::model::Layout::Nchw,
            any_size: false,
        }
    }

    #[test]
    fn grey_pixels_scale_to_unit_range() {
        let img =
            DynamicImage::ImageLuma8(GrayImage::from_fn(2, 2, |x, _| Luma([(x * 255) as u8])));
        let out = Preprocess::unit_range(&spec(1, 2))
            .prepare(&img)
            .expect("prepare");
        assert_eq!(out.data, vec![0.0, 1.0, 0.0, 1.0]);
        assert!(out.notes.is_empty());
    }

    #[test]
    fn colour_image_for_a_grey_network_is_converted_and_reported() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(2, 2, Rgb([255, 255, 255])));
        let out = Preprocess::unit_range(&spec(1, 2))
            .prepare(&img)
            .expect("prepare");
        assert_eq!(out.data, vec![1.0; 4]);
        assert!(out.notes[0].contains("grey"), "{:?}", out.notes);
    }

    #[test]
    fn imagenet_normalises_each_channel() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([255, 0, 255])));
        let out = Preprocess::imagenet(&spec(3, 1))
            .prepare(&img)
            .expect("prepare");
        let expect = [
            (1.0 - 0.485) / 0.229,
            (0.0 - 0.456) / 0.224,
            (1.0 - 0.406) / 0.225,
        ];
        for (got, want) in out.data.iter().zip(expect) {
            assert!((got - want).abs() < 1e-5);
        }
    }

    #[test]
    fn garbage_bytes_are_a_clear_error() {
        let err = Preprocess::unit_range(&spec(1, 2))
            .prepare_bytes(b"not an image", "notes.txt")
            .expect_err("must fail");
        assert!(err.to_string().contains("notes.txt"), "{err}");
    }

    /// A PNG file declaring `width` x `height` RGBA pixels, with almost no pixel data.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        fn crc32(bytes: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &b in bytes {
                crc ^= b as u32;
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], data: &[u8]| {
            let mut body = kind.to_vec();
            body.extend(data);
            png.extend((data.len() as u32).to_be_bytes());
            png.extend(&body);
            png.extend(crc32(&body).to_be_bytes());
        };
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([8, 6, 0, 0, 0]);
        chunk(b"IHDR", &ihdr);
        // An empty zlib stream.
        chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        chunk(b"IEND", &[]);
        png
    }

    #[test]
    fn an_image_declaring_ten_billion_pixels_is_refused_before_decoding() {
        let err = decode_image(&png_header(100_000, 100_000), "huge.png").expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("'huge.png'") && text.contains("100000x100000") && text.contains("16384"),
            "{text}"
        );
        // Within the sides but past the memory: 16000 x 16000 RGBA is 1 GB.
        let err = decode_image(&png_header(16_000, 16_000), "big.png").expect_err("refused");
        assert!(err.to_string().contains("512 MB"), "{err}");
    }

    #[test]
    fn an_empty_file_is_named_as_empty() {
        let err = decode_image(&[], "empty.png").expect_err("empty");
        assert!(
            err.to_string()
                .contains("'empty.png' could not be decoded: the file is empty")
        );
    }

    #[test]
    fn zero_std_is_rejected() {
        let p = Preprocess {
            std: vec![0.0],
            ..Preprocess::unit_range(&spec(1, 2))
        };
        assert!(p.validate().is_err());
    }
}
