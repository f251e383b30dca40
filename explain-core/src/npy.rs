//! `.npy` tensors in and out (float32, C order): the CLI's input/output format and the format of
//! the reference data the tests compare against.

use crate::error::{Error, Result};

/// A host tensor: row-major values and their shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub data: Vec<f32>,
    pub shape: Vec<usize>,
}

/// Reads a float32 (or float64, converted) `.npy` file's bytes; `name` is used in messages.
pub fn read_f32(bytes: &[u8], name: &str) -> Result<HostTensor> {
    let err = |reason: String| Error::TensorFile {
        name: name.to_string(),
        reason,
    };
    // npyz allocates the header's declared length (up to 4 GB) before reading it: check the
    // length against the file first.
    if bytes.starts_with(b"\x93NUMPY") && data_bytes(bytes).is_none() {
        return Err(err(format!(
            "its header claims to be longer than the whole file ({} bytes); the file is \
             damaged or was not written by numpy.save",
            bytes.len()
        )));
    }
    let file = npyz::NpyFile::new(bytes).map_err(|e| err(format!("not a .npy file ({e})")))?;
    if file.order() != npyz::Order::C {
        return Err(err(
            "Fortran-ordered arrays are not supported; save with C order".into(),
        ));
    }
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    // The header's shape is only a claim: compare it with the bytes present before reading.
    let value_bytes = match file.dtype() {
        npyz::DType::Plain(t) => t.size_field(),
        _ => 4,
    };
    let declared = file
        .shape()
        .iter()
        .try_fold(value_bytes, |n, &d| n.checked_mul(d));
    let present = data_bytes(bytes);
    if declared.is_none_or(|d| Some(d) != present) {
        return Err(err(format!(
            "its header declares shape {shape:?} ({}) but the file holds {} bytes of data; the \
             file is damaged or was not written by numpy.save",
            declared.map_or("more bytes than can be counted".into(), |d| format!(
                "{d} bytes"
            )),
            present.map_or("no".into(), |p| p.to_string())
        )));
    }
    let data = match file.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => {
            file.into_vec::<f64>()
                .map(|v| v.into_iter().map(|x| x as f32).collect())
        }
        _ => file.into_vec::<f32>(),
    }
    .map_err(|e| err(format!("expected float32 data ({e})")))?;
    Ok(HostTensor { data, shape })
}

/// The number of bytes after a `.npy` file's header: the magic string and version (8 bytes),
/// the header's length (2 bytes in version 1, 4 after) and the header itself.
fn data_bytes(bytes: &[u8]) -> Option<u64> {
    let (len_at, len_size) = match bytes.get(6)? {
        1 => (8, 2),
        _ => (8, 4),
    };
    let len_field = bytes.get(len_at..len_at + len_size)?;
    let header_len = len_field
        .iter()
        .rev()
        .fold(0u64, |n, &b| (n << 8) | u64::from(b));
    (bytes.len() as u64).checked_sub(len_at as u64 + len_size as u64 + header_len)
}

/// Encodes float32 values of the given shape as `.npy` bytes.
pub fn write_f32(data: &[f32], shape: &[usize]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let io = |e: std::io::Error| Error::TensorFile {
        name: "(output)".into(),
        reason: e.to_string(),
    };
    use npyz::WriterBuilder;
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut out)
        .begin_nd()
        .map_err(io)?;
    writer.extend(data.iter().copied()).map_err(io)?;
    writer.finish().map_err(io)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips() {
        let bytes = write_f32(&[1.0, -2.5, 3.0, 4.0, 5.0, 6.0], &[2, 3]).expect("write");
        let t = read_f32(&bytes, "x.npy").expect("read");
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.data, vec![1.0, -2.5, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn a_header_longer_than_the_file_is_refused_before_allocating_it() {
        // Found by the fuzzer: version 2 with a header length of 4 GB (npyz allocated it).
        let mut bytes = b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec();
        bytes.extend([b' '; 40]);
        let err = read_f32(&bytes, "x.npy").expect_err("must fail");
        assert!(
            err.to_string().contains("longer than the whole file"),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = read_f32(b"hello", "x.npy").expect_err("must fail");
        assert!(err.to_string().contains("x.npy"), "{err}");
    }
}
