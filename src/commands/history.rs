//! `textrescue history DUMP_OR_DIR...`: the life of texts across nightly
//! dumps, to answer "which backup still has it?".
//!
//! Dumps are read in parallel (rayon; `RAYON_NUM_THREADS` limits it), and
//! each is reduced at once to a small summary per text (id, modified_at,
//! length, SHA-256, names): memory holds one dump's texts per worker, never
//! all the dumps' content.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, anyhow};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::{DumpArgs, warn};
use crate::backup::names;
use crate::dump::{self, ReadOptions};
use crate::error::UsageError;
use crate::filter::{Filter, FilterArgs};
use crate::input::{self, Source};
use crate::output::history::{TextHistory, Version};
use crate::output::{self, Destination, escape};
use crate::progress::{Progress, size_on_disk};
use crate::texts::Task;

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

Timeline: ● present, ◆ present and changed since the version before, ○ absent.

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

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFormat {
    Table,
    Json,
}

/// A dump to read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    path: PathBuf,
    /// Named on the command line (not found in a directory): anything wrong
    /// with it is a failure, not a file to skip.
    explicit: bool,
    /// Nanoseconds since 1970 (UTC): the date in the name, else the mtime.
    when: i128,
    /// The prefix before the date in its name (which database it is of).
    prefix: Option<String>,
}

/// (user_id, task_id): the server's one text per student and task.
type Key = (i64, i64);

/// One text in one dump, reduced to what history shows.
#[derive(Debug, Clone)]
struct Summary {
    id: i64,
    modified_at: Option<String>,
    length: usize,
    sha256: String,
    username: Option<String>,
    task: Option<String>,
    /// Whether this version passes the filters.
    matched: bool,
}

enum Outcome {
    Read {
        texts: HashMap<Key, Summary>,
        warnings: Vec<String>,
        /// Every student's and task's name in the dump (for the warning
        /// about a `--user` or `--task` that names nothing).
        usernames: Vec<String>,
        tasks: Vec<Task>,
    },
    /// In a directory, and the reader says it is no dump.
    Skipped(String),
    /// Damaged or unusable.
    Failed(String),
}

pub fn run(args: &Args) -> Result<()> {
    if args.paths.iter().any(|p| p.as_os_str() == "-") {
        return Err(UsageError(
            "history reads dump files and directories, not standard input (-)".into(),
        )
        .into());
    }
    let filter = Filter::from_args(&args.filter)?;
    let candidates = one_prefix(candidates(&args.paths)?, args.prefix.as_deref())?;
    let inputs: Vec<&std::path::Path> = args
        .paths
        .iter()
        .map(PathBuf::as_path)
        .chain(candidates.iter().map(|c| c.path.as_path()))
        .collect();
    output::check_not_an_input(args.output.as_deref(), &inputs)?;
    if candidates.is_empty() {
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
    let options = ReadOptions {
        progress: false,
        shared_progress: Some(bar.clone()),
        ..args.dump_args.options()
    };
    let database = args.dump_args.database.as_deref();

    let outcomes: Vec<Outcome> = candidates
        .par_iter()
        .map(|c| {
            let outcome = summarize(c, &options, database, &filter);
            bar.dump_done();
            outcome
        })
        .collect();
    bar.finish();

    let mut dumps: Vec<String> = Vec::new();
    let mut summaries: Vec<HashMap<Key, Summary>> = Vec::new();
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
            } => {
                for w in warnings {
                    warn(&w);
                }
                usernames.extend(names);
                tasks.extend(more_tasks);
                dumps.push(path);
                summaries.push(texts);
            }
            Outcome::Skipped(why) => warn(&format!("skipped {path}: {why}")),
            Outcome::Failed(why) => {
                eprintln!("textrescue: error: {why}");
                failed.push(path);
            }
        }
    }
    if dumps.is_empty() {
        return Err(anyhow!(
            "no dump could be read ({} damaged or unusable, see above)",
            failed.len()
        ));
    }

    for w in filter.unknown_names(usernames.iter().map(String::as_str), &tasks) {
        warn(&format!("no dump has {w}"));
    }
    let rows = histories(&dumps, &summaries, &args.dump_args);
    if rows.is_empty() {
        warn("no texts match the filters in any dump");
    }
    let mut destination = Destination::open(args.output.as_deref())?;
    let out = destination.writer();
    match args.format {
        HistoryFormat::Table => output::history::write_table(&rows, &dumps, &failed, out)?,
        HistoryFormat::Json => output::history::write_json(&rows, out)?,
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

/// The dumps named and found in the named directories, oldest first.
fn candidates(paths: &[PathBuf]) -> Result<Vec<Candidate>> {
    let mut found = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
        if meta.is_dir() && !path.join("toc.dat").is_file() {
            let entries = std::fs::read_dir(path)
                .with_context(|| format!("cannot read the directory {}", path.display()))?;
            for entry in entries {
                let entry = entry
                    .with_context(|| format!("cannot read the directory {}", path.display()))?;
                let p = entry.path();
                // The lock, partial backups, temporary outputs, indexes:
                // the tool's own files are never dumps.
                if entry.file_name().to_str().is_some_and(names::is_own_file) {
                    continue;
                }
                let Ok(m) = std::fs::metadata(&p) else {
                    warn(&format!("skipped {}: cannot read it", p.display()));
                    continue;
                };
                // Subdirectories count only as pg_dump -Fd dumps.
                if m.is_file() || (m.is_dir() && p.join("toc.dat").is_file()) {
                    found.push((p, false, m));
                }
            }
        } else {
            found.push((path.clone(), true, meta));
        }
    }
    let mut seen = HashSet::new();
    let mut candidates = Vec::new();
    for (path, explicit, meta) in found {
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(canonical) {
            continue;
        }
        let dated = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(names::dated_name);
        let when = match dated
            .as_ref()
            .and_then(|d| d.when.and_utc().timestamp_nanos_opt())
        {
            Some(t) => i128::from(t),
            None => meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i128)
                .unwrap_or(0),
        };
        let prefix = dated.map(|d| d.prefix.to_string());
        candidates.push(Candidate {
            path,
            explicit,
            when,
            prefix,
        });
    }
    candidates.sort_by(|a, b| a.when.cmp(&b.when).then_with(|| a.path.cmp(&b.path)));
    Ok(candidates)
}

/// Backups of one database at a time: where the dated names have several
/// prefixes (or `--prefix` is given), only the backups with the chosen
/// prefix (by default the one with the newest backup); files without a
/// dated name are then left out too, as they cannot be told apart.
fn one_prefix(candidates: Vec<Candidate>, chosen: Option<&str>) -> Result<Vec<Candidate>> {
    // Prefix -> (backups, newest).
    let mut prefixes: BTreeMap<&str, (usize, i128)> = BTreeMap::new();
    for c in &candidates {
        if let Some(p) = &c.prefix {
            let e = prefixes.entry(p.as_str()).or_insert((0, i128::MIN));
            e.0 += 1;
            e.1 = e.1.max(c.when);
        }
    }
    let list = || {
        prefixes
            .iter()
            .map(|(p, (n, _))| format!("{p} ({n} backup{})", if *n == 1 { "" } else { "s" }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let prefix = match chosen {
        Some(p) if prefixes.contains_key(p) => p.to_string(),
        Some(p) => {
            return Err(anyhow!(
                "no backups named {p}YYYYMMDD...; the backups found are named {}",
                if prefixes.is_empty() {
                    "with no date".to_string()
                } else {
                    list()
                }
            ));
        }
        None if prefixes.len() < 2 => return Ok(candidates),
        None => {
            let newest = prefixes
                .iter()
                .max_by_key(|(p, (_, when))| (*when, std::cmp::Reverse(**p)))
                .map(|(p, _)| p.to_string())
                .expect("two prefixes");
            warn(&format!(
                "backups of {} databases, told apart by the start of their names: {}; \
                 showing {newest} (it has the newest backup); --prefix chooses another",
                prefixes.len(),
                list()
            ));
            newest
        }
    };
    let (kept, left): (Vec<Candidate>, Vec<Candidate>) = candidates
        .into_iter()
        .partition(|c| c.prefix.as_deref() == Some(prefix.as_str()));
    let undated = left.iter().filter(|c| c.prefix.is_none()).count();
    if undated > 0 {
        warn(&format!(
            "left out {undated} file{} without a date in {} name: {}",
            if undated == 1 { "" } else { "s" },
            if undated == 1 { "its" } else { "their" },
            left.iter()
                .filter(|c| c.prefix.is_none())
                .map(|c| c.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(kept)
}

/// Reads one dump and reduces it to a summary per text.
fn summarize(
    c: &Candidate,
    options: &ReadOptions,
    database: Option<&str>,
    filter: &Filter,
) -> Outcome {
    let source = Source::Path(c.path.clone());
    let dump = match dump::read(&source, options) {
        Ok(d) => d,
        Err(e) => {
            // Found in a directory and the reader cannot even tell its
            // format (empty, an error message, some other file): not a dump.
            if !c.explicit
                && let Err(why) = input::open(&source, &Progress::hidden())
            {
                return Outcome::Skipped(format!("{why:#}"));
            }
            return Outcome::Failed(format!("{e:#}"));
        }
    };
    let mut warnings = Vec::new();
    if let Some(damage) = &dump.damage {
        warnings.push(format!(
            "--salvage: {damage}; its texts after that point count as absent"
        ));
    }
    let (texts, more) = match dump.texts(database) {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    warnings.extend(more);
    let mut summaries: HashMap<Key, Summary> = HashMap::with_capacity(texts.rows.len());
    let mut duplicates = 0;
    for t in &texts.rows {
        let record = texts.record(t);
        let summary = Summary {
            id: t.id,
            modified_at: t.modified_at.as_ref().map(|m| m.rfc3339.clone()),
            length: output::table::length(&t.text),
            sha256: hex(&Sha256::digest(&t.text)),
            username: record.username.map(String::from),
            task: record.task.map(|task| task.label()),
            matched: filter.matches(&record),
        };
        match summaries.entry((t.user_id, t.task_id)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(summary);
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                // Two texts for one student and task: follow the newest id.
                duplicates += 1;
                let matched = o.get().matched || summary.matched;
                if summary.id > o.get().id {
                    o.insert(summary);
                }
                o.get_mut().matched = matched;
            }
        }
    }
    if duplicates > 0 {
        warnings.push(format!(
            "{}: {duplicates} student/task pair{} more than one text; history follows the highest id",
            c.path.display(),
            if duplicates == 1 { " has" } else { "s have" }
        ));
    }
    Outcome::Read {
        texts: summaries,
        warnings,
        usernames: texts.usernames.values().cloned().collect(),
        tasks: texts.tasks.values().cloned().collect(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Every text that passes the filters in at least one dump, with a version
/// per dump; sorted by student, task, then ids.
fn histories(
    dumps: &[String],
    summaries: &[HashMap<Key, Summary>],
    dump_args: &DumpArgs,
) -> Vec<TextHistory> {
    let keys: BTreeMap<Key, ()> = summaries
        .iter()
        .flat_map(|s| s.iter().filter(|(_, v)| v.matched).map(|(k, _)| (*k, ())))
        .collect();
    let mut rows = Vec::with_capacity(keys.len());
    let mut files = HashSet::new();
    for &(user_id, task_id) in keys.keys() {
        let mut versions = Vec::with_capacity(dumps.len());
        let mut username = None;
        let mut task = None;
        let mut last: Option<(usize, &Summary)> = None;
        for (i, (dump, texts)) in dumps.iter().zip(summaries).enumerate() {
            match texts.get(&(user_id, task_id)) {
                Some(s) => {
                    username = s.username.clone().or(username);
                    task = s.task.clone().or(task);
                    last = Some((i, s));
                    versions.push(Version {
                        dump: dump.clone(),
                        present: true,
                        id: Some(s.id),
                        modified_at: s.modified_at.clone(),
                        length: Some(s.length),
                        sha256: Some(s.sha256.clone()),
                    });
                }
                None => versions.push(Version::absent(dump)),
            }
        }
        let (last_index, last_summary) = last.expect("a matched text is in some dump");
        let in_latest = last_index == dumps.len() - 1;
        let restore = (!in_latest).then(|| {
            let file = restore_file(last_summary, &mut files);
            restore_command(&dumps[last_index], last_summary, dump_args, &file)
        });
        rows.push(TextHistory {
            username,
            user_id,
            task: task.unwrap_or_else(|| format!("?-{task_id}")),
            task_id,
            versions,
            last_seen: dumps[last_index].clone(),
            in_latest,
            restore,
        });
    }
    rows.sort_by(|a, b| {
        let name = |r: &TextHistory| r.username.clone().unwrap_or_default().to_lowercase();
        name(a)
            .cmp(&name(b))
            .then_with(|| a.task.cmp(&b.task))
            .then_with(|| (a.user_id, a.task_id).cmp(&(b.user_id, b.task_id)))
    });
    rows
}

/// A file name for one text's restore script, not among `used`:
/// `restore-STUDENT-TASK.sql` (characters other than letters, digits,
/// `.`, `_` and `-` as `_`), `restore-ID.sql` for a text without names.
fn restore_file(s: &Summary, used: &mut HashSet<String>) -> String {
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
/// own restore script `file`.
fn restore_command(dump: &str, s: &Summary, dump_args: &DumpArgs, file: &str) -> String {
    let mut command = format!("textrescue texts {}", shell_quote(dump));
    fn shown(name: &Option<String>) -> Option<&str> {
        name.as_deref().filter(|n| escape::is_visible(n))
    }
    // A name that would not show as it is (bidi, zero-width, control
    // characters) is left out of the command: the id is used instead.
    match (shown(&s.username), shown(&s.task)) {
        (Some(user), Some(task)) => {
            command += &format!(" --user {} --task {}", shell_quote(user), shell_quote(task));
        }
        _ => command += &format!(" --id {}", s.id),
    }
    if let Some(table) = &dump_args.table {
        command += &format!(" --table {}", shell_quote(table));
    }
    if let Some(database) = &dump_args.database {
        command += &format!(" --database {}", shell_quote(database));
    }
    command + " --format sql -o " + &shell_quote(file)
}

/// A word for sh: as it is when it is plain, else in single quotes.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./+:,@%=".contains(&b));
    if plain && !word.starts_with('-') {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_files_are_distinct() {
        let summary = |user: Option<&str>, task: Option<&str>, id| Summary {
            id,
            modified_at: None,
            length: 0,
            sha256: String::new(),
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

    #[test]
    fn shell_words() {
        assert_eq!(shell_quote("a/b_c.sql.gz"), "a/b_c.sql.gz");
        assert_eq!(shell_quote("my dumps/it's.gz"), r"'my dumps/it'\''s.gz'");
        assert_eq!(shell_quote("-x"), "'-x'");
        assert_eq!(shell_quote("3-MULTI"), "3-MULTI");
    }
}
