//! Entry point of the compute worker (built by Trunk as `unpic-worker.js`).

fn main() {
    #[cfg(target_arch = "wasm32")]
    {
        unpic_app::run_static_constructors();
        console_error_panic_hook::set_once();
        unpic_worker::start();
    }
}
