//! The page's panels: backend switch, model, preprocessing, image, and the prediction.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{
    CanvasRenderingContext2d, DragEvent, File, HtmlCanvasElement, HtmlInputElement, ImageData,
};

use super::files::{first_file, read_file};
use super::state::{Session, use_session};
use crate::presets::{Preset, format_floats, parse_floats};
use crate::protocol::BackendChoice;

/// What to do with a file once read.
type OnFile = fn(Session, String, Vec<u8>);

fn open_model(s: Session, name: String, bytes: Vec<u8>) {
    s.open_model(name, bytes);
}

fn open_image(s: Session, name: String, bytes: Vec<u8>) {
    s.open_image(name, bytes);
}

fn open_labels(s: Session, name: String, bytes: Vec<u8>) {
    match String::from_utf8(bytes) {
        Ok(text) => s.open_labels(text),
        Err(_) => s.status.error.set(Some(format!(
            "Error while reading the labels: '{name}' is not a text file"
        ))),
    }
}

fn read_then(session: Session, file: File, then: OnFile) {
    spawn_local(async move {
        match read_file(&file).await {
            Ok(bytes) => then(session, file.name(), bytes),
            Err(e) => session.status.error.set(Some(e)),
        }
    });
}

/// A file picker that also accepts a dropped file.
#[component]
pub fn DropZone(
    id: &'static str,
    label: &'static str,
    accept: &'static str,
    on_file: OnFile,
) -> impl IntoView {
    let session = use_session();
    let hover = RwSignal::new(false);
    view! {
        <label
            class="drop-zone"
            class:hover=move || hover.get()
            on:dragover=move |ev: DragEvent| {
                ev.prevent_default();
                hover.set(true);
            }
            on:dragleave=move |_| hover.set(false)
            on:drop=move |ev: DragEvent| {
                ev.prevent_default();
                // Handled here: a panel around this zone must not open the file again.
                ev.stop_propagation();
                hover.set(false);
                if let Some(file) = first_file(ev.data_transfer().and_then(|d| d.files())) {
                    read_then(session, file, on_file);
                }
            }
        >
            <span>{label}</span>
            <input
                type="file"
                id=id
                accept=accept
                on:change=move |ev| {
                    let input: HtmlInputElement = event_target(&ev);
                    if let Some(file) = first_file(input.files()) {
                        read_then(session, file, on_file);
                    }
                    // Picking the same file again must fire again.
                    input.set_value("");
                }
            />
        </label>
    }
}

#[component]
pub fn BackendSwitch() -> impl IntoView {
    let s = use_session();
    let options = [
        (BackendChoice::Auto, "auto", "Auto"),
        (BackendChoice::WebGpu, "webgpu", "WebGPU"),
        (BackendChoice::Cpu, "cpu", "CPU"),
    ];
    view! {
        <div class="backend">
            <label for="backend">"Backend "</label>
            <select
                id="backend"
                on:change=move |ev| {
                    if let Some(c) = BackendChoice::from_query(&event_target_value(&ev)) {
                        s.set_backend(c);
                    }
                }
            >
                {options
                    .into_iter()
                    .map(|(choice, key, label)| {
                        view! {
                            <option value=key selected=move || s.model.choice.get() == choice>
                                {label}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <span id="backend-active" class="badge">
                {move || s.model.backend.get().map_or("starting…", |b| b.label())}
            </span>
            <span class="hint">
                {move || {
                    if s.model.webgpu_available.get() { "" } else { "(this browser offers no WebGPU)" }
                }}
            </span>
            {move || s.model.backend_note.get().map(|n| view! { <div class="note">{n}</div> })}
        </div>
    }
}

#[component]
pub fn ErrorBanner() -> impl IntoView {
    let s = use_session();
    move || {
        s.status.error.get().map(|message| {
            view! {
                <div id="error" class="error" role="alert">
                    <span>{message}</span>
                    <button class="dismiss" on:click=move |_| s.status.error.set(None)>
                        "Dismiss"
                    </button>
                </div>
            }
        })
    }
}

#[component]
pub fn StatusLine() -> impl IntoView {
    let s = use_session();
    view! {
        <div id="status" class="status" aria-live="polite">
            {move || s.status.busy.get().map(|b| view! { <span class="spinner"></span> <span>{b}</span> })}
            {move || s.status.progress.get().map(|p| {
                let fraction = p.done as f64 / p.total.max(1) as f64;
                let elapsed = (js_sys::Date::now() - p.started_ms) / 1000.0;
                // An estimate from under a second of work is noise: wait for one.
                let left = if p.done > 0 && elapsed >= 1.0 {
                    let seconds = (elapsed / fraction * (1.0 - fraction)).ceil();
                    format!(", about {seconds:.0} s left")
                } else {
                    String::new()
                };
                view! {
                    <span id="progress">
                        <progress max=p.total value=p.done></progress>
                        <span>{format!(" {}: {} of {}{left} ", p.task, p.done, p.total)}</span>
                        <button id="cancel" on:click=move |_| s.cancel()>"Cancel"</button>
                    </span>
                }
            })}
        </div>
    }
}

#[component]
pub fn ModelPanel() -> impl IntoView {
    let s = use_session();
    view! {
        <section class="panel">
            <h2>"Model"</h2>
            <DropZone id="model-file" label="Open an ONNX model (or drop it here)" accept=".onnx" on_file=open_model />
            <DropZone id="labels-file" label="Class labels (optional: one per line)" accept=".txt,.json,.csv" on_file=open_labels />
            <SizeChoice />
            {move || {
                s.model.summary.get().map(|m| {
                    let shape = format!(
                        "{} channel(s), {}x{} ({:?}){}",
                        m.input.channels,
                        m.input.height,
                        m.input.width,
                        m.input.layout,
                        if m.input.any_size { ", any size: opened at this one" } else { "" }
                    );
                    view! {
                        <dl id="model-summary">
                            <dt>"File"</dt><dd id="model-name">{m.name}</dd>
                            <dt>"Input"</dt><dd>{shape}</dd>
                            <dt>"Classes"</dt><dd id="model-classes">{m.num_classes}</dd>
                            <dt>"Nodes"</dt><dd>{m.nodes}</dd>
                        </dl>
                    }
                })
            }}
        </section>
    }
}

/// Asks for the image size when the opened model takes any size (PaddleOCR, tf2onnx and
/// `dynamic_axes` exports), then opens it at that size.
#[component]
fn SizeChoice() -> impl IntoView {
    let s = use_session();
    let height = RwSignal::new(224usize);
    let width = RwSignal::new(224usize);
    let read = |event: leptos::ev::Event| event_target_value(&event).trim().parse::<usize>().ok();
    move || {
        s.model.needs_size.get().map(|(name, message)| {
            view! {
                <div id="size-choice" class="note">
                    <p>{format!("{name}: {message}")}</p>
                    <label>"Height "
                        <input id="size-height" type="number" min="1" max="8192" prop:value=move || height.get().to_string()
                            on:change=move |e| if let Some(v) = read(e) { height.set(v) } />
                    </label>
                    <label>" Width "
                        <input id="size-width" type="number" min="1" max="8192" prop:value=move || width.get().to_string()
                            on:change=move |e| if let Some(v) = read(e) { width.set(v) } />
                    </label>
                    <button id="size-open" on:click=move |_| s.open_model_at([height.get_untracked(), width.get_untracked()])>
                        "Open at this size"
                    </button>
                </div>
            }
        })
    }
}

#[component]
pub fn PreprocessPanel() -> impl IntoView {
    let s = use_session();
    let field = move |which: &'static str| {
        move || {
            s.model
                .preprocess
                .get()
                .map_or(String::new(), |p| match which {
                    "scale" => format!("{}", p.scale),
                    "mean" => format_floats(&p.mean),
                    _ => format_floats(&p.std),
                })
        }
    };
    let edit = move |which: &'static str, text: String| {
        let Some(mut p) = s.model.preprocess.get_untracked() else {
            return;
        };
        let parsed =
            parse_floats(&text).map_err(|e| format!("Error in the preprocessing ({which}): {e}"));
        match parsed {
            Ok(v) => {
                match which {
                    "scale" => p.scale = v[0],
                    "mean" => p.mean = v,
                    _ => p.std = v,
                }
                match p.validate() {
                    Ok(()) => s.set_preprocess(p),
                    Err(e) => s
                        .status
                        .error
                        .set(Some(format!("Error in the preprocessing: {e}"))),
                }
            }
            Err(e) => s.status.error.set(Some(e)),
        }
    };
    view! {
        <section class="panel">
            <h2>"Preprocessing"</h2>
            <label>
                "Preset "
                <select
                    id="preset"
                    on:change=move |ev| {
                        if let Some(p) = Preset::from_key(&event_target_value(&ev)) {
                            s.set_preset(p);
                        }
                    }
                >
                    {Preset::ALL
                        .into_iter()
                        .map(|p| {
                            view! {
                                <option value=p.key() selected=move || s.model.preset.get() == p>
                                    {p.label()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <p class="hint">"x = (pixel x scale - mean) / std, per channel"</p>
            <label>"Scale " <input id="scale" prop:value=field("scale") on:change=move |ev| edit("scale", event_target_value(&ev)) /></label>
            <label>"Mean " <input id="mean" prop:value=field("mean") on:change=move |ev| edit("mean", event_target_value(&ev)) /></label>
            <label>"Std " <input id="std" prop:value=field("std") on:change=move |ev| edit("std", event_target_value(&ev)) /></label>
        </section>
    }
}

#[component]
pub fn ImagePanel() -> impl IntoView {
    let s = use_session();
    let class = RwSignal::new(None::<usize>);
    view! {
        <section class="panel">
            <h2>"Image"</h2>
            <DropZone id="image-file" label="Open an image (or drop it here)" accept="image/*" on_file=open_image />
            <div class="controls random-row" class:hidden=move || s.dataset.summary.with(Option::is_none)>
                <button id="random-image" on:click=move |_| s.open_random_image(class.get_untracked())>"Random image"</button>
                " of "
                <select id="random-class" on:change=move |ev| class.set(event_target_value(&ev).parse().ok())>
                    <option value="">"any class"</option>
                    {move || s.dataset.summary.with(|d| d.as_ref().map(|d| {
                        d.classes.iter().enumerate().map(|(k, c)| view! { <option value=k>{c.clone()}</option> }).collect_view()
                    }))}
                </select>
            </div>
            <p class="hint">"Or pick one in the Image data, Accuracy, Features or t-SNE views."</p>
        </section>
    }
}

/// Puts RGBA pixels on a canvas at their own size.
pub fn draw(canvas: &HtmlCanvasElement, rgba: &[u8], width: usize, height: usize) -> Option<()> {
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    let ctx: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let data =
        ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), width as u32, height as u32)
            .ok()?;
    ctx.put_image_data(&data, 0.0, 0.0).ok()
}

#[component]
pub fn PredictionPanel() -> impl IntoView {
    let s = use_session();
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        if let (Some(shown), Some(c)) = (s.image.shown.get(), canvas.get()) {
            let c: &HtmlCanvasElement = &c;
            let _ = draw(c, &shown.rgba, shown.result.width, shown.result.height);
        }
    });
    // The true class of an image from the dataset, once the dataset is evaluated.
    // (Read in place: the evaluation holds every file, and this runs for each bar.)
    let true_class = Memo::new(move |_| {
        let path = s.image.file.with(|i| i.as_ref()?.dataset_path.clone())?;
        s.dataset.evaluation.with(|r| {
            let e = &r.as_ref()?.evaluation;
            let file = e.files.iter().find(|f| f.path == path)?;
            Some((file.label, e.classes.get(file.label)?.clone()))
        })
    });
    let true_class = move || true_class.get();
    view! {
        <section class="panel prediction">
            <h2>"Prediction"</h2>
            <div class="prediction-body">
                <figure>
                    <canvas id="input-view" node_ref=canvas width="1" height="1"></canvas>
                    <figcaption id="image-name">
                        {move || s.image.shown.get().map(|x| x.result.name).unwrap_or_else(|| "no image yet".into())}
                    </figcaption>
                </figure>
                <div class="scores">
                    <h3>"Top 5"</h3>
                    <ol id="top5" class="bars">
                        {move || {
                            s.image.shown
                                .get()
                                .map(|x| {
                                    x.result
                                        .prediction
                                        .top
                                        .into_iter()
                                        .map(|c| {
                                            let pct = 100.0 * c.probability;
                                            view! {
                                                <li
                                                    class="bar"
                                                    class:truth=move || true_class().is_some_and(|(k, _)| k == c.class)
                                                    data-class=c.class
                                                    data-probability=format!("{}", c.probability)
                                                >
                                                    <span class="bar-label">{c.label}</span>
                                                    <span class="bar-track">
                                                        <span class="bar-fill" style:width=format!("{pct:.2}%")></span>
                                                    </span>
                                                    <span class="bar-value">{format!("{pct:.1}%")}</span>
                                                </li>
                                            }
                                        })
                                        .collect_view()
                                })
                        }}
                    </ol>
                    <p id="timing" class="hint">
                        {move || {
                            s.image.shown.get().map(|x| {
                                format!(
                                    "forward pass {:.1} ms on {}",
                                    x.result.forward_ms,
                                    x.result.backend.label()
                                )
                            })
                        }}
                    </p>
                    {move || true_class().map(|(k, label)| {
                        let predicted = s.image.shown.get().and_then(|x| x.result.prediction.top.first().map(|c| c.class));
                        let verdict = if predicted == Some(k) { "right" } else { "wrong" };
                        view! {
                            <p id="true-class" data-class=k class=verdict>
                                "True class: " <strong>{label}</strong> {format!(" (the prediction is {verdict})")}
                            </p>
                        }
                    })}
                    <ul id="notes" class="notes">
                        {move || {
                            s.image.shown
                                .get()
                                .map(|x| x.result.notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view())
                        }}
                    </ul>
                </div>
            </div>
            <ScoreTable truth=Signal::derive(move || true_class().map(|(k, _)| k)) />
        </section>
    }
}

/// Every class's logit and probability, most probable first; the true class marked.
#[component]
fn ScoreTable(truth: Signal<Option<usize>>) -> impl IntoView {
    let s = use_session();
    move || {
        let shown = s.image.shown.get()?;
        let p = shown.result.prediction;
        let labels = s.model.summary.get().map(|m| m.labels).unwrap_or_default();
        let mut order: Vec<usize> = (0..p.probabilities.len()).collect();
        order.sort_by(|&a, &b| {
            p.probabilities[b]
                .total_cmp(&p.probabilities[a])
                .then(a.cmp(&b))
        });
        let rows = order
            .into_iter()
            .map(|k| {
                let label = labels.get(k).cloned().unwrap_or_else(|| k.to_string());
                view! {
                    <tr data-class=k class:truth=move || truth.get() == Some(k)>
                        <td class="num">{k}</td>
                        <td>{label}</td>
                        <td class="num">{format!("{:.4}", p.logits[k])}</td>
                        <td class="num">{format!("{:.2}%", 100.0 * p.probabilities[k])}</td>
                    </tr>
                }
            })
            .collect_view();
        Some(view! {
            <details id="score-table">
                <summary>{format!("All {} class scores", p.probabilities.len())}</summary>
                <table class="table">
                    <thead><tr><th>"Class"</th><th>"Label"</th><th>"Logit"</th><th>"Probability"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        })
    }
}
