//! Giving the browser's event loop a turn, in the page and in the worker alike.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
extern "C" {
    /// The global `setTimeout`, present in a window and in a worker.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &js_sys::Function);
}

/// Resolves in a later task of the event loop (a zero-delay timer), so that what arrived
/// meanwhile (a click, a frame, a message) is handled first.
pub async fn next_task() {
    let promise = js_sys::Promise::new(&mut |resolve, _| set_timeout(&resolve));
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
