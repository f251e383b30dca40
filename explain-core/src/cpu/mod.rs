//! UNPIC's own kernels for the CPU device (Burn's flex), where Burn's are slow: convolution,
//! forward and input gradient, with its activation fused.
//!
//! flex 0.22 runs conv2d as a conv3d: it reorders the weights and copies the input NCHW→NHWC on
//! every call, allocates a zeroed im2col buffer per tile, scatters the GEMM's result into the
//! output element by element, and splits only over the batch, so one core works at batch 1.
//! Here the weights are read as ONNX stores them, patches go to per-thread scratch, the GEMM
//! writes straight into the output and every thread works at batch 1 ([`conv`]).
//!
//! [`conv2d`] is the entry point on Burn tensors: on the flex device it runs these kernels and
//! registers their input gradient with Burn's autodiff (the weights are constants: no weight
//! gradient is ever computed); on any other device (WebGPU) it is Burn's own conv2d.

mod conv;
mod depthwise;
pub(crate) mod gemm;
mod parallel;
mod shape;
mod sigmoid;
mod simd;
mod winograd;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::activation::relu;
use burn::tensor::module;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};

pub use conv::{WeightLayout, forward as conv2d_forward, input_gradient as conv2d_input_gradient};
pub use shape::Conv2dShape;
pub use sigmoid::sigmoid;

/// An elementwise function applied to a convolution's output in the same pass.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Activation {
    #[default]
    Identity,
    Relu,
    /// `min(max(x, min), max)` (ONNX `Clip`, ReLU6).
    Clip {
        min: f32,
        max: f32,
    },
    /// `x · σ(x)` (SiLU/swish: an ONNX `Mul(x, Sigmoid(x))`, EfficientNet's activation).
    Silu,
}

impl Activation {
    pub fn apply(self, values: &mut [f32]) {
        // Comparisons rather than `f32::max`, whose NaN rule keeps the loop scalar.
        match self {
            Activation::Identity => {}
            Activation::Relu => simd::dispatch(
                #[inline(always)]
                || {
                    for v in values.iter_mut() {
                        *v = if *v > 0.0 { *v } else { 0.0 };
                    }
                },
            ),
            Activation::Clip { min, max } => simd::dispatch(
                #[inline(always)]
                || {
                    for v in values.iter_mut() {
                        let low = if *v > min { *v } else { min };
                        *v = if low < max { low } else { max };
                    }
                },
            ),
            Activation::Silu => simd::dispatch(
                #[inline(always)]
                || {
                    for v in values.iter_mut() {
                        *v = sigmoid::silu(*v);
                    }
                },
            ),
        }
    }

    /// The function at one value (same results as [`Activation::apply`]).
    #[inline(always)]
    pub fn of(self, v: f32) -> f32 {
        match self {
            Activation::Identity => v,
            Activation::Relu => {
                if v > 0.0 {
                    v
                } else {
                    0.0
                }
            }
            Activation::Clip { min, max } => {
                let low = if v > min { v } else { min };
                if low < max { low } else { max }
            }
            Activation::Silu => sigmoid::silu(v),
        }
    }

    /// Whether the backward step reads the activation's input (SiLU) rather than its output.
    fn backward_reads_input(self) -> bool {
        self == Activation::Silu
    }

    /// Multiplies `grad` by the activation's derivative, given what the backward step saved:
    /// the output `y` for ReLU and Clip (their derivative is 0 or 1, read from where `y` lies;
    /// at the kinks PyTorch's 0), the input `x` for SiLU (σ(x)·(1 + x·(1 − σ(x)))).
    fn scale_gradient(self, saved: &[f32], grad: &mut [f32]) {
        let keep: fn(f32, f32, f32) -> bool = match self {
            Activation::Identity => return,
            Activation::Silu => {
                for (g, &x) in grad.iter_mut().zip(saved) {
                    let s = 1.0 / (1.0 + sigmoid::exp(-x));
                    *g *= s * (1.0 + x * (1.0 - s));
                }
                return;
            }
            Activation::Relu => |v, _, _| v > 0.0,
            Activation::Clip { .. } => |v, lo, hi| v > lo && v < hi,
        };
        let (lo, hi) = match self {
            Activation::Clip { min, max } => (min, max),
            _ => (0.0, 0.0),
        };
        for (g, &v) in grad.iter_mut().zip(saved) {
            if !keep(v, lo, hi) {
                *g = 0.0;
            }
        }
    }

    /// The same function through Burn's ops, for devices without our kernels.
    fn apply_tensor(self, y: Tensor<4>) -> Tensor<4> {
        match self {
            Activation::Identity => y,
            Activation::Relu => relu(y),
            Activation::Clip { min, max } => y.clamp_min(min).clamp_max(max),
            Activation::Silu => burn::tensor::activation::silu(y),
        }
    }
}

/// A convolution's weights as the kernels want them.
#[derive(Debug, Clone)]
pub struct ConvWeights {
    weight: Tensor<4>,
    layout: WeightLayout,
    /// `G g Gᵀ` for Winograd F(2x2, 3x3) (3x3 stride-1 convolutions on flex), `[16, Cout, Cin]`.
    winograd: Option<FlexTensor>,
}

impl ConvWeights {
    pub fn dims(&self) -> [usize; 4] {
        self.weight.dims()
    }

    /// Weights as they came (read from the graph at run time): no preparation.
    pub fn as_stored(weight: Tensor<4>) -> Self {
        Self {
            weight,
            layout: WeightLayout::Onnx,
            winograd: None,
        }
    }

    /// Constant weights prepared once for the device they live on: on flex in
    /// [`WeightLayout::TapMajor`] order, plus Winograd's transform when the convolution
    /// (`stride`, `dilation`, `groups`) is 3x3 stride-1; elsewhere as they are (Burn's conv2d
    /// reads ONNX's layout).
    pub fn prepare(
        weight: Tensor<4>,
        stride: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Self {
        let [out_channels, per_group, kh, kw] = weight.dims();
        let winograd =
            (kh == 3 && kw == 3 && stride == [1, 1] && dilation == [1, 1] && groups == 1)
                .then(|| flex_constant(&weight))
                .flatten()
                .and_then(|flex| {
                    let values = f32_values(&flex).ok()?;
                    let u = winograd::transform_weights(out_channels, per_group, &values);
                    Some(FlexTensor::from_data(TensorData::new(
                        u,
                        [u_len(out_channels, per_group)],
                    )))
                });
        let (weight, layout) = prepare_weight(weight);
        Self {
            weight,
            layout,
            winograd,
        }
    }
}

fn u_len(out_channels: usize, in_channels: usize) -> usize {
    16 * out_channels * in_channels
}

/// A constant convolution weight in the layout our kernels read fastest on flex.
fn prepare_weight(weight: Tensor<4>) -> (Tensor<4>, WeightLayout) {
    let Some(flex) = flex_constant(&weight) else {
        return (weight, WeightLayout::Onnx);
    };
    let [out_channels, per_group, kh, kw] = weight.dims();
    let Ok(values) = f32_values(&flex) else {
        return (weight, WeightLayout::Onnx);
    };
    // Only the per-group input count and the kernel matter for the reordering.
    let shape = Conv2dShape {
        batch: 1,
        in_channels: per_group,
        in_size: [kh, kw],
        out_channels,
        groups: 1,
        kernel: [kh, kw],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [(0, 0); 2],
    };
    let reordered = conv::to_tap_major(&shape, &values);
    (
        Tensor::from_primitive::<Flex>(flex_tensor(reordered, [out_channels, per_group, kh, kw])),
        WeightLayout::TapMajor,
    )
}

/// `activation(conv2d(x, weights) + bias)`, on our kernels when the tensors live on flex.
pub fn conv2d(
    x: Tensor<4>,
    weights: &ConvWeights,
    bias: Option<Tensor<1>>,
    shape: &Conv2dShape,
    activation: Activation,
) -> Result<Tensor<4>, String> {
    let (weight, layout) = (weights.weight.clone(), weights.layout);
    let winograd = weights.winograd.as_ref().filter(|u| {
        winograd::applies(shape)
            && u.layout().shape().num_elements() == u_len(shape.out_channels, shape.in_channels)
    });
    if x.dims() != shape.input_dims() {
        return Err(format!(
            "internal: input {:?} for a convolution of {:?}",
            x.dims(),
            shape.input_dims()
        ));
    }
    let w = flex_constant(&weight);
    let b = match &bias {
        None => Some(None),
        Some(b) => flex_constant(b).map(Some),
    };
    if let (Some(w), Some(b)) = (w, b) {
        if let Ok(x) = x.clone().try_into_primitive::<Flex>() {
            let y = run_forward(shape, &x, (&w, layout, winograd), b.as_ref(), activation)?;
            return Ok(Tensor::from_primitive::<Flex>(y));
        }
        if let Ok(x) = x.clone().try_into_primitive::<Autodiff<Flex>>() {
            // Taped: our forward, and our input gradient registered as its backward step.
            let node = x.node();
            // SiLU's derivative needs its input: the convolution's output is kept and the
            // activation applied to a copy.
            let (y, saved) = if activation.backward_reads_input() {
                let z = run_forward(
                    shape,
                    x.primitive(),
                    (&w, layout, winograd),
                    b.as_ref(),
                    Activation::Identity,
                )?;
                let mut y = f32_values(&z)?.into_owned();
                activation.apply(&mut y);
                (flex_tensor(y, shape.output_dims()), Some(z))
            } else {
                let y = run_forward(
                    shape,
                    x.primitive(),
                    (&w, layout, winograd),
                    b.as_ref(),
                    activation,
                )?;
                let saved = (activation != Activation::Identity).then(|| y.clone());
                (y, saved)
            };
            let out = match ConvInputGradient
                .prepare::<NoCheckpointing>([node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let state = GradientState {
                        weight: w,
                        layout,
                        shape: *shape,
                        activation,
                        saved,
                    };
                    prep.finish(state, y)
                }
                OpsKind::UnTracked(prep) => prep.finish(y),
            };
            return Ok(Tensor::from_primitive::<Autodiff<Flex>>(out));
        }
    }
    if layout != WeightLayout::Onnx {
        return Err("internal: a prepared weight on a device without our kernels".into());
    }
    let options = ConvOptions::new(
        shape.stride,
        [shape.pads[0].0, shape.pads[1].0],
        shape.dilation,
        shape.groups,
    );
    let options = if shape.pads.iter().any(|(b, e)| b != e) {
        ConvOptions::new_with_padding(shape.stride, shape.pads, shape.dilation, shape.groups)
    } else {
        options
    };
    Ok(activation.apply_tensor(module::conv2d(x, weight, bias, options)))
}

/// A weight or bias on flex as a plain (untracked) tensor; `None` on other devices.
fn flex_constant<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    if let Ok(plain) = t.clone().try_into_primitive::<Flex>() {
        return Some(plain);
    }
    // A constant that met autodiff (a weight re-initialised from a tracked tensor): its value.
    t.clone()
        .try_into_primitive::<Autodiff<Flex>>()
        .ok()
        .map(|ad| ad.into_primitive())
}

fn f32_values(t: &FlexTensor) -> Result<std::borrow::Cow<'_, [f32]>, String> {
    if t.dtype() != DType::F32 {
        return Err(format!("expected float32 values, got {:?}", t.dtype()));
    }
    match t.as_slice::<f32>() {
        Some(values) => Ok(std::borrow::Cow::Borrowed(values)),
        None => {
            let contiguous = t.to_contiguous();
            Ok(std::borrow::Cow::Owned(
                contiguous
                    .as_slice::<f32>()
                    .ok_or("internal: a contiguous tensor without a slice")?
                    .to_vec(),
            ))
        }
    }
}

fn flex_tensor(values: Vec<f32>, dims: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, dims))
}

fn run_forward(
    shape: &Conv2dShape,
    x: &FlexTensor,
    (weight, layout, winograd): (&FlexTensor, WeightLayout, Option<&FlexTensor>),
    bias: Option<&FlexTensor>,
    activation: Activation,
) -> Result<FlexTensor, String> {
    let x = f32_values(x)?;
    let w = f32_values(weight)?;
    let b = bias.map(f32_values).transpose()?;
    shape.check(x.len(), w.len(), b.as_ref().map(|b| b.len()))?;
    let y = match winograd {
        Some(u) => {
            let u = f32_values(u)?;
            let mut y = vec![0.0; shape.output_len()];
            if !y.is_empty() {
                winograd::forward(shape, &x, &u, b.as_deref(), activation, &mut y);
            }
            y
        }
        None => conv::forward(shape, &x, &w, layout, b.as_deref(), activation),
    };
    Ok(flex_tensor(y, shape.output_dims()))
}

/// What the backward step needs: the weight, the geometry, and for a fused activation what
/// its derivative is read from ([`Activation::scale_gradient`]).
#[derive(Debug, Clone)]
struct GradientState {
    weight: FlexTensor,
    layout: WeightLayout,
    shape: Conv2dShape,
    activation: Activation,
    saved: Option<FlexTensor>,
}

/// The input gradient of our convolution, as one step of Burn's backward pass.
#[derive(Debug)]
struct ConvInputGradient;

impl Backward<Flex, 1> for ConvInputGradient {
    type State = GradientState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(parent) = parent else { return };
        let state = ops.state;
        // A failure here would be an engine bug (the forward pass checked every buffer); Burn's
        // backward has no error channel, so the gradient is then zero and the check below the
        // explainers (a map of zeros) shows it rather than a crash.
        let dx = (|| -> Result<Vec<f32>, String> {
            let mut dy = f32_values(&grad)?.into_owned();
            if let Some(saved) = &state.saved {
                state
                    .activation
                    .scale_gradient(&f32_values(saved)?, &mut dy);
            }
            let w = f32_values(&state.weight)?;
            Ok(conv::input_gradient(&state.shape, &dy, &w, state.layout))
        })()
        .unwrap_or_else(|_| vec![0.0; state.shape.input_len()]);
        grads.register::<Flex>(parent.id, flex_tensor(dx, state.shape.input_dims()));
    }
}

#[cfg(test)]
mod tests {
    use super::Activation;

    /// SiLU's backward step multiplies by its derivative at the saved input: checked against
    /// central differences of the forward function, out to where σ saturates.
    #[test]
    fn silu_gradient_is_the_derivative_of_silu() {
        let xs = [
            -30.0f32, -8.0, -2.5, -1.0, -0.1, 0.0, 0.3, 1.0, 4.0, 12.0, 40.0,
        ];
        let mut grad = vec![1.0f32; xs.len()];
        Activation::Silu.scale_gradient(&xs, &mut grad);
        for (&x, &g) in xs.iter().zip(&grad) {
            let h = 1e-3f64;
            let silu = |v: f64| v / (1.0 + (-v).exp());
            let expected = (silu(x as f64 + h) - silu(x as f64 - h)) / (2.0 * h);
            assert!(
                (g as f64 - expected).abs() < 1e-4,
                "x = {x}: {g} vs {expected}"
            );
        }
        // ReLU keeps the gradient where its output is positive.
        let mut grad = [2.0f32; 3];
        Activation::Relu.scale_gradient(&[0.0, 1.5, 0.0], &mut grad);
        assert_eq!(grad, [0.0, 2.0, 0.0]);
    }
}
