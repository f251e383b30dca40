//! Convolution as im2col + GEMM over NCHW buffers, forward and input gradient.
//!
//! Forward, per image and group: `out[Cout_g, P] = W_g[Cout_g, K] · col[K, P]`, where `W_g` is
//! the weight exactly as ONNX stores it and `col` holds the input patches (one row per input
//! channel and kernel tap, one column per output pixel). A 1x1 convolution needs no `col`: the
//! input planes are it. The work is split into tasks over (image, group, pixel tile, channel
//! block) so that every thread has work at batch 1:
//! - with one channel block, each task writes its pixel tile's patches into its thread's scratch
//!   (a row copy when the stride is 1) and multiplies straight into the NCHW output;
//! - when a few pixels must be shared among threads by channel blocks (the last stages of a
//!   network at batch 1), the patches of each image are built once, in parallel, and shared.
//!
//! Input gradient: `dcol[K, P] = W_gᵀ · dY_g`, scattered back (col2im) into the input's planes;
//! tasks own disjoint blocks of input channels, so their writes never meet.

use std::ops::Range;

use super::gemm::{Mat, SharedOut, Tile};
use super::parallel::{SCRATCH_BUDGET, for_each, for_each_chunk, split, threads, with_scratch};
use super::shape::{Conv2dShape, valid_outputs};
use super::{Activation, depthwise};

/// How many tasks to aim for: two per thread balances uneven tiles; one thread needs one.
fn wanted_tasks() -> usize {
    match threads() {
        1 => 1,
        t => 2 * t,
    }
}

/// The convolution of `x` (`[N, Cin, H, W]`) by `weight` (`[Cout, Cin/g, kh, kw]`, laid out
/// as `layout` says) plus `bias`, through `activation`. Buffers must match `shape` (see
/// [`Conv2dShape::check`]).
pub fn forward(
    shape: &Conv2dShape,
    x: &[f32],
    weight: &[f32],
    layout: WeightLayout,
    bias: Option<&[f32]>,
    activation: Activation,
) -> Vec<f32> {
    let mut out = vec![0.0; shape.output_len()];
    if out.is_empty() {
        return out;
    }
    if shape.is_depthwise() {
        // One input channel per group: both layouts are the same.
        depthwise::forward(shape, x, weight, bias, activation, &mut out);
    } else {
        let reordered;
        let weight = match layout {
            WeightLayout::TapMajor => weight,
            WeightLayout::Onnx => {
                reordered = to_tap_major(shape, weight);
                &reordered
            }
        };
        gemm_forward(shape, x, weight, bias, activation, &mut out);
    }
    out
}

/// How a convolution's weight `[Cout, Cin/g, kh, kw]` orders each output channel's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// As ONNX stores it: input channel, then kernel row, then column.
    Onnx,
    /// Kernel tap (row, column) first, then input channel: the order in which onnxruntime's
    /// and PyTorch's CPU kernels accumulate, so float32 sums round as theirs do (ReLU and
    /// max-pool decisions at ties then agree, which gradient maps are sensitive to). Prepared
    /// once at import ([`to_tap_major`]).
    TapMajor,
}

/// An ONNX-layout weight in [`WeightLayout::TapMajor`] order.
pub fn to_tap_major(shape: &Conv2dShape, weight: &[f32]) -> Vec<f32> {
    let taps = shape.kernel[0] * shape.kernel[1];
    let cin_g = shape.in_per_group();
    let k = taps * cin_g;
    let mut out = vec![0.0; weight.len()];
    for (dst, src) in out.chunks_exact_mut(k).zip(weight.chunks_exact(k)) {
        for tap in 0..taps {
            for ci in 0..cin_g {
                dst[tap * cin_g + ci] = src[ci * taps + tap];
            }
        }
    }
    out
}

/// `∂L/∂x` given `∂L/∂out` (`dy`, the output's shape). Weights are constants here: UNPIC never
/// differentiates with respect to them.
pub fn input_gradient(
    shape: &Conv2dShape,
    dy: &[f32],
    weight: &[f32],
    layout: WeightLayout,
) -> Vec<f32> {
    let mut dx = vec![0.0; shape.input_len()];
    if dx.is_empty() || dy.is_empty() {
        return dx;
    }
    if shape.is_depthwise() {
        depthwise::input_gradient(shape, dy, weight, &mut dx);
    } else {
        gemm_input_gradient(shape, dy, weight, layout, &mut dx);
    }
    dx
}

struct ForwardTask {
    image: usize,
    group: usize,
    pixels: Range<usize>,
    channels: Range<usize>,
}

fn gemm_forward(
    s: &Conv2dShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
    out: &mut [f32],
) {
    let (p, m, k) = (s.out_pixels(), s.out_per_group(), s.patch_len());
    let units = s.batch * s.groups;
    let want = wanted_tasks();
    let pointwise = s.is_pointwise();
    let cache_tiles = if pointwise {
        1
    } else {
        p.div_ceil((SCRATCH_BUDGET / k.max(1)).max(16))
    };
    let pixel_tiles = split(p, cache_tiles.max(want.div_ceil(units)), 8, 32);
    let channel_blocks = if units * pixel_tiles.len() >= want {
        std::iter::once(0..m).collect()
    } else {
        split(m, want.div_ceil(units * pixel_tiles.len()), 8, 16)
    };
    // Patches shared by the channel blocks of one image: built once, in parallel.
    let shared_cols: Vec<Vec<f32>> = if !pointwise && channel_blocks.len() > 1 {
        (0..units)
            .map(|unit| {
                let mut col = vec![0.0; k * p];
                let group_input = group_planes(s, x, unit / s.groups, unit % s.groups);
                let rows_per_chunk = k.div_ceil(want).max(1);
                for_each_chunk(&mut col, rows_per_chunk * p, |i, chunk| {
                    let first = i * rows_per_chunk;
                    im2col(s, group_input, first..first + chunk.len() / p, 0..p, chunk);
                });
                col
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut tasks = Vec::new();
    for image in 0..s.batch {
        for group in 0..s.groups {
            for pixels in &pixel_tiles {
                for channels in &channel_blocks {
                    tasks.push(ForwardTask {
                        image,
                        group,
                        pixels: pixels.clone(),
                        channels: channels.clone(),
                    });
                }
            }
        }
    }
    let shared_out = SharedOut::new(out);
    for_each(tasks, |t| {
        let first_channel = t.group * m + t.channels.start;
        // Tasks differ in (image, group, channel block, pixel tile): their tiles are disjoint.
        let mut tile = Tile::new(
            shared_out,
            (t.image * s.out_channels + first_channel) * p + t.pixels.start,
            t.channels.len(),
            t.pixels.len(),
            p,
        );
        if let Some(bias) = bias {
            for r in 0..tile.rows() {
                tile.row(r).fill(bias[first_channel + r]);
            }
        }
        let lhs = Mat::rows(weight, first_channel * k, t.channels.len(), k, k);
        let group_input = group_planes(s, x, t.image, t.group);
        if pointwise {
            let rhs = Mat {
                data: &group_input[t.pixels.start.min(group_input.len())..],
                rows: k,
                cols: t.pixels.len(),
                row_stride: p,
                col_stride: 1,
            };
            tile.matmul(lhs, rhs, bias.is_some());
        } else if let Some(col) = shared_cols.get(t.image * s.groups + t.group) {
            let rhs = Mat {
                data: &col[t.pixels.start..],
                rows: k,
                cols: t.pixels.len(),
                row_stride: p,
                col_stride: 1,
            };
            tile.matmul(lhs, rhs, bias.is_some());
        } else {
            with_scratch(k * t.pixels.len(), |col| {
                im2col(s, group_input, 0..k, t.pixels.clone(), col);
                let rhs = Mat::rows(col, 0, k, t.pixels.len(), t.pixels.len());
                tile.matmul(lhs, rhs, bias.is_some());
            });
        }
        if activation != Activation::Identity {
            for r in 0..tile.rows() {
                activation.apply(tile.row(r));
            }
        }
    });
}

/// The input planes of one group of one image.
fn group_planes<'a>(s: &Conv2dShape, x: &'a [f32], image: usize, group: usize) -> &'a [f32] {
    let plane = s.in_pixels();
    let start = (image * s.in_channels + group * s.in_per_group()) * plane;
    &x[start..start + s.in_per_group() * plane]
}

/// Writes rows `rows` of one group's patch matrix, restricted to output pixels `pixels`, into
/// `col` (`[rows.len(), pixels.len()]`, row-major). Row `r` is kernel tap `r / Cin_g` of input
/// channel `r % Cin_g` ([`WeightLayout::TapMajor`] order); taps in the padding read zero.
fn im2col(s: &Conv2dShape, x: &[f32], rows: Range<usize>, pixels: Range<usize>, col: &mut [f32]) {
    let [h, w] = s.in_size;
    let [_, ow] = s.out_size();
    let [_, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let len = pixels.len();
    for (r, row) in rows.clone().zip(col.chunks_exact_mut(len)) {
        let cin_g = s.in_per_group();
        let (tap, channel) = (r / cin_g, r % cin_g);
        let (ki, kj) = (tap / kw, tap % kw);
        let plane = &x[channel * h * w..(channel + 1) * h * w];
        let (dy, dx) = (s.tap_offset(0, ki), s.tap_offset(1, kj));
        let (x_lo, x_hi) = valid_outputs(dx, sw, w, ow);
        let mut p = pixels.start;
        while p < pixels.end {
            let (oy, ox0) = (p / ow, p % ow);
            let seg = (ow - ox0).min(pixels.end - p);
            let dst = &mut row[p - pixels.start..p - pixels.start + seg];
            let iy = (oy * sh) as isize + dy;
            if iy < 0 || iy >= h as isize {
                dst.fill(0.0);
            } else {
                let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                let lo = x_lo.clamp(ox0, ox0 + seg);
                let hi = x_hi.clamp(lo, ox0 + seg);
                dst[..lo - ox0].fill(0.0);
                dst[hi - ox0..].fill(0.0);
                let first = (lo * sw) as isize + dx;
                if lo < hi {
                    let first = first as usize;
                    if sw == 1 {
                        dst[lo - ox0..hi - ox0].copy_from_slice(&src[first..first + (hi - lo)]);
                    } else {
                        for (d, v) in dst[lo - ox0..hi - ox0]
                            .iter_mut()
                            .zip(src[first..].iter().step_by(sw))
                        {
                            *d = *v;
                        }
                    }
                }
            }
            p += seg;
        }
    }
}

/// Adds the patch-gradient rows of input channels `channels` (`dcol`: `[taps, channels, P]`)
/// back onto those channels' planes (`dx`).
fn col2im(s: &Conv2dShape, dcol: &[f32], channels: usize, dx: &mut [f32]) {
    let [h, w] = s.in_size;
    let [oh, ow] = s.out_size();
    let [_, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let p = oh * ow;
    for (r, row) in dcol.chunks_exact(p).enumerate() {
        let (tap, channel) = (r / channels, r % channels);
        let (ki, kj) = (tap / kw, tap % kw);
        let plane = &mut dx[channel * h * w..(channel + 1) * h * w];
        let (dy, dxo) = (s.tap_offset(0, ki), s.tap_offset(1, kj));
        let (y_lo, y_hi) = valid_outputs(dy, sh, h, oh);
        let (x_lo, x_hi) = valid_outputs(dxo, sw, w, ow);
        if x_lo >= x_hi {
            continue;
        }
        for oy in y_lo..y_hi {
            let iy = ((oy * sh) as isize + dy) as usize;
            let src = &row[oy * ow + x_lo..oy * ow + x_hi];
            let first = ((x_lo * sw) as isize + dxo) as usize;
            let dst = &mut plane[iy * w..(iy + 1) * w];
            if sw == 1 {
                for (d, v) in dst[first..first + src.len()].iter_mut().zip(src) {
                    *d += v;
                }
            } else {
                for (d, v) in dst[first..].iter_mut().step_by(sw).zip(src) {
                    *d += v;
                }
            }
        }
    }
}

struct GradientTask {
    image: usize,
    group: usize,
    channels: Range<usize>,
    pixels: Range<usize>,
}

fn gemm_input_gradient(
    s: &Conv2dShape,
    dy: &[f32],
    weight: &[f32],
    layout: WeightLayout,
    dx: &mut [f32],
) {
    let (p, m, k) = (s.out_pixels(), s.out_per_group(), s.patch_len());
    let cin_g = s.in_per_group();
    let taps = s.kernel[0] * s.kernel[1];
    let units = s.batch * s.groups;
    let want = wanted_tasks();
    let pointwise = s.is_pointwise();
    let hw = s.in_pixels();
    // Where weight (input channel `ci`, tap `t`) of an output channel sits, as a stride per
    // channel and one per tap.
    let (channel_stride, tap_stride) = match layout {
        WeightLayout::Onnx => (taps, 1),
        WeightLayout::TapMajor => (1, cin_g),
    };
    // A 1x1 convolution's gradient is one GEMM per image, split over pixels; otherwise tasks
    // own blocks of input channels (col2im of different channels never writes the same plane).
    let (channel_blocks, pixel_tiles) = if pointwise {
        (
            std::iter::once(0..cin_g).collect(),
            split(p, want.div_ceil(units), 8, 64),
        )
    } else {
        let per_channel = taps * p;
        let cache_blocks = cin_g.div_ceil((SCRATCH_BUDGET / per_channel.max(1)).max(1));
        (
            split(cin_g, cache_blocks.max(want.div_ceil(units)), 1, 1),
            std::iter::once(0..p).collect(),
        )
    };
    let mut tasks = Vec::new();
    for image in 0..s.batch {
        for group in 0..s.groups {
            for channels in &channel_blocks {
                for pixels in &pixel_tiles {
                    tasks.push(GradientTask {
                        image,
                        group,
                        channels: channels.clone(),
                        pixels: pixels.clone(),
                    });
                }
            }
        }
    }
    let shared_dx = SharedOut::new(dx);
    for_each(tasks, |t| {
        let first_channel = t.image * s.in_channels + t.group * cin_g + t.channels.start;
        let dy_group = (t.image * s.out_channels + t.group * m) * p;
        let weight_group = t.group * m * k;
        // Wᵀ restricted to one tap and this task's channels: rows are input channels.
        let lhs = |tap: usize| Mat {
            data: &weight[(weight_group + t.channels.start * channel_stride + tap * tap_stride)
                .min(weight.len())..],
            rows: t.channels.len(),
            cols: m,
            row_stride: channel_stride,
            col_stride: k,
        };
        if pointwise {
            // Tasks differ in (image, group, pixel tile): disjoint tiles of dx.
            let mut tile = Tile::new(
                shared_dx,
                first_channel * hw + t.pixels.start,
                t.channels.len(),
                t.pixels.len(),
                hw,
            );
            let rhs = Mat::rows(dy, dy_group + t.pixels.start, m, t.pixels.len(), p);
            tile.matmul(lhs(0), rhs, false);
            return;
        }
        let block = t.channels.len();
        // Tasks differ in (image, group, channel block): disjoint planes of dx.
        let mut planes = Tile::new(shared_dx, first_channel * hw, 1, block * hw, block * hw);
        with_scratch(taps * block * p, |dcol| {
            let rhs = Mat::rows(dy, dy_group, m, p, p);
            for tap in 0..taps {
                let mut rows = Tile::new(SharedOut::new(dcol), tap * block * p, block, p, p);
                rows.matmul(lhs(tap), rhs, false);
            }
            col2im(s, dcol, block, planes.row(0));
        });
    });
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The definition, one multiply-add at a time.
    pub fn naive_forward(s: &Conv2dShape, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let [h, wi] = s.in_size;
        let [oh, ow] = s.out_size();
        let (cin_g, cout_g) = (s.in_per_group(), s.out_per_group());
        let mut out = vec![0.0; s.output_len()];
        for n in 0..s.batch {
            for co in 0..s.out_channels {
                let g = co / cout_g;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = bias.map_or(0.0, |b| b[co]);
                        for ci in 0..cin_g {
                            for ki in 0..s.kernel[0] {
                                for kj in 0..s.kernel[1] {
                                    let iy = (oy * s.stride[0]) as isize + s.tap_offset(0, ki);
                                    let ix = (ox * s.stride[1]) as isize + s.tap_offset(1, kj);
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wi as isize {
                                        continue;
                                    }
                                    let xv = x[((n * s.in_channels + g * cin_g + ci) * h
                                        + iy as usize)
                                        * wi
                                        + ix as usize];
                                    let wv = w
                                        [((co * cin_g + ci) * s.kernel[0] + ki) * s.kernel[1] + kj];
                                    acc += xv * wv;
                                }
                            }
                        }
                        out[((n * s.out_channels + co) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        out
    }

    /// `∂(Σ out · dy)/∂x` by the definition: each output's gradient flows back to every input
    /// its window read.
    pub fn naive_input_gradient(s: &Conv2dShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
        let [h, wi] = s.in_size;
        let [oh, ow] = s.out_size();
        let (cin_g, cout_g) = (s.in_per_group(), s.out_per_group());
        let mut dx = vec![0.0; s.input_len()];
        for n in 0..s.batch {
            for co in 0..s.out_channels {
                let g = co / cout_g;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let d = dy[((n * s.out_channels + co) * oh + oy) * ow + ox];
                        for ci in 0..cin_g {
                            for ki in 0..s.kernel[0] {
                                for kj in 0..s.kernel[1] {
                                    let iy = (oy * s.stride[0]) as isize + s.tap_offset(0, ki);
                                    let ix = (ox * s.stride[1]) as isize + s.tap_offset(1, kj);
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wi as isize {
                                        continue;
                                    }
                                    let wv = w
                                        [((co * cin_g + ci) * s.kernel[0] + ki) * s.kernel[1] + kj];
                                    dx[((n * s.in_channels + g * cin_g + ci) * h + iy as usize)
                                        * wi
                                        + ix as usize] += d * wv;
                                }
                            }
                        }
                    }
                }
            }
        }
        dx
    }

    /// Deterministic values in [-1, 1).
    pub fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    pub fn assert_close(got: &[f32], expected: &[f32], what: &str) {
        assert_eq!(got.len(), expected.len(), "{what}: length");
        let scale = expected.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert!(
                (g - e).abs() <= 1e-5 * scale,
                "{what}: element {i}: {g} vs {e}"
            );
        }
    }

    /// Shapes that exercise every path: pointwise, strided, padded (asymmetric), dilated,
    /// grouped, depthwise with a multiplier, batches, windows larger than the input.
    pub fn cases() -> Vec<Conv2dShape> {
        let base = Conv2dShape {
            batch: 1,
            in_channels: 3,
            in_size: [9, 11],
            out_channels: 4,
            groups: 1,
            kernel: [3, 3],
            stride: [1, 1],
            dilation: [1, 1],
            pads: [(1, 1), (1, 1)],
        };
        vec![
            base,
            Conv2dShape { batch: 3, ..base },
            Conv2dShape {
                kernel: [1, 1],
                pads: [(0, 0); 2],
                ..base
            },
            Conv2dShape {
                kernel: [1, 1],
                pads: [(0, 0); 2],
                stride: [2, 2],
                ..base
            },
            Conv2dShape {
                stride: [2, 3],
                pads: [(0, 2), (3, 1)],
                kernel: [3, 2],
                ..base
            },
            Conv2dShape {
                dilation: [2, 2],
                pads: [(2, 2), (2, 2)],
                ..base
            },
            Conv2dShape {
                kernel: [7, 7],
                stride: [2, 2],
                pads: [(3, 3), (3, 3)],
                ..base
            },
            Conv2dShape {
                in_channels: 4,
                out_channels: 6,
                groups: 2,
                batch: 2,
                ..base
            },
            Conv2dShape {
                in_channels: 5,
                out_channels: 5,
                groups: 5,
                ..base
            },
            Conv2dShape {
                in_channels: 3,
                out_channels: 6,
                groups: 3,
                stride: [2, 2],
                ..base
            },
            Conv2dShape {
                in_channels: 4,
                out_channels: 4,
                groups: 4,
                kernel: [5, 5],
                pads: [(2, 2), (2, 2)],
                batch: 2,
                ..base
            },
            Conv2dShape {
                kernel: [5, 5],
                pads: [(0, 0), (0, 0)],
                in_size: [3, 4],
                ..base
            },
            Conv2dShape {
                in_size: [40, 40],
                in_channels: 16,
                out_channels: 40,
                ..base
            },
            // Depthwise rows wider than one register block: 75 columns are blocks of 32, 32
            // and 16 (5 past the row's end).
            Conv2dShape {
                in_size: [6, 75],
                in_channels: 8,
                out_channels: 8,
                groups: 8,
                ..base
            },
            // Stride 2 with dilation 2: 25 output columns in one 32-block reading 7 past.
            Conv2dShape {
                in_size: [9, 50],
                in_channels: 6,
                out_channels: 6,
                groups: 6,
                stride: [2, 2],
                dilation: [2, 2],
                pads: [(2, 2), (2, 2)],
                ..base
            },
            // A channel multiplier of 2 on a 37-column row (a 32-block and an 8-block).
            Conv2dShape {
                in_size: [5, 37],
                in_channels: 3,
                out_channels: 6,
                groups: 3,
                ..base
            },
        ]
    }

    #[test]
    fn forward_equals_the_definition() {
        for (i, s) in cases().into_iter().enumerate() {
            let x = values(s.input_len(), 1 + i as u64);
            let w = values(s.weight_len(), 100 + i as u64);
            let b = values(s.out_channels, 200 + i as u64);
            s.check(x.len(), w.len(), Some(b.len()))
                .expect("valid case");
            let got = forward(
                &s,
                &x,
                &w,
                WeightLayout::Onnx,
                Some(&b),
                Activation::Identity,
            );
            assert_close(
                &got,
                &naive_forward(&s, &x, &w, Some(&b)),
                &format!("case {i} {s:?}"),
            );
            let prepared = to_tap_major(&s, &w);
            let again = forward(
                &s,
                &x,
                &prepared,
                WeightLayout::TapMajor,
                Some(&b),
                Activation::Identity,
            );
            assert_eq!(
                got, again,
                "case {i}: the prepared layout computes the same"
            );
            let got = forward(&s, &x, &w, WeightLayout::Onnx, None, Activation::Relu);
            let expected: Vec<f32> = naive_forward(&s, &x, &w, None)
                .iter()
                .map(|v| v.max(0.0))
                .collect();
            assert_close(&got, &expected, &format!("relu case {i}"));
            let got = forward(&s, &x, &w, WeightLayout::Onnx, Some(&b), Activation::Silu);
            let expected: Vec<f32> = naive_forward(&s, &x, &w, Some(&b))
                .iter()
                .map(|v| v / (1.0 + (-v).exp()))
                .collect();
            assert_close(&got, &expected, &format!("silu case {i}"));
        }
    }

    #[test]
    fn input_gradient_equals_the_definition() {
        for (i, s) in cases().into_iter().enumerate() {
            let w = values(s.weight_len(), 300 + i as u64);
            let dy = values(s.output_len(), 400 + i as u64);
            let expected = naive_input_gradient(&s, &dy, &w);
            let got = input_gradient(&s, &dy, &w, WeightLayout::Onnx);
            assert_close(&got, &expected, &format!("case {i} {s:?}"));
            let prepared = to_tap_major(&s, &w);
            let got = input_gradient(&s, &dy, &prepared, WeightLayout::TapMajor);
            assert_close(&got, &expected, &format!("tap-major case {i}"));
        }
    }

    #[test]
    fn an_empty_output_is_no_work() {
        let s = Conv2dShape {
            in_size: [2, 2],
            ..cases()[11]
        };
        assert_eq!(s.out_size(), [0, 0]);
        let x = values(s.input_len(), 1);
        let w = values(s.weight_len(), 2);
        assert!(forward(&s, &x, &w, WeightLayout::Onnx, None, Activation::Identity).is_empty());
        assert_eq!(
            input_gradient(&s, &[], &w, WeightLayout::Onnx),
            vec![0.0; s.input_len()]
        );
    }
}
