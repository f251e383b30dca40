//! Principal component analysis to two dimensions: the instant map of a layer's features
//! (and t-SNE's starting point). The covariance of the centred rows, then power iteration for
//! the two leading eigenvectors (the second deflated against the first); each component's sign
//! is fixed so that its largest loading is positive (scikit-learn's convention), so the map
//! does not flip between runs or engines.
//!
//! Host code (no tensors): it runs the same natively and in the browser's worker.

use crate::error::{Error, Result};

/// Power iterations per component (the covariance is small: `d × d`).
const ITERATIONS: usize = 200;

/// The rows of `x` (`n × d`) centred on their mean, and their `d × d` scatter matrix.
fn centred_scatter(x: &[f64], n: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut centred = x.to_vec();
    for c in 0..d {
        let mean = (0..n).map(|i| x[i * d + c]).sum::<f64>() / n as f64;
        for i in 0..n {
            centred[i * d + c] -= mean;
        }
    }
    let mut scatter = vec![0.0; d * d];
    for row in centred.chunks_exact(d.max(1)) {
        for (a, &xa) in row.iter().enumerate() {
            if xa == 0.0 {
                continue;
            }
            for (s, &xb) in scatter[a * d..(a + 1) * d].iter_mut().zip(row) {
                *s += xa * xb;
            }
        }
    }
    (centred, scatter)
}

/// The two leading eigenvectors of the symmetric `d × d` matrix `m`, by power iteration from
/// the vectors `start` draws.
fn leading_eigenvectors(m: &[f64], d: usize, start: &mut dyn FnMut() -> f64) -> [Vec<f64>; 2] {
    let mut components: Vec<Vec<f64>> = Vec::with_capacity(2);
    for _ in 0..2 {
        let mut v: Vec<f64> = (0..d).map(|_| start()).collect();
        for _ in 0..ITERATIONS {
            let mut w: Vec<f64> = m
                .chunks_exact(d.max(1))
                .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
                .collect();
            for u in &components {
                let dot: f64 = w.iter().zip(u).map(|(a, b)| a * b).sum();
                for (wa, ua) in w.iter_mut().zip(u) {
                    *wa -= dot * ua;
                }
            }
            let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
            v = w.iter().map(|a| a / norm).collect();
        }
        components.push(v);
    }
    let second = components.pop().unwrap_or_default();
    let first = components.pop().unwrap_or_default();
    [first, second]
}

/// The centred rows projected on the two leading components, whatever their signs.
pub(crate) fn project(
    x: &[f64],
    n: usize,
    d: usize,
    start: &mut dyn FnMut() -> f64,
) -> Vec<[f64; 2]> {
    let (centred, scatter) = centred_scatter(x, n, d);
    let components = leading_eigenvectors(&scatter, d, start);
    centred
        .chunks_exact(d.max(1))
        .map(|row| [0, 1].map(|k| row.iter().zip(&components[k]).map(|(a, b)| a * b).sum()))
        .collect()
}

/// The rows of `x` (`n × d`, row-major) as their scores on the first two principal
/// components: what `sklearn.decomposition.PCA(2).fit_transform` gives, signs included.
pub fn principal_components(x: &[f32], n: usize, d: usize) -> Result<Vec<[f64; 2]>> {
    if n < 2 || d == 0 || x.len() != n * d {
        return Err(Error::Settings(format!(
            "a PCA map needs at least 2 points with at least one feature each (got {n} points \\
             of {d} features, {} values)",
            x.len()
        )));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::Settings(format!(
            "the features contain NaN or infinite values (point {})",
            i / d
        )));
    }
    let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let (centred, scatter) = centred_scatter(&x, n, d);
    // A fixed, generic start: not orthogonal to any component but by accident.
    let mut k = 0u32;
    let mut start = || {
        k += 1;
        1.0 + f64::from(k % 7) / 7.0
    };
    let mut components = leading_eigenvectors(&scatter, d, &mut start);
    for c in &mut components {
        let largest = c
            .iter()
            .copied()
            .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        if largest < 0.0 {
            c.iter_mut().for_each(|v| *v = -*v);
        }
    }
    Ok(centred
        .chunks_exact(d)
        .map(|row| [0, 1].map(|k| row.iter().zip(&components[k]).map(|(a, b)| a * b).sum()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_in_the_plane_is_its_own_first_component() {
        // Points along (3, 4)/5 at t = -4.5..4.5, offset across it by ±0.1 in a pattern
        // uncorrelated with t: the components are the line and its normal.
        let across = |i: usize| if [0, 4, 5, 9].contains(&i) { 0.1 } else { -0.1 };
        let mean_across = (0..10).map(across).sum::<f64>() / 10.0;
        let x: Vec<f32> = (0..10)
            .flat_map(|i| {
                let (t, a) = (i as f64 - 4.5, across(i));
                [(3.0 * t - 4.0 * a) / 5.0, (4.0 * t + 3.0 * a) / 5.0].map(|v| v as f32)
            })
            .collect();
        let y = principal_components(&x, 10, 2).expect("pca");
        for (i, p) in y.iter().enumerate() {
            // The loading 4/5 is the largest: positive, so the scores follow t.
            assert!((p[0] - (i as f64 - 4.5)).abs() < 1e-5, "{i}: {p:?}");
            assert!(
                (p[1].abs() - (across(i) - mean_across).abs()).abs() < 1e-5,
                "{i}: {p:?}"
            );
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_what_is_wrong() {
        assert!(principal_components(&[1.0, 2.0], 1, 2).is_err());
        assert!(principal_components(&[1.0, 2.0, 3.0], 2, 2).is_err());
        let Err(e) = principal_components(&[1.0, f32::NAN, 3.0, 4.0], 2, 2) else {
            panic!("NaN ran")
        };
        assert!(e.to_string().contains("point 0"), "{e}");
    }
}
