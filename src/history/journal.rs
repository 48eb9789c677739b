//! The journal's side of `history`: each text's versions as the journal of
//! `watch` recorded them (and its deletions), put on the nightlies'
//! timeline; and where a nightly and the journal disagree about a text at
//! the moment the nightly was taken.
//!
//! Memory: one text's journal versions at a time are read (metadata only,
//! and each version's content decompressed once to count its characters).

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, TimeDelta, Utc};

use super::{JOURNAL, Key, TextHistory, TextSummary, Version, stamp};
use crate::filter::Filter;
use crate::folder_names;
use crate::hex::hex;
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
struct Stood {
    sha256: journal::Sha256,
    first_poll: i64,
    /// The poll that found it replaced or deleted (None: current).
    ended_poll: Option<i64>,
}

impl Stood {
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
    /// into history's rows by [`merge`].
    pub versions: Vec<Version>,
    pub standing: Standing,
    /// The newest present version, for the restore command.
    last: TextSummary,
    stood: Vec<Stood>,
}

/// The journal's texts that history shows.
#[derive(Debug, Default)]
pub struct JournalTexts {
    /// The journal file, as `dump` of its versions.
    pub path: String,
    pub texts: BTreeMap<Key, JournalText>,
}

/// The journal's versions of every text that passes `filter` in one of
/// them, and of every text in `also` (shown because a dump has it).
pub fn read(
    reader: &JournalReader,
    path: &str,
    filter: &Filter,
    also: &HashSet<Key>,
) -> Result<JournalTexts> {
    let usernames = reader.usernames()?;
    let tasks = reader.tasks()?;
    let mut texts = BTreeMap::new();
    for (user_id, task_id) in reader.pairs()? {
        let versions = reader.versions_for(user_id, task_id)?;
        let key = (user_id, task_id);
        let username = usernames.get(&user_id);
        let task = tasks.get(&task_id);
        let matched = versions
            .iter()
            .any(|v| passes(filter, &v.meta, username, task));
        if !matched && !also.contains(&key) {
            continue;
        }
        if let Some(text) = text_of(reader, path, &versions, username, task)? {
            texts.insert(key, text);
        }
    }
    Ok(JournalTexts {
        path: path.to_string(),
        texts,
    })
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

fn text_of(
    reader: &JournalReader,
    path: &str,
    versions: &[journal::Version],
    username: Option<&String>,
    task: Option<&Task>,
) -> Result<Option<JournalText>> {
    let mut out = Vec::with_capacity(versions.len() + 1);
    let mut stood = Vec::with_capacity(versions.len());
    let mut last = None;
    let mut last_seen = None;
    let mut live = false;
    for v in versions {
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
            sha256: Some(sha256.clone()),
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
        stood.push(Stood {
            sha256: v.sha256,
            first_poll: v.first_seen.id,
            ended_poll: v.ended.as_ref().map(|e| e.id),
        });
        live |= v.ended.is_none();
        last_seen = last_seen.max(Some(v.last_seen.at));
        last = Some(TextSummary {
            id: v.meta.row_id,
            modified_at,
            length,
            sha256,
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

/// The dumps' rows with the journal's versions put in by time, and a row
/// for each text only the journal has (absent from every dump). `dumps`
/// and `times`: as for [`super::histories`].
pub fn merge(
    mut rows: Vec<TextHistory>,
    journal: &mut JournalTexts,
    dumps: &[String],
    times: &[String],
) -> Vec<TextHistory> {
    let mut done = HashSet::new();
    for row in &mut rows {
        let key = (row.user_id, row.task_id);
        if let Some(j) = journal.texts.get_mut(&key) {
            add_versions(row, j);
            done.insert(key);
        }
    }
    for (&(user_id, task_id), j) in &mut journal.texts {
        if done.contains(&(user_id, task_id)) {
            continue;
        }
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
            last_seen: journal.path.clone(),
            in_latest: false,
            last: j.last.clone(),
            restore: None,
            journal: None,
        };
        add_versions(&mut row, j);
        rows.push(row);
    }
    // With a journal, every version says where it is from and when.
    for v in rows.iter_mut().flat_map(|r| r.versions.iter_mut()) {
        v.source = Some(v.origin);
        v.at = Some(std::mem::take(&mut v.place));
    }
    super::sort(&mut rows);
    rows
}

/// Moves `j`'s versions into `row` (memory holds them once).
fn add_versions(row: &mut TextHistory, j: &mut JournalText) {
    row.versions.append(&mut j.versions);
    // Stable: at one time, a backup before the journal's version.
    row.versions.sort_by(|a, b| a.place.cmp(&b.place));
    row.journal = Some(j.standing.clone());
    if row.username.is_none() {
        row.username = j.username.clone();
    }
}

/// How long after the time in its name a backup may have taken its
/// snapshot: pg_dump starts, connects and takes it within this.
const SNAPSHOT_SLACK: TimeDelta = TimeDelta::seconds(5);

/// One dump of history: its path and its texts' summaries.
pub struct DumpSide<'a> {
    pub path: &'a str,
    pub texts: &'a HashMap<Key, TextSummary>,
}

/// A warning for each text where a dump and the journal disagree at the
/// moment the dump was taken: only dumps whose name gives the time to the
/// second, and only where the journal's polls bracket that moment (and the
/// [`SNAPSHOT_SLACK`] after it) within one run. A text whose version
/// changed between the two polls may be either: only a dump's text that is
/// neither is a disagreement.
pub fn disagreements(
    reader: &JournalReader,
    journal: &JournalTexts,
    dumps: &[DumpSide<'_>],
    keys: &[Key],
    name_of: impl Fn(&Key) -> String,
) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for dump in dumps {
        let Some(taken) = taken_at(dump.path) else {
            continue;
        };
        let Some((p0, p1)) = reader.bracket(taken, taken + SNAPSHOT_SLACK)? else {
            continue;
        };
        let polls = format!(
            "polls at {} and {}",
            p0.at.format("%Y-%m-%d %H:%M:%S UTC"),
            p1.at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let backup = format!(
            "backup {} (taken {})",
            crate::escape::visible(dump.path),
            taken.format("%Y-%m-%d %H:%M:%S UTC")
        );
        for key in keys {
            let stood: &[Stood] = journal.texts.get(key).map_or(&[], |j| &j.stood);
            let between: Vec<&Stood> = stood.iter().filter(|s| s.stood_between(&p0, &p1)).collect();
            let what = match dump.texts.get(key) {
                Some(_) if between.is_empty() => {
                    Some("the backup has a text the journal says did not exist then".to_string())
                }
                Some(s) if !between.iter().any(|b| hex(&b.sha256) == s.sha256) => Some(format!(
                    "the backup's text (sha256 {}) is not the journal's version then ({})",
                    &s.sha256[..12],
                    between
                        .iter()
                        .map(|b| format!("sha256 {}", &hex(&b.sha256)[..12]))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
                Some(_) => None,
                None => stood
                    .iter()
                    .find(|s| s.stood_throughout(&p0, &p1))
                    .map(|s| {
                        format!(
                            "the backup lacks the text the journal had then (sha256 {})",
                            &hex(&s.sha256)[..12]
                        )
                    }),
            };
            if let Some(what) = what {
                warnings.push(format!(
                    "{backup} and the journal disagree on {}: {what} ({polls})",
                    name_of(key)
                ));
            }
        }
    }
    Ok(warnings)
}

/// When a backup was taken, from a name that gives the time to the second
/// (`..._20240305-021500...`); None for a date alone or no date.
fn taken_at(path: &str) -> Option<DateTime<Utc>> {
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
