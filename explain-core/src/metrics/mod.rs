//! Dataset metrics: accuracy, per-class accuracy and the confusion matrix, built up one batch
//! of predictions at a time (so a set of any size streams through), and faithfulness scores of
//! explanation maps, and checks that a map says something (diagnostics).

pub mod diagnostics;
pub mod evaluation;
#[cfg(feature = "engine")]
pub mod faithfulness;
pub mod sanity;

pub use evaluation::{Evaluation, FileResult};
