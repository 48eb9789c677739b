//! A text's history across nightly dumps: each dump is reduced at once to
//! a small summary per text (id, modified_at, length, SHA-256, names), so
//! memory holds one dump's texts per reader, never all the dumps' content;
//! the summaries are then lined up per text, oldest dump first, one text
//! at a time ([`dump_row`]), so that a command can write each text's row
//! as soon as it is built. The journal of `watch`, where the folder has
//! one, adds its versions to the same timeline ([`journal`]).

pub mod journal;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dump::{self, ReadOptions};
use crate::filter::Filter;
use crate::hex::hex;
use crate::input::{NotADump, Source};
use crate::nightlies::DumpFile;
use crate::texts::Task;

/// One text (a student's text for a task) across the dumps: one object of `history --format json`
/// object, exactly these keys in this order.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct TextHistory {
    /// From the newest dump that names the student.
    pub username: Option<String>,
    pub user_id: i64,
    /// From the newest dump that names the task (`?-ID` where none does).
    pub task: String,
    pub task_id: i64,
    /// One per dump, oldest first.
    pub versions: Vec<Version>,
    /// The newest dump that has the text.
    pub last_seen: String,
    /// Whether the newest dump has it.
    pub in_latest: bool,
    /// Its version in `last_seen`, the newest dump that has it.
    #[serde(skip)]
    pub last: TextSummary,
    /// For a text gone from the newest dump: the command that gets it back
    /// from `last_seen` (table view only; the command line fills it in).
    #[serde(skip)]
    pub restore: Option<String>,
    /// Where the journal knows the text: whether it is live at the
    /// journal's last poll, and the last poll that saw it.
    #[serde(skip)]
    pub journal: Option<journal::Standing>,
}

impl TextHistory {
    /// Whether the text is gone: deleted as the journal last saw it, or
    /// (where the journal does not know it) absent from the newest dump.
    pub fn gone(&self) -> bool {
        match &self.journal {
            Some(j) => !j.live,
            None => !self.in_latest,
        }
    }
}

/// The text in one dump.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub dump: String,
    pub present: bool,
    pub id: Option<i64>,
    pub modified_at: Option<String>,
    /// In characters, as PostgreSQL's `length(text)`.
    pub length: Option<usize>,
    /// Hex SHA-256 of the text's bytes.
    pub sha256: Option<String>,
    /// Where a folder given has a journal (else the key is left out):
    /// `backup` (a dump; `dump` is its path) or `journal` (a version the
    /// journal of `watch` recorded; `dump` is the journal's path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    /// Where a folder given has a journal: [`Version::place`] (moved here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Journal versions: the polls that first and last saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// A deletion the journal recorded (`present` false): the poll that
    /// found the row gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// [`BACKUP`] or [`JOURNAL`].
    #[serde(skip)]
    pub origin: &'static str,
    /// Its place on the timeline, UTC ([`stamp`]): a backup's date (from
    /// its name, else its modification time); a journal version's first
    /// poll; a deletion's poll. Empty once moved to `at`: read it with
    /// [`Version::when`].
    #[serde(skip)]
    pub place: String,
}

/// Backups' sources.
pub const BACKUP: &str = "backup";
/// The journal's.
pub const JOURNAL: &str = "journal";

impl Version {
    /// Its place on the timeline ([`Version::place`]).
    pub fn when(&self) -> &str {
        self.at.as_deref().unwrap_or(&self.place)
    }

    pub fn absent(dump: &str, at: &str) -> Version {
        Version {
            dump: dump.to_string(),
            present: false,
            id: None,
            modified_at: None,
            length: None,
            sha256: None,
            source: None,
            at: None,
            first_seen: None,
            last_seen: None,
            deleted_at: None,
            origin: BACKUP,
            place: at.to_string(),
        }
    }
}

/// A time as history's JSON gives it: UTC, microseconds (sorts as text).
pub fn stamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A dump's time (nanoseconds since 1970, as [`DumpFile::when`]) as
/// [`stamp`] gives it.
pub fn dump_stamp(when: i128) -> String {
    let nanos = i64::try_from(when).unwrap_or(if when < 0 { i64::MIN } else { i64::MAX });
    stamp(chrono::DateTime::from_timestamp_nanos(nanos))
}

/// A SHA-256 digest, raw (hex only where shown).
pub type Sha256Digest = [u8; 32];

/// (user_id, task_id): the server's one text per student and task.
pub type Key = (i64, i64);

/// One text in one dump, reduced to what history shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSummary {
    pub id: i64,
    pub modified_at: Option<String>,
    /// In characters, as PostgreSQL's `length(text)`.
    pub length: usize,
    /// SHA-256 of the text's bytes.
    pub sha256: Sha256Digest,
    /// As this dump names the student and the task.
    pub username: Option<String>,
    pub task: Option<String>,
    /// Whether this version passes the filters.
    pub matched: bool,
}

pub enum Outcome {
    Read {
        texts: HashMap<Key, TextSummary>,
        warnings: Vec<String>,
        /// Every student's and task's name in the dump (for the warning
        /// about a `--user` or `--task` that names nothing).
        usernames: Vec<String>,
        tasks: Vec<Task>,
        /// The user ids of the students `--user` names in this dump (see
        /// [`Filter::rereads`]).
        students_named: HashSet<i64>,
    },
    /// In a directory, and the reader says it is no dump.
    Skipped(String),
    /// Damaged or unusable.
    Failed(String),
}

/// Reads one dump and reduces it to a summary per text.
pub fn summarize(c: &DumpFile, options: &ReadOptions, filter: &Filter) -> Outcome {
    let dump = match dump::read(&Source::from_path(&c.path), options) {
        Ok(d) => d,
        // Found in a folder and no dump at all (empty, an error message,
        // some other file): skipped, where a damaged dump is a failure.
        Err(e) if !c.explicit && e.downcast_ref::<NotADump>().is_some() => {
            return Outcome::Skipped(format!("{e:#}"));
        }
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    let mut warnings = Vec::new();
    if let Some(damage) = &dump.summary.damage {
        warnings.push(format!(
            "--salvage: {damage}; its texts after that point count as absent"
        ));
    }
    let (texts, more) = match dump.texts() {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    warnings.extend(more);
    let mut summaries: HashMap<Key, TextSummary> = HashMap::with_capacity(texts.rows.len());
    let mut duplicates = 0;
    for t in &texts.rows {
        let record = texts.record(t);
        let summary = TextSummary {
            id: t.id,
            modified_at: t.modified_at.as_ref().map(|m| m.rfc3339.clone()),
            length: crate::texts::char_length(&t.text),
            sha256: Sha256::digest(&t.text).into(),
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
        students_named: filter.user_ids_named(&texts.usernames),
    }
}

/// One text history shows, before its versions are read: its key and
/// the names it is sorted by (those its row will have).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub key: Key,
    pub username: Option<String>,
    pub task: String,
}

/// Every text that passes the filters in at least one dump, named from
/// the newest dump that names its student and its task (`?-ID` where
/// none does). Unsorted: see [`sort`].
pub fn planned_from_dumps(summaries: &[HashMap<Key, TextSummary>]) -> Vec<Planned> {
    let mut names: BTreeMap<Key, (Option<String>, Option<String>)> = summaries
        .iter()
        .flat_map(|s| {
            s.iter()
                .filter(|(_, v)| v.matched)
                .map(|(k, _)| (*k, (None, None)))
        })
        .collect();
    for texts in summaries {
        for (key, (username, task)) in &mut names {
            if let Some(s) = texts.get(key) {
                if s.username.is_some() {
                    username.clone_from(&s.username);
                }
                if s.task.is_some() {
                    task.clone_from(&s.task);
                }
            }
        }
    }
    names
        .into_iter()
        .map(|(key, (username, task))| Planned {
            key,
            username,
            task: task.unwrap_or_else(|| format!("?-{}", key.1)),
        })
        .collect()
}

/// One text's row from the dumps alone: a version per dump (`times`: each
/// dump's place on the timeline, [`dump_stamp`]); None where no dump has
/// it.
pub fn dump_row(
    (user_id, task_id): Key,
    dumps: &[String],
    times: &[String],
    summaries: &[HashMap<Key, TextSummary>],
) -> Option<TextHistory> {
    let mut versions = Vec::with_capacity(dumps.len());
    let mut username = None;
    let mut task = None;
    let mut last: Option<(usize, &TextSummary)> = None;
    for (i, ((dump, at), texts)) in dumps.iter().zip(times).zip(summaries).enumerate() {
        match texts.get(&(user_id, task_id)) {
            Some(s) => {
                username = s.username.clone().or(username);
                task = s.task.clone().or(task);
                last = Some((i, s));
                versions.push(Version {
                    present: true,
                    id: Some(s.id),
                    modified_at: s.modified_at.clone(),
                    length: Some(s.length),
                    sha256: Some(hex(&s.sha256)),
                    ..Version::absent(dump, at)
                });
            }
            None => versions.push(Version::absent(dump, at)),
        }
    }
    let (last_index, last_summary) = last?;
    Some(TextHistory {
        username,
        user_id,
        task: task.unwrap_or_else(|| format!("?-{task_id}")),
        task_id,
        versions,
        last_seen: dumps[last_index].clone(),
        in_latest: last_index == dumps.len() - 1,
        last: last_summary.clone(),
        restore: None,
        journal: None,
    })
}

/// By student (case-insensitive), task, then ids: the order of history's
/// rows.
pub fn sort(planned: &mut [Planned]) {
    planned.sort_by_cached_key(|p| {
        (
            p.username.clone().unwrap_or_default().to_lowercase(),
            p.task.clone(),
            p.key,
        )
    });
}
