//! The engine's forward pass compiled to wasm (one thread, simd128) and timed from JavaScript:
//! `benchmarks/wasm_vs_onnxruntime_web.mjs` runs it next to onnxruntime-web's wasm backend on
//! the same model file and input.

use explain_core::onnx::FloatValue;
use explain_core::{Classifier, Device};
use wasm_bindgen::prelude::*;

/// The input every engine gets: a fixed pattern in [-1, 1) (not zeros, which some kernels
/// shortcut), `n` images of the model's shape.
pub fn pattern(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// Milliseconds since some origin (`performance.now()` where the host has it).
fn now_ms() -> f64 {
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_performance::Performance>().ok());
    match performance {
        Some(p) => p.now(),
        None => js_sys::Date::now(),
    }
}

/// Minimal binding to the host's `performance` object (Node and browsers have it).
mod web_performance {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        pub type Performance;
        #[wasm_bindgen(method)]
        pub fn now(this: &Performance) -> f64;
    }
}

/// Loads `model`, runs one warm-up and `runs` timed forward passes of `batch` images, and returns
/// JSON `{ "times_ms": [...], "median_ms": m, "logits": [first image's first 10 logits] }`.
#[wasm_bindgen]
pub async fn forward_ms(model: Vec<u8>, batch: usize, runs: usize) -> Result<String, JsValue> {
    let fail = |e: explain_core::Error| JsValue::from_str(&e.to_string());
    let device = Device::flex();
    let classifier = Classifier::from_bytes(&model, &device).map_err(fail)?;
    let spec = classifier.input();
    let input = pattern(batch * spec.image_len());
    let x = FloatValue::from_vec(input, &spec.batch_shape(batch), &device).map_err(fail)?;
    let mut logits = classifier
        .logits(x.clone())
        .map_err(fail)?
        .to_vec_async()
        .await
        .map_err(fail)?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = now_ms();
        logits = classifier
            .logits(x.clone())
            .map_err(fail)?
            .to_vec_async()
            .await
            .map_err(fail)?;
        times.push(now_ms() - start);
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    logits.truncate(10);
    Ok(serde_json::json!({ "times_ms": times, "median_ms": median, "logits": logits }).to_string())
}
