//! `textrescue history DUMP_OR_DIR...`: the life of texts across nightly
//! dumps, to answer "which backup still has it?". Dumps are read in
//! parallel (rayon; `RAYON_NUM_THREADS` limits it) into
//! [`crate::history`]'s summaries.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use rayon::prelude::*;

use super::{DumpArgs, warn};
use crate::dump::ReadOptions;
use crate::error::UsageError;
use crate::escape::{self, shell_option, shell_path};
use crate::filter::{Filter, FilterArgs};
use crate::history::journal::{JournalSide, Names};
use crate::history::{
    Key, Outcome, TextSummary, dump_row, dump_stamp, planned_from_dumps, sort, summarize,
};
use crate::journal::{JOURNAL_FILE, JournalReader};
use crate::nightlies::{DumpFile, candidates, one_prefix};
use crate::output::Destination;
use crate::output::history::{JsonRows, TableRows};
use crate::progress::{Progress, size_on_disk};

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Dumps are ordered by the date in their file names (NAME_YYYYMMDD.sql.gz, \
NAME_YYYYMMDD-HHMMSS.dump, any extension; read as UTC), otherwise by modification time. \
A directory is read for dumps (not recursively; pg_dump -Fd directories in it count): a file in \
it that is no dump is skipped with a warning; textrescue's own files (.textrescue-*: the backup \
lock, partial backups) are never read. Backups of several databases in one folder (different \
names before the date) are shown one database at a time: the one with the newest backup, or \
--prefix. A damaged dump is reported and left out, the others \
are still shown, and the exit status is then 1 (with --salvage, what was read before the damage \
is used instead).

Timeline: ● present, ◆ present and changed since the version before, ○ absent; from the journal \
of textrescue watch (where a folder given has one): ▲ a version it recorded, ✕ a deletion it \
recorded, each at its place in time among the backups, listed after the table with the polls \
that first and last saw it. Where a backup whose name gives its time (NAME_YYYYMMDD-HHMMSS) and \
the journal disagree about a text at that time, a warning says so.

Examples:
  textrescue history /buggy/server/db/backups --user alice --task 3-MULTI
  textrescue history backups/*.sql.gz --user alice --format json"
)]
pub struct Args {
    /// Dump files, pg_dump -Fd directories, or directories holding dumps.
    #[arg(required = true, value_name = "DUMP_OR_DIR")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(short, long, value_enum, default_value_t = HistoryFormat::Table)]
    pub format: HistoryFormat,
    /// Write to FILE instead of stdout (it appears only when complete).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// In a folder with backups of several databases: the backups named
    /// PREFIX + date (e.g. buggy_race_bk_); default: the prefix of the newest backup.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    #[command(flatten)]
    pub dump_args: DumpArgs,
}

/// `--user` found its students by each dump's own usernames: a student
/// renamed between the dumps needs his texts in the others too, so the
/// dumps that left some out are read again for them.
fn reread_for_renamed(
    candidates: &[DumpFile],
    outcomes: &mut [Outcome],
    options: &ReadOptions,
    filter: &Filter,
) {
    let (read, named): (Vec<usize>, Vec<HashSet<i64>>) = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Outcome::Read { students_named, .. } => Some((i, students_named.clone())),
            _ => None,
        })
        .unzip();
    let again: Vec<(usize, Filter)> = read
        .into_iter()
        .zip(filter.rereads(&named))
        .filter_map(|(i, keep)| keep.map(|k| (i, k)))
        .collect();
    let quiet = ReadOptions {
        shared_progress: None,
        ..options.clone()
    };
    let reread: Vec<(usize, Outcome)> = again
        .par_iter()
        .map(|(i, keep)| {
            let mut options = quiet.clone();
            options.keep_only(keep);
            (*i, summarize(&candidates[*i], &options, filter))
        })
        .collect();
    for (i, outcome) in reread {
        outcomes[i] = outcome;
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFormat {
    Table,
    Json,
}

pub fn run(args: &Args) -> Result<()> {
    if args.paths.iter().any(|p| p.as_os_str() == "-") {
        return Err(UsageError(
            "history reads dump files and directories, not standard input (-)".into(),
        )
        .into());
    }
    let filter = super::settings::filter(&args.filter)?;
    // Before listing any s3:// folder: how to reach the bucket.
    args.dump_args.configure_remote();
    let mut warnings = Vec::new();
    let found = candidates(&args.paths, &mut warnings);
    let candidates = found.and_then(|f| one_prefix(f, args.prefix.as_deref(), &mut warnings));
    for w in &warnings {
        warn(w);
    }
    let candidates = candidates?;
    let inputs: Vec<&std::path::Path> = args
        .paths
        .iter()
        .map(PathBuf::as_path)
        .chain(candidates.iter().map(|c| c.path.as_path()))
        .collect();
    super::settings::not_an_input(args.output.as_deref(), &inputs)?;
    let journal = open_journal(&args.paths)?;
    if candidates.is_empty() && journal.is_none() {
        return Err(anyhow!(
            "no dumps found in {}",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // One bar (on a terminal) for the bytes of all the dumps together.
    let total = candidates.iter().map(|c| size_on_disk(&c.path)).sum();
    let bar = Progress::for_dumps(candidates.len(), total);
    // A text is shown when one of its versions passes the filters, so the
    // read keeps only what every version passes or fails alike: whose
    // text it is.
    let mut options = ReadOptions {
        progress: false,
        shared_progress: Some(bar.clone()),
        ..args.dump_args.options()
    };
    options.keep_only(&filter.of_students());

    let mut outcomes: Vec<Outcome> = candidates
        .par_iter()
        .map(|c| {
            let outcome = summarize(c, &options, &filter);
            bar.dump_done();
            outcome
        })
        .collect();
    bar.finish();
    reread_for_renamed(&candidates, &mut outcomes, &options, &filter);

    let mut dumps: Vec<String> = Vec::new();
    let mut times: Vec<String> = Vec::new();
    let mut summaries: Vec<HashMap<Key, TextSummary>> = Vec::new();
    let mut failed = Vec::new();
    let mut usernames = HashSet::new();
    let mut tasks = Vec::new();
    for (c, outcome) in candidates.iter().zip(outcomes) {
        let path = c.path.display().to_string();
        match outcome {
            Outcome::Read {
                texts,
                warnings,
                usernames: names,
                tasks: more_tasks,
                students_named: _,
            } => {
                for w in warnings {
                    warn(&w);
                }
                usernames.extend(names);
                tasks.extend(more_tasks);
                dumps.push(path);
                times.push(dump_stamp(c.when));
                summaries.push(texts);
            }
            Outcome::Skipped(why) => warn(&format!("skipped {path}: {why}")),
            Outcome::Failed(why) => {
                eprintln!("textrescue: error: {}", crate::escape::message(&why));
                failed.push(path);
            }
        }
    }
    if dumps.is_empty() && journal.is_none() {
        return Err(anyhow!(
            "no dump could be read ({} damaged or unusable, see above)",
            failed.len()
        ));
    }

    let journal_names = match &journal {
        Some((_, reader)) => Some(Names::read(reader)?),
        None => None,
    };
    if let Some(names) = &journal_names {
        usernames.extend(names.usernames.values().cloned());
        tasks.extend(names.tasks.values().cloned());
    }
    for w in filter.unknown_names(usernames.iter().map(String::as_str), &tasks) {
        warn(&format!("no dump has {w}"));
    }
    let journal = match (&journal, journal_names) {
        (Some((dir, reader)), Some(names)) => {
            Some(JournalSide::new(dir, reader, names, &filter, &dumps)?)
        }
        _ => None,
    };
    let mut planned = planned_from_dumps(&summaries);
    if let Some(j) = &journal {
        j.plan(&mut planned);
    }
    sort(&mut planned);
    if planned.is_empty() {
        warn("no texts match the filters in any dump");
    }

    // Each text's row is built, checked against the journal and written
    // before the next is read: memory holds one text's versions at a time.
    let mut destination = Destination::open(args.output.as_deref())?;
    let out = destination.writer();
    let mut writer = match args.format {
        HistoryFormat::Table => Rows::Table(Box::new(TableRows::new(&dumps, &failed, out))),
        HistoryFormat::Json => Rows::Json(JsonRows::new(out)),
    };
    let mut files = HashSet::new();
    for p in &planned {
        let row = dump_row(p.key, &dumps, &times, &summaries);
        let mut row = match &journal {
            Some(j) => {
                let (row, disagreements) =
                    j.with_journal(p.key, row, &dumps, &times, &summaries)?;
                for w in &disagreements {
                    warn(w);
                }
                match row {
                    Some(row) => row,
                    None => continue,
                }
            }
            None => match row {
                Some(row) => row,
                None => continue,
            },
        };
        if row.gone() {
            let file = restore_file(&row.last, &mut files);
            row.restore = Some(match (&row.journal, &journal) {
                (Some(standing), Some(j)) => {
                    restore_command_at(j.dir, standing.last_seen, &row.last, &args.dump_args, &file)
                }
                _ => restore_command(&row.last_seen, None, &row.last, &args.dump_args, &file),
            });
        }
        match &mut writer {
            Rows::Table(w) => w.row(&row)?,
            Rows::Json(w) => w.row(&row)?,
        }
    }
    match writer {
        Rows::Table(w) => w.finish()?,
        Rows::Json(w) => w.finish()?,
    }
    destination.finish()?;
    if !failed.is_empty() {
        return Err(anyhow!(
            "{} of {} dumps could not be read and are left out of the history: {}",
            failed.len(),
            failed.len() + dumps.len(),
            failed.join(", ")
        ));
    }
    Ok(())
}

/// The output, one row at a time.
enum Rows<'a> {
    Table(Box<TableRows<'a>>),
    Json(JsonRows<'a>),
}

/// The journal of the first folder given that has one.
fn open_journal(paths: &[PathBuf]) -> Result<Option<(PathBuf, JournalReader)>> {
    let mut found = None;
    for dir in paths
        .iter()
        .filter(|p| p.is_dir() && !p.join("toc.dat").is_file())
    {
        let Some(reader) = JournalReader::open(dir)? else {
            continue;
        };
        if found.is_some() {
            warn(&format!(
                "{}: a journal too; history shows the first folder's journal only",
                dir.join(JOURNAL_FILE).display()
            ));
            continue;
        }
        found = Some((dir.clone(), reader));
    }
    Ok(found)
}

/// The `texts DIR --at` command that gets a text back as the journal last
/// saw it.
fn restore_command_at(
    dir: &std::path::Path,
    at: chrono::DateTime<chrono::Utc>,
    s: &TextSummary,
    dump_args: &DumpArgs,
    file: &str,
) -> String {
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    restore_command(&dir.display().to_string(), Some(&at), s, dump_args, file)
}

/// A file name for one text's restore script, not among `used`:
/// `restore-STUDENT-TASK.sql` (characters other than letters, digits,
/// `.`, `_` and `-` as `_`), `restore-ID.sql` for a text without names.
fn restore_file(s: &TextSummary, used: &mut HashSet<String>) -> String {
    let stem = match (&s.username, &s.task) {
        (Some(user), Some(task)) => format!("restore-{user}-{task}"),
        _ => format!("restore-{}", s.id),
    };
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("{stem}.sql");
    let mut n = 2;
    while !used.insert(name.clone()) {
        name = format!("{stem}-{n}.sql");
        n += 1;
    }
    name
}

/// The `texts` command that gets a text back from the dump that last had
/// it, with the student and task named as that dump names them, into its
/// own restore script `file`. Every value is `--option=VALUE`, quoted for
/// the shell: a student named `-y` or `$(touch x)` stays a value.
fn restore_command(
    dump: &str,
    at: Option<&str>,
    s: &TextSummary,
    dump_args: &DumpArgs,
    file: &str,
) -> String {
    let mut command = format!("textrescue texts {}", shell_path(dump));
    if let Some(at) = at {
        command += &format!(" {}", shell_option("--at", at));
    }
    fn shown(name: &Option<String>) -> Option<&str> {
        name.as_deref().filter(|n| escape::is_visible(n))
    }
    // A name that would not show as it is (bidi, zero-width, control
    // characters) is left out of the command: the id is used instead.
    match (shown(&s.username), shown(&s.task)) {
        (Some(user), Some(task)) => {
            command += &format!(
                " {} {}",
                shell_option("--user", user),
                shell_option("--task", task)
            );
        }
        _ => command += &format!(" {}", shell_option("--id", &s.id.to_string())),
    }
    if let Some(table) = &dump_args.table {
        command += &format!(" {}", shell_option("--table", table));
    }
    if let Some(database) = &dump_args.database {
        command += &format!(" {}", shell_option("--database", database));
    }
    command + " --format=sql " + &shell_option("--output", file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_files_are_distinct() {
        let summary = |user: Option<&str>, task: Option<&str>, id| TextSummary {
            id,
            modified_at: None,
            length: 0,
            sha256: [0; 32],
            username: user.map(String::from),
            task: task.map(String::from),
            matched: true,
        };
        let mut used = HashSet::new();
        let mut file = |u, t, id| restore_file(&summary(u, t, id), &mut used);
        assert_eq!(
            file(Some("alice"), Some("3-MULTI"), 1),
            "restore-alice-3-MULTI.sql"
        );
        assert_eq!(
            file(Some("a b"), Some("1-EDIT"), 2),
            "restore-a_b-1-EDIT.sql"
        );
        assert_eq!(
            file(Some("a/b"), Some("1-EDIT"), 3),
            "restore-a_b-1-EDIT-2.sql"
        );
        assert_eq!(file(None, Some("1-EDIT"), 4), "restore-4.sql");
    }
}
