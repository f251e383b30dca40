//! A copy of a graph with some layers' learned weights scrambled: the model-parameter
//! randomisation of Adebayo et al., "Sanity Checks for Saliency Maps" (NeurIPS 2018). A map
//! that stays the same when the weights it claims to explain are noise explains nothing.
//!
//! A parameterised layer is a convolution or a matrix product whose weight is a constant of the
//! file (after constant folding, so a weight the exporter transposed counts too); its bias goes
//! with it. Normalisation layers keep their statistics, as in the paper's cascades. Each scrambled
//! constant is drawn from N(0, σ²) with σ the root mean square of the original values (the scale
//! of the weights, so activations stay in range), from a seeded generator that gives the same
//! numbers on every platform: layer `i` is scrambled alike whether alone or in a cascade.

use std::collections::HashMap;

use burn::tensor::Tensor;

use super::graph::{Graph, Slot};
use super::value::{FloatValue, MAX_RANK, Value};
use crate::error::Result;

/// One layer with learned weights.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterLayer {
    /// The name of the layer's output tensor, as the layer table shows it.
    pub name: String,
    /// The ONNX op type ("Conv", "Gemm", "MatMul").
    pub op: String,
    /// The constants it reads: its weight and bias.
    pub(crate) constants: Vec<Slot>,
    /// How many learned values it holds.
    pub parameters: usize,
}

impl Graph {
    /// The layers with learned weights, from the input to the output (execution order).
    pub fn parameter_layers(&self) -> Vec<ParameterLayer> {
        let floats: HashMap<Slot, &FloatValue> = self
            .constants
            .iter()
            .filter_map(|(slot, value)| Some((*slot, value.as_float()?)))
            .collect();
        self.nodes
            .iter()
            .filter(|node| {
                let op = node.op_type.as_str();
                op.starts_with("Conv") || matches!(op, "Gemm" | "Linear" | "MatMul")
            })
            .filter_map(|node| {
                let constants: Vec<Slot> = node
                    .inputs
                    .iter()
                    .flatten()
                    .copied()
                    .filter(|slot| floats.contains_key(slot))
                    .collect();
                // A layer is parameterised by a weight matrix or kernel, not a scalar.
                if !constants.iter().any(|s| floats[s].rank() >= 2) {
                    return None;
                }
                let parameters = constants
                    .iter()
                    .map(|s| floats[s].dims().iter().product::<usize>())
                    .sum();
                let output = node.outputs.first().map(|&s| &self.tensors[s]);
                Some(ParameterLayer {
                    name: output.map_or_else(|| node.name.clone(), |t| t.name.clone()),
                    op: output.map_or_else(|| node.op_type.clone(), |t| t.op.clone()),
                    constants,
                    parameters,
                })
            })
            .collect()
    }

    /// A copy of the graph whose `layers` (indices into [`Graph::parameter_layers`]) have
    /// scrambled weights (see the module's doc).
    pub fn with_randomised_layers(&self, layers: &[usize], seed: u64) -> Result<Graph> {
        let mut replaced = HashMap::new();
        for &index in layers {
            replaced.extend(self.scrambled_layer(index, seed)?);
        }
        Ok(self.with_constants(&replaced))
    }

    /// New values for the constants of parameter layer `index`, drawn from `seed`'s stream for
    /// that layer (a cascade scrambles each layer once and reuses it for every later step).
    pub fn scrambled_layer(&self, index: usize, seed: u64) -> Result<Vec<(Slot, Value)>> {
        let all = self.parameter_layers();
        let Some(layer) = all.get(index) else {
            return Err(crate::error::Error::Settings(format!(
                "the model has {} layers with weights; there is no layer {index}",
                all.len()
            )));
        };
        let mut out = Vec::new();
        for (k, &slot) in layer.constants.iter().enumerate() {
            if let Some(original) = self.constant(slot).and_then(Value::as_float) {
                let stream = layer_seed(seed, index, k);
                out.push((slot, Value::Float(scrambled(original, stream)?)));
            }
        }
        Ok(out)
    }

    /// A copy of the graph whose constants in `replaced` hold those values. The ops are
    /// shared; only the fused convolutions, which hold prepared weights, are prepared again.
    pub fn with_constants(&self, replaced: &HashMap<Slot, Value>) -> Graph {
        let constants: Vec<(Slot, Value)> = self
            .constants
            .iter()
            .map(|(slot, value)| (*slot, replaced.get(slot).unwrap_or(value).clone()))
            .collect();
        let fusions = super::fuse::find(&self.nodes, &constants, &self.outputs);
        Graph {
            nodes: self.nodes.clone(),
            tensors: self.tensors.clone(),
            constants,
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            by_name: self.by_name.clone(),
            last_use: self.last_use.clone(),
            fusions,
            device: self.device.clone(),
        }
    }

    fn constant(&self, slot: Slot) -> Option<&Value> {
        self.constants
            .iter()
            .find_map(|(s, v)| (*s == slot).then_some(v))
    }
}

/// N(0, rms(original)²) noise of the original's shape. The scale is computed on the device, so
/// nothing is read back (the browser's GPU cannot read synchronously).
fn scrambled(original: &FloatValue, seed: u64) -> Result<FloatValue> {
    let dims = original.dims();
    let n: usize = dims.iter().product();
    let noise = FloatValue::from_vec(normal_noise(n, seed), &dims, &original.device())?;
    let values = original.padded().clone();
    let rms: Tensor<MAX_RANK> = (values.clone() * values)
        .mean()
        .sqrt()
        .reshape([1; MAX_RANK]);
    Ok(noise.map(|t| t * rms))
}

/// The seed of constant `k` of layer `index`: independent streams per layer and constant.
fn layer_seed(seed: u64, index: usize, k: usize) -> u64 {
    splitmix(seed ^ splitmix((index as u64) << 8 | k as u64))
}

/// One step of SplitMix64 (Steele et al. 2014): a well-mixed 64-bit hash, the same everywhere.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` standard normal samples (Box-Muller on a SplitMix64 stream). Written out rather than
/// taken from `rand`, whose generators may change their streams between versions: a sanity
/// check must give the same numbers for the same seed in every build.
pub(crate) fn normal_noise(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut uniform = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        // 53 random bits in (0, 1].
        ((splitmix(state) >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    };
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (u, v) = (uniform(), uniform());
        let radius = (-2.0 * u.ln()).sqrt();
        let angle = std::f64::consts::TAU * v;
        out.push((radius * angle.cos()) as f32);
        if out.len() < n {
            out.push((radius * angle.sin()) as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_standard_normal_and_reproducible() {
        let a = normal_noise(100_001, 7);
        assert_eq!(a, normal_noise(100_001, 7));
        assert_ne!(a[..10], normal_noise(10, 8)[..]);
        let n = a.len() as f64;
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        assert!(a.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn layer_streams_differ() {
        assert_ne!(layer_seed(1, 0, 0), layer_seed(1, 1, 0));
        assert_ne!(layer_seed(1, 0, 0), layer_seed(1, 0, 1));
        assert_ne!(layer_seed(1, 0, 0), layer_seed(2, 0, 0));
    }
}
