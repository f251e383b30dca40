//! "Can I trust this map?": the model-parameter randomisation check (Adebayo et al. 2018) of
//! one method's map of the shown image, drawn as a row of maps (the original, then the model
//! scrambled from its top layer down) with the similarity curve and a verdict in words. And
//! the small line plots the Explain panel draws (deletion and insertion curves).

use explain_core::render::{ColourMap, heatmap};
use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::panels::draw;
use super::state::use_session;
use crate::page_model::polyline_points;
use crate::protocol::{ExplainMethod, SanityResult};

/// Curves in one box: `(class, label, values)` each; `lo`..`hi` bottom to top.
#[component]
pub fn LinePlot(
    id: String,
    curves: Vec<(&'static str, &'static str, Vec<f32>)>,
    lo: f64,
    hi: f64,
    /// What the horizontal axis runs over, for the plot's title.
    x_label: &'static str,
) -> impl IntoView {
    let (w, h) = (160.0, 64.0);
    let title = format!(
        "{} against {x_label}",
        curves
            .iter()
            .map(|(_, label, _)| *label)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let lines = curves
        .into_iter()
        .map(|(class, _, values)| {
            let count = values.len();
            view! { <polyline class=class data-points=count points=polyline_points(&values, w, h, lo, hi) /> }
        })
        .collect_view();
    view! {
        <svg id=id class="line-plot" viewBox=format!("0 0 {w} {h}") width=w height=h role="img">
            <title>{title}</title>
            <rect class="frame" x="0" y="0" width=w height=h />
            {lines}
        </svg>
    }
}

/// The check's controls and its last result.
#[component]
pub fn SanityPanel(
    /// The Explain panel's layer, class and score choices, which the check explains with too.
    layer: RwSignal<Option<String>>,
    target: RwSignal<Option<usize>>,
    probability: RwSignal<bool>,
) -> impl IntoView {
    let s = use_session();
    let method = RwSignal::new(ExplainMethod::GradCam);
    let steps = RwSignal::new(8usize);
    let set_steps = move |text: String| {
        if let Ok(v) = text.trim().parse::<usize>() {
            steps.set(v.clamp(1, 64));
        }
    };
    let run = move |_| {
        s.check_sanity(
            method.get_untracked(),
            layer.get_untracked(),
            target.get_untracked(),
            probability.get_untracked(),
            steps.get_untracked(),
        )
    };
    let options = ExplainMethod::ALL
        .into_iter()
        .map(|m| {
            let hidden = move || !s.model.summary.with(|model| model.as_ref().is_some_and(|model| m.applies_to(&model.layers)));
            view! { <option value=m.key() hidden=hidden selected=move || method.get().key() == m.key()>{m.label()}</option> }
        })
        .collect_view();
    view! {
        <details id="trust" class="trust" open>
            <summary>"Can I trust this map?"</summary>
            <p class="hint">
                "Scrambles the model's weights from the top layer down and maps the image again \
                 (Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS 2018). A map that \
                 stays the same shows the image, not what the model learned."
            </p>
            <div class="controls">
                <label>"Method "
                    <select id="sanity-method" on:change=move |ev| {
                        let key = event_target_value(&ev);
                        if let Some(m) = ExplainMethod::ALL.into_iter().find(|m| m.key() == key) {
                            method.set(m)
                        }
                    }>{options}</select>
                </label>
                <label>" in at most "
                    <input id="sanity-steps" class="narrow" type="number" min="1" max="64"
                        prop:value=move || steps.get().to_string()
                        on:change=move |ev| set_steps(event_target_value(&ev)) />
                    " steps"
                </label>
                <button id="sanity-run" on:click=run>"Check"</button>
            </div>
            {move || s.image.sanity.get().map(|(result, planes)| view! { <SanityResultView result=result planes=planes /> })}
        </details>
    }
}

#[component]
fn SanityResultView(result: SanityResult, planes: Vec<f32>) -> impl IntoView {
    let report = result.report.clone();
    let (w, h) = (result.plane_width, result.plane_height);
    let area = w * h;
    let verdict = format!("{:?}", report.verdict);
    let pick = |f: fn(&explain_core::metrics::sanity::SanityStep) -> f64| -> Vec<f32> {
        std::iter::once(1.0)
            .chain(report.steps.iter().map(|s| f(s) as f32))
            .collect()
    };
    let curves = vec![
        ("curve-spearman", "rank correlation", pick(|s| s.spearman)),
        ("curve-ssim", "SSIM", pick(|s| s.ssim)),
        ("curve-topk", "top-10% overlap", pick(|s| s.top_k_overlap)),
    ];
    let maps = (0..=report.steps.len())
        .filter(|i| area > 0 && planes.len() >= (i + 1) * area)
        .map(|i| {
            let values = planes[i * area..(i + 1) * area].to_vec();
            let canvas = NodeRef::<leptos::html::Canvas>::new();
            Effect::new(move |_| {
                if let Some(c) = canvas.get() {
                    let c: &HtmlCanvasElement = &c;
                    let _ = draw(c, &heatmap(&values, ColourMap::Viridis), w, h);
                }
            });
            let (caption, spearman) = match i.checked_sub(1).and_then(|k| report.steps.get(k)) {
                None => ("original".to_string(), 1.0),
                Some(step) => (
                    format!(
                        "{} scrambled · ρ {:.2}",
                        match step.randomised.len() {
                            1 => "1 layer".to_string(),
                            n => format!("{n} layers"),
                        },
                        step.spearman
                    ),
                    step.spearman,
                ),
            };
            view! {
                <figure class="sanity-step" data-step=i data-spearman=spearman.to_string()>
                    <canvas node_ref=canvas width="1" height="1"></canvas>
                    <figcaption>{caption}</figcaption>
                </figure>
            }
        })
        .collect_view();
    view! {
        <div id="sanity" class="sanity" data-verdict=verdict data-steps=report.steps.len()>
            <p class="verdict" role="status">
                <strong>{format!("{} of '{}': ", result.method.label(), result.target_label)}</strong>
                {report.explanation.clone()}
                {format!(" ({:.1} s)", result.compute_ms / 1000.0)}
            </p>
            <div class="sanity-maps">{maps}</div>
            <div class="sanity-curve">
                <LinePlot id="sanity-curve".to_string() curves=curves lo=-0.2 hi=1.0 x_label="the layers scrambled" />
                <span class="hint">
                    <span class="key-spearman">"— rank correlation"</span>" "
                    <span class="key-ssim">"— SSIM"</span>" "
                    <span class="key-topk">"— top-10% overlap"</span>
                    " with the original map, as more layers are scrambled"
                </span>
            </div>
        </div>
    }
}
