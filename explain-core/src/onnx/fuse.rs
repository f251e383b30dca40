//! Import-time fusion: a Conv followed by a BatchNormalization and/or a ReLU/Clip/SiLU becomes one
//! op that computes the chain's last tensor in one pass (BatchNorm folded into the weights, the
//! activation applied while the output tile is in cache), as onnxruntime does at load. A Conv
//! with no such follower becomes a one-node chain: what it gains is its weights prepared once.
//!
//! UNPIC's promise is that any tensor of the file can be tapped or differentiated, so the
//! original nodes stay: a run that taps or hooks a tensor the fused op skips (the convolution's
//! or the BatchNorm's output) runs that chain node by node and sees exactly the file's values
//! (`Graph::run_with_hook` decides per run). A fused run's values differ from the unfused ones
//! only by float rounding (the scale multiplies the weights instead of the sum).

use std::collections::HashMap;

use super::graph::{GraphNode, Slot};
use super::ops::{Op, conv::fuse_conv, elementwise::fusable_activation, norm::batch_norm_affine};
use super::value::{FloatValue, Value};
use crate::cpu::Activation;

/// One chain of nodes replaced by one op when none of its hidden tensors is watched.
pub(crate) struct Fusion {
    /// The chain's first node (the Conv); the fused op runs in its place.
    pub first: usize,
    /// The chain's other nodes, skipped when the fusion runs.
    pub skipped: Vec<usize>,
    /// Tensors the fused op does not produce (all but the chain's last output).
    pub hidden: Vec<Slot>,
    /// The fused op's inputs: the image the convolution reads.
    pub inputs: [Option<Slot>; 1],
    /// The chain's last tensor, which the fused op produces.
    pub output: Slot,
    pub op: Box<dyn Op>,
}

/// Every Conv → [BatchNormalization] → [Relu | Clip | SiLU] chain whose weights are constants
/// and whose intermediate tensors have no other reader and are not graph outputs. SiLU is the
/// pair `Sigmoid(x)`, `Mul(x, σ)` as exporters write it, x read by exactly those two nodes.
pub(crate) fn find(
    nodes: &[GraphNode],
    constants: &[(Slot, Value)],
    outputs: &[Slot],
) -> Vec<Fusion> {
    let constants: HashMap<Slot, &FloatValue> = constants
        .iter()
        .filter_map(|(slot, value)| Some((*slot, value.as_float()?)))
        .collect();
    let mut readers: HashMap<Slot, Vec<usize>> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for slot in node.inputs.iter().flatten() {
            readers.entry(*slot).or_default().push(i);
        }
    }
    // The one node reading `slot` as its first input and nothing else of it.
    let sole_reader = |slot: Slot| -> Option<usize> {
        if outputs.contains(&slot) {
            return None;
        }
        match readers.get(&slot).map(Vec::as_slice) {
            Some(&[reader]) if nodes[reader].inputs.first() == Some(&Some(slot)) => Some(reader),
            _ => None,
        }
    };
    // `Mul(x, Sigmoid(x))` (either operand order) reading `x`: (Sigmoid, Mul, σ, product).
    let silu_of = |x: Slot| -> Option<(usize, usize, Slot, Slot)> {
        if outputs.contains(&x) {
            return None;
        }
        let &[a, b] = readers.get(&x)?.as_slice() else {
            return None;
        };
        let (sig, mul) = if nodes[a].op_type == "Sigmoid" {
            (a, b)
        } else {
            (b, a)
        };
        let (sig_node, mul_node) = (&nodes[sig], &nodes[mul]);
        let (&[sigma], &[product]) = (sig_node.outputs.as_slice(), mul_node.outputs.as_slice())
        else {
            return None;
        };
        let reads_x_and_sigma = mul_node.inputs.as_slice() == [Some(x), Some(sigma)]
            || mul_node.inputs.as_slice() == [Some(sigma), Some(x)];
        let sigma_only_to_mul =
            !outputs.contains(&sigma) && readers.get(&sigma).map(Vec::as_slice) == Some(&[mul][..]);
        (sig_node.op_type == "Sigmoid"
            && mul_node.op_type == "Mul"
            && sig_node.inputs.as_slice() == [Some(x)]
            && reads_x_and_sigma
            && sigma_only_to_mul)
            .then_some((sig, mul, sigma, product))
    };
    let constant = |slot: Option<&Option<Slot>>| -> Option<Option<&FloatValue>> {
        match slot {
            None | Some(None) => Some(None),
            Some(Some(s)) => constants.get(s).copied().map(Some),
        }
    };
    let mut fusions = Vec::new();
    for (first, conv) in nodes.iter().enumerate() {
        let (Some(&Some(input)), &[mut output]) = (conv.inputs.first(), conv.outputs.as_slice())
        else {
            continue;
        };
        let Some(Some(weight)) = constant(conv.inputs.get(1)) else {
            continue;
        };
        let Some(bias) = constant(conv.inputs.get(2)) else {
            continue;
        };
        let (mut skipped, mut hidden) = (Vec::new(), Vec::new());
        let mut affine = None;
        if let Some(j) = sole_reader(output)
            && let [_, s, b, m, v] = nodes[j].inputs.as_slice()
            && let [Some(Some(s)), Some(Some(b)), Some(Some(m)), Some(Some(v))] =
                [s, b, m, v].map(|p| constant(Some(p)))
            && let Some(map) = batch_norm_affine(nodes[j].op.as_ref(), [s, b, m, v])
            && let [bn_output] = nodes[j].outputs.as_slice()
        {
            affine = Some(map);
            skipped.push(j);
            hidden.push(output);
            output = *bn_output;
        }
        let mut activation = Activation::Identity;
        if let Some(l) = sole_reader(output)
            && let Some(a) = fusable_activation(nodes[l].op.as_ref())
            && let [act_output] = nodes[l].outputs.as_slice()
        {
            activation = a;
            skipped.push(l);
            hidden.push(output);
            output = *act_output;
        } else if let Some((sig, mul, sigma, product)) = silu_of(output) {
            activation = Activation::Silu;
            skipped.extend([sig, mul]);
            hidden.extend([output, sigma]);
            output = product;
        }
        let Some(op) = fuse_conv(conv.op.as_ref(), weight, bias, affine, activation) else {
            continue;
        };
        fusions.push(Fusion {
            first,
            skipped,
            hidden,
            inputs: [Some(input)],
            output,
            op,
        });
    }
    fusions
}
