//! Matrix products through the `gemm` crate (Burn's flex uses it too: AVX-512/AVX2/NEON/wasm
//! SIMD kernels chosen at run time), behind a bounds-checked interface.
//!
//! The crate's entry point is an `unsafe fn` over raw pointers and strides; every call here
//! checks that each matrix's last element lies inside its buffer first, so the only unsafety
//! left is the one [`SharedOut`] documents: disjoint writes from several threads.
#![allow(unsafe_code)]

use ::gemm::Parallelism;

/// A read-only strided matrix view.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A row-major matrix starting at `offset`, rows `row_stride` apart.
    pub fn rows(
        data: &'a [f32],
        offset: usize,
        rows: usize,
        cols: usize,
        row_stride: usize,
    ) -> Self {
        Self {
            data: &data[offset.min(data.len())..],
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// An output buffer that several threads write at once, each into its own disjoint set of
/// elements (their tiles are disjoint by construction of the work plan).
#[derive(Clone, Copy)]
pub struct SharedOut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: the pointer is only written through `Tile`s, and callers hand disjoint tiles to
// different threads (see `Tile::new`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    pub fn new(buffer: &mut [f32]) -> Self {
        Self {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
        }
    }
}

/// A row-major block of a [`SharedOut`]: `rows` rows of `cols` values, `row_stride` apart.
pub struct Tile {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    row_stride: usize,
}

impl Tile {
    /// The block at `offset`. Bounds are checked; disjointness from the tiles other threads
    /// hold is the caller's promise (each call site's work plan says why).
    pub fn new(out: SharedOut, offset: usize, rows: usize, cols: usize, row_stride: usize) -> Self {
        let end = if rows == 0 || cols == 0 {
            offset
        } else {
            offset + (rows - 1) * row_stride + cols
        };
        assert!(
            end <= out.len && (rows <= 1 || cols <= row_stride),
            "tile out of bounds"
        );
        Self {
            // SAFETY: `offset <= end <= len`, inside the allocation.
            ptr: unsafe { out.ptr.add(offset.min(out.len)) },
            rows,
            cols,
            row_stride,
        }
    }

    /// Row `r` as a slice.
    pub fn row(&mut self, r: usize) -> &mut [f32] {
        assert!(r < self.rows);
        // SAFETY: in bounds by the check in `new`; rows of one tile do not overlap when
        // `cols <= row_stride`, and no other thread holds this tile's elements.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r * self.row_stride), self.cols) }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `self = (accumulate ? self : 0) + lhs · rhs`, single-threaded (callers split the work).
    pub fn matmul(&mut self, lhs: Mat<'_>, rhs: Mat<'_>, accumulate: bool) {
        assert!(
            lhs.rows == self.rows && rhs.cols == self.cols && lhs.cols == rhs.rows,
            "matmul shapes"
        );
        assert!(
            lhs.in_bounds() && rhs.in_bounds(),
            "matmul operand out of bounds"
        );
        if self.rows == 0 || self.cols == 0 {
            return;
        }
        if lhs.cols == 0 {
            if !accumulate {
                for r in 0..self.rows {
                    self.row(r).fill(0.0);
                }
            }
            return;
        }
        // SAFETY: every operand's extent was checked above; the destination tile is this
        // thread's alone.
        unsafe {
            ::gemm::gemm(
                self.rows,
                self.cols,
                lhs.cols,
                self.ptr,
                1,
                self.row_stride as isize,
                accumulate,
                lhs.data.as_ptr(),
                lhs.col_stride as isize,
                lhs.row_stride as isize,
                rhs.data.as_ptr(),
                rhs.col_stride as isize,
                rhs.row_stride as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_the_definition_with_strides_and_accumulation() {
        // lhs 3x4 row-major, rhs given as the transpose of a 5x4 row-major block.
        let lhs: Vec<f32> = (0..12).map(|v| v as f32 * 0.5 - 2.0).collect();
        let rhs_t: Vec<f32> = (0..20).map(|v| (v % 7) as f32 - 3.0).collect();
        let mut out = vec![1.0f32; 3 * 8];
        let shared = SharedOut::new(&mut out);
        let mut tile = Tile::new(shared, 2, 3, 5, 8);
        tile.matmul(
            Mat::rows(&lhs, 0, 3, 4, 4),
            Mat {
                data: &rhs_t,
                rows: 4,
                cols: 5,
                row_stride: 1,
                col_stride: 4,
            },
            true,
        );
        for r in 0..3 {
            for c in 0..5 {
                let dot: f32 = (0..4).map(|k| lhs[r * 4 + k] * rhs_t[c * 4 + k]).sum();
                assert!((out[r * 8 + 2 + c] - (1.0 + dot)).abs() < 1e-5);
            }
            // Outside the tile nothing changed.
            assert_eq!(out[r * 8], 1.0);
            assert_eq!(out[r * 8 + 7], 1.0);
        }
    }
}
