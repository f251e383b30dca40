//! The ONNX adapter: bytes -> onnx-ir's typed graph, with every tensor of the file kept
//! tappable under the name the user knows. Nothing here runs anything: `graph.rs` turns the
//! result into executable nodes. Errors are typed (onnx-ir's error variants are matched, never
//! its text), so a user is told "unsupported op" or "broken file" for the right reason.

use std::collections::HashMap;

use onnx_ir::{Message, ModelProto, OnnxGraphBuilder, ValueInfoProto};

use super::ops::Registry;
use crate::error::{Error, Result, UnsupportedNode};

/// onnx-ir's graph plus the original ONNX names of its inputs and outputs.
///
/// onnx-ir renames every node and tensor (`conv2d1_out1`), but users know the names in their
/// file (what Netron shows, what the exporter wrote). To recover them the model is rewritten
/// before import so that every node output is also a graph output: onnx-ir keeps graph outputs
/// in order, so output `i` of the imported graph carries the original name `i`. A side effect is
/// that fusions which would hide a tensor are skipped, so every named tensor stays tappable.
pub(super) struct Parsed {
    pub graph: onnx_ir::OnnxGraph,
    /// How many leading outputs of `graph` are the model's real outputs.
    pub real_outputs: usize,
    /// The original name of each output of `graph`, in order.
    pub output_names: Vec<String>,
    /// The original name of each runtime input of `graph`, in order.
    pub input_names: Vec<String>,
    /// The ONNX op type that produces each original tensor name.
    pub producers: HashMap<String, String>,
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
pub(super) fn parse(bytes: &[u8]) -> Result<Parsed> {
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
        Some(Err(e)) => Err(import_error(e)),
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

/// onnx-ir's error as ours: ops it cannot type are unsupported ops (the registry's check above
/// names most of them first), everything else is a model the importer rejected.
fn import_error(e: onnx_ir::Error) -> Error {
    use onnx_ir::{Error as Ir, ProcessError};
    match e {
        Ir::Processing(ProcessError::UnsupportedOps(ops))
        | Ir::TypeInference(ProcessError::UnsupportedOps(ops)) => Error::UnsupportedOps {
            nodes: ops
                .into_iter()
                .map(|op| UnsupportedNode {
                    node: "(import)".into(),
                    op,
                })
                .collect(),
        },
        Ir::MissingCustomOpHooks(hooks) => Error::UnsupportedOps {
            nodes: hooks
                .iter()
                .map(|hook| UnsupportedNode {
                    node: "(import)".into(),
                    op: hook.to_string(),
                })
                .collect(),
        },
        Ir::Processing(e) | Ir::TypeInference(e) => Error::InvalidModel {
            reason: format!("the importer rejected it: {e}"),
        },
        other => Error::InvalidModel {
            reason: other.to_string(),
        },
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use onnx_ir::ProcessError;

    #[test]
    fn importer_errors_are_told_apart_by_variant_not_text() {
        let unsupported = import_error(onnx_ir::Error::TypeInference(
            ProcessError::UnsupportedOps(vec!["Foo".into(), "Bar".into()]),
        ));
        let Error::UnsupportedOps { nodes } = unsupported else {
            panic!("expected unsupported ops, got {unsupported:?}");
        };
        let ops: Vec<&str> = nodes.iter().map(|n| n.op.as_str()).collect();
        assert_eq!(ops, ["Foo", "Bar"]);
        // A message that merely mentions "unsupported" is still a rejected model.
        let rejected = import_error(onnx_ir::Error::Processing(ProcessError::Custom(
            "unsupported padding mode".into(),
        )));
        assert!(
            matches!(&rejected, Error::InvalidModel { reason } if reason.contains("rejected")),
            "{rejected:?}"
        );
        let opset = import_error(onnx_ir::Error::MissingOpsetVersion);
        assert!(matches!(opset, Error::InvalidModel { .. }), "{opset:?}");
    }
}
