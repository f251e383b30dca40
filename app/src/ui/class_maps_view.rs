//! Explanations of the Accuracy view's selection (a confusion cell, a class, everything
//! predicted as a class): one method's map of each image over it, as they arrive, then their
//! mean map at the network's input size and the mean deletion and insertion areas per class
//! explained. What the model looks at for a class across the set, not on one image.

use std::sync::Arc;

use explain_core::render::{ColourMap, heatmap, overlay};
use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::files;
use super::panels::draw;
use super::state::{View, use_session};
use crate::class_maps::{MAX_EXPLAINED, ShownImageMap};
use crate::protocol::{ClassMapsResult, ExplainMethod};

/// Opacity of a map over its image in the gallery.
const OPACITY: f32 = 0.5;

fn colours(method: ExplainMethod) -> ColourMap {
    if method.signed() {
        ColourMap::Diverging
    } else {
        ColourMap::Viridis
    }
}

/// The method picker and the button, under the selection's gallery; the maps below them.
#[component]
pub fn ClassMapsPanel() -> impl IntoView {
    let s = use_session();
    let method = RwSignal::new(ExplainMethod::GradCam);
    // A model without Grad-CAM layers (a ViT) starts on Saliency.
    Effect::new(move |_| {
        let fits = s.model.summary.with(|m| {
            m.as_ref()
                .is_none_or(|m| method.get_untracked().applies_to(&m.layers))
        });
        if !fits {
            method.set(ExplainMethod::Saliency);
        }
    });
    let count = move || {
        let selection = s.dataset.selection.get()?;
        s.dataset.evaluation.with(|e| {
            e.as_ref()
                .map(|e| selection.files(&e.evaluation).len().min(MAX_EXPLAINED))
        })
    };
    let options = move || {
        s.model.summary.with(|m| {
            ExplainMethod::ALL
                .into_iter()
                .filter(|e| m.as_ref().is_some_and(|m| e.applies_to(&m.layers)))
                .map(|e| view! { <option value=e.key() selected=move || method.get().key() == e.key()>{e.label()}</option> })
                .collect_view()
        })
    };
    view! {
        <div class="controls class-maps-controls" class:hidden=move || count().is_none_or(|n| n == 0)>
            <label>"Explain these images with "
                <select id="class-method" on:change=move |ev| {
                    let key = event_target_value(&ev);
                    if let Some(m) = ExplainMethod::ALL.into_iter().find(|m| m.key() == key) {
                        method.set(m)
                    }
                }>{options}</select>
            </label>
            <button id="explain-selection" on:click=move |_| s.explain_selection(method.get_untracked(), None)>
                {move || match count() {
                    Some(n) if n == MAX_EXPLAINED => format!("Explain the first {n}"),
                    Some(n) => format!("Explain all {n}"),
                    None => String::new(),
                }}
            </button>
            <span class="hint">"each image's map, their mean, and how faithful they are (deletion: lower is better; insertion: higher)"</span>
        </div>
        <ClassMaps />
    }
}

/// The maps of the last click as they arrive (only the new ones are drawn), and their summary
/// when done.
#[component]
fn ClassMaps() -> impl IntoView {
    let s = use_session();
    let maps = s.dataset.class_maps;
    let summary = Memo::new(move |_| maps.with(|c| c.as_ref().and_then(|c| c.summary.clone())));
    let heading = move || {
        maps.with(|c| {
            c.as_ref().map(|c| {
                format!(
                    "{} of {}: {} of {} image(s)",
                    c.method.label(),
                    c.title,
                    c.maps.len(),
                    c.asked
                )
            })
        })
    };
    let shown = move || maps.with(|c| c.as_ref().map(|c| c.maps.clone()).unwrap_or_default());
    // The section is built once per click; a new map adds one card.
    let job = Memo::new(move |_| maps.with(|c| c.as_ref().map(|c| (c.id, c.method))));
    move || {
        let (id, method) = job.get()?;
        Some(view! {
            <section id="class-maps" class="class-maps" data-job=id.to_string() data-done=move || summary.with(Option::is_some).to_string() data-method=method.key()>
                <h3>{heading}</h3>
                {move || summary.get().map(|(result, mean, npy)| view! { <ClassSummary result=result mean=mean npy=npy /> })}
                <div class="class-map-grid">
                    <For each=shown key=|m| m.result.index let:m>
                        <ImageMapCard map=m method=method />
                    </For>
                </div>
            </section>
        })
    }
}

/// The mean map, the mean areas of each class explained, and the images left out.
#[component]
fn ClassSummary(result: ClassMapsResult, mean: Vec<f32>, npy: Vec<u8>) -> impl IntoView {
    let s = use_session();
    let classes = s
        .dataset
        .evaluation
        .with_untracked(|e| e.as_ref().map(|e| e.evaluation.classes.clone()))
        .unwrap_or_default();
    let name = move |k: usize| classes.get(k).cloned().unwrap_or_else(|| k.to_string());
    let rows = result
        .faithfulness
        .iter()
        .map(|f| {
            view! {
                <tr data-class=f.class data-images=f.images data-deletion=f.deletion_auc.to_string() data-insertion=f.insertion_auc.to_string()>
                    <td>{name(f.class)}</td>
                    <td class="num">{f.images}</td>
                    <td class="num">{format!("{:.3}", f.deletion_auc)}</td>
                    <td class="num">{format!("{:.3}", f.insertion_auc)}</td>
                </tr>
            }
        })
        .collect_view();
    let skipped = (!result.skipped.is_empty()).then(|| {
        let items = result
            .skipped
            .iter()
            .map(|r| view! { <li>{r.clone()}</li> })
            .collect_view();
        view! {
            <details class="warning">
                <summary>{format!("{} image(s) could not be read and were left out", result.skipped.len())}</summary>
                <ul>{items}</ul>
            </details>
        }
    });
    let (w, h, method) = (result.width, result.height, result.method);
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        if let Some(c) = canvas.get() {
            let c: &HtmlCanvasElement = &c;
            let _ = draw(c, &heatmap(&mean, colours(method)), w, h);
        }
    });
    let save = move |_| files::download("class-mean.npy", &npy, "application/octet-stream");
    let layer = result
        .layer
        .as_ref()
        .map(|l| format!(" at {l}"))
        .unwrap_or_default();
    view! {
        <div class="class-summary">
            <figure id="class-mean" data-images=result.images.to_string()>
                <canvas node_ref=canvas width="1" height="1"></canvas>
                <figcaption>
                    {format!("Mean of {} map(s){layer}", result.images)}
                    <br />
                    <button id="class-mean-npy" on:click=save>".npy"</button>
                </figcaption>
            </figure>
            <table id="class-faithfulness" class="table">
                <thead><tr><th>"Class explained"</th><th>"Images"</th><th>"Mean deletion"</th><th>"Mean insertion"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            {skipped}
        </div>
    }
}

/// One image with its map over it; a click opens it in Predict.
#[component]
fn ImageMapCard(map: Arc<ShownImageMap>, method: ExplainMethod) -> impl IntoView {
    let s = use_session();
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let r = map.result.clone();
    let (w, h) = (r.width, r.height);
    Effect::new(move |_| {
        if let Some(c) = canvas.get() {
            let c: &HtmlCanvasElement = &c;
            let _ = draw(
                c,
                &overlay(&map.rgba, &map.values, colours(method), OPACITY),
                w,
                h,
            );
        }
    });
    let path = r.path.clone();
    let open = move |_| {
        s.open_dataset_image(path.clone());
        s.status.view.set(View::Predict);
    };
    view! {
        <figure class="class-map" data-path=r.path.clone() data-deletion=r.deletion_auc.to_string() data-insertion=r.insertion_auc.to_string() title=r.path.clone() on:click=open>
            <canvas node_ref=canvas width="1" height="1"></canvas>
            <figcaption>{format!("del {:.2} · ins {:.2}", r.deletion_auc, r.insertion_auc)}</figcaption>
        </figure>
    }
}
