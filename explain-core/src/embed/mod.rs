//! Embeddings of layer activations for the map view.

pub mod pca;
pub mod tsne;
pub mod umap;

pub use tsne::{Embedding, TsneSettings, tsne};
