//! The Features view: what a layer computes. The shown image's activations as one tile per
//! channel (on one shared scale, so strong and weak channels compare) and the histogram of the
//! layer's values; for the selected channels (click a tile; Ctrl- or Shift-click adds one),
//! each one's histogram, the dataset images that excite it most, and its deep dream.

use explain_core::features::DeepDream;
use explain_core::features::activations::{Histogram, histogram};
use explain_core::render::{ColourMap, heatmap};
use leptos::prelude::*;
use web_sys::{HtmlCanvasElement, MouseEvent};

use super::layer_select::LayerSelect;
use super::panels::draw;
use super::state::{View, use_session};

/// Channels drawn at most (a layer may have thousands).
const MAX_TILES: usize = 256;

/// A histogram as bars.
#[component]
fn Bars(class: &'static str, histogram: Histogram) -> impl IntoView {
    let most = histogram.counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let n = histogram.counts.len().max(1) as f64;
    let bars = histogram
        .counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let h = 60.0 * c as f64 / most;
            view! {
                <rect x=format!("{:.2}", 300.0 * i as f64 / n) y=format!("{:.2}", 60.0 - h)
                    width=format!("{:.2}", 300.0 / n - 0.5) height=format!("{h:.2}") data-count=c></rect>
            }
        })
        .collect_view();
    view! {
        <figure class="histogram">
            <svg class=class viewBox="0 0 300 60" width="300" height="60" preserveAspectRatio="none">{bars}</svg>
            <figcaption>{format!("{:.3} … {:.3}", histogram.min, histogram.max)}</figcaption>
        </figure>
    }
}

/// RGBA pixels on a canvas, redrawn when they change.
#[component]
fn Picture(class: &'static str, rgba: Vec<u8>, width: usize, height: usize) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        if let Some(c) = canvas.get() {
            let c: &HtmlCanvasElement = &c;
            let _ = draw(c, &rgba, width, height);
        }
    });
    view! { <canvas class=class node_ref=canvas width="1" height="1"></canvas> }
}

#[component]
pub fn FeaturesView() -> impl IntoView {
    let s = use_session();
    let layer = RwSignal::new(None::<String>);
    let selected = RwSignal::new(vec![0usize]);
    let defaults = DeepDream::default();
    let iterations = RwSignal::new(defaults.iterations);
    let levels = RwSignal::new(defaults.levels);
    let blur = RwSignal::new(defaults.gradient_blur);
    Effect::new(move |_| layer.set(s.model.summary.get().and_then(|m| m.layers.gradcam_layer)));
    // The shown image's activations follow the image and the layer.
    Effect::new(move |_| {
        let shown = s.image.shown.with(Option::is_some);
        if let Some(l) = layer.get()
            && shown
        {
            s.show_activations(l);
        }
    });
    Effect::new(move |_| {
        let _ = layer.get();
        selected.set(vec![0]);
    });
    let pick = move |c: usize, ev: MouseEvent| {
        if ev.ctrl_key() || ev.meta_key() || ev.shift_key() {
            selected.update(|list| {
                if let Some(i) = list.iter().position(|&x| x == c) {
                    if list.len() > 1 {
                        list.remove(i);
                    }
                } else {
                    list.push(c);
                }
            });
        } else {
            selected.set(vec![c]);
        }
    };
    let tiles = move || {
        let (acts, maps) = s.features.activations.get()?;
        let area = acts.height * acts.width;
        let (lo, hi) = maps
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let span = (hi - lo).max(f32::MIN_POSITIVE);
        Some(
            (0..acts.channels.min(MAX_TILES))
                .map(|c| {
                    let values: Vec<f32> = maps[c * area..(c + 1) * area].iter().map(|v| (v - lo) / span).collect();
                    let rgba = heatmap(&values, ColourMap::Viridis);
                    view! {
                        <button class="tile" class:selected=move || selected.get().contains(&c) data-channel=c
                            title=format!("channel {c} (Ctrl- or Shift-click to add it)")
                            on:click=move |ev| pick(c, ev)>
                            <Picture class="tile-map" rgba=rgba width=acts.width height=acts.height />
                        </button>
                    }
                })
                .collect_view(),
        )
    };
    // One card per selected channel: its histogram, top images and dream.
    let cards = move || {
        let (acts, maps) = s.features.activations.get()?;
        let area = acts.height * acts.width;
        let top = s
            .features
            .max_activations
            .get()
            .filter(|r| Some(r.layer.as_str()) == layer.get().as_deref());
        if let Some(top) = &top {
            let paths = selected
                .get()
                .iter()
                .filter_map(|&c| top.best.get(c))
                .flatten()
                .map(|(_, p)| p.clone())
                .collect();
            s.want_thumbnails(paths);
        }
        let dreams = s.features.dreams.get();
        Some(
            selected
                .get()
                .into_iter()
                .filter(|&c| c < acts.channels)
                .map(|c| {
                    let h = histogram(&maps[c * area..(c + 1) * area], 20);
                    let images = top.as_ref().and_then(|t| t.best.get(c)).cloned().unwrap_or_default();
                    let images = images
                        .into_iter()
                        .map(|(score, path)| {
                            let src = s.thumbnail(path.clone());
                            let target = path.clone();
                            view! {
                                <button class="thumb" data-path=path.clone() title=format!("{path}: mean activation {score:.4}")
                                    on:click=move |_| {
                                        s.open_dataset_image(target.clone());
                                        s.status.view.set(View::Predict);
                                    }>
                                    <img src=src alt="" />
                                </button>
                            }
                        })
                        .collect_view();
                    let dream = dreams.iter().find(|(d, _)| d.channel == Some(c)).map(|(d, rgba)| {
                        let caption = format!("dreamed for {} channel {c} ({:.0} ms)", d.layer, d.compute_ms);
                        view! {
                            <figure>
                                <Picture class="dream" rgba=rgba.clone() width=d.width height=d.height />
                                <figcaption class="dream-caption">{caption}</figcaption>
                            </figure>
                        }
                    });
                    view! {
                        <div class="channel" data-channel=c>
                            <h4>{format!("Channel {c}")}</h4>
                            <Bars class="channel-histogram" histogram=h />
                            <div class="max-images thumbs">{images}</div>
                            {dream}
                        </div>
                    }
                })
                .collect_view(),
        )
    };
    let set_iterations = move |ev| {
        if let Ok(v) = event_target_value(&ev).parse::<usize>() {
            iterations.set(v.clamp(1, 500));
        }
    };
    let set_levels = move |ev| {
        if let Ok(v) = event_target_value(&ev).parse::<usize>() {
            levels.set(v.clamp(1, 100));
        }
    };
    let set_blur = move |ev| {
        if let Ok(v) = event_target_value(&ev).parse::<f32>() {
            blur.set(v.clamp(0.0, 10.0));
        }
    };
    let find = move |_| {
        if let Some(l) = layer.get_untracked() {
            s.find_max_activations(l);
        }
    };
    let dream = move |_| {
        if let Some(l) = layer.get_untracked() {
            s.dream_of(
                l,
                selected.get_untracked(),
                DeepDream {
                    iterations: iterations.get_untracked(),
                    levels: levels.get_untracked(),
                    gradient_blur: blur.get_untracked(),
                    ..DeepDream::default()
                },
            );
        }
    };
    view! {
        <section class="panel" id="features-view">
            <h2>"Features"</h2>
            <div class="controls">
                <label>"Layer "
                    <LayerSelect id="features-layer" layer=layer keep=|l| l.channel_axis.is_some() || l.shape.len() == 2 />
                </label>
                <span class="hint">{move || s.image.shown.with(|x| x.as_ref().map(|x| format!(" activations of {}", x.result.name)))}</span>
            </div>
            {move || s.features.activations.get().map(|(a, _)| {
                let more = if a.channels > MAX_TILES { format!(", the first {MAX_TILES} shown") } else { String::new() };
                view! {
                    <p id="features-caption" data-channels=a.channels>
                        {format!("{}: {} channel(s) of {}×{}{more}; one colour scale for all (viridis: low → high)", a.layer, a.channels, a.height, a.width)}
                    </p>
                    <h3>"All values of the layer"</h3>
                    <Bars class="layer-histogram" histogram=a.histogram.clone() />
                }
            })}
            <div id="tiles" class="tiles">{tiles}</div>
            <div class="channel-panel" class:hidden=move || s.features.activations.with(Option::is_none)>
                <h3 id="selected-channels">{move || {
                    let list: Vec<String> = selected.get().iter().map(|c| c.to_string()).collect();
                    format!("Selected channel(s): {}", list.join(", "))
                }}</h3>
                <div class="controls">
                    <button id="max-run" on:click=find>"Find the images that excite them most"</button>
                    <label class="inline">" Iterations " <input id="dream-iterations" class="narrow" type="number" min="1" max="500"
                        prop:value=move || iterations.get().to_string() on:change=set_iterations /></label>
                    <label class="inline">" Levels " <input id="dream-levels" class="narrow" type="number" min="1" max="100"
                        prop:value=move || levels.get().to_string() on:change=set_levels /></label>
                    <label class="inline" title="Sigma of a Gaussian blur of each step's gradient, in pixels: 0 dreams pixel-sized noise on small networks">
                        " Smoothing " <input id="dream-blur" class="narrow" type="number" min="0" max="10" step="0.5"
                        prop:value=move || blur.get().to_string() on:change=set_blur /></label>
                    <button id="dream-run" on:click=dream>"Deep dream"</button>
                </div>
                <div id="channels" class="channels">{cards}</div>
            </div>
        </section>
    }
}
