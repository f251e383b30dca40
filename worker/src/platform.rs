//! What differs between the browser and the native tests: whether WebGPU is offered and by a
//! software adapter, the clock.

use explain_core::Device;

#[cfg(target_arch = "wasm32")]
pub(super) fn webgpu_offered() -> bool {
    use wasm_bindgen::JsValue;
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &JsValue::from_str("navigator"))
        .and_then(|nav| js_sys::Reflect::get(&nav, &JsValue::from_str("gpu")))
        .map(|gpu| !gpu.is_undefined() && !gpu.is_null())
        .unwrap_or(false)
}

#[cfg(not(target_arch = "wasm32"))]
pub(super) fn webgpu_offered() -> bool {
    false
}

/// The name of the browser's WebGPU adapter when it is a software one (the adapter says it is a
/// fallback, or its info names a software rasteriser); `None` for a hardware adapter.
#[cfg(target_arch = "wasm32")]
pub(super) async fn software_adapter() -> Option<String> {
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    let get = |target: &JsValue, key: &str| Reflect::get(target, &JsValue::from_str(key)).ok();
    let navigator = get(&js_sys::global(), "navigator")?;
    let gpu = get(&navigator, "gpu")?;
    let request: Function = get(&gpu, "requestAdapter")?.dyn_into().ok()?;
    let promise: Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    if adapter.is_null() || adapter.is_undefined() {
        return None;
    }
    let info = get(&adapter, "info").unwrap_or(JsValue::UNDEFINED);
    let flag =
        |target: &JsValue| get(target, "isFallbackAdapter").and_then(|v| v.as_bool()) == Some(true);
    let text: Vec<String> = ["vendor", "architecture", "device", "description"]
        .iter()
        .filter_map(|key| get(&info, key)?.as_string())
        .filter(|t| !t.is_empty())
        .collect();
    let described = text.join(" ");
    let lower = described.to_lowercase();
    let software = [
        "swiftshader",
        "llvmpipe",
        "lavapipe",
        "softpipe",
        "basic render",
        "software",
    ]
    .iter()
    .any(|name| lower.contains(name));
    (flag(&adapter) || flag(&info) || software).then(|| {
        if described.is_empty() {
            "a fallback adapter".to_string()
        } else {
            described
        }
    })
}

#[cfg(not(target_arch = "wasm32"))]
pub(super) async fn software_adapter() -> Option<String> {
    None
}

#[cfg(target_arch = "wasm32")]
pub(super) async fn init_webgpu() -> Result<Device, String> {
    if !webgpu_offered() {
        return Err("this browser offers no WebGPU".into());
    }
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| e.to_string())
}

#[cfg(not(target_arch = "wasm32"))]
pub(super) async fn init_webgpu() -> Result<Device, String> {
    Err("WebGPU exists only in the browser build".into())
}

#[cfg(target_arch = "wasm32")]
pub(super) fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    js_sys::global()
        .dyn_into::<web_sys::DedicatedWorkerGlobalScope>()
        .ok()
        .and_then(|g| g.performance())
        .map_or(0.0, |p| p.now())
}

#[cfg(not(target_arch = "wasm32"))]
pub(super) fn now_ms() -> f64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
