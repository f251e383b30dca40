//! t-SNE (van der Maaten & Hinton 2008) with the choices of today's reference implementations
//! (openTSNE, scikit-learn): perplexity-calibrated Gaussian affinities, symmetrised; PCA
//! initialisation scaled to a standard deviation of 1e-4; early exaggeration 12 for 250
//! iterations with momentum 0.5, then 500 iterations with momentum 0.8; gains (delta-bar-delta);
//! learning rate `max(N / 12, 50)`.
//!
//! Small sets (≤ [`EXACT_LIMIT`] points) use every pair (exact P and gradient). Larger ones use
//! affinities over the `3 · perplexity` nearest neighbours and a Barnes-Hut quadtree for the
//! repulsive forces (θ = 0.5), O(N log N) per iteration.
//!
//! Host code (no tensors): it runs the same natively and in the browser's worker.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::explain::{Progress, step};

/// Up to this many points, t-SNE is exact.
pub const EXACT_LIMIT: usize = 2000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TsneSettings {
    pub perplexity: f64,
    pub seed: u64,
    pub early_exaggeration: f64,
    pub early_iterations: usize,
    pub iterations: usize,
    pub method: TsneMethod,
}

/// Exact or Barnes-Hut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TsneMethod {
    /// Exact up to [`EXACT_LIMIT`] points, Barnes-Hut above.
    #[default]
    Auto,
    Exact,
    BarnesHut,
}

impl Default for TsneSettings {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            seed: 0,
            early_exaggeration: 12.0,
            early_iterations: 250,
            iterations: 500,
            method: TsneMethod::Auto,
        }
    }
}

/// The result: `n × 2` coordinates (row-major) and the final KL divergence of its P and Q.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    pub points: Vec<[f64; 2]>,
    pub kl: f64,
    pub exact: bool,
}

/// Squared euclidean distances between rows of `x` (`n × d`).
fn squared_distances(x: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let s: f64 = (0..d).map(|k| (x[i * d + k] - x[j * d + k]).powi(2)).sum();
            out[i * n + j] = s;
            out[j * n + i] = s;
        }
    }
    out
}

/// Conditional probabilities of one point from its squared distances to `neighbours`, with the
/// Gaussian's precision found by bisection so the entropy is `ln(perplexity)` (scikit-learn's
/// `_binary_search_perplexity`: tolerance 1e-5, at most 100 steps).
fn conditional_row(distances: &[f64], perplexity: f64) -> Vec<f64> {
    let target = perplexity.ln();
    let (mut beta, mut lo, mut hi) = (1.0f64, f64::NEG_INFINITY, f64::INFINITY);
    let mut p = vec![0.0; distances.len()];
    for _ in 0..100 {
        let mut sum = 0.0;
        for (pj, &dj) in p.iter_mut().zip(distances) {
            *pj = (-dj * beta).exp();
            sum += *pj;
        }
        let sum = sum.max(1e-8);
        let mut weighted = 0.0;
        for (pj, &dj) in p.iter_mut().zip(distances) {
            *pj /= sum;
            weighted += dj * *pj;
        }
        let entropy = sum.ln() + beta * weighted;
        let diff = entropy - target;
        if diff.abs() <= 1e-5 {
            break;
        }
        if diff > 0.0 {
            lo = beta;
            beta = if hi.is_infinite() {
                beta * 2.0
            } else {
                (beta + hi) / 2.0
            };
        } else {
            hi = beta;
            beta = if lo.is_infinite() {
                beta / 2.0
            } else {
                (beta + lo) / 2.0
            };
        }
    }
    p
}

/// Exact joint probabilities over all pairs (`n × n`, symmetric, sums to 1), as scikit-learn's
/// `_joint_probabilities`.
pub fn exact_affinities(x: &[f64], n: usize, d: usize, perplexity: f64) -> Vec<f64> {
    let dist = squared_distances(x, n, d);
    let mut p = vec![0.0; n * n];
    for i in 0..n {
        let others: Vec<f64> = (0..n)
            .filter(|&j| j != i)
            .map(|j| dist[i * n + j])
            .collect();
        let row = conditional_row(&others, perplexity);
        for (k, j) in (0..n).filter(|&j| j != i).enumerate() {
            p[i * n + j] = row[k];
        }
    }
    let mut joint = vec![0.0; n * n];
    let total: f64 = (0..n * n).map(|k| p[k] + p[(k % n) * n + k / n]).sum();
    for i in 0..n {
        for j in 0..n {
            joint[i * n + j] = ((p[i * n + j] + p[j * n + i]) / total).max(f64::MIN_POSITIVE);
        }
        joint[i * n + i] = 0.0;
    }
    joint
}

/// Sparse joint probabilities over each point's `k` nearest neighbours, symmetrised.
fn sparse_affinities(x: &[f64], n: usize, d: usize, perplexity: f64) -> Vec<Vec<(usize, f64)>> {
    let k = ((3.0 * perplexity) as usize).min(n - 1);
    let mut rows: Vec<Vec<(usize, f64)>> = Vec::with_capacity(n);
    for i in 0..n {
        let mut dist: Vec<(f64, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                (
                    (0..d).map(|c| (x[i * d + c] - x[j * d + c]).powi(2)).sum(),
                    j,
                )
            })
            .collect();
        dist.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
        dist.truncate(k);
        let row = conditional_row(&dist.iter().map(|p| p.0).collect::<Vec<_>>(), perplexity);
        rows.push(dist.iter().zip(row).map(|(&(_, j), p)| (j, p)).collect());
    }
    // P_ij = (p_j|i + p_i|j) / 2n.
    let mut sym: Vec<std::collections::HashMap<usize, f64>> = vec![Default::default(); n];
    for (i, row) in rows.iter().enumerate() {
        for &(j, p) in row {
            *sym[i].entry(j).or_default() += p;
            *sym[j].entry(i).or_default() += p;
        }
    }
    sym.into_iter()
        .map(|m| {
            let mut v: Vec<(usize, f64)> = m
                .into_iter()
                .map(|(j, p)| (j, p / (2.0 * n as f64)))
                .collect();
            v.sort_by_key(|e| e.0);
            v
        })
        .collect()
}

/// Seeded standard normals (xorshift + Box-Muller), for the tie-breaking jitter of PCA init.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-300), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// The first two principal components of the rows (`pca.rs`; the power iteration starts from
/// seeded normals), scaled so the first has std 1e-4 (openTSNE's and scikit-learn's start).
fn pca_init(x: &[f64], n: usize, d: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut y = super::pca::project(x, n, d, &mut || rng.normal());
    let std = (y.iter().map(|p| p[0] * p[0]).sum::<f64>() / n as f64)
        .sqrt()
        .max(1e-300);
    for p in &mut y {
        p[0] *= 1e-4 / std;
        p[1] *= 1e-4 / std;
    }
    y
}

/// The embedding of the `n × d` rows of `x`.
pub fn tsne(
    x: &[f32],
    n: usize,
    d: usize,
    settings: &TsneSettings,
    progress: &mut dyn Progress,
) -> Result<Embedding> {
    let mut run = TsneRun::new(x, n, d, settings)?;
    while !run.is_done() {
        run.advance(10);
        step(progress, run.iterations_done(), run.total_iterations())?;
    }
    Ok(run.finish())
}

/// A t-SNE optimisation that can be advanced a few iterations at a time (so the app's worker
/// can take in a Cancel between slices); [`tsne`] runs one to the end.
pub struct TsneRun {
    affinities: Affinities,
    y: Vec<[f64; 2]>,
    velocity: Vec<[f64; 2]>,
    gains: Vec<[f64; 2]>,
    rate: f64,
    settings: TsneSettings,
    done: usize,
    exact: bool,
    scratch: Vec<f64>,
}

impl TsneRun {
    /// Checks the settings, computes the affinities and the PCA start.
    pub fn new(x: &[f32], n: usize, d: usize, settings: &TsneSettings) -> Result<Self> {
        if n < 4 || x.len() != n * d {
            return Err(Error::Settings(format!(
                "t-SNE needs at least 4 points of equal length (got {n} points, {} values)",
                x.len()
            )));
        }
        if !(settings.perplexity > 0.0 && settings.perplexity * 3.0 < n as f64) {
            return Err(Error::Settings(format!(
                "the perplexity must be positive and below a third of the number of points \
                 ({n}); got {}",
                settings.perplexity
            )));
        }
        if let Some(at) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::Settings(format!(
                "the features contain NaN or infinite values (point {}); t-SNE of them would \
                 mean nothing. The model's activations at this layer are not finite: check its \
                 weights and the preprocessing",
                at / d.max(1)
            )));
        }
        let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let exact = match settings.method {
            TsneMethod::Auto => n <= EXACT_LIMIT,
            TsneMethod::Exact => true,
            TsneMethod::BarnesHut => false,
        };
        let affinities = if exact {
            Affinities::Dense(exact_affinities(&x, n, d, settings.perplexity))
        } else {
            Affinities::Sparse(sparse_affinities(&x, n, d, settings.perplexity))
        };
        Ok(Self {
            affinities,
            y: pca_init(&x, n, d, settings.seed),
            velocity: vec![[0.0f64; 2]; n],
            gains: vec![[1.0f64; 2]; n],
            rate: (n as f64 / settings.early_exaggeration).max(50.0),
            settings: settings.clone(),
            done: 0,
            exact,
            scratch: Vec::new(),
        })
    }

    pub fn total_iterations(&self) -> usize {
        self.settings.early_iterations + self.settings.iterations
    }

    pub fn iterations_done(&self) -> usize {
        self.done
    }

    pub fn is_done(&self) -> bool {
        self.done >= self.total_iterations()
    }

    /// Runs up to `iterations` more gradient steps.
    pub fn advance(&mut self, iterations: usize) {
        let n = self.y.len();
        let end = (self.done + iterations).min(self.total_iterations());
        for it in self.done..end {
            let early = it < self.settings.early_iterations;
            let exaggeration = if early {
                self.settings.early_exaggeration
            } else {
                1.0
            };
            let momentum = if early { 0.5 } else { 0.8 };
            let grad = match &self.affinities {
                Affinities::Dense(p) => exact_gradient(p, &self.y, exaggeration, &mut self.scratch),
                Affinities::Sparse(p) => barnes_hut_gradient(p, &self.y, exaggeration, 0.5),
            };
            let points = self
                .y
                .iter_mut()
                .zip(&mut self.velocity)
                .zip(&mut self.gains);
            for (((y, velocity), gains), grad) in points.zip(&grad) {
                for c in 0..2 {
                    let same_sign = (grad[c] > 0.0) == (velocity[c] > 0.0);
                    let gain = &mut gains[c];
                    *gain = if same_sign { *gain * 0.8 } else { *gain + 0.2 };
                    *gain = gain.max(0.01);
                    velocity[c] = momentum * velocity[c] - self.rate * *gain * grad[c];
                    y[c] += velocity[c];
                }
            }
            // Keep the embedding centred.
            let mean = [0, 1].map(|c| self.y.iter().map(|p| p[c]).sum::<f64>() / n as f64);
            for p in &mut self.y {
                p[0] -= mean[0];
                p[1] -= mean[1];
            }
        }
        self.done = end;
    }

    /// The embedding as it stands, with its KL divergence.
    pub fn finish(self) -> Embedding {
        let kl = match &self.affinities {
            Affinities::Dense(p) => kl_divergence(p, &self.y),
            Affinities::Sparse(p) => sparse_kl(p, &self.y),
        };
        Embedding {
            points: self.y,
            kl,
            exact: self.exact,
        }
    }
}

enum Affinities {
    Dense(Vec<f64>),
    Sparse(Vec<Vec<(usize, f64)>>),
}

/// `∂KL/∂y_i = 4 Σ_j (e·p_ij − q_ij) w_ij (y_i − y_j)` with `w = 1 / (1 + |y_i − y_j|²)`.
/// Each pair is visited once per pass (P and W are symmetric); `w` is reused between
/// iterations.
fn exact_gradient(p: &[f64], y: &[[f64; 2]], exaggeration: f64, w: &mut Vec<f64>) -> Vec<[f64; 2]> {
    let n = y.len();
    w.resize(n * n, 0.0);
    let mut z = 0.0;
    for i in 0..n {
        let yi = y[i];
        let row = &mut w[i * n..(i + 1) * n];
        for j in i + 1..n {
            let d = (yi[0] - y[j][0]).powi(2) + (yi[1] - y[j][1]).powi(2);
            let v = 1.0 / (1.0 + d);
            row[j] = v;
            z += 2.0 * v;
        }
    }
    let mut grad = vec![[0.0; 2]; n];
    for i in 0..n {
        let (yi, prow, wrow) = (y[i], &p[i * n..(i + 1) * n], &w[i * n..(i + 1) * n]);
        let mut gi = [0.0; 2];
        for j in i + 1..n {
            let wij = wrow[j];
            let f = 4.0 * (exaggeration * prow[j] - wij / z) * wij;
            let (dx, dy) = (f * (yi[0] - y[j][0]), f * (yi[1] - y[j][1]));
            gi[0] += dx;
            gi[1] += dy;
            grad[j][0] -= dx;
            grad[j][1] -= dy;
        }
        grad[i][0] += gi[0];
        grad[i][1] += gi[1];
    }
    grad
}

/// `Σ_{i≠j} 1 / (1 + |y_i − y_j|²)`, the Student-t Q's normalisation.
fn student_t_sum(y: &[[f64; 2]]) -> f64 {
    let n = y.len();
    let mut z = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            z += 2.0 / (1.0 + (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2));
        }
    }
    z
}

/// KL(P || Q) with the Student-t Q over all pairs of `y`.
pub fn kl_divergence(p: &[f64], y: &[[f64; 2]]) -> f64 {
    let n = y.len();
    let z = student_t_sum(y);
    let mut kl = 0.0;
    for i in 0..n {
        for j in 0..n {
            let pij = p[i * n + j];
            if i != j && pij > 0.0 {
                let q = 1.0 / (1.0 + (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2)) / z;
                kl += pij * (pij / q.max(f64::MIN_POSITIVE)).ln();
            }
        }
    }
    kl
}

fn sparse_kl(p: &[Vec<(usize, f64)>], y: &[[f64; 2]]) -> f64 {
    let z = student_t_sum(y);
    p.iter()
        .enumerate()
        .flat_map(|(i, row)| row.iter().map(move |&(j, pij)| (i, j, pij)))
        .map(|(i, j, pij)| {
            let q = 1.0 / (1.0 + (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2)) / z;
            pij * (pij / q.max(f64::MIN_POSITIVE)).ln()
        })
        .sum()
}

/// A quadtree cell: centre of mass, count, bounds and children.
struct Cell {
    centre: [f64; 2],
    half: f64,
    mass: f64,
    com: [f64; 2],
    point: Option<usize>,
    children: Option<Box<[Cell; 4]>>,
}

impl Cell {
    fn new(centre: [f64; 2], half: f64) -> Self {
        Self {
            centre,
            half,
            mass: 0.0,
            com: [0.0; 2],
            point: None,
            children: None,
        }
    }

    fn insert(&mut self, i: usize, y: &[[f64; 2]], depth: usize) {
        let p = y[i];
        self.com = [
            (self.com[0] * self.mass + p[0]) / (self.mass + 1.0),
            (self.com[1] * self.mass + p[1]) / (self.mass + 1.0),
        ];
        self.mass += 1.0;
        if self.mass == 1.0 {
            self.point = Some(i);
            return;
        }
        if depth > 40 {
            return; // Coincident points: keep them lumped.
        }
        if self.children.is_none() {
            let h = self.half / 2.0;
            let c = self.centre;
            self.children = Some(Box::new([
                Cell::new([c[0] - h, c[1] - h], h),
                Cell::new([c[0] + h, c[1] - h], h),
                Cell::new([c[0] - h, c[1] + h], h),
                Cell::new([c[0] + h, c[1] + h], h),
            ]));
            if let Some(old) = self.point.take() {
                self.child_for(y[old]).insert(old, y, depth + 1);
            }
        }
        self.child_for(p).insert(i, y, depth + 1);
    }

    fn child_for(&mut self, p: [f64; 2]) -> &mut Cell {
        let idx = usize::from(p[0] > self.centre[0]) + 2 * usize::from(p[1] > self.centre[1]);
        &mut self.children.as_mut().expect("children exist")[idx]
    }

    /// Adds the repulsion on point `p` to `force` and `z`.
    fn repulse(&self, p: [f64; 2], theta: f64, force: &mut [f64; 2], z: &mut f64) {
        if self.mass == 0.0 {
            return;
        }
        let (dx, dy) = (p[0] - self.com[0], p[1] - self.com[1]);
        let d2 = dx * dx + dy * dy;
        let is_leaf = self.children.is_none();
        if is_leaf || (2.0 * self.half) / d2.sqrt().max(1e-300) < theta {
            if d2 == 0.0 && is_leaf {
                return; // The point itself (or a duplicate of it).
            }
            let w = 1.0 / (1.0 + d2);
            *z += self.mass * w;
            force[0] += self.mass * w * w * dx;
            force[1] += self.mass * w * w * dy;
            return;
        }
        if let Some(children) = &self.children {
            for c in children.iter() {
                c.repulse(p, theta, force, z);
            }
        }
    }
}

fn barnes_hut_gradient(
    p: &[Vec<(usize, f64)>],
    y: &[[f64; 2]],
    exaggeration: f64,
    theta: f64,
) -> Vec<[f64; 2]> {
    let n = y.len();
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for q in y {
        for c in 0..2 {
            lo[c] = lo[c].min(q[c]);
            hi[c] = hi[c].max(q[c]);
        }
    }
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let half = ((hi[0] - lo[0]).max(hi[1] - lo[1]) / 2.0).max(1e-12) * 1.0001;
    let mut root = Cell::new(centre, half);
    for i in 0..n {
        root.insert(i, y, 0);
    }
    let mut repulsive = vec![[0.0; 2]; n];
    let mut z = 0.0;
    for i in 0..n {
        root.repulse(y[i], theta, &mut repulsive[i], &mut z);
    }
    let mut grad = vec![[0.0; 2]; n];
    for i in 0..n {
        let mut attract = [0.0; 2];
        for &(j, pij) in &p[i] {
            let (dx, dy) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
            let w = 1.0 / (1.0 + dx * dx + dy * dy);
            attract[0] += exaggeration * pij * w * dx;
            attract[1] += exaggeration * pij * w * dy;
        }
        grad[i][0] = 4.0 * (attract[0] - repulsive[i][0] / z);
        grad[i][1] = 4.0 * (attract[1] - repulsive[i][1] / z);
    }
    grad
}

/// Mean fraction of each point's `k` nearest neighbours in `x` (`n × d`) that are also among
/// its `k` nearest in the embedding.
pub fn knn_preservation(x: &[f64], d: usize, y: &[[f64; 2]], k: usize) -> f64 {
    let n = y.len();
    let nearest = |dist: &dyn Fn(usize, usize) -> f64, i: usize| -> Vec<usize> {
        let mut v: Vec<(f64, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (dist(i, j), j))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v.iter().take(k).map(|e| e.1).collect()
    };
    let dx = |i: usize, j: usize| (0..d).map(|c| (x[i * d + c] - x[j * d + c]).powi(2)).sum();
    let dy = |i: usize, j: usize| (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2);
    let mut total = 0.0;
    for i in 0..n {
        let a = nearest(&dx, i);
        let b = nearest(&dy, i);
        total += a.iter().filter(|j| b.contains(j)).count() as f64 / k as f64;
    }
    total / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perplexity_calibration_hits_its_entropy() {
        let d: Vec<f64> = (1..50).map(|i| i as f64 * 0.3).collect();
        let p = conditional_row(&d, 10.0);
        let entropy: f64 = -p
            .iter()
            .filter(|&&v| v > 0.0)
            .map(|v| v * v.ln())
            .sum::<f64>();
        assert!((entropy - 10f64.ln()).abs() < 1e-4);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn features_with_nan_are_refused_with_the_point_named() {
        let mut x = vec![0.5f32; 20 * 3];
        x[7 * 3 + 1] = f32::NAN;
        let settings = TsneSettings {
            perplexity: 5.0,
            ..TsneSettings::default()
        };
        let Err(e) = TsneRun::new(&x, 20, 3, &settings) else {
            panic!("NaN features ran")
        };
        assert!(
            e.to_string().contains("NaN or infinite values (point 7)"),
            "{e}"
        );
    }

    #[test]
    fn two_clusters_stay_apart() {
        // 40 points around (0,..) and 40 around (10,..) in 5-D.
        let mut rng = Rng(7);
        let x: Vec<f32> = (0..80)
            .flat_map(|i| {
                let offset = if i < 40 { 0.0 } else { 10.0 };
                (0..5)
                    .map(|_| (offset + rng.normal()) as f32)
                    .collect::<Vec<_>>()
            })
            .collect();
        let settings = TsneSettings {
            perplexity: 10.0,
            ..TsneSettings::default()
        };
        let e = tsne(&x, 80, 5, &settings, &mut crate::explain::Silent).expect("tsne");
        let centroid = |r: std::ops::Range<usize>| {
            let len = r.len() as f64;
            let s = r.fold([0.0, 0.0], |s, i| {
                [s[0] + e.points[i][0], s[1] + e.points[i][1]]
            });
            [s[0] / len, s[1] / len]
        };
        let (a, b) = (centroid(0..40), centroid(40..80));
        let spread = e.points[..40]
            .iter()
            .map(|p| ((p[0] - a[0]).powi(2) + (p[1] - a[1]).powi(2)).sqrt())
            .fold(0.0, f64::max);
        let gap = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        assert!(gap > 2.0 * spread, "gap {gap} spread {spread}");
        assert!(e.exact);
    }
}
