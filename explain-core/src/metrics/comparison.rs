//! Two models on the same labelled set: per-class accuracy of both, which images each gets right
//! (both, only A, only B, neither), and whether the difference in accuracy is more than chance
//! by McNemar's test.
//!
//! McNemar's test looks only at the images the models disagree on: under "equally good", each
//! of those is as likely to go either way, so the count `only A` is Binomial(n, 1/2) with
//! `n = only A + only B`. The two-sided exact p-value (statsmodels' `mcnemar(exact=True)`,
//! scipy's `binomtest(..).pvalue`) is `min(1, 2 P(X <= min(only A, only B)))`, computed in log
//! space so that 50,000 disagreements do not underflow.

use serde::{Deserialize, Serialize};

use super::evaluation::Evaluation;
use crate::error::{Error, Result};

/// The four cells of the disagreement table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub both_right: usize,
    pub only_a: usize,
    pub only_b: usize,
    pub both_wrong: usize,
}

/// Which cell an image falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cell {
    BothRight,
    OnlyA,
    OnlyB,
    BothWrong,
}

/// One image as both models see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedFile {
    pub path: String,
    pub label: usize,
    pub pred_a: usize,
    pub pred_b: usize,
}

impl PairedFile {
    pub fn cell(&self) -> Cell {
        match (self.pred_a == self.label, self.pred_b == self.label) {
            (true, true) => Cell::BothRight,
            (true, false) => Cell::OnlyA,
            (false, true) => Cell::OnlyB,
            (false, false) => Cell::BothWrong,
        }
    }
}

/// The comparison of two evaluations of one set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub classes: Vec<String>,
    pub accuracy_a: f64,
    pub accuracy_b: f64,
    /// Per true class, each model's accuracy (`None` for a class without images).
    pub per_class: Vec<ClassAccuracy>,
    pub table: Agreement,
    /// Two-sided exact McNemar p-value (1 when the models never disagree).
    pub mcnemar_p: f64,
    /// The images both models scored, in set order.
    pub files: Vec<PairedFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassAccuracy {
    pub class: String,
    pub accuracy_a: Option<f64>,
    pub accuracy_b: Option<f64>,
}

/// Pairs the two evaluations image by image (by path; an image only one model could read is
/// left out of the table) and compares them. The models must have the same classes.
pub fn compare(a: &Evaluation, b: &Evaluation) -> Result<Comparison> {
    if a.classes.len() != b.classes.len() {
        return Err(Error::Labels(format!(
            "model A has {} classes and model B {}: a comparison needs the same classes \
             (give both the same labels file)",
            a.classes.len(),
            b.classes.len()
        )));
    }
    let b_by_path: std::collections::HashMap<&str, &super::FileResult> =
        b.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let files: Vec<PairedFile> = a
        .files
        .iter()
        .filter_map(|fa| {
            let fb = b_by_path.get(fa.path.as_str())?;
            Some(PairedFile {
                path: fa.path.clone(),
                label: fa.label,
                pred_a: fa.pred,
                pred_b: fb.pred,
            })
        })
        .collect();
    let mut table = Agreement::default();
    for f in &files {
        match f.cell() {
            Cell::BothRight => table.both_right += 1,
            Cell::OnlyA => table.only_a += 1,
            Cell::OnlyB => table.only_b += 1,
            Cell::BothWrong => table.both_wrong += 1,
        }
    }
    let n = files.len().max(1) as f64;
    let right = |pick: fn(&PairedFile) -> usize| {
        files.iter().filter(|f| pick(f) == f.label).count() as f64 / n
    };
    let per_class = (0..a.classes.len())
        .map(|k| {
            let of_class: Vec<&PairedFile> = files.iter().filter(|f| f.label == k).collect();
            let share = |pick: fn(&PairedFile) -> usize| {
                (!of_class.is_empty()).then(|| {
                    of_class.iter().filter(|f| pick(f) == k).count() as f64 / of_class.len() as f64
                })
            };
            ClassAccuracy {
                class: a.classes[k].clone(),
                accuracy_a: share(|f| f.pred_a),
                accuracy_b: share(|f| f.pred_b),
            }
        })
        .collect();
    Ok(Comparison {
        classes: a.classes.clone(),
        accuracy_a: right(|f| f.pred_a),
        accuracy_b: right(|f| f.pred_b),
        per_class,
        mcnemar_p: mcnemar_exact(table.only_a, table.only_b),
        table,
        files,
    })
}

/// The two-sided exact McNemar p-value of `b` and `c` discordant pairs.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // ln P(X = i) for X ~ Binomial(n, 1/2), from i = 0 up, summed by log-sum-exp.
    let mut ln_p = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_cdf = ln_p;
    for i in 1..=k {
        ln_p += ((n - i + 1) as f64).ln() - (i as f64).ln();
        let (hi, lo) = if ln_p > ln_cdf {
            (ln_p, ln_cdf)
        } else {
            (ln_cdf, ln_p)
        };
        ln_cdf = hi + (lo - hi).exp().ln_1p();
    }
    (2.0 * ln_cdf.exp()).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_equals_scipy_binomtest() {
        // scipy.stats.binomtest(k, n, 0.5).pvalue, scipy 1.17.1.
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        let close = |got: f64, want: f64| (got - want).abs() <= 1e-8 * want;
        // binomtest(1, 10): 0.021484375
        assert!(close(mcnemar_exact(1, 9), 0.021484375));
        assert!(close(mcnemar_exact(9, 1), 0.021484375));
        // binomtest(0, 5): 0.0625
        assert!(close(mcnemar_exact(0, 5), 0.0625));
        // binomtest(40, 100): 0.05688793364098089
        assert!(close(mcnemar_exact(40, 60), 0.056_887_933_640_980_89));
        // Far tails stay finite and exact: binomtest(4000, 10000) = 1.7404316412268293e-89.
        assert!(close(
            mcnemar_exact(4000, 6000),
            1.740_431_641_226_829_3e-89
        ));
    }

    fn evaluation(preds: &[(usize, usize)]) -> Evaluation {
        let mut e = Evaluation::new(vec!["cat".into(), "dog".into()]);
        for (i, &(label, pred)) in preds.iter().enumerate() {
            let mut logits = [0.0f32; 2];
            logits[pred] = 1.0;
            e.add(&format!("img{i}.png"), label, &logits);
        }
        e
    }

    #[test]
    fn the_table_counts_each_image_once_by_path() {
        // (label, pred) per image.
        let a = evaluation(&[(0, 0), (0, 0), (1, 1), (1, 0), (0, 1)]);
        let mut b = evaluation(&[(0, 0), (0, 1), (1, 0), (1, 1), (0, 1)]);
        // An image only B read is left out.
        b.add("extra.png", 0, &[1.0, 0.0]);
        let c = compare(&a, &b).expect("same classes");
        assert_eq!(
            c.table,
            Agreement {
                both_right: 1,
                only_a: 2,
                only_b: 1,
                both_wrong: 1
            }
        );
        assert_eq!(c.files.len(), 5);
        assert_eq!(c.files[1].cell(), Cell::OnlyA);
        assert!((c.accuracy_a - 0.6).abs() < 1e-12 && (c.accuracy_b - 0.4).abs() < 1e-12);
        assert_eq!(c.per_class[0].accuracy_a, Some(2.0 / 3.0));
        assert_eq!(c.per_class[1].accuracy_b, Some(0.5));
        assert!((c.mcnemar_p - mcnemar_exact(2, 1)).abs() < 1e-15);
    }

    #[test]
    fn different_classes_are_refused_with_what_to_do() {
        let a = evaluation(&[(0, 0)]);
        let b = Evaluation::new(vec!["a".into(), "b".into(), "c".into()]);
        let err = compare(&a, &b).expect_err("an error").to_string();
        assert!(
            err.contains("2 classes") && err.contains("labels file"),
            "{err}"
        );
    }
}
