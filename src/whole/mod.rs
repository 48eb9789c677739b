//! A whole database back from a backup (`restore --whole-database`) and the
//! restore drill (`drill`): a new database created and loaded by psql or
//! pg_restore ([`load`]), checked against what the backup holds
//! ([`expected`], [`check`]), then either switched in ([`swap`]) or, in a
//! drill, dropped ([`drill`]). Nothing here touches the live database but
//! the switch, which renames it and keeps it.

pub mod check;
pub mod drill;
pub mod expected;
pub mod load;
pub mod server;
pub mod swap;
pub mod tee;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};

use self::check::Outcome;
use self::expected::Expected;
use self::server::Server;
use crate::codec::Compression;
use crate::dump::Summary;
use crate::escape;
use crate::input::{Format, Opened, Source};
use crate::signals::Caught;

/// What `restore --whole-database` was asked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: Server,
    pub backup: PathBuf,
    /// The new database.
    pub into: String,
    /// Rename it to the live database's name once checked.
    pub swap: bool,
    /// In a pg_dumpall script: the database to restore.
    pub database: Option<String>,
    /// The texts table, if not `tasktexts` or `task_texts`.
    pub table: Option<String>,
}

/// A backup loaded and checked.
pub struct Loaded {
    pub expected: Expected,
    /// How long the load took (creating the database and running the
    /// backup into it), in seconds.
    pub load_seconds: f64,
    pub outcome: Outcome,
}

type ExpectedRead = JoinHandle<Result<(Summary, Vec<Expected>)>>;

/// Reads what the backup holds on a thread of its own, while it loads.
fn read_expected(backup: &Path, table: Option<String>, stop: &Arc<AtomicBool>) -> ExpectedRead {
    let source = Source::Path(backup.to_path_buf());
    let stop = Arc::clone(stop);
    std::thread::spawn(move || expected::read(&source, table.as_deref(), &stop))
}

/// Reads what a plain script holds on a thread of its own, from the bytes
/// the load decompresses for psql (the reading end of a [`tee::tee`]).
fn read_expected_from(
    reader: tee::TeeReader,
    backup: &Path,
    compression: Compression,
    table: Option<String>,
    stop: &Arc<AtomicBool>,
) -> ExpectedRead {
    let shown = backup.display().to_string();
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        let opened = Opened::Stream {
            format: Format::Plain,
            compression,
            reader: Box::new(reader),
            file: None,
            positions: None,
            crlf_hint: "",
        };
        expected::read_opened(opened, &shown, table.as_deref(), &stop)
    })
}

fn joined(handle: ExpectedRead) -> Result<Vec<Expected>> {
    let (_summary, databases) = handle
        .join()
        .map_err(|_| anyhow!("reading the backup failed"))??;
    Ok(databases)
}

/// Stops the backup's reading thread when the load stops early.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Creates `into`, loads `backup` into it and checks it. `created` is set
/// as soon as `into` may exist by this run's doing (so that a drill drops
/// it whatever happens after).
pub fn load_and_check(
    server: &Server,
    backup: &Path,
    into: &str,
    database: Option<&str>,
    table: Option<&str>,
    interrupt: &Caught,
    created: &mut bool,
) -> Result<Loaded> {
    let mut plan = load::plan(backup)?;
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(Arc::clone(&stop));
    // A whole plain script is decompressed once, for psql and for this
    // reading both; anything else is read a second time, alongside.
    let teed = plan.format == Format::Plain && plan.cut_to.is_none();
    let mut reading = (!teed).then(|| read_expected(backup, table.map(String::from), &stop));
    let mut databases = None;
    let mut chosen_name = database.map(String::from);
    if plan.cut_to.is_some() {
        // A script of several databases: which one is known from its
        // texts table once it is read, unless --database says.
        if chosen_name.is_none() {
            let all = joined(reading.take().expect("reading"))?;
            let one = expected::choose(all.clone(), None)?;
            chosen_name = one.name.clone();
            databases = Some(all);
        }
        let name = chosen_name
            .clone()
            .ok_or_else(|| anyhow!("the backup's databases have no names"))?;
        plan.encoding = load::encoding_of_part(backup, &name)?.or(plan.encoding);
        plan.cut_to = Some(Some(name));
    }
    interrupt.check()?;
    println!(
        "loading {} into the new database {}{}{}",
        load::describe(backup, &plan),
        escape::visible(into),
        server.where_(),
        match &plan.encoding {
            Some(e) => format!(" (encoding {e})"),
            None => " (the dump names no encoding: the server's default)".into(),
        }
    );
    let started = Instant::now();
    load::refuse_existing(server, into, interrupt)?;
    *created = true;
    load::create(server, into, plan.encoding.as_deref(), interrupt)?;
    let tee = teed.then(|| {
        let (tee, reader) = tee::tee();
        reading = Some(read_expected_from(
            reader,
            backup,
            plan.compression,
            table.map(String::from),
            &stop,
        ));
        tee
    });
    load::load(server, backup, &plan, into, tee, interrupt)?;
    let load_seconds = started.elapsed().as_secs_f64();
    println!("loaded in {}", seconds(load_seconds));
    let databases = match databases {
        Some(d) => d,
        None => joined(reading.take().expect("reading"))?,
    };
    let expected = expected::choose(databases, chosen_name.as_deref())?;
    let mut outcome = Outcome::default();
    check::check(server, into, &expected, interrupt, &mut outcome)?;
    Ok(Loaded {
        expected,
        load_seconds,
        outcome,
    })
}

/// `12.3 s`, `4 min 05 s`.
pub fn seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        let whole = s.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

/// `restore BACKUP --whole-database --into NEWDB [--swap]`.
pub fn restore(settings: &Settings) -> Result<()> {
    let interrupt = Caught::install()?;
    let server = &settings.server;
    let into = &settings.into;
    let mut created = false;
    let loaded = load_and_check(
        server,
        &settings.backup,
        into,
        settings.database.as_deref(),
        settings.table.as_deref(),
        &interrupt,
        &mut created,
    );
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) if created => {
            bail!(
                "{e:#}\nthe new database {} is incomplete; nothing else was changed. Drop it \
                 (DROP DATABASE {};) before trying again",
                escape::visible(into),
                server::ident(into)
            )
        }
        Err(e) => return Err(e),
    };
    for line in &loaded.outcome.said {
        println!("{line}");
    }
    if !loaded.outcome.failures.is_empty() {
        for f in &loaded.outcome.failures {
            eprintln!("textrescue: {}", crate::escape::message(&f.to_string()));
        }
        bail!(
            "the restored database {} differs from the backup ({}); the live database was not \
             touched",
            escape::visible(into),
            loaded.outcome.failures.join("; ")
        );
    }
    let Some(live) = server.live_db().map(String::from) else {
        println!(
            "{} holds the backup, checked. No live database was named (--dbname), so no switch \
             is shown.",
            escape::visible(into)
        );
        return Ok(());
    };
    let old = swap::old_name(&live, chrono::Local::now().naive_local());
    if settings.swap {
        return swap::swap(server, into, &live, &old, &interrupt).inspect_err(|_| {
            println!("{}", swap::commands(server, into, &live, &old));
        });
    }
    println!("{}", swap::commands(server, into, &live, &old));
    Ok(())
}
