//! What each fuzz target feeds its bytes to: the same calls the CLI and the app's worker make
//! when a user opens a file of that kind.

use explain_core::data::dataset::{ImageSource, ZipDataset};
use explain_core::data::preprocess::Preprocess;
use explain_core::model::{check_scores, parse_labels};
use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device, InputSpec, Layout};

/// A reader under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An ONNX model: import, and when it opens a forward pass of two images.
    Onnx,
    /// A zip of class folders: listing, then every image read and preprocessed.
    Zip,
    /// One image file, preprocessed for a grey 28x28 and a colour 32x32 network.
    Image,
    /// A `.npy` tensor.
    Npy,
    /// A labels file.
    Labels,
}

/// How a target answered an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Read (and run) without complaint.
    Accepted,
    /// Refused with a message: what a user would see.
    Refused(String),
    /// Accepted but wrong without a word (a finding, like a panic).
    Wrong(String),
}

/// The largest model input the fuzzer runs a forward pass on (values per image): larger models
/// are imported only, so that one input stays within milliseconds.
const MAX_RUN_VALUES: usize = 3 * 64 * 64;

/// The most images of a fuzzed zip that are decoded.
const MAX_ZIP_IMAGES: usize = 8;

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Onnx,
        Target::Zip,
        Target::Image,
        Target::Npy,
        Target::Labels,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Onnx => "onnx",
            Target::Zip => "zip",
            Target::Image => "image",
            Target::Npy => "npy",
            Target::Labels => "labels",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Feeds `bytes` to the reader. Panics are the caller's to catch.
    pub fn run(self, bytes: &[u8]) -> Outcome {
        let result = match self {
            Target::Onnx => run_onnx(bytes),
            Target::Zip => run_zip(bytes),
            Target::Image => run_image(bytes),
            Target::Npy => run_npy(bytes),
            Target::Labels => parse_labels(&String::from_utf8_lossy(bytes))
                .map(|_| Outcome::Accepted)
                .map_err(|e| e.to_string()),
        };
        result.unwrap_or_else(Outcome::Refused)
    }
}

type Answer = std::result::Result<Outcome, String>;

fn run_onnx(bytes: &[u8]) -> Answer {
    let device = Device::flex();
    let classifier = Classifier::from_bytes(bytes, &device).map_err(|e| e.to_string())?;
    let spec = classifier.input().clone();
    let k = classifier.num_classes();
    if k == 0 {
        return Ok(Outcome::Wrong("a classifier with 0 classes opened".into()));
    }
    classifier.layer_table();
    if spec.image_len() > MAX_RUN_VALUES {
        return Ok(Outcome::Accepted);
    }
    let n = classifier.fixed_batch().unwrap_or(2);
    let batch = FloatValue::from_vec(
        vec![0.5; n * spec.image_len()],
        &spec.batch_shape(n),
        &device,
    )
    .map_err(|e| e.to_string())?;
    let logits = classifier
        .logits(batch)
        .and_then(|l| l.to_vec())
        .map_err(|e| e.to_string())?;
    if logits.len() != n * k {
        return Ok(Outcome::Wrong(format!(
            "{} scores for {n} images of {k} classes",
            logits.len()
        )));
    }
    check_scores(&logits, k, |i| format!("image {i}")).map_err(|e| e.to_string())?;
    Ok(Outcome::Accepted)
}

fn spec(channels: usize, side: usize) -> InputSpec {
    InputSpec {
        name: "x".into(),
        channels,
        height: side,
        width: side,
        layout: Layout::Nchw,
        any_size: false,
    }
}

/// Preprocesses an image the way the app does; a result of the wrong length or with values
/// outside [0, 1] is wrong.
fn prepare(bytes: &[u8], name: &str, channels: usize, side: usize) -> Answer {
    let pre = Preprocess::unit_range(&spec(channels, side));
    let image = pre.prepare_bytes(bytes, name).map_err(|e| e.to_string())?;
    if image.data.len() != channels * side * side {
        return Ok(Outcome::Wrong(format!(
            "{name}: {} values for {channels}x{side}x{side}",
            image.data.len()
        )));
    }
    if let Some(v) = image.data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Ok(Outcome::Wrong(format!("{name}: value {v} outside [0, 1]")));
    }
    Ok(Outcome::Accepted)
}

fn run_image(bytes: &[u8]) -> Answer {
    match prepare(bytes, "fuzz.png", 1, 28)? {
        Outcome::Accepted => prepare(bytes, "fuzz.png", 3, 32),
        other => Ok(other),
    }
}

fn run_zip(bytes: &[u8]) -> Answer {
    let mut set = ZipDataset::from_bytes("fuzz.zip", bytes.to_vec()).map_err(|e| e.to_string())?;
    let paths: Vec<String> = set
        .dataset
        .items
        .iter()
        .take(MAX_ZIP_IMAGES)
        .map(|i| i.path.clone())
        .collect();
    let mut first_error = None;
    for path in paths {
        // A bad image inside a set is skipped with a warning in the app: keep going.
        let answer = set
            .read(&path)
            .map_err(|e| e.to_string())
            .and_then(|image| prepare(&image, &path, 1, 28));
        match answer {
            Ok(Outcome::Accepted) => {}
            Ok(wrong) => return Ok(wrong),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(Outcome::Accepted), Err)
}

fn run_npy(bytes: &[u8]) -> Answer {
    let t = explain_core::npy::read_f32(bytes, "fuzz.npy").map_err(|e| e.to_string())?;
    let expected = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if expected != Some(t.data.len()) {
        return Ok(Outcome::Wrong(format!(
            "{} values for shape {:?}",
            t.data.len(),
            t.shape
        )));
    }
    Ok(Outcome::Accepted)
}
