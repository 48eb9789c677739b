//! The journal's side of `history`: each text's versions as the journal of
//! `watch` recorded them (and its deletions), put on the nightlies'
//! timeline; and where a nightly and the journal disagree about a text at
//! the moment the nightly was taken.
//!
//! Memory: one text's journal versions at a time are read (each version's
//! content decompressed once to count its characters), so that history
//! can write each text's row as soon as it is built.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, TimeDelta, Utc};

use super::{JOURNAL, Key, Planned, TextHistory, TextSummary, Version, stamp};
use crate::filter::Filter;
use crate::folder_names;
use crate::hex::hex;
use crate::journal::JOURNAL_FILE;
use crate::journal::{self, JournalReader, Poll};
use crate::texts::{Task, TaskText, Timestamp};

/// What the journal last knew of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// A version of it is current at the journal's last `ok` poll.
    pub live: bool,
    /// The last poll that saw a version of it.
    pub last_seen: DateTime<Utc>,
}

/// One journal version of a text, reduced to what the disagreement check
/// needs: its content's hash and the polls that bound it.
#[derive(Debug, Clone)]
pub struct Stood {
    sha256: journal::Sha256,
    first_poll: i64,
    /// The poll that found it replaced or deleted (None: current).
    ended_poll: Option<i64>,
}

impl Stood {
    pub fn of(v: &journal::Version) -> Stood {
        Stood {
            sha256: v.sha256,
            first_poll: v.first_seen.id,
            ended_poll: v.ended.as_ref().map(|e| e.id),
        }
    }

    /// Whether it was current at some poll from `p0` to `p1`.
    fn stood_between(&self, p0: &Poll, p1: &Poll) -> bool {
        self.first_poll <= p1.id && self.ended_poll.is_none_or(|e| e > p0.id)
    }

    /// Whether it was current from `p0` through `p1`.
    fn stood_throughout(&self, p0: &Poll, p1: &Poll) -> bool {
        self.first_poll <= p0.id && self.ended_poll.is_none_or(|e| e > p1.id)
    }
}

/// One text as the journal has it.
#[derive(Debug, Clone)]
pub struct JournalText {
    pub username: Option<String>,
    pub task: Option<String>,
    /// Its versions and deletions, oldest first (`source` journal); moved
    /// into history's row by [`add_versions`].
    pub versions: Vec<Version>,
    pub standing: Standing,
    /// The newest present version, for the restore command.
    last: TextSummary,
    pub stood: Vec<Stood>,
}

/// The journal's students and tasks, read once.
pub struct Names {
    pub usernames: HashMap<i64, String>,
    pub tasks: HashMap<i64, Task>,
}

impl Names {
    pub fn read(reader: &JournalReader) -> Result<Names> {
        Ok(Names {
            usernames: reader.usernames()?,
            tasks: reader.tasks()?,
        })
    }

    /// `alice 3-MULTI` (`user #7` for a student without a name), as
    /// warnings name a text.
    pub fn of_text(username: Option<&str>, user_id: i64, task: &str) -> String {
        let who = username.map_or_else(|| format!("user #{user_id}"), crate::escape::visible);
        format!("{who} {}", crate::escape::visible(task))
    }
}

/// The journal's texts, each with whether one of its versions passes
/// `filter`, in one pass over every version's row (no text read).
pub fn texts_passing(
    reader: &JournalReader,
    names: &Names,
    filter: &Filter,
) -> Result<BTreeMap<Key, bool>> {
    let mut texts = BTreeMap::new();
    reader.for_each_version_meta(|meta| {
        let passed = texts.entry((meta.user_id, meta.task_id)).or_insert(false);
        if !*passed {
            *passed = passes(
                filter,
                meta,
                names.usernames.get(&meta.user_id),
                names.tasks.get(&meta.task_id),
            );
        }
        Ok(())
    })?;
    Ok(texts)
}

/// Whether a version passes the filters, as a dump's text would.
fn passes(
    filter: &Filter,
    meta: &journal::TextMeta,
    username: Option<&String>,
    task: Option<&Task>,
) -> bool {
    let parse = |value: &str| Timestamp::parse_pg(value).ok();
    let Some(created_at) = parse(&meta.created_at) else {
        return false;
    };
    let row = TaskText {
        id: meta.row_id,
        user_id: meta.user_id,
        task_id: meta.task_id,
        created_at,
        modified_at: meta.modified_at.as_deref().and_then(parse),
        text: Vec::new(),
    };
    filter.matches(&crate::texts::Record {
        text: &row,
        username: username.map(String::as_str),
        task,
    })
}

/// One text's versions and deletions as the journal has them (`path`: the
/// journal file, as `dump` of its versions); None where it has none. Each
/// version's text is decompressed once, to count its characters.
pub fn text_of(
    reader: &JournalReader,
    path: &str,
    names: &Names,
    (user_id, task_id): Key,
) -> Result<Option<JournalText>> {
    let versions = reader.versions_for(user_id, task_id)?;
    let username = names.usernames.get(&user_id);
    let task = names.tasks.get(&task_id);
    let mut out = Vec::with_capacity(versions.len() + 1);
    let mut stood = Vec::with_capacity(versions.len());
    let mut last = None;
    let mut last_seen = None;
    let mut live = false;
    for v in &versions {
        let text = reader.text_of(v)?;
        let sha256 = hex(&v.sha256);
        let modified_at = v
            .meta
            .modified_at
            .as_deref()
            .map(|m| Timestamp::parse_pg(m).map_or_else(|_| m.to_string(), |t| t.rfc3339));
        let length = crate::texts::char_length(&text);
        out.push(Version {
            dump: path.to_string(),
            present: true,
            id: Some(v.meta.row_id),
            modified_at: modified_at.clone(),
            length: Some(length),
            sha256: Some(sha256),
            source: None,
            at: None,
            first_seen: Some(stamp(v.first_seen.at)),
            last_seen: Some(stamp(v.last_seen.at)),
            deleted_at: None,
            origin: JOURNAL,
            place: stamp(v.first_seen.at),
        });
        if let Some(ended) = v.ended.as_ref().filter(|_| v.deleted) {
            let mut gone = Version::absent(path, &stamp(ended.at));
            gone.origin = JOURNAL;
            gone.deleted_at = Some(stamp(ended.at));
            out.push(gone);
        }
        stood.push(Stood::of(v));
        live |= v.ended.is_none();
        last_seen = last_seen.max(Some(v.last_seen.at));
        last = Some(TextSummary {
            id: v.meta.row_id,
            modified_at,
            length,
            sha256: v.sha256,
            username: username.cloned(),
            task: task.map(Task::label),
            matched: true,
        });
    }
    let (Some(last), Some(last_seen)) = (last, last_seen) else {
        return Ok(None);
    };
    // A version and a deletion at one poll: the deletion after.
    out.sort_by(|a, b| {
        a.place
            .cmp(&b.place)
            .then(a.present.cmp(&b.present).reverse())
    });
    Ok(Some(JournalText {
        username: username.cloned(),
        task: task.map(Task::label),
        versions: out,
        standing: Standing { live, last_seen },
        last,
        stood,
    }))
}

/// The row of a text only the journal has: absent from every dump
/// (`dumps`, `times`: as for [`super::dump_row`]), last seen in the
/// journal (`path`).
pub fn journal_only_row(
    (user_id, task_id): Key,
    mut j: JournalText,
    path: &str,
    dumps: &[String],
    times: &[String],
) -> TextHistory {
    let mut row = TextHistory {
        username: j.username.clone(),
        user_id,
        task: j.task.clone().unwrap_or_else(|| format!("?-{task_id}")),
        task_id,
        versions: dumps
            .iter()
            .zip(times)
            .map(|(d, at)| Version::absent(d, at))
            .collect(),
        last_seen: path.to_string(),
        in_latest: false,
        last: j.last.clone(),
        restore: None,
        journal: None,
    };
    add_versions(&mut row, &mut j);
    row
}

/// Moves `j`'s versions into `row` (memory holds them once), by time.
pub fn add_versions(row: &mut TextHistory, j: &mut JournalText) {
    row.versions.append(&mut j.versions);
    // Stable: at one time, a backup before the journal's version.
    row.versions.sort_by(|a, b| a.place.cmp(&b.place));
    row.journal = Some(j.standing.clone());
    if row.username.is_none() {
        row.username = j.username.clone();
    }
}

/// With a journal, every version of a row says where it is from and when.
pub fn mark_sources(row: &mut TextHistory) {
    for v in &mut row.versions {
        v.source = Some(v.origin);
        v.at = Some(std::mem::take(&mut v.place));
    }
}

/// What history takes from the journal: which of its texts to show, each
/// text's versions, and the backups whose moment it covers (to warn where
/// they disagree).
pub struct JournalSide<'a> {
    /// The backups folder.
    pub dir: &'a std::path::Path,
    reader: &'a JournalReader,
    /// The journal file, as its versions' `dump`.
    path: String,
    names: Names,
    /// Every text of the journal: whether one of its versions passes the
    /// filters.
    passing: BTreeMap<Key, bool>,
    /// By dump (as `dumps`): the dumps whose moment the journal covers.
    covered: Vec<Option<CoveredBackup>>,
}

impl<'a> JournalSide<'a> {
    pub fn new(
        dir: &'a std::path::Path,
        reader: &'a JournalReader,
        names: Names,
        filter: &Filter,
        dumps: &[String],
    ) -> Result<JournalSide<'a>> {
        let passing = texts_passing(reader, &names, filter)?;
        let covered = dumps
            .iter()
            .map(|d| CoveredBackup::of(reader, d))
            .collect::<Result<_>>()?;
        Ok(JournalSide {
            dir,
            reader,
            path: dir.join(JOURNAL_FILE).display().to_string(),
            names,
            passing,
            covered,
        })
    }

    /// The texts the dumps show, named as their rows will be (the
    /// journal's username where no dump names the student), and the texts
    /// only the journal has that pass the filters.
    pub fn plan(&self, planned: &mut Vec<Planned>) {
        let from_dumps: HashSet<Key> = planned.iter().map(|p| p.key).collect();
        for p in planned.iter_mut() {
            if p.username.is_none() && self.passing.contains_key(&p.key) {
                p.username = self.names.usernames.get(&p.key.0).cloned();
            }
        }
        for (&key, _) in self
            .passing
            .iter()
            .filter(|(k, passed)| **passed && !from_dumps.contains(k))
        {
            planned.push(Planned {
                key,
                username: self.names.usernames.get(&key.0).cloned(),
                task: self
                    .names
                    .tasks
                    .get(&key.1)
                    .map(Task::label)
                    .unwrap_or_else(|| format!("?-{}", key.1)),
            });
        }
    }

    /// A text's row (`from_dumps`: the dumps' row, where a dump has it)
    /// with the journal's versions put in by time (None: neither has the
    /// text), and a warning for each dump (`dumps`, `times`, `summaries`:
    /// as for [`super::dump_row`]) that disagrees with the journal about
    /// it.
    pub fn with_journal(
        &self,
        key: Key,
        from_dumps: Option<TextHistory>,
        dumps: &[String],
        times: &[String],
        summaries: &[HashMap<Key, TextSummary>],
    ) -> Result<(Option<TextHistory>, Vec<String>)> {
        let mut text = if self.passing.contains_key(&key) {
            text_of(self.reader, &self.path, &self.names, key)?
        } else {
            None
        };
        let stood = text
            .as_mut()
            .map(|t| std::mem::take(&mut t.stood))
            .unwrap_or_default();
        let mut row = match (from_dumps, text) {
            (Some(mut row), Some(mut text)) => {
                add_versions(&mut row, &mut text);
                row
            }
            (Some(row), None) => row,
            (None, Some(text)) => journal_only_row(key, text, &self.path, dumps, times),
            (None, None) => return Ok((None, Vec::new())),
        };
        mark_sources(&mut row);
        let name = Names::of_text(row.username.as_deref(), row.user_id, &row.task);
        let warnings = self
            .covered
            .iter()
            .zip(summaries)
            .filter_map(|(covered, texts)| {
                covered
                    .as_ref()?
                    .disagreement(texts.get(&key), &stood, &name)
            })
            .collect();
        Ok((Some(row), warnings))
    }
}

/// How long after the time in its name a backup may have taken its
/// snapshot: pg_dump starts, connects and takes it within this.
const SNAPSHOT_SLACK: TimeDelta = TimeDelta::seconds(5);

/// A backup whose moment the journal covers: its name gives the time to
/// the second, and the journal's polls bracket that moment (and the
/// [`SNAPSHOT_SLACK`] after it) within one run.
#[derive(Debug, Clone)]
pub struct CoveredBackup {
    pub taken: DateTime<Utc>,
    p0: Poll,
    p1: Poll,
    /// How warnings name the backup and the polls.
    backup: String,
    polls: String,
}

impl CoveredBackup {
    /// Backup `path` where the journal covers its moment, else None.
    pub fn of(reader: &JournalReader, path: &str) -> Result<Option<CoveredBackup>> {
        let Some(taken) = taken_at(path) else {
            return Ok(None);
        };
        let Some((p0, p1)) = reader.bracket(taken, taken + SNAPSHOT_SLACK)? else {
            return Ok(None);
        };
        let polls = format!(
            "polls at {} and {}",
            p0.at.format("%Y-%m-%d %H:%M:%S UTC"),
            p1.at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let backup = format!(
            "backup {} (taken {})",
            crate::escape::visible(path),
            taken.format("%Y-%m-%d %H:%M:%S UTC")
        );
        Ok(Some(CoveredBackup {
            taken,
            p0,
            p1,
            backup,
            polls,
        }))
    }

    /// The warning where the backup's text (`in_backup`, None: it lacks
    /// the text) and the journal's versions of it (`stood`) disagree at
    /// the backup's moment; `name`: the text as [`Names::of_text`] names
    /// it. A text whose version changed between the two polls may be
    /// either: only a backup's text that is neither is a disagreement.
    pub fn disagreement(
        &self,
        in_backup: Option<&TextSummary>,
        stood: &[Stood],
        name: &str,
    ) -> Option<String> {
        let (p0, p1) = (&self.p0, &self.p1);
        let short = |sha: &journal::Sha256| hex(&sha[..6]);
        let what = match in_backup {
            Some(s) => {
                let between: Vec<&Stood> =
                    stood.iter().filter(|v| v.stood_between(p0, p1)).collect();
                if between.is_empty() {
                    "the backup has a text the journal says did not exist then".to_string()
                } else if between.iter().any(|v| v.sha256 == s.sha256) {
                    return None;
                } else {
                    format!(
                        "the backup's text (sha256 {}) is not the journal's version then ({})",
                        short(&s.sha256),
                        between
                            .iter()
                            .map(|v| format!("sha256 {}", short(&v.sha256)))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    )
                }
            }
            None => {
                let had = stood.iter().find(|v| v.stood_throughout(p0, p1))?;
                format!(
                    "the backup lacks the text the journal had then (sha256 {})",
                    short(&had.sha256)
                )
            }
        };
        Some(format!(
            "{} and the journal disagree on {name}: {what} ({})",
            self.backup, self.polls
        ))
    }

    /// For `texts DIR --at`: a warning per text where this backup (its
    /// texts that pass the filters, `in_backup`) and the journal disagree
    /// at the backup's moment, over the texts that pass `filter` in the
    /// backup or in one of the journal's versions then. One query for the
    /// journal's side; no text is decompressed.
    pub fn disagreements(
        &self,
        reader: &JournalReader,
        names: &Names,
        filter: &Filter,
        in_backup: &HashMap<Key, TextSummary>,
    ) -> Result<Vec<String>> {
        let mut journal: BTreeMap<Key, (bool, Vec<Stood>)> = BTreeMap::new();
        for v in reader.versions_between(&self.p0, &self.p1)? {
            let key = (v.meta.user_id, v.meta.task_id);
            let passed = passes(
                filter,
                &v.meta,
                names.usernames.get(&key.0),
                names.tasks.get(&key.1),
            );
            let entry = journal.entry(key).or_default();
            entry.0 |= passed;
            entry.1.push(Stood::of(&v));
        }
        let keys: BTreeSet<Key> = in_backup
            .iter()
            .filter(|(_, s)| s.matched)
            .map(|(k, _)| *k)
            .chain(journal.iter().filter(|(_, j)| j.0).map(|(k, _)| *k))
            .collect();
        let mut warnings = Vec::new();
        for key in keys {
            let backup = in_backup.get(&key);
            let stood = journal.get(&key).map_or(&[][..], |j| &j.1);
            let username = backup
                .and_then(|s| s.username.clone())
                .or_else(|| names.usernames.get(&key.0).cloned());
            let task = backup
                .and_then(|s| s.task.clone())
                .or_else(|| names.tasks.get(&key.1).map(Task::label))
                .unwrap_or_else(|| format!("?-{}", key.1));
            let name = Names::of_text(username.as_deref(), key.0, &task);
            warnings.extend(self.disagreement(backup, stood, &name));
        }
        Ok(warnings)
    }
}

/// When a backup was taken, from a name that gives the time to the second
/// (`..._20240305-021500...`); None for a date alone or no date.
pub fn taken_at(path: &str) -> Option<DateTime<Utc>> {
    let name = std::path::Path::new(path).file_name()?.to_str()?;
    let dated = folder_names::dated_name(name)?;
    dated.timed.then(|| dated.when.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_with_a_time_say_when_a_backup_was_taken() {
        assert_eq!(
            taken_at("/b/buggy_race_bk_20240305-021500.sql.gz").map(|t| t.to_rfc3339()),
            Some("2024-03-05T02:15:00+00:00".to_string())
        );
        assert_eq!(taken_at("/b/buggy_race_bk_20240305.sql.gz"), None);
        assert_eq!(taken_at("/b/nightly.sql"), None);
    }

    #[test]
    fn a_version_stood_between_or_throughout_two_polls() {
        let poll = |id| Poll {
            id,
            at: DateTime::from_timestamp(id * 60, 0).unwrap(),
            run: 1,
            ok: true,
        };
        let s = |first_poll, ended_poll| Stood {
            sha256: [0; 32],
            first_poll,
            ended_poll,
        };
        let (p0, p1) = (poll(5), poll(6));
        assert!(s(1, None).stood_throughout(&p0, &p1));
        assert!(s(6, None).stood_between(&p0, &p1));
        assert!(!s(6, None).stood_throughout(&p0, &p1));
        assert!(s(1, Some(6)).stood_between(&p0, &p1));
        assert!(!s(1, Some(5)).stood_between(&p0, &p1));
        assert!(!s(7, None).stood_between(&p0, &p1));
    }
}
