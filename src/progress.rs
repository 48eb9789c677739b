//! The progress bar on stderr: shown for long reads only when stderr is a
//! terminal, never when it is not (cron mails, pipes, tests).
//!
//! A read of known size (a file, a `-Fd` directory) shows a bar with its
//! total; a read of unknown size (standard input) shows only the bytes read
//! so far and the rate, never a bar with a made-up total. `history` shows
//! one bar for the bytes of all its dumps together.

use std::io::{self, IsTerminal, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const KNOWN_TOTAL: &str =
    "{msg} {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})";
const UNKNOWN_TOTAL: &str = "{msg} {spinner} {binary_bytes} read ({binary_bytes_per_sec})";

/// A handle that is either a live bar or nothing at all.
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Part of a bar over several dumps: finishing this read leaves it.
    shared: Option<Arc<Dumps>>,
    read: Arc<ThisRead>,
}

/// What one read has seen.
#[derive(Default)]
struct ThisRead {
    bytes: AtomicU64,
    /// The read's size where known, 0 where not.
    expected: AtomicU64,
}

/// The state of a bar over several dumps.
struct Dumps {
    count: usize,
    done: AtomicUsize,
}

impl Progress {
    /// No bar: for tests, library use and non-terminal stderr.
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            shared: None,
            read: Arc::default(),
        }
    }

    /// A bar when stderr is a terminal; it appears only after a second, so
    /// that quick reads print nothing.
    pub fn for_stderr(label: &str) -> Progress {
        if !io::stderr().is_terminal() {
            return Progress::hidden();
        }
        // Hidden at first: a read that ends within a second shows nothing.
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(style(UNKNOWN_TOTAL));
        bar.set_message(label.to_string());
        let later = bar.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            if !later.is_finished() {
                later.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
                later.enable_steady_tick(Duration::from_millis(250));
            }
        });
        Progress {
            bar: Some(bar),
            shared: None,
            read: Arc::default(),
        }
    }

    /// One bar for reading `count` dumps of `total` bytes together, when
    /// stderr is a terminal: "reading dumps 2/30", the bytes of all of them
    /// read so far, the total, rate and time left. Each read takes a
    /// [`Progress::part`] of it.
    pub fn for_dumps(count: usize, total: u64) -> Progress {
        if !io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
        bar.set_style(style(KNOWN_TOTAL));
        bar.set_message(format!("reading dumps 0/{count}"));
        bar.enable_steady_tick(Duration::from_millis(500));
        Progress {
            bar: Some(bar),
            shared: Some(Arc::new(Dumps {
                count,
                done: AtomicUsize::new(0),
            })),
            read: Arc::default(),
        }
    }

    /// The progress of one read on a bar of [`Progress::for_dumps`] (or a
    /// read of its own, with no bar, for any other).
    pub fn part(&self) -> Progress {
        match &self.shared {
            Some(_) => Progress {
                bar: self.bar.clone(),
                shared: self.shared.clone(),
                read: Arc::default(),
            },
            None => Progress::hidden(),
        }
    }

    /// On a bar over several dumps: one more dump is read.
    pub fn dump_done(&self) {
        if let (Some(bar), Some(dumps)) = (&self.bar, &self.shared) {
            let done = dumps.done.fetch_add(1, Ordering::Relaxed) + 1;
            bar.set_message(format!("reading dumps {done}/{}", dumps.count));
        }
    }

    /// Counts the bytes read through `inner`, whose size is `len` where
    /// known.
    pub fn wrap_read(&self, inner: Box<dyn Read + Send>, len: Option<u64>) -> Box<dyn Read + Send> {
        if let Some(len) = len {
            self.expect(len);
        }
        Box::new(ByteCounter {
            inner,
            bar: self.bar.clone(),
            read: self.read.clone(),
        })
    }

    /// Counts the bytes read through `inner`, one of several files of a
    /// read whose whole size was given to [`Progress::expect`].
    pub fn count_read<R: Read + Send + 'static>(&self, inner: R) -> Box<dyn Read + Send> {
        Box::new(ByteCounter {
            inner,
            bar: self.bar.clone(),
            read: self.read.clone(),
        })
    }

    /// This read's size (a file's, the files of a directory together).
    pub fn expect(&self, len: u64) {
        self.read.expected.store(len, Ordering::Relaxed);
        if let (Some(bar), None) = (&self.bar, &self.shared) {
            bar.set_length(len);
            bar.set_style(style(KNOWN_TOTAL));
        }
    }

    /// Counts `n` bytes of this read as read, where they were read some
    /// other way than through a wrapped reader (the compressed bytes of the
    /// members of an indexed `.sql.gz`).
    pub fn advance(&self, n: u64) {
        self.read.bytes.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// `n` bytes of this read's size (given to [`Progress::expect`]) that
    /// it need not read (the members of tables an indexed `.sql.gz` lets it
    /// leave out): a bar of its own is shortened by them, a bar over several
    /// dumps counts them as done.
    pub fn pass_over(&self, n: u64) {
        match (&self.bar, &self.shared) {
            (Some(bar), Some(_)) => {
                self.read.bytes.fetch_add(n, Ordering::Relaxed);
                bar.inc(n);
            }
            (bar, None) => {
                let left = self.read.expected.load(Ordering::Relaxed).saturating_sub(n);
                self.read.expected.store(left, Ordering::Relaxed);
                if let Some(bar) = bar {
                    bar.set_length(left);
                }
            }
            (None, Some(_)) => {}
        }
    }

    pub fn finish(&self) {
        let Some(bar) = &self.bar else {
            return;
        };
        if self.shared.is_some() {
            // What was not read through the counter (a custom archive
            // seeks past tables it does not need) still counts as done.
            let expected = self.read.expected.load(Ordering::Relaxed);
            let read = self.read.bytes.load(Ordering::Relaxed);
            if expected > read {
                bar.inc(expected - read);
            }
            return;
        }
        bar.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("valid progress template")
}

/// The bytes of a dump on disk: a file's size, or the files of a `-Fd`
/// directory together.
pub fn size_on_disk(path: &Path) -> u64 {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

struct ByteCounter<R> {
    inner: R,
    bar: Option<ProgressBar>,
    read: Arc<ThisRead>,
}

impl<R: Read> Read for ByteCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
        Ok(n)
    }
}
