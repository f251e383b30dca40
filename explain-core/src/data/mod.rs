//! Images in: labelled image sets, decoding and preprocessing.

pub mod dataset;
pub mod preprocess;

pub use dataset::{Dataset, Item, ZipDataset};
pub use preprocess::{PreparedImage, Preprocess};
