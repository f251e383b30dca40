//! Decoding and preprocessing a batch of a dataset's images, shared by everything that streams a
//! set through the model (evaluation, t-SNE, max-activating images) in the CLI and the app.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{ImageSource, Item, Preprocess};
use crate::error::{Error, Result};

/// A batch's images in CHW order one after another, and the conversions made on the way.
pub struct PreparedBatch {
    pub data: Vec<f32>,
    /// The positions (in the items asked for) of the images in `data`, in order: all but the
    /// skipped ones.
    pub kept: Vec<usize>,
    /// The images that could not be read or decoded, and why: a damaged file does not stop a
    /// whole set.
    pub skipped: Vec<Skipped>,
    /// Conversions a user should know about (colour, size), each said once.
    pub notes: BTreeSet<String>,
}

/// An image of a set left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// Reads, decodes and preprocesses `items` from `source`. An image that cannot be read or
/// decoded is skipped and listed; a preprocessing that fits none of them is an error.
pub fn prepare_batch(
    source: &mut dyn ImageSource,
    items: &[Item],
    pre: &Preprocess,
) -> Result<PreparedBatch> {
    let mut data = Vec::with_capacity(items.len() * pre.channels * pre.height * pre.width);
    let mut kept = Vec::with_capacity(items.len());
    let mut skipped = Vec::new();
    let mut notes = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let image = source
            .read(&item.path)
            .and_then(|bytes| pre.prepare_bytes(&bytes, &item.path));
        match image {
            Ok(image) => {
                notes.extend(image.notes);
                data.extend(image.data);
                kept.push(i);
            }
            Err(e @ (Error::Image { .. } | Error::Dataset(_))) => skipped.push(Skipped {
                path: item.path.clone(),
                reason: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(PreparedBatch {
        data,
        kept,
        skipped,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    /// Files by path.
    struct Files(Dataset, Vec<(String, Vec<u8>)>);

    impl ImageSource for Files {
        fn dataset(&self) -> &Dataset {
            &self.0
        }

        fn read(&mut self, path: &str) -> Result<Vec<u8>> {
            self.1
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, b)| b.clone())
                .ok_or_else(|| Error::Dataset(format!("'{path}' is gone")))
        }
    }

    fn png() -> Vec<u8> {
        let mut bytes = Vec::new();
        image::GrayImage::from_pixel(2, 2, image::Luma([255]))
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .expect("png");
        bytes
    }

    #[test]
    fn damaged_images_are_skipped_and_named_and_the_rest_prepared() {
        let paths = [
            "a/ok.png",
            "a/empty.png",
            "b/text.png",
            "b/gone.png",
            "b/ok.png",
        ];
        let dataset =
            Dataset::from_paths("set", paths.iter().map(|p| p.to_string())).expect("dataset");
        let files = vec![
            ("a/ok.png".to_string(), png()),
            ("a/empty.png".to_string(), Vec::new()),
            ("b/text.png".to_string(), b"not an image".to_vec()),
            ("b/ok.png".to_string(), png()),
        ];
        let items = dataset.items.clone();
        let mut source = Files(dataset, files);
        let pre = Preprocess {
            width: 2,
            height: 2,
            channels: 1,
            scale: 1.0 / 255.0,
            mean: vec![0.0],
            std: vec![1.0],
        };
        let batch = prepare_batch(&mut source, &items, &pre).expect("batch");
        let kept: Vec<&str> = batch.kept.iter().map(|&i| items[i].path.as_str()).collect();
        assert_eq!(kept, ["a/ok.png", "b/ok.png"]);
        assert_eq!(batch.data.len(), 8);
        assert!(batch.data.iter().all(|v| (v - 1.0).abs() < 1e-6));
        let mut skipped: Vec<&str> = batch.skipped.iter().map(|s| s.path.as_str()).collect();
        skipped.sort();
        assert_eq!(skipped, ["a/empty.png", "b/gone.png", "b/text.png"]);
        let why = |path: &str| {
            let s = batch
                .skipped
                .iter()
                .find(|s| s.path == path)
                .expect("listed");
            s.reason.clone()
        };
        assert!(why("a/empty.png").contains("the file is empty"));
        assert!(why("b/gone.png").contains("is gone"));
        assert!(why("b/text.png").contains("could not be decoded"));
    }
}
