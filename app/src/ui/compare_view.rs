//! The Compare view: a second model on the same images. Each model's accuracy and per-class
//! accuracy, the disagreement table (both right, only A right, only B right, both wrong) whose
//! cells open their images, and McNemar's exact test on the difference. An image opened from
//! here shows both models' predictions and maps side by side in Predict & explain.

use explain_core::metrics::comparison::{Cell, Comparison, compare};
use leptos::prelude::*;

use super::demo::open_demo_second_model;
use super::panels::DropZone;
use super::state::{View, use_session};
use crate::presets::Preset;

/// Images of a disagreement cell shown at once.
const CELL_IMAGES: usize = 120;

const CELLS: [(Cell, &str, &str); 4] = [
    (Cell::BothRight, "both_right", "both right"),
    (Cell::OnlyA, "only_a", "only A right"),
    (Cell::OnlyB, "only_b", "only B right"),
    (Cell::BothWrong, "both_wrong", "both wrong"),
];

fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// What McNemar's p-value says, in words.
fn verdict(p: f64) -> &'static str {
    if p < 0.01 {
        "the difference in accuracy is very unlikely to be chance"
    } else if p < 0.05 {
        "the difference in accuracy is unlikely to be chance"
    } else {
        "the difference in accuracy could well be chance"
    }
}

#[component]
pub fn CompareView() -> impl IntoView {
    let s = use_session();
    let comparison = Memo::new(move |_| {
        let a = s.dataset.evaluation.get()?;
        let b = s.compare.evaluation.get()?;
        Some(compare(&a.evaluation, &b.evaluation).map_err(|e| e.to_string()))
    });
    let second = move || {
        s.compare.summary.get().map(|m| {
            view! {
                <p id="second-summary">
                    {format!("Model B: {} ({}x{}, {} classes)", m.name, m.input.width, m.input.height, m.num_classes)}
                    <button id="close-second" on:click=move |_| s.close_second_model()>"Close"</button>
                </p>
                <label>"Model B's preprocessing "
                    <select id="second-preset" on:change=move |ev| {
                        if let Some(p) = Preset::from_key(&event_target_value(&ev)) {
                            s.set_second_preset(p);
                        }
                    }>
                        {Preset::ALL.into_iter().map(|p| view! {
                            <option value=p.key() selected=move || s.compare.preset.get() == p>{p.label()}</option>
                        }).collect_view()}
                    </select>
                </label>
            }
        })
    };
    view! {
        <section class="panel" id="compare-view">
            <h2>"Compare two models"</h2>
            <p class="hint">"Model A is the one open on the left; open model B here. Both classify the same images, each with its own preprocessing."</p>
            <div class="open-row">
                <DropZone id="second-model" label="Open model B (.onnx, or drop it here)" accept=".onnx" on_file=|s, name, bytes| s.open_second_model(name, bytes) />
                <button id="use-demo-second" on:click=move |_| open_demo_second_model(s)>"Compare with the demo's second model"</button>
            </div>
            {second}
            {move || match comparison.get() {
                None if s.compare.summary.with(Option::is_some) => Some(view! {
                    <p class="hint">"Evaluating the images with both models…"</p>
                }.into_any()),
                None => None,
                Some(Err(e)) => Some(view! {
                    <p class="warning" id="compare-error">{format!("These models cannot be compared: {e}")}</p>
                }.into_any()),
                Some(Ok(c)) => Some(view! { <ComparisonTables comparison=c /> }.into_any()),
            }}
        </section>
    }
}

/// The comparison of the two evaluations.
#[component]
fn ComparisonTables(comparison: Comparison) -> impl IntoView {
    let s = use_session();
    let c = comparison;
    let (a_name, b_name) = (
        s.model
            .summary
            .get_untracked()
            .map(|m| m.name)
            .unwrap_or_default(),
        s.compare
            .summary
            .get_untracked()
            .map(|m| m.name)
            .unwrap_or_default(),
    );
    let chosen = RwSignal::new(None::<Cell>);
    let count = |cell: Cell| match cell {
        Cell::BothRight => c.table.both_right,
        Cell::OnlyA => c.table.only_a,
        Cell::OnlyB => c.table.only_b,
        Cell::BothWrong => c.table.both_wrong,
    };
    let cells = CELLS
        .iter()
        .map(|&(cell, key, label)| {
            let n = count(cell);
            view! {
                <td class="cell" class:selected=move || chosen.get() == Some(cell) data-cell=key data-count=n
                    title=format!("{label}: {n} image(s)") on:click=move |_| { if n > 0 { chosen.set(Some(cell)) } }>
                    {n}
                </td>
            }
        })
        .collect::<Vec<_>>();
    let mut cells = cells.into_iter();
    let mut next = move || cells.next();
    let per_class = c
        .per_class
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let show = |a: Option<f64>| a.map_or("–".into(), percent);
            let diff = row
                .accuracy_a
                .zip(row.accuracy_b)
                .map_or(String::new(), |(a, b)| format!("{:+.1}", 100.0 * (b - a)));
            view! {
                <tr data-class=k data-a=row.accuracy_a.map(|a| a.to_string()).unwrap_or_default() data-b=row.accuracy_b.map(|b| b.to_string()).unwrap_or_default()>
                    <td>{row.class.clone()}</td>
                    <td class="num">{show(row.accuracy_a)}</td>
                    <td class="num">{show(row.accuracy_b)}</td>
                    <td class="num">{diff}</td>
                </tr>
            }
        })
        .collect_view();
    let files = c.files.clone();
    let classes = c.classes.clone();
    let gallery = move || {
        let cell = chosen.get()?;
        let picked: Vec<_> = files.iter().filter(|f| f.cell() == cell).collect();
        let total = picked.len();
        let picked: Vec<_> = picked.into_iter().take(CELL_IMAGES).cloned().collect();
        s.want_thumbnails(picked.iter().map(|f| f.path.clone()).collect());
        let name = |k: usize| classes.get(k).cloned().unwrap_or_default();
        let label = CELLS
            .iter()
            .find(|(c, _, _)| *c == cell)
            .map_or("", |(_, _, l)| *l);
        let items = picked
            .into_iter()
            .map(|f| {
                let tip = format!(
                    "{}: true {}, A says {}, B says {}",
                    f.path,
                    name(f.label),
                    name(f.pred_a),
                    name(f.pred_b)
                );
                let path = f.path.clone();
                let src = s.thumbnail(f.path.clone());
                view! {
                    <button class="thumb" data-path=f.path.clone() title=tip on:click=move |_| {
                        s.open_dataset_image(path.clone());
                        s.status.view.set(View::Predict);
                    }>
                        <img src=src alt="" />
                    </button>
                }
            })
            .collect_view();
        let more = if total > CELL_IMAGES {
            format!(", the first {CELL_IMAGES} shown")
        } else {
            String::new()
        };
        Some(view! {
            <div id="compare-images" class="gallery">
                <h3>{format!("{label}: {total} image(s){more}")}</h3>
                <div class="thumbs">{items}</div>
                <p class="hint">"Click an image to see both models' predictions and maps side by side."</p>
            </div>
        })
    };
    view! {
        <p id="compare-accuracy" data-a=c.accuracy_a.to_string() data-b=c.accuracy_b.to_string()>
            "Accuracy: A (" {a_name.clone()} ") " <strong>{percent(c.accuracy_a)}</strong>
            " · B (" {b_name.clone()} ") " <strong>{percent(c.accuracy_b)}</strong>
            {format!(" on {} images", c.files.len())}
        </p>
        <div class="accuracy-grid">
            <div>
                <table id="disagreement" class="confusion">
                    <caption>"Which images each model gets right (click a cell for its images)"</caption>
                    <thead><tr><th></th><th>"B right"</th><th>"B wrong"</th></tr></thead>
                    <tbody>
                        <tr><th class="row-head">"A right"</th>{next()}{next()}</tr>
                        <tr><th class="row-head">"A wrong"</th>{next()}{next()}</tr>
                    </tbody>
                </table>
                <p id="mcnemar" data-p=c.mcnemar_p.to_string()>
                    {format!("McNemar's exact test (two-sided, on the {} images the models disagree on): p = {:.3e}: {}.",
                        c.table.only_a + c.table.only_b, c.mcnemar_p, verdict(c.mcnemar_p))}
                </p>
            </div>
            <table id="compare-per-class" class="table">
                <thead><tr><th>"True class"</th><th>"A"</th><th>"B"</th><th>"B − A (points)"</th></tr></thead>
                <tbody>{per_class}</tbody>
            </table>
        </div>
        {gallery}
    }
}

/// Model B's top 5 for the current image, under model A's (Predict & explain), while a second
/// model is open.
#[component]
pub fn SecondPrediction() -> impl IntoView {
    let s = use_session();
    move || {
        let shown = s.compare.shown.get()?;
        let name = s
            .compare
            .summary
            .with(|m| m.as_ref().map(|m| m.name.clone()))?;
        let bars = shown
            .result
            .prediction
            .top
            .into_iter()
            .map(|c| {
                let pct = 100.0 * c.probability;
                view! {
                    <li class="bar" data-class=c.class data-probability=c.probability.to_string()>
                        <span class="bar-label">{c.label}</span>
                        <span class="bar-track"><span class="bar-fill" style:width=format!("{pct:.2}%")></span></span>
                        <span class="bar-value">{format!("{pct:.1}%")}</span>
                    </li>
                }
            })
            .collect_view();
        Some(view! {
            <section class="panel prediction" id="prediction-b">
                <h2>{format!("Model B ({name}): top 5")}</h2>
                <ol id="top5-b" class="bars">{bars}</ol>
                <p class="hint">"Explain below to see model B's maps beside model A's."</p>
            </section>
        })
    }
}
