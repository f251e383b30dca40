//! What a layer's channels respond to: activation maps and histograms for one image, the
//! dataset images that drive each channel hardest, and deep dream.

pub mod activations;
pub mod deep_dream;
pub mod max_activations;

pub use activations::{ChannelMaps, Histogram, channel_maps, histogram};
pub use deep_dream::DeepDream;
#[cfg(feature = "engine")]
pub use deep_dream::deep_dream;
pub use max_activations::TopImages;
