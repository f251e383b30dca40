//! The report's download: the page's state as one self-contained HTML file
//! (`export::report_html`, explain-core's `render::report`).

use leptos::prelude::*;

use super::files;
use super::state::Session;

/// Writes the report of what the page holds now, with the pinned maps.
pub fn download_report(s: Session) {
    let made_by = format!(
        "UNPIC for the web {}, {}",
        env!("CARGO_PKG_VERSION"),
        js_sys::Date::new_0().to_iso_string()
    );
    let html = crate::export::report_html(
        s.model.summary.get_untracked().as_ref(),
        s.dataset.summary.get_untracked().as_ref(),
        s.model.preprocess.get_untracked().as_ref(),
        s.dataset.evaluation.get_untracked().as_ref(),
        &s.image.pinned.get_untracked(),
        made_by,
    );
    files::download("unpic-report.html", html.as_bytes(), "text/html");
}
