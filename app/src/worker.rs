//! The worker's message loop: requests are decoded, handled one at a time by the [`Engine`]
//! (so a slow prediction never interleaves with a model switch), and answered.

use futures::StreamExt;
use futures::channel::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::engine::{Engine, Reply};
use crate::protocol::{Request, Response, decode, encode};

fn post(scope: &DedicatedWorkerGlobalScope, (response, bytes): Reply) {
    match encode(&response, bytes.as_deref()) {
        Ok(message) => {
            if scope.post_message(&message).is_err() {
                web_sys::console::error_1(&"unpic worker: postMessage failed".into());
            }
        }
        Err(e) => web_sys::console::error_1(&format!("unpic worker: {e}").into()),
    }
}

/// Installs the message handler and tells the page the engine is ready.
pub fn start() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let (sender, mut requests) = mpsc::unbounded();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let _ = sender.unbounded_send(event.data());
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();

    let loop_scope = scope.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let mut engine = Engine::default();
        while let Some(data) = requests.next().await {
            let replies = match decode::<Request>(&data) {
                Ok((request, bytes)) => engine.handle(request, bytes).await,
                Err(e) => vec![(
                    Response::Failed {
                        during: "reading a message from the page".into(),
                        message: e,
                    },
                    None,
                )],
            };
            for reply in replies {
                post(&loop_scope, reply);
            }
        }
    });
    post(&scope, (Response::Started, None));
}
