//! Depthwise convolution (one input channel per group, any channel multiplier) as direct loops:
//! each kernel tap adds a scaled, shifted input row to an output row, which the compiler turns
//! into SIMD multiply-adds. Planes are independent, so threads take blocks of whole planes.

use super::Activation;
use super::parallel::{for_each_chunk, threads};
use super::shape::{Conv2dShape, valid_outputs};

/// Planes per task: a few tasks per thread, never a task per tiny plane.
fn planes_per_task(planes: usize) -> usize {
    planes.div_ceil(4 * threads()).max(1)
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
    let [sh, sw] = s.stride;
    let multiplier = s.out_per_group();
    let plane_len = oh * ow;
    let planes = s.batch * s.out_channels;
    let per_task = planes_per_task(planes);
    for_each_chunk(out, per_task * plane_len, |task, chunk| {
        for (i, plane) in chunk.chunks_exact_mut(plane_len).enumerate() {
            let index = task * per_task + i;
            let (image, channel) = (index / s.out_channels, index % s.out_channels);
            let source = image * s.in_channels + channel / multiplier;
            let input = &x[source * h * w..(source + 1) * h * w];
            let taps = &weight[channel * kh * kw..(channel + 1) * kh * kw];
            plane.fill(bias.map_or(0.0, |b| b[channel]));
            for oy in 0..oh {
                let row = &mut plane[oy * ow..(oy + 1) * ow];
                for ki in 0..kh {
                    let iy = (oy * sh) as isize + s.tap_offset(0, ki);
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let input_row = &input[iy as usize * w..(iy as usize + 1) * w];
                    for kj in 0..kw {
                        let tap = taps[ki * kw + kj];
                        let offset = s.tap_offset(1, kj);
                        let (lo, hi) = valid_outputs(offset, sw, w, ow);
                        if lo >= hi {
                            continue;
                        }
                        let first = ((lo * sw) as isize + offset) as usize;
                        if sw == 1 {
                            for (o, v) in row[lo..hi].iter_mut().zip(&input_row[first..]) {
                                *o += tap * v;
                            }
                        } else {
                            for (o, v) in row[lo..hi]
                                .iter_mut()
                                .zip(input_row[first..].iter().step_by(sw))
                            {
                                *o += tap * v;
                            }
                        }
                    }
                }
            }
            activation.apply(plane);
        }
    });
}

pub fn input_gradient(s: &Conv2dShape, dy: &[f32], weight: &[f32], dx: &mut [f32]) {
    let [h, w] = s.in_size;
    let [oh, ow] = s.out_size();
    let [kh, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let multiplier = s.out_per_group();
    let plane_len = h * w;
    let planes = s.batch * s.in_channels;
    let per_task = planes_per_task(planes);
    for_each_chunk(dx, per_task * plane_len, |task, chunk| {
        for (i, plane) in chunk.chunks_exact_mut(plane_len).enumerate() {
            let index = task * per_task + i;
            let (image, channel) = (index / s.in_channels, index % s.in_channels);
            for m in 0..multiplier {
                let out_channel = channel * multiplier + m;
                let source = image * s.out_channels + out_channel;
                let grad = &dy[source * oh * ow..(source + 1) * oh * ow];
                let taps = &weight[out_channel * kh * kw..(out_channel + 1) * kh * kw];
                for oy in 0..oh {
                    let grad_row = &grad[oy * ow..(oy + 1) * ow];
                    for ki in 0..kh {
                        let iy = (oy * sh) as isize + s.tap_offset(0, ki);
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let row = &mut plane[iy as usize * w..(iy as usize + 1) * w];
                        for kj in 0..kw {
                            let tap = taps[ki * kw + kj];
                            let offset = s.tap_offset(1, kj);
                            let (lo, hi) = valid_outputs(offset, sw, w, ow);
                            if lo >= hi {
                                continue;
                            }
                            let first = ((lo * sw) as isize + offset) as usize;
                            if sw == 1 {
                                for (d, g) in row[first..].iter_mut().zip(&grad_row[lo..hi]) {
                                    *d += tap * g;
                                }
                            } else {
                                for (d, g) in row[first..]
                                    .iter_mut()
                                    .step_by(sw)
                                    .zip(&grad_row[lo..hi])
                                {
                                    *d += tap * g;
                                }
                            }
                        }
                    }
                }
            }
        }
    });
}
