//! An executable graph: ONNX bytes -> nodes in topological order over numbered tensor slots.
//!
//! Import goes through `onnx-ir` (typed nodes, constants lifted, shapes inferred), then looks
//! every node up in the op [`Registry`]. Every node nobody can run is collected, so the user
//! learns all unsupported ops of a model in one message. Constant inputs (initializers and
//! Constant nodes) are uploaded to the device once, here.

use std::collections::HashMap;

use burn::tensor::Device;
use onnx_ir::{
    ArgType, Argument, Message, ModelProto, Node, NodeType, OnnxGraphBuilder, ValueInfoProto,
};

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

/// onnx-ir's graph plus the original ONNX names of its inputs and outputs.
///
/// onnx-ir renames every node and tensor (`conv2d1_out1`), but users know the names in their
/// file (what Netron shows, what the exporter wrote). To recover them the model is rewritten
/// before import so that every node output is also a graph output: onnx-ir keeps graph outputs
/// in order, so output `i` of the imported graph carries the original name `i`. A side effect is
/// that fusions which would hide a tensor are skipped, so every named tensor stays tappable.
struct Parsed {
    graph: onnx_ir::OnnxGraph,
    /// How many leading outputs of `graph` are the model's real outputs.
    real_outputs: usize,
    /// The original name of each output of `graph`, in order.
    output_names: Vec<String>,
    /// The original name of each runtime input of `graph`, in order.
    input_names: Vec<String>,
    /// The ONNX op type that produces each original tensor name.
    producers: HashMap<String, String>,
}

/// Makes every named node output a graph output (see [`Parsed`]); returns the new bytes, the
/// number of real outputs, and all output names in order.
fn expose_all_tensors(proto: &mut ModelProto) -> Result<(Vec<u8>, usize, Vec<String>)> {
    let Some(graph) = proto.graph.as_mut() else {
        return Err(Error::InvalidModel {
            reason: "it contains no graph".into(),
        });
    };
    let mut names: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let real_outputs = names.len();
    let mut seen: std::collections::HashSet<String> = names.iter().cloned().collect();
    let mut extra = Vec::new();
    for (i, node) in graph.node.iter().enumerate() {
        if node.op_type == "Constant" || fused_away(node, graph.node.get(i + 1)) {
            continue;
        }
        for output in node.output.iter().filter(|o| !o.is_empty()) {
            if seen.insert(output.clone()) {
                let mut info = ValueInfoProto::new();
                info.name = output.clone();
                extra.push(info);
                names.push(output.clone());
            }
        }
    }
    graph.output.extend(extra);
    let bytes = proto.write_to_bytes().map_err(|e| Error::InvalidModel {
        reason: format!("it could not be re-encoded ({e})"),
    })?;
    Ok((bytes, real_outputs, names))
}

/// Whether onnx-ir may fuse `node` into the node after it (MatMul + bias Add -> Linear), so its
/// output would vanish from the imported graph. Such outputs are not exposed: the positional
/// name mapping must only list tensors that survive import.
fn fused_away(node: &onnx_ir::NodeProto, next: Option<&onnx_ir::NodeProto>) -> bool {
    node.op_type == "MatMul"
        && next.is_some_and(|next| {
            next.op_type == "Add" && node.output.iter().any(|o| next.input.contains(o))
        })
}

/// Parses with onnx-ir, turning its errors (and a malformed protobuf) into `InvalidModel`.
fn parse(bytes: &[u8]) -> Result<Parsed> {
    if bytes.is_empty() {
        return Err(Error::InvalidModel {
            reason: "the file is empty".into(),
        });
    }
    // Check the protobuf first: a truncated or foreign file fails here with a clean error.
    let proto = ModelProto::parse_from_bytes(bytes).map_err(|e| Error::InvalidModel {
        reason: format!("it is not a valid ONNX protobuf ({e})"),
    })?;
    if proto.graph.as_ref().is_none_or(|g| g.node.is_empty()) {
        return Err(Error::InvalidModel {
            reason: "it contains no graph nodes (is it an ONNX model?)".into(),
        });
    }
    // Name every unsupported op with the node names the user knows (onnx-ir renames nodes).
    let unsupported = unsupported_in_proto(&proto, &Registry::standard());
    if !unsupported.is_empty() {
        return Err(Error::UnsupportedOps { nodes: unsupported });
    }
    let initializers: std::collections::HashSet<&str> = proto
        .graph
        .as_ref()
        .map(|g| g.initializer.iter().map(|t| t.name.as_str()).collect())
        .unwrap_or_default();
    let input_names: Vec<String> = proto
        .graph
        .as_ref()
        .map(|g| {
            g.input
                .iter()
                .filter(|i| !initializers.contains(i.name.as_str()))
                .map(|i| i.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let producers = proto
        .graph
        .as_ref()
        .map(|g| {
            g.node
                .iter()
                .flat_map(|n| n.output.iter().map(|o| (o.clone(), n.op_type.clone())))
                .collect()
        })
        .unwrap_or_default();
    let mut proto = proto.clone();
    let (exposed, real_outputs, output_names) = expose_all_tensors(&mut proto)?;
    // Without onnx-ir's simplifier every tensor of the file stays a tensor of the graph (no
    // attention fusion, no CSE), so each one can be tapped and differentiated.
    let builder = OnnxGraphBuilder::new().simplify(false);
    let result = guard(|| builder.parse_bytes(&exposed));
    match result {
        Some(Ok(graph)) => {
            let mut output_names = output_names;
            if graph.outputs.len() != output_names.len() {
                // Some exposed tensor vanished in import, so positions no longer line up: keep
                // the real outputs' names and the importer's names for the rest.
                output_names.truncate(real_outputs);
            }
            Ok(Parsed {
                graph,
                real_outputs,
                output_names,
                input_names,
                producers,
            })
        }
        Some(Err(onnx_ir::Error::Processing(e))) | Some(Err(onnx_ir::Error::TypeInference(e))) => {
            Err(Error::InvalidModel {
                reason: format!("the importer rejected it: {e}"),
            })
        }
        Some(Err(e)) => Err(
            unsupported_from_parse_error(&e).unwrap_or(Error::InvalidModel {
                reason: e.to_string(),
            }),
        ),
        None => Err(Error::InvalidModel {
            reason: "the importer failed on an inconsistent graph".into(),
        }),
    }
}

/// The nodes of the original model whose op the registry cannot run, with their original names.
fn unsupported_in_proto(proto: &ModelProto, registry: &Registry) -> Vec<UnsupportedNode> {
    let supported = registry.onnx_op_types();
    let Some(graph) = proto.graph.as_ref() else {
        return Vec::new();
    };
    graph
        .node
        .iter()
        .enumerate()
        .filter_map(|(i, node)| {
            let domain = onnx_ir::normalize_domain(&node.domain);
            let standard = domain.is_empty() || domain == "ai.onnx";
            if standard && supported.contains(node.op_type.as_str()) {
                return None;
            }
            Some(UnsupportedNode {
                node: if node.name.is_empty() {
                    format!("#{i}")
                } else {
                    node.name.clone()
                },
                op: if standard {
                    node.op_type.clone()
                } else {
                    format!("{domain}::{}", node.op_type)
                },
            })
        })
        .collect()
}

/// onnx-ir reports standard-domain ops it has never heard of as a parse error; surface those as
/// unsupported ops rather than a broken file.
fn unsupported_from_parse_error(e: &onnx_ir::Error) -> Option<Error> {
    let text = e.to_string();
    text.contains("nsupported").then(|| Error::UnsupportedOps {
        nodes: vec![UnsupportedNode {
            node: "(import)".into(),
            op: text,
        }],
    })
}

/// Runs `f`, converting a panic inside a dependency into `None` where unwinding exists.
#[cfg(not(target_family = "wasm"))]
fn guard<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// In wasm a panic aborts the worker; the app restarts it and reports the failure.
#[cfg(target_family = "wasm")]
fn guard<T>(f: impl FnOnce() -> T) -> Option<T> {
    Some(f())
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
