//! `textrescue check DIR`: is the backups folder healthy? For monitoring
//! (cron, with `--prometheus` and `--ping`; see docs/monitoring.md). One
//! line per problem on stdout, exit status 1; all well: one line, 0.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, anyhow};
use chrono::Utc;

use crate::counts::plural;
use crate::durations;
use crate::monitor::check::{Limits, check};
use crate::monitor::metrics::{CHECK_SUCCESS, Metrics};
use crate::monitor::{Monitor, Ping};

/// `--prometheus FILE` and `--ping URL`: shared by `check`, `backup` and
/// `drill`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MonitorArgs {
    /// Write the metrics in node_exporter's textfile format to FILE
    /// (atomically, mode 0644); give every command of a folder the same FILE.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
    /// Ping URL/start before, URL on success, URL/fail on failure
    /// (healthchecks.io); a ping that fails is only a warning.
    #[arg(long, value_name = "URL")]
    pub ping: Option<String>,
}

impl MonitorArgs {
    /// The [`Monitor`] of backups folder `dir` (backups named `prefix`).
    pub fn monitor(&self, dir: &Path, prefix: Option<&str>) -> Result<Monitor> {
        Monitor::new(
            dir,
            prefix,
            self.prometheus.as_deref(),
            self.ping.as_deref(),
        )
        .map_err(super::settings::as_usage)
    }
}

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "\
Examples:
  textrescue check /buggy/server/db/backups
  textrescue check /buggy/server/db/backups --max-age 26h \\
      --prometheus /var/lib/node_exporter/textfile_collector/textrescue.prom \\
      --ping https://hc-ping.com/<uuid>

Checks: the newest backup's age (--max-age), that it reads back complete, its
size against the median of the 7 days before it (under half: a problem), the
last restore drill's outcome and age (--max-drill-age; none yet: a note unless
--require-drill), and the journal's last poll if there is a journal
(--max-poll-age). Exit status: 0 all well, 1 a problem (one line each).")]
pub struct Args {
    /// The backups folder.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The newest backup may be this old: 90m, 26h, 2d.
    #[arg(long, value_name = "DURATION", default_value = "26h", value_parser = durations::parse)]
    pub max_age: Duration,
    /// The last restore drill may be this old.
    #[arg(long, value_name = "DURATION", default_value = "8d", value_parser = durations::parse)]
    pub max_drill_age: Duration,
    /// The journal's last poll (textrescue watch) may be this old.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = durations::parse)]
    pub max_poll_age: Duration,
    /// A folder where no restore drill was ever recorded is a problem.
    #[arg(long)]
    pub require_drill: bool,
    /// Check the backups named PREFIX + date (default: the series with the newest backup).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Print only the problems (for cron: mail only when something is wrong).
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub monitor: MonitorArgs,
}

pub fn run(args: &Args) -> Result<()> {
    let ping = args
        .monitor
        .ping
        .as_deref()
        .map(Ping::new)
        .transpose()
        .map_err(super::settings::as_usage)?;
    if let Some(ping) = &ping {
        ping.start();
    }
    let limits = Limits {
        max_age: args.max_age,
        max_drill_age: args.max_drill_age,
        max_poll_age: args.max_poll_age,
        require_drill: args.require_drill,
    };
    let (problems, notes, summary, metrics) =
        match check(&args.dir, args.prefix.as_deref(), &limits, Utc::now()) {
            Ok(f) => (f.problems, f.notes, f.summary, f.metrics),
            Err(e) => {
                let mut metrics = Metrics::new(&args.dir);
                metrics.set(CHECK_SUCCESS, 0.0);
                let problem = format!("cannot check {}: {e:#}", args.dir.display());
                (vec![problem], Vec::new(), String::new(), metrics)
            }
        };
    for note in notes.iter().filter(|_| !args.quiet) {
        println!("note: {note}");
    }
    for problem in &problems {
        println!("problem: {problem}");
    }
    if problems.is_empty() && !args.quiet {
        println!("all well: {summary}");
    }
    let written = match &args.monitor.prometheus {
        Some(file) => metrics.write(file),
        None => Ok(()),
    };
    if let Some(ping) = &ping {
        if problems.is_empty() && written.is_ok() {
            ping.success(&format!("all well: {summary}"));
        } else {
            let mut body = problems.join("\n");
            if let Err(e) = &written {
                body += &format!("\n{e:#}");
            }
            ping.fail(body.trim_start());
        }
    }
    written?;
    if !problems.is_empty() {
        return Err(anyhow!(
            "{} problem{} found",
            problems.len(),
            plural(problems.len())
        ));
    }
    Ok(())
}
