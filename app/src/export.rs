//! What the page offers for download: tables as CSV, the session as JSON and the report as one
//! HTML file. Pure functions of the results, so they are tested natively.

use explain_core::metrics::Evaluation;
use explain_core::render::report::{PinnedMap, Report, render_html};
use serde_json::json;

use crate::protocol::{DatasetSummary, EvaluationResult, ModelSummary, TsneResult};

/// One CSV field, quoted when it holds a comma, quote or line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn row(fields: impl IntoIterator<Item = String>) -> String {
    fields
        .into_iter()
        .map(|f| field(&f))
        .collect::<Vec<_>>()
        .join(",")
        + "\n"
}

/// The confusion matrix with class names: rows are true classes, columns predicted ones.
pub fn confusion_csv(e: &Evaluation) -> String {
    let mut out = row(std::iter::once("true \\ predicted".to_string()).chain(e.classes.clone()));
    for (k, counts) in e.confusion.iter().enumerate() {
        out +=
            &row(std::iter::once(e.classes[k].clone()).chain(counts.iter().map(usize::to_string)));
    }
    out
}

/// Accuracy of each true class (empty for a class without images).
pub fn per_class_csv(e: &Evaluation) -> String {
    let mut out = row([
        "class".to_string(),
        "images".into(),
        "right".into(),
        "accuracy".into(),
    ]);
    for (k, a) in e.per_class().into_iter().enumerate() {
        let total: usize = e.confusion[k].iter().sum();
        out += &row([
            e.classes[k].clone(),
            total.to_string(),
            e.confusion[k][k].to_string(),
            a.map_or(String::new(), |a| format!("{a}")),
        ]);
    }
    out
}

/// Every image: path, true and predicted class, and the predicted class's probability.
pub fn predictions_csv(e: &Evaluation) -> String {
    let mut out = row(["path", "true", "predicted", "probability", "right"].map(String::from));
    for f in &e.files {
        out += &row([
            f.path.clone(),
            e.classes[f.label].clone(),
            e.classes[f.pred].clone(),
            format!("{}", f.score),
            (f.label == f.pred).to_string(),
        ]);
    }
    out
}

/// A t-SNE map's points: path, coordinates, true and predicted class.
pub fn tsne_csv(map: &TsneResult) -> String {
    let name = |k: usize| map.classes.get(k).cloned().unwrap_or_else(|| k.to_string());
    let mut out = row(["path", "x", "y", "true", "predicted"].map(String::from));
    for (i, p) in map.points.iter().enumerate() {
        out += &row([
            map.paths[i].clone(),
            format!("{}", p[0]),
            format!("{}", p[1]),
            name(map.truth[i]),
            name(map.predicted[i]),
        ]);
    }
    out
}

/// The session: model, dataset, settings and every prediction, to keep or compare later.
pub fn session_json(
    model: Option<&ModelSummary>,
    dataset: Option<&DatasetSummary>,
    preprocess: Option<&explain_core::data::Preprocess>,
    result: Option<&EvaluationResult>,
) -> String {
    let session = json!({
        "app": "UNPIC for the web",
        "version": env!("CARGO_PKG_VERSION"),
        "model": model.map(|m| json!({
            "name": m.name, "input": m.input, "classes": m.num_classes, "labels": m.labels,
        })),
        "dataset": dataset.map(|d| json!({
            "name": d.name, "classes": d.classes, "counts": d.counts, "images": d.items.len(),
        })),
        "preprocessing": preprocess,
        "evaluation": result.map(|r| json!({
            "backend": r.backend.label(),
            "elapsed_ms": r.elapsed_ms,
            "accuracy": r.evaluation.accuracy(),
            "per_class": r.evaluation.per_class(),
            "classes": r.evaluation.classes,
            "confusion": r.evaluation.confusion,
            "notes": r.notes,
            "files": r.evaluation.files,
        })),
    });
    serde_json::to_string_pretty(&session).unwrap_or_default()
}

/// The report to keep (explain-core's `render::report`, as `unpic report` writes it): the
/// model, the images and their preprocessing, the evaluation, the pinned maps, and the session
/// JSON (with the pinned maps' settings) inside it. `made_by` says who made it and when.
pub fn report_html(
    model: Option<&ModelSummary>,
    dataset: Option<&DatasetSummary>,
    preprocess: Option<&explain_core::data::Preprocess>,
    result: Option<&EvaluationResult>,
    pinned: &[PinnedMap],
    made_by: String,
) -> String {
    let mut session: serde_json::Value =
        serde_json::from_str(&session_json(model, dataset, preprocess, result)).unwrap_or_default();
    session["pinned"] = json!(pinned);
    let model_rows = model.map_or_else(Vec::new, |m| {
        vec![
            ("File".to_string(), m.name.clone()),
            (
                "Input".into(),
                format!(
                    "{} channel(s), {}x{} ({:?})",
                    m.input.channels, m.input.width, m.input.height, m.input.layout
                ),
            ),
            ("Classes".into(), m.labels.join(", ")),
            ("Nodes".into(), m.nodes.to_string()),
        ]
    });
    let mut dataset_rows = dataset.map_or_else(Vec::new, |d| {
        vec![
            ("Images".to_string(), d.name.clone()),
            (
                "Count".into(),
                format!(
                    "{} images in {} class folders",
                    d.items.len(),
                    d.classes.len()
                ),
            ),
        ]
    });
    if let Some(p) = preprocess {
        dataset_rows.push((
            "Preprocessing".into(),
            format!(
                "{}x{}, {} channel(s), x = (pixel x {} - mean {:?}) / std {:?}",
                p.width, p.height, p.channels, p.scale, p.mean, p.std
            ),
        ));
    }
    if let Some(r) = result {
        dataset_rows.push((
            "Evaluated".into(),
            format!("on {} in {:.1} s", r.backend.label(), r.elapsed_ms / 1000.0),
        ));
    }
    render_html(&Report {
        made_by,
        model: model_rows,
        dataset: dataset_rows,
        evaluation: result.map(|r| r.evaluation.clone()),
        pinned: pinned.to_vec(),
        session_json: serde_json::to_string_pretty(&session).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluation() -> Evaluation {
        let mut e = Evaluation::new(vec!["T-shirt/top".into(), "coat, long".into()]);
        e.add("a/1.png", 0, &[2.0, 1.0]);
        e.add("b/2.png", 1, &[3.0, 0.0]);
        e.add("b/3.png", 1, &[0.0, 1.0]);
        e
    }

    #[test]
    fn tables_are_csv_with_quoted_names() {
        let e = evaluation();
        assert_eq!(
            confusion_csv(&e),
            "true \\ predicted,T-shirt/top,\"coat, long\"\nT-shirt/top,1,0\n\"coat, long\",1,1\n"
        );
        assert_eq!(
            per_class_csv(&e),
            "class,images,right,accuracy\nT-shirt/top,1,1,1\n\"coat, long\",2,1,0.5\n"
        );
        let predictions = predictions_csv(&e);
        assert_eq!(predictions.lines().count(), 4);
        assert!(
            predictions.contains("b/2.png,\"coat, long\",T-shirt/top,"),
            "{predictions}"
        );
        assert!(predictions.ends_with(",true\n"), "{predictions}");
    }

    #[test]
    fn the_session_holds_settings_and_predictions() {
        let e = evaluation();
        let result = EvaluationResult {
            id: 1,
            evaluation: e,
            notes: vec![],
            elapsed_ms: 12.0,
            backend: crate::protocol::Backend::Cpu,
        };
        let text = session_json(None, None, None, Some(&result));
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["evaluation"]["files"].as_array().map(Vec::len), Some(3));
        assert!(
            (v["evaluation"]["accuracy"].as_f64().expect("accuracy") - 2.0 / 3.0).abs() < 1e-12
        );
        assert!(v["model"].is_null());
    }

    #[test]
    fn the_report_holds_the_evaluation_the_pins_and_the_session() {
        let result = EvaluationResult {
            id: 1,
            evaluation: evaluation(),
            notes: vec![],
            elapsed_ms: 1500.0,
            backend: crate::protocol::Backend::Cpu,
        };
        let pin = PinnedMap {
            image: "a/1.png".into(),
            png: vec![1, 2, 3],
            settings: "Saliency of 'T-shirt/top' (logit)".into(),
            deletion_auc: Some(0.5),
            insertion_auc: Some(0.5),
            diagnostics: vec![],
        };
        let html = report_html(None, None, None, Some(&result), &[pin], "me, today".into());
        assert!(html.contains("me, today"));
        assert!(
            html.contains("data-accuracy=\"0.6666666666666666\""),
            "{html}"
        );
        assert!(html.contains("src=\"data:image/png;base64,AQID\""));
        // The session inside names the pinned map's settings (escaped for HTML).
        assert!(
            html.contains(
                "&quot;settings&quot;: &quot;Saliency of &#39;T-shirt/top&#39; (logit)&quot;"
            ),
            "{html}"
        );
    }
}
