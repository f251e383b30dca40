//! Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", CVPR 2016): each 2x2 output tile costs 16 multiplies per
//! (input, output) channel pair instead of 36, so the GEMM work of a 3x3 layer drops 2.25x.
//!
//! `U = G g Gᵀ` (the weights, 4x4 per channel pair) is prepared once at import; per call, each
//! 4x4 input tile `d` becomes `V = Bᵀ d B`, 16 GEMMs give `M[ξ] = U[ξ] · V[ξ]` over channels,
//! and each tile's output is `Aᵀ M A`. The transforms' coefficients are 0, ±1 and ½, exact in
//! binary, so the maps stay within the float32 rounding of a direct convolution.

use std::ops::Range;

use super::Activation;
use super::gemm::{Mat, SharedOut, Tile};
use super::parallel::{SCRATCH_BUDGET, for_each, split, threads, with_scratch};
use super::shape::Conv2dShape;

/// Whether `shape` is a convolution this module computes.
pub fn applies(s: &Conv2dShape) -> bool {
    s.kernel == [3, 3] && s.stride == [1, 1] && s.dilation == [1, 1] && s.groups == 1
}

/// `U[ξ][co][ci] = (G g_{co,ci} Gᵀ)[ξ]` from an ONNX-layout weight `[Cout, Cin, 3, 3]`.
pub fn transform_weights(out_channels: usize, in_channels: usize, weight: &[f32]) -> Vec<f32> {
    let plane = out_channels * in_channels;
    let mut u = vec![0.0; 16 * plane];
    for co in 0..out_channels {
        for ci in 0..in_channels {
            let g = &weight[(co * in_channels + ci) * 9..(co * in_channels + ci + 1) * 9];
            // G g: 4x3.
            let mut gg = [[0.0f32; 3]; 4];
            for c in 0..3 {
                let (g0, g1, g2) = (g[c], g[3 + c], g[6 + c]);
                gg[0][c] = g0;
                gg[1][c] = 0.5 * (g0 + g1 + g2);
                gg[2][c] = 0.5 * (g0 - g1 + g2);
                gg[3][c] = g2;
            }
            // (G g) Gᵀ: 4x4.
            for (r, row) in gg.iter().enumerate() {
                let (a, b, c) = (row[0], row[1], row[2]);
                let out = [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
                for (col, v) in out.iter().enumerate() {
                    u[(r * 4 + col) * plane + co * in_channels + ci] = *v;
                }
            }
        }
    }
    u
}

struct Task {
    image: usize,
    tiles: Range<usize>,
    channels: Range<usize>,
}

/// The convolution of `x` by the transformed weights `u` ([`transform_weights`]) plus `bias`,
/// through `activation`, into `out` (zeroed or not: every element is written).
pub fn forward(
    s: &Conv2dShape,
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
    out: &mut [f32],
) {
    let [oh, ow] = s.out_size();
    let (cin, cout) = (s.in_channels, s.out_channels);
    let (tiles_y, tiles_x) = (oh.div_ceil(2), ow.div_ceil(2));
    let per_tile = 16 * (cin + cout);
    let block = (SCRATCH_BUDGET / per_tile).clamp(4, 256);
    let want = match threads() {
        1 => 1,
        t => 2 * t,
    };
    // Blocks of whole tile rows: a block's outputs are whole output rows, so tasks of
    // different blocks write disjoint runs of each plane.
    let rows_per_block = (block / tiles_x.max(1)).max(1);
    let row_blocks = split(
        tiles_y,
        tiles_y.div_ceil(rows_per_block).max(want.div_ceil(s.batch)),
        1,
        1,
    );
    let channel_blocks = if s.batch * row_blocks.len() >= want {
        std::iter::once(0..cout).collect()
    } else {
        split(cout, want.div_ceil(s.batch * row_blocks.len()), 16, 16)
    };
    let mut tasks = Vec::new();
    for image in 0..s.batch {
        for rows in &row_blocks {
            for c in &channel_blocks {
                tasks.push(Task {
                    image,
                    tiles: rows.start * tiles_x..rows.end * tiles_x,
                    channels: c.clone(),
                });
            }
        }
    }
    let shared = SharedOut::new(out);
    let plane = cout * cin;
    for_each(tasks, |task| {
        let n = task.tiles.len();
        let m = task.channels.len();
        with_scratch(16 * (cin + m) * n, |buffer| {
            let (v, products) = buffer.split_at_mut(16 * cin * n);
            let image =
                &x[task.image * cin * s.in_pixels()..(task.image + 1) * cin * s.in_pixels()];
            transform_input(s, image, task.tiles.clone(), tiles_x, v);
            for xi in 0..16 {
                let lhs = Mat::rows(u, xi * plane + task.channels.start * cin, m, cin, cin);
                let rhs = Mat::rows(v, xi * cin * n, cin, n, n);
                let mut dst = Tile::new(SharedOut::new(products), xi * m * n, m, n, n);
                dst.matmul(lhs, rhs, false);
            }
            // Tasks differ in (image, tile rows, channels): their output runs are disjoint.
            let first_row = 2 * (task.tiles.start / tiles_x);
            let last_row = (2 * task.tiles.end.div_ceil(tiles_x)).min(oh);
            let first = task.image * cout * oh * ow;
            for (local, co) in task.channels.clone().enumerate() {
                let b = bias.map_or(0.0, |b| b[co]);
                let run = (last_row - first_row) * ow;
                let mut rows_out =
                    Tile::new(shared, first + co * oh * ow + first_row * ow, 1, run, run);
                let rows_out = rows_out.row(0);
                for (j, t) in task.tiles.clone().enumerate() {
                    let (ty, tx) = (t / tiles_x, t % tiles_x);
                    let m_at = |xi: usize| products[(xi * m + local) * n + j];
                    // Aᵀ M A with Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]].
                    let rows: [[f32; 4]; 2] = [
                        std::array::from_fn(|c| m_at(c) + m_at(4 + c) + m_at(8 + c)),
                        std::array::from_fn(|c| m_at(4 + c) - m_at(8 + c) - m_at(12 + c)),
                    ];
                    for (dy, row) in rows.iter().enumerate() {
                        let y = 2 * ty + dy;
                        if y >= oh {
                            continue;
                        }
                        let pair = [
                            activation.of(row[0] + row[1] + row[2] + b),
                            activation.of(row[1] - row[2] - row[3] + b),
                        ];
                        for (dx, value) in pair.iter().enumerate() {
                            let xo = 2 * tx + dx;
                            if xo < ow {
                                rows_out[(y - first_row) * ow + xo] = *value;
                            }
                        }
                    }
                }
            }
        });
    });
}

/// `V[ξ][ci][j] = (Bᵀ d B)[ξ]` for the input tiles `tiles` of one image (`v`: `[16, Cin, n]`).
fn transform_input(
    s: &Conv2dShape,
    image: &[f32],
    tiles: Range<usize>,
    tiles_x: usize,
    v: &mut [f32],
) {
    let [h, w] = s.in_size;
    let n = tiles.len();
    let cin = s.in_channels;
    let (pt, pl) = (s.pads[0].0 as isize, s.pads[1].0 as isize);
    for ci in 0..cin {
        let plane = &image[ci * h * w..(ci + 1) * h * w];
        for (j, t) in tiles.clone().enumerate() {
            let (ty, tx) = (t / tiles_x, t % tiles_x);
            let (y0, x0) = (2 * ty as isize - pt, 2 * tx as isize - pl);
            let mut d = [[0.0f32; 4]; 4];
            let inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= h as isize && x0 + 4 <= w as isize;
            for (r, row) in d.iter_mut().enumerate() {
                let y = y0 + r as isize;
                if !inside && (y < 0 || y >= h as isize) {
                    continue;
                }
                for (c, value) in row.iter_mut().enumerate() {
                    let xx = x0 + c as isize;
                    if inside || (xx >= 0 && xx < w as isize) {
                        *value = plane[y as usize * w + xx as usize];
                    }
                }
            }
            // Bᵀ d: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3).
            let mut bd = [[0.0f32; 4]; 4];
            for c in 0..4 {
                bd[0][c] = d[0][c] - d[2][c];
                bd[1][c] = d[1][c] + d[2][c];
                bd[2][c] = d[2][c] - d[1][c];
                bd[3][c] = d[1][c] - d[3][c];
            }
            for (r, row) in bd.iter().enumerate() {
                let out = [
                    row[0] - row[2],
                    row[1] + row[2],
                    row[2] - row[1],
                    row[1] - row[3],
                ];
                for (c, value) in out.iter().enumerate() {
                    v[((r * 4 + c) * cin + ci) * n + j] = *value;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv::tests::{assert_close, naive_forward, values};
    use super::*;

    #[test]
    fn winograd_equals_the_definition() {
        for (size, pads, batch, cin, cout) in [
            ([9, 11], [(1, 1), (1, 1)], 1, 3, 4),
            ([8, 8], [(0, 0), (0, 0)], 2, 5, 7),
            ([7, 5], [(2, 0), (0, 1)], 1, 16, 40),
            ([14, 14], [(1, 1), (1, 1)], 3, 32, 24),
        ] {
            let s = Conv2dShape {
                batch,
                in_channels: cin,
                in_size: size,
                out_channels: cout,
                groups: 1,
                kernel: [3, 3],
                stride: [1, 1],
                dilation: [1, 1],
                pads,
            };
            assert!(applies(&s));
            let x = values(s.input_len(), 7);
            let w = values(s.weight_len(), 8);
            let b = values(cout, 9);
            let u = transform_weights(cout, cin, &w);
            let mut out = vec![f32::NAN; s.output_len()];
            forward(&s, &x, &u, Some(&b), Activation::Identity, &mut out);
            assert_close(
                &out,
                &naive_forward(&s, &x, &w, Some(&b)),
                &format!("{s:?}"),
            );
            forward(&s, &x, &u, None, Activation::Relu, &mut out);
            let relu: Vec<f32> = naive_forward(&s, &x, &w, None)
                .iter()
                .map(|v| v.max(0.0))
                .collect();
            assert_close(&out, &relu, "relu");
        }
    }
}
