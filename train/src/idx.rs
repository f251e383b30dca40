//! Reads the IDX files Fashion-MNIST ships in (gzipped, big-endian header, then raw bytes).

use std::{fs::File, io::Read, path::Path};

use anyhow::{Context, Result, bail, ensure};
use flate2::read::GzDecoder;

/// Grey images of one size, row-major bytes, with their class indices.
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub height: usize,
    pub width: usize,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn pixels(&self, index: usize) -> &[u8] {
        let size = self.height * self.width;
        &self.images[index * size..(index + 1) * size]
    }

    /// Reads `{prefix}-images-idx3-ubyte.gz` and `{prefix}-labels-idx1-ubyte.gz` from `dir`.
    pub fn read(dir: &Path, prefix: &str) -> Result<Self> {
        let (image_dims, images) = read_idx(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")))?;
        let (label_dims, labels) = read_idx(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")))?;
        ensure!(
            image_dims.len() == 3 && label_dims.len() == 1 && image_dims[0] == label_dims[0],
            "{prefix}: expected N images and N labels, got shapes {image_dims:?} and {label_dims:?}"
        );
        Ok(Self {
            images,
            labels,
            height: image_dims[1],
            width: image_dims[2],
        })
    }
}

fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let file = File::open(path).with_context(|| {
        format!(
            "cannot open {} (install Debian's dataset-fashion-mnist, or pass --data)",
            path.display()
        )
    })?;
    let mut bytes = Vec::new();
    GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{} is not a gzip file", path.display()))?;
    ensure!(
        bytes.len() >= 4,
        "{}: too short for an IDX header",
        path.display()
    );
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        bail!("{}: not an IDX file of unsigned bytes", path.display());
    }
    let rank = usize::from(bytes[3]);
    let header = 4 + 4 * rank;
    ensure!(
        bytes.len() >= header,
        "{}: truncated IDX header",
        path.display()
    );
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected: usize = dims.iter().product();
    ensure!(
        bytes.len() - header == expected,
        "{}: header says {expected} bytes of data, file has {}",
        path.display(),
        bytes.len() - header
    );
    Ok((dims, bytes.split_off(header)))
}
