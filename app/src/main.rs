//! Entry point of the page (built by Trunk as the main wasm).

fn main() {
    #[cfg(target_arch = "wasm32")]
    {
        unpic_app::run_static_constructors();
        console_error_panic_hook::set_once();
        unpic_app::ui::mount();
    }
}
