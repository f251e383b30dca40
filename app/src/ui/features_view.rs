//! The Features view: what a layer computes. The shown image's activations as one tile per
//! channel (on one shared scale, so strong and weak channels compare), the histogram of the
//! layer's values and of the chosen channel's, the dataset images that excite the channel
//! most, and a deep dream of it.

use explain_core::features::activations::{Histogram, histogram};
use explain_core::render::{ColourMap, heatmap};
use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::layer_select::LayerSelect;
use super::panels::draw;
use super::state::{View, use_session};

/// Channels drawn at most (a layer may have thousands).
const MAX_TILES: usize = 256;

/// A histogram as bars; `id` names it for tests.
#[component]
fn Bars(id: &'static str, histogram: Histogram) -> impl IntoView {
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
            <svg id=id viewBox="0 0 300 60" width="300" height="60" preserveAspectRatio="none">{bars}</svg>
            <figcaption>{format!("{:.3} … {:.3}", histogram.min, histogram.max)}</figcaption>
        </figure>
    }
}

#[component]
pub fn FeaturesView() -> impl IntoView {
    let s = use_session();
    let layer = RwSignal::new(None::<String>);
    let channel = RwSignal::new(0usize);
    let iterations = RwSignal::new(10usize);
    let levels = RwSignal::new(2usize);
    Effect::new(move |_| layer.set(s.model.get().and_then(|m| m.layers.gradcam_layer)));
    // The shown image's activations follow the image and the layer.
    Effect::new(move |_| {
        let shown = s.shown.with(Option::is_some);
        if let Some(l) = layer.get()
            && shown
        {
            s.show_activations(l);
        }
    });
    Effect::new(move |_| {
        let _ = layer.get();
        channel.set(0);
    });
    let tiles = move || {
        let (acts, maps) = s.activations.get()?;
        let area = acts.height * acts.width;
        let (lo, hi) = maps
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let span = (hi - lo).max(f32::MIN_POSITIVE);
        let shown = acts.channels.min(MAX_TILES);
        Some(
            (0..shown)
                .map(|c| {
                    let values: Vec<f32> = maps[c * area..(c + 1) * area].iter().map(|v| (v - lo) / span).collect();
                    let canvas = NodeRef::<leptos::html::Canvas>::new();
                    let (w, h) = (acts.width, acts.height);
                    Effect::new(move |_| {
                        if let Some(el) = canvas.get() {
                            let el: &HtmlCanvasElement = &el;
                            let _ = draw(el, &heatmap(&values, ColourMap::Viridis), w, h);
                        }
                    });
                    view! {
                        <button class="tile" class:selected=move || channel.get() == c data-channel=c title=format!("channel {c}")
                            on:click=move |_| channel.set(c)>
                            <canvas node_ref=canvas width="1" height="1"></canvas>
                        </button>
                    }
                })
                .collect_view(),
        )
    };
    let channel_histogram = move || {
        let (acts, maps) = s.activations.get()?;
        let area = acts.height * acts.width;
        let c = channel.get().min(acts.channels.saturating_sub(1));
        Some(histogram(&maps[c * area..(c + 1) * area], 20))
    };
    let top_images = move || {
        let result = s.max_activations.get()?;
        if Some(result.layer.as_str()) != layer.get().as_deref() {
            return None;
        }
        let list = result.best.get(channel.get())?.clone();
        s.want_thumbnails(list.iter().map(|(_, p)| p.clone()).collect());
        let thumbs = s.thumbnails.get();
        Some(
            list.into_iter()
                .map(|(score, path)| {
                    let src = thumbs.get(&path).cloned().unwrap_or_default();
                    let target = path.clone();
                    view! {
                        <button class="thumb" data-path=path.clone() title=format!("{path}: mean activation {score:.4}")
                            on:click=move |_| {
                                s.open_dataset_image(target.clone());
                                s.view.set(View::Predict);
                            }>
                            <img src=src alt="" />
                        </button>
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
    let dream_canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        if let (Some((d, rgba)), Some(c)) = (s.dream.get(), dream_canvas.get()) {
            let c: &HtmlCanvasElement = &c;
            let _ = draw(c, &rgba, d.width, d.height);
        }
    });
    view! {
        <section class="panel" id="features-view">
            <h2>"Features"</h2>
            <div class="controls">
                <label>"Layer "
                    <LayerSelect id="features-layer" layer=layer keep=|l| l.channel_axis.is_some() || l.shape.len() == 2 />
                </label>
                <span class="hint">{move || s.shown.get().map(|x| format!(" activations of {}", x.result.name))}</span>
            </div>
            {move || s.activations.get().map(|(a, _)| {
                let more = if a.channels > MAX_TILES { format!(", the first {MAX_TILES} shown") } else { String::new() };
                view! {
                    <p id="features-caption" data-channels=a.channels>
                        {format!("{}: {} channel(s) of {}×{}{more}; one colour scale for all (viridis: low → high)", a.layer, a.channels, a.height, a.width)}
                    </p>
                    <h3>"All values of the layer"</h3>
                    <Bars id="layer-histogram" histogram=a.histogram.clone() />
                }
            })}
            <div id="tiles" class="tiles">{tiles}</div>
            <div class="channel-panel" class:hidden=move || s.activations.with(Option::is_none)>
                <h3 id="channel-title">{move || format!("Channel {}", channel.get())}</h3>
                {move || channel_histogram().map(|h| view! { <Bars id="channel-histogram" histogram=h /> })}
                <div class="controls">
                    <button id="max-run" on:click=move |_| if let Some(l) = layer.get_untracked() { s.find_max_activations(l) }>
                        "Find the images that excite it most"
                    </button>
                    <label>" Iterations " <input id="dream-iterations" type="number" min="1" max="500" prop:value=move || iterations.get().to_string()
                        on:change=set_iterations /></label>
                    <label>" Levels " <input id="dream-levels" type="number" min="1" max="100" prop:value=move || levels.get().to_string()
                        on:change=set_levels /></label>
                    <button id="dream-run" on:click=move |_| if let Some(l) = layer.get_untracked() { s.dream_of(l, Some(channel.get_untracked()), iterations.get_untracked(), levels.get_untracked()) }>
                        "Deep dream"
                    </button>
                </div>
                <div id="max-images" class="thumbs">{top_images}</div>
                <figure class:hidden=move || s.dream.with(Option::is_none)>
                    <canvas id="dream-view" node_ref=dream_canvas width="1" height="1"></canvas>
                    <figcaption id="dream-caption">{move || s.dream.get().map(|(d, _)| format!(
                        "dreamed for {} channel {} ({:.0} ms)", d.layer, d.channel.map_or("all".into(), |c| c.to_string()), d.compute_ms))}</figcaption>
                </figure>
            </div>
        </section>
    }
}
