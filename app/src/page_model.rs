//! The page's plain data, apart from its signals and the browser (so it is tested natively):
//! which view is shown, a gallery's selection, a job's progress, the current image with its
//! prediction and maps; and the pure functions that apply the worker's answers to them.

use explain_core::metrics::FileResult;

use crate::protocol::{ExplanationResult, PredictionResult};

/// The views of the page, one shown at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Data,
    Accuracy,
    Predict,
    Features,
    Tsne,
    Compare,
    Help,
}

impl View {
    pub const ALL: [View; 7] = [
        View::Data,
        View::Accuracy,
        View::Predict,
        View::Features,
        View::Tsne,
        View::Compare,
        View::Help,
    ];

    pub fn label(self) -> &'static str {
        match self {
            View::Data => "Image data",
            View::Accuracy => "Accuracy",
            View::Predict => "Predict & explain",
            View::Features => "Features",
            View::Tsne => "t-SNE",
            View::Compare => "Compare",
            View::Help => "Help",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            View::Data => "data",
            View::Accuracy => "accuracy",
            View::Predict => "predict",
            View::Features => "features",
            View::Tsne => "tsne",
            View::Compare => "compare",
            View::Help => "help",
        }
    }
}

/// A set of the evaluated images a gallery shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// True class `truth` predicted as `pred` (a confusion-matrix cell).
    Cell { truth: usize, pred: usize },
    /// Everything predicted as this class (a column).
    PredictedAs(usize),
    /// Everything of this true class (a row).
    TrueClass(usize),
    /// The images put in another class than their folder's with a probability of at least
    /// [`CONFIDENTLY_WRONG`], most confident first: a hint of mislabelled images.
    ConfidentlyWrong,
}

/// The probability from which a wrong prediction counts as confident.
pub const CONFIDENTLY_WRONG: f32 = 0.5;

impl Selection {
    pub fn contains(self, file: &FileResult) -> bool {
        match self {
            Selection::Cell { truth, pred } => file.label == truth && file.pred == pred,
            Selection::PredictedAs(pred) => file.pred == pred,
            Selection::TrueClass(truth) => file.label == truth,
            Selection::ConfidentlyWrong => {
                file.label != file.pred && file.score >= CONFIDENTLY_WRONG
            }
        }
    }

    /// The evaluated images in the selection, in the order shown: set order, or most
    /// confident first for the confidently wrong (explain-core's ranking, as the CLI's).
    pub fn files(self, evaluation: &explain_core::metrics::Evaluation) -> Vec<&FileResult> {
        let mut files: Vec<&FileResult> = evaluation
            .files
            .iter()
            .filter(|f| self.contains(f))
            .collect();
        if self == Selection::ConfidentlyWrong {
            // Stable: ties keep set order.
            files.sort_by(|a, b| b.score.total_cmp(&a.score));
        }
        files
    }

    pub fn describe(self, classes: &[String]) -> String {
        let name = |k: usize| classes.get(k).cloned().unwrap_or_else(|| k.to_string());
        match self {
            Selection::Cell { truth, pred } => {
                format!("True {} predicted as {}", name(truth), name(pred))
            }
            Selection::PredictedAs(pred) => format!("Predicted as {}", name(pred)),
            Selection::TrueClass(truth) => format!("True class {}", name(truth)),
            Selection::ConfidentlyWrong => format!(
                "Confidently wrong (another class at {:.0} % or more), most confident first",
                100.0 * CONFIDENTLY_WRONG
            ),
        }
    }
}

/// A long job in the worker: what it is and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct JobProgress {
    pub id: u64,
    pub task: String,
    pub done: usize,
    pub total: usize,
    /// When the page asked for it (`Date.now()`, ms), for the estimate of time left.
    pub started_ms: f64,
    /// Computed in one go by the worker (an explanation, a dream): cancelled by restarting it.
    pub one_go: bool,
}

impl JobProgress {
    /// The progress after the worker reports `done` of `total` for job `id`: a new job (or a
    /// new phase of one, another `task`) restarts the clock of the estimate at `now_ms`.
    pub fn advanced(
        previous: Option<&JobProgress>,
        id: u64,
        task: String,
        done: usize,
        total: usize,
        now_ms: f64,
        one_go: bool,
    ) -> JobProgress {
        let started_ms = match previous {
            Some(p) if p.id == id && p.task == task => p.started_ms,
            _ => now_ms,
        };
        JobProgress {
            id,
            task,
            done,
            total,
            started_ms,
            one_go,
        }
    }
}

/// An image file the user picked (or the demo's).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFile {
    pub name: String,
    pub bytes: Vec<u8>,
    /// Its path in the open dataset, when it came from there.
    pub dataset_path: Option<String>,
}

/// A prediction with the pixels the network saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub result: PredictionResult,
    pub rgba: Vec<u8>,
}

/// An explanation of the shown image: the map as one value per pixel in [0, 1] (coloured by
/// the page with the chosen colour map and opacity) and the raw map as `.npy` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownExplanation {
    pub result: ExplanationResult,
    pub values: Vec<f32>,
    pub npy: Vec<u8>,
}

impl ShownExplanation {
    /// The explanation from the worker's answer: its bytes are the map for the page (float32,
    /// `values_len` bytes), then the raw map as `.npy`.
    pub fn from_answer(result: ExplanationResult, mut bytes: Vec<u8>) -> Self {
        let npy = bytes.split_off(result.values_len.min(bytes.len()));
        ShownExplanation {
            values: crate::protocol::bytes_f32(&bytes),
            result,
            npy,
        }
    }

    /// How much each pixel matters, whatever the sign: signed maps arrive centred on 0.5.
    fn importance(&self) -> Vec<f32> {
        if self.result.method.signed() {
            self.values.iter().map(|v| (v - 0.5).abs()).collect()
        } else {
            self.values.clone()
        }
    }
}

/// How far two maps shown side by side agree: their labels and Spearman's rank correlation of
/// the pixels' importance (`None` when it is undefined: a constant map).
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    pub a: String,
    pub b: String,
    pub spearman: Option<f64>,
}

/// Every pair of `maps` of the same size, in the order shown.
pub fn agreements(maps: &[ShownExplanation]) -> Vec<Agreement> {
    use explain_core::metrics::diagnostics::rank_agreement;
    let importance: Vec<Vec<f32>> = maps.iter().map(ShownExplanation::importance).collect();
    let mut out = Vec::new();
    for i in 0..maps.len() {
        for j in i + 1..maps.len() {
            if importance[i].len() == importance[j].len() {
                out.push(Agreement {
                    a: maps[i].result.method.label().to_string(),
                    b: maps[j].result.method.label().to_string(),
                    spearman: rank_agreement(&importance[i], &importance[j]),
                });
            }
        }
    }
    out
}

/// Adds a map that arrived to those shown, in the order the click asked for them (the client's
/// ids count up), whatever order the workers finished them in.
pub fn insert_explanation(list: &mut Vec<ShownExplanation>, explanation: ShownExplanation) {
    let at = list.partition_point(|e| e.result.id < explanation.result.id);
    list.insert(at, explanation);
}

/// The files of an `Images` answer: `bytes` holds them one after another, `lens` long each (a
/// length past the end drops that file and the rest).
pub fn split_files(paths: Vec<String>, lens: &[usize], bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut offset: usize = 0;
    let mut files = Vec::with_capacity(paths.len());
    for (path, &len) in paths.into_iter().zip(lens) {
        let Some(slice) = offset
            .checked_add(len)
            .and_then(|end| bytes.get(offset..end))
        else {
            break;
        };
        offset += len;
        files.push((path, slice.to_vec()));
    }
    files
}

/// The SVG `points` of a curve drawn in a `width` x `height` box: the values spread evenly
/// from left to right, `lo` at the bottom and `hi` at the top (values outside are clamped, a
/// value that is not a number is left out).
pub fn polyline_points(values: &[f32], width: f64, height: f64, lo: f64, hi: f64) -> String {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let last = values.len().saturating_sub(1).max(1) as f64;
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, &v)| {
            let x = width * i as f64 / last;
            let y = height * (1.0 - ((v as f64 - lo) / span).clamp(0.0, 1.0));
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_has_its_own_key() {
        let mut keys: Vec<&str> = View::ALL.iter().map(|v| v.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), View::ALL.len());
    }

    #[test]
    fn a_selection_holds_the_images_of_its_cell_row_or_column() {
        let file = |label, pred| FileResult {
            path: String::new(),
            label,
            pred,
            score: 1.0,
        };
        let cell = Selection::Cell { truth: 1, pred: 2 };
        assert!(cell.contains(&file(1, 2)) && !cell.contains(&file(2, 1)));
        assert!(Selection::PredictedAs(2).contains(&file(0, 2)));
        assert!(Selection::TrueClass(1).contains(&file(1, 0)));
        assert!(!Selection::TrueClass(1).contains(&file(0, 1)));
        let classes = ["cat".to_string(), "dog".to_string()];
        assert_eq!(
            Selection::Cell { truth: 0, pred: 1 }.describe(&classes),
            "True cat predicted as dog"
        );
        assert_eq!(
            Selection::PredictedAs(7).describe(&classes),
            "Predicted as 7"
        );
    }

    fn shown(method: crate::protocol::ExplainMethod, values: Vec<f32>) -> ShownExplanation {
        ShownExplanation {
            result: ExplanationResult {
                id: 0,
                method,
                target: 0,
                target_label: String::new(),
                layer: None,
                width: values.len(),
                height: 1,
                values_len: 4 * values.len(),
                deletion_auc: 0.0,
                insertion_auc: 0.0,
                compute_ms: 0.0,
                workers: 1,
                diagnostics: Vec::new(),
                deletion: Vec::new(),
                insertion: Vec::new(),
            },
            values,
            npy: Vec::new(),
        }
    }

    #[test]
    fn agreement_ranks_importance_whatever_the_sign() {
        use crate::protocol::ExplainMethod::{GradCam, GradientXInput, Saliency};
        let cam = shown(GradCam, vec![0.0, 0.2, 0.6, 1.0]);
        // Signed, centred on 0.5: the strongest pixels, for or against, are the last two.
        let signed = shown(GradientXInput, vec![0.5, 0.6, 0.1, 1.0]);
        let reversed = shown(Saliency, vec![1.0, 0.6, 0.2, 0.0]);
        let pairs = agreements(&[cam, signed, reversed]);
        let spearman: Vec<Option<f64>> = pairs.iter().map(|p| p.spearman).collect();
        assert_eq!(spearman, vec![Some(1.0), Some(-1.0), Some(-1.0)]);
        assert_eq!(
            (pairs[0].a.as_str(), pairs[0].b.as_str()),
            ("Grad-CAM", "Gradient × input")
        );
        // Maps of different sizes are not compared.
        let small = shown(Saliency, vec![0.0, 1.0]);
        assert_eq!(
            agreements(&[shown(GradCam, vec![0.0, 0.2, 0.6, 1.0]), small]),
            vec![]
        );
    }

    #[test]
    fn confidently_wrong_images_are_ranked_as_explain_core_ranks_them() {
        use explain_core::metrics::Evaluation;
        use explain_core::metrics::label_issues::confidently_wrong;
        let file = |path: &str, label, pred, score| FileResult {
            path: path.into(),
            label,
            pred,
            score,
        };
        let evaluation = Evaluation {
            files: vec![
                file("a", 0, 1, 0.6),
                file("b", 1, 1, 0.99),
                file("c", 1, 0, 0.95),
                file("d", 0, 1, 0.4),
                file("e", 1, 0, 0.6),
                file("f", 0, 1, CONFIDENTLY_WRONG),
            ],
            ..Evaluation::new(vec!["x".into(), "y".into()])
        };
        let shown: Vec<&str> = Selection::ConfidentlyWrong
            .files(&evaluation)
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        // Right (b) and unsure (d) are left out; ties keep set order.
        assert_eq!(shown, ["c", "a", "e", "f"]);
        let reference: Vec<String> = confidently_wrong(&evaluation, CONFIDENTLY_WRONG)
            .into_iter()
            .map(|w| w.path)
            .collect();
        assert_eq!(shown, reference);
        // Other selections keep set order.
        let row: Vec<&str> = Selection::TrueClass(1)
            .files(&evaluation)
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(row, ["b", "c", "e"]);
    }

    #[test]
    fn a_jobs_clock_restarts_with_a_new_job_or_phase_only() {
        let first = JobProgress::advanced(None, 7, "Evaluating".into(), 0, 10, 100.0, false);
        assert_eq!(first.started_ms, 100.0);
        let later =
            JobProgress::advanced(Some(&first), 7, "Evaluating".into(), 5, 10, 900.0, false);
        assert_eq!((later.started_ms, later.done), (100.0, 5));
        let phase = JobProgress::advanced(Some(&later), 7, "t-SNE".into(), 0, 3, 950.0, false);
        assert_eq!(phase.started_ms, 950.0);
        let other = JobProgress::advanced(Some(&phase), 8, "t-SNE".into(), 1, 3, 990.0, true);
        assert_eq!((other.started_ms, other.one_go), (990.0, true));
    }

    #[test]
    fn maps_are_shown_in_the_order_asked_whatever_order_they_arrive_in() {
        use crate::protocol::ExplainMethod::{GradCam, Saliency, ScoreCam};
        let with_id = |method, id| {
            let mut e = shown(method, vec![0.0, 1.0]);
            e.result.id = id;
            e
        };
        let mut list = Vec::new();
        insert_explanation(&mut list, with_id(ScoreCam, 12));
        insert_explanation(&mut list, with_id(Saliency, 10));
        insert_explanation(&mut list, with_id(GradCam, 11));
        let ids: Vec<u64> = list.iter().map(|e| e.result.id).collect();
        assert_eq!(ids, [10, 11, 12]);
    }

    #[test]
    fn an_explanations_bytes_are_its_map_then_its_npy() {
        let mut result = shown(crate::protocol::ExplainMethod::Saliency, vec![]).result;
        result.values_len = 8;
        let mut bytes = crate::protocol::f32_bytes(&[0.25, 1.0]);
        bytes.extend_from_slice(b"NPY");
        let e = ShownExplanation::from_answer(result.clone(), bytes);
        assert_eq!((e.values, e.npy), (vec![0.25, 1.0], b"NPY".to_vec()));
        // A short answer gives what there is, never a panic.
        let e = ShownExplanation::from_answer(result, vec![0, 0, 128, 63]);
        assert_eq!((e.values, e.npy), (vec![1.0], vec![]));
    }

    #[test]
    fn image_answers_split_into_their_files() {
        let paths = vec!["a/1.png".to_string(), "b/2.png".into(), "c/3.png".into()];
        let files = split_files(paths.clone(), &[2, 3, 1], b"abcdef");
        assert_eq!(
            files,
            [
                ("a/1.png".to_string(), b"ab".to_vec()),
                ("b/2.png".into(), b"cde".to_vec()),
                ("c/3.png".into(), b"f".to_vec())
            ]
        );
        // Lengths past the bytes (a hostile or truncated answer) stop the split.
        assert_eq!(split_files(paths.clone(), &[2, 9, 1], b"abcdef").len(), 1);
        assert_eq!(split_files(paths, &[usize::MAX, 1, 1], b"abcdef").len(), 0);
    }

    #[test]
    fn polylines_span_the_box_and_clamp() {
        assert_eq!(
            polyline_points(&[0.0, 0.5, 1.0], 100.0, 50.0, 0.0, 1.0),
            "0.0,50.0 50.0,25.0 100.0,0.0"
        );
        // Outside [lo, hi]: clamped to the box; NaN: left out.
        assert_eq!(
            polyline_points(&[2.0, f32::NAN, -3.0], 10.0, 10.0, 0.0, 1.0),
            "0.0,0.0 10.0,10.0"
        );
        assert_eq!(polyline_points(&[0.25], 10.0, 8.0, 0.0, 1.0), "0.0,6.0");
        assert_eq!(polyline_points(&[], 10.0, 8.0, 0.0, 1.0), "");
    }
}
