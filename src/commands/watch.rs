//! `textrescue watch --dir DIR`: recovery points between nightlies. Polls
//! the live texts table every `--every` (or `--once`, for cron) and records
//! new versions and deletions in the journal in DIR (`crate::watch`,
//! `crate::journal`). A line per poll that changed something; the database
//! down is said once, recorded, and retried; SIGTERM ends it between polls.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{SecondsFormat, Utc};

use super::ConnArgs;
use crate::counts::plural;
use crate::escape;
use crate::format::TableName;
use crate::journal::{JournalWriter, PollSummary};
use crate::restore::live::Live;
use crate::restore::script::Tables;
use crate::sql_scan::parse_table_name;
use crate::watch::{Watcher, parse_interval};

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "\
Examples:
  textrescue watch --dir /srv/backups --container db -d buggy_race
  textrescue watch --dir /srv/backups --container db -d buggy_race --once
  sqlite3 /srv/backups/.textrescue-journal.sqlite 'SELECT * FROM polls'")]
pub struct Args {
    /// The backups folder; the journal is DIR/.textrescue-journal.sqlite.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Time between polls: 1s, 30s, 5m, 1h.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_interval)]
    pub every: Duration,
    /// Poll once and exit (for cron); exit status 1 if the database did not answer.
    #[arg(long)]
    pub once: bool,
    /// How long a poll's query may go unanswered (a hung connection, a
    /// table locked) before the database is taken as down and asked again
    /// (default: three intervals, at least 1m).
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub timeout: Option<Duration>,
    /// The live texts table (NAME or SCHEMA.NAME; default public.tasktexts).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    #[command(flatten)]
    pub connection: ConnArgs,
    /// The psql to run (with --container: its path inside the container).
    #[arg(long, value_name = "PATH", default_value = "psql")]
    pub psql: String,
}

pub fn run(args: &Args) -> Result<()> {
    let table = match &args.table {
        None => TableName::new("public", "tasktexts"),
        Some(t) => match parse_table_name(t.as_bytes()) {
            Some(name) => name,
            None => {
                return Err(super::settings::as_usage(anyhow::anyhow!(
                    "--table {} is not a table name (NAME or SCHEMA.NAME)",
                    escape::visible(t)
                )));
            }
        },
    };
    let live = Live {
        conn: args.connection.conn()?,
        psql: args.psql.clone(),
        container: args.connection.container(),
    };
    let stop = crate::signals::stop_flag()?;
    let journal = JournalWriter::open(&args.dir)
        .with_context(|| format!("cannot open the journal in {}", args.dir.display()))?;
    let mut watcher = Watcher::new(live, Tables::new(&table)?, journal, answer_within(args));
    let mut down = false;
    loop {
        let started = Instant::now();
        let at = Utc::now();
        match watcher.poll(at) {
            Ok(summary) => {
                if std::mem::take(&mut down) {
                    eprintln!("{}: the database answers again; watching", stamp(at));
                }
                say(&summary, at, started.elapsed());
            }
            // Stopped while polling (systemd signals psql too): not a
            // database that went down.
            Err(_) if stop.load(Ordering::SeqCst) => return Ok(()),
            Err(e) if args.once => {
                watcher.journal_mut().record_down(at, &format!("{e:#}"))?;
                return Err(e.context("the database does not answer; nothing recorded"));
            }
            Err(e) => {
                let why = format!("{e:#}");
                if !down {
                    eprintln!(
                        "{}: the database does not answer (retrying every {}): {why}",
                        stamp(at),
                        every_word(args.every)
                    );
                    watcher.journal_mut().record_down(at, &why)?;
                    watcher.forget_row_versions();
                    down = true;
                }
            }
        }
        if args.once {
            return Ok(());
        }
        // Sleep to the next poll in short steps, so that SIGTERM ends the
        // run at once (never inside a poll: that finishes or rolls back).
        loop {
            if stop.load(Ordering::SeqCst) {
                watcher.journal().checkpoint().ok();
                return Ok(());
            }
            if started.elapsed() >= args.every {
                break;
            }
            std::thread::sleep(Duration::from_millis(50).min(args.every));
        }
    }
}

/// How long one poll query may take: `--timeout`, else three intervals and
/// never less than a minute (the first poll of a run hashes every text in
/// the server).
fn answer_within(args: &Args) -> Duration {
    args.timeout
        .unwrap_or((args.every * 3).max(Duration::from_secs(60)))
}

fn stamp(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn every_word(every: Duration) -> String {
    format!("{}s", every.as_secs())
}

/// One line for a poll that changed something; nothing otherwise.
fn say(summary: &PollSummary, at: chrono::DateTime<Utc>, took: Duration) {
    if summary.new_versions == 0 && summary.deletions == 0 {
        return;
    }
    println!(
        "{}: {} new version{}, {} deletion{} ({} live text{}; the poll took {} ms)",
        stamp(at),
        summary.new_versions,
        plural(summary.new_versions),
        summary.deletions,
        plural(summary.deletions),
        summary.live_texts,
        plural(summary.live_texts),
        took.as_millis()
    );
}
