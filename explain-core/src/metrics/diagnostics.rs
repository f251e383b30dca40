//! Is this map saying anything? Checks every explanation map for the failures users of every
//! peer keep meeting (pytorch-grad-cam 108, keras-grad-cam 25: blank, NaN or all-red maps):
//! values that are not finite, a map that is zero or one value everywhere, nearly empty, or
//! saturated (most of it at its maximum), or nearly the same for the class and its runner-up
//! (pytorch-grad-cam 564 and 280, Captum 907: "the same map for every class"). Each finding says
//! what is wrong and what to try. And how far two maps agree (Spearman's rank correlation), so a
//! user sees which methods concur.
//!
//! Pure functions on the raw map: the worker runs them on every map it sends, the CLI on the map
//! it writes, the page on the maps it shows side by side.

use serde::{Deserialize, Serialize};

/// What is wrong with a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    NotFinite,
    AllZero,
    Constant,
    NearlyEmpty,
    Saturated,
    TargetInsensitive,
}

/// One finding on a map: what is wrong, and what to try.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub problem: Problem,
    pub message: String,
    pub advice: String,
}

/// A map with at most this fraction of non-zero values is "nearly empty" (one pixel in 200).
pub const NEARLY_EMPTY: f64 = 0.005;
/// A map with more than this fraction of its values within 1 % of its maximum is "saturated".
pub const SATURATED: f64 = 0.5;

/// The findings on a raw map (any shape; signed maps are judged by magnitude). Empty when the
/// map looks sound.
pub fn diagnose(map: &[f32]) -> Vec<Diagnosis> {
    let finding = |problem, message: String, advice: &str| Diagnosis {
        problem,
        message,
        advice: advice.to_string(),
    };
    if map.is_empty() {
        return vec![finding(
            Problem::AllZero,
            "the map is empty".into(),
            "the method returned no values; report it with the model",
        )];
    }
    let bad = map.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        return vec![finding(
            Problem::NotFinite,
            format!("{bad} of {} values are NaN or infinite", map.len()),
            "the score or its gradient overflowed: explain the logit instead of the \
             probability, or pick another layer",
        )];
    }
    let magnitudes: Vec<f32> = map.iter().map(|v| v.abs()).collect();
    let peak = magnitudes.iter().copied().fold(0.0f32, f32::max);
    if peak == 0.0 {
        return vec![finding(
            Problem::AllZero,
            "the map is zero everywhere: nothing here moves the score".into(),
            "for a class activation map pick a layer before the last pooling (the suggested \
             one); for gradients use the logit (a confident softmax has no gradient left)",
        )];
    }
    let (lo, hi) = map
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if hi - lo <= 1e-6 * peak {
        return vec![finding(
            Problem::Constant,
            format!("the map is {hi} everywhere: it ranks no pixel above another"),
            "try another layer or method; at a layer of spatial size 1x1 a CAM cannot localise",
        )];
    }
    let n = magnitudes.len() as f64;
    let mut found = Vec::new();
    let nonzero = magnitudes.iter().filter(|&&v| v > 0.0).count() as f64 / n;
    if nonzero <= NEARLY_EMPTY {
        found.push(finding(
            Problem::NearlyEmpty,
            format!(
                "only {:.2} % of the map is not zero: it points at almost nothing",
                100.0 * nonzero
            ),
            "for a CAM try an earlier layer; for gradients use the logit or SmoothGrad",
        ));
    }
    let near_peak = magnitudes.iter().filter(|&&v| v >= 0.99 * peak).count() as f64 / n;
    if near_peak > SATURATED {
        found.push(finding(
            Problem::Saturated,
            format!(
                "{:.0} % of the map is at its maximum: it singles out no region",
                100.0 * near_peak
            ),
            "try another layer (a later one is coarser), another method, or the logit",
        ));
    }
    found
}

/// The map of the class and that of its runner-up rank the pixels at least this much alike
/// (Spearman) for the map to be "the same for both classes".
pub const TARGET_INSENSITIVE: f64 = 0.95;

/// The class a target's map is compared with: the highest-scoring other class. `None` for a
/// model with one class.
pub fn runner_up(scores: &[f32], target: usize) -> Option<usize> {
    scores
        .iter()
        .enumerate()
        .filter(|&(class, _)| class != target)
        .fold(
            None,
            |best: Option<(usize, f32)>, (class, &score)| match best {
                Some((_, top)) if top >= score => best,
                _ => Some((class, score)),
            },
        )
        .map(|(class, _)| class)
}

/// The finding when the map of the target class and that of `other` (the runner-up, named
/// `other_label`) rank the pixels alike: the map shows where the model looks, not why it
/// chose this class.
pub fn target_insensitivity(map: &[f32], other: &[f32], other_label: &str) -> Option<Diagnosis> {
    let agreement = rank_agreement(map, other)?;
    (agreement >= TARGET_INSENSITIVE).then(|| Diagnosis {
        problem: Problem::TargetInsensitive,
        message: format!(
            "the map of the runner-up class ({other_label}) is nearly the same (rank \
             correlation {agreement:.2}): it shows where the model looks, not why it chose \
             this class"
        ),
        advice: "compare a class-discriminative method (Grad-CAM at the suggested layer, \
                 occlusion), explain the probability instead of the logit, or look at the \
                 runner-up's map"
            .into(),
    })
}

/// Spearman's rank correlation of the magnitudes of two maps of the same size (ties share their
/// mean rank), in [-1, 1]; `None` when the sizes differ or either map is constant.
pub fn rank_agreement(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        num += (x - mean) * (y - mean);
        da += (x - mean) * (x - mean);
        db += (y - mean) * (y - mean);
    }
    (da > 0.0 && db > 0.0).then(|| num / (da * db).sqrt())
}

/// 1-based ranks of |values|, ties given their mean rank.
fn ranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].abs().total_cmp(&values[j].abs()));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]].abs() == values[order[start]].abs() {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(map: &[f32]) -> Vec<Problem> {
        diagnose(map).into_iter().map(|d| d.problem).collect()
    }

    /// A smooth blob: what a sound map looks like.
    fn blob() -> Vec<f32> {
        (0..32 * 32)
            .map(|i| {
                let (y, x) = ((i / 32) as f32 - 12.0, (i % 32) as f32 - 18.0);
                (-(x * x + y * y) / 60.0).exp()
            })
            .collect()
    }

    #[test]
    fn a_sound_map_has_no_findings() {
        assert_eq!(problems(&blob()), vec![]);
        // Signed: judged by magnitude.
        let signed: Vec<f32> = blob()
            .iter()
            .enumerate()
            .map(|(i, v)| if i % 2 == 0 { *v } else { -v })
            .collect();
        assert_eq!(problems(&signed), vec![]);
    }

    #[test]
    fn crafted_failures_are_found_and_named() {
        let mut nan = blob();
        nan[5] = f32::NAN;
        nan[9] = f32::INFINITY;
        let d = diagnose(&nan);
        assert_eq!(d[0].problem, Problem::NotFinite);
        assert!(
            d[0].message.starts_with("2 of 1024 values"),
            "{}",
            d[0].message
        );
        assert_eq!(problems(&[0.0; 100]), vec![Problem::AllZero]);
        assert_eq!(problems(&[0.3; 100]), vec![Problem::Constant]);
        let mut one = vec![0.0; 1000];
        one[17] = 1.0;
        assert_eq!(problems(&one), vec![Problem::NearlyEmpty]);
        // "All red": three quarters at the maximum.
        let red: Vec<f32> = (0..100).map(|i| if i < 75 { 1.0 } else { 0.2 }).collect();
        assert_eq!(problems(&red), vec![Problem::Saturated]);
        assert_eq!(problems(&[]), vec![Problem::AllZero]);
    }

    #[test]
    fn the_same_map_for_the_runner_up_is_flagged() {
        assert_eq!(runner_up(&[0.1, 3.0, 2.0, 2.5], 1), Some(3));
        assert_eq!(runner_up(&[0.1, 3.0, 2.0, 2.5], 3), Some(1));
        assert_eq!(runner_up(&[1.0], 0), None);
        let map = blob();
        // A scaled copy ranks every pixel alike: flagged, with the other class named.
        let same: Vec<f32> = map.iter().map(|v| 0.5 * v).collect();
        let d = target_insensitivity(&map, &same, "cat").expect("flagged");
        assert_eq!(d.problem, Problem::TargetInsensitive);
        assert!(
            d.message.contains("(cat)") && d.message.contains("1.00"),
            "{}",
            d.message
        );
        // A blob elsewhere is another map.
        let moved: Vec<f32> = (0..32 * 32)
            .map(|i| {
                let (y, x) = ((i / 32) as f32 - 25.0, (i % 32) as f32 - 5.0);
                (-(x * x + y * y) / 60.0).exp()
            })
            .collect();
        assert_eq!(target_insensitivity(&map, &moved, "dog"), None);
    }

    #[test]
    fn rank_agreement_is_spearman() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(rank_agreement(&a, &[10.0, 20.0, 30.0, 40.0]), Some(1.0));
        assert_eq!(rank_agreement(&a, &[4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        // Magnitudes: the sign does not change a pixel's rank.
        assert_eq!(rank_agreement(&a, &[-1.0, 2.0, -3.0, 4.0]), Some(1.0));
        // Ties share their mean rank: scipy.stats.spearmanr([1,2,3,4],[1,1,2,3]) = 0.9486833.
        let r = rank_agreement(&a, &[1.0, 1.0, 2.0, 3.0]).expect("defined");
        assert!((r - 0.948_683_3).abs() < 1e-6, "{r}");
        assert_eq!(rank_agreement(&a, &[1.0; 4]), None);
        assert_eq!(rank_agreement(&a, &[1.0; 3]), None);
    }
}
