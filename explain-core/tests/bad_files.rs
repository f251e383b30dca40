//! The images and zips of tests/bad_inputs (made by `make_bad_files.py` there): unusual images
//! a camera or an editor writes are converted and predicted; damaged and hostile ones get one
//! message that names the file and what was wrong.

use std::path::PathBuf;

use explain_core::data::dataset::{ImageSource, ZipDataset};
use explain_core::data::preprocess::Preprocess;
use explain_core::{Classifier, Device};

fn bytes(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/bad_inputs")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn demo_classifier() -> Classifier {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../public/demo/fashion-cnn.onnx");
    let model = std::fs::read(&path).expect("the demo model");
    Classifier::from_bytes(&model, &Device::flex()).expect("the demo model opens")
}

#[test]
fn unusual_images_are_converted_and_predicted() {
    let classifier = demo_classifier();
    let pre = Preprocess::unit_range(classifier.input());
    for (file, note) in [
        ("grey16.png", None),
        ("palette.png", Some("grey")),
        ("cmyk.jpg", Some("grey")),
        ("grey_alpha.png", None),
        ("animated.gif", Some("grey")),
        ("one_pixel.png", Some("resized from 1x1")),
        ("constant.png", Some("resized")),
    ] {
        let image = pre
            .prepare_bytes(&bytes(file), file)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(image.data.len(), classifier.input().image_len(), "{file}");
        assert!(image.data.iter().all(|v| (0.0..=1.0).contains(v)), "{file}");
        if let Some(note) = note {
            assert!(
                image.notes.iter().any(|n| n.contains(note)),
                "{file}: {:?}",
                image.notes
            );
        }
        let logits = classifier
            .logits(classifier.batch(image.data, 1).expect("batch"))
            .expect("run")
            .to_vec()
            .expect("read");
        assert!(logits.iter().all(|v| v.is_finite()), "{file}: {logits:?}");
    }
}

#[test]
fn a_truncated_image_is_named_and_explained() {
    let classifier = demo_classifier();
    let pre = Preprocess::unit_range(classifier.input());
    let err = pre
        .prepare_bytes(&bytes("truncated.png"), "truncated.png")
        .expect_err("half a PNG");
    let m = err.to_string();
    assert!(m.contains("'truncated.png' could not be decoded"), "{m}");
    let err = pre
        .prepare_bytes(&bytes("huge_declared.png"), "huge_declared.png")
        .expect_err("a 100000x100000 header");
    let m = err.to_string();
    assert!(m.contains("declares 100000x100000 pixels"), "{m}");
}

fn open_zip(name: &str) -> explain_core::Result<ZipDataset> {
    ZipDataset::from_bytes(name, bytes(name))
}

/// The message a zip is refused with.
fn refusal(name: &str) -> String {
    match open_zip(name) {
        Ok(_) => panic!("{name} opened"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn zips_that_escape_their_folder_or_repeat_a_name_are_refused() {
    let m = refusal("escaping_names.zip");
    assert!(
        m.contains("'../../evil/x.png'") && m.contains("points outside its folder"),
        "{m}"
    );
    let m = refusal("duplicate_names.zip");
    assert!(m.contains("holds 3 entries under 2 names"), "{m}");
    for damaged in ["not_a_zip.zip", "truncated.zip"] {
        let m = refusal(damaged);
        assert!(
            m.contains(&format!("'{damaged}' could not be read as a zip archive")),
            "{m}"
        );
    }
}

#[test]
fn nested_zips_empty_folders_and_one_class_are_read_as_they_are() {
    // The zip inside is not followed: two images in two classes.
    let mut nested = open_zip("nested.zip").expect("opens");
    assert_eq!(nested.dataset.classes, ["a", "b"]);
    assert_eq!(nested.dataset.items.len(), 2);
    assert!(nested.read("b/1.png").is_ok());
    assert!(nested.read("b/inner.zip").is_err());
    // An empty class folder is no class.
    let empty = open_zip("empty_class.zip").expect("opens");
    assert_eq!(empty.dataset.classes, ["a", "b"]);
    // One class is a valid set (every image of it).
    let one = open_zip("one_class.zip").expect("opens");
    assert_eq!(one.dataset.classes, ["a"]);
    assert_eq!(one.dataset.counts(), [2]);
}
