//! Bytes from the user's files and from the app's own static files. Nothing is uploaded.

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, Response};

/// Reads a picked or dropped file.
pub async fn read_file(file: &File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("cannot read '{}': {e:?}", file.name()))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Fetches a file served beside the app (the demo).
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("cannot fetch {url}: {e:?}"))?
        .dyn_into()
        .map_err(|_| format!("cannot fetch {url}"))?;
    if !response.ok() {
        return Err(format!("cannot fetch {url}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("cannot read {url}: {e:?}"))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Fetches a text file served beside the app.
pub async fn fetch_text(url: &str) -> Result<String, String> {
    String::from_utf8(fetch_bytes(url).await?).map_err(|_| format!("{url} is not UTF-8 text"))
}

/// The first file of a file input's change event or a drop event.
pub fn first_file(list: Option<web_sys::FileList>) -> Option<File> {
    list.and_then(|l| l.get(0))
}

/// A `blob:` URL for `bytes` (a file to download); revoke it when done.
fn blob_url(bytes: &[u8], mime: &str) -> Option<String> {
    let parts = js_sys::Array::new();
    parts.push(&Uint8Array::from(bytes).into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
    web_sys::Url::create_object_url_with_blob(&blob).ok()
}

/// Saves `bytes` as a file named `name` (through a temporary link; nothing leaves the machine).
pub fn download(name: &str, bytes: &[u8], mime: &str) {
    let Some(url) = blob_url(bytes, mime) else {
        return;
    };
    let link = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok());
    if let Some(link) = link {
        link.set_href(&url);
        link.set_download(name);
        link.click();
    }
    // The browser has the bytes once the click is handled; free the URL a little later.
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = web_sys::window() {
        let _ =
            w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
    }
}

/// The bytes of a `data:...;base64,` URL (a canvas's `toDataURL`).
pub fn data_url_bytes(url: &str) -> Vec<u8> {
    let Some((_, b64)) = url.split_once(',') else {
        return Vec::new();
    };
    let Some(text) = web_sys::window().and_then(|w| w.atob(b64).ok()) else {
        return Vec::new();
    };
    text.chars().map(|c| c as u8).collect()
}

/// The entries of a drop (files and folders), taken while the drop event lasts (the browser
/// empties the list afterwards).
pub fn dropped_entries(transfer: &web_sys::DataTransfer) -> Vec<web_sys::FileSystemEntry> {
    let items = transfer.items();
    (0..items.length())
        .filter_map(|i| items.get(i))
        .filter_map(|item| item.webkit_get_as_entry().ok().flatten())
        .collect()
}

/// Every file under the dropped entries, folders walked, with its path from the drop
/// (`folder/class/image.png`).
pub async fn walk_entries(
    entries: Vec<web_sys::FileSystemEntry>,
) -> Result<Vec<(String, File)>, String> {
    let mut out = Vec::new();
    let mut stack = entries;
    while let Some(entry) = stack.pop() {
        if entry.is_directory() {
            let reader = entry
                .unchecked_ref::<web_sys::FileSystemDirectoryEntry>()
                .create_reader();
            // readEntries answers in pieces: call it until it gives nothing.
            loop {
                let piece = callback_promise(|ok, err| {
                    reader
                        .read_entries_with_callback_and_callback(ok, err)
                        .map_err(|e| format!("{e:?}"))
                })
                .await
                .map_err(|e| format!("cannot list the folder '{}': {e}", entry.name()))?;
                let piece: js_sys::Array = piece.unchecked_into();
                if piece.length() == 0 {
                    break;
                }
                stack.extend(
                    piece
                        .iter()
                        .map(|v| v.unchecked_into::<web_sys::FileSystemEntry>()),
                );
            }
        } else if entry.is_file() {
            let file = callback_promise(|ok, err| {
                entry
                    .unchecked_ref::<web_sys::FileSystemFileEntry>()
                    .file_with_callback_and_callback(ok, err);
                Ok(())
            })
            .await
            .map_err(|e| format!("cannot read '{}': {e}", entry.full_path()))?;
            let path = entry.full_path().trim_start_matches('/').to_string();
            out.push((path, file.unchecked_into::<File>()));
        }
    }
    Ok(out)
}

/// Awaits a callback-style browser API: `start` gets the success and error callbacks.
async fn callback_promise(
    start: impl FnOnce(&js_sys::Function, &js_sys::Function) -> Result<(), String>,
) -> Result<wasm_bindgen::JsValue, String> {
    let mut started = Ok(());
    let mut start = Some(start);
    let promise = js_sys::Promise::new(&mut |ok, err| {
        if let Some(start) = start.take() {
            started = start(&ok, &err);
        }
    });
    started?;
    JsFuture::from(promise).await.map_err(|e| format!("{e:?}"))
}
