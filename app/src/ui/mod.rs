//! The page: Leptos components over one [`state::Session`].

mod accuracy_view;
mod class_maps_view;
mod client;
mod compare_view;
mod data_view;
mod demo;
mod explain_view;
mod features_view;
mod files;
mod help_view;
mod label_issues_view;
mod layer_select;
mod panels;
mod pool;
mod preprocessing_advice;
mod report;
mod sanity_view;
mod state;
mod tsne_view;

use leptos::prelude::*;

use crate::protocol::BackendChoice;
use accuracy_view::AccuracyView;
use compare_view::{CompareView, SecondPrediction};
use data_view::DataView;
use explain_view::ExplainPanel;
use features_view::FeaturesView;
use help_view::HelpView;
use panels::{
    BackendSwitch, ErrorBanner, ImagePanel, ModelPanel, PredictionPanel, PreprocessPanel,
    StatusLine,
};
use state::{View, provide_session, use_session};
use tsne_view::TsneView;

pub(crate) fn query(key: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(key)
}

/// The view switcher.
#[component]
fn Tabs() -> impl IntoView {
    let s = use_session();
    view! {
        <nav id="views" class="tabs" role="tablist">
            {View::ALL
                .into_iter()
                .map(|v| {
                    view! {
                        <button
                            role="tab"
                            data-view=v.key()
                            class:active=move || s.status.view.get() == v
                            aria-selected=move || (s.status.view.get() == v).to_string()
                            on:click=move |_| s.status.view.set(v)
                        >
                            {v.label()}
                        </button>
                    }
                })
                .collect_view()}
        </nav>
    }
}

#[component]
fn App() -> impl IntoView {
    let choice = query("backend")
        .and_then(|b| BackendChoice::from_query(&b))
        .unwrap_or(BackendChoice::Auto);
    let session = provide_session(choice);
    session.start();
    if query("demo").as_deref() != Some("off") {
        demo::open_demo_in_background(session);
    }
    let shown = move |v: View| move || session.status.view.get() != v;
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
                <ImagePanel />
            </div>
            <div class="column wide">
                <Tabs />
                // Views stay mounted (hidden when not chosen), so switching is instant.
                <div class:hidden=shown(View::Data)><DataView /></div>
                <div class:hidden=shown(View::Accuracy)><AccuracyView /></div>
                <div class:hidden=shown(View::Predict) class="column">
                    <PredictionPanel />
                    <SecondPrediction />
                    <ExplainPanel />
                </div>
                <div class:hidden=shown(View::Features)><FeaturesView /></div>
                <div class:hidden=shown(View::Tsne)><TsneView /></div>
                <div class:hidden=shown(View::Compare)><CompareView /></div>
                <div class:hidden=shown(View::Help)><HelpView /></div>
            </div>
        </main>
        <footer>"Everything runs in your browser: no file leaves your machine."</footer>
    }
}

pub fn mount() {
    leptos::mount::mount_to_body(App);
}
