//! Running a [`Graph`]: feed inputs, evaluate nodes in order, return outputs and any tapped
//! tensors. Values are dropped right after their last reader, so memory stays at the live set.
//!
//! A hook sees every value as it is produced and may replace it: that is how a gradient at a
//! layer works (replace the layer's output by a detached leaf that requires grad, run on,
//! backward) without a second executor.

use super::layers::format_shape;
use std::collections::HashMap;

use super::fuse::Fusion;
use super::graph::{Graph, Slot};
use super::ops::Op;
use super::value::{FloatValue, Value};
use crate::error::{Error, Result};

/// The slots whose values a run's hook must see as the file computes them.
#[derive(Debug, Clone, Copy)]
pub enum Watched<'a> {
    /// Every slot (no fused chain runs).
    All,
    Slots(&'a [Slot]),
}

impl Watched<'_> {
    fn contains(&self, slot: Slot) -> bool {
        match self {
            Watched::All => true,
            Watched::Slots(slots) => slots.contains(&slot),
        }
    }
}

/// How much of the graph a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The graph outputs and the taps: nodes that feed neither are skipped.
    Outputs,
    /// Only the taps: the run stops after the last node they depend on (activations, features,
    /// deep dream never pay for the head).
    TapsOnly,
    /// Every node (shape discovery).
    Everything,
}

/// One op of a run's [`Graph::plan`]: a node, or a fused chain starting at it.
pub(crate) struct Step<'g> {
    pub node: usize,
    pub op: &'g dyn Op,
    pub inputs: &'g [Option<Slot>],
    pub outputs: &'g [Slot],
}

/// The result of one run.
pub struct RunOutput {
    /// Graph outputs, in graph order (empty for a [`Needs::TapsOnly`] run).
    pub outputs: Vec<Value>,
    /// Tapped tensors by slot.
    pub taps: HashMap<Slot, Value>,
}

impl RunOutput {
    /// The first graph output as a float tensor (a classifier's scores).
    pub fn first_float(&self) -> Result<FloatValue> {
        self.outputs
            .first()
            .and_then(Value::as_float)
            .cloned()
            .ok_or_else(|| {
                Error::NotAClassifier("the model's first output is not a float tensor".into())
            })
    }
}

impl Graph {
    /// Runs with one value per runtime input; returns outputs and the values of `taps`.
    pub fn run(&self, inputs: Vec<Value>, taps: &[Slot]) -> Result<RunOutput> {
        self.run_with_hook(
            inputs,
            taps,
            Needs::Outputs,
            Watched::Slots(&[]),
            &mut |_, v| v,
        )
    }

    /// The values of `taps` alone, computing only the nodes they depend on.
    pub fn run_taps(&self, inputs: Vec<Value>, taps: &[Slot]) -> Result<HashMap<Slot, Value>> {
        let run = self.run_with_hook(
            inputs,
            taps,
            Needs::TapsOnly,
            Watched::Slots(&[]),
            &mut |_, v| v,
        )?;
        Ok(run.taps)
    }

    /// The ops a run computes, in order: the nodes `needs` asks for, with each fused chain
    /// whose hidden tensors nobody taps or watches as one step.
    pub(crate) fn plan(&self, taps: &[Slot], needs: Needs, watched: Watched<'_>) -> Vec<Step<'_>> {
        let needed = match needs {
            Needs::Everything => vec![true; self.nodes.len()],
            Needs::Outputs => self.needed_nodes(taps.iter().chain(&self.outputs).copied()),
            Needs::TapsOnly => self.needed_nodes(taps.iter().copied()),
        };
        let mut fused_at: Vec<Option<&Fusion>> = vec![None; self.nodes.len()];
        let mut skipped = vec![false; self.nodes.len()];
        for fusion in &self.fusions {
            let seen = |slot: &Slot| taps.contains(slot) || watched.contains(*slot);
            if !fusion.hidden.iter().any(seen) {
                fused_at[fusion.first] = Some(fusion);
                fusion.skipped.iter().for_each(|&i| skipped[i] = true);
            }
        }
        self.nodes
            .iter()
            .enumerate()
            .filter(|&(index, _)| needed[index] && !skipped[index])
            .map(|(index, node)| match fused_at[index] {
                Some(f) => Step {
                    node: index,
                    op: f.op.as_ref(),
                    inputs: std::slice::from_ref(&f.inputs[0]),
                    outputs: std::slice::from_ref(&f.output),
                },
                None => Step {
                    node: index,
                    op: node.op.as_ref(),
                    inputs: &node.inputs,
                    outputs: &node.outputs,
                },
            })
            .collect()
    }

    /// Which nodes a run must compute: those `targets` depend on (nodes are in topological
    /// order, so one backward sweep finds them).
    fn needed_nodes(&self, targets: impl Iterator<Item = Slot>) -> Vec<bool> {
        let mut wanted = vec![false; self.tensors.len()];
        targets.for_each(|s| wanted[s] = true);
        let mut needed = vec![false; self.nodes.len()];
        for (index, node) in self.nodes.iter().enumerate().rev() {
            if node.outputs.iter().any(|&s| wanted[s]) {
                needed[index] = true;
                node.inputs.iter().flatten().for_each(|&s| wanted[s] = true);
            }
        }
        needed
    }

    /// Like [`Graph::run`], passing every produced value through `hook` first. The hook is
    /// promised the values of the `watched` slots; the others may be skipped by a fused chain
    /// (see `fuse.rs`), which then hands the hook only its last tensor.
    pub fn run_with_hook(
        &self,
        inputs: Vec<Value>,
        taps: &[Slot],
        needs: Needs,
        watched: Watched<'_>,
        hook: &mut dyn FnMut(Slot, Value) -> Value,
    ) -> Result<RunOutput> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::NotAClassifier(format!(
                "the model has {} inputs but {} were given",
                self.inputs.len(),
                inputs.len()
            )));
        }
        let mut values: Vec<Option<Value>> = vec![None; self.tensors.len()];
        for (slot, value) in &self.constants {
            values[*slot] = Some(value.clone());
        }
        for (&slot, value) in self.inputs.iter().zip(inputs) {
            self.check_input(slot, &value)?;
            values[slot] = Some(hook(slot, value));
        }
        let wants_outputs = needs != Needs::TapsOnly;
        let keep =
            |slot: Slot| taps.contains(&slot) || (wants_outputs && self.outputs.contains(&slot));
        let mut tapped = HashMap::new();
        for &slot in taps {
            if let Some(v) = &values[slot] {
                tapped.insert(slot, v.clone());
            }
        }
        for step in self.plan(taps, needs, watched) {
            let (index, node) = (step.node, &self.nodes[step.node]);
            let (op, input_slots, output_slots) = (step.op, step.inputs, step.outputs);
            let args: Vec<Option<Value>> = input_slots
                .iter()
                .map(|s| s.and_then(|s| values[s].clone()))
                .collect();
            let produced = op
                .run(&args)
                .map_err(|reason| Error::node(&node.name, &node.op_type, reason))?;
            for (&slot, value) in output_slots.iter().zip(produced) {
                let value = hook(slot, value);
                if taps.contains(&slot) {
                    tapped.insert(slot, value.clone());
                }
                values[slot] = Some(value);
            }
            // Free what no later node reads.
            for slot in node.inputs.iter().flatten() {
                if self.last_use[*slot] == Some(index) && !keep(*slot) {
                    values[*slot] = None;
                }
            }
        }
        let outputs = if !wants_outputs {
            Vec::new()
        } else {
            self.outputs
                .iter()
                .map(|&s| {
                    values[s].take().ok_or_else(|| Error::InvalidModel {
                        reason: format!("output '{}' was not computed", self.tensors[s].name),
                    })
                })
                .collect::<Result<Vec<_>>>()?
        };
        Ok(RunOutput {
            outputs,
            taps: tapped,
        })
    }

    /// Whether some tensor's shape beyond its leading (batch) axis is unknown before running.
    pub fn has_unknown_shapes(&self) -> bool {
        self.tensors.iter().any(|t| match &t.shape {
            None => true,
            Some(dims) => dims.iter().skip(1).any(Option::is_none),
        })
    }

    /// Fills the unknown shapes by running `example` once. With a dynamic batch the example
    /// holds `dynamic_batch` images and a leading axis of that size is recorded as dynamic
    /// (`None`); every other axis as its size.
    pub fn complete_shapes(&mut self, example: Value, dynamic_batch: Option<usize>) -> Result<()> {
        let mut seen: Vec<Option<Vec<usize>>> = vec![None; self.tensors.len()];
        let all = Watched::All;
        self.run_with_hook(
            vec![example],
            &[],
            Needs::Everything,
            all,
            &mut |slot, value| {
                seen[slot] = Some(value.dims());
                value
            },
        )?;
        for (info, dims) in self.tensors.iter_mut().zip(seen) {
            let Some(dims) = dims else { continue };
            let known = info.shape.clone().unwrap_or_else(|| vec![None; dims.len()]);
            if known.len() != dims.len() {
                continue;
            }
            info.shape = Some(
                known
                    .iter()
                    .zip(&dims)
                    .enumerate()
                    .map(|(axis, (k, &d))| match k {
                        Some(k) => Some(*k),
                        None if axis == 0 && Some(d) == dynamic_batch => None,
                        None => Some(d),
                    })
                    .collect(),
            );
        }
        Ok(())
    }

    /// Checks an input against the static parts of the declared shape.
    fn check_input(&self, slot: Slot, value: &Value) -> Result<()> {
        let info = &self.tensors[slot];
        let got = value.dims();
        if got.contains(&0) {
            return Err(Error::EmptyInput(got));
        }
        let Some(expected) = &info.shape else {
            return Ok(());
        };
        let fits = expected.len() == got.len()
            && expected
                .iter()
                .zip(&got)
                .all(|(e, g)| e.is_none_or(|e| e == *g));
        if fits {
            Ok(())
        } else {
            Err(Error::InputShape {
                got,
                expected: format_shape(expected),
            })
        }
    }
}
