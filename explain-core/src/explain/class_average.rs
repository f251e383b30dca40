//! The average map of many images (a class, a confusion cell, everything predicted as one
//! class): what the model looks at for that class across the set, not on one image. Summed in
//! f64 one map at a time, so any number of images streams through in constant memory.
//! [`ClassMaps`] adds each image's deletion and insertion areas, per class explained: what
//! `unpic explain-class` and the app's class galleries report.

use crate::error::{Error, Result};

/// A running mean of maps of one shape.
#[derive(Debug, Clone, Default)]
pub struct MapAverage {
    sum: Vec<f64>,
    dims: Vec<usize>,
    count: usize,
}

impl MapAverage {
    /// Whether a map of `len` values shaped `dims` can join: every map has the first one's shape.
    pub fn check(&self, len: usize, dims: &[usize]) -> Result<()> {
        if self.count > 0 && (dims != self.dims.as_slice() || len != self.sum.len()) {
            return Err(Error::Settings(format!(
                "a map of shape {dims:?} cannot join the average of maps of shape {:?}",
                self.dims
            )));
        }
        Ok(())
    }

    /// Adds one map; every map must have the first one's shape.
    pub fn push(&mut self, map: &[f32], dims: &[usize]) -> Result<()> {
        self.check(map.len(), dims)?;
        if self.count == 0 {
            self.sum = vec![0.0; map.len()];
            self.dims = dims.to_vec();
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

/// The mean deletion and insertion areas of the images explained for one class.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassFaithfulness {
    /// The class explained.
    pub class: usize,
    pub images: usize,
    pub deletion_auc: f64,
    pub insertion_auc: f64,
}

/// Many images' maps, their running mean (raw, and as shown: one value per pixel in [0, 1])
/// and their faithfulness areas per class explained.
#[derive(Debug, Clone, Default)]
pub struct ClassMaps {
    /// The raw maps' mean (the model's layout: what `.npy` holds).
    pub raw: MapAverage,
    /// The mean of the maps as shown (channels reduced, each map normalised).
    pub shown: MapAverage,
    /// `(class, images, deletion sum, insertion sum)`, in the order classes first appear.
    areas: Vec<(usize, usize, f64, f64)>,
}

impl ClassMaps {
    /// Adds one image's map: `raw` in the model's layout (`dims`), `shown` one value per pixel,
    /// and the areas under its deletion and insertion curves for `class`.
    pub fn push(
        &mut self,
        raw: &[f32],
        dims: &[usize],
        shown: &[f32],
        class: usize,
        (deletion, insertion): (f64, f64),
    ) -> Result<()> {
        self.shown.check(shown.len(), &[shown.len()])?;
        self.raw.push(raw, dims)?;
        self.shown.push(shown, &[shown.len()])?;
        match self.areas.iter_mut().find(|a| a.0 == class) {
            Some(a) => {
                a.1 += 1;
                a.2 += deletion;
                a.3 += insertion;
            }
            None => self.areas.push((class, 1, deletion, insertion)),
        }
        Ok(())
    }

    pub fn count(&self) -> usize {
        self.raw.count()
    }

    /// The mean areas of each class explained, in the order classes first appeared.
    pub fn faithfulness(&self) -> Vec<ClassFaithfulness> {
        self.areas
            .iter()
            .map(|&(class, images, deletion, insertion)| ClassFaithfulness {
                class,
                images,
                deletion_auc: deletion / images as f64,
                insertion_auc: insertion / images as f64,
            })
            .collect()
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

    #[test]
    fn class_maps_average_the_maps_and_the_areas_of_each_class() {
        let mut maps = ClassMaps::default();
        maps.push(&[1.0, 3.0], &[1, 2], &[0.0, 1.0], 4, (0.2, 0.8))
            .expect("ok");
        maps.push(&[3.0, 5.0], &[1, 2], &[1.0, 0.0], 4, (0.4, 0.6))
            .expect("ok");
        maps.push(&[2.0, 1.0], &[1, 2], &[0.5, 0.5], 1, (0.1, 0.9))
            .expect("ok");
        assert_eq!(maps.count(), 3);
        assert_eq!(maps.raw.mean(), vec![2.0, 3.0]);
        assert_eq!(maps.shown.mean(), vec![0.5, 0.5]);
        let areas = maps.faithfulness();
        assert_eq!(areas.len(), 2);
        assert_eq!((areas[0].class, areas[0].images), (4, 2));
        assert!((areas[0].deletion_auc - 0.3).abs() < 1e-12);
        assert!((areas[0].insertion_auc - 0.7).abs() < 1e-12);
        assert_eq!((areas[1].class, areas[1].images), (1, 1));
        // A map of another shape is refused and changes nothing.
        assert!(maps.push(&[1.0], &[1, 1], &[1.0], 4, (0.0, 0.0)).is_err());
        assert_eq!(maps.count(), 3);
    }
}
