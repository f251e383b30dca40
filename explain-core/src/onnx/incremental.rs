//! Incremental inference (Nakandala et al., "Incremental and Approximate Inference for Faster
//! Occlusion-based Deep CNN Explanations", SIGMOD 2019): copies of one image that differ from
//! it in a small rectangle (occlusion's windows) are run by recomputing, layer by layer, only
//! the rectangle each change can reach, reusing the unedited run's values everywhere else.
//!
//! Each tensor of a batch of copies is tracked as a [`Delta`]: the same as the unedited run's,
//! a patch per copy, or the copies' full values. Convolutions and pools ([`Locality::Window`])
//! grow a patch by their receptive field and run on a crop of the unedited tensor with the
//! copy's patch pasted in, with the pads the crop's border needs; elementwise ops, BatchNorm and
//! channel concatenation ([`Locality::Pointwise`]) work on the union of their inputs' patches.
//! Any other op, or a patch that covers most of its tensor, makes the copies full, batched, and
//! the rest of the network runs as usual. The arithmetic per output value is the same as a full
//! run's; only the grouping of a few float sums may differ (Winograd's tiles), which the tests
//! bound.

use std::collections::HashMap;
use std::ops::Range;

use burn::tensor::Tensor;

use super::exec::{Needs, Step, Watched};
use super::graph::{Graph, Slot};
use super::ops::Locality;
use super::value::{FloatValue, MAX_RANK, Value};
use crate::error::{Error, Result};

/// Above this share of a tensor's pixels (over all copies) a layer is recomputed whole: cropping
/// and pasting would cost more than they save.
const MAX_PATCHED_SHARE: f64 = 0.8;

/// A rectangle of an NCHW tensor's spatial plane.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region {
    pub rows: Range<usize>,
    pub cols: Range<usize>,
}

impl Region {
    fn area(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    fn union(&self, other: &Region) -> Region {
        Region {
            rows: self.rows.start.min(other.rows.start)..self.rows.end.max(other.rows.end),
            cols: self.cols.start.min(other.cols.start)..self.cols.end.max(other.cols.end),
        }
    }

    fn intersection(&self, other: &Region) -> Option<Region> {
        let rows = self.rows.start.max(other.rows.start)..self.rows.end.min(other.rows.end);
        let cols = self.cols.start.max(other.cols.start)..self.cols.end.min(other.cols.end);
        (!rows.is_empty() && !cols.is_empty()).then_some(Region { rows, cols })
    }
}

/// One copy's change to a 4-D tensor: the values `[1, C, h, w]` in `region`.
#[derive(Debug, Clone)]
pub struct Patch {
    pub region: Region,
    pub values: Tensor<4>,
}

/// A tensor's value for a batch of copies.
// One per tensor of the graph for one run: boxing `Full` would cost an allocation per step.
#[allow(clippy::large_enum_variant)]
enum Delta {
    /// Every copy has the unedited run's value.
    Same,
    /// Copy `i` differs from the unedited value only in `patches[i]` (`None`: nowhere).
    Patched(Vec<Option<Patch>>),
    /// The copies' values, batched along the leading axis.
    Full(Value),
}

/// The values of one unedited run (batch 1), which edited copies are computed against.
pub struct BaseRun {
    values: Vec<Option<Value>>,
}

impl BaseRun {
    /// The graph outputs of the unedited run.
    pub fn output(&self, graph: &Graph) -> Option<&Value> {
        graph.outputs.first().and_then(|&s| self.values[s].as_ref())
    }
}

impl Graph {
    /// Runs `input` (batch 1) keeping every value the plan of an edited run reads.
    pub fn record(&self, input: Value) -> Result<BaseRun> {
        let mut values: Vec<Option<Value>> = vec![None; self.tensors.len()];
        for (slot, value) in &self.constants {
            values[*slot] = Some(value.clone());
        }
        self.run_with_hook(
            vec![input],
            &[],
            Needs::Outputs,
            Watched::Slots(&[]),
            &mut |slot, value| {
                values[slot] = Some(value.clone());
                value
            },
        )?;
        Ok(BaseRun { values })
    }

    /// The first output for copies of the recorded input, copy `i` changed to `edits[i]`
    /// (`None`: unchanged), recomputing only what each edit reaches. Errors (never wrong
    /// values) when the recorded run does not have a batch of 1 where a copy needs one.
    pub fn run_edited(&self, base: &BaseRun, edits: Vec<Option<Patch>>) -> Result<Value> {
        let copies = edits.len();
        let steps = self.plan(&[], Needs::Outputs, Watched::Slots(&[]));
        let producer: HashMap<Slot, usize> = steps
            .iter()
            .enumerate()
            .flat_map(|(i, step)| step.outputs.iter().map(move |&s| (s, i)))
            .collect();
        let mut run = EditedRun {
            graph: self,
            base,
            steps: &steps,
            producer,
            copies,
            deltas: (0..self.tensors.len()).map(|_| Delta::Same).collect(),
            constant: {
                let mut c = vec![false; self.tensors.len()];
                self.constants.iter().for_each(|(s, _)| c[*s] = true);
                c
            },
        };
        let input = *self
            .inputs
            .first()
            .ok_or_else(|| no_batch("the model has no input"))?;
        run.deltas[input] = Delta::Patched(edits);
        for index in 0..steps.len() {
            run.step(index)?;
        }
        let output = *self
            .outputs
            .first()
            .ok_or_else(|| no_batch("the model has no output"))?;
        run.full(output)
    }
}

fn no_batch(reason: &str) -> Error {
    Error::NotAClassifier(format!("incremental run: {reason}"))
}

struct EditedRun<'a> {
    graph: &'a Graph,
    base: &'a BaseRun,
    steps: &'a [Step<'a>],
    producer: HashMap<Slot, usize>,
    copies: usize,
    deltas: Vec<Delta>,
    constant: Vec<bool>,
}

impl EditedRun<'_> {
    fn base_value(&self, slot: Slot) -> Result<&Value> {
        self.base.values[slot]
            .as_ref()
            .ok_or_else(|| no_batch("a tensor of the unedited run was not kept"))
    }

    fn base_image(&self, slot: Slot) -> Option<Tensor<4>> {
        match self.base.values[slot].as_ref()? {
            Value::Float(v) if v.dims().first() == Some(&1) => v.to_rank::<4>(),
            _ => None,
        }
    }

    /// Computes step `index`'s outputs: unchanged, patched, or full.
    fn step(&mut self, index: usize) -> Result<()> {
        let step = &self.steps[index];
        let runtime: Vec<Slot> = step
            .inputs
            .iter()
            .flatten()
            .copied()
            .filter(|&s| !self.constant[s])
            .collect();
        if runtime
            .iter()
            .all(|&s| matches!(self.deltas[s], Delta::Same))
        {
            return Ok(());
        }
        if let Some(patches) = self.patched(step, &runtime)? {
            let delta = if patches.iter().all(Option::is_none) {
                Delta::Same
            } else {
                Delta::Patched(patches)
            };
            self.deltas[step.outputs[0]] = delta;
            return Ok(());
        }
        self.run_full(index)
    }

    /// Runs step `index` on the copies' full values.
    fn run_full(&mut self, index: usize) -> Result<()> {
        let step = &self.steps[index];
        let mut args = Vec::with_capacity(step.inputs.len());
        for slot in step.inputs {
            args.push(match slot {
                None => None,
                Some(s) if self.constant[*s] => Some(self.base_value(*s)?.clone()),
                Some(s) => Some(self.full(*s)?),
            });
        }
        let node = &self.graph.nodes[step.node];
        let produced = step
            .op
            .run(&args)
            .map_err(|reason| Error::node(&node.name, &node.op_type, reason))?;
        for (&slot, value) in step.outputs.iter().zip(produced) {
            self.deltas[slot] = Delta::Full(value);
        }
        Ok(())
    }

    /// The copies' full values of `slot` (batched), made from its delta and kept.
    fn full(&mut self, slot: Slot) -> Result<Value> {
        let value = match &self.deltas[slot] {
            Delta::Full(v) => return Ok(v.clone()),
            Delta::Patched(patches) => {
                let base = self
                    .base_image(slot)
                    .ok_or_else(|| no_batch("a patched tensor is not [1, C, H, W]"))?;
                let [_, c, _, _] = base.dims();
                let copies: Vec<Tensor<4>> = patches
                    .iter()
                    .map(|p| match p {
                        None => base.clone(),
                        Some(p) => base.clone().slice_assign(
                            [0..1, 0..c, p.region.rows.clone(), p.region.cols.clone()],
                            p.values.clone(),
                        ),
                    })
                    .collect();
                Value::Float(FloatValue::from_tensor(Tensor::cat(copies, 0)))
            }
            Delta::Same => match self.base_value(slot)? {
                Value::Float(v) if v.dims().first() == Some(&1) => {
                    let axis = v.physical_axis(0);
                    let copies = self.copies;
                    Value::Float(v.clone().map(|t| t.repeat_dim(axis, copies)))
                }
                Value::Float(_) => return Err(no_batch("a tensor has no batch axis of 1")),
                // Shapes and indices computed from the image depend on the batch: recompute
                // them from the copies' values.
                Value::Int { .. } => {
                    let index = *self
                        .producer
                        .get(&slot)
                        .ok_or_else(|| no_batch("an integer input has no producer"))?;
                    self.run_full(index)?;
                    return self.full(slot);
                }
            },
        };
        self.deltas[slot] = Delta::Full(value.clone());
        Ok(value)
    }

    /// The step's output patches when it can be computed on patches, else `None`.
    fn patched(&self, step: &Step<'_>, runtime: &[Slot]) -> Result<Option<Vec<Option<Patch>>>> {
        let [out] = step.outputs else {
            return Ok(None);
        };
        let Some(out_base) = self.base_image(*out) else {
            return Ok(None);
        };
        let [_, _, out_h, out_w] = out_base.dims();
        let first = match step.inputs.first() {
            Some(Some(s)) => *s,
            _ => return Ok(None),
        };
        let in_size = match self.base.values[first].as_ref().map(Value::dims) {
            Some(d) if d.len() == 4 => [d[2], d[3]],
            _ => return Ok(None),
        };
        if runtime
            .iter()
            .any(|&s| matches!(self.deltas[s], Delta::Full(_)))
        {
            return Ok(None);
        }
        match step.op.locality(in_size) {
            Some(Locality::Window {
                kernel,
                stride,
                dilation,
                pads,
            }) if runtime == [first] => {
                let window = |axis: usize| Axis {
                    extent: (kernel[axis] - 1) * dilation[axis] + 1,
                    stride: stride[axis],
                    pad: pads[axis].0,
                    input: in_size[axis],
                    output: [out_h, out_w][axis],
                };
                self.windowed(step, first, [window(0), window(1)])
            }
            Some(Locality::Pointwise) => self.pointwise(step, runtime, [out_h, out_w]),
            _ => Ok(None),
        }
    }

    fn patches_of(&self, slot: Slot) -> Option<&[Option<Patch>]> {
        match &self.deltas[slot] {
            Delta::Patched(p) => Some(p),
            _ => None,
        }
    }

    /// A convolution or pool: each copy's output patch is what its input patch reaches.
    fn windowed(
        &self,
        step: &Step<'_>,
        input: Slot,
        axes: [Axis; 2],
    ) -> Result<Option<Vec<Option<Patch>>>> {
        let patches = self.patches_of(input).unwrap_or(&[]);
        let Some(base) = self.base_image(input) else {
            return Ok(None);
        };
        let mut jobs = Vec::new();
        for (copy, patch) in patches.iter().enumerate() {
            let Some(patch) = patch else { continue };
            let (Some(rows), Some(cols)) = (
                axes[0].reach(&patch.region.rows),
                axes[1].reach(&patch.region.cols),
            ) else {
                continue;
            };
            let (in_rows, pad_rows) = axes[0].needs(&rows);
            let (in_cols, pad_cols) = axes[1].needs(&cols);
            jobs.push(Job {
                copy,
                out: Region { rows, cols },
                crop: Region {
                    rows: in_rows,
                    cols: in_cols,
                },
                pads: Some([pad_rows, pad_cols]),
            });
        }
        if self.too_big(&jobs, axes[0].output * axes[1].output) {
            return Ok(None);
        }
        self.run_jobs(step, jobs, &[(input, base)])
    }

    /// An elementwise op: each copy's output patch is the union of its inputs' patches.
    fn pointwise(
        &self,
        step: &Step<'_>,
        runtime: &[Slot],
        out_size: [usize; 2],
    ) -> Result<Option<Vec<Option<Patch>>>> {
        let mut images = Vec::new();
        for &slot in runtime {
            let dims = self.base_value(slot)?.dims();
            let spatial = dims.len() == 4 && dims[0] == 1 && dims[2..] == out_size;
            let broadcast = matches!(&self.deltas[slot], Delta::Same)
                && matches!(self.base_value(slot)?, Value::Float(v)
                    if v.padded().dims()[MAX_RANK - 2..] == [1, 1]);
            match (spatial, self.base_image(slot)) {
                (true, Some(base)) => images.push((slot, base)),
                _ if broadcast => {}
                _ => return Ok(None),
            }
        }
        let mut jobs = Vec::new();
        for copy in 0..self.copies {
            let region = images
                .iter()
                .filter_map(|(s, _)| self.patches_of(*s)?.get(copy)?.as_ref())
                .map(|p| p.region.clone())
                .reduce(|a, b| a.union(&b));
            if let Some(region) = region {
                jobs.push(Job {
                    copy,
                    out: region.clone(),
                    crop: region,
                    pads: None,
                });
            }
        }
        if self.too_big(&jobs, out_size[0] * out_size[1]) {
            return Ok(None);
        }
        self.run_jobs(step, jobs, &images)
    }

    fn too_big(&self, jobs: &[Job], area: usize) -> bool {
        let patched: usize = jobs.iter().map(|j| j.out.area()).sum();
        patched as f64 > MAX_PATCHED_SHARE * (area * self.copies) as f64
    }

    /// Runs the op on each job's crops, copies whose crops have the same size and pads batched
    /// together, and returns each copy's output patch.
    fn run_jobs(
        &self,
        step: &Step<'_>,
        jobs: Vec<Job>,
        images: &[(Slot, Tensor<4>)],
    ) -> Result<Option<Vec<Option<Patch>>>> {
        let mut groups: HashMap<(CropSize, Option<Pads>), Vec<Job>> = HashMap::new();
        for job in jobs {
            let size = [job.crop.rows.len(), job.crop.cols.len()];
            groups.entry((size, job.pads)).or_default().push(job);
        }
        let node = &self.graph.nodes[step.node];
        let mut out: Vec<Option<Patch>> = vec![None; self.copies];
        for ((_, pads), jobs) in groups {
            let mut args = Vec::with_capacity(step.inputs.len());
            for slot in step.inputs {
                let Some(slot) = slot else {
                    args.push(None);
                    continue;
                };
                args.push(Some(match images.iter().find(|(s, _)| s == slot) {
                    Some((slot, base)) => {
                        let patches = self.patches_of(*slot);
                        let crops: Vec<Tensor<4>> = jobs
                            .iter()
                            .map(|job| {
                                let patch = patches.and_then(|p| p.get(job.copy)?.as_ref());
                                crop(base, patch, &job.crop)
                            })
                            .collect();
                        Value::Float(FloatValue::from_tensor(Tensor::cat(crops, 0)))
                    }
                    None => self.base_value(*slot)?.clone(),
                }));
            }
            let produced = match pads {
                Some(pads) => step.op.run_cropped(&args, pads),
                None => step.op.run(&args),
            }
            .map_err(|reason| Error::node(&node.name, &node.op_type, reason))?;
            let Some(Value::Float(values)) = produced.into_iter().next() else {
                return Ok(None);
            };
            let Some(values) = values.to_rank::<4>() else {
                return Ok(None);
            };
            let [n, c, h, w] = values.dims();
            if n != jobs.len() {
                return Ok(None);
            }
            for (i, job) in jobs.into_iter().enumerate() {
                if [h, w] != [job.out.rows.len(), job.out.cols.len()] {
                    return Ok(None);
                }
                out[job.copy] = Some(Patch {
                    values: values.clone().slice([i..i + 1, 0..c, 0..h, 0..w]),
                    region: job.out,
                });
            }
        }
        Ok(Some(out))
    }
}

/// A crop's height and width.
type CropSize = [usize; 2];
/// (begin, end) pads per spatial axis.
type Pads = [(usize, usize); 2];

/// One copy's share of a step: the crop of each input it reads and the output region it makes.
struct Job {
    copy: usize,
    out: Region,
    crop: Region,
    /// The pads a windowed op runs the crop with.
    pads: Option<Pads>,
}

/// A window's geometry along one spatial axis.
struct Axis {
    /// `(kernel - 1) * dilation + 1`: the input span one output reads.
    extent: usize,
    stride: usize,
    /// Pad before the first input value.
    pad: usize,
    input: usize,
    output: usize,
}

impl Axis {
    /// The outputs whose window overlaps the input range `changed`, if any.
    fn reach(&self, changed: &Range<usize>) -> Option<Range<usize>> {
        // Output o reads input [o·s − pad, o·s − pad + extent).
        let (s, pad, extent) = (self.stride as i64, self.pad as i64, self.extent as i64);
        let first = (changed.start as i64 + pad - extent).div_euclid(s) + 1;
        let end = (changed.end as i64 + pad + s - 1).div_euclid(s);
        // Starting on an even output keeps Winograd's 2x2 tiles where a full run has them, so
        // a crop's values are bit for bit the full run's.
        let first = (first.max(0) as usize) & !1;
        let range = first..(end.max(0) as usize).min(self.output);
        (!range.is_empty()).then_some(range)
    }

    /// The input range the outputs `out` read, clipped to the input, and the pads that stand
    /// for what lies outside it.
    fn needs(&self, out: &Range<usize>) -> (Range<usize>, (usize, usize)) {
        let (s, pad) = (self.stride as i64, self.pad as i64);
        let start = out.start as i64 * s - pad;
        let end = (out.end as i64 - 1) * s - pad + self.extent as i64;
        let input = self.input as i64;
        let range = start.clamp(0, input) as usize..end.clamp(0, input) as usize;
        let pads = ((-start).max(0) as usize, (end - input).max(0) as usize);
        (range, pads)
    }
}

/// `base[region]` (batch 1) with a copy's patch pasted where it overlaps.
fn crop(base: &Tensor<4>, patch: Option<&Patch>, region: &Region) -> Tensor<4> {
    let [_, c, _, _] = base.dims();
    let mut out = base
        .clone()
        .slice([0..1, 0..c, region.rows.clone(), region.cols.clone()]);
    if let Some(patch) = patch
        && let Some(both) = patch.region.intersection(region)
    {
        let local = |r: &Range<usize>, origin: usize| r.start - origin..r.end - origin;
        let values = patch.values.clone().slice([
            0..1,
            0..c,
            local(&both.rows, patch.region.rows.start),
            local(&both.cols, patch.region.cols.start),
        ]);
        out = out.slice_assign(
            [
                0..1,
                0..c,
                local(&both.rows, region.rows.start),
                local(&both.cols, region.cols.start),
            ],
            values,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(kernel: usize, stride: usize, pad: usize, input: usize) -> Axis {
        let output = (input + 2 * pad - kernel) / stride + 1;
        Axis {
            extent: kernel,
            stride,
            pad,
            input,
            output,
        }
    }

    #[test]
    fn a_change_reaches_the_outputs_whose_window_covers_it() {
        // 3x3, stride 1, pad 1 over 10: a change at rows 4..6 reaches outputs 3..7, from 2
        // to start on an even row.
        let a = axis(3, 1, 1, 10);
        assert_eq!(a.reach(&(4..6)), Some(2..7));
        assert_eq!(a.reach(&(5..6)), Some(4..7));
        // Outputs 3..7 read input 2..8; no pads needed inside.
        assert_eq!(a.needs(&(3..7)), (2..8, (0, 0)));
        // At the border the crop needs the file's pad.
        assert_eq!(a.reach(&(0..1)), Some(0..2));
        assert_eq!(a.needs(&(0..2)), (0..3, (1, 0)));
        assert_eq!(a.needs(&(8..10)), (7..10, (0, 1)));
    }

    #[test]
    fn a_strided_window_may_miss_a_change() {
        // 1x1 stride 2 (a ResNet downsample) reads even rows only: row 3 changes nothing.
        let a = axis(1, 2, 0, 8);
        assert_eq!(a.reach(&(3..4)), None);
        assert_eq!(a.reach(&(3..5)), Some(2..3));
        assert_eq!(a.reach(&(5..7)), Some(2..4));
        // 7x7 stride 2 pad 3 over 224 (ResNet's stem): output o reads rows 2o-3..2o+4, so
        // rows 100..132 reach outputs 49..68.
        let stem = axis(7, 2, 3, 224);
        assert_eq!(stem.reach(&(100..132)), Some(48..68));
        assert_eq!(stem.needs(&(49..68)), (95..138, (0, 0)));
    }

    #[test]
    fn regions_join_and_meet() {
        let a = Region {
            rows: 0..4,
            cols: 2..6,
        };
        let b = Region {
            rows: 3..8,
            cols: 0..3,
        };
        assert_eq!(
            a.union(&b),
            Region {
                rows: 0..8,
                cols: 0..6
            }
        );
        assert_eq!(
            a.intersection(&b),
            Some(Region {
                rows: 3..4,
                cols: 2..3
            })
        );
        assert_eq!(
            a.intersection(&Region {
                rows: 5..6,
                cols: 0..1
            }),
            None
        );
    }
}
