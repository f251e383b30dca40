//! Forward passes that keep chosen tensors, and gradients of a class score with respect to the
//! input or to any named tensor of the graph.
//!
//! Burn records a tape only for tensors downstream of an autodiff leaf. Weights stay plain
//! tensors (constants to autodiff), so no weight gradient is ever computed. For a gradient at a
//! layer the executor's hook swaps the layer's output for a fresh leaf that requires grad: the
//! part of the graph before it runs untracked, the rest is taped, and one backward gives
//! `∂score/∂layer`.

#[cfg(feature = "engine")]
use burn::tensor::Tensor;
#[cfg(feature = "engine")]
use burn::tensor::activation::softmax;

#[cfg(feature = "engine")]
use crate::error::{Error, Result};
#[cfg(feature = "engine")]
use crate::model::Classifier;
#[cfg(feature = "engine")]
use crate::onnx::{FloatValue, MAX_RANK, Needs, Slot, Value, Watched};

/// Which score of the target class is differentiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Score {
    /// The model's raw output for the class (what Captum and pytorch-grad-cam use).
    #[default]
    Logit,
    /// The softmax probability of the class.
    Probability,
}

/// Where the gradient is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg(feature = "engine")]
pub enum Wrt<'a> {
    /// The model input (saliency, integrated gradients).
    Input,
    /// A named tensor (Grad-CAM, layer attributions).
    Layer(&'a str),
}

/// A gradient and what it was taken at.
#[derive(Debug, Clone)]
#[cfg(feature = "engine")]
pub struct Gradient {
    /// The model's raw outputs `[N, K]` of the same forward pass.
    pub logits: FloatValue,
    /// The value of the tensor the gradient is taken at (the input, or the layer's activation).
    pub value: FloatValue,
    /// `∂ score_{c_i}(x_i) / ∂ value`, same shape as `value`. Images of a batch are independent,
    /// so row `i` is the gradient of image `i`'s own target.
    pub gradient: FloatValue,
}

/// Raw outputs plus the tensors asked for.
#[derive(Debug, Clone)]
#[cfg(feature = "engine")]
pub struct Forward {
    pub logits: FloatValue,
    /// The values of the requested tensors, in request order.
    pub taps: Vec<FloatValue>,
}

#[cfg(feature = "engine")]
impl Classifier {
    /// One forward pass that also returns the named tensors.
    pub fn forward(&self, batch: FloatValue, layers: &[&str]) -> Result<Forward> {
        let graph = self.graph();
        let slots = self.slots(layers)?;
        let mut outputs = self.in_model_batches(batch, |piece, _| {
            let rows = piece.dims().first().copied().unwrap_or(0);
            let mut run = graph.run(vec![Value::Float(piece)], &slots)?;
            let mut values = vec![self.scores(&run, rows)?];
            values.extend(take_taps(&mut run.taps, &slots, layers)?);
            Ok(values)
        })?;
        let logits = outputs.remove(0);
        Ok(Forward {
            logits,
            taps: outputs,
        })
    }

    /// The values of the named tensors alone: the run stops at the last node they depend on,
    /// so activations, max activations and deep dream never pay for the layers after them.
    pub fn activations(&self, batch: FloatValue, layers: &[&str]) -> Result<Vec<FloatValue>> {
        let slots = self.slots(layers)?;
        self.in_model_batches(batch, |piece, _| {
            let mut taps = self.graph().run_taps(vec![Value::Float(piece)], &slots)?;
            take_taps(&mut taps, &slots, layers)
        })
    }

    fn slots(&self, layers: &[&str]) -> Result<Vec<Slot>> {
        layers.iter().map(|name| self.graph().slot(name)).collect()
    }

    /// The gradient of each image's target score (`classes[i]` for image `i`) at `wrt`.
    pub fn gradient(
        &self,
        batch: FloatValue,
        classes: &[usize],
        score: Score,
        wrt: Wrt<'_>,
    ) -> Result<Gradient> {
        let n = batch.dims().first().copied().unwrap_or(0);
        self.check_targets(classes, n)?;
        let mut parts = self.in_model_batches(batch, |piece, rows| {
            // Padding rows (a model with a fixed batch) get any class: their rows are dropped.
            let mut targets = classes[rows].to_vec();
            targets.resize(piece.dims().first().copied().unwrap_or(0), 0);
            let g = self.gradient_of_batch(piece, &targets, score, wrt)?;
            Ok(vec![g.logits, g.value, g.gradient])
        })?;
        let (gradient, value) = (parts.remove(2), parts.remove(1));
        Ok(Gradient {
            logits: parts.remove(0),
            value,
            gradient,
        })
    }

    /// [`Classifier::gradient`] of a batch the model accepts as it is.
    fn gradient_of_batch(
        &self,
        batch: FloatValue,
        classes: &[usize],
        score: Score,
        wrt: Wrt<'_>,
    ) -> Result<Gradient> {
        let graph = self.graph();
        let rows = batch.dims().first().copied().unwrap_or(0);
        let (leaf_slot, leaf_name) = match wrt {
            Wrt::Input => (graph.input_slots()[0], "the input"),
            Wrt::Layer(name) => (graph.slot(name)?, name),
        };
        let mut leaf: Option<std::result::Result<FloatValue, ()>> = None;
        let run = graph.run_with_hook(
            vec![Value::Float(batch)],
            &[],
            Needs::Outputs,
            Watched::Slots(&[leaf_slot]),
            &mut |slot, value| {
                if slot != leaf_slot {
                    return value;
                }
                match value {
                    Value::Float(v) => {
                        let v = v.map(|t| t.detach().autodiff().require_grad());
                        leaf = Some(Ok(v.clone()));
                        Value::Float(v)
                    }
                    other => {
                        leaf = Some(Err(()));
                        other
                    }
                }
            },
        )?;
        let value = match leaf {
            Some(Ok(v)) => v,
            Some(Err(())) => return Err(not_float(leaf_name)),
            None => return Err(Error::UnknownTensor(leaf_name.to_string())),
        };
        let logits = self.scores(&run, rows)?;
        let objective = self.objective(&logits, classes, score)?;
        let grads = objective.backward();
        let gradient = value.padded().grad(&grads).ok_or_else(|| {
            Error::NotAClassifier(format!(
                "the class scores do not depend on '{leaf_name}', so it has no gradient; pick a \
                 tensor between the input and the output"
            ))
        })?;
        Ok(Gradient {
            logits: logits.map(Tensor::inner),
            gradient: FloatValue::from_padded(gradient, value.rank()),
            value: value.map(Tensor::inner),
        })
    }

    /// The gradient, at the input, of `objective` applied to a named layer's value (deep
    /// dream's channel activation). `input` may itself be an autodiff leaf built from a smaller
    /// image (pyramid levels); the caller reads the gradient from its own leaf. Returns the
    /// objective's value (one element) for progress and tests.
    pub fn layer_objective(
        &self,
        input: FloatValue,
        layer: &str,
        objective: &dyn Fn(&FloatValue) -> Result<Tensor<1>>,
    ) -> Result<(Tensor<1>, burn::tensor::Gradients)> {
        let slot = self.graph().slot(layer)?;
        let mut taps = self.graph().run_taps(vec![Value::Float(input)], &[slot])?;
        let value = match taps.remove(&slot) {
            Some(Value::Float(v)) => v,
            Some(Value::Int { .. }) => return Err(not_float(layer)),
            None => return Err(Error::UnknownTensor(layer.to_string())),
        };
        let score = objective(&value)?;
        let grads = score.backward();
        Ok((score.inner(), grads))
    }

    fn check_targets(&self, classes: &[usize], n: usize) -> Result<()> {
        if classes.len() != n {
            return Err(Error::Preprocess(format!(
                "{} target classes were given for {n} images",
                classes.len()
            )));
        }
        match classes.iter().find(|&&c| c >= self.num_classes()) {
            Some(c) => Err(Error::Labels(format!(
                "class {c} does not exist: the model has {} classes (0 to {})",
                self.num_classes(),
                self.num_classes() - 1
            ))),
            None => Ok(()),
        }
    }

    /// `Σ_i score(x_i)[c_i]` as a one-element tensor: a one-hot mask picks each image's target,
    /// so one backward gives every image its own gradient.
    fn objective(&self, logits: &FloatValue, classes: &[usize], score: Score) -> Result<Tensor<1>> {
        let k = self.num_classes();
        let mut mask = vec![0.0; classes.len() * k];
        for (i, &c) in classes.iter().enumerate() {
            mask[i * k + c] = 1.0;
        }
        let mask = FloatValue::from_vec(mask, &[classes.len(), k], &logits.device())?;
        let scores = match score {
            Score::Logit => logits.padded().clone(),
            Score::Probability => softmax(logits.padded().clone(), MAX_RANK - 1),
        };
        Ok((scores * mask.into_padded()).sum())
    }
}

/// The float values of `slots` out of a run's taps, in order.
#[cfg(feature = "engine")]
fn take_taps(
    taps: &mut std::collections::HashMap<Slot, Value>,
    slots: &[Slot],
    layers: &[&str],
) -> Result<Vec<FloatValue>> {
    slots
        .iter()
        .zip(layers)
        .map(|(slot, name)| match taps.remove(slot) {
            Some(Value::Float(v)) => Ok(v),
            Some(Value::Int { .. }) => Err(not_float(name)),
            None => Err(Error::UnknownTensor((*name).to_string())),
        })
        .collect()
}

#[cfg(feature = "engine")]
fn not_float(name: &str) -> Error {
    Error::NotAClassifier(format!(
        "'{name}' is an integer (shape) tensor; pick a float activation"
    ))
}
