//! The Explain panel: any methods side by side on the shown prediction, each map coloured with
//! one shared colour map and opacity (changed instantly, without recomputing), each with its
//! deletion and insertion scores, the raw map (.npy) and the overlay (.png) to download.

use explain_core::render::{ColourMap, colour, overlay};
use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::files;
use super::layer_select::LayerSelect;
use super::panels::draw;
use super::report::download_report;
use super::sanity_view::{LinePlot, SanityPanel};
use super::state::{Shown, ShownExplanation, use_session};
use crate::page_model::agreements;
use crate::protocol::ExplainMethod;
use explain_core::explain::occlusion::Occlusion;
use explain_core::render::report::PinnedMap;

const COLOUR_MAPS: [(&str, &str, ColourMap); 5] = [
    ("viridis", "Viridis", ColourMap::Viridis),
    ("turbo", "Turbo", ColourMap::Turbo),
    ("inferno", "Inferno", ColourMap::Inferno),
    ("grey", "Grey", ColourMap::Grey),
    ("jet", "Jet (not perceptual)", ColourMap::Jet),
];

/// The colour bar of a map: `width` pixels from 0 to 1, 12 rows.
fn colour_bar(map: ColourMap, width: usize) -> Vec<u8> {
    (0..12)
        .flat_map(|_| {
            (0..width).flat_map(move |x| {
                let [r, g, b] = colour(map, x as f32 / (width - 1) as f32);
                [r, g, b, 255]
            })
        })
        .collect()
}

#[component]
pub fn ExplainPanel() -> impl IntoView {
    let s = use_session();
    let chosen = RwSignal::new(vec![
        ExplainMethod::GradCam,
        ExplainMethod::Occlusion { mask: 0, stride: 0 },
        ExplainMethod::Saliency,
    ]);
    // Occlusion: the Fast ↔ Detailed slider sets the mask and stride, which can then be edited.
    let level = RwSignal::new(3u8);
    let mask = RwSignal::new(0usize);
    let stride = RwSignal::new(0usize);
    let apply_level = move |l: u8| {
        level.set(l);
        if let Some(input) = s
            .model
            .summary
            .with_untracked(|m| m.as_ref().map(|m| m.input.clone()))
        {
            let preset = Occlusion::preset(l, input.channels, input.height, input.width);
            mask.set(preset.window[1]);
            stride.set(preset.stride[1]);
        }
    };
    Effect::new(move |_| {
        let _ = s
            .model
            .summary
            .with(|m| m.as_ref().map(|m| m.input.clone()));
        apply_level(level.get_untracked());
    });
    let layer = RwSignal::new(None::<String>);
    let colours = RwSignal::new(ColourMap::Viridis);
    let opacity = RwSignal::new(0.5f32);
    let probability = RwSignal::new(false);
    let sum_channels = RwSignal::new(false);
    // The class to explain: `None` is the top prediction; a new image resets it.
    let target = RwSignal::new(None::<usize>);
    Effect::new(move |_| {
        let _ = s.image.shown.with(|x| x.as_ref().map(|x| x.result.id));
        target.set(None);
    });
    // A new model: start from its suggested Grad-CAM layer.
    Effect::new(move |_| layer.set(s.model.summary.get().and_then(|m| m.layers.gradcam_layer)));
    let run = move |_| {
        let methods = chosen
            .get_untracked()
            .into_iter()
            .map(|m| match m {
                ExplainMethod::Occlusion { .. } => ExplainMethod::Occlusion {
                    mask: mask.get_untracked(),
                    stride: stride.get_untracked(),
                },
                m => m,
            })
            .collect();
        s.explain(
            methods,
            layer.get_untracked(),
            target.get_untracked(),
            probability.get_untracked(),
            sum_channels.get_untracked(),
        );
    };
    let bar = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        if let Some(c) = bar.get() {
            let c: &HtmlCanvasElement = &c;
            let _ = draw(c, &colour_bar(colours.get(), 160), 160, 12);
        }
    });
    view! {
            <section class="panel explain">
                <h2>"Explain"</h2>
                <div class="controls" id="explain-methods">
                    {ExplainMethod::ALL
                        .into_iter()
                        .map(|m| {
                            let id = format!("explain-{}", m.key());
                            let for_id = id.clone();
                            let hidden = move || !s.model.summary.with(|model| model.as_ref().is_some_and(|model| m.applies_to(&model.layers)));
                            view! {
                                <label class="toggle" for=for_id class:hidden=hidden>
                                    <input type="checkbox" id=id value=m.key()
                                        prop:checked=move || chosen.get().iter().any(|c| c.key() == m.key())
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            chosen.update(|list| {
                                                list.retain(|c| c.key() != m.key());
                                                if on {
                                                    list.push(m);
                                                    list.sort_by_key(|c| ExplainMethod::ALL.iter().position(|a| a.key() == c.key()));
                                                }
                                            });
                                        } />
                                    {m.label()}
                                </label>
                            }
                        })
                        .collect_view()}
                </div>
                <div class="controls">
                    <span class="layer-picker" class:hidden=move || !chosen.get().iter().any(|m| m.uses_layer())>
                        <label for="explain-layer">"Layer "</label>
                        <LayerSelect id="explain-layer" layer=layer keep=|l| l.cam_able() />
                    </span>
    <span class:hidden=move || !chosen.get().iter().any(|m| matches!(m, ExplainMethod::Occlusion { .. }))>
                        <label class="inline">" Occlusion: Fast "
                            <input id="occlusion-level" type="range" min="1" max="5" step="1" prop:value=move || level.get().to_string()
                                on:input=move |ev| if let Ok(v) = event_target_value(&ev).parse() { apply_level(v) } />
                            " Detailed"
                        </label>
                        <label class="inline">" mask " <input id="occlusion-mask" class="narrow" type="number" min="1" prop:value=move || mask.get().to_string()
                            on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { mask.set(v) } /></label>
                        <label class="inline">" stride " <input id="occlusion-stride" class="narrow" type="number" min="1" prop:value=move || stride.get().to_string()
                            on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { stride.set(v) } /></label>
                    </span>
                    <label>" Class "
                        <select id="explain-target" on:change=move |ev| target.set(event_target_value(&ev).parse().ok())>
                            <option value="" selected=move || target.get().is_none()>"the top prediction"</option>
                            {move || s.model.summary.with(|m| m.as_ref().map(|m| {
                                m.labels.iter().enumerate().map(|(k, label)| view! {
                                    <option value=k selected=move || target.get() == Some(k)>{format!("{k}: {label}")}</option>
                                }).collect_view()
                            }))}
                        </select>
                    </label>
                    <label>" Score "
                        <select id="explain-score" on:change=move |ev| probability.set(event_target_value(&ev) == "probability")>
                            <option value="logit" selected=true>"logit (does not saturate)"</option>
                            <option value="probability">"softmax probability"</option>
                        </select>
                    </label>
                    <label class:hidden=move || s.model.summary.with(|m| m.as_ref().is_none_or(|m| m.input.channels < 2))>" Colour channels "
                    <select id="explain-channels" on:change=move |ev| sum_channels.set(event_target_value(&ev) == "sum")>
                        <option value="max" selected=true>"maximum"</option>
                        <option value="sum">"sum"</option>
                    </select>
                </label>
                <button id="explain-run" on:click=run>"Explain"</button>
                </div>
                <div class="controls">
                    <label>"Colours "
                        <select id="colour-map" on:change=move |ev| {
                            let key = event_target_value(&ev);
                            if let Some((_, _, m)) = COLOUR_MAPS.iter().find(|(k, _, _)| *k == key) { colours.set(*m) }
                        }>
                            {COLOUR_MAPS.iter().map(|(key, label, _)| view! { <option value=*key>{*label}</option> }).collect_view()}
                        </select>
                    </label>
                    <canvas class="colour-bar" node_ref=bar width="160" height="12"></canvas>
                    <span class="hint">"least → most important (signed maps: blue against, red for the class)"</span>
                    <label>" Opacity "
                        <input id="opacity" type="range" min="0" max="1" step="0.05" prop:value=move || opacity.get().to_string()
                            on:input=move |ev| if let Ok(v) = event_target_value(&ev).parse() { opacity.set(v) } />
                    </label>
                </div>
                <div id="explanations" class="explanations">
                    <For each=move || s.image.explanations.get() key=|e| e.result.id let:e>
                        <ExplanationCard explanation=e colours=colours opacity=opacity over=s.image.shown />
                    </For>
                </div>
                // Model B's maps of the same image, beside model A's (the Compare view).
                <div class:hidden=move || s.compare.explanations.with(Vec::is_empty)>
                    <h3>{move || s.compare.summary.with(|m| m.as_ref().map(|m| format!("Model B ({})", m.name)))}</h3>
                    <div id="explanations-b" class="explanations">
                        <For each=move || s.compare.explanations.get() key=|e| e.result.id let:e>
                            <ExplanationCard explanation=e colours=colours opacity=opacity over=s.compare.shown />
                        </For>
                    </div>
                </div>
                <Agreement />
                <PinnedLine />
                <SanityPanel layer=layer target=target probability=probability />
            </section>
        }
}

/// One map over the image it explains (`over`: model A's or model B's view of it), with its
/// scores and downloads.
#[component]
fn ExplanationCard(
    explanation: ShownExplanation,
    colours: RwSignal<ColourMap>,
    opacity: RwSignal<f32>,
    over: RwSignal<Option<Shown>>,
) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let e = explanation.result.clone();
    let (w, h) = (e.width, e.height);
    let values = explanation.values.clone();
    let signed = e.method.signed();
    Effect::new(move |_| {
        let (Some(shown), Some(c)) = (over.get(), canvas.get()) else {
            return;
        };
        let map = if signed {
            ColourMap::Diverging
        } else {
            colours.get()
        };
        let rgba = overlay(&shown.rgba, &values, map, opacity.get());
        let c: &HtmlCanvasElement = &c;
        let _ = draw(c, &rgba, w, h);
    });
    let key = e.method.key();
    let npy = explanation.npy.clone();
    let save_npy =
        move |_| files::download(&format!("{key}.npy"), &npy, "application/octet-stream");
    let save_png = move |_| {
        if let Some(c) = canvas.get_untracked() {
            let c: &HtmlCanvasElement = &c;
            if let Ok(url) = c.to_data_url() {
                files::download(
                    &format!("{key}.png"),
                    &files::data_url_bytes(&url),
                    "image/png",
                );
            }
        }
    };
    let at = e
        .layer
        .as_ref()
        .map(|l| format!(" at {l}"))
        .unwrap_or_default();
    let s = use_session();
    let pinned = RwSignal::new(false);
    let settings = match e.method {
        ExplainMethod::Occlusion { mask, stride } => format!(", mask {mask}, stride {stride}"),
        _ => String::new(),
    };
    let shared = match e.workers {
        0 | 1 => String::new(),
        n => format!(" on {n} workers"),
    };
    let caption = format!(
        "{}{at}{settings} ({:.0} ms{shared})",
        e.method.label(),
        e.compute_ms
    );
    let pin = {
        let settings = format!("{}{at}{settings} of '{}'", e.method.label(), e.target_label);
        let (deletion, insertion) = (e.deletion_auc, e.insertion_auc);
        let diagnostics: Vec<String> = e
            .diagnostics
            .iter()
            .map(|d| format!("{}. Try: {}", d.message, d.advice))
            .collect();
        move |_| {
            let (Some(c), Some(shown)) = (canvas.get_untracked(), over.get_untracked()) else {
                return;
            };
            let c: &HtmlCanvasElement = &c;
            let Ok(url) = c.to_data_url() else {
                return;
            };
            s.image.pinned.update(|list| {
                list.push(PinnedMap {
                    image: shown.result.name.clone(),
                    png: files::data_url_bytes(&url),
                    settings: settings.clone(),
                    deletion_auc: Some(deletion),
                    insertion_auc: Some(insertion),
                    diagnostics: diagnostics.clone(),
                })
            });
            pinned.set(true);
        }
    };
    let curves = (!e.deletion.is_empty()).then(|| {
        view! {
            <LinePlot id=format!("curves-{key}") x_label="the share of pixels removed or revealed"
                curves=vec![("curve-deletion", "deletion", e.deletion.clone()), ("curve-insertion", "insertion", e.insertion.clone())]
                lo=0.0 hi=1.0 />
        }
    });
    let warnings = e.diagnostics.len();
    let diagnostics = e
        .diagnostics
        .iter()
        .map(|d| {
            view! {
                <p class="map-warning" role="note" data-problem=format!("{:?}", d.problem) title=d.advice.clone()>
                    {format!("⚠ {}. Try: {}", d.message, d.advice)}
                </p>
            }
        })
        .collect_view();
    view! {
        <figure class="explanation" data-method=key data-warnings=warnings data-workers=e.workers.to_string() data-deletion=format!("{}", e.deletion_auc) data-insertion=format!("{}", e.insertion_auc)>
            <canvas node_ref=canvas width="1" height="1"></canvas>
            <figcaption>
                <strong>{caption}</strong>
                <br />
                {format!("of '{}'", e.target_label)}
                <br />
                <span class="scores" title="Deletion: probability as the most important pixels are removed (lower is better). Insertion: as they are revealed (higher is better).">
                    {format!("deletion {:.3} · insertion {:.3}", e.deletion_auc, e.insertion_auc)}
                </span>
                {curves}
                <br />
                <button class="save-npy" on:click=save_npy>".npy"</button>
                <button class="save-png" on:click=save_png>".png"</button>
                <button class="pin" title="Keep this map, with its settings, for the report" on:click=pin>
                    {move || if pinned.get() { "pinned ✓" } else { "pin to report" }}
                </button>
                {diagnostics}
            </figcaption>
        </figure>
    }
}

/// How far the maps shown side by side agree, pair by pair (Spearman's rank correlation of the
/// pixels' importance): methods that see the same evidence rank the pixels alike.
#[component]
fn Agreement() -> impl IntoView {
    let s = use_session();
    move || {
        let pairs = agreements(&s.image.explanations.get());
        (!pairs.is_empty()).then(|| {
            let rows = pairs
                .into_iter()
                .map(|p| {
                    let value = p.spearman.map_or("undefined (a constant map)".into(), |r| format!("{r:.2}"));
                    let spearman = p.spearman.map(|r| r.to_string()).unwrap_or_default();
                    let (a, b) = (p.a.clone(), p.b.clone());
                    view! {
                        <tr data-a=a data-b=b data-spearman=spearman>
                            <td>{p.a}</td><td>{p.b}</td><td class="num">{value}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <details id="agreement" class="agreement" open>
                    <summary>"Do the methods agree?"</summary>
                    <p class="hint">"Spearman's rank correlation of each pixel's importance: 1, the same ranking; 0, unrelated; below 0, opposite."</p>
                    <table><thead><tr><th>"Map"</th><th>"and map"</th><th>"agreement"</th></tr></thead><tbody>{rows}</tbody></table>
                </details>
            }
        })
    }
}

/// How many maps are pinned, and the report's download.
#[component]
fn PinnedLine() -> impl IntoView {
    let s = use_session();
    move || {
        let n = s.image.pinned.with(Vec::len);
        (n > 0).then(|| {
            view! {
                <p class="pinned-line" id="pinned-count" data-count=n.to_string()>
                    {format!("{n} map(s) pinned for the report ")}
                    <button id="download-report" on:click=move |_| download_report(s)>"Download the report (HTML)"</button>
                    <button id="clear-pins" on:click=move |_| s.image.pinned.set(Vec::new())>"Unpin all"</button>
                </p>
            }
        })
    }
}
