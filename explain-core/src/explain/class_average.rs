//! The average map of many images (a class, a confusion cell, everything predicted as one
//! class): what the model looks at for that class across the set, not on one image. Summed in
//! f64 one map at a time, so any number of images streams through in constant memory.

use crate::error::{Error, Result};

/// A running mean of maps of one shape.
#[derive(Debug, Clone, Default)]
pub struct MapAverage {
    sum: Vec<f64>,
    dims: Vec<usize>,
    count: usize,
}

impl MapAverage {
    /// Adds one map; every map must have the first one's shape.
    pub fn push(&mut self, map: &[f32], dims: &[usize]) -> Result<()> {
        if self.count == 0 {
            self.sum = vec![0.0; map.len()];
            self.dims = dims.to_vec();
        } else if dims != self.dims.as_slice() || map.len() != self.sum.len() {
            return Err(Error::Settings(format!(
                "a map of shape {dims:?} cannot join the average of maps of shape {:?}",
                self.dims
            )));
        }
        for (s, &v) in self.sum.iter_mut().zip(map) {
            *s += f64::from(v);
        }
        self.count += 1;
        Ok(())
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The mean map (empty before the first map).
    pub fn mean(&self) -> Vec<f32> {
        let n = self.count.max(1) as f64;
        self.sum.iter().map(|&s| (s / n) as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_of_maps_and_a_clear_error_for_another_shape() {
        let mut avg = MapAverage::default();
        assert!(avg.mean().is_empty());
        avg.push(&[1.0, 2.0], &[1, 2]).expect("ok");
        avg.push(&[3.0, 6.0], &[1, 2]).expect("ok");
        assert_eq!(avg.mean(), vec![2.0, 4.0]);
        assert_eq!(avg.count(), 2);
        let err = avg
            .push(&[1.0, 2.0, 3.0], &[1, 3])
            .expect_err("an error")
            .to_string();
        assert!(err.contains("[1, 3]") && err.contains("[1, 2]"), "{err}");
    }
}
