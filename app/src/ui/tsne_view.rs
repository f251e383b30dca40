//! The t-SNE view: a map of the dataset in which images with similar activations at a chosen
//! layer sit close together. Points are coloured by true class; misclassified images are drawn
//! as crosses; the images of the Accuracy view's selection are ringed. Hover shows the image,
//! a click opens it.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, MouseEvent};

use super::files;
use super::layer_select::LayerSelect;
use super::state::{View, use_session};
use crate::protocol::{MapMethod, TsneMap, TsneResult};

/// Side of the plot, in CSS pixels.
const SIZE: f64 = 560.0;
const MARGIN: f64 = 16.0;
/// Points at most, by default: every N-th image is taken to stay near it.
const DEFAULT_POINTS: usize = 2000;
/// Above this many points, points are drawn as squares.
const MANY_POINTS: usize = 5000;

/// A colour per class: Tableau's ten, then evenly spaced hues.
pub fn class_colour(k: usize) -> String {
    const TAB10: [&str; 10] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf",
    ];
    TAB10.get(k).map_or_else(
        || format!("hsl({}, 65%, 45%)", (k * 137) % 360),
        |c| c.to_string(),
    )
}

/// Canvas positions of the points.
fn layout(points: &[[f32; 2]]) -> Vec<(f64, f64)> {
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for p in points {
        for c in 0..2 {
            lo[c] = lo[c].min(f64::from(p[c]));
            hi[c] = hi[c].max(f64::from(p[c]));
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-12);
    let scale = (SIZE - 2.0 * MARGIN) / span;
    points
        .iter()
        .map(|p| {
            (
                MARGIN + (f64::from(p[0]) - lo[0]) * scale,
                MARGIN + (f64::from(p[1]) - lo[1]) * scale,
            )
        })
        .collect()
}

fn draw(
    canvas: &HtmlCanvasElement,
    map: &TsneResult,
    at: &[(f64, f64)],
    ringed: &[bool],
) -> Option<()> {
    let ctx: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, SIZE, SIZE);
    // Tens of thousands of points: squares, which the canvas draws several times faster.
    let many = at.len() > MANY_POINTS;
    for (i, &(x, y)) in at.iter().enumerate() {
        let colour = class_colour(map.truth[i]);
        if map.truth[i] == map.predicted[i] {
            ctx.set_fill_style_str(&colour);
            if many {
                ctx.fill_rect(x - 1.5, y - 1.5, 3.0, 3.0);
                continue;
            }
            ctx.begin_path();
            let _ = ctx.arc(x, y, 2.6, 0.0, std::f64::consts::TAU);
            ctx.fill();
        } else {
            ctx.set_stroke_style_str(&colour);
            ctx.set_line_width(1.6);
            ctx.begin_path();
            ctx.move_to(x - 3.5, y - 3.5);
            ctx.line_to(x + 3.5, y + 3.5);
            ctx.move_to(x - 3.5, y + 3.5);
            ctx.line_to(x + 3.5, y - 3.5);
            ctx.stroke();
        }
    }
    ctx.set_stroke_style_str("#111");
    ctx.set_line_width(1.5);
    for (&(x, y), _) in at.iter().zip(ringed).filter(|(_, r)| **r) {
        ctx.begin_path();
        let _ = ctx.arc(x, y, 6.0, 0.0, std::f64::consts::TAU);
        ctx.stroke();
    }
    Some(())
}

/// The layer a t-SNE map starts from: the class scores (what the original offers first).
fn default_layer(model: &crate::protocol::ModelSummary) -> Option<String> {
    model.layers.layers.last().map(|l| l.name.clone())
}

/// The penultimate features (the last vector layer before the scores), a good second choice.
fn penultimate_layer(model: &crate::protocol::ModelSummary) -> Option<String> {
    model.layers.penultimate()
}

#[component]
pub fn TsneView() -> impl IntoView {
    let s = use_session();
    let layer = RwSignal::new(None::<String>);
    let method = RwSignal::new(MapMethod::Tsne);
    let perplexity = RwSignal::new(30.0f64);
    let seed = RwSignal::new(0u64);
    let every = RwSignal::new(1usize);
    let excluded = RwSignal::new(Vec::<usize>::new());
    let hover = RwSignal::new(None::<usize>);
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| layer.set(s.model.summary.get().as_ref().and_then(default_layer)));
    Effect::new(move |_| {
        if let Some(d) = s.dataset.summary.get() {
            every.set(d.items.len().div_ceil(DEFAULT_POINTS).max(1));
            excluded.set(Vec::new());
        }
    });
    let positions = Memo::new(move |_| {
        s.embedding
            .tsne
            .get()
            .map(|m| layout(&m.points))
            .unwrap_or_default()
    });
    // Which points the Accuracy view's selection holds.
    let ringed = Memo::new(move |_| {
        let (Some(map), Some(selection)) = (s.embedding.tsne.get(), s.dataset.selection.get())
        else {
            return Vec::new();
        };
        (0..map.points.len())
            .map(|i| {
                let file = explain_core::metrics::FileResult {
                    path: String::new(),
                    label: map.truth[i],
                    pred: map.predicted[i],
                    score: 0.0,
                };
                selection.contains(&file)
            })
            .collect::<Vec<_>>()
    });
    Effect::new(move |_| {
        if let (Some(map), Some(c)) = (s.embedding.tsne.get(), canvas.get()) {
            let c: &HtmlCanvasElement = &c;
            let _ = draw(c, &map, &positions.get(), &ringed.get());
        }
    });
    Effect::new(move |_| {
        if let (Some(i), Some(map)) = (hover.get(), s.embedding.tsne.get_untracked())
            && let Some(path) = map.paths.get(i)
        {
            s.want_thumbnails(vec![path.clone()]);
        }
    });
    let nearest = move |ev: &MouseEvent| {
        let (x, y) = (f64::from(ev.offset_x()), f64::from(ev.offset_y()));
        positions
            .get_untracked()
            .iter()
            .enumerate()
            .map(|(i, &(px, py))| (i, (px - x).powi(2) + (py - y).powi(2)))
            .filter(|&(_, d)| d <= 64.0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    };
    let run = move |_| {
        let Some(l) = layer.get_untracked() else {
            s.status
                .error
                .set(Some("This model has no layer to map.".into()));
            return;
        };
        let off = excluded.get_untracked();
        let classes = s.dataset.summary.get_untracked().map(|d| {
            (0..d.classes.len())
                .filter(|k| !off.contains(k))
                .collect::<Vec<_>>()
        });
        s.run_tsne(TsneMap {
            method: method.get_untracked(),
            layer: l,
            perplexity: perplexity.get_untracked(),
            seed: seed.get_untracked(),
            every: every.get_untracked(),
            classes,
        });
    };
    // Includes classes 0, n, 2n, ... (unticks the others).
    let every_class = move |ev| {
        let Ok(n) = event_target_value(&ev).parse::<usize>() else {
            return;
        };
        let total = s
            .dataset
            .summary
            .with_untracked(|d| d.as_ref().map_or(0, |d| d.classes.len()));
        excluded.set((0..total).filter(|k| k % n.max(1) != 0).collect());
    };
    let set_every = move |ev| {
        if let Ok(v) = event_target_value(&ev).parse::<usize>() {
            every.set(v.max(1));
        }
    };
    let export_png = move |_| {
        if let Some(c) = canvas.get_untracked() {
            let c: &HtmlCanvasElement = &c;
            if let Ok(url) = c.to_data_url() {
                let bytes = files::data_url_bytes(&url);
                files::download("tsne.png", &bytes, "image/png");
            }
        }
    };
    let export_csv = move |_| {
        if let Some(map) = s.embedding.tsne.get_untracked() {
            files::download(
                "tsne.csv",
                crate::export::tsne_csv(&map).as_bytes(),
                "text/csv",
            );
        }
    };
    view! {
        <section class="panel" id="tsne-view">
            <h2>"Embedding map"</h2>
            <div class="controls tsne-controls">
                <label>"Method "
                    <select id="map-method" on:change=move |ev| {
                        method.set(match event_target_value(&ev).as_str() {
                            "pca" => MapMethod::Pca,
                            "umap" => MapMethod::Umap,
                            _ => MapMethod::Tsne,
                        })
                    }>
                        <option value="tsne" selected=move || method.get() == MapMethod::Tsne>"t-SNE (neighbourhoods)"</option>
                        <option value="umap" selected=move || method.get() == MapMethod::Umap>"UMAP (neighbourhoods, for large sets)"</option>
                        <option value="pca" selected=move || method.get() == MapMethod::Pca>"PCA (instant, linear)"</option>
                    </select>
                </label>
                <label>"Layer "
                    <LayerSelect id="tsne-layer" layer=layer keep=|_| true />
                </label>
                <label class:hidden=move || method.get() != MapMethod::Tsne>"Perplexity " <input id="tsne-perplexity" type="number" min="2" step="1" prop:value=move || perplexity.get().to_string()
                    on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { perplexity.set(v) } /></label>
                <label class:hidden=move || method.get() == MapMethod::Pca>"Seed " <input id="tsne-seed" type="number" min="0" step="1" prop:value=move || seed.get().to_string()
                    on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { seed.set(v) } /></label>
                <label>"Every N-th image " <input id="tsne-every" type="number" min="1" step="1" prop:value=move || every.get().to_string()
                    on:change=set_every /></label>
                <label>"Every N-th class " <input id="tsne-every-class" type="number" min="1" step="1" value="1" on:change=every_class /></label>
                <button id="tsne-run" on:click=run>"Make the map"</button>
                {move || s.model.summary.with(|m| m.as_ref().and_then(penultimate_layer)).map(|p| view! {
                    <p class="hint">{format!("Tip: the penultimate layer ({p}) often separates the classes more clearly than the scores.")}</p>
                })}
            </div>
            <div id="tsne-classes" class="class-toggles">
                {move || s.dataset.summary.get().map(|d| {
                    d.classes.iter().enumerate().map(|(k, c)| {
                        let id = format!("tsne-class-{k}");
                        let for_id = id.clone();
                        view! {
                            <label class="toggle" for=for_id>
                                <input type="checkbox" id=id data-class=k prop:checked=move || !excluded.get().contains(&k)
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        excluded.update(|x| { x.retain(|&j| j != k); if !on { x.push(k); } });
                                    } />
                                <span class="swatch" style:background=class_colour(k)></span>
                                {c.clone()}
                            </label>
                        }
                    }).collect_view()
                })}
            </div>
            {move || s.embedding.tsne.get().map(|map| {
                let wrong = map.truth.iter().zip(&map.predicted).filter(|(t, p)| t != p).count();
                let marked = ringed.get().iter().filter(|r| **r).count();
                let selection = s.dataset.selection.get().map(|sel| format!("; ringed: {} ({marked})", sel.describe(&map.classes)));
                let kl = map.kl.map(|kl| format!("; KL {kl:.3}")).unwrap_or_default();
                view! {
                    <p id="tsne-caption" data-points=map.points.len() data-method=map.method.label()>
                        {format!("{} of {} images at {}, {} misclassified (crosses){kl}, {:.1} s{}", map.method.label(), map.points.len(), map.layer, wrong, map.elapsed_ms / 1000.0, selection.unwrap_or_default())}
                    </p>
                }
            })}
            <div class="tsne-body" class:hidden=move || s.embedding.tsne.with(Option::is_none)>
                <canvas
                    id="tsne-plot"
                    node_ref=canvas
                    width=SIZE
                    height=SIZE
                    style:width=format!("{SIZE}px") style:height=format!("{SIZE}px")
                    on:mousemove=move |ev| hover.set(nearest(&ev))
                    on:mouseleave=move |_| hover.set(None)
                    on:click=move |ev| {
                        if let (Some(i), Some(map)) = (nearest(&ev), s.embedding.tsne.get_untracked()) && let Some(path) = map.paths.get(i) {
                            s.open_dataset_image(path.clone());
                            s.status.view.set(View::Predict);
                        }
                    }
                ></canvas>
                <div class="tsne-side">
                    <div id="tsne-hover">
                        {move || {
                            let i = hover.get()?;
                            let map = s.embedding.tsne.get()?;
                            let path = map.paths.get(i)?.clone();
                            let src = s.thumbnail(path.clone());
                            let name = |k: usize| map.classes.get(k).cloned().unwrap_or_default();
                            Some(view! {
                                <img src=src alt="" />
                                <p>{path.clone()}<br />{format!("true {}, predicted {}", name(map.truth[i]), name(map.predicted[i]))}</p>
                            })
                        }}
                    </div>
                    <p class="hint">"Hover a point to see its image; click to open it. Dot: predicted right; cross: wrong."</p>
                    <p class="exports">
                        "Download: "
                        <button id="tsne-png" on:click=export_png>"plot (PNG)"</button>
                        <button id="tsne-csv" on:click=export_csv>"points (CSV)"</button>
                    </p>
                </div>
            </div>
        </section>
    }
}
