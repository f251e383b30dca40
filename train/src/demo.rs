//! Writes `public/demo/`: the model, its labels, a zip of class folders with a sample of the test
//! set (the same archive format a user may open), and `demo.json`, which the app reads.

use std::{io::Write, path::Path};

use anyhow::{Context, Result};
use image::{GrayImage, ImageFormat};
use serde_json::json;
use zip::{CompressionMethod, ZipWriter, write::SimpleFileOptions};

use crate::idx::Split;

/// Fashion-MNIST's classes in label order.
pub const CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

pub const MODEL_FILE: &str = "fashion-cnn.onnx";
pub const LABELS_FILE: &str = "labels.txt";
pub const DATASET_FILE: &str = "fashion-mnist-sample.zip";
const DATASET_ROOT: &str = "fashion-mnist-sample";

/// Folder name of class `k`: `0_tshirt_top`, ... (the index keeps the sorted order the label order).
pub fn class_folder(k: usize) -> String {
    let slug: String = CLASSES[k]
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    format!("{k}_{slug}")
}

/// Writes the demo files into `dir`; the sample is the first `per_class` test images of each class.
pub fn write(dir: &Path, onnx: &[u8], test: &Split, per_class: usize) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join(MODEL_FILE), onnx)?;
    std::fs::write(dir.join(LABELS_FILE), CLASSES.join("\n") + "\n")?;
    std::fs::write(dir.join(DATASET_FILE), sample_zip(test, per_class)?)?;
    let manifest = json!({
        "model": MODEL_FILE,
        "labels": LABELS_FILE,
        "dataset": DATASET_FILE,
        "preset": "unit",
    });
    std::fs::write(
        dir.join("demo.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    Ok(())
}

fn sample_zip(test: &Split, per_class: usize) -> Result<Vec<u8>> {
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // PNG is already compressed: storing it saves the browser an inflate per image.
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    let mut taken = [0usize; CLASSES.len()];
    for i in 0..test.len() {
        let k = usize::from(test.labels[i]);
        if taken[k] == per_class {
            continue;
        }
        taken[k] += 1;
        let image = GrayImage::from_raw(
            test.width as u32,
            test.height as u32,
            test.pixels(i).to_vec(),
        )
        .context("test image of the wrong size")?;
        let mut png = std::io::Cursor::new(Vec::new());
        image.write_to(&mut png, ImageFormat::Png)?;
        zip.start_file(
            format!("{DATASET_ROOT}/{}/{i:05}.png", class_folder(k)),
            options,
        )?;
        zip.write_all(png.get_ref())?;
    }
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_folders_sort_in_label_order_and_read_well() {
        let folders: Vec<String> = (0..CLASSES.len()).map(class_folder).collect();
        assert_eq!(folders[0], "0_t_shirt_top");
        assert_eq!(folders[9], "9_ankle_boot");
        let mut sorted = folders.clone();
        sorted.sort();
        assert_eq!(sorted, folders);
    }
}
