//! The worker's session: the backend (CPU or WebGPU, Auto never a software adapter), the model
//! and its labels.

use explain_core::model::parse_labels;
use explain_core::{Classifier, Device};

use crate::platform::{init_webgpu, software_adapter, webgpu_offered};
use crate::{Engine, Reply, failed};
use unpic_app::protocol::{Backend, BackendChoice, ModelSummary, Response, Task};

impl Engine {
    pub(super) async fn set_backend(&mut self, choice: BackendChoice) -> Vec<Reply> {
        let available = webgpu_offered();
        let mut note = None;
        let want_gpu = match choice {
            BackendChoice::Cpu => false,
            BackendChoice::WebGpu => true,
            // A software adapter (SwiftShader, llvmpipe: what a browser offers without a GPU
            // driver) is ~20x slower than the CPU backend here: Auto never takes one.
            BackendChoice::Auto if available => match software_adapter().await {
                Some(name) => {
                    note = Some(format!(
                        "this browser's WebGPU runs in software ({name}), slower than the CPU: \
                         using the CPU (choose WebGPU to use it anyway)"
                    ));
                    false
                }
                None => true,
            },
            BackendChoice::Auto => false,
        };
        let (backend, device) = if want_gpu {
            match self.webgpu_device().await {
                Ok(device) => (Backend::WebGpu, device),
                Err(reason) => {
                    note = Some(format!("WebGPU is not available ({reason}); using the CPU"));
                    (Backend::Cpu, Device::flex())
                }
            }
        } else {
            (Backend::Cpu, Device::flex())
        };
        let changed = backend != self.backend;
        self.backend = backend;
        self.device = device;
        let mut replies = vec![(
            Response::Backend {
                active: backend,
                webgpu_available: available || self.webgpu.is_some(),
                note,
            },
            None,
        )];
        // Weights live on the device: re-import the model for the new one.
        if changed && let Some((name, bytes, size)) = self.model.take() {
            replies.push(self.load_model(name, bytes, size));
        }
        // The second model too, quietly: the page's comparison keeps it.
        if changed && let Some((name, bytes, size)) = self.second.model.take() {
            self.swap_models();
            let reply = self.load_model(name, bytes, size);
            self.swap_models();
            if let (Response::Failed { .. }, _) = reply {
                replies.push(reply);
            }
        }
        replies
    }

    pub(super) async fn webgpu_device(&mut self) -> Result<Device, String> {
        if let Some(device) = &self.webgpu {
            return Ok(device.clone());
        }
        let device = init_webgpu().await?;
        self.webgpu = Some(device.clone());
        Ok(device)
    }

    pub(super) fn load_model(
        &mut self,
        name: String,
        bytes: Vec<u8>,
        size: Option<[usize; 2]>,
    ) -> Reply {
        let mut classifier = match Classifier::from_bytes_at(&bytes, &self.device, size) {
            Ok(c) => c,
            Err(explain_core::Error::NeedsSize(message)) => {
                return (Response::NeedsSize { name, message }, None);
            }
            Err(e) => return failed(Task::Model, &format!("opening the model '{name}'"), e),
        };
        // Labels given earlier still apply when they fit the new model.
        if let Some(text) = &self.labels_text
            && let Ok(labels) = parse_labels(text)
        {
            // Labels of another model (a different class count) are simply not applied.
            self.labels_applied = classifier.set_labels(labels).is_ok();
        } else {
            self.labels_applied = false;
        }
        let input = classifier.input().clone();
        let summary = ModelSummary {
            name: name.clone(),
            suggested: explain_core::data::Preprocess::unit_range(&input),
            input,
            num_classes: classifier.num_classes(),
            labels: classifier.labels().to_vec(),
            nodes: classifier.graph().node_count(),
            layers: classifier.layer_table(),
        };
        self.classifier = Some(classifier);
        self.current = None;
        // Their results would mix two models: the page asks again.
        self.jobs.clear();
        self.model = Some((name, bytes, size));
        (Response::ModelLoaded(summary), None)
    }

    pub(super) fn set_labels(&mut self, text: String) -> Reply {
        let labels = match parse_labels(&text) {
            Ok(l) => l,
            Err(e) => return failed(Task::Labels, "reading the labels", e),
        };
        if let Some(classifier) = &mut self.classifier
            && let Err(e) = classifier.set_labels(labels.clone())
        {
            return failed(Task::Labels, "reading the labels", e);
        }
        self.labels_text = Some(text);
        self.labels_applied = self.classifier.is_some();
        // The second model takes them when they fit it.
        if let Some(second) = &mut self.second.classifier {
            self.second.labels_applied = second.set_labels(labels.clone()).is_ok();
        }
        (Response::Labels(labels), None)
    }
}
