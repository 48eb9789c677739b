//! The progress bar on stderr: shown for long reads only when stderr is a
//! terminal, never when it is not (cron mails, pipes, tests).

use std::io::{self, IsTerminal, Read};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A handle that is either a live bar or nothing at all.
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// No bar: for tests, library use and non-terminal stderr.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// A bar when stderr is a terminal; it appears only after a second, so
    /// that quick reads print nothing.
    pub fn for_stderr(label: &str) -> Progress {
        if !io::stderr().is_terminal() {
            return Progress::hidden();
        }
        // Hidden at first: a read that ends within a second shows nothing.
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})",
            )
            .expect("valid progress template"),
        );
        bar.set_message(label.to_string());
        let later = bar.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            if !later.is_finished() {
                later.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
                later.enable_steady_tick(Duration::from_millis(250));
            }
        });
        Progress { bar: Some(bar) }
    }

    /// Counts the bytes read through `inner` on the bar.
    pub fn wrap_read(&self, inner: Box<dyn Read + Send>, len: Option<u64>) -> Box<dyn Read + Send> {
        match &self.bar {
            None => inner,
            Some(bar) => {
                if let Some(len) = len {
                    bar.set_length(len);
                }
                Box::new(bar.wrap_read(inner))
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
