//! Depthwise convolution (one input channel per group, any channel multiplier) as direct loops.
//!
//! Each input plane is first copied into a zero-padded scratch plane split into `stride`
//! column phases (phase `q` holds padded columns `q, q + s, q + 2s, ...`), so that every kernel
//! tap of every output row reads one contiguous run: `out[ox] += w · phase[q][row][off + ox]`,
//! a loop the compiler turns into SIMD multiply-adds, with no bounds arithmetic per pixel.
//! The input gradient runs the same walk backwards into a padded scratch, then unpads it.
//! Planes are independent, so threads take blocks of whole planes.

use super::Activation;
use super::parallel::{for_each_chunk, threads, with_scratch};
use super::shape::{Conv2dShape, valid_outputs};
use super::simd;

/// Planes per task: a few tasks per thread, never a task per tiny plane.
fn planes_per_task(planes: usize) -> usize {
    planes.div_ceil(4 * threads()).max(1)
}

/// Where kernel taps land in the phase-split padded plane.
struct Phases {
    rows: usize,
    /// Columns per phase.
    width: usize,
    stride: usize,
    pad_top: usize,
    pad_left: usize,
}

impl Phases {
    fn new(s: &Conv2dShape) -> Self {
        let [_, ow] = s.out_size();
        let [oh, _] = s.out_size();
        let rows = (oh.max(1) - 1) * s.stride[0] + (s.kernel[0] - 1) * s.dilation[0] + 1;
        // Phase columns needed: output `ox` at tap `kj` reads phase column ox + (kj·d)/s.
        let width = ow + ((s.kernel[1] - 1) * s.dilation[1]) / s.stride[1];
        Self {
            rows,
            width,
            stride: s.stride[1],
            pad_top: s.pads[0].0,
            pad_left: s.pads[1].0,
        }
    }

    fn len(&self) -> usize {
        self.rows * self.stride * self.width
    }

    /// Offset of (phase `q`, padded row `r`).
    fn row(&self, q: usize, r: usize) -> usize {
        (q * self.rows + r) * self.width
    }

    /// The input row held at padded row `r`, if inside the input.
    fn input_row(&self, r: usize, height: usize) -> Option<usize> {
        r.checked_sub(self.pad_top).filter(|&y| y < height)
    }

    /// (phase, column offset) read by kernel column `kj`.
    fn tap(&self, s: &Conv2dShape, kj: usize) -> (usize, usize) {
        let c = kj * s.dilation[1];
        (c % self.stride, c / self.stride)
    }

    /// The phase-`q` columns `lo..hi` that hold input columns, and the first one's input column.
    fn inside(&self, q: usize, width: usize) -> (usize, usize, usize) {
        let offset = q as isize - self.pad_left as isize;
        let (lo, hi) = valid_outputs(offset, self.stride, width, self.width);
        let first = (lo * self.stride) as isize + offset;
        (lo, hi, first.max(0) as usize)
    }

    /// Fills `padded` from one input plane.
    fn fill(&self, s: &Conv2dShape, input: &[f32], padded: &mut [f32]) {
        let [h, w] = s.in_size;
        for q in 0..self.stride {
            let (lo, hi, first) = self.inside(q, w);
            for r in 0..self.rows {
                let dst = &mut padded[self.row(q, r)..self.row(q, r) + self.width];
                match self.input_row(r, h) {
                    Some(y) if lo < hi => {
                        let src = &input[y * w..(y + 1) * w];
                        dst[..lo].fill(0.0);
                        dst[hi..].fill(0.0);
                        if self.stride == 1 {
                            dst[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
                        } else {
                            for (d, v) in dst[lo..hi]
                                .iter_mut()
                                .zip(src[first..].iter().step_by(self.stride))
                            {
                                *d = *v;
                            }
                        }
                    }
                    _ => dst.fill(0.0),
                }
            }
        }
    }

    /// Adds `padded` back onto one input plane (the inverse walk of `fill`).
    fn unfill(&self, s: &Conv2dShape, padded: &[f32], plane: &mut [f32]) {
        let [h, w] = s.in_size;
        for q in 0..self.stride {
            let (lo, hi, first) = self.inside(q, w);
            if lo >= hi {
                continue;
            }
            for r in 0..self.rows {
                let Some(y) = self.input_row(r, h) else {
                    continue;
                };
                let src = &padded[self.row(q, r) + lo..self.row(q, r) + hi];
                let dst = &mut plane[y * w..(y + 1) * w];
                for (d, v) in dst[first..].iter_mut().step_by(self.stride).zip(src) {
                    *d += v;
                }
            }
        }
    }
}

pub fn forward(
    s: &Conv2dShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
    out: &mut [f32],
) {
    let [h, w] = s.in_size;
    let [oh, ow] = s.out_size();
    let [kh, kw] = s.kernel;
    let multiplier = s.out_per_group();
    let phases = Phases::new(s);
    let plane_len = oh * ow;
    let planes = s.batch * s.out_channels;
    let per_task = planes_per_task(planes);
    // A row is computed into `row_out` in whole blocks (its slack past `ow` is dropped).
    let row_len = ow.next_multiple_of(BLOCK);
    for_each_chunk(out, per_task * plane_len, |task, chunk| {
        with_scratch(phases.len() + BLOCK + row_len, |scratch| {
            let (padded, row_out) = scratch.split_at_mut(phases.len() + BLOCK);
            // The slack a row's last block may read: zeros, never a stale denormal or NaN.
            padded[phases.len()..].fill(0.0);
            let mut filled = None;
            for (i, plane) in chunk.chunks_exact_mut(plane_len).enumerate() {
                let index = task * per_task + i;
                let (image, channel) = (index / s.out_channels, index % s.out_channels);
                let source = image * s.in_channels + channel / multiplier;
                if filled != Some(source) {
                    phases.fill(s, &x[source * h * w..(source + 1) * h * w], padded);
                    filled = Some(source);
                }
                let kernel = Kernel {
                    taps: &weight[channel * kh * kw..(channel + 1) * kh * kw],
                    bias: bias.map_or(0.0, |b| b[channel]),
                    activation,
                };
                simd::dispatch(
                    #[inline(always)]
                    || accumulate_plane(s, &phases, &kernel, padded, row_out, plane),
                );
            }
        });
    });
}

/// One output channel's taps, bias and activation.
struct Kernel<'a> {
    taps: &'a [f32],
    bias: f32,
    activation: Activation,
}

/// The most output columns kept in registers while every tap is added: 32 floats are four
/// AVX2 or eight simd128 vectors, so the input row is read once per tap and the output once.
const BLOCK: usize = 32;

/// `plane = activation(bias + Σ taps · shifted padded input)`, one block of an output row at a
/// time. Blocks are 32, 16 or 8 columns, the smallest that covers what is left of the row, so
/// each has a constant width (unrolled, its accumulators in registers); the last block may
/// read past the row's end into the scratch's slack, and its extra columns are dropped.
#[inline(always)]
fn accumulate_plane(
    s: &Conv2dShape,
    phases: &Phases,
    kernel: &Kernel,
    padded: &[f32],
    row_out: &mut [f32],
    plane: &mut [f32],
) {
    let [_, ow] = s.out_size();
    for (oy, row) in plane.chunks_exact_mut(ow).enumerate() {
        let mut x0 = 0;
        while x0 < ow {
            x0 += match ow - x0 {
                17.. => accumulate_block::<BLOCK>(s, phases, kernel, padded, oy, x0, row_out),
                9..=16 => accumulate_block::<16>(s, phases, kernel, padded, oy, x0, row_out),
                _ => accumulate_block::<8>(s, phases, kernel, padded, oy, x0, row_out),
            };
        }
        for (o, &v) in row.iter_mut().zip(&row_out[..ow]) {
            *o = kernel.activation.of(v);
        }
    }
}

/// Writes `bias + Σ taps` for output columns `x0..x0 + N` of row `oy` into `row_out`; returns N.
#[inline(always)]
fn accumulate_block<const N: usize>(
    s: &Conv2dShape,
    phases: &Phases,
    kernel: &Kernel,
    padded: &[f32],
    oy: usize,
    x0: usize,
    row_out: &mut [f32],
) -> usize {
    let [kh, kw] = s.kernel;
    let mut acc = [kernel.bias; N];
    for ki in 0..kh {
        let r = oy * s.stride[0] + ki * s.dilation[0];
        for kj in 0..kw {
            let tap = kernel.taps[ki * kw + kj];
            let (q, offset) = phases.tap(s, kj);
            let start = phases.row(q, r) + offset + x0;
            let src: &[f32; N] = padded[start..start + N]
                .try_into()
                .expect("the scratch has BLOCK columns of slack");
            for (a, v) in acc.iter_mut().zip(src) {
                *a += tap * v;
            }
        }
    }
    let dst: &mut [f32; N] = (&mut row_out[x0..x0 + N])
        .try_into()
        .expect("the row buffer is whole blocks long");
    *dst = acc;
    N
}

/// `padded += Σ taps · shifted grad` (the transpose of [`accumulate_plane`]).
#[inline(always)]
fn scatter_plane(s: &Conv2dShape, phases: &Phases, taps: &[f32], grad: &[f32], padded: &mut [f32]) {
    let [_, ow] = s.out_size();
    let [kh, kw] = s.kernel;
    for (oy, grad_row) in grad.chunks_exact(ow).enumerate() {
        for ki in 0..kh {
            let r = oy * s.stride[0] + ki * s.dilation[0];
            for kj in 0..kw {
                let tap = taps[ki * kw + kj];
                let (q, offset) = phases.tap(s, kj);
                let start = phases.row(q, r) + offset;
                for (d, g) in padded[start..start + ow].iter_mut().zip(grad_row) {
                    *d += tap * g;
                }
            }
        }
    }
}

pub fn input_gradient(s: &Conv2dShape, dy: &[f32], weight: &[f32], dx: &mut [f32]) {
    let [h, w] = s.in_size;
    let [oh, ow] = s.out_size();
    let [kh, kw] = s.kernel;
    let multiplier = s.out_per_group();
    let phases = Phases::new(s);
    let plane_len = h * w;
    let planes = s.batch * s.in_channels;
    let per_task = planes_per_task(planes);
    for_each_chunk(dx, per_task * plane_len, |task, chunk| {
        with_scratch(phases.len(), |padded| {
            for (i, plane) in chunk.chunks_exact_mut(plane_len).enumerate() {
                let index = task * per_task + i;
                let (image, channel) = (index / s.in_channels, index % s.in_channels);
                padded.fill(0.0);
                for m in 0..multiplier {
                    let out_channel = channel * multiplier + m;
                    let source = image * s.out_channels + out_channel;
                    let grad = &dy[source * oh * ow..(source + 1) * oh * ow];
                    let taps = &weight[out_channel * kh * kw..(out_channel + 1) * kh * kw];
                    simd::dispatch(
                        #[inline(always)]
                        || scatter_plane(s, &phases, taps, grad, padded),
                    );
                }
                phases.unfill(s, padded, plane);
            }
        });
    });
}
