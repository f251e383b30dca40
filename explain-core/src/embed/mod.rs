//! Embeddings of layer activations for the map view.

pub mod pca;
pub mod tsne;

pub use tsne::{Embedding, TsneSettings, tsne};
