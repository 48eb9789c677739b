//! Monitoring a backups folder: the metrics file for Prometheus's
//! node_exporter ([`metrics`]), pings in the healthchecks.io convention
//! ([`ping`]), and what `check` judges ([`check`]), all from what the
//! folder itself holds ([`folder`]: its backups, drills and journal).
//!
//! A run that reports (`backup`, `drill`) holds a [`Monitor`]: it pings
//! `/start` with [`Monitor::started`], and at the end [`Monitor::succeeded`]
//! or [`Monitor::failed`] write the metrics (of the folder as it now is)
//! and ping success or `/fail`. Neither a ping nor the metrics file can
//! fail the run: each says on stderr what went wrong.

pub mod check;
pub mod folder;
pub mod metrics;
pub mod ping;

use std::path::{Path, PathBuf};

use anyhow::Result;

pub use check::{Findings, Limits};
pub use folder::FolderState;
pub use metrics::Metrics;
pub use ping::Ping;

/// Where a run reports: `--prometheus FILE` and `--ping URL`, both optional.
#[derive(Debug, Clone)]
pub struct Monitor {
    dir: PathBuf,
    prefix: Option<String>,
    prometheus: Option<PathBuf>,
    ping: Option<Ping>,
}

impl Monitor {
    /// Reports on backups folder `dir` (its backups named `prefix` + date;
    /// `None`: the series with the newest backup). Fails only on a ping
    /// URL that is not `http://` or `https://`.
    pub fn new(
        dir: &Path,
        prefix: Option<&str>,
        prometheus: Option<&Path>,
        ping_url: Option<&str>,
    ) -> Result<Monitor> {
        Ok(Monitor {
            dir: dir.to_path_buf(),
            prefix: prefix.map(str::to_string),
            prometheus: prometheus.map(Path::to_path_buf),
            ping: ping_url.map(Ping::new).transpose()?,
        })
    }

    /// The run begins: pings `URL/start`.
    pub fn started(&self) {
        if let Some(ping) = &self.ping {
            ping.start();
        }
    }

    /// The run succeeded: writes the metrics, pings `URL` with `summary`.
    pub fn succeeded(&self, summary: &str) {
        self.write_metrics();
        if let Some(ping) = &self.ping {
            ping.success(summary);
        }
    }

    /// The run failed (`why`, one line): writes the metrics (the folder's
    /// last success stays what it was), pings `URL/fail` with `why`.
    pub fn failed(&self, why: &str) {
        self.write_metrics();
        if let Some(ping) = &self.ping {
            ping.fail(why);
        }
    }

    /// Writes every metric the folder holds to `--prometheus FILE`; a
    /// warning if it cannot.
    pub fn write_metrics(&self) {
        let Some(file) = &self.prometheus else {
            return;
        };
        let written = FolderState::read(&self.dir, self.prefix.as_deref())
            .and_then(|state| Metrics::of_folder(&state).write(file));
        if let Err(e) = written {
            crate::escape::warn(&format!(
                "the metrics file {} was not written: {e:#}",
                file.display()
            ));
        }
    }
}
