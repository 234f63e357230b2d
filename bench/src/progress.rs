//! The progress line on stderr while a run goes on.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix:>7} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        Self { bar }
    }

    /// A new phase: shown on the bar, or as a line when stderr is not a
    /// terminal (logs of scripted runs).
    pub fn phase(&self, phase: &'static str) {
        if self.bar.is_hidden() {
            eprintln!("herald-bench: {phase}");
        }
        self.bar.set_prefix(phase);
    }

    pub fn status(&self, status: String) {
        self.bar.set_message(status);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
