//! Helper compute workers: on the CPU backend a dataset evaluation, or a map whose method can be
//! split (occlusion, Integrated Gradients, SmoothGrad, Score-CAM: `Method::shareable`), is split
//! into contiguous shards (of the images, the windows, the quadrature points, the noisy copies,
//! the channels), one per worker (the main worker of `client.rs` takes the first), and their
//! answers are joined here into the one progress and the one result the page expects (the map
//! shares are summed and the main worker finishes the explanation from the sum), so the rest of
//! the page never knows there was more than one worker.
//!
//! Each helper is a full engine holding its own copy of the model and the dataset (the memory
//! of a second engine). Helpers start at the first job that can use them, on the CPU backend only
//! (several engines on one GPU gain nothing), and stop when the backend changes; they get the
//! current image only when a shared map needs it. One job is shared at a time (others run on the
//! main worker). If a helper fails or dies, the job reruns on the main worker alone and the
//! helpers are not used again in this page.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use crate::protocol::{
    Backend, BackendChoice, EvaluationResult, ExplainPart, Request, Response, Task, decode,
};
use crate::sharing;

/// Where the worker's loader lives (Trunk's `data-loader-shim` output for `unpic-worker`).
pub const WORKER_URL: &str = "./unpic-worker_loader.js";

/// The most compute workers a page starts.
const MAX_WORKERS: usize = 4;

type Handler = Rc<super::client::Handler>;
/// A request with its bytes.
pub type Message = (Request, Option<Vec<u8>>);

struct Helper {
    worker: Worker,
    started: bool,
    /// The version of the current image this helper has (see [`Pool::image`]).
    image: u64,
    queue: Vec<Message>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

/// One worker's part of a shared job.
#[derive(Default)]
struct Part {
    done: usize,
    total: Option<usize>,
    evaluation: Option<EvaluationResult>,
    /// An occlusion share: float32 bytes.
    map: Option<Vec<u8>>,
}

impl Part {
    fn finished(&self) -> bool {
        self.evaluation.is_some() || self.map.is_some()
    }
}

/// The job under way across the workers.
struct Sharded {
    /// The page's request, rerun on the main worker alone if a helper fails.
    request: Request,
    id: u64,
    parts: Vec<Part>,
    started_ms: f64,
}

/// A shared map the main worker is finishing: its id, workers and start.
struct Finishing {
    id: u64,
    workers: usize,
    started_ms: f64,
}

#[derive(Default)]
struct Pool {
    helpers: Vec<Helper>,
    job: Option<Sharded>,
    /// Shared jobs given up (replaced, or the model or images changed): the main worker's
    /// answers to them are only its share, never the page's.
    stale: Vec<u64>,
    finishing: Option<Finishing>,
    /// The page's current image (its Predict request) and its version.
    image: Option<Message>,
    image_version: u64,
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
                pool.abandon();
            }
            Request::SetLabels { .. } | Request::LoadModel { .. } | Request::LoadDataset { .. } => {
                let copy = (request.clone(), bytes.map(<[u8]>::to_vec));
                pool.helpers.iter_mut().for_each(|h| h.send(copy.clone()));
                if !matches!(request, Request::SetLabels { .. }) {
                    pool.abandon();
                }
            }
            Request::Cancel => {
                pool.helpers
                    .iter_mut()
                    .for_each(|h| h.send((Request::Cancel, None)));
                pool.abandon();
            }
            Request::Predict {
                name, preprocess, ..
            } => {
                let predict = Request::Predict {
                    id: 0,
                    name: name.clone(),
                    preprocess: preprocess.clone(),
                };
                pool.image = Some((predict, bytes.map(<[u8]>::to_vec)));
                pool.image_version += 1;
            }
            Request::Explain {
                id,
                method,
                part: ExplainPart::Whole,
                ..
            } if method.shared() => {
                let id = *id;
                let Some(count) = pool.ready(setup) else {
                    return request;
                };
                let Some(image) = pool.image.clone() else {
                    return request;
                };
                let version = pool.image_version;
                for (i, helper) in pool.helpers.iter_mut().enumerate() {
                    if helper.image != version {
                        helper.send(image.clone());
                        helper.image = version;
                    }
                    if let Some(part) = sharing::share(&request, i + 1, count) {
                        helper.send((part, None));
                    }
                }
                let main = sharing::share(&request, 0, count);
                pool.start(request.clone(), id, count);
                return main.unwrap_or(request);
            }
            Request::Evaluate {
                id, shard: None, ..
            } => {
                // A new evaluation replaces the one under way, on every worker.
                if pool
                    .job
                    .as_ref()
                    .is_some_and(|j| matches!(j.request, Request::Evaluate { .. }))
                {
                    pool.abandon();
                }
                let Some(count) = pool.ready(setup) else {
                    return request;
                };
                for (i, helper) in pool.helpers.iter_mut().enumerate() {
                    if let Some(part) = sharing::share(&request, i + 1, count) {
                        helper.send((part, None));
                    }
                }
                let main = sharing::share(&request, 0, count);
                let id = *id;
                pool.start(request.clone(), id, count);
                return main.unwrap_or(request);
            }
            _ => {}
        }
        request
    })
}

/// Sees the main worker's answer (worker 0); returns what the page gets, if anything.
pub fn from_main(response: Response, bytes: Option<Vec<u8>>) -> Option<Response> {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        if let Response::Backend { active, .. } = &response {
            pool.cpu = *active == Backend::Cpu;
        }
        pool.joined(0, response, bytes)
    })
}

/// The main worker was restarted (a one-go job cancelled, or it died): its share is gone, and
/// the helpers' shares of it are stopped with them.
pub fn main_restarted() {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.job.is_some() {
            pool.abandon();
            pool.stop_helpers();
        }
    });
}

/// A helper's answer: only its part of the job under way matters.
fn from_helper(index: usize, response: Response, bytes: Option<Vec<u8>>) {
    let forward = POOL.with(|p| {
        let mut pool = p.borrow_mut();
        match response {
            Response::Failed {
                during, message, ..
            } if pool.job.is_some() => {
                web_sys::console::warn_1(&format!("helper {index}: {during}: {message}").into());
                pool.fall_back()
            }
            response => pool.joined(index, response, bytes),
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
        handler(response.answers().unwrap_or(0), response, None);
    }
}

impl Pool {
    /// The number of workers a job can be split into now, starting the helpers it needs;
    /// `None` when it runs on the main worker alone (one worker wanted, not the CPU backend, a
    /// job already shared, helpers failed).
    fn ready(&mut self, setup: impl FnOnce() -> Vec<Message>) -> Option<usize> {
        let count = wanted_workers();
        if count < 2 || !self.cpu || self.disabled || self.job.is_some() {
            return None;
        }
        if self.helpers.len() != count - 1 {
            self.stop_helpers();
            let setup = setup();
            for index in 1..count {
                match Helper::spawn(index, &setup) {
                    Ok(helper) => self.helpers.push(helper),
                    Err(e) => {
                        web_sys::console::warn_1(&e.into());
                        self.stop_helpers();
                        self.disabled = true;
                        return None;
                    }
                }
            }
        }
        Some(count)
    }

    /// Gives up the shared job under way (its workers were told, or drop it themselves).
    fn abandon(&mut self) {
        if let Some(job) = self.job.take() {
            self.stale.push(job.id);
        }
    }

    fn start(&mut self, request: Request, id: u64, count: usize) {
        self.job = Some(Sharded {
            request,
            id,
            parts: (0..count).map(|_| Part::default()).collect(),
            started_ms: js_sys::Date::now(),
        });
    }

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
            && let Some(main) = sharing::whole(job.request)
        {
            crate::ui::client::send_to_main(main, None);
        }
        None
    }

    /// Worker `index`'s answer joined into the shared job's, when it belongs to it.
    fn joined(
        &mut self,
        index: usize,
        response: Response,
        bytes: Option<Vec<u8>>,
    ) -> Option<Response> {
        if let Response::Explanation(mut result) = response {
            // The main worker's explanation from a joined map: it took the workers' time.
            if let Some(f) = self.finishing.take_if(|f| f.id == result.id && index == 0) {
                result.workers = f.workers;
                result.compute_ms = js_sys::Date::now() - f.started_ms;
            }
            return (index == 0).then_some(Response::Explanation(result));
        }
        let stale = match &response {
            Response::Progress { id, .. } | Response::MapPart { id } => self.stale.contains(id),
            Response::Evaluated(result) => self.stale.contains(&result.id),
            _ => false,
        };
        if stale {
            return None;
        }
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
                job.parts.get_mut(index)?.evaluation = Some(result);
                if !job.parts.iter().all(Part::finished) {
                    return None;
                }
                let job = self.job.take()?;
                let parts = job.parts.into_iter().filter_map(|p| p.evaluation).collect();
                let mut whole = EvaluationResult::join(parts)?;
                whole.elapsed_ms = js_sys::Date::now() - job.started_ms;
                Some(Response::Evaluated(whole))
            }
            Response::MapPart { id } if id == job.id => {
                job.parts.get_mut(index)?.map = Some(bytes.unwrap_or_default());
                if !job.parts.iter().all(Part::finished) {
                    return None;
                }
                let job = self.job.take()?;
                self.finishing = Some(Finishing {
                    id: job.id,
                    workers: job.parts.len(),
                    started_ms: job.started_ms,
                });
                let shares: Vec<Vec<u8>> = job.parts.into_iter().filter_map(|p| p.map).collect();
                match (sharing::sum_f32(&shares), sharing::finishing(job.request)) {
                    (Some(map), Some(finish)) => crate::ui::client::send_to_main(finish, Some(map)),
                    _ => {
                        return Some(Response::Failed {
                            task: Task::Explanation,
                            during: "joining the workers' shares of the map".into(),
                            message: "their shares differ in size".into(),
                        });
                    }
                }
                None
            }
            // Helpers' other answers (their setup, a cancel) are not the page's.
            response => (index == 0).then_some(response),
        }
    }
}

impl Helper {
    /// Starts helper `index` and queues its setup (it runs on the CPU backend).
    fn spawn(index: usize, setup: &[Message]) -> Result<Helper, String> {
        let worker =
            Worker::new(WORKER_URL).map_err(|e| format!("cannot start a helper worker: {e:?}"))?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            match decode::<Response>(&event.data()) {
                Ok((_, Response::Started, _)) => POOL.with(|p| {
                    if let Some(h) = p.borrow_mut().helpers.get_mut(index - 1) {
                        h.flush();
                    }
                }),
                Ok((_, response, bytes)) => from_helper(index, response, bytes),
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
            image: 0,
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

/// Posts to a helper (whose answers are told apart by the pool's job, not by request id).
fn post(worker: &Worker, (request, bytes): &Message) {
    crate::protocol::post(worker, 0, request, bytes.as_deref());
}
