//! The layer picker the Explain, Features and t-SNE views share: each layer with its shape, the
//! suggested Grad-CAM layer marked.

use explain_core::onnx::{Layer, format_shape};
use leptos::prelude::*;

use super::state::use_session;

/// A `<select>` of the model's layers that `keep` accepts, bound to `layer`.
#[component]
pub fn LayerSelect(
    id: &'static str,
    layer: RwSignal<Option<String>>,
    keep: fn(&Layer) -> bool,
) -> impl IntoView {
    let s = use_session();
    view! {
        <select id=id on:change=move |ev| layer.set(Some(event_target_value(&ev)))>
            {move || {
                s.model.summary.with(|m| {
                    let m = m.as_ref()?;
                    let suggested = m.layers.gradcam_layer.as_deref();
                    Some(
                        m.layers
                            .layers
                            .iter()
                            .filter(|l| keep(l))
                            .map(|l| {
                                let mark = if suggested == Some(l.name.as_str()) { " (suggested)" } else { "" };
                                let text = format!("{} {}{mark}", l.name, format_shape(&l.shape));
                                let selected = layer.get().as_deref() == Some(l.name.as_str());
                                view! { <option value=l.name.clone() selected=selected>{text}</option> }
                            })
                            .collect_view(),
                    )
                })
            }}
        </select>
    }
}
