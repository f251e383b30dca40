//! Dataset metrics: accuracy, per-class accuracy and the confusion matrix, built up one batch
//! of predictions at a time (so a set of any size streams through); two models compared, and
//! hints of label problems; faithfulness scores of explanation maps, checks that a map says
//! something (diagnostics) and that it depends on the model (sanity).

pub mod comparison;
pub mod diagnostics;
pub mod evaluation;
#[cfg(feature = "engine")]
pub mod faithfulness;
pub mod label_issues;
pub mod sanity;

pub use evaluation::{Evaluation, FileResult};
