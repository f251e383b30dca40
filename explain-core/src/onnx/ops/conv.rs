//! Convolution and pooling over NCHW images.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Conv.html>, `MaxPool`, `AveragePool`,
//! `GlobalAveragePool`, `GlobalMaxPool`. Covers groups (depthwise), dilation, asymmetric
//! explicit pads (Keras/Paddle exports) and `auto_pad` SAME_UPPER / SAME_LOWER / VALID, resolved
//! against the input size at run time; `ceil_mode` and `count_include_pad` for pooling.

use burn::tensor::Device;
use burn::tensor::Tensor;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use onnx_ir::node::padding::{AutoPad, PaddingConfig2d};
use onnx_ir::{Node, NodeType};

use super::{Locality, Op, OpResult, Registry, float_input, optional_float_input, typed_node};
use crate::cpu::{self, Activation, Conv2dShape, ConvWeights};
use crate::onnx::value::{FloatValue, Value};

pub(super) fn register(registry: &mut Registry) {
    registry.add(NodeType::Conv2d, build_conv2d);
    registry.add(NodeType::MaxPool2d, build_max_pool2d);
    registry.add(NodeType::AveragePool2d, build_avg_pool2d);
    registry.add(NodeType::GlobalAveragePool, |_, _| {
        Ok(Box::new(GlobalPool { max: false }))
    });
    registry.add(NodeType::GlobalMaxPool, |_, _| {
        Ok(Box::new(GlobalPool { max: true }))
    });
}

/// Window geometry shared by convolution and pooling.
#[derive(Debug, Clone)]
struct Window {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    padding: PaddingConfig2d,
    auto_pad: AutoPad,
}

impl Window {
    /// A checked window: zero sizes would make the backend divide by zero.
    fn new(
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        padding: &PaddingConfig2d,
        auto_pad: &AutoPad,
    ) -> Result<Self, String> {
        if kernel.contains(&0) || stride.contains(&0) || dilation.contains(&0) {
            return Err(format!(
                "kernel {kernel:?}, strides {stride:?} and dilations {dilation:?} must be positive"
            ));
        }
        Ok(Self {
            kernel,
            stride,
            dilation,
            padding: padding.clone(),
            auto_pad: auto_pad.clone(),
        })
    }

    /// (begin, end) padding per spatial axis for an input of spatial size `input`.
    fn pads(&self, input: [usize; 2]) -> [(usize, usize); 2] {
        let explicit = match self.padding {
            PaddingConfig2d::Valid => [(0, 0), (0, 0)],
            PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        };
        std::array::from_fn(|axis| match self.auto_pad {
            AutoPad::NotSet => explicit[axis],
            AutoPad::Valid => (0, 0),
            AutoPad::SameUpper | AutoPad::SameLower => {
                let (size, stride) = (input[axis], self.stride[axis]);
                let extent = (self.kernel[axis] - 1) * self.dilation[axis] + 1;
                let out = size.div_ceil(stride);
                let total = ((out.saturating_sub(1)) * stride + extent).saturating_sub(size);
                let small = total / 2;
                if matches!(self.auto_pad, AutoPad::SameUpper) {
                    (small, total - small)
                } else {
                    (total - small, small)
                }
            }
        })
    }
}

impl Window {
    /// The pads for an input of spatial size `input` (or the given ones), checked: a window
    /// larger than the padded input has no output, and Burn's pools panic on one.
    fn fitted_pads(
        &self,
        input: [usize; 2],
        pads: Option<[(usize, usize); 2]>,
    ) -> Result<[(usize, usize); 2], String> {
        let pads = pads.unwrap_or_else(|| self.pads(input));
        for axis in 0..2 {
            let extent = (self.kernel[axis] - 1)
                .checked_mul(self.dilation[axis])
                .and_then(|e| e.checked_add(1));
            let padded = input[axis]
                .checked_add(pads[axis].0)
                .and_then(|p| p.checked_add(pads[axis].1));
            if extent.is_none_or(|e| padded.is_none_or(|p| p < e)) {
                return Err(format!(
                    "the {:?} window does not fit the {}x{} input with pads {pads:?}",
                    self.kernel, input[0], input[1]
                ));
            }
        }
        Ok(pads)
    }

    fn locality(&self, in_size: [usize; 2]) -> Locality {
        Locality::Window {
            kernel: self.kernel,
            stride: self.stride,
            dilation: self.dilation,
            pads: self.pads(in_size),
        }
    }
}

fn image_input(inputs: &[Option<Value>]) -> Result<Tensor<4>, String> {
    let x = float_input(inputs, 0)?;
    x.to_rank::<4>().ok_or_else(|| {
        format!(
            "expected a 4-D NCHW input with no empty axis, got shape {:?}",
            x.dims()
        )
    })
}

fn spatial(x: &Tensor<4>) -> [usize; 2] {
    let [_, _, h, w] = x.dims();
    [h, w]
}

struct Conv2d {
    window: Window,
    groups: usize,
}

fn build_conv2d(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let n = typed_node!(node, Conv2d);
    let c = &n.config;
    let window = Window::new(c.kernel_size, c.stride, c.dilation, &c.padding, &c.auto_pad)?;
    Ok(Box::new(Conv2d {
        window,
        groups: c.groups.max(1),
    }))
}

impl Conv2d {
    /// The geometry of this convolution on input `x` with `weight` and `pads` (its own unless
    /// it runs on a crop), after checking they fit.
    fn shape(
        &self,
        x: &Tensor<4>,
        weight: [usize; 4],
        pads: Option<[(usize, usize); 2]>,
    ) -> Result<Conv2dShape, String> {
        let [batch, channels, height, width] = x.dims();
        let [out_channels, per_group, kh, kw] = weight;
        if per_group * self.groups != channels {
            return Err(format!(
                "the input has {channels} channels but the weight expects {} ({} groups of {per_group})",
                per_group * self.groups,
                self.groups
            ));
        }
        if [kh, kw] != self.window.kernel {
            return Err(format!(
                "weight kernel {kh}x{kw} disagrees with kernel_shape {:?}",
                self.window.kernel
            ));
        }
        if !out_channels.is_multiple_of(self.groups) {
            return Err(format!(
                "{out_channels} output channels do not split into {} groups",
                self.groups
            ));
        }
        Ok(Conv2dShape {
            batch,
            in_channels: channels,
            in_size: [height, width],
            out_channels,
            groups: self.groups,
            kernel: self.window.kernel,
            stride: self.window.stride,
            dilation: self.window.dilation,
            pads: self.window.fitted_pads([height, width], pads)?,
        })
    }
}

impl Conv2d {
    fn run_with(&self, inputs: &[Option<Value>], pads: Option<[(usize, usize); 2]>) -> OpResult {
        let x = image_input(inputs)?;
        let weight = float_input(inputs, 1)?;
        let weight = weight
            .to_rank::<4>()
            .ok_or_else(|| format!("expected a 4-D weight, got shape {:?}", weight.dims()))?;
        let bias = optional_float_input(inputs, 2)?
            .map(|b| b.to_rank::<1>().ok_or("expected a 1-D bias".to_string()))
            .transpose()?;
        let shape = self.shape(&x, weight.dims(), pads)?;
        let y = cpu::conv2d(
            x,
            &ConvWeights::as_stored(weight),
            bias,
            &shape,
            Activation::Identity,
        )?;
        Ok(vec![Value::Float(FloatValue::from_tensor(y))])
    }
}

impl Op for Conv2d {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        self.run_with(inputs, None)
    }

    fn locality(&self, in_size: [usize; 2]) -> Option<Locality> {
        Some(self.window.locality(in_size))
    }

    fn run_cropped(&self, inputs: &[Option<Value>], pads: [(usize, usize); 2]) -> OpResult {
        self.run_with(inputs, Some(pads))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// A convolution with its weights prepared once (see `cpu::prepare_weight`), a
/// BatchNormalization folded into them and an activation applied in its own pass (built by
/// `onnx/fuse.rs`; any of the last two may be absent). It reads only the image: its weights
/// are its own.
struct FusedConv {
    conv: Conv2d,
    weights: ConvWeights,
    bias: Tensor<1>,
    activation: Activation,
}

impl FusedConv {
    fn run_with(&self, inputs: &[Option<Value>], pads: Option<[(usize, usize); 2]>) -> OpResult {
        let x = image_input(inputs)?;
        let shape = self.conv.shape(&x, self.weights.dims(), pads)?;
        let y = cpu::conv2d(
            x,
            &self.weights,
            Some(self.bias.clone()),
            &shape,
            self.activation,
        )?;
        Ok(vec![Value::Float(FloatValue::from_tensor(y))])
    }
}

impl Op for FusedConv {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        self.run_with(inputs, None)
    }

    fn locality(&self, in_size: [usize; 2]) -> Option<Locality> {
        Some(self.conv.window.locality(in_size))
    }

    fn run_cropped(&self, inputs: &[Option<Value>], pads: [(usize, usize); 2]) -> OpResult {
        self.run_with(inputs, Some(pads))
    }
}

/// `conv` (a Conv op) with constant `weight` and `bias`, followed by the per-channel affine map
/// `y = x · k + shift` of a BatchNormalization (if any) and `activation`, as one op that reads
/// only the image, its weight prepared for the device. `None` when `conv` is not a Conv or the
/// shapes do not fit.
pub(crate) fn fuse_conv(
    conv: &dyn Op,
    weight: &FloatValue,
    bias: Option<&FloatValue>,
    affine: Option<(Tensor<1>, Tensor<1>)>,
    activation: Activation,
) -> Option<Box<dyn Op>> {
    let conv = conv.as_any()?.downcast_ref::<Conv2d>()?;
    let weight = weight.to_rank::<4>()?;
    let out_channels = weight.dims()[0];
    let bias = match bias {
        Some(b) => b.to_rank::<1>().filter(|b| b.dims() == [out_channels])?,
        None => Tensor::zeros([out_channels], &weight.device()),
    };
    let (weight, bias) = match affine {
        Some((k, shift)) if k.dims() == [out_channels] && shift.dims() == [out_channels] => (
            weight * k.clone().reshape([out_channels, 1, 1, 1]),
            bias * k + shift,
        ),
        Some(_) => return None,
        None => (weight, bias),
    };
    let weights = ConvWeights::prepare(
        weight,
        conv.window.stride,
        conv.window.dilation,
        conv.groups,
    );
    Some(Box::new(FusedConv {
        conv: Conv2d {
            window: conv.window.clone(),
            groups: conv.groups,
        },
        weights,
        bias,
        activation,
    }))
}

struct MaxPool2d {
    window: Window,
    ceil_mode: bool,
}

fn build_max_pool2d(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let n = typed_node!(node, MaxPool2d);
    let c = &n.config;
    let window = Window::new(
        c.kernel_size,
        c.strides,
        c.dilation,
        &c.padding,
        &c.auto_pad,
    )?;
    if n.outputs.len() > 1 {
        return Err("the Indices output of MaxPool is not supported".into());
    }
    Ok(Box::new(MaxPool2d {
        window,
        ceil_mode: c.ceil_mode,
    }))
}

impl MaxPool2d {
    fn run_with(&self, inputs: &[Option<Value>], pads: Option<[(usize, usize); 2]>) -> OpResult {
        let x = image_input(inputs)?;
        let pads = self.window.fitted_pads(spatial(&x), pads)?;
        // On a crop the pads are exact (see `Op::run_cropped`): no ceil rounding is left.
        let options = MaxPoolOptions::new(self.window.kernel)
            .with_stride(self.window.stride)
            .with_dilation(self.window.dilation)
            .with_padding_pairs(pads)
            .with_ceil_mode(self.ceil_mode);
        Ok(vec![Value::Float(FloatValue::from_tensor(max_pool2d(
            x, options,
        )))])
    }
}

impl Op for MaxPool2d {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        self.run_with(inputs, None)
    }

    fn locality(&self, in_size: [usize; 2]) -> Option<Locality> {
        Some(self.window.locality(in_size))
    }

    fn run_cropped(&self, inputs: &[Option<Value>], pads: [(usize, usize); 2]) -> OpResult {
        self.run_with(inputs, Some(pads))
    }
}

struct AvgPool2d {
    window: Window,
    ceil_mode: bool,
    count_include_pad: bool,
}

fn build_avg_pool2d(node: &Node, _device: &Device) -> Result<Box<dyn Op>, String> {
    let n = typed_node!(node, AveragePool2d);
    let c = &n.config;
    let window = Window::new(
        c.kernel_size,
        c.strides,
        c.dilation,
        &c.padding,
        &c.auto_pad,
    )?;
    if window.dilation != [1, 1] {
        return Err("dilated AveragePool is not supported".into());
    }
    Ok(Box::new(AvgPool2d {
        window,
        ceil_mode: c.ceil_mode,
        count_include_pad: c.count_include_pad,
    }))
}

impl AvgPool2d {
    fn run_with(&self, inputs: &[Option<Value>], pads: Option<[(usize, usize); 2]>) -> OpResult {
        let x = image_input(inputs)?;
        let pads = self.window.fitted_pads(spatial(&x), pads)?;
        let options = AvgPoolOptions::new(self.window.kernel)
            .with_stride(self.window.stride)
            .with_padding_pairs(pads)
            .with_count_include_pad(self.count_include_pad)
            .with_ceil_mode(self.ceil_mode);
        Ok(vec![Value::Float(FloatValue::from_tensor(avg_pool2d(
            x, options,
        )))])
    }
}

impl Op for AvgPool2d {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        self.run_with(inputs, None)
    }

    /// With `ceil_mode` and `count_include_pad` the last window's divisor counts only the
    /// file's pads, which a crop's pads cannot say: such a pool is recomputed whole.
    fn locality(&self, in_size: [usize; 2]) -> Option<Locality> {
        (!(self.ceil_mode && self.count_include_pad)).then(|| self.window.locality(in_size))
    }

    fn run_cropped(&self, inputs: &[Option<Value>], pads: [(usize, usize); 2]) -> OpResult {
        self.run_with(inputs, Some(pads))
    }
}

/// Global average / max pooling over every axis after the channel axis (any rank >= 3).
struct GlobalPool {
    max: bool,
}

impl Op for GlobalPool {
    fn run(&self, inputs: &[Option<Value>]) -> OpResult {
        let x = float_input(inputs, 0)?;
        let dims = x.dims();
        if dims.len() < 3 {
            return Err(format!(
                "expected an N,C,spatial... input, got shape {dims:?}"
            ));
        }
        let (n, c) = (dims[0], dims[1]);
        let area: usize = dims[2..].iter().product();
        let flat: Tensor<3> = x.into_padded().reshape([n, c, area]);
        let pooled = if self.max {
            flat.max_dim(2)
        } else {
            flat.mean_dim(2)
        };
        let mut out_dims = vec![1; dims.len()];
        out_dims[..2].copy_from_slice(&[n, c]);
        Ok(vec![Value::Float(
            FloatValue::from_tensor(pooled).reshape(&out_dims),
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{fv, read};
    use super::*;

    fn window(kernel: usize, stride: usize, auto_pad: AutoPad) -> Window {
        Window {
            kernel: [kernel; 2],
            stride: [stride; 2],
            dilation: [1; 2],
            padding: PaddingConfig2d::Valid,
            auto_pad,
        }
    }

    #[test]
    fn same_upper_puts_the_odd_pad_at_the_end() {
        // 5 wide, kernel 2, stride 2 -> 3 outputs need 1 pad, at the end.
        assert_eq!(
            window(2, 2, AutoPad::SameUpper).pads([5, 5]),
            [(0, 1), (0, 1)]
        );
        assert_eq!(
            window(2, 2, AutoPad::SameLower).pads([5, 5]),
            [(1, 0), (1, 0)]
        );
        assert_eq!(
            window(3, 1, AutoPad::SameUpper).pads([7, 7]),
            [(1, 1), (1, 1)]
        );
    }

    #[test]
    fn conv_with_asymmetric_pads_sums_the_window() {
        // A 1x1x2x2 input of ones, a 2x2 kernel of ones, pads (top 1, left 1, bottom 0, right 0).
        let op = Conv2d {
            window: Window {
                padding: PaddingConfig2d::Explicit(1, 1, 0, 0),
                ..window(2, 1, AutoPad::NotSet)
            },
            groups: 1,
        };
        let out = op
            .run(&[
                fv(&[1.0; 4], &[1, 1, 2, 2]),
                fv(&[1.0; 4], &[1, 1, 2, 2]),
                None,
            ])
            .expect("run");
        assert_eq!(read(&out), (vec![1.0, 2.0, 2.0, 4.0], vec![1, 1, 2, 2]));
    }

    #[test]
    fn conv_reports_a_channel_mismatch() {
        let op = Conv2d {
            window: window(1, 1, AutoPad::NotSet),
            groups: 1,
        };
        let err = op
            .run(&[
                fv(&[1.0; 8], &[1, 2, 2, 2]),
                fv(&[1.0; 3], &[1, 3, 1, 1]),
                None,
            ])
            .expect_err("mismatch");
        assert!(err.contains("2 channels"), "{err}");
    }

    #[test]
    fn global_average_pool_keeps_the_rank() {
        let out = GlobalPool { max: false }
            .run(&[fv(
                &[1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0],
                &[1, 2, 2, 2],
            )])
            .expect("run");
        assert_eq!(read(&out), (vec![2.5, 10.0], vec![1, 2, 1, 1]));
    }
}
