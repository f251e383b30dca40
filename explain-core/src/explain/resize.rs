//! Resizing maps to the image size, as OpenCV's `cv2.resize(..., INTER_LINEAR)` does for float
//! images (what pytorch-grad-cam uses): half-pixel centres, `src = (dst + 0.5) · in/out − 0.5`,
//! clamped at the edges.
//!
//! A bilinear resize is separable and linear, so it is two small matrix products on the device
//! (`R_y · map · R_xᵀ`): no custom kernel, differentiable, and the same on every backend. A
//! Gaussian blur (deep dream smooths its gradients with one) is two such products too.

use burn::tensor::{Tensor, TensorData};

/// The `[out, in]` interpolation matrix of one axis.
pub fn bilinear_weights(input: usize, output: usize) -> Vec<f32> {
    let mut w = vec![0f32; output * input];
    let scale = input as f64 / output as f64;
    for dst in 0..output {
        let f = (dst as f64 + 0.5) * scale - 0.5;
        let mut s = f.floor() as i64;
        let mut frac = f - s as f64;
        if s < 0 {
            s = 0;
            frac = 0.0;
        }
        if s as usize >= input - 1 {
            s = input as i64 - 1;
            frac = 0.0;
        }
        let s = s as usize;
        w[dst * input + s] += (1.0 - frac) as f32;
        if frac > 0.0 {
            w[dst * input + s + 1] += frac as f32;
        }
    }
    w
}

/// Resizes `[N, h, w]` maps to `[N, height, width]`.
pub fn bilinear(maps: Tensor<3>, height: usize, width: usize) -> Tensor<3> {
    let [_, h, w] = maps.dims();
    if (h, w) == (height, width) {
        return maps;
    }
    separable(
        maps,
        bilinear_weights(h, height),
        height,
        bilinear_weights(w, width),
        width,
    )
}

/// The `[n, n]` matrix of a Gaussian blur along one axis, each row renormalised at the edges
/// (so a constant stays constant).
pub fn gaussian_weights(n: usize, sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as i64;
    let mut w = vec![0f32; n * n];
    for (dst, row) in w.chunks_mut(n).enumerate() {
        let lo = (dst as i64 - radius).max(0) as usize;
        let hi = (dst as i64 + radius).min(n as i64 - 1) as usize;
        for (src, v) in row.iter_mut().enumerate().take(hi + 1).skip(lo) {
            let d = src as f32 - dst as f32;
            *v = (-d * d / (2.0 * sigma * sigma)).exp();
        }
        let sum: f32 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= sum);
    }
    w
}

/// Blurs `[N, h, w]` maps with a Gaussian of `sigma` pixels (no-op for `sigma <= 0`).
pub fn gaussian(maps: Tensor<3>, sigma: f32) -> Tensor<3> {
    let [_, h, w] = maps.dims();
    if sigma <= 0.0 {
        return maps;
    }
    separable(
        maps,
        gaussian_weights(h, sigma),
        h,
        gaussian_weights(w, sigma),
        w,
    )
}

/// `R_y · map · R_xᵀ` for each of the `N` maps, with `R_y` `[height, h]` and `R_x` `[width, w]`.
fn separable(
    maps: Tensor<3>,
    ry: Vec<f32>,
    height: usize,
    rx: Vec<f32>,
    width: usize,
) -> Tensor<3> {
    let [n, h, w] = maps.dims();
    let device = maps.device();
    let ry = Tensor::<2>::from_data(TensorData::new(ry, [height, h]), &device);
    let rx = Tensor::<2>::from_data(TensorData::new(rx, [width, w]), &device);
    let ry = ry.unsqueeze::<3>().expand([n, height, h]);
    let rxt = rx.transpose().unsqueeze::<3>().expand([n, w, width]);
    ry.matmul(maps).matmul(rxt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_match_opencv_half_pixel_rules() {
        // 2 -> 4: cv2 gives [1, .75/.25, .25/.75, 1] on the two source pixels.
        let w = bilinear_weights(2, 4);
        assert_eq!(w, vec![1.0, 0.0, 0.75, 0.25, 0.25, 0.75, 0.0, 1.0]);
        // Every row sums to one.
        for row in bilinear_weights(7, 224).chunks(7) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn a_constant_map_stays_constant() {
        let device = burn::tensor::Device::flex();
        let m = Tensor::<3>::ones([1, 3, 5], &device) * 2.0;
        let r = bilinear(m, 9, 11);
        assert_eq!(r.dims(), [1, 9, 11]);
        let v: Vec<f32> = r.into_data().try_to_vec().expect("read");
        assert!(v.iter().all(|x| (x - 2.0).abs() < 1e-6));
        let g = gaussian(Tensor::<3>::ones([2, 6, 4], &device) * 3.0, 1.0);
        let v: Vec<f32> = g.into_data().try_to_vec().expect("read");
        assert!(v.iter().all(|x| (x - 3.0).abs() < 1e-5));
    }

    #[test]
    fn a_gaussian_spreads_a_point_symmetrically_and_keeps_its_sum() {
        let w = gaussian_weights(9, 1.0);
        let row = &w[4 * 9..5 * 9];
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((row[3] - row[5]).abs() < 1e-7 && row[4] > row[3] && row[3] > row[2]);
        // exp(-1/2) of the centre weight one pixel away at sigma 1.
        assert!((row[3] / row[4] - (-0.5f32).exp()).abs() < 1e-6);
    }
}
