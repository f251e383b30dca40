//! UMAP (McInnes, Healy & Melville 2018) with umap-learn's defaults and choices: the
//! `n_neighbors` nearest neighbours of each point (itself first), each point's distance to its
//! nearest neighbour `rho` and a bandwidth `sigma` found by bisection so the weights sum to
//! `log2(n_neighbors)`; the fuzzy union `A + Aᵀ − A∘Aᵀ`; edges lighter than `max / n_epochs`
//! dropped; a start from the first two principal components scaled into [0, 10]; then
//! stochastic gradient descent over the edges, each sampled in proportion to its weight, with 5
//! negative samples per positive one, `a`, `b` fitted to `min_dist` 0.1 and a learning rate
//! falling linearly from 1. 500 epochs up to 10,000 points, 200 above.
//!
//! The neighbours are found exactly, a block of rows per [`UmapRun::advance`] (so a worker can
//! answer other requests, report progress and stop in between), from dot products
//! (`|x|² + |y|² − 2 x·y`: one matrix product per block through the engine's gemm kernels); the
//! epochs follow. Host code:
//! it runs the same natively and in the browser's worker.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// umap-learn's `a` and `b` for `min_dist` 0.1, `spread` 1 (its `find_ab_params`).
const A: f64 = 1.576_943_460_405_378;
const B: f64 = 0.895_060_878_160_284_3;
/// Rows of the neighbour search per step.
const ROWS_PER_STEP: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UmapSettings {
    /// Neighbours of each point, itself included (umap-learn's `n_neighbors`).
    pub neighbours: usize,
    /// `None`: 500 up to 10,000 points, 200 above (umap-learn's choice).
    pub epochs: Option<usize>,
    pub negative_samples: usize,
    pub seed: u64,
}

impl Default for UmapSettings {
    fn default() -> Self {
        Self {
            neighbours: 15,
            epochs: None,
            negative_samples: 5,
            seed: 0,
        }
    }
}

/// Each point's nearest neighbours (itself first) and their euclidean distances, `k` per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    pub k: usize,
    pub indices: Vec<usize>,
    pub distances: Vec<f32>,
}

/// Where a run is: finding neighbours (rows done), or laying out (epochs done).
enum Phase {
    Neighbours { next_row: usize },
    Layout(Box<Layout>),
}

/// The layout's state: the graph's edges, their sampling schedule and the points.
struct Layout {
    heads: Vec<usize>,
    tails: Vec<usize>,
    epochs_per_sample: Vec<f64>,
    next_sample: Vec<f64>,
    next_negative: Vec<f64>,
    y: Vec<[f64; 2]>,
    epoch: usize,
    rng: Rng,
}

/// A UMAP embedding under way, advanced a slice at a time.
pub struct UmapRun {
    x: Vec<f32>,
    norms: Vec<f32>,
    n: usize,
    d: usize,
    settings: UmapSettings,
    epochs: usize,
    neighbours: Neighbours,
    phase: Phase,
    /// The dot products of one block of rows (reused from step to step).
    scratch: Vec<f32>,
}

/// xorshift64*, seeded: UMAP's negative samples.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

impl UmapRun {
    /// Checks the input; the neighbour search starts with the first [`UmapRun::advance`].
    pub fn new(x: &[f32], n: usize, d: usize, settings: &UmapSettings) -> Result<Self> {
        if n < 4 || d == 0 || x.len() != n * d {
            return Err(Error::Settings(format!(
                "UMAP needs at least 4 points of equal length (got {n} points, {} values)",
                x.len()
            )));
        }
        if settings.neighbours < 2 || settings.neighbours > n {
            return Err(Error::Settings(format!(
                "UMAP's neighbours must be between 2 and the number of points ({n}); got {}",
                settings.neighbours
            )));
        }
        if let Some(at) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::Settings(format!(
                "the features contain NaN or infinite values (point {}); a map of them would \
                 mean nothing. The model's activations at this layer are not finite: check its \
                 weights and the preprocessing",
                at / d
            )));
        }
        let epochs = settings
            .epochs
            .unwrap_or(if n <= 10_000 { 500 } else { 200 })
            .max(1);
        let norms = x.chunks(d).map(|r| r.iter().map(|v| v * v).sum()).collect();
        let k = settings.neighbours;
        Ok(Self {
            x: x.to_vec(),
            norms,
            n,
            d,
            settings: settings.clone(),
            epochs,
            neighbours: Neighbours {
                k,
                indices: vec![0; n * k],
                distances: vec![0.0; n * k],
            },
            phase: Phase::Neighbours { next_row: 0 },
            scratch: Vec::new(),
        })
    }

    /// Steps in all: a step per block of rows of the neighbour search, then one per epoch.
    pub fn total_steps(&self) -> usize {
        self.n.div_ceil(ROWS_PER_STEP) + self.epochs
    }

    pub fn steps_done(&self) -> usize {
        match &self.phase {
            Phase::Neighbours { next_row } => next_row.div_ceil(ROWS_PER_STEP),
            Phase::Layout(l) => self.n.div_ceil(ROWS_PER_STEP) + l.epoch,
        }
    }

    pub fn is_done(&self) -> bool {
        self.steps_done() >= self.total_steps()
    }

    /// Runs up to `steps` more steps.
    pub fn advance(&mut self, steps: usize) {
        for _ in 0..steps {
            match &mut self.phase {
                Phase::Neighbours { next_row } => {
                    let start = *next_row;
                    let end = (start + ROWS_PER_STEP).min(self.n);
                    self.neighbour_rows(start, end);
                    self.phase = if end < self.n {
                        Phase::Neighbours { next_row: end }
                    } else {
                        self.scratch = Vec::new();
                        Phase::Layout(Box::new(self.layout_start()))
                    };
                }
                Phase::Layout(layout) => {
                    if layout.epoch >= self.epochs {
                        return;
                    }
                    layout.epoch(self.epochs, self.settings.negative_samples);
                }
            }
        }
    }

    /// The exact neighbours of rows `start..end`.
    fn neighbour_rows(&mut self, start: usize, end: usize) {
        let (n, d, k) = (self.n, self.d, self.neighbours.k);
        let mut dots = std::mem::take(&mut self.scratch);
        dots.resize((end - start) * n, 0.0);
        block_dots(&self.x, n, d, start, end, &mut dots);
        // The k nearest so far, nearest first: a candidate farther than the last is dropped at
        // once, so a row costs one comparison per point, not a sort.
        let mut nearest: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
        for (i, block) in (start..end).zip(dots.chunks(n)) {
            nearest.clear();
            for (j, &dot) in block.iter().enumerate() {
                // Itself first (below every distance), then the nearest others; ties by index.
                let sq = if i == j {
                    -1.0
                } else {
                    (self.norms[i] + self.norms[j] - 2.0 * dot).max(0.0)
                };
                if nearest.len() == k && sq >= nearest[k - 1].0 {
                    continue;
                }
                let at = nearest.partition_point(|&(d, _)| d <= sq);
                nearest.insert(at, (sq, j));
                nearest.truncate(k);
            }
            for (c, &(sq, j)) in nearest.iter().enumerate() {
                self.neighbours.indices[i * k + c] = j;
                self.neighbours.distances[i * k + c] = sq.max(0.0).sqrt();
            }
        }
        self.scratch = dots;
    }

    /// The fuzzy graph, its edges' sampling schedule and the start of the layout.
    fn layout_start(&self) -> Layout {
        let (n, k) = (self.n, self.neighbours.k);
        // Each point's membership strengths to its neighbours (umap-learn's smooth_knn_dist).
        let mut weights: Vec<std::collections::HashMap<usize, f64>> = vec![Default::default(); n];
        let mean_all = self
            .neighbours
            .distances
            .iter()
            .map(|&v| f64::from(v))
            .sum::<f64>()
            / (n * k) as f64;
        for (i, row) in weights.iter_mut().enumerate() {
            let dist: Vec<f64> = self.neighbours.distances[i * k + 1..(i + 1) * k]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let (rho, sigma) = smooth_distance(&dist, k, mean_all);
            for (c, &dj) in dist.iter().enumerate() {
                let j = self.neighbours.indices[i * k + 1 + c];
                let w = if dj - rho <= 0.0 || sigma == 0.0 {
                    1.0
                } else {
                    (-(dj - rho) / sigma).exp()
                };
                row.insert(j, w);
            }
        }
        // Fuzzy union: w_ij + w_ji - w_ij w_ji.
        let mut edges: Vec<(usize, usize, f64)> = Vec::new();
        for i in 0..n {
            for (&j, &w) in &weights[i] {
                let back = weights[j].get(&i).copied().unwrap_or(0.0);
                edges.push((i, j, w + back - w * back));
                if back == 0.0 {
                    // The edge back exists only through this one.
                    edges.push((j, i, w));
                }
            }
        }
        edges.sort_by_key(|e| (e.0, e.1));
        edges.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let max = edges.iter().map(|e| e.2).fold(0.0, f64::max);
        edges.retain(|e| e.2 >= max / self.epochs as f64);
        let epochs_per_sample: Vec<f64> = edges
            .iter()
            .map(|e| self.epochs as f64 / (self.epochs as f64 * e.2 / max))
            .collect();
        let negative_rate = self.settings.negative_samples.max(1) as f64;
        Layout {
            heads: edges.iter().map(|e| e.0).collect(),
            tails: edges.iter().map(|e| e.1).collect(),
            next_sample: epochs_per_sample.clone(),
            next_negative: epochs_per_sample
                .iter()
                .map(|e| e / negative_rate)
                .collect(),
            epochs_per_sample,
            y: self.pca_start(),
            epoch: 0,
            rng: Rng(self.settings.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
        }
    }

    /// The first two principal components, each scaled into [0, 10] (umap-learn's start after
    /// its initialisation).
    fn pca_start(&self) -> Vec<[f64; 2]> {
        let x: Vec<f64> = self.x.iter().map(|&v| f64::from(v)).collect();
        let mut rng = Rng(self.settings.seed.wrapping_add(7) | 1);
        let mut y = super::pca::project(&x, self.n, self.d, &mut || {
            (rng.next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        });
        for c in 0..2 {
            let lo = y.iter().map(|p| p[c]).fold(f64::INFINITY, f64::min);
            let hi = y.iter().map(|p| p[c]).fold(f64::NEG_INFINITY, f64::max);
            let span = (hi - lo).max(1e-12);
            for p in &mut y {
                p[c] = 10.0 * (p[c] - lo) / span;
            }
        }
        y
    }

    /// The neighbours found (complete once the layout has started).
    pub fn neighbours(&self) -> &Neighbours {
        &self.neighbours
    }

    /// The embedding as it stands (`None` before the neighbour search ends).
    pub fn points(&self) -> Option<&[[f64; 2]]> {
        match &self.phase {
            Phase::Layout(l) => Some(&l.y),
            Phase::Neighbours { .. } => None,
        }
    }
}

/// A point's distance to its nearest neighbour and the bandwidth that makes its weights sum to
/// `log2(k)` (umap-learn's `smooth_knn_dist`: 64 bisection steps, tolerance 1e-5, the bandwidth
/// at least 1e-3 of the mean distance).
fn smooth_distance(distances: &[f64], k: usize, mean_all: f64) -> (f64, f64) {
    let target = (k as f64).log2();
    let rho = distances.iter().copied().find(|&v| v > 0.0).unwrap_or(0.0);
    let (mut lo, mut hi, mut mid) = (0.0f64, f64::INFINITY, 1.0f64);
    for _ in 0..64 {
        let sum: f64 = distances
            .iter()
            .map(|&dj| {
                let e = dj - rho;
                if e > 0.0 { (-e / mid).exp() } else { 1.0 }
            })
            .sum();
        if (sum - target).abs() < 1e-5 {
            break;
        }
        if sum > target {
            hi = mid;
            mid = (lo + hi) / 2.0;
        } else {
            lo = mid;
            mid = if hi.is_infinite() {
                mid * 2.0
            } else {
                (lo + hi) / 2.0
            };
        }
    }
    let mean = distances.iter().sum::<f64>() / distances.len().max(1) as f64;
    let floor = 1e-3 * if rho > 0.0 { mean } else { mean_all };
    (rho, mid.max(floor))
}

/// The dot products of rows `start..end` of `x` (`n × d`) with every row, row after row into
/// `out`: one matrix product through the engine's gemm kernels (AVX-512/AVX2 natively, simd128
/// in wasm).
#[cfg(feature = "engine")]
fn block_dots(x: &[f32], n: usize, d: usize, start: usize, end: usize, out: &mut [f32]) {
    use crate::cpu::gemm::{Mat, SharedOut, Tile};
    let rows = end - start;
    let lhs = Mat::rows(x, start * d, rows, d, d);
    // Xᵀ: `d × n`, element (c, j) at `j·d + c`.
    let rhs = Mat {
        data: x,
        rows: d,
        cols: n,
        row_stride: 1,
        col_stride: d,
    };
    Tile::new(SharedOut::new(out), 0, rows, n, n).matmul(lhs, rhs, false);
}

/// [`block_dots`] without the engine: a dot product per pair.
#[cfg(not(feature = "engine"))]
fn block_dots(x: &[f32], n: usize, d: usize, start: usize, end: usize, out: &mut [f32]) {
    for (i, block) in (start..end).zip(out.chunks_mut(n)) {
        let xi = &x[i * d..(i + 1) * d];
        for (slot, xj) in block.iter_mut().zip(x.chunks(d)) {
            *slot = dot(xi, xj);
        }
    }
}

/// A dot product in eight lanes, so that it vectorises (SSE/AVX natively, simd128 in wasm).
#[cfg(not(feature = "engine"))]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (head_a, head_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = head_a
        .remainder()
        .iter()
        .zip(head_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in head_a.zip(head_b) {
        for l in 0..8 {
            lanes[l] += ca[l] * cb[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `dist^B` in single precision (umap-learn's layout is float32 too): the layout's costliest
/// call, twice as fast as in double.
fn pow_b(dist: f64) -> f64 {
    f64::from((dist as f32).powf(B as f32))
}

fn clip(v: f64) -> f64 {
    v.clamp(-4.0, 4.0)
}

impl Layout {
    /// One epoch of umap-learn's `optimize_layout_euclidean` (both ends of an edge move).
    fn epoch(&mut self, epochs: usize, negative_samples: usize) {
        let n = self.y.len();
        let e = self.epoch as f64;
        let alpha = 1.0 - e / epochs as f64;
        let negative_rate = negative_samples.max(1) as f64;
        for edge in 0..self.heads.len() {
            if self.next_sample[edge] > e {
                continue;
            }
            let (h, t) = (self.heads[edge], self.tails[edge]);
            let (cur, oth) = (self.y[h], self.y[t]);
            let dist = (cur[0] - oth[0]).powi(2) + (cur[1] - oth[1]).powi(2);
            let coeff = if dist > 0.0 {
                let pow_b = pow_b(dist);
                -2.0 * A * B * (pow_b / dist) / (A * pow_b + 1.0)
            } else {
                0.0
            };
            for c in 0..2 {
                let g = clip(coeff * (cur[c] - oth[c])) * alpha;
                self.y[h][c] += g;
                self.y[t][c] -= g;
            }
            self.next_sample[edge] += self.epochs_per_sample[edge];
            let per_negative = self.epochs_per_sample[edge] / negative_rate;
            let count = ((e - self.next_negative[edge]) / per_negative)
                .floor()
                .max(0.0) as usize;
            for _ in 0..count {
                let other = self.rng.below(n);
                let (cur, oth) = (self.y[h], self.y[other]);
                let dist = (cur[0] - oth[0]).powi(2) + (cur[1] - oth[1]).powi(2);
                let coeff = if dist > 0.0 {
                    2.0 * B / ((0.001 + dist) * (A * pow_b(dist) + 1.0))
                } else if h == other {
                    continue;
                } else {
                    0.0
                };
                for c in 0..2 {
                    let g = if coeff > 0.0 {
                        clip(coeff * (cur[c] - oth[c]))
                    } else {
                        4.0
                    };
                    self.y[h][c] += g * alpha;
                }
            }
            self.next_negative[edge] += count as f64 * per_negative;
        }
        self.epoch += 1;
    }
}

/// The embedding of the `n × d` rows of `x`, in one go (the CLI; the worker steps a
/// [`UmapRun`]).
pub fn umap(x: &[f32], n: usize, d: usize, settings: &UmapSettings) -> Result<Vec<[f64; 2]>> {
    let mut run = UmapRun::new(x, n, d, settings)?;
    run.advance(run.total_steps());
    run.points()
        .map(<[[f64; 2]]>::to_vec)
        .ok_or_else(|| Error::Settings("UMAP did not finish".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated clusters of 40 points in 8 dimensions.
    fn clusters() -> (Vec<f32>, usize, usize) {
        let (n, d) = (120, 8);
        let mut rng = Rng(3);
        let mut x = Vec::with_capacity(n * d);
        for i in 0..n {
            for c in 0..d {
                let centre = if c == i % 3 { 20.0 } else { 0.0 };
                x.push(centre + ((rng.next() >> 11) as f64 / (1u64 << 53) as f64) as f32);
            }
        }
        (x, n, d)
    }

    #[test]
    fn neighbours_are_exact_with_each_point_first() {
        let (x, n, d) = clusters();
        let mut run = UmapRun::new(&x, n, d, &UmapSettings::default()).expect("ok");
        run.advance(n.div_ceil(ROWS_PER_STEP));
        let nb = run.neighbours();
        for i in [0, 57, 119] {
            assert_eq!(nb.indices[i * 15], i);
            assert_eq!(nb.distances[i * 15], 0.0);
            // The brute-force answer, in f64.
            let mut all: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let s: f64 = (0..d)
                        .map(|c| f64::from(x[i * d + c] - x[j * d + c]).powi(2))
                        .sum();
                    (s.sqrt(), j)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            for c in 1..15 {
                assert!(
                    (f64::from(nb.distances[i * 15 + c]) - all[c - 1].0).abs() < 1e-3,
                    "row {i}, neighbour {c}"
                );
            }
        }
    }

    #[test]
    fn clusters_stay_apart_and_the_run_is_reproducible() {
        let (x, n, d) = clusters();
        let settings = UmapSettings {
            epochs: Some(200),
            ..UmapSettings::default()
        };
        let y = umap(&x, n, d, &settings).expect("ok");
        assert_eq!(
            y,
            umap(&x, n, d, &settings).expect("ok"),
            "same seed, same map"
        );
        // Each point's nearest point in the map is of its own cluster.
        for i in 0..n {
            let nearest = (0..n)
                .filter(|&j| j != i)
                .min_by(|&a, &b| {
                    let da = (y[i][0] - y[a][0]).powi(2) + (y[i][1] - y[a][1]).powi(2);
                    let db = (y[i][0] - y[b][0]).powi(2) + (y[i][1] - y[b][1]).powi(2);
                    da.total_cmp(&db)
                })
                .expect("a neighbour");
            assert_eq!(nearest % 3, i % 3, "point {i}");
        }
        assert!(y.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
    }

    #[test]
    fn bad_input_is_refused_with_what_is_wrong() {
        let settings = UmapSettings::default();
        assert!(UmapRun::new(&[0.0; 6], 3, 2, &settings).is_err());
        assert!(UmapRun::new(&[0.0; 10], 5, 3, &settings).is_err());
        let mut x = vec![0.0f32; 40];
        x[7] = f32::NAN;
        let err = UmapRun::new(&x, 20, 2, &settings)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("NaN"), "{err}");
        let few = UmapSettings {
            neighbours: 30,
            ..settings
        };
        assert!(UmapRun::new(&[0.0f32; 40], 20, 2, &few).is_err());
    }
}
