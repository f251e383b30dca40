//! Resizing maps to the image size, as OpenCV's `cv2.resize(..., INTER_LINEAR)` does for float
//! images (what pytorch-grad-cam uses): half-pixel centres, `src = (dst + 0.5) · in/out − 0.5`,
//! clamped at the edges.
//!
//! A bilinear resize is separable and linear, so it is two small matrix products on the device
//! (`R_y · map · R_xᵀ`): no custom kernel, differentiable, and the same on every backend.

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
    let [n, h, w] = maps.dims();
    if (h, w) == (height, width) {
        return maps;
    }
    let device = maps.device();
    let ry = Tensor::<2>::from_data(
        TensorData::new(bilinear_weights(h, height), [height, h]),
        &device,
    );
    let rx = Tensor::<2>::from_data(
        TensorData::new(bilinear_weights(w, width), [width, w]),
        &device,
    );
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
    }
}
