//! Explanations of many images at once (a confusion cell, a class, everything predicted as a
//! class): which images and classes to ask for, and the maps as they arrive. Pure, tested
//! natively; the worker's job is `worker/src/class_maps.rs`, the view `ui/class_maps_view.rs`.

use std::sync::Arc;

use explain_core::metrics::Evaluation;

use crate::page_model::Selection;
use crate::protocol::{ClassMapsResult, ExplainMethod, ImageMapResult, bytes_f32};

/// The most images explained per click (the worker refuses more than 500).
pub const MAX_EXPLAINED: usize = 120;

impl Selection {
    /// The class explained in each image of the selection: the one the images were chosen by
    /// (a row explains its true class; a cell, a column and the confidently wrong explain the
    /// prediction: why did the model say that?).
    pub fn explained_class(self, pred: usize) -> usize {
        match self {
            Selection::TrueClass(truth) => truth,
            Selection::Cell { .. } | Selection::PredictedAs(_) | Selection::ConfidentlyWrong => {
                pred
            }
        }
    }

    /// The first [`MAX_EXPLAINED`] images of the selection, in the order shown, each with the
    /// class to explain.
    pub fn images_to_explain(self, evaluation: &Evaluation) -> Vec<(String, usize)> {
        self.files(evaluation)
            .into_iter()
            .take(MAX_EXPLAINED)
            .map(|f| (f.path.clone(), self.explained_class(f.pred)))
            .collect()
    }
}

/// One image's map as it arrived: the image at network resolution (RGBA) and the map, one value
/// per pixel in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct ShownImageMap {
    pub result: ImageMapResult,
    pub rgba: Vec<u8>,
    pub values: Vec<f32>,
}

impl ShownImageMap {
    /// The map from the worker's answer (RGBA bytes, then float32 values); `None` when the bytes
    /// are not the size the result says.
    pub fn from_answer(result: ImageMapResult, bytes: &[u8]) -> Option<Self> {
        let area = result.width.checked_mul(result.height)?;
        let rgba_len = area.checked_mul(4)?;
        if bytes.len() != rgba_len.checked_mul(2)? {
            return None;
        }
        let (rgba, values) = bytes.split_at(rgba_len);
        Some(ShownImageMap {
            rgba: rgba.to_vec(),
            values: bytes_f32(values),
            result,
        })
    }
}

/// The maps of one click, and their summary once every image is done.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownClassMaps {
    pub id: u64,
    pub method: ExplainMethod,
    /// What was explained, for the title ("True T-shirt predicted as Shirt").
    pub title: String,
    pub asked: usize,
    /// In the order asked (shared: the gallery takes them without copying the pixels).
    pub maps: Vec<Arc<ShownImageMap>>,
    /// The mean map as shown (one value per pixel in [0, 1]) and the raw mean as `.npy`.
    pub summary: Option<(ClassMapsResult, Vec<f32>, Vec<u8>)>,
}

impl ShownClassMaps {
    pub fn new(id: u64, method: ExplainMethod, title: String, asked: usize) -> Self {
        ShownClassMaps {
            id,
            method,
            title,
            asked,
            maps: Vec::new(),
            summary: None,
        }
    }

    /// Adds a map of this click's job (in the order asked, whatever order they come in).
    pub fn add(&mut self, map: ShownImageMap) {
        if map.result.id != self.id {
            return;
        }
        let at = self
            .maps
            .partition_point(|m| m.result.index < map.result.index);
        if self
            .maps
            .get(at)
            .is_some_and(|m| m.result.index == map.result.index)
        {
            return;
        }
        self.maps.insert(at, Arc::new(map));
    }

    /// The summary from the worker's last answer (the shown mean's bytes, then the `.npy`).
    pub fn finish(&mut self, result: ClassMapsResult, mut bytes: Vec<u8>) {
        if result.id != self.id {
            return;
        }
        let npy = bytes.split_off(result.values_len.min(bytes.len()));
        self.summary = Some((result, bytes_f32(&bytes), npy));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::f32_bytes;
    use explain_core::metrics::Evaluation;

    fn evaluation() -> Evaluation {
        let mut e = Evaluation::new(vec!["a".into(), "b".into(), "c".into()]);
        e.add("a/1.png", 0, &[0.0, 5.0, 0.0]); // a taken for b
        e.add("a/2.png", 0, &[5.0, 0.0, 0.0]);
        e.add("b/1.png", 1, &[0.0, 5.0, 0.0]);
        e.add("a/3.png", 0, &[0.0, 4.0, 0.0]); // a taken for b
        e.add("c/1.png", 2, &[0.0, 5.0, 0.0]); // c taken for b
        e
    }

    #[test]
    fn a_cell_or_a_column_explains_the_prediction_and_a_row_its_class() {
        let e = evaluation();
        assert_eq!(
            Selection::Cell { truth: 0, pred: 1 }.images_to_explain(&e),
            vec![("a/1.png".to_string(), 1), ("a/3.png".to_string(), 1)]
        );
        assert_eq!(
            Selection::TrueClass(0).images_to_explain(&e),
            vec![
                ("a/1.png".to_string(), 0),
                ("a/2.png".to_string(), 0),
                ("a/3.png".to_string(), 0)
            ]
        );
        let column = Selection::PredictedAs(1).images_to_explain(&e);
        assert_eq!(column.len(), 4);
        assert!(column.iter().all(|(_, class)| *class == 1));
    }

    fn map(id: u64, index: usize) -> ShownImageMap {
        let result = ImageMapResult {
            id,
            index,
            path: format!("x/{index}.png"),
            target: 1,
            width: 2,
            height: 1,
            deletion_auc: 0.1,
            insertion_auc: 0.9,
            done: index + 1,
            total: 3,
        };
        let mut bytes = vec![7u8; 8];
        bytes.extend(f32_bytes(&[0.25, 1.0]));
        ShownImageMap::from_answer(result, &bytes).expect("the right size")
    }

    #[test]
    fn maps_keep_the_order_asked_and_another_jobs_maps_stay_out() {
        let m = map(1, 0);
        assert_eq!(m.rgba, vec![7u8; 8]);
        assert_eq!(m.values, vec![0.25, 1.0]);
        let mut shown = ShownClassMaps::new(1, ExplainMethod::Saliency, "t".into(), 3);
        shown.add(map(1, 2));
        shown.add(map(1, 0));
        shown.add(map(2, 1));
        shown.add(map(1, 0));
        let order: Vec<usize> = shown.maps.iter().map(|m| m.result.index).collect();
        assert_eq!(order, vec![0, 2]);
    }

    #[test]
    fn a_map_whose_bytes_are_not_its_size_is_refused() {
        let result = map(1, 0).result;
        assert!(ShownImageMap::from_answer(result.clone(), &[0u8; 15]).is_none());
        let huge = ImageMapResult {
            width: usize::MAX,
            height: 2,
            ..result
        };
        assert!(ShownImageMap::from_answer(huge, &[0u8; 16]).is_none());
    }

    #[test]
    fn the_summary_splits_the_mean_from_the_npy() {
        let mut shown = ShownClassMaps::new(4, ExplainMethod::GradCam, "t".into(), 1);
        let mut bytes = f32_bytes(&[0.5, 0.75]);
        bytes.extend(b"NPY");
        let result = ClassMapsResult {
            id: 4,
            method: ExplainMethod::GradCam,
            layer: None,
            width: 2,
            height: 1,
            images: 1,
            dims: vec![1, 1, 1, 2],
            values_len: 8,
            faithfulness: Vec::new(),
            skipped: Vec::new(),
        };
        shown.finish(
            ClassMapsResult {
                id: 5,
                ..result.clone()
            },
            bytes.clone(),
        );
        assert!(shown.summary.is_none(), "another job's summary");
        shown.finish(result, bytes);
        let (_, mean, npy) = shown.summary.expect("summary");
        assert_eq!(mean, vec![0.5, 0.75]);
        assert_eq!(npy, b"NPY".to_vec());
    }
}
