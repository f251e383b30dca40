//! Hints of label problems in the Accuracy view: the images the model confidently puts in
//! another class (from the evaluation, ranked; they open in the gallery below) and pairs of
//! near-duplicate images (a background job over the penultimate layer's features). Each image
//! opens in Predict & explain.

use leptos::prelude::*;

use super::state::{Selection, View, use_session};
use crate::page_model::CONFIDENTLY_WRONG;

/// Pairs listed at once.
const PAIRS_SHOWN: usize = 60;

#[component]
pub fn LabelIssues() -> impl IntoView {
    let s = use_session();
    let similarity = RwSignal::new(0.99f32);
    let wrong_count = move || {
        s.dataset.evaluation.with(|e| {
            e.as_ref().map_or(0, |e| {
                Selection::ConfidentlyWrong.files(&e.evaluation).len()
            })
        })
    };
    let open = move |path: String| {
        s.open_dataset_image(path);
        s.status.view.set(View::Predict);
    };
    let thumb = move |path: String| {
        let src = s.thumbnail(path.clone());
        let target = path.clone();
        view! {
            <button class="thumb" data-path=path.clone() title=path on:click=move |_| open(target.clone())>
                <img src=src alt="" />
            </button>
        }
    };
    let pairs = move || {
        let result = s.dataset.near_duplicates.get()?;
        let total = result.pairs.len();
        let shown: Vec<_> = result.pairs.into_iter().take(PAIRS_SHOWN).collect();
        s.want_thumbnails(
            shown
                .iter()
                .flat_map(|p| [p.a.clone(), p.b.clone()])
                .collect(),
        );
        let rows = shown
            .into_iter()
            .map(|p| {
                let (a, b) = (thumb(p.a.clone()), thumb(p.b.clone()));
                view! {
                    <li class="pair" data-a=p.a.clone() data-b=p.b.clone() data-similarity=p.similarity.to_string()>
                        {a}{b}
                        <span>{format!("{:.4}", p.similarity)}</span>
                    </li>
                }
            })
            .collect_view();
        Some(view! {
            <div id="near-duplicates" data-count=total.to_string()>
                <p>{format!(
                    "{total} pair(s) at cosine similarity {:.3} or more of the features at {}{}",
                    similarity.get_untracked(),
                    result.layer,
                    if total > PAIRS_SHOWN { format!(", the {PAIRS_SHOWN} most similar shown") } else { String::new() },
                )}</p>
                <ul class="pairs">{rows}</ul>
            </div>
        })
    };
    move || {
        s.dataset.evaluation.with(Option::is_some).then(|| {
            view! {
                <details id="label-issues" class="card">
                    <summary>"Label issues"</summary>
                    <p>
                        <button id="show-confidently-wrong" on:click=move |_| s.dataset.selection.set(Some(Selection::ConfidentlyWrong))>
                            {move || format!(
                                "Confidently wrong: {} image(s) at {:.0} % or more for another class",
                                wrong_count(),
                                100.0 * CONFIDENTLY_WRONG
                            )}
                        </button>
                        <span class="hint">" Often mislabelled images; they open below, most confident first."</span>
                    </p>
                    <p>
                        <label>
                            "Near-duplicates at cosine similarity ≥ "
                            <input
                                id="duplicate-similarity"
                                type="number"
                                min="0.5"
                                max="1"
                                step="0.001"
                                prop:value=move || similarity.get().to_string()
                                on:change=move |ev| {
                                    if let Ok(v) = event_target_value(&ev).parse::<f32>() {
                                        similarity.set(v.clamp(-1.0, 1.0));
                                    }
                                }
                            />
                        </label>
                        " "
                        <button id="find-duplicates" on:click=move |_| s.find_near_duplicates(similarity.get_untracked())>
                            "Find near-duplicates"
                        </button>
                        <span class="hint">" The same picture twice, perhaps under two labels, compared by the penultimate layer's features."</span>
                    </p>
                    {pairs}
                </details>
            }
        })
    }
}
