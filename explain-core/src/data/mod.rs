//! Images in: labelled image sets, decoding and preprocessing.

pub mod batch;
pub mod dataset;
pub mod preprocess;
pub mod preprocess_check;
pub mod presets;

pub use batch::{PreparedBatch, Skipped, prepare_batch};
pub use dataset::{Dataset, FileSet, ImageSource, Item, ZipDataset};
pub use preprocess::{PreparedImage, Preprocess};
pub use presets::Preset;
