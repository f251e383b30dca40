//! Images in: decoding and preprocessing.

pub mod preprocess;

pub use preprocess::{PreparedImage, Preprocess};
