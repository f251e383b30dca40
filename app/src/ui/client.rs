//! The page's end of the main worker: spawns it, queues requests until its engine has started,
//! hands responses to the session (through `pool.rs`, which shares dataset evaluations with
//! helper workers), and restarts it (replaying backend, labels, model, images and the
//! current image) if it dies or a one-go job is cancelled, so neither costs the user their work.
//! The answers to a replay are not passed on: the page already has that state, and a model that
//! looked newly opened would make the page predict again and drop the maps it is waiting for.

use std::cell::RefCell;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::pool::{self, Message, WORKER_URL};
use crate::protocol::{BackendChoice, FileSizes, Request, Response, decode, encode};

type Handler = Box<dyn Fn(Response, Option<Vec<u8>>)>;

#[derive(Default)]
struct Replay {
    backend: Option<BackendChoice>,
    labels: Option<String>,
    model: Option<(String, Option<[usize; 2]>, Vec<u8>)>,
    /// The last image predicted: explanations and features of a new worker need it.
    predict: Option<(Request, Option<Vec<u8>>)>,
    /// The last dataset: name, file list (for a folder) and bytes.
    dataset: Option<(String, Option<FileSizes>, Vec<u8>)>,
}

impl Replay {
    /// What a new engine loads to match this one: backend, labels, model, dataset.
    fn setup(&self) -> Vec<Message> {
        let mut queue = Vec::new();
        if let Some(b) = self.backend {
            queue.push((Request::SetBackend(b), None));
        }
        if let Some(text) = &self.labels {
            queue.push((Request::SetLabels { text: text.clone() }, None));
        }
        if let Some((name, size, bytes)) = &self.model {
            queue.push((
                Request::LoadModel {
                    name: name.clone(),
                    size: *size,
                },
                Some(bytes.clone()),
            ));
        }
        if let Some((name, files, bytes)) = &self.dataset {
            queue.push((
                Request::LoadDataset {
                    name: name.clone(),
                    files: files.clone(),
                },
                Some(bytes.clone()),
            ));
        }
        queue
    }
}

/// An answer to a replayed request, swallowed once per replayed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Echo {
    Backend,
    Labels,
    Model,
    Dataset,
}

impl Echo {
    /// The kind of answer `request` gets, if it is one the replay sends.
    fn answering(request: &Request) -> Option<Echo> {
        match request {
            Request::SetBackend(_) => Some(Echo::Backend),
            Request::SetLabels { .. } => Some(Echo::Labels),
            Request::LoadModel { .. } => Some(Echo::Model),
            Request::LoadDataset { .. } => Some(Echo::Dataset),
            _ => None,
        }
    }

    fn of(response: &Response) -> Option<Echo> {
        match response {
            Response::Backend { .. } => Some(Echo::Backend),
            Response::Labels(_) => Some(Echo::Labels),
            Response::ModelLoaded(_) => Some(Echo::Model),
            Response::DatasetLoaded(_) => Some(Echo::Dataset),
            _ => None,
        }
    }
}

struct Client {
    worker: Worker,
    started: bool,
    /// Answers still to come to the replayed requests (the worker answers in order, so the first
    /// answer of each kind is the replay's).
    echoes: Vec<Echo>,
    queue: Vec<(Request, Option<Vec<u8>>)>,
    replay: Replay,
    handler: std::rc::Rc<Handler>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

thread_local! {
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
}

/// Starts the worker; `handler` receives every response.
pub fn start(handler: impl Fn(Response, Option<Vec<u8>>) + 'static) -> Result<(), String> {
    let handler: std::rc::Rc<Handler> = std::rc::Rc::new(Box::new(handler));
    pool::set_handler(handler.clone());
    spawn(handler, Replay::default())
}

fn spawn(handler: std::rc::Rc<Handler>, replay: Replay) -> Result<(), String> {
    let worker =
        Worker::new(WORKER_URL).map_err(|e| format!("cannot start the compute worker: {e:?}"))?;
    let on_message = {
        let handler = handler.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            match decode::<Response>(&event.data()) {
                Ok((Response::Started, bytes)) => {
                    flush();
                    handler(Response::Started, bytes)
                }
                Ok((response, bytes)) => {
                    if !is_echo(&response) {
                        let joined = match response {
                            // A share's bytes stay with the pool.
                            r @ Response::MapPart { .. } => pool::from_main(r, bytes.clone()),
                            r => pool::from_main(r, None),
                        };
                        if let Some(response) = joined {
                            handler(response, bytes)
                        }
                    }
                }
                Err(e) => handler(
                    Response::Failed {
                        during: "reading the worker's answer".into(),
                        message: e,
                    },
                    None,
                ),
            }
        })
    };
    let on_error = {
        let handler = handler.clone();
        Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            event.prevent_default();
            handler(
                Response::Failed {
                    during: "computing".into(),
                    message: format!(
                        "the engine stopped unexpectedly ({}); it has been restarted with your model",
                        event.message()
                    ),
                },
                None,
            );
            // Restart after this handler returns: it belongs to the worker being replaced.
            wasm_bindgen_futures::spawn_local(async { restart() });
        })
    };
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let mut queue = replay.setup();
    if let Some((request, bytes)) = &replay.predict {
        queue.push((request.clone(), bytes.clone()));
    }
    let echoes = queue
        .iter()
        .filter_map(|(request, _)| Echo::answering(request))
        .collect();
    CLIENT.with(|c| {
        *c.borrow_mut() = Some(Client {
            worker,
            started: false,
            echoes,
            queue,
            replay,
            handler,
            _on_message: on_message,
            _on_error: on_error,
        })
    });
    Ok(())
}

/// Stops the worker at once (whatever it is computing) and starts a new one with the same
/// backend, labels, model and images: how a computation that runs in one go is cancelled.
pub fn restart() {
    let old = CLIENT.with(|c| c.borrow_mut().take());
    pool::main_restarted();
    if let Some(old) = old {
        old.worker.terminate();
        if let Err(e) = spawn(old.handler.clone(), old.replay) {
            (old.handler)(
                Response::Failed {
                    during: "restarting the engine".into(),
                    message: e,
                },
                None,
            );
        }
    }
}

/// Whether `response` answers a replayed request (and so is not passed on). A failure during the
/// replay ends it: the page hears of the failure, and later answers are the user's own.
fn is_echo(response: &Response) -> bool {
    CLIENT.with(|c| {
        let mut guard = c.borrow_mut();
        let Some(client) = guard.as_mut() else {
            return false;
        };
        if matches!(response, Response::Failed { .. }) {
            client.echoes.clear();
            return false;
        }
        match Echo::of(response).and_then(|e| client.echoes.iter().position(|x| *x == e)) {
            Some(i) => {
                client.echoes.remove(i);
                true
            }
            None => false,
        }
    })
}

/// Sends a request to the main worker alone (from the pool: a shared job's rerun or finish).
pub fn send_to_main(request: Request, bytes: Option<Vec<u8>>) {
    CLIENT.with(|c| {
        if let Some(client) = c.borrow_mut().as_mut() {
            if client.started {
                post(&client.worker, &request, bytes.as_deref());
            } else {
                client.queue.push((request, bytes));
            }
        }
    });
}

fn post(worker: &Worker, request: &Request, bytes: Option<&[u8]>) {
    match encode(request, bytes) {
        Ok(message) => {
            if let Err(e) = worker.post_message(&message) {
                web_sys::console::error_1(&e);
            }
        }
        Err(e) => web_sys::console::error_1(&e.into()),
    }
}

fn flush() {
    CLIENT.with(|c| {
        if let Some(client) = c.borrow_mut().as_mut() {
            client.started = true;
            for (request, bytes) in client.queue.drain(..) {
                post(&client.worker, &request, bytes.as_deref());
            }
        }
    });
}

/// The bytes of the model last sent, by name (to open it again at a size the user gives).
pub fn last_model(name: &str) -> Option<Vec<u8>> {
    CLIENT.with(|c| {
        let guard = c.borrow();
        let (sent, _, bytes) = guard.as_ref()?.replay.model.as_ref()?;
        (sent == name).then(|| bytes.clone())
    })
}

/// Sends a request (queued until the worker's engine has started).
pub fn send(request: Request, bytes: Option<Vec<u8>>) {
    CLIENT.with(|c| {
        let mut guard = c.borrow_mut();
        let Some(client) = guard.as_mut() else {
            return;
        };
        match &request {
            Request::SetBackend(b) => client.replay.backend = Some(*b),
            Request::SetLabels { text } => client.replay.labels = Some(text.clone()),
            Request::LoadModel { name, size } => {
                client.replay.model = bytes.as_ref().map(|b| (name.clone(), *size, b.clone()))
            }
            Request::LoadDataset { name, files } => {
                client.replay.dataset = bytes
                    .as_ref()
                    .map(|b| (name.clone(), files.clone(), b.clone()))
            }
            // A Cancel must reach the worker even while it starts (it is never queued behind
            // the job it stops).
            Request::Cancel if !client.started => return,
            // Replayed with id 0: it restores the worker's image, the page's stays as it is.
            Request::Predict {
                name, preprocess, ..
            } => {
                let replay = Request::Predict {
                    id: 0,
                    name: name.clone(),
                    preprocess: preprocess.clone(),
                };
                client.replay.predict = Some((replay, bytes.clone()))
            }
            Request::Explain { .. }
            | Request::Evaluate { .. }
            | Request::ReadImages { .. }
            | Request::Tsne { .. }
            | Request::Activations { .. }
            | Request::MaxActivations { .. }
            | Request::DeepDream { .. }
            | Request::Cancel => {}
        }
        let request = pool::before_send(request, bytes.as_deref(), || client.replay.setup());
        if client.started {
            post(&client.worker, &request, bytes.as_deref());
        } else {
            client.queue.push((request, bytes));
        }
    });
}
