//! What the page's main worker must be given again when it is replaced, after a crash or a
//! Cancel of work that runs in one go: the backend, labels, model, dataset and current image the
//! worker *accepted* (answered without failing), never a request it was still working on when it
//! crashed (that request may be what crashed it), and not forever: a worker that keeps crashing
//! is given up after [`MAX_CRASHES`] within [`CRASH_WINDOW_MS`].
//!
//! Pure bookkeeping over request ids (see `protocol`), kept apart from the browser (`ui/client.rs`
//! owns the worker) so that it is tested natively.

use crate::protocol::{BackendChoice, Request, Response};

/// A request with its bytes.
pub type Message = (Request, Option<Vec<u8>>);

/// Crashes within [`CRASH_WINDOW_MS`] after which the engine is not restarted again.
pub const MAX_CRASHES: usize = 3;
/// See [`MAX_CRASHES`].
pub const CRASH_WINDOW_MS: f64 = 60_000.0;

/// What the worker holds, as far as the page knows it was accepted.
#[derive(Default)]
struct Accepted {
    backend: Option<BackendChoice>,
    labels: Option<String>,
    model: Option<Message>,
    dataset: Option<Message>,
    /// The current image's Predict, with id 0 (the new worker needs the image for explanations).
    image: Option<Message>,
    /// The second model of a comparison (a `Second(LoadModel)`).
    second_model: Option<Message>,
}

/// A request sent and not yet settled (answered, or taken on as a background job).
struct Pending {
    id: u64,
    /// What the user was doing, for a crash's message.
    during: String,
    /// A dataset job is settled by its first progress: it then runs in the background.
    settled_by_progress: bool,
    /// The request, if it changes what the worker holds (and so must be accepted or dropped).
    message: Option<Message>,
}

/// The client's record of what a replacement worker needs.
#[derive(Default)]
pub struct Restore {
    accepted: Accepted,
    /// Requests sent to the worker and not settled yet, oldest first (the worker takes them in
    /// order, so the oldest is the one it works on).
    pending: Vec<Pending>,
    /// The ids of the requests replayed into the current worker: their answers are not the
    /// page's (it already has that state), unless they fail.
    echoes: Vec<u64>,
    /// The model that asked for a size: its file, to open it again at the size the user gives.
    sized: Option<(String, Vec<u8>)>,
    /// When the worker crashed (ms), the recent ones.
    crashes: Vec<f64>,
}

/// What to do after the worker crashed.
#[derive(Debug, PartialEq)]
pub struct Crash {
    /// What the worker was doing when it stopped, if the page knows ("opening the model 'x'").
    pub during: Option<String>,
    /// The id of that request (its failure is matched to it), if any.
    pub id: Option<u64>,
    /// It crashed too often: do not start another one.
    pub give_up: bool,
}

/// Whether a request changes what the worker holds (and so what a new one must load).
fn changes_state(request: &Request) -> bool {
    matches!(
        request,
        Request::SetBackend(_)
            | Request::SetLabels { .. }
            | Request::LoadModel { .. }
            | Request::LoadDataset { .. }
            | Request::Predict { .. }
    ) || matches!(request, Request::Second(r) if matches!(**r, Request::LoadModel { .. }))
}

impl Restore {
    /// Notes a request sent to the main worker under `id`.
    pub fn sent(&mut self, id: u64, request: &Request, bytes: Option<&[u8]>) {
        if matches!(request, Request::Cancel) {
            return;
        }
        self.pending.push(Pending {
            id,
            during: request.describe(),
            settled_by_progress: matches!(
                request,
                Request::Evaluate { .. }
                    | Request::Tsne { .. }
                    | Request::MaxActivations { .. }
                    | Request::SanityCheck { .. }
                    | Request::CheckPreprocessing { .. }
                    | Request::FindNearDuplicates { .. }
                    | Request::ExplainImages { .. }
            ),
            message: changes_state(request).then(|| (request.clone(), bytes.map(<[u8]>::to_vec))),
        });
    }

    /// Notes the worker's answer to request `id`; returns whether the page must not see it (it
    /// answers a replayed request). A failed replay is passed on: the page must hear of it.
    pub fn answered(&mut self, id: u64, response: &Response) -> bool {
        if id == 0 {
            return false;
        }
        if self.echoes.contains(&id) {
            return !matches!(response, Response::Failed { .. });
        }
        let Some(at) = self.pending.iter().position(|p| p.id == id) else {
            return false;
        };
        if matches!(response, Response::Progress { .. }) && !self.pending[at].settled_by_progress {
            return false;
        }
        let pending = self.pending.remove(at);
        let Some(message) = pending.message else {
            return false;
        };
        match response {
            Response::Backend { .. }
            | Response::ModelLoaded(_)
            | Response::Labels(_)
            | Response::DatasetLoaded(_)
            | Response::Prediction(_) => self.accept(message),
            Response::NeedsSize { name, .. } => {
                if let (Request::LoadModel { .. }, Some(bytes)) = message {
                    self.sized = Some((name.clone(), bytes));
                }
            }
            _ => {}
        }
        false
    }

    fn accept(&mut self, (request, bytes): Message) {
        let accepted = &mut self.accepted;
        match request {
            Request::SetBackend(choice) => accepted.backend = Some(choice),
            Request::SetLabels { text } => accepted.labels = Some(text),
            r @ Request::LoadModel { .. } => {
                // A new model: the image is predicted again by the page, and accepted then.
                accepted.model = Some((r, bytes));
            }
            r @ Request::LoadDataset { .. } => accepted.dataset = Some((r, bytes)),
            r @ Request::Second(_) => accepted.second_model = Some((r, bytes)),
            Request::Predict {
                name, preprocess, ..
            } => {
                let image = Request::Predict {
                    id: 0,
                    name,
                    preprocess,
                };
                accepted.image = Some((image, bytes));
            }
            _ => {}
        }
    }

    /// What a new engine loads to match the accepted state: backend, labels, model, dataset
    /// (what a helper worker needs too).
    pub fn setup(&self) -> Vec<Message> {
        let a = &self.accepted;
        let mut queue = Vec::new();
        if let Some(b) = a.backend {
            queue.push((Request::SetBackend(b), None));
        }
        if let Some(text) = &a.labels {
            queue.push((Request::SetLabels { text: text.clone() }, None));
        }
        queue.extend(a.model.iter().cloned());
        queue.extend(a.dataset.iter().cloned());
        queue
    }

    /// The worker is being replaced: the requests for the new one, with the ids they are sent
    /// under (from `next_id`). The accepted state is replayed (its answers swallowed); after a
    /// Cancel (`crashed` false) the requests still in flight are sent again under their own ids,
    /// as the page still waits for their answers; after a crash they are dropped.
    pub fn replacement(&mut self, next_id: &mut u64, crashed: bool) -> Vec<(u64, Message)> {
        let mut replay = self.setup();
        replay.extend(self.accepted.image.iter().cloned());
        // Only the main worker holds the second model (helpers share the first's work).
        replay.extend(self.accepted.second_model.iter().cloned());
        let mut queue: Vec<(u64, Message)> = replay
            .into_iter()
            .map(|m| {
                *next_id += 1;
                (*next_id, m)
            })
            .collect();
        self.echoes = queue.iter().map(|(id, _)| *id).collect();
        // The requests still waited for: after a Cancel, those that change what the worker
        // holds are sent again (the page waits for their answers); the rest are dropped.
        let pending = std::mem::take(&mut self.pending);
        if !crashed {
            for p in pending.into_iter().filter(|p| p.message.is_some()) {
                if let Some(message) = &p.message {
                    queue.push((p.id, message.clone()));
                }
                self.pending.push(p);
            }
        }
        queue
    }

    /// Notes a crash at `now_ms`: what was under way, and whether to give up.
    pub fn crashed(&mut self, now_ms: f64) -> Crash {
        self.crashes.retain(|t| now_ms - t < CRASH_WINDOW_MS);
        self.crashes.push(now_ms);
        Crash {
            during: self.pending.first().map(|p| p.during.clone()),
            id: self.pending.first().map(|p| p.id),
            give_up: self.crashes.len() >= MAX_CRASHES,
        }
    }

    /// The file of the model `name` that asked for a size.
    pub fn sized_model(&self, name: &str) -> Option<Vec<u8>> {
        let (sized, bytes) = self.sized.as_ref()?;
        (sized == name).then(|| bytes.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Task;

    fn load(name: &str) -> Request {
        Request::LoadModel {
            name: name.into(),
            size: None,
        }
    }

    fn failed() -> Response {
        Response::Failed {
            task: Task::Model,
            during: "opening the model".into(),
            message: "no".into(),
        }
    }

    fn loaded() -> Response {
        Response::Labels(vec![])
    }

    fn names(queue: &[(u64, Message)]) -> Vec<String> {
        queue
            .iter()
            .map(|(_, (r, _))| match r {
                Request::LoadModel { name, .. } => name.clone(),
                other => other.describe(),
            })
            .collect()
    }

    /// Sends a model and accepts it. Acceptance depends on the answer's kind being a success,
    /// so `Labels` stands in for `ModelLoaded` (whose summary is long to build).
    fn accept_model(restore: &mut Restore, id: u64, name: &str) {
        restore.sent(id, &load(name), Some(b"onnx"));
        assert!(
            !restore.answered(id, &loaded()),
            "the page sees its own answers"
        );
    }

    #[test]
    fn the_request_a_worker_crashed_on_is_not_replayed() {
        let mut restore = Restore::default();
        accept_model(&mut restore, 1, "good.onnx");
        restore.sent(2, &load("bomb.onnx"), Some(b"bomb"));
        let crash = restore.crashed(0.0);
        assert_eq!(
            crash,
            Crash {
                during: Some("opening the model 'bomb.onnx'".into()),
                id: Some(2),
                give_up: false
            }
        );
        let mut next = 10;
        let queue = restore.replacement(&mut next, true);
        assert_eq!(names(&queue), ["good.onnx"]);
        // Its answer is the replay's, not the page's.
        assert!(restore.answered(queue[0].0, &loaded()));
        // A crash now names nothing in flight.
        assert_eq!(restore.crashed(1.0).during, None);
    }

    #[test]
    fn a_crash_names_the_oldest_request_not_yet_answered() {
        let mut restore = Restore::default();
        accept_model(&mut restore, 1, "a.onnx");
        let explain = Request::Activations {
            id: 9,
            layer: "conv1".into(),
        };
        restore.sent(2, &explain, None);
        restore.sent(3, &load("b.onnx"), Some(b"x"));
        assert_eq!(
            restore.crashed(0.0).during.as_deref(),
            Some("reading the activations of 'conv1'")
        );
        // Answered, it is no longer the culprit; a job is settled by its first progress.
        let progress = Response::Progress {
            id: 2,
            task: String::new(),
            done: 0,
            total: 1,
        };
        restore.answered(2, &progress);
        assert_eq!(
            restore.crashed(1.0).during.as_deref(),
            Some("reading the activations of 'conv1'"),
            "progress does not settle one-go work"
        );
        restore.answered(2, &failed());
        assert_eq!(
            restore.crashed(2.0).during.as_deref(),
            Some("opening the model 'b.onnx'")
        );
    }

    #[test]
    fn a_failed_request_is_never_replayed_and_an_accepted_one_replaces_the_last() {
        let mut restore = Restore::default();
        accept_model(&mut restore, 1, "a.onnx");
        restore.sent(2, &load("broken.onnx"), Some(b"x"));
        assert!(!restore.answered(2, &failed()));
        accept_model(&mut restore, 3, "b.onnx");
        let queue = restore.replacement(&mut 10, true);
        assert_eq!(names(&queue), ["b.onnx"]);
    }

    #[test]
    fn a_cancel_sends_the_requests_still_in_flight_again_under_their_ids() {
        let mut restore = Restore::default();
        accept_model(&mut restore, 1, "a.onnx");
        restore.sent(2, &load("b.onnx"), Some(b"x"));
        let queue = restore.replacement(&mut 10, false);
        assert_eq!(names(&queue), ["a.onnx", "b.onnx"]);
        assert_eq!(queue[1].0, 2, "the page waits for the answer to its own id");
        assert!(!restore.answered(2, &loaded()), "the page sees it");
        assert_eq!(names(&restore.replacement(&mut 20, true)), ["b.onnx"]);
    }

    #[test]
    fn the_engine_is_given_up_after_repeated_crashes_within_the_window() {
        let mut restore = Restore::default();
        assert!(!restore.crashed(0.0).give_up);
        assert!(!restore.crashed(1_000.0).give_up);
        // Crashes a window ago no longer count.
        assert!(!restore.crashed(CRASH_WINDOW_MS + 1_500.0).give_up);
        assert!(!restore.crashed(CRASH_WINDOW_MS + 2_000.0).give_up);
        assert!(restore.crashed(CRASH_WINDOW_MS + 2_500.0).give_up);
    }

    #[test]
    fn a_replayed_request_that_fails_is_passed_on() {
        let mut restore = Restore::default();
        accept_model(&mut restore, 1, "a.onnx");
        let queue = restore.replacement(&mut 10, true);
        assert!(!restore.answered(queue[0].0, &failed()));
        // The page's own requests are never swallowed.
        assert!(!restore.answered(99, &loaded()));
    }

    #[test]
    fn the_current_image_is_replayed_with_the_page_s_id_zeroed() {
        let mut restore = Restore::default();
        let predict = Request::Predict {
            id: 7,
            name: "cat.png".into(),
            preprocess: explain_core::data::Preprocess {
                width: 2,
                height: 2,
                channels: 1,
                scale: 1.0,
                mean: vec![0.0],
                std: vec![1.0],
            },
        };
        restore.sent(3, &predict, Some(b"png"));
        restore.answered(3, &loaded());
        let queue = restore.replacement(&mut 10, true);
        let [(_, (Request::Predict { id, name, .. }, Some(bytes)))] = queue.as_slice() else {
            panic!("one Predict: {:?}", names(&queue));
        };
        assert_eq!(
            (*id, name.as_str(), bytes.as_slice()),
            (0, "cat.png", &b"png"[..])
        );
    }

    #[test]
    fn a_second_model_is_replayed_to_the_main_worker_but_not_to_helpers() {
        let mut restore = Restore::default();
        accept_model(&mut restore, 1, "a.onnx");
        restore.sent(2, &Request::Second(Box::new(load("b.onnx"))), Some(b"b"));
        restore.answered(2, &loaded());
        assert_eq!(
            names(
                &restore
                    .setup()
                    .into_iter()
                    .map(|m| (0, m))
                    .collect::<Vec<_>>()
            ),
            ["a.onnx"]
        );
        let queue = restore.replacement(&mut 10, true);
        assert_eq!(
            names(&queue),
            ["a.onnx", "opening the model 'b.onnx' (second model)"]
        );
        assert_eq!(queue[1].1.1.as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn a_model_that_asks_for_a_size_keeps_its_file_for_the_second_try() {
        let mut restore = Restore::default();
        restore.sent(4, &load("any.onnx"), Some(b"onnx"));
        let asks = Response::NeedsSize {
            name: "any.onnx".into(),
            message: "give a size".into(),
        };
        assert!(!restore.answered(4, &asks));
        assert_eq!(
            restore.sized_model("any.onnx").as_deref(),
            Some(&b"onnx"[..])
        );
        assert_eq!(restore.sized_model("other.onnx"), None);
        assert!(
            restore.replacement(&mut 10, true).is_empty(),
            "not accepted"
        );
    }
}
