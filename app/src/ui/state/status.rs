//! The status of the engine's work: the running job's progress, and cancelling it.

use explain_core::data::Preprocess;
use leptos::prelude::*;

use super::{JobProgress, Session};
use crate::awaiting::Purpose;
use crate::protocol::{DatasetSummary, Request};
use crate::ui::client;

impl Session {
    /// Stops the running job.
    pub fn cancel(self) {
        if self
            .status
            .progress
            .get_untracked()
            .is_some_and(|p| p.one_go)
        {
            // An explanation or a dream runs in one go: only a new worker stops it.
            self.status.progress.set(None);
            self.status.busy.set(None);
            self.awaiting.update_value(|a| a.forget_one_go());
            // The new worker's `Started` resumes what the page still waits for.
            client::restart();
        } else {
            client::send(Request::Cancel, None);
        }
    }

    /// The preprocessing and the images a job over the dataset needs; else the user is told
    /// what to open first.
    pub(super) fn job_inputs(self) -> Option<(Preprocess, DatasetSummary)> {
        let inputs = self
            .model
            .preprocess
            .get_untracked()
            .zip(self.dataset.summary.get_untracked());
        if inputs.is_none() {
            self.status
                .error
                .set(Some("Open a model and a folder of images first.".into()));
        }
        inputs
    }

    /// Asks for a job over the dataset for `purpose` and shows its progress from the start
    /// (`total` steps); returns its id.
    pub(super) fn start_job(
        self,
        purpose: Purpose,
        request: Request,
        task: &str,
        total: usize,
    ) -> u64 {
        let id = self.ask(purpose, request, None);
        self.status.progress.set(Some(JobProgress {
            id,
            task: task.into(),
            done: 0,
            total,
            started_ms: js_sys::Date::now(),
            one_go: false,
        }));
        id
    }

    // The worker's answers.

    pub(super) fn on_progress(
        self,
        id: u64,
        purpose: Purpose,
        task: String,
        done: usize,
        total: usize,
    ) {
        let now = js_sys::Date::now();
        self.status.progress.update(|p| {
            *p = Some(JobProgress::advanced(
                p.as_ref(),
                id,
                task,
                done,
                total,
                now,
                purpose.one_go(),
            ))
        });
    }

    /// Job `id` finished or stopped: its progress goes (another job's stays).
    pub(super) fn job_ended(self, id: u64) {
        if self
            .status
            .progress
            .get_untracked()
            .is_some_and(|p| p.id == id)
        {
            self.status.progress.set(None);
        }
    }
}
