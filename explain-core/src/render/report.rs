//! A report to keep: one self-contained HTML file (no external requests: styles inline, images
//! as `data:` URLs) with the model, the images, the accuracy, the confusion matrix and the maps
//! the user pinned with their settings and diagnostics, and the session's JSON inside it, so
//! its numbers can be checked and remade. The page and `unpic report` both write it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::metrics::Evaluation;

/// A map kept for the report: the picture as shown and what made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinnedMap {
    /// The image explained (a file name or dataset path).
    pub image: String,
    /// The overlay as PNG bytes.
    #[serde(skip)]
    pub png: Vec<u8>,
    /// The method, its layer and settings, the class explained and the score.
    pub settings: String,
    pub deletion_auc: Option<f64>,
    pub insertion_auc: Option<f64>,
    /// Warnings about the map (saturated, constant, the same for another class...).
    pub diagnostics: Vec<String>,
}

/// Everything a report shows.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Who made it and when ("UNPIC for the web 0.1.0, 2026-12-03 15:00").
    pub made_by: String,
    /// `(label, value)` rows describing the model (file, input, classes, nodes).
    pub model: Vec<(String, String)>,
    /// `(label, value)` rows describing the images and the preprocessing.
    pub dataset: Vec<(String, String)>,
    pub evaluation: Option<Evaluation>,
    pub pinned: Vec<PinnedMap>,
    /// The session as JSON (settings, predictions): embedded verbatim.
    pub session_json: String,
}

/// Text safe inside HTML elements and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn rows(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v)))
        .collect()
}

fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn accuracy_section(e: &Evaluation) -> String {
    let right = e.files.iter().filter(|f| f.label == f.pred).count();
    let mut html = format!(
        "<h2>Accuracy</h2><p id=\"accuracy\" data-accuracy=\"{}\">Accuracy <strong>{}</strong> \
         ({right} of {} images right)</p>",
        e.accuracy(),
        percent(e.accuracy()),
        e.files.len()
    );
    html += "<table id=\"per-class\"><thead><tr><th>Class</th><th>Accuracy</th><th>Images</th>\
             </tr></thead><tbody>";
    for (k, a) in e.per_class().into_iter().enumerate() {
        let n: usize = e.confusion[k].iter().sum();
        html += &format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{n}</td></tr>",
            escape(&e.classes[k]),
            a.map_or("–".into(), percent)
        );
    }
    html += "</tbody></table><h2>Confusion matrix</h2>\
             <p class=\"hint\">Rows: true class; columns: predicted class; shade: fraction of the row.</p>\
             <table id=\"confusion\"><thead><tr><th></th>";
    for c in &e.classes {
        html += &format!("<th class=\"col\">{}</th>", escape(c));
    }
    html += "</tr></thead><tbody>";
    let normalised = e.confusion_normalised();
    for (t, row) in e.confusion.iter().enumerate() {
        html += &format!("<tr><th>{}</th>", escape(&e.classes[t]));
        for (p, &count) in row.iter().enumerate() {
            let alpha = normalised[t][p].sqrt().clamp(0.0, 1.0);
            let (r, g, b) = if t == p { (53, 99, 233) } else { (220, 60, 40) };
            let ink = if alpha > 0.6 { "#fff" } else { "#1d2330" };
            let shown = if count > 0 {
                count.to_string()
            } else {
                String::new()
            };
            html += &format!(
                "<td data-true=\"{t}\" data-pred=\"{p}\" data-count=\"{count}\" \
                 style=\"background:rgba({r},{g},{b},{alpha:.3});color:{ink}\">{shown}</td>"
            );
        }
        html += "</tr>";
    }
    html + "</tbody></table>"
}

fn pinned_section(pinned: &[PinnedMap]) -> String {
    if pinned.is_empty() {
        return "<h2>Pinned maps</h2><p class=\"hint\">No map was pinned.</p>".into();
    }
    let mut html = String::from("<h2>Pinned maps</h2><div class=\"maps\">");
    for (i, m) in pinned.iter().enumerate() {
        let scores = match (m.deletion_auc, m.insertion_auc) {
            (Some(d), Some(i)) => format!("<br>deletion {d:.3} · insertion {i:.3}"),
            _ => String::new(),
        };
        let warnings: String = m
            .diagnostics
            .iter()
            .map(|d| format!("<br><span class=\"warning\">⚠ {}</span>", escape(d)))
            .collect();
        html += &format!(
            "<figure class=\"pinned\" data-index=\"{i}\"><img alt=\"{alt}\" src=\"data:image/png;base64,{png}\">\
             <figcaption><strong>{image}</strong><br>{settings}{scores}{warnings}</figcaption></figure>",
            alt = escape(&m.settings),
            png = STANDARD.encode(&m.png),
            image = escape(&m.image),
            settings = escape(&m.settings),
        );
    }
    html + "</div>"
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;color:#1d2330;margin:24px auto;\
max-width:1100px;padding:0 16px}h1{font-size:24px}h2{font-size:18px;margin-top:28px}\
table{border-collapse:collapse}th,td{padding:3px 8px;text-align:left}td.num{text-align:right}\
#confusion td{width:36px;height:30px;text-align:center;font-size:13px;border:1px solid #eee}\
#confusion th.col{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:400}\
.hint{color:#5d6677;font-size:13px}.maps{display:flex;flex-wrap:wrap;gap:16px}\
.pinned{margin:0;width:240px}.pinned img{width:240px;image-rendering:pixelated;border:1px solid #d9dee7}\
figcaption{font-size:13px;color:#5d6677;overflow-wrap:anywhere}.warning{color:#b42318}\
details pre{max-height:400px;overflow:auto;background:#f6f7fa;padding:8px;font-size:12px}";

/// The report as one HTML document that needs nothing else to open.
pub fn render_html(report: &Report) -> String {
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\
         <title>UNPIC report</title><style>{STYLE}</style></head><body>\
         <h1>UNPIC report</h1><p class=\"hint\" id=\"made-by\">{}</p>\
         <h2>Model</h2><table id=\"model\">{}</table>",
        escape(&report.made_by),
        rows(&report.model)
    );
    if !report.dataset.is_empty() {
        html += &format!(
            "<h2>Images</h2><table id=\"dataset\">{}</table>",
            rows(&report.dataset)
        );
    }
    if let Some(e) = &report.evaluation {
        html += &accuracy_section(e);
    }
    html += &pinned_section(&report.pinned);
    html += &format!(
        "<h2>Session</h2><details><summary>The settings and every prediction as JSON (what \
         the app's \"session (JSON)\" download holds)</summary><pre id=\"session\">{}</pre></details>",
        escape(&report.session_json)
    );
    html + "</body></html>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut e = Evaluation::new(vec!["cat".into(), "<dog>".into()]);
        e.add("a.png", 0, &[2.0, 1.0]);
        e.add("b.png", 1, &[2.0, 1.0]);
        Report {
            made_by: "test".into(),
            model: vec![("File".into(), "m.onnx".into())],
            dataset: vec![("Images".into(), "2".into())],
            evaluation: Some(e),
            pinned: vec![PinnedMap {
                image: "a.png".into(),
                png: vec![0x89, b'P', b'N', b'G'],
                settings: "Grad-CAM at \"conv\"".into(),
                deletion_auc: Some(0.25),
                insertion_auc: Some(0.75),
                diagnostics: vec!["the map is constant".into()],
            }],
            session_json: "{\"a\": \"</pre><script>\"}".into(),
        }
    }

    #[test]
    fn the_report_holds_everything_inline_and_escaped() {
        let html = render_html(&report());
        // Nothing to fetch: the only URLs are data: URLs.
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("src=\"/")
        );
        assert!(
            html.contains("src=\"data:image/png;base64,iVBORw==\""),
            "{html}"
        );
        assert!(html.contains("data-accuracy=\"0.5\""));
        assert!(html.contains("&lt;dog&gt;") && !html.contains("<dog>"));
        assert!(html.contains("Grad-CAM at &quot;conv&quot;"));
        assert!(html.contains("deletion 0.250 · insertion 0.750"));
        assert!(html.contains("⚠ the map is constant"));
        // The session cannot close its element.
        assert!(html.contains("&lt;/pre&gt;&lt;script&gt;") && !html.contains("<script>"));
        assert_eq!(html.matches("data-count=").count(), 4);
    }

    #[test]
    fn a_report_without_pins_or_evaluation_says_so() {
        let html = render_html(&Report {
            evaluation: None,
            pinned: Vec::new(),
            ..report()
        });
        assert!(html.contains("No map was pinned."));
        assert!(!html.contains("id=\"confusion\""));
    }
}
