//! Hints of label problems in a labelled set, found from what the model says of it:
//! **confidently wrong** images (the model gives a high probability to a class other than the
//! folder's: often a mislabelled image, sometimes a model error worth seeing), and
//! **near-duplicates** (two images whose penultimate-layer features point the same way: the same
//! picture twice, perhaps under two labels, or leaking between splits).
//!
//! Both stream: images arrive a batch at a time. The duplicate finder keeps each image's unit
//! feature vector (n x d floats: 10,000 images of 128 features are 5 MB) and at most
//! `max_pairs` pairs, the most similar, in a heap.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use super::evaluation::Evaluation;

/// An image the model puts in another class than its folder's, with confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidentlyWrong {
    pub path: String,
    pub label: usize,
    pub predicted: usize,
    /// Softmax probability of the predicted class.
    pub probability: f32,
}

/// The wrongly predicted images with a probability of at least `min_probability`, most
/// confident first (ties in set order).
pub fn confidently_wrong(evaluation: &Evaluation, min_probability: f32) -> Vec<ConfidentlyWrong> {
    let mut wrong: Vec<ConfidentlyWrong> = evaluation
        .files
        .iter()
        .filter(|f| f.pred != f.label && f.score >= min_probability)
        .map(|f| ConfidentlyWrong {
            path: f.path.clone(),
            label: f.label,
            predicted: f.pred,
            probability: f.score,
        })
        .collect();
    wrong.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    wrong
}

/// Two images whose features have a cosine similarity of at least the finder's threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearDuplicate {
    pub a: String,
    pub b: String,
    pub similarity: f32,
}

/// A pair in the heap, ordered so that the least similar is on top (to be dropped first).
#[derive(Debug, PartialEq)]
struct Pair {
    similarity: f32,
    a: usize,
    b: usize,
}

impl Eq for Pair {}

impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .similarity
            .total_cmp(&self.similarity)
            .then((self.a, self.b).cmp(&(other.a, other.b)))
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Adds `pair` to the heap of at most `max_pairs`, dropping the least similar.
fn keep(pairs: &mut BinaryHeap<Pair>, max_pairs: usize, pair: Pair) {
    if max_pairs == 0 {
        return;
    }
    if pairs.len() < max_pairs {
        pairs.push(pair);
    } else if pairs
        .peek()
        .is_some_and(|least| pair.similarity > least.similarity)
    {
        pairs.pop();
        pairs.push(pair);
    }
}

/// Finds near-duplicate pairs among images fed one at a time.
pub struct DuplicateFinder {
    threshold: f32,
    max_pairs: usize,
    dim: Option<usize>,
    /// Unit feature vectors, one after another.
    units: Vec<f32>,
    paths: Vec<String>,
    pairs: BinaryHeap<Pair>,
}

impl DuplicateFinder {
    pub fn new(threshold: f32, max_pairs: usize) -> Self {
        Self {
            threshold,
            max_pairs,
            dim: None,
            units: Vec::new(),
            paths: Vec::new(),
            pairs: BinaryHeap::new(),
        }
    }

    /// Adds one image's features; compares them with every image before it. An all-zero
    /// vector has no direction and matches nothing.
    pub fn push(&mut self, path: &str, features: &[f32]) -> crate::Result<()> {
        let dim = *self.dim.get_or_insert(features.len());
        if features.len() != dim {
            return Err(crate::Error::Settings(format!(
                "'{path}' has {} features, the images before it {dim}",
                features.len()
            )));
        }
        let norm = features
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        let unit: Vec<f32> = if norm > 0.0 {
            features
                .iter()
                .map(|&v| (f64::from(v) / norm) as f32)
                .collect()
        } else {
            vec![0.0; dim]
        };
        let b = self.paths.len();
        if norm > 0.0 && dim > 0 {
            for (a, other) in self.units.chunks(dim).enumerate() {
                let similarity: f32 = other.iter().zip(&unit).map(|(x, y)| x * y).sum();
                if similarity >= self.threshold {
                    keep(&mut self.pairs, self.max_pairs, Pair { similarity, a, b });
                }
            }
        }
        self.units.extend(unit);
        self.paths.push(path.to_string());
        Ok(())
    }

    /// The pairs found, most similar first (ties by the earlier images).
    pub fn finish(self) -> Vec<NearDuplicate> {
        let paths = self.paths;
        let mut pairs = self.pairs.into_vec();
        pairs.sort();
        pairs
            .into_iter()
            .map(|p| NearDuplicate {
                a: paths[p.a].clone(),
                b: paths[p.b].clone(),
                similarity: p.similarity,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_confident_mistakes_come_first() {
        let mut e = Evaluation::new(vec!["cat".into(), "dog".into()]);
        e.add("right.png", 0, &[3.0, 0.0]);
        e.add("unsure.png", 0, &[0.0, 0.1]);
        e.add("sure.png", 0, &[0.0, 5.0]);
        let wrong = confidently_wrong(&e, 0.0);
        let paths: Vec<&str> = wrong.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(paths, ["sure.png", "unsure.png"]);
        assert_eq!(wrong[0].predicted, 1);
        assert_eq!(confidently_wrong(&e, 0.9).len(), 1);
    }

    #[test]
    fn duplicates_are_found_ranked_and_bounded() {
        let mut f = DuplicateFinder::new(0.95, 2);
        f.push("a", &[1.0, 0.0, 0.0]).expect("ok");
        f.push("b", &[0.0, 1.0, 0.0]).expect("ok");
        f.push("a_copy", &[2.0, 0.0, 0.0]).expect("ok"); // same direction: 1.0
        f.push("b_near", &[0.0, 1.0, 0.2]).expect("ok"); // cos = 0.98
        f.push("zero", &[0.0, 0.0, 0.0]).expect("ok");
        f.push("c_near", &[0.1, 1.0, 0.25]).expect("ok"); // 0.966 with b, 0.994 with b_near
        assert!(f.push("short", &[1.0]).is_err());
        let pairs = f.finish();
        let names: Vec<(&str, &str)> = pairs.iter().map(|p| (p.a.as_str(), p.b.as_str())).collect();
        // At most two: the two most similar.
        assert_eq!(names, [("a", "a_copy"), ("b_near", "c_near")]);
        assert!((pairs[0].similarity - 1.0).abs() < 1e-6);
    }
}
