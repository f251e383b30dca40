//! Decoding and preprocessing a batch of a dataset's images, shared by everything that streams a
//! set through the model (evaluation, t-SNE, max-activating images) in the CLI and the app.

use std::collections::BTreeSet;

use super::{ImageSource, Item, Preprocess};
use crate::error::Result;

/// A batch's images in CHW order one after another, and the conversions made on the way.
pub struct PreparedBatch {
    pub data: Vec<f32>,
    /// Conversions a user should know about (colour, size), each said once.
    pub notes: BTreeSet<String>,
}

/// Reads, decodes and preprocesses `items` from `source`.
pub fn prepare_batch(
    source: &mut dyn ImageSource,
    items: &[Item],
    pre: &Preprocess,
) -> Result<PreparedBatch> {
    let mut data = Vec::with_capacity(items.len() * pre.channels * pre.height * pre.width);
    let mut notes = BTreeSet::new();
    for item in items {
        let image = pre.prepare_bytes(&source.read(&item.path)?, &item.path)?;
        notes.extend(image.notes);
        data.extend(image.data);
    }
    Ok(PreparedBatch { data, notes })
}
