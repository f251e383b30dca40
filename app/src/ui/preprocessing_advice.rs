//! The preprocessing checker's verdict in the Accuracy view: every common preprocessing was
//! scored on a sample of the open images (`Request::CheckPreprocessing`); the advice follows
//! the preset in use, so choosing the suggested one clears the warning at once.

use explain_core::data::preprocess_check::advise;
use leptos::prelude::*;

use super::state::use_session;
use crate::presets::Preset;

fn percent(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

#[component]
pub fn PreprocessingAdvice() -> impl IntoView {
    let s = use_session();
    move || {
        let check = s.model.preprocessing_check.get()?;
        let current = s.model.preset.get();
        let advice = advise(&check.scores, current.key(), check.classes);
        let score_of = |name: &str| {
            check
                .scores
                .iter()
                .find(|c| c.name == name)
                .map_or(0.0, |c| c.accuracy)
        };
        let rows = check
            .scores
            .iter()
            .map(|c| {
                view! {
                    <li data-name=c.name.clone() data-accuracy=c.accuracy.to_string()>
                        {format!("{}: {}", c.name, percent(c.accuracy))}
                    </li>
                }
            })
            .collect_view();
        let every = view! {
            <details>
                <summary>"Every preprocessing on the sample"</summary>
                <ul>{rows}</ul>
            </details>
        };
        let Some(warning) = advice.warning else {
            return Some(
                view! {
                    <div id="preprocessing-ok" class="hint">
                        {format!(
                            "Preprocessing checked on {} sampled images: no other convention scores \
                             clearly better than '{}' ({}).",
                            check.sample,
                            current.key(),
                            percent(score_of(current.key())),
                        )}
                        {every}
                    </div>
                }
                .into_any(),
            );
        };
        // A BGR order is named, but the page's presets are RGB: only a preset can be applied.
        let fix = Preset::from_key(&advice.suggested).filter(|p| *p != current);
        Some(
            view! {
                <div id="preprocessing-advice" class="warning" data-suggested=advice.suggested>
                    <p>{format!("Preprocessing check on {} sampled images: {warning}.", check.sample)}</p>
                    {fix.map(|p| view! {
                        <button id="use-suggested-preset" on:click=move |_| s.set_preset(p)>
                            {format!("Use {}", p.label())}
                        </button>
                    })}
                    {every}
                </div>
            }
            .into_any(),
        )
    }
}
