//! Does this map depend on what the model learned? The model-parameter randomisation test of
//! Adebayo et al., "Sanity Checks for Saliency Maps" (NeurIPS 2018): scramble the model's
//! weights, a layer at a time from the output down (the cascade) or one layer alone
//! (independent), explain the same image again, and measure how far each map still resembles
//! the original one. A map that hardly changes shows the image (its edges, its contrast) more
//! than the model; only Xplique offered this before, and only as code.
//!
//! Similarity is measured as in the paper: Spearman's rank correlation of the maps' magnitudes,
//! SSIM of the magnitudes scaled to [0, 1] (scikit-image's `structural_similarity`: a 7x7
//! uniform window, reflected edges, sample covariance), and the overlap of their top 10 % pixels.
//!
//! The pure parts (plans, similarity, verdict) run anywhere; [`sanity_check`] drives a whole
//! check natively, and the browser's worker drives the same steps reading maps asynchronously.

use serde::{Deserialize, Serialize};

use super::diagnostics::rank_agreement;
use crate::error::{Error, Result};
use crate::model::InputSpec;

/// Which layers each step scrambles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Randomisation {
    /// Step k scrambles the top k layers (or groups of layers): the paper's cascade.
    #[default]
    Cascade,
    /// Step k scrambles layer (group) k alone, the others keep their weights.
    Independent,
}

/// How a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SanitySettings {
    pub randomisation: Randomisation,
    /// Seeds the scrambled weights: the same seed gives the same check.
    pub seed: u64,
    /// At most this many steps: deeper models scramble consecutive layers together.
    /// `None`: one step per layer.
    pub max_steps: Option<usize>,
}

impl Default for SanitySettings {
    fn default() -> Self {
        Self {
            randomisation: Randomisation::Cascade,
            seed: 0,
            max_steps: None,
        }
    }
}

/// The share of pixels whose overlap [`Similarity::top_k_overlap`] measures.
pub const TOP_K_FRACTION: f64 = 0.1;

/// How far a map resembles the original map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    /// Spearman's rank correlation of the magnitudes, in [-1, 1] (0 when a map is constant:
    /// it ranks nothing).
    pub spearman: f64,
    /// Structural similarity of the magnitudes scaled to [0, 1], in [-1, 1].
    pub ssim: f64,
    /// The share of the original's top 10 % pixels that are also in this map's top 10 %.
    pub top_k_overlap: f64,
}

/// One step of a check: which layers were scrambled and how similar the map stayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SanityStep {
    /// The scrambled layers' names (their output tensors).
    pub randomised: Vec<String>,
    pub spearman: f64,
    pub ssim: f64,
    pub top_k_overlap: f64,
}

/// What a check concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The map changes when the weights are noise.
    DependsOnModel,
    /// It changes, but keeps much of its structure.
    Partly,
    /// It hardly changes.
    IgnoresModel,
}

/// Below this rank correlation a scrambled model's map is "a different map".
pub const DEPENDS_BELOW: f64 = 0.5;
/// Above this one it is "the same map".
pub const IGNORES_ABOVE: f64 = 0.8;

impl Verdict {
    /// From the steps: a cascade is judged by its last step (every layer scrambled: nothing
    /// the model learned is left), an independent check by its most sensitive layer.
    pub fn of(randomisation: Randomisation, steps: &[SanityStep]) -> Self {
        let judged = match randomisation {
            Randomisation::Cascade => steps.last().map_or(f64::NAN, |s| s.spearman),
            Randomisation::Independent => steps
                .iter()
                .map(|s| s.spearman)
                .fold(f64::INFINITY, f64::min),
        };
        if judged < DEPENDS_BELOW {
            Verdict::DependsOnModel
        } else if judged > IGNORES_ABOVE || !judged.is_finite() {
            Verdict::IgnoresModel
        } else {
            Verdict::Partly
        }
    }

    /// The verdict in words a user can act on.
    pub fn explanation(self) -> &'static str {
        match self {
            Verdict::DependsOnModel => {
                "this map changes when the model is scrambled: it depends on what the model learned"
            }
            Verdict::Partly => {
                "this map changes only partly when the model is scrambled: part of it shows the \
                 image rather than the model; compare it with another method"
            }
            Verdict::IgnoresModel => {
                "this map hardly changes when the model is scrambled: it shows the image more \
                 than the model; do not read it as the model's reasons"
            }
        }
    }
}

/// A whole check, as `unpic sanity --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SanityReport {
    pub method: String,
    pub randomisation: Randomisation,
    pub seed: u64,
    pub steps: Vec<SanityStep>,
    pub verdict: Verdict,
    pub explanation: String,
}

impl SanityReport {
    pub fn new(method: &str, settings: &SanitySettings, steps: Vec<SanityStep>) -> Self {
        let verdict = Verdict::of(settings.randomisation, &steps);
        Self {
            method: method.to_string(),
            randomisation: settings.randomisation,
            seed: settings.seed,
            steps,
            verdict,
            explanation: verdict.explanation().to_string(),
        }
    }
}

/// The layers each step scrambles, as indices into the model's parameter layers (ordered from
/// the input to the output): the top-down sequence cut into at most `max_steps` consecutive
/// groups of near-equal size.
pub fn plan(layer_count: usize, settings: &SanitySettings) -> Result<Vec<Vec<usize>>> {
    if layer_count == 0 {
        return Err(Error::Settings(
            "the model has no layer with learned weights (convolution or matrix product) to \
             scramble"
                .into(),
        ));
    }
    let steps = settings
        .max_steps
        .unwrap_or(layer_count)
        .clamp(1, layer_count);
    let top_down: Vec<usize> = (0..layer_count).rev().collect();
    let groups: Vec<Vec<usize>> = (0..steps)
        .map(|g| top_down[g * layer_count / steps..(g + 1) * layer_count / steps].to_vec())
        .collect();
    Ok(match settings.randomisation {
        Randomisation::Independent => groups,
        Randomisation::Cascade => groups
            .iter()
            .scan(Vec::new(), |so_far: &mut Vec<usize>, group| {
                so_far.extend(group);
                Some(so_far.clone())
            })
            .collect(),
    })
}

/// A map as one 2-D plane of magnitudes: what the similarities compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub values: Vec<f32>,
    pub height: usize,
    pub width: usize,
}

impl Plane {
    /// A method's raw map (`dims` as it came): at the image's size its channels are reduced
    /// as the faithfulness ranking does (summed for a signed map, the maximum otherwise); a map
    /// at a layer's size (a raw class activation map) is taken as it is.
    pub fn of_map(spec: &InputSpec, values: &[f32], dims: &[usize], signed: bool) -> Result<Self> {
        let plane = match crate::explain::map_chw(spec, values, dims) {
            Ok((chw, channels)) => Plane {
                values: crate::render::reduce_channels(
                    &chw,
                    channels.max(1),
                    if signed {
                        crate::render::ChannelReduce::Sum
                    } else {
                        crate::render::ChannelReduce::Max
                    },
                ),
                height: spec.height,
                width: spec.width,
            },
            Err(_) => {
                let (height, width) = match dims {
                    [.., h, w] => (*h, *w),
                    _ => (1, values.len()),
                };
                if height * width != values.len() {
                    return Err(Error::Settings(format!(
                        "a map of shape {dims:?} is not one plane"
                    )));
                }
                Plane {
                    values: values.to_vec(),
                    height,
                    width,
                }
            }
        };
        Ok(Plane {
            values: plane.values.iter().map(|v| v.abs()).collect(),
            ..plane
        })
    }

    /// How far `self` resembles `original` (same size).
    pub fn similarity_to(&self, original: &Plane) -> Similarity {
        Similarity {
            spearman: rank_agreement(&original.values, &self.values).unwrap_or(0.0),
            ssim: ssim(original, self),
            top_k_overlap: top_k_overlap(&original.values, &self.values, TOP_K_FRACTION),
        }
    }
}

/// The share of `a`'s top `fraction` values (by magnitude) that are among `b`'s; 0 when either
/// map is constant (it has no top).
pub fn top_k_overlap(a: &[f32], b: &[f32], fraction: f64) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let k = ((a.len() as f64 * fraction).ceil() as usize).clamp(1, a.len());
    let top = |v: &[f32]| -> Option<Vec<bool>> {
        let first = v[0].abs();
        if v.iter().all(|x| x.abs() == first) {
            return None;
        }
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by(|&i, &j| v[j].abs().total_cmp(&v[i].abs()).then(i.cmp(&j)));
        let mut chosen = vec![false; v.len()];
        order[..k].iter().for_each(|&i| chosen[i] = true);
        Some(chosen)
    };
    match (top(a), top(b)) {
        (Some(ta), Some(tb)) => {
            ta.iter().zip(&tb).filter(|(x, y)| **x && **y).count() as f64 / k as f64
        }
        _ => 0.0,
    }
}

/// scikit-image's `structural_similarity(a, b, data_range=1)` of the two planes each scaled by
/// its maximum magnitude (a zero plane stays zero): 7x7 uniform window (smaller for planes under
/// 7 pixels a side), reflected edges, sample covariance, mean over the pixels whose window lies
/// inside the image.
pub fn ssim(a: &Plane, b: &Plane) -> f64 {
    let (h, w) = (a.height, a.width);
    if (h, w) != (b.height, b.width) || h * w == 0 || a.values.len() != h * w {
        return 0.0;
    }
    let scaled = |p: &Plane| -> Vec<f64> {
        let peak = p.values.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        p.values
            .iter()
            .map(|&v| {
                if peak > 0.0 {
                    v.abs() as f64 / peak
                } else {
                    0.0
                }
            })
            .collect()
    };
    let (x, y) = (scaled(a), scaled(b));
    let side = h.min(w);
    let win = if side >= 7 {
        7
    } else if side % 2 == 1 {
        side
    } else {
        side - 1
    };
    let np = (win * win) as f64;
    let cov_norm = if np > 1.0 { np / (np - 1.0) } else { 1.0 };
    let filter = |v: &[f64]| uniform_filter(v, h, w, win);
    let xy: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    let xx: Vec<f64> = x.iter().map(|a| a * a).collect();
    let yy: Vec<f64> = y.iter().map(|b| b * b).collect();
    let (ux, uy) = (filter(&x), filter(&y));
    let (uxx, uyy, uxy) = (filter(&xx), filter(&yy), filter(&xy));
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let pad = (win - 1) / 2;
    let (mut sum, mut count) = (0.0, 0usize);
    for r in pad..h - pad {
        for c in pad..w - pad {
            let i = r * w + c;
            let vx = cov_norm * (uxx[i] - ux[i] * ux[i]);
            let vy = cov_norm * (uyy[i] - uy[i] * uy[i]);
            let vxy = cov_norm * (uxy[i] - ux[i] * uy[i]);
            let num = (2.0 * ux[i] * uy[i] + c1) * (2.0 * vxy + c2);
            let den = (ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2);
            sum += num / den;
            count += 1;
        }
    }
    if count == 0 { 0.0 } else { sum / count as f64 }
}

/// The mean over a `win`x`win` window at every pixel, edges reflected as SciPy's `reflect`
/// mode does (d c b a | a b c d | d c b a), separably.
fn uniform_filter(v: &[f64], h: usize, w: usize, win: usize) -> Vec<f64> {
    let half = (win / 2) as isize;
    let reflect = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let period = 2 * n;
        let mut i = i.rem_euclid(period);
        if i >= n {
            i = period - 1 - i;
        }
        i as usize
    };
    let mut rows = vec![0.0; h * w];
    for r in 0..h {
        for c in 0..w {
            let s: f64 = (-half..=half)
                .map(|d| v[r * w + reflect(c as isize + d, w)])
                .sum();
            rows[r * w + c] = s / win as f64;
        }
    }
    let mut out = vec![0.0; h * w];
    for r in 0..h {
        for c in 0..w {
            let s: f64 = (-half..=half)
                .map(|d| rows[reflect(r as isize + d, h) * w + c])
                .sum();
            out[r * w + c] = s / win as f64;
        }
    }
    out
}

/// A finished check with the maps behind it: the original's plane first, then each step's.
#[derive(Debug, Clone)]
pub struct SanityRun {
    pub report: SanityReport,
    pub planes: Vec<Plane>,
}

/// A check under way, one map at a time: [`SanityCheck::next_model`] gives the classifier to
/// explain next (the original, then each step's scrambled copy), [`SanityCheck::record`] takes
/// its map. The native driver ([`sanity_check_with`]) and the browser's worker, which reads maps
/// asynchronously between other requests, both step through it.
#[cfg(feature = "engine")]
pub struct SanityCheck {
    label: String,
    settings: SanitySettings,
    layers: Vec<crate::onnx::ParameterLayer>,
    steps: Vec<Vec<usize>>,
    /// Each layer's scrambled constants, drawn once and reused by every later step.
    scrambled: std::collections::HashMap<usize, Vec<(crate::onnx::Slot, crate::onnx::Value)>>,
    planes: Vec<Plane>,
    results: Vec<SanityStep>,
}

#[cfg(feature = "engine")]
impl SanityCheck {
    pub fn new(
        classifier: &crate::model::Classifier,
        method_label: &str,
        settings: SanitySettings,
    ) -> Result<Self> {
        let layers = classifier.graph().parameter_layers();
        let steps = plan(layers.len(), &settings)?;
        Ok(Self {
            label: method_label.to_string(),
            settings,
            layers,
            steps,
            scrambled: std::collections::HashMap::new(),
            planes: Vec::new(),
            results: Vec::new(),
        })
    }

    /// Maps to compute in all: the original's and one per step.
    pub fn total(&self) -> usize {
        self.steps.len() + 1
    }

    /// Maps recorded so far.
    pub fn done(&self) -> usize {
        self.planes.len()
    }

    /// The classifier whose map comes next (`classifier` itself first, as a copy), or `None`
    /// when every map is in.
    pub fn next_model(
        &mut self,
        classifier: &crate::model::Classifier,
    ) -> Result<Option<crate::model::Classifier>> {
        let Some(step) = self.done().checked_sub(1) else {
            return Ok(Some(classifier.with_constants(&Default::default())));
        };
        let Some(layers) = self.steps.get(step) else {
            return Ok(None);
        };
        let mut replaced = std::collections::HashMap::new();
        for &layer in layers {
            let values = match self.scrambled.entry(layer) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    classifier
                        .graph()
                        .scrambled_layer(layer, self.settings.seed)?,
                ),
            };
            replaced.extend(values.iter().cloned());
        }
        Ok(Some(classifier.with_constants(&replaced)))
    }

    /// The map of the model [`SanityCheck::next_model`] gave.
    pub fn record(&mut self, plane: Plane) -> Result<()> {
        if let Some(original) = self.planes.first() {
            if (plane.height, plane.width) != (original.height, original.width) {
                return Err(Error::Settings(format!(
                    "a scrambled model's map is {}x{}, the original's {}x{}",
                    plane.height, plane.width, original.height, original.width
                )));
            }
            let step = self.planes.len() - 1;
            let similarity = plane.similarity_to(original);
            self.results.push(SanityStep {
                randomised: self.steps[step]
                    .iter()
                    .map(|&l| self.layers[l].name.clone())
                    .collect(),
                spearman: similarity.spearman,
                ssim: similarity.ssim,
                top_k_overlap: similarity.top_k_overlap,
            });
        }
        self.planes.push(plane);
        Ok(())
    }

    /// The report and the maps (the original's first).
    pub fn finish(self) -> SanityRun {
        SanityRun {
            report: SanityReport::new(&self.label, &self.settings, self.results),
            planes: self.planes,
        }
    }
}

/// Runs a whole check natively: `explain` maps the image with a given classifier (the
/// original, then each step's scrambled copy) and returns the map's plane. Reports progress
/// per map (the original's included) and stops when told.
#[cfg(feature = "engine")]
pub fn sanity_check_with(
    classifier: &crate::model::Classifier,
    method_label: &str,
    settings: &SanitySettings,
    explain: &mut dyn FnMut(&crate::model::Classifier) -> Result<Plane>,
    progress: &mut dyn crate::explain::Progress,
) -> Result<SanityRun> {
    let mut check = SanityCheck::new(classifier, method_label, *settings)?;
    while let Some(model) = check.next_model(classifier)? {
        check.record(explain(&model)?)?;
        crate::explain::step(progress, check.done(), check.total())?;
    }
    Ok(check.finish())
}

/// [`sanity_check_with`] for one of UNPIC's methods, explaining `target` (native: it reads each
/// map back synchronously).
#[cfg(all(feature = "engine", not(target_family = "wasm")))]
pub fn sanity_check(
    classifier: &crate::model::Classifier,
    image: &crate::onnx::FloatValue,
    target: crate::explain::Target,
    method: &crate::explain::Method,
    settings: &SanitySettings,
    progress: &mut dyn crate::explain::Progress,
) -> Result<SanityRun> {
    let signed = method.signed();
    let mut explain = |model: &crate::model::Classifier| -> Result<Plane> {
        let map = method.run(model, image, target, &mut crate::explain::Silent)?;
        Plane::of_map(model.input(), &map.to_vec()?, &map.dims(), signed)
    };
    sanity_check_with(classifier, method.label(), settings, &mut explain, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(values: Vec<f32>, height: usize, width: usize) -> Plane {
        Plane {
            values,
            height,
            width,
        }
    }

    #[test]
    fn cascades_go_top_down_and_group_evenly() {
        let cascade = SanitySettings::default();
        assert_eq!(
            plan(3, &cascade).expect("plan"),
            vec![vec![2], vec![2, 1], vec![2, 1, 0]]
        );
        let independent = SanitySettings {
            randomisation: Randomisation::Independent,
            ..cascade
        };
        assert_eq!(
            plan(3, &independent).expect("plan"),
            vec![vec![2], vec![1], vec![0]]
        );
        let grouped = SanitySettings {
            max_steps: Some(2),
            ..cascade
        };
        assert_eq!(
            plan(5, &grouped).expect("plan"),
            vec![vec![4, 3], vec![4, 3, 2, 1, 0]]
        );
        // More steps than layers: one per layer.
        let many = SanitySettings {
            max_steps: Some(50),
            ..independent
        };
        assert_eq!(plan(2, &many).expect("plan").len(), 2);
        assert!(plan(0, &cascade).is_err());
    }

    #[test]
    fn identical_maps_are_fully_similar() {
        let v: Vec<f32> = (0..100).map(|i| ((i * 37) % 23) as f32).collect();
        let p = plane(v, 10, 10);
        let s = p.similarity_to(&p);
        assert!((s.spearman - 1.0).abs() < 1e-12);
        assert!((s.ssim - 1.0).abs() < 1e-9, "{}", s.ssim);
        assert_eq!(s.top_k_overlap, 1.0);
        // A scaled copy ranks alike and, scaled to its peak, is the same picture.
        let scaled = plane(p.values.iter().map(|v| v * 3.0).collect(), 10, 10);
        let s = scaled.similarity_to(&p);
        assert!((s.ssim - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_constant_map_resembles_nothing() {
        let p = plane((0..64).map(|i| i as f32).collect(), 8, 8);
        let zero = plane(vec![0.0; 64], 8, 8);
        let s = zero.similarity_to(&p);
        assert_eq!(s.spearman, 0.0);
        assert_eq!(s.top_k_overlap, 0.0);
        assert!(s.ssim < 0.1, "{}", s.ssim);
    }

    #[test]
    fn top_k_counts_shared_top_pixels() {
        let a: Vec<f32> = (0..20).map(|i| i as f32).collect();
        // b's top two (10 % of 20) are 19 and 0; a's are 19 and 18: one shared.
        let mut b = a.clone();
        b[0] = 100.0;
        assert_eq!(top_k_overlap(&a, &b, 0.1), 0.5);
    }

    #[test]
    fn ssim_matches_scikit_image() {
        // skimage.metrics.structural_similarity(a, b, data_range=1.0) (scikit-image 0.25) with
        // a[i] = ((37 i) mod 23) / 22 and b[i] = ((11 i) mod 17) / 16 over 12x10 pixels, and
        // with b = sqrt(a): -0.04327088241493121 and 0.9210329196981734. Both have peak 1, so
        // the per-plane scaling leaves them as they are.
        let a: Vec<f32> = (0..120).map(|i| ((i * 37) % 23) as f32 / 22.0).collect();
        let b: Vec<f32> = (0..120).map(|i| ((i * 11) % 17) as f32 / 16.0).collect();
        let root: Vec<f32> = a.iter().map(|v| v.sqrt()).collect();
        let (pa, pb, pr) = (plane(a, 12, 10), plane(b, 12, 10), plane(root, 12, 10));
        assert!(
            (ssim(&pa, &pb) - -0.04327088241493121).abs() < 1e-6,
            "{}",
            ssim(&pa, &pb)
        );
        assert!(
            (ssim(&pa, &pr) - 0.9210329196981734).abs() < 1e-6,
            "{}",
            ssim(&pa, &pr)
        );
    }

    #[test]
    fn reflect_filter_matches_scipy() {
        // scipy.ndimage.uniform_filter([1, 2, 3, 4], size=3, mode='reflect') = [4/3, 2, 3, 11/3]
        let out = uniform_filter(&[1.0, 2.0, 3.0, 4.0], 1, 4, 3);
        // (One row: the vertical pass reflects the row onto itself.)
        let want = [4.0 / 3.0, 2.0, 3.0, 11.0 / 3.0];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-12, "{out:?}");
        }
    }

    #[test]
    fn verdicts_follow_the_end_of_a_cascade_or_the_most_sensitive_layer() {
        let step = |spearman| SanityStep {
            randomised: vec![],
            spearman,
            ssim: 0.0,
            top_k_overlap: 0.0,
        };
        let (cascade, independent) = (Randomisation::Cascade, Randomisation::Independent);
        assert_eq!(
            Verdict::of(cascade, &[step(0.9), step(0.2)]),
            Verdict::DependsOnModel
        );
        assert_eq!(
            Verdict::of(cascade, &[step(0.95), step(0.7)]),
            Verdict::Partly
        );
        assert_eq!(
            Verdict::of(cascade, &[step(0.99), step(0.97)]),
            Verdict::IgnoresModel
        );
        // A cascade whose map comes back once everything is scrambled is judged by that end;
        // an independent check by its most sensitive layer.
        assert_eq!(
            Verdict::of(cascade, &[step(0.2), step(0.9)]),
            Verdict::IgnoresModel
        );
        assert_eq!(
            Verdict::of(independent, &[step(0.2), step(0.9)]),
            Verdict::DependsOnModel
        );
    }
}
