//! The demo the page opens on: `demo/demo.json` names a model, its labels, its preprocessing preset
//! and a zip of class folders, all served beside the app (so it works offline and from any host).

use leptos::prelude::*;
use serde::Deserialize;

use super::files;
use super::state::Session;
use crate::presets::Preset;

const DEMO_DIR: &str = "demo/";

#[derive(Debug, Deserialize)]
struct DemoManifest {
    model: String,
    labels: Option<String>,
    preset: String,
    dataset: String,
    /// A model to compare the first with (the Compare view offers it).
    #[serde(default)]
    second_model: Option<String>,
}

async fn manifest() -> Result<DemoManifest, String> {
    serde_json::from_str(&files::fetch_text(&format!("{DEMO_DIR}demo.json")).await?)
        .map_err(|e| format!("the demo manifest is broken: {e}"))
}

/// Opens the demo's second model beside the first (the Compare view).
pub fn open_demo_second_model(session: Session) {
    leptos::task::spawn_local(async move {
        let opened = async {
            let name = manifest()
                .await?
                .second_model
                .ok_or("the demo has no second model")?;
            let bytes = files::fetch_bytes(&format!("{DEMO_DIR}{name}")).await?;
            session.open_second_model(name, bytes);
            Ok::<_, String>(())
        };
        if let Err(e) = opened.await {
            session.status.error.set(Some(format!(
                "Error while opening the demo's second model: {e}"
            )));
        }
    });
}

/// Loads the demo's model, labels and images; the page then evaluates them.
pub async fn open_demo(session: Session) -> Result<(), String> {
    let manifest = manifest().await?;
    if let Some(p) = Preset::from_key(&manifest.preset) {
        session.model.preset.set(p);
    }
    if let Some(labels) = &manifest.labels {
        session.open_labels(files::fetch_text(&format!("{DEMO_DIR}{labels}")).await?);
    }
    let model = files::fetch_bytes(&format!("{DEMO_DIR}{}", manifest.model)).await?;
    session.open_model(manifest.model.clone(), model);
    let dataset = files::fetch_bytes(&format!("{DEMO_DIR}{}", manifest.dataset)).await?;
    session.open_dataset(manifest.dataset.clone(), None, dataset);
    Ok(())
}

/// [`open_demo`], with any failure shown in the error banner.
pub fn open_demo_in_background(session: Session) {
    leptos::task::spawn_local(async move {
        if let Err(e) = open_demo(session).await {
            session
                .status
                .error
                .set(Some(format!("Error while opening the demo: {e}")));
        }
    });
}
