//! What `check` judges of a backups folder: the newest backup's age, that it
//! reads back complete, its size against the week before it, the last
//! restore drill's outcome and age, and the journal's last poll. Each
//! problem is one line; notes say what is merely worth knowing.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::folder::{BackupFile, FolderState};
use super::metrics::{CHECK_SUCCESS, Metrics};
use crate::counts::{human_size, plural};
use crate::dump::{self, ReadOptions};
use crate::durations::{limit_words, words};
use crate::input::Source;
use crate::inspect;

/// The limits a check holds the folder to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The newest backup may be this old (`--max-age`).
    pub max_age: Duration,
    /// The last drill may be this old (`--max-drill-age`).
    pub max_drill_age: Duration,
    /// The journal's last poll may be this old (`--max-poll-age`).
    pub max_poll_age: Duration,
    /// A folder without any drill is a problem, not a note (`--require-drill`).
    pub require_drill: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_age: Duration::from_secs(26 * 3600),
            max_drill_age: Duration::from_secs(8 * 86_400),
            max_poll_age: Duration::from_secs(10 * 60),
            require_drill: false,
        }
    }
}

/// A backup is suspiciously small below this share of the median of the
/// backups of the [`SIZE_WINDOW`] before it...
pub const SHRUNKEN: f64 = 0.5;
/// ...the days before the newest backup it is compared with...
pub const SIZE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(7);
/// ...when there are at least this many of them (of its format).
pub const SIZE_BASELINE: usize = 3;

/// What a check found.
#[derive(Debug, Clone)]
pub struct Findings {
    /// One line each; none: all is well.
    pub problems: Vec<String>,
    /// Worth knowing, not wrong (no drill yet, ...).
    pub notes: Vec<String>,
    /// What was looked at, in one line (for the all-well line).
    pub summary: String,
    /// Every metric, `textrescue_check_success` included.
    pub metrics: Metrics,
}

impl Findings {
    pub fn all_well(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks backups folder `dir` (its backups named `prefix` + date; by
/// default the series with the newest backup) against `limits` at `now`.
pub fn check(
    dir: &Path,
    prefix: Option<&str>,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Findings> {
    let state = FolderState::read(dir, prefix)?;
    let mut problems = Vec::new();
    let mut notes = state.warnings.clone();
    let mut summary = Vec::new();

    match state.newest() {
        None => problems.push(format!("there is no backup in {}", dir.display())),
        Some(newest) => {
            let age = age(now, newest.when);
            if age > limits.max_age {
                problems.push(format!(
                    "the newest backup, {}, is {} old: older than --max-age {}",
                    newest.name,
                    words(age),
                    limit_words(limits.max_age)
                ));
            }
            let read = read_back(newest);
            if let Err(why) = &read {
                problems.push(format!(
                    "the newest backup, {}, does not read back complete: {why}",
                    newest.name
                ));
            }
            if let Some(problem) = shrunken(&state.backups, newest) {
                problems.push(problem);
            }
            summary.push(format!(
                "newest backup {} ({} old, {}{}); {} backup{}",
                newest.name,
                words(age),
                human_size(newest.bytes),
                read.map(|texts| format!(", reads back complete, {texts}"))
                    .unwrap_or_default(),
                state.backups.len(),
                plural(state.backups.len())
            ));
        }
    }

    match state.last_drill() {
        None if limits.require_drill => problems.push(format!(
            "no restore drill was ever recorded in {} (textrescue drill, weekly)",
            dir.display()
        )),
        None => notes.push(format!(
            "no restore drill recorded in {} yet: a weekly `textrescue drill` proves the \
             backups restore",
            dir.display()
        )),
        Some(last) => {
            let age = age(now, last.finished_at);
            if !last.success {
                problems.push(format!(
                    "the last restore drill ({}, of {}) failed: {}",
                    last.finished_at.format("%Y-%m-%d %H:%M UTC"),
                    last.backup,
                    if last.failures.is_empty() {
                        "it says no more".to_string()
                    } else {
                        last.failures.join("; ")
                    }
                ));
            }
            if age > limits.max_drill_age {
                problems.push(format!(
                    "the last restore drill was {} ago: older than --max-drill-age {}",
                    words(age),
                    limit_words(limits.max_drill_age)
                ));
            }
            summary.push(format!(
                "last drill {} ago {}{}",
                words(age),
                if last.success { "passed" } else { "failed" },
                last.restore_seconds
                    .map(|s| format!(" (restore {s:.1} s)"))
                    .unwrap_or_default()
            ));
        }
    }

    if let Some(journal) = &state.journal {
        match &journal.last {
            None => problems.push("the journal (textrescue watch) has recorded no poll".into()),
            Some(last) => {
                let age = age(now, last.at);
                if age > limits.max_poll_age {
                    problems.push(format!(
                        "the journal's last poll was {} ago: older than --max-poll-age {} \
                         (is textrescue watch running?){}",
                        words(age),
                        limit_words(limits.max_poll_age),
                        if last.ok {
                            ""
                        } else {
                            "; it found the database down"
                        }
                    ));
                } else if !last.ok {
                    problems.push(format!(
                        "the journal's last poll, {} ago, found the database down",
                        words(age)
                    ));
                }
                summary.push(format!("journal polled {} ago", words(age)));
            }
        }
    }

    let mut metrics = Metrics::of_folder(&state);
    metrics.set(CHECK_SUCCESS, if problems.is_empty() { 1.0 } else { 0.0 });
    Ok(Findings {
        problems,
        notes,
        summary: format!("{}: {}", dir.display(), summary.join("; ")),
        metrics,
    })
}

/// How long ago `then` was (zero if after `now`).
fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or(Duration::ZERO)
}

/// Reads `backup` as `inspect` does (all of it, counting rows); what it
/// holds of texts, or what is wrong.
fn read_back(backup: &BackupFile) -> Result<String, String> {
    let options = ReadOptions {
        count_texts_only: true,
        count_rows: true,
        salvage: true,
        progress: false,
        ..ReadOptions::default()
    };
    let report = match dump::read(&Source::Path(backup.path.clone()), &options) {
        Ok(d) => inspect::report(&d),
        Err(e) => return Err(one_line(&format!("{e:#}"))),
    };
    if let Some(error) = report.error {
        return Err(one_line(&error));
    }
    if let Some(problem) = report.problem {
        return Err(one_line(&problem));
    }
    if !report.complete {
        return Err("it ends before its end-of-dump marker (cut short?)".into());
    }
    if let Some(problem) = report.texts_problem {
        return Err(one_line(&problem));
    }
    Ok(match report.texts {
        Some(n) => format!("{n} text{}", plural(n)),
        None => "no texts table".into(),
    })
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

/// A problem line if `newest` is much smaller than the median of the
/// backups of its format taken in the week before it.
fn shrunken(backups: &[BackupFile], newest: &BackupFile) -> Option<String> {
    let mut sizes: Vec<u64> = backups
        .iter()
        .filter(|b| {
            b.path != newest.path
                && b.kind() == newest.kind()
                && b.when <= newest.when
                && b.when >= newest.when - SIZE_WINDOW
        })
        .map(|b| b.bytes)
        .collect();
    if sizes.len() < SIZE_BASELINE {
        return None;
    }
    sizes.sort_unstable();
    let n = sizes.len();
    let median = if n % 2 == 1 {
        sizes[n / 2] as f64
    } else {
        (sizes[n / 2 - 1] as f64 + sizes[n / 2] as f64) / 2.0
    };
    ((newest.bytes as f64) < SHRUNKEN * median).then(|| {
        format!(
            "the newest backup, {}, is {}, less than half the median ({}) of the {n} backups \
             of the 7 days before it: did tables or rows go missing?",
            newest.name,
            human_size(newest.bytes),
            human_size(median as u64)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(name: &str, day: i64, bytes: u64) -> BackupFile {
        BackupFile {
            path: name.into(),
            name: name.into(),
            when: DateTime::from_timestamp(1_700_000_000 + day * 86_400, 0).unwrap(),
            bytes,
        }
    }

    #[test]
    fn a_backup_under_half_the_median_of_the_week_is_shrunken() {
        let mut all = vec![
            backup("a_1.sql.gz", 1, 1000),
            backup("a_2.sql.gz", 2, 1100),
            backup("a_3.sql.gz", 3, 900),
        ];
        let small = backup("a_4.sql.gz", 4, 400);
        all.push(small.clone());
        let line = shrunken(&all, &small).unwrap();
        assert!(line.contains("a_4.sql.gz, is 400 B"), "{line}");
        assert!(line.contains("median (1000 B) of the 3 backups"), "{line}");
        // Half is not less than half.
        let half = backup("a_4.sql.gz", 4, 500);
        assert_eq!(shrunken(&all[..3], &half), None);
        // Older than a week, another format, or too few: no baseline.
        let late = backup("a_20.sql.gz", 20, 10);
        assert_eq!(shrunken(&all, &late), None);
        let custom = backup("a_4.dump", 4, 10);
        assert_eq!(shrunken(&all, &custom), None);
        assert_eq!(shrunken(&all[..2], &small), None);
    }
}
