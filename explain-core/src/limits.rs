//! The sizes past which a file is refused instead of allocated. Each default is far above what
//! a classifier and its images need and far below what would fail an allocation (which aborts
//! the process: no message, lost work); a user with a real need for more raises them (the CLI's
//! `--max-*` flags). Process-wide, because the checks sit deep in readers and ops that have no
//! settings of their own.

use std::sync::atomic::{AtomicU64, Ordering};

/// The limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest side of an image file that is decoded (pixels).
    pub image_side: u32,
    /// The most memory decoding one image may take (bytes).
    pub image_bytes: u64,
    /// The most bytes one file inside a dataset archive may unpack to.
    pub file_bytes: u64,
    /// The most elements of a tensor whose size the file decides (ConstantOfShape, Range,
    /// Expand, Pad, Concat): 2^28 floats are 1 GiB, and wasm has 4 GiB in all.
    pub tensor_elements: u64,
}

impl Limits {
    pub const DEFAULT: Self = Self {
        image_side: 16384,
        image_bytes: 512 << 20,
        file_bytes: 256 << 20,
        tensor_elements: 1 << 28,
    };
}

static IMAGE_SIDE: AtomicU64 = AtomicU64::new(Limits::DEFAULT.image_side as u64);
static IMAGE_BYTES: AtomicU64 = AtomicU64::new(Limits::DEFAULT.image_bytes);
static FILE_BYTES: AtomicU64 = AtomicU64::new(Limits::DEFAULT.file_bytes);
static TENSOR_ELEMENTS: AtomicU64 = AtomicU64::new(Limits::DEFAULT.tensor_elements);

/// The limits in force now.
pub fn current() -> Limits {
    Limits {
        image_side: IMAGE_SIDE.load(Ordering::Relaxed) as u32,
        image_bytes: IMAGE_BYTES.load(Ordering::Relaxed),
        file_bytes: FILE_BYTES.load(Ordering::Relaxed),
        tensor_elements: TENSOR_ELEMENTS.load(Ordering::Relaxed),
    }
}

/// Puts `limits` in force for the whole process.
pub fn set(limits: Limits) {
    IMAGE_SIDE.store(u64::from(limits.image_side), Ordering::Relaxed);
    IMAGE_BYTES.store(limits.image_bytes, Ordering::Relaxed);
    FILE_BYTES.store(limits.file_bytes, Ordering::Relaxed);
    TENSOR_ELEMENTS.store(limits.tensor_elements, Ordering::Relaxed);
}
