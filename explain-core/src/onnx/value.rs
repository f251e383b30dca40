//! Runtime values flowing between graph nodes.
//!
//! Burn tensors carry their rank in the type; ONNX tensors carry it at run time. A float tensor of
//! rank `r <= MAX_RANK` is stored as a `Tensor<MAX_RANK>` whose shape is left-padded with ones.
//! Left padding is exactly numpy/ONNX broadcasting, so elementwise ops broadcast through Burn
//! unchanged, and reshapes between ranks are free (metadata only).
//! Integer tensors (shapes, indices, axes) are small and never differentiated: they live on the
//! host, so shape arithmetic costs no device round trip.

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};

/// The largest tensor rank the engine handles.
pub const MAX_RANK: usize = 6;

/// A float tensor of logical rank `rank`, stored padded to `MAX_RANK`.
#[derive(Clone, Debug)]
pub struct FloatValue {
    tensor: Tensor<MAX_RANK>,
    rank: usize,
}

/// A value produced or consumed by a node.
// Burn's tensor handle is large; values move a few times per node, so boxing each would cost
// more (an allocation per op) than it saves.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Value {
    Float(FloatValue),
    /// Row-major integer data with its shape (empty shape = scalar).
    Int {
        data: Vec<i64>,
        shape: Vec<usize>,
    },
}

/// The default most elements one tensor may hold: 2^28 (1 GiB of float32). More than any
/// classifier's activations need at a batch of 32, and within wasm's 4 GiB of memory; a model
/// that asks for more (a `ConstantOfShape` or `Range` of terabytes, an input of 100000x100000
/// pixels) gets an error instead of a failed allocation, which aborts the process. The limit in
/// force is [`crate::limits::current`]'s `tensor_elements`.
pub const MAX_ELEMENTS: usize = crate::limits::Limits::DEFAULT.tensor_elements as usize;

/// The number of elements of a tensor of shape `dims`, or why it cannot be made: more than the
/// limit in force, or a product that overflows.
pub fn element_count(dims: &[usize]) -> std::result::Result<usize, String> {
    let limit = crate::limits::current().tensor_elements;
    match dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        Some(n) if n as u64 <= limit => Ok(n),
        _ => Err(format!(
            "a tensor of shape {dims:?} would hold more than {limit} elements ({:.1} GiB of \
             float32), the most UNPIC makes: the model asks for too much memory",
            (limit * 4) as f64 / f64::from(1u32 << 30)
        )),
    }
}

/// Pads `dims` on the left with ones up to `MAX_RANK`.
pub fn padded_shape(dims: &[usize]) -> [usize; MAX_RANK] {
    let mut shape = [1; MAX_RANK];
    shape[MAX_RANK - dims.len()..].copy_from_slice(dims);
    shape
}

impl FloatValue {
    /// Wraps a padded tensor whose last `rank` dims are the logical shape.
    pub fn from_padded(tensor: Tensor<MAX_RANK>, rank: usize) -> Self {
        debug_assert!(rank <= MAX_RANK);
        Self { tensor, rank }
    }

    /// Wraps a tensor of any static rank.
    pub fn from_tensor<const D: usize>(tensor: Tensor<D>) -> Self {
        let dims = tensor.dims();
        Self::from_padded(tensor.reshape(padded_shape(&dims)), D)
    }

    /// Uploads host data of the given shape.
    pub fn from_vec(data: Vec<f32>, dims: &[usize], device: &Device) -> Result<Self> {
        if dims.len() > MAX_RANK {
            return Err(Error::Backend(format!(
                "tensors of rank {} are not supported (at most {MAX_RANK})",
                dims.len()
            )));
        }
        let expected: usize = dims.iter().product();
        if data.len() != expected {
            return Err(Error::InputShape {
                got: vec![data.len()],
                expected: format!("{expected} values for shape {dims:?}"),
            });
        }
        let tensor =
            Tensor::<MAX_RANK>::from_data(TensorData::new(data, padded_shape(dims)), device);
        Ok(Self::from_padded(tensor, dims.len()))
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The logical shape.
    pub fn dims(&self) -> Vec<usize> {
        self.tensor.dims()[MAX_RANK - self.rank..].to_vec()
    }

    /// The padded tensor (for elementwise work that keeps the rank).
    pub fn padded(&self) -> &Tensor<MAX_RANK> {
        &self.tensor
    }

    pub fn into_padded(self) -> Tensor<MAX_RANK> {
        self.tensor
    }

    /// Maps the padded tensor, keeping the logical rank (elementwise ops).
    pub fn map(self, f: impl FnOnce(Tensor<MAX_RANK>) -> Tensor<MAX_RANK>) -> Self {
        let rank = self.rank;
        Self::from_padded(f(self.tensor), rank)
    }

    /// The physical axis of logical axis `axis` (already non-negative).
    pub fn physical_axis(&self, axis: usize) -> usize {
        MAX_RANK - self.rank + axis
    }

    /// Resolves a possibly negative ONNX axis against this value's rank.
    pub fn axis(&self, axis: i64) -> Option<usize> {
        let rank = self.rank as i64;
        let axis = if axis < 0 { axis + rank } else { axis };
        (0..rank.max(1)).contains(&axis).then_some(axis as usize)
    }

    /// The tensor as exactly rank `D`; `None` when the logical rank differs or an axis is
    /// empty (Burn's reshape reads a 0 as "keep this axis", so an empty tensor cannot be
    /// reshaped faithfully, and no kernel has anything to do with one).
    pub fn to_rank<const D: usize>(&self) -> Option<Tensor<D>> {
        if self.rank != D {
            return None;
        }
        let dims = self.dims();
        if dims.contains(&0) {
            return None;
        }
        let mut shape = [0; D];
        shape.copy_from_slice(&dims);
        Some(self.tensor.clone().reshape(shape))
    }

    /// Reshapes to a new logical shape with the same element count.
    pub fn reshape(self, dims: &[usize]) -> Self {
        let rank = dims.len();
        Self::from_padded(self.tensor.reshape(padded_shape(dims)), rank)
    }

    pub fn device(&self) -> Device {
        self.tensor.device()
    }

    /// Rows `start..start + len` of the leading (batch) axis.
    pub fn narrow_batch(self, start: usize, len: usize) -> Self {
        let axis = self.physical_axis(0);
        self.map(|t| t.narrow(axis, start, len))
    }

    /// `self` with `extra` rows of zeros appended along the leading (batch) axis.
    pub fn pad_batch(self, extra: usize) -> Self {
        if extra == 0 || self.rank == 0 {
            return self;
        }
        let axis = self.physical_axis(0);
        let mut dims = self.tensor.dims();
        dims[axis] = extra;
        let zeros = Tensor::<MAX_RANK>::zeros(dims, &self.device());
        self.map(|t| Tensor::cat(vec![t, zeros], axis))
    }

    /// Values of equal rank joined along the leading (batch) axis.
    pub fn cat_batch(values: Vec<Self>) -> Option<Self> {
        let first = values.first()?;
        let (rank, axis) = (first.rank, first.physical_axis(0));
        if rank == 0 || values.iter().any(|v| v.rank != rank) {
            return None;
        }
        let tensors = values.into_iter().map(|v| v.tensor).collect();
        Some(Self::from_padded(Tensor::cat(tensors, axis), rank))
    }

    /// Reads the values back (blocking; native only — in the browser use `to_vec_async`).
    #[cfg(not(target_family = "wasm"))]
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        let data = self
            .tensor
            .clone()
            .try_into_data()
            .map_err(|e| Error::Backend(format!("{e:?}")))?;
        data_to_vec(data)
    }

    /// Reads the values back without blocking (works on every backend and platform).
    pub async fn to_vec_async(&self) -> Result<Vec<f32>> {
        let data = self
            .tensor
            .clone()
            .into_data_async()
            .await
            .map_err(|e| Error::Backend(format!("{e:?}")))?;
        data_to_vec(data)
    }
}

fn data_to_vec(data: TensorData) -> Result<Vec<f32>> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Backend(format!("{e:?}")))
}

impl Value {
    /// The logical shape.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Value::Float(v) => v.dims(),
            Value::Int { shape, .. } => shape.clone(),
        }
    }

    pub fn as_float(&self) -> Option<&FloatValue> {
        match self {
            Value::Float(v) => Some(v),
            Value::Int { .. } => None,
        }
    }

    pub fn as_ints(&self) -> Option<&[i64]> {
        match self {
            Value::Int { data, .. } => Some(data),
            Value::Float(_) => None,
        }
    }

    /// Converts constant data from the ONNX file into a value on `device`.
    pub fn from_data(data: TensorData, device: &Device) -> Result<Self> {
        let dims = data.shape().to_vec();
        if data.dtype().is_float() {
            let values = data_to_vec(data)?;
            Ok(Value::Float(FloatValue::from_vec(values, &dims, device)?))
        } else {
            let values = data
                .convert::<i64>()
                .try_into_vec::<i64>()
                .map_err(|e| Error::Backend(format!("{e:?}")))?;
            Ok(Value::Int {
                data: values,
                shape: dims,
            })
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn element_counts_refuse_tensors_too_large_to_allocate() {
        assert_eq!(element_count(&[2, 3, 4]), Ok(24));
        assert_eq!(element_count(&[]), Ok(1));
        assert_eq!(element_count(&[5, 0, 7]), Ok(0));
        assert_eq!(element_count(&[1 << 14, 1 << 14]), Ok(MAX_ELEMENTS));
        let too_many = element_count(&[100_000, 100_000]).expect_err("1e10 elements");
        assert!(too_many.contains("[100000, 100000]"), "{too_many}");
        assert!(element_count(&[usize::MAX, 2]).is_err(), "overflow");
    }

    use super::*;

    #[test]
    fn padded_values_keep_their_logical_shape() {
        let device = Device::flex();
        let v = FloatValue::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], &device)
            .expect("upload");
        assert_eq!(v.dims(), vec![2, 3]);
        assert_eq!(v.padded().dims(), [1, 1, 1, 1, 2, 3]);
        assert_eq!(v.axis(-1), Some(1));
        assert_eq!(v.axis(2), None);
        assert!(v.to_rank::<3>().is_none());
        assert_eq!(v.to_rank::<2>().expect("rank 2").dims(), [2, 3]);
    }

    #[test]
    fn left_padding_broadcasts_like_numpy() {
        let device = Device::flex();
        let a = FloatValue::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], &device)
            .expect("upload");
        let b = FloatValue::from_vec(vec![10.0, 20.0, 30.0], &[3], &device).expect("upload");
        let sum = a.map(|t| t + b.into_padded());
        assert_eq!(
            sum.to_vec().expect("read"),
            vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]
        );
    }

    #[test]
    fn from_vec_rejects_a_wrong_element_count() {
        let device = Device::flex();
        assert!(FloatValue::from_vec(vec![1.0; 5], &[2, 3], &device).is_err());
    }
}
