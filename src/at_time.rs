//! The texts of a backups folder as they stood at a time (`texts DIR
//! --at TIME`): from the journal of `watch` where it covers the time, else
//! from the newest backup in the folder dated before it. This module only
//! chooses, and reads the journal; a backup chosen is read by the caller
//! through the normal dump path. Where the journal answers, it also says
//! where the journal and a backup taken inside its coverage disagree
//! ([`disagreements`]).

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::dump::ReadOptions;
use crate::filter::Filter;
use crate::history::journal::{CoveredBackup, Names, taken_at};
use crate::history::{Outcome, summarize};
use crate::journal::{JournalReader, Poll};
use crate::nightlies;
use crate::texts::Texts;

/// Where the texts at a time come from.
#[derive(Debug)]
pub enum Source {
    /// The journal covers the time: its texts as poll `poll` saw them,
    /// already filtered.
    Journal { poll: Poll, texts: Texts },
    /// The newest backup dated before the time; `why` says why not the
    /// journal.
    Backup { path: PathBuf, why: String },
}

impl Source {
    /// What a reader is told of the source, for stderr.
    pub fn describe(&self, at: DateTime<Utc>) -> String {
        match self {
            Source::Journal { poll, .. } => format!(
                "from the journal, poll at {}",
                poll.at.format("%Y-%m-%d %H:%M:%S%.6f UTC")
            ),
            Source::Backup { path, why } => format!(
                "from backup {}, the newest before {}: {why}",
                path.display(),
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        }
    }
}

/// `--at`'s time: RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` (also with a `T`)
/// in UTC.
pub fn parse_time(value: &str) -> Result<DateTime<Utc>> {
    parse_time_of("--at", value)
}

/// [`parse_time`] for option `option` (named in the error).
pub fn parse_time_of(option: &str, value: &str) -> Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    for form in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(value, form) {
            return Ok(naive.and_utc());
        }
    }
    bail!(
        "{option} {value:?} is not a time: say 2024-03-05T14:22:00Z (RFC 3339) or \
         2024-03-05 14:22[:00] (UTC)"
    )
}

/// The texts of backups folder `dir` at `at`, keeping those that pass
/// `keep`. Warnings about the folder's files go to `warnings`.
pub fn choose(
    dir: &Path,
    at: DateTime<Utc>,
    keep: &Filter,
    warnings: &mut Vec<String>,
) -> Result<Source> {
    let in_bucket = dir.to_str().is_some_and(crate::remote::Location::is_remote);
    let journal = if in_bucket {
        None
    } else {
        JournalReader::open(dir)?
    };
    let why = match journal {
        Some(journal) => match journal.texts_at(at)? {
            Some(snapshot) => {
                let texts = journal.texts_of(&snapshot, Some(keep))?;
                return Ok(Source::Journal {
                    poll: snapshot.poll,
                    texts,
                });
            }
            None => "the journal does not cover that time",
        },
        None if in_bucket => "copies in a bucket have no journal",
        None => "the folder has no journal",
    };
    let path = newest_backup_before(dir, at, warnings)?.ok_or_else(|| {
        anyhow!(
            "{}: {why}, and no backup in it is dated before {}",
            dir.display(),
            at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    })?;
    Ok(Source::Backup {
        path,
        why: why.to_string(),
    })
}

/// For texts the journal gave (`texts DIR --at`): a warning per text
/// where the journal and a backup disagree about it. The backup compared
/// is the newest in `dir` taken at or before `at` at a moment the journal
/// covers (its name gives the time to the second; see
/// [`CoveredBackup`]): it is read once, keeping only the texts that pass
/// `keep` (`options`: how backups are read), and compared with the
/// versions the journal held at its moment, for every text that passes
/// `keep` in the backup or in the journal then. Nothing where no backup
/// qualifies, or it cannot be read (said first, with what is said about
/// the folder's files): every line is a warning for stderr.
pub fn disagreements(
    dir: &Path,
    at: DateTime<Utc>,
    keep: &Filter,
    options: &ReadOptions,
) -> Result<Vec<String>> {
    let mut said = Vec::new();
    let found = compare_with_backup(dir, at, keep, options, &mut said)?;
    said.extend(found);
    Ok(said)
}

/// [`disagreements`]: the disagreements, and in `warnings` what else is
/// said.
fn compare_with_backup(
    dir: &Path,
    at: DateTime<Utc>,
    keep: &Filter,
    options: &ReadOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>> {
    let Some(journal) = JournalReader::open(dir)? else {
        return Ok(Vec::new());
    };
    let found = nightlies::candidates(&[dir.to_path_buf()], warnings)?;
    let kept = nightlies::one_prefix(found, None, warnings)?;
    let mut chosen = None;
    // Newest first.
    for c in kept.into_iter().rev() {
        let path = c.path.to_string_lossy().into_owned();
        let Some(taken) = taken_at(&path) else {
            continue;
        };
        if taken > at {
            continue;
        }
        if let Some(covered) = CoveredBackup::of(&journal, &path)? {
            chosen = Some((c, covered));
            break;
        }
    }
    let Some((backup, covered)) = chosen else {
        return Ok(Vec::new());
    };
    let mut options = ReadOptions {
        progress: false,
        shared_progress: None,
        ..options.clone()
    };
    options.keep_only(keep);
    let in_backup = match summarize(&backup, &options, keep) {
        Outcome::Read {
            texts,
            warnings: more,
            ..
        } => {
            warnings.extend(more);
            texts
        }
        Outcome::Skipped(why) | Outcome::Failed(why) => {
            warnings.push(format!(
                "{}: not compared with the journal: {why}",
                backup.path.display()
            ));
            return Ok(Vec::new());
        }
    };
    let names = Names::read(&journal)?;
    covered.disagreements(&journal, &names, keep, &in_backup)
}

/// The newest backup of `dir` dated before `at` (of the database with the
/// newest backups, where the folder holds several's).
fn newest_backup_before(
    dir: &Path,
    at: DateTime<Utc>,
    warnings: &mut Vec<String>,
) -> Result<Option<PathBuf>> {
    let found = nightlies::candidates(&[dir.to_path_buf()], warnings)?;
    let kept = nightlies::one_prefix(found, None, warnings)?;
    let limit = at.timestamp_nanos_opt().map_or(i128::MAX, i128::from);
    // Oldest first: the last one before the time.
    Ok(kept
        .into_iter()
        .rev()
        .find(|c| c.when < limit)
        .map(|c| c.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_utc() {
        let utc = |s: &str| parse_time(s).unwrap().to_rfc3339();
        assert_eq!(
            utc("2024-03-05T14:22:00+02:00"),
            "2024-03-05T12:22:00+00:00"
        );
        assert_eq!(utc("2024-03-05T14:22:00Z"), "2024-03-05T14:22:00+00:00");
        assert_eq!(utc("2024-03-05 14:22"), "2024-03-05T14:22:00+00:00");
        assert_eq!(
            utc("2024-03-05 14:22:07.5"),
            "2024-03-05T14:22:07.500+00:00"
        );
        for bad in ["", "2024-03-05", "yesterday", "2024-03-05 25:00"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
