//! The demo network: three convolution blocks (conv → batch norm → ReLU), two max-pools and a
//! two-layer classifier head. Small enough to train on two CPU cores in minutes, deep enough that
//! Grad-CAM, activations and deep dream have layers worth looking at.

use burn::{
    module::Module,
    nn::{
        BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
        pool::{MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor, activation::relu},
};

/// Side of the square grey input images.
pub const IMAGE_SIZE: usize = 28;
/// Output channels of the three convolution blocks.
pub const CHANNELS: [usize; 3] = [32, 64, 64];
/// Width of the hidden fully connected layer.
pub const HIDDEN: usize = 128;
/// Side of the feature maps entering the head (two 2× max-pools).
pub const HEAD_SIZE: usize = IMAGE_SIZE / 4;

/// Convolution 3×3 (same padding, no bias: batch norm adds one) → batch norm → ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub conv: Conv2d,
    pub norm: BatchNorm,
}

impl ConvBlock {
    fn new(channels_in: usize, channels_out: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([channels_in, channels_out], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(channels_out).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.norm.forward(self.conv.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct FashionCnn {
    pub block1: ConvBlock,
    pub block2: ConvBlock,
    pub block3: ConvBlock,
    pub pool: MaxPool2d,
    pub dropout: Dropout,
    pub fc1: Linear,
    pub fc2: Linear,
}

impl FashionCnn {
    pub fn new(classes: usize, device: &Device) -> Self {
        let [c1, c2, c3] = CHANNELS;
        Self {
            block1: ConvBlock::new(1, c1, device),
            block2: ConvBlock::new(c1, c2, device),
            block3: ConvBlock::new(c2, c3, device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            dropout: DropoutConfig::new(0.3).init(),
            fc1: LinearConfig::new(c3 * HEAD_SIZE * HEAD_SIZE, HIDDEN).init(device),
            fc2: LinearConfig::new(HIDDEN, classes).init(device),
        }
    }

    /// Logits `[N, classes]` of images `[N, 1, 28, 28]` scaled to [0, 1].
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(self.block1.forward(images));
        let x = self.pool.forward(self.block2.forward(x));
        let x = self.block3.forward(x);
        let x: Tensor<2> = x.flatten(1, 3);
        let x = relu(self.fc1.forward(self.dropout.forward(x)));
        self.fc2.forward(self.dropout.forward(x))
    }
}
