//! The worker's message loop: requests are decoded, handled one at a time by the [`Engine`]
//! (so a slow prediction never interleaves with a model switch), and answered with the request's
//! id (so the page's client knows what each answer answers; a background job's steps carry 0).

use std::cell::Cell;
use std::rc::Rc;

use futures::StreamExt;
use futures::channel::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::{Engine, Reply};
use unpic_app::event_loop::next_task;
use unpic_app::protocol::{Request, Response, Task, decode};

fn post(scope: &DedicatedWorkerGlobalScope, id: u64, (response, bytes): Reply) {
    unpic_app::protocol::post(scope, id, &response, bytes.as_deref());
}

/// Installs the message handler and tells the page the engine is ready. Requests are answered
/// one at a time, in order; between them, a background job (a dataset evaluation) advances one
/// batch at a time, so a click on an image is answered while a large set is evaluated. A Cancel
/// stops the jobs at once: as it arrives no job takes another step, and the requests sent before
/// it are read first, so a job asked for just before it (still waiting behind a running job) is
/// stopped too, and one asked for after it is not.
pub fn start() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let cancel = Rc::new(Cell::new(false));
    let (sender, mut requests) = mpsc::unbounded();
    let on_message = {
        let cancel = cancel.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let decoded = decode::<Request>(&event.data());
            if matches!(decoded, Ok((_, Request::Cancel, _))) {
                cancel.set(true);
            }
            let _ = sender.unbounded_send(decoded);
        })
    };
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();

    let loop_scope = scope.clone();
    // The id of the request being handled: the one-go progress it sends carries it.
    let current = Rc::new(Cell::new(0u64));
    wasm_bindgen_futures::spawn_local(async move {
        let mut engine = Engine::default();
        let notify_scope = loop_scope.clone();
        let notify_id = current.clone();
        engine.set_notify(Box::new(move |reply| {
            post(&notify_scope, notify_id.get(), reply)
        }));
        loop {
            // While a Cancel is on its way through the queue, no job steps.
            let next = if engine.has_job() && !cancel.get() {
                match requests.try_recv() {
                    Ok(decoded) => Some(decoded),
                    Err(mpsc::TryRecvError::Closed) => break,
                    Err(mpsc::TryRecvError::Empty) => None,
                }
            } else {
                match requests.next().await {
                    Some(decoded) => Some(decoded),
                    None => break,
                }
            };
            let (id, replies) = match next {
                Some(Ok((id, request, bytes))) => {
                    if matches!(request, Request::Cancel) {
                        cancel.set(false);
                    }
                    current.set(id);
                    let replies = engine.handle(request, bytes).await;
                    current.set(0);
                    (id, replies)
                }
                Some(Err(e)) => {
                    let failed = Response::Failed {
                        task: Task::Engine,
                        during: "reading a message from the page".into(),
                        message: e,
                    };
                    (0, vec![(failed, None)])
                }
                None => {
                    let reply = engine.step().await;
                    next_task().await;
                    (0, reply.into_iter().collect())
                }
            };
            for reply in replies {
                post(&loop_scope, id, reply);
            }
        }
    });
    post(&scope, 0, (Response::Started, None));
}
