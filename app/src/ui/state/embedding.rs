//! The map of the dataset's embedding: asking for it and its answer.

use leptos::prelude::*;

use super::{JobProgress, Session};
use crate::awaiting::Purpose;
use crate::protocol::{Request, TsneMap, TsneResult};

impl Session {
    /// Asks for the t-SNE map `map` of the dataset.
    pub fn run_tsne(self, map: TsneMap) {
        let (Some(preprocess), Some(dataset)) = (
            self.model.preprocess.get_untracked(),
            self.dataset.summary.get_untracked(),
        ) else {
            self.status.error.set(Some(
                "Open a model and a folder of images first, then make the t-SNE map.".into(),
            ));
            return;
        };
        self.status.error.set(None);
        let id = self.ask(
            Purpose::Tsne,
            Request::Tsne {
                id: 0,
                preprocess,
                map,
            },
            None,
        );
        if self.status.progress.get_untracked().is_none() {
            self.status.progress.set(Some(JobProgress {
                id,
                task: "t-SNE".into(),
                done: 0,
                total: dataset.items.len(),
                started_ms: js_sys::Date::now(),
                one_go: false,
            }));
        }
    }

    // The worker's answer.

    pub(super) fn on_tsne(self, result: TsneResult) {
        self.job_ended(result.id);
        self.embedding.tsne.set(Some(result));
    }
}
