//! An executable graph: ONNX bytes -> nodes in topological order over numbered tensor slots.
//!
//! `import.rs` parses the bytes with `onnx-ir` (typed nodes, constants lifted, shapes inferred,
//! every tensor kept under its original name, unsupported ops all named at once); this file
//! looks every node up in the op [`Registry`], folds constants and uploads them (initializers
//! and Constant nodes) to the device once.

use std::collections::HashMap;

use burn::tensor::Device;
use onnx_ir::{ArgType, Argument, Node, NodeType};

use super::import::{Parsed, parse};
use super::ops::{Op, Registry};
use super::value::{MAX_RANK, Value};
use crate::error::{Error, Result, UnsupportedNode};

/// Index of a tensor in the graph.
pub type Slot = usize;

/// What the graph knows about one named tensor before running.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The ONNX tensor name (empty for anonymous constants).
    pub name: String,
    /// The op type of the node that produces it ("Input" or "Constant" otherwise).
    pub op: String,
    /// Static shape; `None` entries are dynamic (e.g. the batch).
    pub shape: Option<Vec<Option<usize>>>,
}

#[derive(Clone)]
pub(crate) struct GraphNode {
    pub name: String,
    pub op_type: String,
    /// Shared, so a copy of the graph with other weights (`onnx/randomise.rs`) costs no rebuild.
    pub op: std::sync::Arc<dyn Op>,
    pub inputs: Vec<Option<Slot>>,
    pub outputs: Vec<Slot>,
    /// How the node's 4-D outputs lay out channels (for the layer table).
    pub layout: LayoutRule,
}

/// How a node's output layout follows from its inputs: ONNX spatial ops are always
/// channels-first, a Transpose permutes, everything else keeps its first input's layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LayoutRule {
    ChannelsFirst,
    Permute(Vec<i64>),
    Inherit,
}

impl LayoutRule {
    fn of(node: &Node) -> Self {
        match node {
            Node::Conv2d(_)
            | Node::MaxPool2d(_)
            | Node::AveragePool2d(_)
            | Node::GlobalAveragePool(_)
            | Node::GlobalMaxPool(_)
            | Node::BatchNormalization(_)
            | Node::ConvTranspose2d(_) => LayoutRule::ChannelsFirst,
            Node::Transpose(t) => LayoutRule::Permute(t.config.perm.clone()),
            _ => LayoutRule::Inherit,
        }
    }
}

/// A model ready to run on one device.
pub struct Graph {
    pub(crate) nodes: Vec<GraphNode>,
    pub(crate) tensors: Vec<TensorInfo>,
    pub(crate) constants: Vec<(Slot, Value)>,
    pub(crate) inputs: Vec<Slot>,
    pub(crate) outputs: Vec<Slot>,
    pub(crate) by_name: HashMap<String, Slot>,
    /// For each slot, the index of the last node that reads it (values are freed after it).
    pub(crate) last_use: Vec<Option<usize>>,
    /// Chains that run as one op when none of their hidden tensors is watched.
    pub(crate) fusions: Vec<super::fuse::Fusion>,
    pub(crate) device: Device,
}

impl Graph {
    /// Parses ONNX bytes and prepares every node to run on `device`.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        let parsed = parse(bytes)?;
        Builder::new(device).build(parsed)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The runtime inputs (without initializers).
    pub fn input_infos(&self) -> Vec<&TensorInfo> {
        self.inputs.iter().map(|&s| &self.tensors[s]).collect()
    }

    /// The slots of the runtime inputs, in order.
    pub fn input_slots(&self) -> &[Slot] {
        &self.inputs
    }

    pub fn output_infos(&self) -> Vec<&TensorInfo> {
        self.outputs.iter().map(|&s| &self.tensors[s]).collect()
    }

    /// Every tensor produced by a node, in execution order.
    pub fn node_outputs(&self) -> impl Iterator<Item = &TensorInfo> {
        self.nodes
            .iter()
            .flat_map(|n| n.outputs.iter().map(|&s| &self.tensors[s]))
    }

    /// What the graph knows about the tensor in `slot`.
    pub fn tensor_info(&self, slot: Slot) -> Option<&TensorInfo> {
        self.tensors.get(slot)
    }

    pub fn slot(&self, name: &str) -> Result<Slot> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| Error::UnknownTensor(name.to_string()))
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

struct Builder<'d> {
    device: &'d Device,
    registry: Registry,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, Slot>,
    constants: Vec<(Slot, Value)>,
}

impl<'d> Builder<'d> {
    fn new(device: &'d Device) -> Self {
        Self {
            device,
            registry: Registry::standard(),
            tensors: Vec::new(),
            by_name: HashMap::new(),
            constants: Vec::new(),
        }
    }

    fn new_slot(&mut self, arg: &Argument, op: &str) -> Slot {
        let slot = self.tensors.len();
        self.tensors.push(TensorInfo {
            name: arg.name.clone(),
            op: op.to_string(),
            shape: static_shape(&arg.ty),
        });
        if !arg.name.is_empty() {
            self.by_name.insert(arg.name.clone(), slot);
        }
        slot
    }

    /// The slot an input argument reads: a constant uploaded now, or a produced tensor.
    fn input_slot(&mut self, arg: &Argument, node: &Node) -> Result<Option<Slot>> {
        if arg.is_optional() {
            return Ok(None);
        }
        if let Some(&slot) = self.by_name.get(&arg.name) {
            return Ok(Some(slot));
        }
        if let Some(data) = arg.value() {
            let value = Value::from_data(data, self.device).map_err(|e| {
                Error::node(node.name(), &op_name(node), format!("constant input: {e}"))
            })?;
            let slot = self.new_slot(arg, "Constant");
            self.constants.push((slot, value));
            return Ok(Some(slot));
        }
        Err(Error::node(
            node.name(),
            &op_name(node),
            format!("input '{}' is produced by no earlier node", arg.name),
        ))
    }

    fn build(mut self, parsed: Parsed) -> Result<Graph> {
        let Parsed {
            graph: parsed,
            real_outputs,
            output_names,
            input_names,
            producers,
        } = parsed;
        let mut inputs = Vec::new();
        for arg in &parsed.inputs {
            inputs.push(self.new_slot(arg, "Input"));
        }
        let mut nodes = Vec::new();
        let mut unsupported = Vec::new();
        for node in &parsed.nodes {
            let op_type = op_name(node);
            // Constant nodes are folded into constants here rather than run every time.
            if matches!(node.node_type(), NodeType::Constant) {
                for out in node.outputs() {
                    if let Some(data) = out.value() {
                        let value = Value::from_data(data, self.device)?;
                        let slot = self.new_slot(out, "Constant");
                        self.constants.push((slot, value));
                    }
                }
                continue;
            }
            let op = match self.registry.get(&node.node_type()) {
                None => {
                    unsupported.push(UnsupportedNode {
                        node: node.name().to_string(),
                        op: op_type.clone(),
                    });
                    None
                }
                Some(build) => Some(
                    build(node, self.device).map_err(|r| Error::node(node.name(), &op_type, r))?,
                ),
            };
            let input_slots = node
                .inputs()
                .iter()
                .map(|a| self.input_slot(a, node))
                .collect::<Result<Vec<_>>>()?;
            let output_slots = node
                .outputs()
                .iter()
                .map(|a| self.new_slot(a, &op_type))
                .collect();
            if let Some(op) = op {
                nodes.push(GraphNode {
                    name: node.name().to_string(),
                    layout: LayoutRule::of(node),
                    op_type,
                    op: op.into(),
                    inputs: input_slots,
                    outputs: output_slots,
                });
            }
        }
        if !unsupported.is_empty() {
            return Err(Error::UnsupportedOps { nodes: unsupported });
        }
        let nodes = self.fold_constants(nodes);
        if let Some(too_big) = self
            .tensors
            .iter()
            .find(|t| t.shape.as_ref().is_some_and(|s| s.len() > MAX_RANK))
        {
            return Err(Error::NotAClassifier(format!(
                "tensor '{}' has rank {} (UNPIC supports up to {MAX_RANK})",
                too_big.name,
                too_big.shape.as_ref().map_or(0, Vec::len)
            )));
        }
        let outputs = parsed
            .outputs
            .iter()
            .take(real_outputs)
            .map(|a| {
                self.by_name
                    .get(&a.name)
                    .copied()
                    .ok_or_else(|| Error::InvalidModel {
                        reason: format!("graph output '{}' is produced by no node", a.name),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        self.restore_names(
            &inputs,
            &input_names,
            &parsed.outputs,
            &output_names,
            &producers,
        );
        let mut last_use = vec![None; self.tensors.len()];
        for (i, node) in nodes.iter().enumerate() {
            for slot in node.inputs.iter().flatten() {
                last_use[*slot] = Some(i);
            }
        }
        let fusions = super::fuse::find(&nodes, &self.constants, &outputs);
        Ok(Graph {
            nodes,
            fusions,
            tensors: self.tensors,
            constants: self.constants,
            inputs,
            outputs,
            by_name: self.by_name,
            last_use,
            device: self.device.clone(),
        })
    }
}

impl Builder<'_> {
    /// Runs, once and now, every node whose inputs are all constants (weights made by
    /// ConstantOfShape, shape arithmetic on static shapes, transposed constant weights) and
    /// keeps its outputs as constants, so a forward pass never redoes that work. A node that
    /// fails here is kept, to report its error with context when the model runs.
    fn fold_constants(&mut self, nodes: Vec<GraphNode>) -> Vec<GraphNode> {
        let mut known: HashMap<Slot, Value> = self.constants.iter().cloned().collect();
        let mut kept = Vec::with_capacity(nodes.len());
        for node in nodes {
            let all_known = node.inputs.iter().flatten().all(|s| known.contains_key(s));
            if !all_known {
                kept.push(node);
                continue;
            }
            let args: Vec<Option<Value>> = node
                .inputs
                .iter()
                .map(|s| s.and_then(|s| known.get(&s).cloned()))
                .collect();
            match node.op.run(&args) {
                Ok(outputs) if outputs.len() == node.outputs.len() => {
                    for (&slot, value) in node.outputs.iter().zip(outputs) {
                        known.insert(slot, value.clone());
                        self.constants.push((slot, value));
                    }
                }
                _ => kept.push(node),
            }
        }
        kept
    }

    /// Gives each tensor the name it has in the user's file (see [`Parsed`]) and makes it
    /// findable by that name. Tensors that are aliases of one another (an Identity's output)
    /// are findable by every name and shown under the first.
    fn restore_names(
        &mut self,
        inputs: &[Slot],
        input_names: &[String],
        outputs: &[Argument],
        output_names: &[String],
        producers: &HashMap<String, String>,
    ) {
        let mut renamed = vec![false; self.tensors.len()];
        let pairs = inputs.iter().copied().zip(input_names).chain(
            outputs
                .iter()
                .zip(output_names)
                .filter_map(|(arg, original)| {
                    let slot = *self.by_name.get(&arg.name)?;
                    Some((slot, original))
                }),
        );
        let pairs: Vec<(Slot, &String)> = pairs.collect();
        for (slot, original) in pairs {
            if self.tensors[slot].op == "Constant" {
                continue;
            }
            if !renamed[slot] {
                renamed[slot] = true;
                self.tensors[slot].name = original.clone();
                if let Some(op) = producers.get(original) {
                    self.tensors[slot].op = op.clone();
                }
            }
            self.by_name.insert(original.clone(), slot);
        }
    }
}

/// The ONNX op type of a node (custom-domain ops keep their own name).
fn op_name(node: &Node) -> String {
    match node {
        Node::Custom(c) => format!("{}::{}", c.domain, c.op_type),
        other => other.node_type().to_string(),
    }
}

fn static_shape(ty: &ArgType) -> Option<Vec<Option<usize>>> {
    match ty {
        // Some exporters (Paddle, tf2onnx) write a dynamic axis as -1, which arrives here as
        // a huge unsigned size: it is dynamic.
        ArgType::Tensor(t) => t
            .static_shape
            .clone()
            .map(|dims| {
                dims.into_iter()
                    .map(|d| d.filter(|&d| i64::try_from(d).is_ok_and(|d| d < i64::from(i32::MAX))))
                    .collect()
            })
            .or_else(|| Some(vec![None; t.rank])),
        ArgType::ScalarTensor(_) | ArgType::ScalarNative(_) => Some(vec![]),
        ArgType::Shape(rank) => Some(vec![Some(*rank)]),
    }
}
