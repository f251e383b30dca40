//! The page: Leptos components over one [`state::Session`].

mod client;
mod files;
mod panels;
mod state;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;

use crate::presets::Preset;
use crate::protocol::BackendChoice;
use panels::{
    BackendSwitch, ErrorBanner, ExplainPanel, ImagePanel, ModelPanel, PredictionPanel,
    PreprocessPanel, StatusLine,
};
use state::{Session, provide_session};

/// `demo/demo.json`: the demo the page opens on.
#[derive(Debug, Deserialize)]
struct DemoManifest {
    model: String,
    labels: Option<String>,
    preset: String,
    images: Vec<String>,
}

const DEMO_DIR: &str = "demo/";

/// Loads the demo model, labels and first image.
async fn open_demo(session: Session, demo_images: RwSignal<Vec<String>>) -> Result<(), String> {
    let manifest: DemoManifest =
        serde_json::from_str(&files::fetch_text(&format!("{DEMO_DIR}demo.json")).await?)
            .map_err(|e| format!("the demo manifest is broken: {e}"))?;
    if let Some(p) = Preset::from_key(&manifest.preset) {
        session.preset.set(p);
    }
    if let Some(labels) = &manifest.labels {
        session.open_labels(files::fetch_text(&format!("{DEMO_DIR}{labels}")).await?);
    }
    let model = files::fetch_bytes(&format!("{DEMO_DIR}{}", manifest.model)).await?;
    session.open_model(manifest.model.clone(), model);
    let images: Vec<String> = manifest
        .images
        .iter()
        .map(|i| format!("{DEMO_DIR}{i}"))
        .collect();
    if let Some(first) = images.first() {
        let bytes = files::fetch_bytes(first).await?;
        session.open_image(first.rsplit('/').next().unwrap_or(first).to_string(), bytes);
    }
    demo_images.set(images);
    Ok(())
}

fn query(key: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(key)
}

#[component]
fn App() -> impl IntoView {
    let choice = query("backend")
        .and_then(|b| BackendChoice::from_query(&b))
        .unwrap_or(BackendChoice::Auto);
    let session = provide_session(choice);
    session.start();
    let demo_images = RwSignal::new(Vec::new());
    if query("demo").as_deref() != Some("off") {
        spawn_local(async move {
            if let Err(e) = open_demo(session, demo_images).await {
                session
                    .error
                    .set(Some(format!("Error while opening the demo: {e}")));
            }
        });
    }
    view! {
        <header>
            <h1>"UNPIC" <small>" understand the predictions of your image classifier"</small></h1>
            <BackendSwitch />
        </header>
        <ErrorBanner />
        <StatusLine />
        <main>
            <div class="column">
                <ModelPanel />
                <PreprocessPanel />
                <ImagePanel demo_images=demo_images />
            </div>
            <div class="column wide">
                <PredictionPanel />
                <ExplainPanel />
            </div>
        </main>
        <footer>"Everything runs in your browser: no file leaves your machine."</footer>
    }
}

pub fn mount() {
    leptos::mount::mount_to_body(App);
}
