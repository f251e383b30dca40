//! The page's end of the main worker: spawns it, gives every request an id (echoed by every
//! answer), queues requests until its engine has started, hands responses to the session
//! (through `pool.rs`, which shares dataset evaluations with helper workers), and replaces the
//! worker when it dies or a one-go job is cancelled, loading into the new one what the old one
//! had accepted (`restore.rs`), so neither costs the user their work. A request the worker died
//! on is not replayed, and a worker that keeps dying is given up with a message.
//! The answers to a replay are not passed on: the page already has that state, and a model that
//! looked newly opened would make the page predict again and drop the maps it is waiting for.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::pool::{self, WORKER_URL};
use crate::protocol::{Request, Response, Task, decode, post};
use crate::restore::{CRASH_WINDOW_MS, MAX_CRASHES, Message, Restore};

/// The page's answer handler: the id of the request answered (0 for none), the answer, its bytes.
pub(super) type Handler = Box<dyn Fn(u64, Response, Option<Vec<u8>>)>;

/// The running worker.
struct Running {
    worker: Worker,
    started: bool,
    /// Requests waiting for the engine to start, with their ids.
    queue: Vec<(u64, Message)>,
    /// Whether its `Started` is passed on to the page (which then resumes what it waits for):
    /// not after a crash, where resuming could crash it again.
    resume: bool,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

struct Client {
    /// `None` once the engine was given up.
    running: Option<Running>,
    restore: Restore,
    /// The last request id given.
    last_id: u64,
    handler: Rc<Handler>,
}

thread_local! {
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
}

/// Starts the worker; `handler` receives every response.
pub fn start(handler: impl Fn(u64, Response, Option<Vec<u8>>) + 'static) -> Result<(), String> {
    let handler: Rc<Handler> = Rc::new(Box::new(handler));
    pool::set_handler(handler.clone());
    let running = spawn(Vec::new(), true)?;
    CLIENT.with(|c| {
        *c.borrow_mut() = Some(Client {
            running: Some(running),
            restore: Restore::default(),
            last_id: 0,
            handler,
        })
    });
    Ok(())
}

fn spawn(queue: Vec<(u64, Message)>, resume: bool) -> Result<Running, String> {
    let worker =
        Worker::new(WORKER_URL).map_err(|e| format!("cannot start the compute worker: {e:?}"))?;
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        match decode::<Response>(&event.data()) {
            Ok((id, Response::Started, bytes)) => {
                if flush() {
                    pass_on(id, Response::Started, bytes)
                }
            }
            Ok((id, response, bytes)) => {
                let echo = with_client(|c| c.restore.answered(id, &response)).unwrap_or(false);
                if !echo {
                    let joined = match response {
                        // A share's bytes stay with the pool.
                        r @ Response::MapPart { .. } => pool::from_main(r, bytes.clone()),
                        r => pool::from_main(r, None),
                    };
                    if let Some(response) = joined {
                        pass_on(id, response, bytes)
                    }
                }
            }
            Err(e) => pass_on(
                0,
                Response::Failed {
                    task: Task::Engine,
                    during: "reading the worker's answer".into(),
                    message: e,
                },
                None,
            ),
        }
    });
    let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
        event.prevent_default();
        let message = event.message();
        // After this handler returns: it belongs to the worker being replaced.
        wasm_bindgen_futures::spawn_local(async move { crashed(message) });
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Ok(Running {
        worker,
        started: false,
        queue,
        resume,
        _on_message: on_message,
        _on_error: on_error,
    })
}

fn with_client<T>(f: impl FnOnce(&mut Client) -> T) -> Option<T> {
    CLIENT.with(|c| c.borrow_mut().as_mut().map(f))
}

/// Hands a response to the page (outside any borrow of the client: the page may send at once).
/// `id` is the envelope's; an answer that carries its request's id itself is known by that.
fn pass_on(id: u64, response: Response, bytes: Option<Vec<u8>>) {
    if let Some(handler) = with_client(|c| c.handler.clone()) {
        let id = response.answers().unwrap_or(id);
        handler(id, response, bytes)
    }
}

/// The worker died: tell the page what was lost, and start a new one with what the old one had
/// accepted, unless it died too often.
fn crashed(message: String) {
    let Some((crash, handler)) =
        with_client(|c| (c.restore.crashed(js_sys::Date::now()), c.handler.clone()))
    else {
        return;
    };
    let during = crash.during.unwrap_or_else(|| "computing".into());
    let message = if crash.give_up {
        format!(
            "the engine stopped unexpectedly ({message}), {MAX_CRASHES} times within {} \
             seconds, so it was not started again. The results on the page are kept; reload the \
             page to start a new engine",
            CRASH_WINDOW_MS / 1000.0
        )
    } else {
        format!(
            "the engine stopped unexpectedly ({message}); it was started again with the model \
             and images it had open before, without this request"
        )
    };
    replace(true, crash.give_up);
    handler(
        crash.id.unwrap_or(0),
        Response::Failed {
            task: Task::Engine,
            during,
            message,
        },
        None,
    );
}

/// Stops the worker at once (whatever it is computing) and starts a new one with the same
/// backend, labels, model and images: how a computation that runs in one go is cancelled.
pub fn restart() {
    replace(false, false);
}

/// Replaces the main worker (`crashed`: it died; `give_up`: start none).
fn replace(crashed: bool, give_up: bool) {
    pool::main_restarted();
    let failure = with_client(|c| {
        if let Some(old) = c.running.take() {
            old.worker.terminate();
        }
        if give_up {
            return None;
        }
        let queue = c.restore.replacement(&mut c.last_id, crashed);
        match spawn(queue, !crashed) {
            Ok(running) => {
                c.running = Some(running);
                None
            }
            Err(e) => Some((e, c.handler.clone())),
        }
    });
    if let Some(Some((message, handler))) = failure {
        handler(
            0,
            Response::Failed {
                task: Task::Engine,
                during: "restarting the engine".into(),
                message,
            },
            None,
        );
    }
}

/// Marks the worker started and sends what waited; returns whether the page hears of it.
fn flush() -> bool {
    with_client(|c| {
        let Some(running) = c.running.as_mut() else {
            return false;
        };
        running.started = true;
        for (id, (request, bytes)) in running.queue.drain(..) {
            post(&running.worker, id, &request, bytes.as_deref());
        }
        running.resume
    })
    .unwrap_or(false)
}

/// The file of the model `name` that asked for a size (to open it again at the user's size).
pub fn sized_model(name: &str) -> Option<Vec<u8>> {
    with_client(|c| c.restore.sized_model(name)).flatten()
}

/// Sends a request to the main worker alone (from the pool: a shared job's rerun or finish).
pub fn send_to_main(request: Request, bytes: Option<Vec<u8>>) {
    with_client(|c| c.dispatch(request, bytes));
}

/// Sends a request (queued until the worker's engine has started) and returns the id it was
/// given, which every answer to it carries: the page matches answers to requests by it
/// (`awaiting.rs`).
pub fn send(request: Request, bytes: Option<Vec<u8>>) -> u64 {
    let sent = with_client(|c| {
        c.last_id += 1;
        let id = c.last_id;
        let request = request.with_id(id);
        let Some(running) = &c.running else {
            return (id, Some((request.describe(), c.handler.clone())));
        };
        // A Cancel must reach the worker even while it starts (it is never queued behind
        // the job it stops).
        if matches!(request, Request::Cancel) && !running.started {
            return (id, None);
        }
        let restore = &c.restore;
        let request = pool::before_send(request, bytes.as_deref(), || restore.setup());
        c.dispatch_as(id, request, bytes);
        (id, None)
    });
    let Some((id, refused)) = sent else {
        return 0;
    };
    if let Some((during, handler)) = refused {
        // After the caller has noted the id, so the failure is matched to its request.
        wasm_bindgen_futures::spawn_local(async move {
            handler(
                id,
                Response::Failed {
                    task: Task::Engine,
                    during,
                    message: "the engine was stopped after it crashed repeatedly; reload the \
                              page"
                        .into(),
                },
                None,
            )
        });
    }
    id
}

impl Client {
    /// Gives `request` a new id (a pool's own request: a shared job's rerun or finish).
    fn dispatch(&mut self, request: Request, bytes: Option<Vec<u8>>) {
        self.last_id += 1;
        self.dispatch_as(self.last_id, request, bytes);
    }

    /// Notes `request` under `id`, and posts or queues it.
    fn dispatch_as(&mut self, id: u64, request: Request, bytes: Option<Vec<u8>>) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        self.restore.sent(id, &request, bytes.as_deref());
        if running.started {
            post(&running.worker, id, &request, bytes.as_deref());
        } else {
            running.queue.push((id, (request, bytes)));
        }
    }
}
