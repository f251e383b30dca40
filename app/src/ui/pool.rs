//! Helper compute workers: a dataset evaluation on the CPU backend is split into contiguous
//! shards, one per worker (the main worker of `client.rs` takes the first), and their answers
//! are joined here into the one progress and the one result the page expects, so the rest of the
//! page never knows there was more than one worker.
//!
//! Each helper is a full engine holding its own copy of the model and the dataset (the memory
//! of a second engine). Helpers start at the first evaluation that can use them, on the CPU
//! backend only (several engines on one GPU gain nothing), and stop when the backend changes. If
//! a helper fails or dies, the whole evaluation reruns on the main worker and the helpers are
//! not used again in this page.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use crate::protocol::{
    Backend, BackendChoice, EvaluationResult, Request, Response, Shard, decode, encode,
};

/// Where the worker's loader lives (Trunk's `data-loader-shim` output for `unpic-worker`).
pub const WORKER_URL: &str = "./unpic-worker_loader.js";

/// The most compute workers a page starts.
const MAX_WORKERS: usize = 4;

type Handler = Rc<Box<dyn Fn(Response, Option<Vec<u8>>)>>;
/// A request with its bytes.
pub type Message = (Request, Option<Vec<u8>>);

struct Helper {
    worker: Worker,
    started: bool,
    queue: Vec<Message>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

/// One worker's part of a sharded evaluation.
#[derive(Default)]
struct Part {
    done: usize,
    total: Option<usize>,
    result: Option<EvaluationResult>,
}

/// The evaluation under way across the workers.
struct Sharded {
    /// The page's request, rerun on the main worker alone if a helper fails.
    request: Request,
    id: u64,
    parts: Vec<Part>,
    started_ms: f64,
}

#[derive(Default)]
struct Pool {
    helpers: Vec<Helper>,
    job: Option<Sharded>,
    /// The main worker's backend is the CPU.
    cpu: bool,
    /// A helper failed: this page uses one worker from now on.
    disabled: bool,
    handler: Option<Handler>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// How many compute workers to use: `?workers=N` (1 to 4), else one per core up to 4.
pub fn wanted_workers() -> usize {
    if let Some(n) = super::query("workers").and_then(|v| v.parse::<usize>().ok()) {
        return n.clamp(1, MAX_WORKERS);
    }
    let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency());
    (cores as usize).clamp(1, MAX_WORKERS)
}

/// Gives the pool the page's response handler (for the answers it joins).
pub fn set_handler(handler: Handler) {
    POOL.with(|p| p.borrow_mut().handler = Some(handler));
}

/// Sees a request before the main worker does and returns what the main worker gets. Setup
/// requests are copied to the helpers; an evaluation is split when helpers can share it
/// (`setup` gives what a new helper must load first: backend, labels, model, dataset).
pub fn before_send(
    request: Request,
    bytes: Option<&[u8]>,
    setup: impl FnOnce() -> Vec<Message>,
) -> Request {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        match &request {
            Request::SetBackend(_) => {
                // A new backend: the helpers (CPU engines) stop; they restart on demand.
                pool.stop_helpers();
                pool.job = None;
            }
            Request::SetLabels { .. } | Request::LoadModel { .. } | Request::LoadDataset { .. } => {
                let copy = (request.clone(), bytes.map(<[u8]>::to_vec));
                pool.helpers.iter_mut().for_each(|h| h.send(copy.clone()));
                if !matches!(request, Request::SetLabels { .. }) {
                    pool.job = None;
                }
            }
            Request::Cancel => {
                pool.helpers
                    .iter_mut()
                    .for_each(|h| h.send((Request::Cancel, None)));
                pool.job = None;
            }
            Request::Evaluate {
                id,
                preprocess,
                shard: None,
            } => {
                let count = wanted_workers();
                if count < 2 || !pool.cpu || pool.disabled {
                    pool.job = None;
                    return request;
                }
                if pool.helpers.len() != count - 1 {
                    pool.stop_helpers();
                    let setup = setup();
                    for index in 1..count {
                        match Helper::spawn(index, &setup) {
                            Ok(helper) => pool.helpers.push(helper),
                            Err(e) => {
                                web_sys::console::warn_1(&e.into());
                                pool.stop_helpers();
                                pool.disabled = true;
                                return request;
                            }
                        }
                    }
                }
                for (i, helper) in pool.helpers.iter_mut().enumerate() {
                    let shard = Some(Shard {
                        index: i + 1,
                        count,
                    });
                    helper.send((
                        Request::Evaluate {
                            id: *id,
                            preprocess: preprocess.clone(),
                            shard,
                        },
                        None,
                    ));
                }
                pool.job = Some(Sharded {
                    request: request.clone(),
                    id: *id,
                    parts: (0..count).map(|_| Part::default()).collect(),
                    started_ms: js_sys::Date::now(),
                });
                return Request::Evaluate {
                    id: *id,
                    preprocess: preprocess.clone(),
                    shard: Some(Shard { index: 0, count }),
                };
            }
            _ => {}
        }
        request
    })
}

/// Sees the main worker's answer (worker 0); returns what the page gets, if anything.
pub fn from_main(response: Response) -> Option<Response> {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        if let Response::Backend { active, .. } = &response {
            pool.cpu = *active == Backend::Cpu;
        }
        pool.joined(0, response)
    })
}

/// The main worker was restarted (a one-go job cancelled, or it died): its shard is gone.
pub fn main_restarted() {
    POOL.with(|p| p.borrow_mut().job = None);
}

/// A helper's answer: only its part of the job under way matters.
fn from_helper(index: usize, response: Response) {
    let forward = POOL.with(|p| {
        let mut pool = p.borrow_mut();
        match response {
            Response::Failed { during, message } if pool.job.is_some() => {
                web_sys::console::warn_1(&format!("helper {index}: {during}: {message}").into());
                pool.fall_back()
            }
            response => pool.joined(index, response),
        }
    });
    send_to_page(forward);
}

/// A helper died.
fn helper_died(index: usize, message: String) {
    web_sys::console::warn_1(&format!("helper worker {index} stopped: {message}").into());
    let forward = POOL.with(|p| p.borrow_mut().fall_back());
    send_to_page(forward);
}

fn send_to_page(response: Option<Response>) {
    let Some(response) = response else { return };
    let handler = POOL.with(|p| p.borrow().handler.clone());
    if let Some(handler) = handler {
        handler(response, None);
    }
}

impl Pool {
    fn stop_helpers(&mut self) {
        for helper in self.helpers.drain(..) {
            helper.worker.terminate();
        }
    }

    /// Stops the helpers for good and reruns the evaluation under way on the main worker
    /// (its new job replaces its shard); the main worker's answers then pass straight through.
    fn fall_back(&mut self) -> Option<Response> {
        self.stop_helpers();
        self.disabled = true;
        if let Some(job) = self.job.take()
            && let Some(main) = main_worker_request(job.request)
        {
            crate::ui::client::send_to_main(main);
        }
        None
    }

    /// Worker `index`'s answer joined into the sharded job's, when it belongs to it.
    fn joined(&mut self, index: usize, response: Response) -> Option<Response> {
        let Some(job) = self.job.as_mut() else {
            return (index == 0).then_some(response);
        };
        match response {
            Response::Progress {
                id,
                task,
                done,
                total,
            } if id == job.id => {
                let part = job.parts.get_mut(index)?;
                part.done = done;
                part.total = Some(total);
                let totals: Option<Vec<usize>> = job.parts.iter().map(|p| p.total).collect();
                let total = totals?.iter().sum();
                let done = job.parts.iter().map(|p| p.done).sum();
                Some(Response::Progress {
                    id,
                    task,
                    done,
                    total,
                })
            }
            Response::Evaluated(result) if result.id == job.id => {
                let total = result.evaluation.files.len();
                let part = job.parts.get_mut(index)?;
                part.done = total;
                part.total = Some(total);
                part.result = Some(result);
                if job.parts.iter().any(|p| p.result.is_none()) {
                    return None;
                }
                let job = self.job.take()?;
                let parts = job.parts.into_iter().filter_map(|p| p.result).collect();
                let mut whole = EvaluationResult::join(parts)?;
                whole.elapsed_ms = js_sys::Date::now() - job.started_ms;
                Some(Response::Evaluated(whole))
            }
            // Helpers' other answers (their setup, a cancel) are not the page's.
            response => (index == 0).then_some(response),
        }
    }
}

/// The page's evaluation request for the main worker alone.
fn main_worker_request(request: Request) -> Option<Request> {
    match request {
        Request::Evaluate { id, preprocess, .. } => Some(Request::Evaluate {
            id,
            preprocess,
            shard: None,
        }),
        _ => None,
    }
}

impl Helper {
    /// Starts helper `index` and queues its setup (it runs on the CPU backend).
    fn spawn(index: usize, setup: &[Message]) -> Result<Helper, String> {
        let worker =
            Worker::new(WORKER_URL).map_err(|e| format!("cannot start a helper worker: {e:?}"))?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            match decode::<Response>(&event.data()) {
                Ok((Response::Started, _)) => POOL.with(|p| {
                    if let Some(h) = p.borrow_mut().helpers.get_mut(index - 1) {
                        h.flush();
                    }
                }),
                Ok((response, _)) => from_helper(index, response),
                Err(e) => helper_died(index, e),
            }
        });
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            event.prevent_default();
            let message = event.message();
            // After this handler returns: it belongs to the worker being stopped.
            wasm_bindgen_futures::spawn_local(async move { helper_died(index, message) });
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let mut queue = vec![(Request::SetBackend(BackendChoice::Cpu), None)];
        queue.extend(
            setup
                .iter()
                .filter(|(r, _)| !matches!(r, Request::SetBackend(_)))
                .cloned(),
        );
        Ok(Helper {
            worker,
            started: false,
            queue,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    fn send(&mut self, message: Message) {
        if self.started {
            post(&self.worker, &message);
        } else {
            self.queue.push(message);
        }
    }

    fn flush(&mut self) {
        self.started = true;
        for message in std::mem::take(&mut self.queue) {
            post(&self.worker, &message);
        }
    }
}

fn post(worker: &Worker, (request, bytes): &Message) {
    match encode(request, bytes.as_deref()) {
        Ok(message) => {
            if let Err(e) = worker.post_message(&message) {
                web_sys::console::error_1(&e);
            }
        }
        Err(e) => web_sys::console::error_1(&e.into()),
    }
}
