//! The preprocessing checker: wrong preprocessing gives wrong predictions without any error
//! (coremltools 244, mxnet 12063), so on a labelled set each common convention is tried on a
//! small sample — every preset, and for colour models the channels in BGR order (Caffe and
//! OpenCV-trained models) — and the user is told when another one scores clearly better than
//! the current one, or when every one scores near chance (then the labels, not the pixels, are
//! likely wrong: another labels file or another class order).
//!
//! Images are decoded once, as raw 0..255 pixels; each candidate is a cheap pass over those.

use serde::{Deserialize, Serialize};

use super::Preprocess;
use super::presets::Preset;
use crate::model::InputSpec;

/// One convention to try: a preset, with the colour channels in BGR order or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub preset: Preset,
    pub bgr: bool,
}

impl Candidate {
    /// `unit`, `imagenet`, `imagenet+bgr`, ...
    pub fn name(&self) -> String {
        if self.bgr {
            format!("{}+bgr", self.preset.key())
        } else {
            self.preset.key().to_string()
        }
    }

    /// Every candidate for a model with `channels` input channels: the presets, and their BGR
    /// forms for a colour model.
    pub fn all(channels: usize) -> Vec<Candidate> {
        let orders: &[bool] = if channels == 3 {
            &[false, true]
        } else {
            &[false]
        };
        orders
            .iter()
            .flat_map(|&bgr| {
                Preset::ALL
                    .into_iter()
                    .map(move |preset| Candidate { preset, bgr })
            })
            .collect()
    }

    /// This candidate's network input from raw pixels (`raw` from [`raw_pixels`]: CHW images
    /// one after another, values 0..255).
    pub fn apply(&self, raw: &[f32], input: &InputSpec) -> Vec<f32> {
        let p = self.preset.apply(input);
        let area = p.height * p.width;
        let image = p.channels * area;
        let mut out = Vec::with_capacity(raw.len());
        for img in raw.chunks_exact(image.max(1)) {
            for c in 0..p.channels {
                let from = if self.bgr && p.channels == 3 {
                    2 - c
                } else {
                    c
                };
                let (mean, std) = (pick(&p.mean, c), pick(&p.std, c));
                out.extend(
                    img[from * area..(from + 1) * area]
                        .iter()
                        .map(|&v| (v * p.scale - mean) / std),
                );
            }
        }
        out
    }
}

fn pick(values: &[f32], c: usize) -> f32 {
    values.get(c).or(values.first()).copied().unwrap_or(0.0)
}

/// The preprocessing that gives raw 0..255 pixels at the model's size and channels, from which
/// every candidate is computed.
pub fn raw_pixels(input: &InputSpec) -> Preprocess {
    Preset::Raw.apply(input)
}

/// `sample` item positions spread evenly over `items` (sets are sorted by class, so every class
/// is represented): `floor(i * items / sample)` for `i < sample`; all items when there are
/// fewer.
pub fn sample_positions(items: usize, sample: usize) -> Vec<usize> {
    if sample >= items {
        return (0..items).collect();
    }
    (0..sample).map(|i| i * items / sample).collect()
}

/// How many rows of `logits` (`k` scores each, one row per image) put their image in its true
/// class `truth[i]`: one batch's share of a candidate's score.
pub fn right_answers(logits: &[f32], truth: &[usize], k: usize) -> usize {
    logits
        .chunks(k.max(1))
        .zip(truth)
        .filter(|(row, truth)| crate::metrics::evaluation::argmax(row) == **truth)
        .count()
}

/// One candidate's accuracy on the sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    pub name: String,
    pub accuracy: f64,
}

/// What the checker tells the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    /// The best-scoring candidate (the current one when it is within the margin of the best).
    pub suggested: String,
    /// Set when the current preprocessing is clearly worse than another, or when every
    /// candidate is near chance.
    pub warning: Option<String>,
}

/// Another candidate must beat the current one by this much accuracy to be suggested.
pub const CLEARLY_BETTER: f64 = 0.05;

/// The advice from every candidate's score, the current candidate's name and the number of
/// classes (chance is 1 / classes).
pub fn advise(scores: &[CandidateScore], current: &str, classes: usize) -> Advice {
    let best = scores
        .iter()
        .fold(None::<&CandidateScore>, |best, s| match best {
            Some(b) if b.accuracy >= s.accuracy => Some(b),
            _ => Some(s),
        });
    let Some(best) = best else {
        return Advice {
            suggested: current.to_string(),
            warning: None,
        };
    };
    let current_score = scores.iter().find(|s| s.name == current);
    let chance = 1.0 / classes.max(1) as f64;
    if best.accuracy < 2.0 * chance {
        return Advice {
            suggested: current.to_string(),
            warning: Some(format!(
                "every preprocessing scores near chance (best {:.1} %, chance {:.1} %): the \
                 pixels are probably not the problem — check the labels file and that the \
                 class folders are in the model's class order",
                100.0 * best.accuracy,
                100.0 * chance
            )),
        };
    }
    match current_score {
        Some(c) if best.accuracy - c.accuracy >= CLEARLY_BETTER => Advice {
            suggested: best.name.clone(),
            warning: Some(format!(
                "'{}' scores {:.1} % on the sample against {:.1} % with the current '{}': \
                 the model was probably trained with '{}'",
                best.name,
                100.0 * best.accuracy,
                100.0 * c.accuracy,
                current,
                best.name
            )),
        },
        _ => Advice {
            suggested: current_score.map_or(best.name.clone(), |c| c.name.clone()),
            warning: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layout;

    fn input(channels: usize) -> InputSpec {
        InputSpec {
            name: "x".into(),
            channels,
            height: 1,
            width: 2,
            layout: Layout::Nchw,
            any_size: false,
        }
    }

    #[test]
    fn right_answers_count_the_rows_whose_top_score_is_the_truth() {
        let logits = [
            0.1, 0.9, 0.0, /* */ 2.0, 1.0, 0.0, /* */ 0.0, 0.0, 5.0,
        ];
        assert_eq!(right_answers(&logits, &[1, 1, 2], 3), 2);
        // A truth list shorter than the rows counts only the rows it covers.
        assert_eq!(right_answers(&logits, &[1], 3), 1);
    }

    #[test]
    fn candidates_apply_presets_and_swap_colour_channels() {
        assert_eq!(Candidate::all(1).len(), 4);
        let all = Candidate::all(3);
        assert_eq!(all.len(), 8);
        assert_eq!(all[5].name(), "imagenet+bgr");
        // One RGB image of 1x2 pixels: R = (255, 0), G = (0, 0), B = (0, 255).
        let raw = [255.0, 0.0, 0.0, 0.0, 0.0, 255.0];
        let unit = Candidate {
            preset: Preset::Unit,
            bgr: false,
        };
        assert_eq!(
            unit.apply(&raw, &input(3)),
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
        );
        let bgr = Candidate {
            preset: Preset::Symmetric,
            bgr: true,
        };
        assert_eq!(
            bgr.apply(&raw, &input(3)),
            vec![-1.0, 1.0, -1.0, -1.0, 1.0, -1.0]
        );
        // The same values as the preprocessing itself gives (ImageNet, per channel).
        let imagenet = Candidate {
            preset: Preset::Imagenet,
            bgr: false,
        }
        .apply(&raw, &input(3));
        let p = Preprocess::imagenet(&input(3));
        assert!((imagenet[0] - (1.0 - p.mean[0]) / p.std[0]).abs() < 1e-6);
        assert!((imagenet[5] - (1.0 - p.mean[2]) / p.std[2]).abs() < 1e-6);
    }

    #[test]
    fn samples_spread_over_the_set() {
        assert_eq!(sample_positions(10, 4), vec![0, 2, 5, 7]);
        assert_eq!(sample_positions(3, 5), vec![0, 1, 2]);
    }

    fn scores(values: &[(&str, f64)]) -> Vec<CandidateScore> {
        values
            .iter()
            .map(|&(name, accuracy)| CandidateScore {
                name: name.into(),
                accuracy,
            })
            .collect()
    }

    #[test]
    fn advice_names_a_clearly_better_preset_or_suspects_the_labels() {
        let s = scores(&[("unit", 0.93), ("imagenet", 0.91), ("raw", 0.10)]);
        assert_eq!(
            advise(&s, "unit", 10),
            Advice {
                suggested: "unit".into(),
                warning: None
            }
        );
        // Within the margin: keep the current one.
        assert_eq!(advise(&s, "imagenet", 10).warning, None);
        let raw = advise(&s, "raw", 10);
        assert_eq!(raw.suggested, "unit");
        assert!(
            raw.warning
                .expect("a warning")
                .contains("'unit' scores 93.0 %")
        );
        let chance = advise(&scores(&[("unit", 0.11), ("raw", 0.09)]), "unit", 10);
        assert!(chance.warning.expect("a warning").contains("labels file"));
    }
}
