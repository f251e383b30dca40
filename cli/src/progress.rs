//! A progress bar on stderr for long commands (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

pub struct Bar(ProgressBar);

impl Bar {
    pub fn new(what: &str, total: usize) -> Self {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        Self(bar)
    }

    pub fn advance(&mut self, n: usize) {
        self.0.inc(n as u64);
    }

    pub fn set_total(&mut self, total: usize) {
        self.0.set_length(total as u64);
    }

    /// Sets the position (for engine callbacks that report `done` of `total`).
    pub fn set(&mut self, done: usize) {
        self.0.set_position(done as u64);
    }

    /// Prints a warning line above the bar.
    pub fn warn(&self, message: &str) {
        self.0.suspend(|| eprintln!("warning: {message}"));
    }

    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}
