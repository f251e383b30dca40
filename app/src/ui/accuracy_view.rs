//! The Accuracy view: total accuracy, per-class accuracy (worst first), and the row-normalised
//! confusion matrix. A cell opens the images of that (true, predicted) pair, a column header
//! everything predicted as that class, a row header everything of that true class; wrong
//! predictions are framed in red.

use explain_core::metrics::Evaluation;
use leptos::prelude::*;
use web_sys::KeyboardEvent;

use super::class_maps_view::ClassMapsPanel;
use super::files;
use super::label_issues_view::LabelIssues;
use super::preprocessing_advice::PreprocessingAdvice;
use super::report::download_report;
use super::state::{Selection, View, use_session};

/// Images of a confusion cell shown at once.
const CELL_IMAGES: usize = 120;

fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// How many skipped images the warning lists by name.
const SKIPPED_SHOWN: usize = 20;

#[component]
pub fn AccuracyView() -> impl IntoView {
    let s = use_session();
    view! {
        <section class="panel" id="accuracy-view">
            <h2>"Accuracy"</h2>
            <PreprocessingAdvice />
            {move || match s.dataset.evaluation.get() {
                None => {
                    let text = if s.status.progress.get().is_some() {
                        "Evaluating the images…"
                    } else {
                        "Open a model and a folder of images (Image data) to see how well it classifies them."
                    };
                    view! { <p class="hint">{text}</p> }.into_any()
                }
                Some(result) => {
                    let e = result.evaluation;
                    let right = e.files.iter().filter(|f| f.label == f.pred).count();
                    let total_text = format!(
                        "{} of {} images right, in {:.1} s on {}",
                        right,
                        e.files.len(),
                        result.elapsed_ms / 1000.0,
                        result.backend.label()
                    );
                    let notes = result.notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view();
                    let skipped = (!e.skipped.is_empty()).then(|| {
                        let n = e.skipped.len();
                        let items = e
                            .skipped
                            .iter()
                            .take(SKIPPED_SHOWN)
                            .map(|s| view! { <li>{s.reason.clone()}</li> })
                            .collect_view();
                        let more = (n > SKIPPED_SHOWN).then(|| {
                            view! { <li>{format!("… and {} more", n - SKIPPED_SHOWN)}</li> }
                        });
                        view! {
                            <details id="skipped" class="warning" data-count=n.to_string()>
                                <summary>{format!("{n} image(s) could not be read and were left out")}</summary>
                                <ul>{items}{more}</ul>
                            </details>
                        }
                    });
                    view! {
                        <p id="accuracy-total" data-accuracy=format!("{}", e.accuracy())>
                            "Accuracy " <strong>{percent(e.accuracy())}</strong> <span class="hint">" (" {total_text} ")"</span>
                        </p>
                        <ul class="notes">{notes}</ul>
                        {skipped}
                        <div class="accuracy-grid">
                            <PerClass evaluation=e.clone() />
                            <Confusion evaluation=e.clone() />
                        </div>
                        <Exports evaluation=e.clone() />
                        <LabelIssues />
                        <CellImages evaluation=e />
                        <ClassMapsPanel />
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

/// Downloads of the tables and the session.
#[component]
fn Exports(evaluation: Evaluation) -> impl IntoView {
    let s = use_session();
    let e1 = evaluation.clone();
    let e2 = evaluation.clone();
    let e3 = evaluation;
    let session = move |_| {
        let text = crate::export::session_json(
            s.model.summary.get_untracked().as_ref(),
            s.dataset.summary.get_untracked().as_ref(),
            s.model.preprocess.get_untracked().as_ref(),
            s.dataset.evaluation.get_untracked().as_ref(),
        );
        files::download("unpic-session.json", text.as_bytes(), "application/json");
    };
    view! {
        <div class="exports">
            "Download: "
            <button id="export-per-class" on:click=move |_| files::download("per-class-accuracy.csv", crate::export::per_class_csv(&e1).as_bytes(), "text/csv")>"per-class accuracy (CSV)"</button>
            <button id="export-confusion" on:click=move |_| files::download("confusion-matrix.csv", crate::export::confusion_csv(&e2).as_bytes(), "text/csv")>"confusion matrix (CSV)"</button>
            <button id="export-predictions" on:click=move |_| files::download("predictions.csv", crate::export::predictions_csv(&e3).as_bytes(), "text/csv")>"predictions (CSV)"</button>
            <button id="export-session" on:click=session>"session (JSON)"</button>
            <button id="export-report" title="One HTML file with the model, the accuracy, the confusion matrix and the maps pinned in Predict & explain" on:click=move |_| download_report(s)>"report (HTML)"</button>
        </div>
    }
}

/// Per-class accuracy, worst first.
#[component]
fn PerClass(evaluation: Evaluation) -> impl IntoView {
    let counts: Vec<usize> = evaluation
        .confusion
        .iter()
        .map(|r| r.iter().sum())
        .collect();
    let rows = evaluation.per_class_worst_first();
    view! {
        <table id="per-class" class="table">
            <thead><tr><th>"Class"</th><th>"Accuracy"</th><th></th><th>"Images"</th></tr></thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|(k, a)| {
                        view! {
                            <tr data-class=k data-accuracy=format!("{a}")>
                                <td>{evaluation.classes[k].clone()}</td>
                                <td class="num">{percent(a)}</td>
                                <td class="bar-cell"><span class="bar-track"><span class="bar-fill" style:width=format!("{:.1}%", 100.0 * a)></span></span></td>
                                <td class="num">{counts[k]}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// Background and text colour of a cell with row fraction `v`: blue on the diagonal, red off it;
/// dark cells get light text. Set as CSS properties, not a `style` attribute, which the page's
/// Content-Security-Policy (`style-src 'self'`) refuses.
fn cell_colour(v: f64, diagonal: bool) -> (String, Option<&'static str>) {
    let alpha = v.sqrt().clamp(0.0, 1.0);
    let ink = (alpha > 0.6).then_some("#fff");
    let (r, g, b) = if diagonal {
        (53, 99, 233)
    } else {
        (220, 60, 40)
    };
    (format!("rgba({r}, {g}, {b}, {alpha:.3})"), ink)
}

/// The confusion matrix: rows are true classes, columns predicted ones; cells show counts and
/// are shaded by the fraction of their row. Clicking a cell shows its images.
#[component]
fn Confusion(evaluation: Evaluation) -> impl IntoView {
    let s = use_session();
    let normalised = evaluation.confusion_normalised();
    let classes = evaluation.classes.clone();
    let header = classes
        .iter()
        .enumerate()
        .map(|(p, c)| {
            let title = format!("show every image predicted as {c}");
            view! {
                <th class="col-head" data-pred=p title=title on:click=move |_| s.dataset.selection.set(Some(Selection::PredictedAs(p)))>
                    <span>{c.clone()}</span>
                </th>
            }
        })
        .collect_view();
    let body = evaluation
        .confusion
        .iter()
        .enumerate()
        .map(|(t, row)| {
            let cells = row
                .iter()
                .enumerate()
                .map(|(p, &count)| {
                    let v = normalised[t][p];
                    let title = format!(
                        "true {}, predicted {}: {count} image(s), {} of the row",
                        classes[t],
                        classes[p],
                        percent(v)
                    );
                    let (background, ink) = cell_colour(v, t == p);
                    view! {
                        <td
                            class="cell"
                            class:empty=count == 0
                            class:selected=move || s.dataset.selection.get() == Some(Selection::Cell { truth: t, pred: p })
                            data-true=t
                            data-pred=p
                            data-count=count
                            data-fraction=format!("{v}")
                            title=title
                            style:background=background
                            style:color=ink
                            on:click=move |_| {
                                if count > 0 {
                                    s.dataset.selection.set(Some(Selection::Cell { truth: t, pred: p }));
                                }
                            }
                        >
                            {(count > 0).then(|| count.to_string())}
                        </td>
                    }
                })
                .collect_view();
            let title = format!("show every image of true class {}", classes[t]);
            view! {
                <tr>
                    <th class="row-head" data-true=t title=title on:click=move |_| s.dataset.selection.set(Some(Selection::TrueClass(t)))>
                        {classes[t].clone()}
                    </th>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="confusion-wrap">
            <table id="confusion" class="confusion">
                <caption>"Rows: true class · columns: predicted class · shade: fraction of the row"</caption>
                <thead><tr><th></th>{header}</tr></thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
}

/// The images of the selection (a cell, a row or a column); click (or arrows + Enter) opens one.
#[component]
fn CellImages(evaluation: Evaluation) -> impl IntoView {
    let s = use_session();
    let focused = RwSignal::new(0usize);
    let files = {
        let evaluation = evaluation.clone();
        Memo::new(move |_| match s.dataset.selection.get() {
            Some(selection) => selection
                .files(&evaluation)
                .into_iter()
                .take(CELL_IMAGES)
                .cloned()
                .collect::<Vec<_>>(),
            None => Vec::new(),
        })
    };
    Effect::new(move |_| {
        focused.set(0);
        s.want_thumbnails(files.get().into_iter().map(|f| f.path).collect());
    });
    let open = move |path: String| {
        s.open_dataset_image(path);
        s.status.view.set(View::Predict);
    };
    let on_key = move |ev: KeyboardEvent| {
        let n = files.get_untracked().len();
        if n == 0 {
            return;
        }
        let i = focused.get_untracked();
        match ev.key().as_str() {
            "ArrowRight" | "ArrowDown" => focused.set((i + 1).min(n - 1)),
            "ArrowLeft" | "ArrowUp" => focused.set(i.saturating_sub(1)),
            "Enter" => {
                if let Some(f) = files.get_untracked().get(i) {
                    open(f.path.clone());
                }
            }
            _ => return,
        }
        ev.prevent_default();
    };
    move || {
        let selection = s.dataset.selection.get()?;
        let total = selection.files(&evaluation).len();
        let title = format!(
            "{}: {total} image(s){}",
            selection.describe(&evaluation.classes),
            if total > CELL_IMAGES {
                format!(", the first {CELL_IMAGES} shown")
            } else {
                String::new()
            }
        );
        let classes = evaluation.classes.clone();
        let items = files
            .get()
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let src = s.thumbnail(f.path.clone());
                let name = |k: usize| classes.get(k).cloned().unwrap_or_default();
                let tip = format!(
                    "{}: true {}, predicted {} ({})",
                    f.path,
                    name(f.label),
                    name(f.pred),
                    percent(f64::from(f.score))
                );
                let target = f.path.clone();
                view! {
                    <button
                        class="thumb"
                        class:wrong=f.label != f.pred
                        class:focused=move || focused.get() == i
                        data-path=f.path
                        title=tip
                        on:click=move |_| open(target.clone())
                    >
                        <img src=src alt="" />
                    </button>
                }
            })
            .collect_view();
        Some(view! {
            <div id="cell-images" class="gallery" tabindex="0" on:keydown=on_key>
                <h3>{title}</h3>
                <div class="thumbs">{items}</div>
                <p class="hint">"Click an image (or move with the arrow keys and press Enter) to predict and explain it. Red frame: predicted wrong."</p>
            </div>
        })
    }
}
