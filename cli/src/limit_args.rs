//! `--max-*`: raise (or lower) the sizes past which files are refused (`explain_core::limits`),
//! for the user whose images or models really are that large.

use clap::Args;
use explain_core::limits::{self, Limits};

#[derive(Args, Debug, Default)]
pub struct LimitArgs {
    /// The longest image side decoded, in pixels (default 16384).
    #[arg(long, global = true, value_name = "PIXELS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_image_side: Option<u32>,
    /// The most memory decoding one image may take, in MB (default 512).
    #[arg(long, global = true, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_image_mb: Option<u64>,
    /// The most one file inside a dataset zip may unpack to, in MB (default 256).
    #[arg(long, global = true, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_file_mb: Option<u64>,
    /// The most elements of a tensor whose size the model file decides (ConstantOfShape, Range,
    /// Expand, Pad, Concat), default 268435456 (1 GiB of float32).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1 << 40))]
    pub max_tensor_elements: Option<u64>,
}

impl LimitArgs {
    /// Puts the flags given in force (the others keep their defaults).
    pub fn apply(&self) {
        let d = Limits::DEFAULT;
        limits::set(Limits {
            image_side: self.max_image_side.unwrap_or(d.image_side),
            image_bytes: self.max_image_mb.map_or(d.image_bytes, |mb| mb << 20),
            file_bytes: self.max_file_mb.map_or(d.file_bytes, |mb| mb << 20),
            tensor_elements: self.max_tensor_elements.unwrap_or(d.tensor_elements),
        });
    }
}
