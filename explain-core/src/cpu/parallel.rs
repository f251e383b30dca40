//! Work splitting: rayon's pool natively, the calling thread in wasm (no threads there; the app
//! runs one engine per worker instead).

use std::cell::RefCell;

/// Floats of scratch a task plans for (1 MiB): its patches or transformed tiles stay in the
/// core's L2 while the GEMM packs them.
pub const SCRATCH_BUDGET: usize = 1 << 18;

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer of at least `len` floats (contents unspecified),
/// kept between calls so a task allocates nothing. Kernels do not nest, so one buffer serves
/// them all.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buffer = cell.borrow_mut();
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        f(&mut buffer[..len])
    })
}

/// How many threads a kernel should plan for.
pub fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        rayon::current_num_threads().max(1)
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}

/// Runs `task` on every item, in parallel where threads exist.
pub fn for_each<T: Send>(items: Vec<T>, task: impl Fn(T) + Send + Sync) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        if items.len() > 1 {
            items.into_par_iter().for_each(task);
            return;
        }
    }
    items.into_iter().for_each(task);
}

/// Runs `task(index, chunk)` on consecutive `chunk_len`-long pieces of `data`, in parallel
/// where threads exist.
pub fn for_each_chunk(
    data: &mut [f32],
    chunk_len: usize,
    task: impl Fn(usize, &mut [f32]) + Send + Sync,
) {
    let chunk_len = chunk_len.max(1);
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        if data.len() > chunk_len {
            data.par_chunks_mut(chunk_len)
                .enumerate()
                .for_each(|(i, c)| task(i, c));
            return;
        }
    }
    data.chunks_mut(chunk_len)
        .enumerate()
        .for_each(|(i, c)| task(i, c));
}

/// Splits `0..len` into at most `parts` near-equal ranges, each a multiple of `align` long
/// (but the last) and at least `min_len` long.
pub fn split(
    len: usize,
    parts: usize,
    align: usize,
    min_len: usize,
) -> Vec<std::ops::Range<usize>> {
    if len == 0 {
        return Vec::new();
    }
    let parts = parts.clamp(1, len.div_ceil(min_len.max(1)).max(1));
    let align = align.max(1);
    let size = len.div_ceil(parts).div_ceil(align) * align;
    (0..len)
        .step_by(size.max(1))
        .map(|start| start..(start + size).min(len))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_the_range_once() {
        for len in [0, 1, 7, 49, 64, 3136] {
            for parts in [1, 2, 3, 8] {
                let ranges = split(len, parts, 16, 16);
                assert!(ranges.len() <= parts.max(1));
                let covered: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
                assert_eq!(covered, (0..len).collect::<Vec<_>>());
            }
        }
    }
}
