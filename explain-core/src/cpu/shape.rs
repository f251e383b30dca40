//! The geometry of one 2-D convolution, and the index arithmetic its kernels share.

/// An NCHW convolution: input `[batch, in_channels, in_size]`, weight
/// `[out_channels, in_channels / groups, kernel]` (ONNX's stored layout), output
/// `[batch, out_channels, out_size()]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dShape {
    pub batch: usize,
    pub in_channels: usize,
    pub in_size: [usize; 2],
    pub out_channels: usize,
    pub groups: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// (begin, end) zero padding per spatial axis.
    pub pads: [(usize, usize); 2],
}

impl Conv2dShape {
    /// Output height and width (0 when the window does not fit).
    pub fn out_size(&self) -> [usize; 2] {
        std::array::from_fn(|axis| {
            let extent = (self.kernel[axis] - 1) * self.dilation[axis] + 1;
            let padded = self.in_size[axis] + self.pads[axis].0 + self.pads[axis].1;
            padded
                .checked_sub(extent)
                .map_or(0, |room| room / self.stride[axis] + 1)
        })
    }

    pub fn in_per_group(&self) -> usize {
        self.in_channels / self.groups
    }

    pub fn out_per_group(&self) -> usize {
        self.out_channels / self.groups
    }

    /// Rows of the im2col matrix of one group: one per (input channel, kernel tap).
    pub fn patch_len(&self) -> usize {
        self.in_per_group() * self.kernel[0] * self.kernel[1]
    }

    pub fn in_pixels(&self) -> usize {
        self.in_size[0] * self.in_size[1]
    }

    pub fn out_pixels(&self) -> usize {
        let [h, w] = self.out_size();
        h * w
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.in_pixels()
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.out_pixels()
    }

    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }

    pub fn input_dims(&self) -> [usize; 4] {
        [
            self.batch,
            self.in_channels,
            self.in_size[0],
            self.in_size[1],
        ]
    }

    pub fn output_dims(&self) -> [usize; 4] {
        let [h, w] = self.out_size();
        [self.batch, self.out_channels, h, w]
    }

    /// One input channel per group (depthwise, possibly with a channel multiplier): direct
    /// loops beat a GEMM whose inner dimension is the kernel's few taps.
    pub fn is_depthwise(&self) -> bool {
        self.in_per_group() == 1 && self.groups > 1
    }

    /// A 1x1 convolution that reads every pixel once: the input planes are already the GEMM's
    /// right-hand matrix, no im2col needed.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1]
            && self.stride == [1, 1]
            && self.pads == [(0, 0), (0, 0)]
            && self.out_size() == self.in_size
    }

    /// Checks the buffers' lengths and the channel arithmetic against the shape.
    pub fn check(&self, input: usize, weight: usize, bias: Option<usize>) -> Result<(), String> {
        if self.groups == 0
            || !self.in_channels.is_multiple_of(self.groups)
            || !self.out_channels.is_multiple_of(self.groups)
        {
            return Err(format!(
                "{} input and {} output channels do not split into {} groups",
                self.in_channels, self.out_channels, self.groups
            ));
        }
        if self.kernel.contains(&0) || self.stride.contains(&0) || self.dilation.contains(&0) {
            return Err("kernel, strides and dilations must be positive".into());
        }
        if input != self.input_len() || weight != self.weight_len() {
            return Err(format!(
                "internal: buffers of {input} and {weight} values for a convolution {self:?}"
            ));
        }
        if bias.is_some_and(|b| b != self.out_channels) {
            return Err(format!(
                "the bias has {} values for {} output channels",
                bias.unwrap_or(0),
                self.out_channels
            ));
        }
        Ok(())
    }

    /// Offset of the input coordinate read by output index 0 at kernel tap `tap` on `axis`:
    /// output `o` reads input `o * stride + offset`.
    pub fn tap_offset(&self, axis: usize, tap: usize) -> isize {
        (tap * self.dilation[axis]) as isize - self.pads[axis].0 as isize
    }
}

/// The output indices `o` in `0..outputs` whose input `o * stride + offset` lies in `0..input`,
/// as a half-open range (empty when none does).
pub fn valid_outputs(offset: isize, stride: usize, input: usize, outputs: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if offset >= 0 {
        0
    } else {
        (-offset + s - 1) / s
    };
    let last = input as isize - 1 - offset;
    let hi = if last < 0 { 0 } else { last / s + 1 };
    let hi = (hi.max(0) as usize).min(outputs);
    let lo = (lo as usize).min(hi);
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(size: usize, kernel: usize, stride: usize, pad: usize) -> Conv2dShape {
        Conv2dShape {
            batch: 1,
            in_channels: 1,
            in_size: [size; 2],
            out_channels: 1,
            groups: 1,
            kernel: [kernel; 2],
            stride: [stride; 2],
            dilation: [1; 2],
            pads: [(pad, pad); 2],
        }
    }

    #[test]
    fn output_sizes_follow_the_onnx_formula() {
        assert_eq!(shape(224, 7, 2, 3).out_size(), [112, 112]);
        assert_eq!(shape(56, 3, 1, 1).out_size(), [56, 56]);
        assert_eq!(shape(7, 1, 2, 0).out_size(), [4, 4]);
        assert_eq!(shape(2, 5, 1, 0).out_size(), [0, 0]);
    }

    #[test]
    fn valid_outputs_brute_force() {
        for offset in -5isize..5 {
            for stride in 1..4 {
                for input in 0..6 {
                    for outputs in 0..7 {
                        let expected: Vec<usize> = (0..outputs)
                            .filter(|&o| {
                                let i = o as isize * stride as isize + offset;
                                i >= 0 && i < input as isize
                            })
                            .collect();
                        let (lo, hi) = valid_outputs(offset, stride, input, outputs);
                        let got: Vec<usize> = (lo..hi).collect();
                        assert_eq!(
                            got, expected,
                            "offset {offset} stride {stride} input {input}"
                        );
                    }
                }
            }
        }
    }
}
