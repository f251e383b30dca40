//! The Image data view: open a folder of class folders (or a zip of one), see the classes, their
//! image counts and a few images of each.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsValue;
use web_sys::{File, HtmlInputElement};

use super::demo::open_demo_in_background;
use super::files::{dropped_entries, read_file, walk_entries};
use super::panels::DropZone;
use super::state::{Session, View, random_pick, use_session};

/// Images of each class shown in the overview.
const SAMPLES_PER_CLASS: usize = 8;

fn open_zip(s: Session, name: String, bytes: Vec<u8>) {
    s.open_dataset(name, None, bytes);
}

/// The path of a file picked with a folder input (`class/file.png` under the picked folder).
fn relative_path(file: &File) -> String {
    js_sys::Reflect::get(file, &JsValue::from_str("webkitRelativePath"))
        .ok()
        .and_then(|v| v.as_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| file.name())
}

/// Reads every file of a picked or dropped folder (`(path, file)`, paths under the folder's
/// name) and sends them to the worker as one dataset.
fn open_folder(s: Session, files: Vec<(String, File)>) {
    spawn_local(async move {
        let name = files
            .first()
            .map(|(p, _)| p.split('/').next().unwrap_or_default().to_string())
            .unwrap_or_else(|| "folder".into());
        s.status
            .busy
            .set(Some(format!("Reading {} files of {name}…", files.len())));
        let mut list = Vec::with_capacity(files.len());
        let mut bytes = Vec::new();
        for (path, file) in &files {
            match read_file(file).await {
                Ok(b) => {
                    list.push((path.clone(), b.len()));
                    bytes.extend(b);
                }
                Err(e) => {
                    s.status.busy.set(None);
                    s.status.error.set(Some(e));
                    return;
                }
            }
        }
        s.open_dataset(name, Some(list), bytes);
    });
}

/// A drop on the Image data view: a folder (walked), or a zip of one.
fn on_drop(s: Session, transfer: web_sys::DataTransfer) {
    let entries = dropped_entries(&transfer);
    let zip = transfer
        .files()
        .and_then(|f| f.get(0))
        .filter(|f| f.name().to_lowercase().ends_with(".zip"));
    if let (Some(file), false) = (zip, entries.iter().any(|e| e.is_directory())) {
        spawn_local(async move {
            match read_file(&file).await {
                Ok(bytes) => s.open_dataset(file.name(), None, bytes),
                Err(e) => s.status.error.set(Some(e)),
            }
        });
        return;
    }
    spawn_local(async move {
        match walk_entries(entries).await {
            Ok(files) if !files.is_empty() => open_folder(s, files),
            Ok(_) => s.status.error.set(Some(
                "Nothing to open was dropped: drop a folder with one subfolder per class, or a zip of one.".into(),
            )),
            Err(e) => s.status.error.set(Some(format!("Error while opening the dropped folder: {e}"))),
        }
    });
}

#[component]
pub fn DataView() -> impl IntoView {
    let s = use_session();
    let folder_input = NodeRef::<leptos::html::Input>::new();
    // A folder picker: an attribute Leptos's typed view has no name for.
    Effect::new(move |_| {
        if let Some(input) = folder_input.get() {
            let _ = input.set_attribute("webkitdirectory", "");
        }
    });
    // Ask for a few images of each class whenever a dataset opens.
    Effect::new(move |_| {
        if let Some(d) = s.dataset.summary.get() {
            let mut taken = vec![0; d.classes.len()];
            let paths = d
                .items
                .iter()
                .filter(|i| {
                    taken[i.label] += 1;
                    taken[i.label] <= SAMPLES_PER_CLASS
                })
                .map(|i| i.path.clone())
                .collect();
            s.want_thumbnails(paths);
        }
    });
    // Random images of one class, as many as asked for.
    let class = RwSignal::new(0usize);
    let count = RwSignal::new(16usize);
    let sample = RwSignal::new(Vec::<String>::new());
    let shuffle = move || {
        let k = class.get_untracked();
        let paths = s.dataset.summary.with_untracked(|d| {
            d.as_ref()
                .map(|d| {
                    d.items
                        .iter()
                        .filter(|i| i.label == k)
                        .map(|i| i.path.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        });
        let picked = random_pick(&paths, count.get_untracked());
        s.want_thumbnails(picked.clone());
        sample.set(picked);
    };
    Effect::new(move |_| {
        let _ = (
            s.dataset
                .summary
                .with(|d| d.as_ref().map(|d| d.items.len())),
            class.get(),
            count.get(),
        );
        shuffle();
    });
    Effect::new(move |_| {
        let _ = s
            .dataset
            .summary
            .with(|d| d.as_ref().map(|d| d.name.clone()));
        class.set(0);
    });
    let set_count = move |ev| {
        if let Ok(v) = event_target_value(&ev).parse::<usize>() {
            count.set(v.clamp(1, 64));
        }
    };
    // Shown at the network's input size (scaled up by a whole factor to at least 56 px).
    let side = move || {
        let n = s
            .model
            .summary
            .with(|m| m.as_ref().map_or(56, |m| m.input.width.max(m.input.height)))
            .max(1);
        n * 56usize.div_ceil(n).max(1)
    };
    let random_grid = move || {
        let px = side();
        sample
            .get()
            .into_iter()
            .map(|path| {
                let src = s.thumbnail(path.clone());
                let target = path.clone();
                view! {
                    <button class="thumb" data-path=path.clone() title=path on:click=move |_| {
                        s.open_dataset_image(target.clone());
                        s.status.view.set(View::Predict);
                    }>
                        <img src=src alt="" style:width=format!("{px}px") style:height=format!("{px}px") />
                    </button>
                }
            })
            .collect_view()
    };
    let hover = RwSignal::new(false);
    view! {
        <section
            class="panel"
            class:hover=move || hover.get()
            id="data-view"
            on:dragover=move |ev: web_sys::DragEvent| {
                ev.prevent_default();
                hover.set(true);
            }
            on:dragleave=move |_| hover.set(false)
            on:drop=move |ev: web_sys::DragEvent| {
                ev.prevent_default();
                hover.set(false);
                if let Some(t) = ev.data_transfer() {
                    on_drop(s, t);
                }
            }
        >
            <h2>"Image data"</h2>
            <div class="open-row">
                <label class="drop-zone">
                    <span>"Open a folder of images, one subfolder per class (or drop it on this panel)"</span>
                    <input
                        type="file"
                        id="folder-input"
                        node_ref=folder_input
                        multiple=true
                        on:change=move |ev| {
                            let input: HtmlInputElement = event_target(&ev);
                            if let Some(list) = input.files() {
                                let files = (0..list.length())
                                    .filter_map(|i| list.get(i))
                                    .map(|f| (relative_path(&f), f))
                                    .collect();
                                open_folder(s, files);
                            }
                            input.set_value("");
                        }
                    />
                </label>
                <DropZone id="dataset-zip" label="…or a .zip of class folders (or drop it here)" accept=".zip" on_file=open_zip />
                <button id="open-demo" on:click=move |_| open_demo_in_background(s)>"Open the demo again"</button>
            </div>
            {move || {
                s.dataset.summary.get().map(|d| {
                    let most = d.counts.iter().copied().max().unwrap_or(1).max(1);
                    let rows = d
                        .classes
                        .iter()
                        .enumerate()
                        .map(|(k, class)| {
                            let count = d.counts[k];
                            let samples = d
                                .items
                                .iter()
                                .filter(|i| i.label == k)
                                .take(SAMPLES_PER_CLASS)
                                .map(|i| {
                                    let path = i.path.clone();
                                    let src = s.thumbnail(path.clone());
                                    view! {
                                        <button class="thumb" title=path.clone() on:click=move |_| {
                                            s.open_dataset_image(path.clone());
                                            s.status.view.set(View::Predict);
                                        }>
                                            <img src=src alt="" />
                                        </button>
                                    }
                                })
                                .collect_view();
                            view! {
                                <tr data-class=class.clone() data-count=count>
                                    <td>{class.clone()}</td>
                                    <td class="num">{count}</td>
                                    <td class="bar-cell">
                                        <span class="bar-track"><span class="bar-fill" style:width=format!("{:.1}%", 100.0 * count as f64 / most as f64)></span></span>
                                    </td>
                                    <td class="samples">{samples}</td>
                                </tr>
                            }
                        })
                        .collect_view();
                    view! {
                        <p id="dataset-summary">
                            {format!("{}: {} images in {} classes", d.name, d.items.len(), d.classes.len())}
                        </p>
                        <table id="class-table" class="table">
                            <thead><tr><th>"Class folder"</th><th>"Images"</th><th></th><th>"Examples"</th></tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    }
                })
            }}
            <div class="controls random-row" class:hidden=move || s.dataset.summary.with(Option::is_none)>
                <h3>"Random images"</h3>
                <label>"Class "
                    <select id="data-class" on:change=move |ev| if let Ok(k) = event_target_value(&ev).parse() { class.set(k) }>
                        {move || s.dataset.summary.with(|d| d.as_ref().map(|d| {
                            d.classes.iter().enumerate().map(|(k, c)| view! { <option value=k selected=move || class.get() == k>{c.clone()}</option> }).collect_view()
                        }))}
                    </select>
                </label>
                <label>" Number to show " <input id="data-count" type="number" min="1" max="64" prop:value=move || count.get().to_string() on:change=set_count /></label>
                <button id="data-shuffle" on:click=move |_| shuffle()>"Other random images"</button>
            </div>
            <div id="random-images" class="thumbs">{random_grid}</div>
        </section>
    }
}
