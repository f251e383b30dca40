//! Predictions over a labelled set, accumulated from host logits batch by batch.

use serde::{Deserialize, Serialize};

use crate::data::Skipped;
use crate::model::softmax;

/// One image's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileResult {
    pub path: String,
    /// True model class.
    pub label: usize,
    /// Predicted model class (the first maximum of the scores).
    pub pred: usize,
    /// Softmax probability of the predicted class.
    pub score: f32,
}

/// The growing result of evaluating a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// One name per model class.
    pub classes: Vec<String>,
    pub files: Vec<FileResult>,
    /// `confusion[true][pred]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Images left out because they could not be read or decoded.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

impl Evaluation {
    pub fn new(classes: Vec<String>) -> Self {
        let k = classes.len();
        Self {
            classes,
            files: Vec::new(),
            confusion: vec![vec![0; k]; k],
            skipped: Vec::new(),
        }
    }

    /// Adds one image with its true class and its scores (one per class).
    pub fn add(&mut self, path: &str, label: usize, logits: &[f32]) {
        let pred = argmax(logits);
        let score = softmax(logits).get(pred).copied().unwrap_or(0.0);
        if let Some(row) = self.confusion.get_mut(label)
            && let Some(cell) = row.get_mut(pred)
        {
            *cell += 1;
        }
        self.files.push(FileResult {
            path: path.to_string(),
            label,
            pred,
            score,
        });
    }

    /// Adds the images of `other` (the next part of the same set, same classes) after these.
    pub fn append(&mut self, other: Evaluation) {
        for (row, other_row) in self.confusion.iter_mut().zip(&other.confusion) {
            for (cell, n) in row.iter_mut().zip(other_row) {
                *cell += n;
            }
        }
        self.files.extend(other.files);
        self.skipped.extend(other.skipped);
    }

    /// Fraction of images predicted right (0 for an empty set).
    pub fn accuracy(&self) -> f64 {
        let right = self.files.iter().filter(|f| f.label == f.pred).count();
        right as f64 / self.files.len().max(1) as f64
    }

    /// Per true class: the fraction predicted right (recall); `None` for a class with no images.
    pub fn per_class(&self) -> Vec<Option<f64>> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(k, row)| {
                let total: usize = row.iter().sum();
                (total > 0).then(|| row[k] as f64 / total as f64)
            })
            .collect()
    }

    /// `(class, accuracy)` of the classes with images, worst first (ties keep class order): the
    /// order a user reads them in.
    pub fn per_class_worst_first(&self) -> Vec<(usize, f64)> {
        let mut rows: Vec<(usize, f64)> = self
            .per_class()
            .iter()
            .enumerate()
            .filter_map(|(k, a)| a.map(|a| (k, a)))
            .collect();
        rows.sort_by(|a, b| a.1.total_cmp(&b.1));
        rows
    }

    /// The confusion matrix with each true-class row divided by its total (rows of a class
    /// without images stay zero).
    pub fn confusion_normalised(&self) -> Vec<Vec<f64>> {
        self.confusion
            .iter()
            .map(|row| {
                let total = row.iter().sum::<usize>().max(1) as f64;
                row.iter().map(|&c| c as f64 / total).collect()
            })
            .collect()
    }

    /// The images of true class `truth` predicted as `pred`, in set order.
    pub fn cell(&self, truth: usize, pred: usize) -> impl Iterator<Item = &FileResult> {
        self.files
            .iter()
            .filter(move |f| f.label == truth && f.pred == pred)
    }
}

/// Index of the first maximum (NaN never wins).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_per_class_and_confusion_add_up() {
        let mut e = Evaluation::new(vec!["a".into(), "b".into(), "c".into()]);
        e.add("a/1.png", 0, &[2.0, 1.0, 0.0]);
        e.add("a/2.png", 0, &[0.0, 3.0, 0.0]);
        e.add("b/1.png", 1, &[0.0, 3.0, 0.0]);
        assert_eq!(
            e.confusion,
            vec![vec![1, 1, 0], vec![0, 1, 0], vec![0, 0, 0]]
        );
        assert!((e.accuracy() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(e.per_class(), vec![Some(0.5), Some(1.0), None]);
        assert_eq!(e.per_class_worst_first(), vec![(0, 0.5), (1, 1.0)]);
        assert_eq!(e.confusion_normalised()[0], vec![0.5, 0.5, 0.0]);
        assert_eq!(e.cell(0, 1).count(), 1);
    }

    #[test]
    fn parts_appended_in_order_equal_the_whole() {
        let names = || vec!["a".to_string(), "b".to_string()];
        let images: [(&str, usize, [f32; 2]); 3] = [
            ("a/1.png", 0, [2.0, 1.0]),
            ("b/1.png", 1, [2.0, 1.0]),
            ("b/2.png", 1, [0.0, 1.0]),
        ];
        let mut whole = Evaluation::new(names());
        let (mut first, mut second) = (Evaluation::new(names()), Evaluation::new(names()));
        for (i, (path, label, logits)) in images.iter().enumerate() {
            whole.add(path, *label, logits);
            let part = if i < 1 { &mut first } else { &mut second };
            part.add(path, *label, logits);
        }
        first.append(second);
        assert_eq!(first, whole);
    }

    #[test]
    fn ties_go_to_the_first_class() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.0]), 1);
    }
}
