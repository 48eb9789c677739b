//! `textrescue restore`: a text from a backup back into the live database,
//! in one command, each step of which can stop it:
//!
//! 1. choose: the texts that pass the filters, from one backup or, in a
//!    folder, from the newest backup that has each ([`select`]);
//! 2. a safety backup of the live database, through `backup`'s own code
//!    ([`crate::backup::run`]: the same verified file), before anything else;
//! 3. the plan: the restore run in check mode against the live database
//!    ([`plan`]); `--dry-run` stops here;
//! 4. confirm: a y/N question on a terminal, else `--yes`;
//! 5. apply: the same program in one transaction, through psql ([`live`]),
//!    holding every text to what the plan saw (a text a student saved in
//!    between stops it); COMMIT is sent only once the program has run and
//!    no signal came;
//! 6. verify: the rows read back and compared byte for byte ([`verify`]);
//!    then a summary and the one command that undoes it ([`undo`]).
//!
//! The live database is decided first ([`target`]: `--dbname`, else the
//! backups' names) and named in the plan.
//!
//! Every failure before the commit leaves the live database as it was and
//! says which step failed. SIGINT, SIGTERM and SIGHUP are caught: before the
//! commit they stop the run (psql is ended, its transaction rolls back);
//! once COMMIT is sent, the run finishes and reports. A COMMIT whose answer
//! never came is settled by reading the rows back ([`unanswered`]): the
//! undo command is printed whenever the restore may be in.

pub mod apply;
pub mod at;
pub mod confirm;
pub mod live;
pub mod plan;
pub mod script;
pub mod select;
pub mod target;
pub mod unanswered;
pub mod undo;
pub mod verify;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::backup;
use crate::dump::ReadOptions;
use crate::filter::Filter;
use crate::signals::Caught;
use crate::texts::Timestamp;
pub use confirm::can_ask;
use live::Live;
use plan::Report;
use script::{Action, OnConflict};
pub use select::is_one_backup;

/// Everything `restore` needs, from the command line.
#[derive(Clone)]
pub struct Settings {
    /// A backup, or a folder of backups.
    pub source: PathBuf,
    /// `--from`: the one backup to take every text from.
    pub from: Option<PathBuf>,
    /// `--at`: the texts as they stood then ([`at`]).
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    pub filter: Filter,
    /// The students a text to delete must belong to: the `--user` names as
    /// given and as lower-cased here. The database compares them with
    /// `lower()`, which in a database of the C locale leaves `Ü` as it is:
    /// the name as given still matches there.
    pub usernames: Vec<String>,
    /// How to read the backups (`--table`, `--database`, and the filters a
    /// row passes or fails by itself).
    pub read_options: ReadOptions,
    pub on_conflict: OnConflict,
    /// `--delete-absent`: the `--id`s (those the backup lacks are deleted).
    pub delete_absent: Vec<i64>,
    pub dry_run: bool,
    pub yes: bool,
    pub live: Live,
    /// The safety backup, as `backup` takes it (its `dir` is `--safety-dir`).
    pub safety: backup::Settings,
    /// The prefix of the backups to read in a folder of several databases'.
    pub prefix: String,
    /// The options that reach the live database again, for the undo command.
    pub undo_reach: undo::Reach,
    /// Which live database, and why (for the plan).
    pub target_note: String,
}

/// A time as the live database reads back: UTC, microseconds.
pub fn utc_micros(t: &Timestamp) -> String {
    t.instant
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

pub use crate::escape::warn;

const STEPS: usize = 6;

fn step(n: usize, name: &str, after: &str) -> String {
    format!("step {n} of {STEPS} ({name}) failed; {after}")
}

/// Runs the whole restore as `settings` say; the summary on stdout.
pub fn run(settings: &Settings) -> Result<()> {
    let interrupt = Caught::install()?;
    let unchanged_db = "the live database is unchanged";
    let mut out = std::io::stdout().lock();
    let usernames = &settings.usernames;

    // 1. What to restore.
    let selection = select::select(settings, &settings.live, &interrupt)
        .with_context(|| step(1, "choosing the texts", "nothing was done"))?;
    for note in &selection.unchanged {
        writeln!(out, "unchanged: {note}")?;
    }
    if selection.texts.is_empty() && selection.absent.is_empty() {
        writeln!(
            out,
            "nothing to restore: the live database already has these texts as the backup does"
        )?;
        return Ok(());
    }

    // 2. The safety backup (a dry run changes nothing: it needs none).
    let safety = if settings.dry_run {
        None
    } else {
        let path = interrupt
            .check()
            .and_then(|()| backup::run(&settings.safety).map(|w| w.path))
            .with_context(|| {
                step(
                    2,
                    "safety backup",
                    "nothing else was done, the live database is unchanged",
                )
            })?;
        writeln!(out, "safety backup: {}", path.display())?;
        Some(path)
    };
    let safety_note = safety
        .as_ref()
        .map(|p| format!("; the safety backup {} stays", p.display()))
        .unwrap_or_default();
    let unchanged_with_backup = |what: &str| format!("{what}{safety_note}");

    // 3. The plan.
    let report = interrupt
        .check()
        .and_then(|()| {
            plan::check(
                &settings.live,
                &selection,
                settings.on_conflict,
                usernames,
                &interrupt,
            )
        })
        .with_context(|| step(3, "plan", &unchanged_with_backup(unchanged_db)))?;
    writeln!(
        out,
        "plan (the restore run in check mode against the live database, then rolled back), from {}:",
        selection.source
    )?;
    writeln!(out, "  {}", settings.target_note)?;
    out.write_all(plan::render(&selection, &report, false).as_bytes())?;
    writeln!(out, "{}", counts(&report, false))?;
    if settings.dry_run {
        writeln!(out, "--dry-run: nothing was changed")?;
        return Ok(());
    }
    if report.changes_nothing() {
        writeln!(out, "nothing to change: {}", unchanged_db)?;
        return Ok(());
    }
    let safety = safety.expect("a safety backup unless --dry-run");
    out.flush()?;

    // 4. Confirm.
    if !settings.yes {
        let yes = confirm::confirm("Restore as planned?", &interrupt)
            .with_context(|| step(4, "confirm", &unchanged_with_backup(unchanged_db)))?;
        if !yes {
            bail!(
                "{}",
                step(
                    4,
                    "confirm",
                    &unchanged_with_backup("not confirmed: nothing was changed")
                )
            );
        }
    }

    // 5. Apply.
    let applied =
        apply::apply(settings, &selection, &report, usernames, &interrupt).with_context(|| {
            step(
                5,
                "restore",
                &unchanged_with_backup("nothing was committed, the live database is unchanged"),
            )
        })?;
    let undo_line =
        |done: &Report| match undo::command(&safety, &selection, done, &settings.undo_reach) {
            Some(c) => format!("to undo it: {c}"),
            None => "nothing was changed: nothing to undo".into(),
        };
    let done = match applied {
        apply::Applied::Committed(done) => done,
        apply::Applied::Unanswered { report: done, why } => {
            let why = format!("{why:#}");
            let _ = writeln!(
                out,
                "COMMIT was sent, but its answer never came ({why}): whether the restore was \
                 committed is not known; reading the texts back on a new connection once the \
                 restore's transaction has ended"
            );
            let _ = out.flush();
            match unanswered::settle(&settings.live, &selection, &done) {
                unanswered::Verdict::Committed => {
                    let _ = writeln!(
                        out,
                        "the read-back shows every change in the live database: the restore \
                         was committed, only the COMMIT's answer was lost"
                    );
                    done
                }
                unanswered::Verdict::NotCommitted => bail!(
                    "{}",
                    step(
                        5,
                        "restore",
                        &unchanged_with_backup(&format!(
                            "COMMIT was sent but its answer never came ({why}); read back on a \
                             new connection, every text is as before the restore: nothing was \
                             committed, the live database is unchanged"
                        ))
                    )
                ),
                unanswered::Verdict::Unknown {
                    found,
                    why: unknown,
                } => {
                    let undo = undo_line(&done);
                    if !found.is_empty() {
                        let _ = writeln!(out, "the live database now holds:");
                        for f in &found {
                            let _ = writeln!(out, "  {}", f.what);
                        }
                    }
                    let _ = writeln!(
                        out,
                        "safety backup (the live database before the restore): {}",
                        safety.display()
                    );
                    let _ = writeln!(out, "{undo}");
                    bail!(
                        "step 5 of {STEPS} (restore) failed: COMMIT was sent but its answer never \
                         came ({why}), and whether the restore is in cannot be told: {unknown}; \
                         the live database may hold it or not; {undo}"
                    );
                }
            }
        }
    };
    // From here on the restore is committed: the summary is written as far
    // as stdout takes it, and the exit status is the read-back's alone.
    let _ = writeln!(out, "{}: committed", counts(&done, true));
    let _ = out.write_all(plan::render(&selection, &done, true).as_bytes());

    // 6. Verify, and say how to undo it.
    let undo_line = undo_line(&done);
    let problems = verify::verify(&settings.live, &selection, &done, &Caught::never());
    let _ = writeln!(
        out,
        "safety backup (the live database before the restore): {}",
        safety.display()
    );
    match problems {
        Ok(p) if p.is_empty() => {
            let n = done.count(Action::Restore) + done.count(Action::Overwrite);
            let _ = writeln!(
                out,
                "verified: {n} text{} read back from the live database, equal to the backup's byte for byte{}",
                crate::counts::plural(n),
                if done.count(Action::Delete) > 0 {
                    "; the deleted texts are gone"
                } else {
                    ""
                }
            );
            let _ = writeln!(out, "{undo_line}");
            Ok(())
        }
        Ok(p) => {
            let _ = writeln!(out, "{undo_line}");
            Err(anyhow!(
                "step 6 of {STEPS} (verify) failed: the restore was committed, but the live \
                 database differs from the backup: {}; {undo_line}",
                p.join("; ")
            ))
        }
        Err(e) => {
            let _ = writeln!(out, "{undo_line}");
            Err(e.context(format!(
                "step 6 of {STEPS} (verify) failed: the restore was committed, but reading it \
                 back failed; {undo_line}"
            )))
        }
    }
}

fn counts(report: &Report, done: bool) -> String {
    let words: [(&str, &str, Action); 4] = [
        ("would restore", "restored", Action::Restore),
        ("overwrite", "overwrote", Action::Overwrite),
        ("skip", "skipped", Action::Skip),
        ("delete", "deleted", Action::Delete),
    ];
    words
        .iter()
        .filter(|(_, _, a)| *a != Action::Delete || !report.deletions.is_empty())
        .map(|(plan, did, a)| format!("{} {}", if done { did } else { plan }, report.count(*a)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The folder a safety backup goes to by default: the backups folder, or
/// the backup's own folder.
pub fn default_safety_dir(source: &Path) -> PathBuf {
    if !is_one_backup(source) {
        source.to_path_buf()
    } else {
        source
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}
