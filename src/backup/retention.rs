//! Which old backups to remove: the grandfather-father-son rule on the files
//! named `PREFIX + YYYYMMDD[-HHMMSS[-N]] + (.sql.gz | .dump)`, and nothing else.
//!
//! Backups are ordered by the time in their name (a date-only name, as the old
//! cron script wrote, counts as 00:00:00 that day). `--keep-daily N` keeps the
//! newest backup of each of the N most recent days that have a backup;
//! `--keep-weekly N` the same per ISO week, `--keep-monthly N` per calendar
//! month. A backup kept by any rule is kept; the backup just taken is always
//! kept (and takes its day's, week's and month's slot). With no `--keep-*`
//! option nothing is removed.
//!
//! A name dated after now ([`folder_names::after_now`]: a clock set wrong, then
//! corrected, or a planted file) is not trusted: it holds no slot (else a
//! few such names would push every real backup out) and is never removed;
//! the run reports it.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

use crate::folder_names;

/// One file that is a backup by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub name: String,
    pub when: NaiveDateTime,
    /// Whether its name has a time, not only a date.
    pub timed: bool,
    /// The `-N` suffix a second backup within one second gets (0 without).
    pub seq: u32,
}

/// What retention does in a folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The names to remove, oldest first.
    pub remove: Vec<String>,
    /// The names dated after now, left alone (to report).
    pub future: Vec<String>,
}

/// The `--keep-*` options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    pub daily: Option<usize>,
    pub weekly: Option<usize>,
    pub monthly: Option<usize>,
}

impl Keep {
    pub fn any(&self) -> bool {
        self.daily.is_some() || self.weekly.is_some() || self.monthly.is_some()
    }
}

/// The regular files in `dir` that are backups with this prefix.
pub fn scan(dir: &Path, prefix: &str) -> Result<Vec<Backup>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some((when, timed, seq)) =
            folder_names::backup_with_prefix(&name, prefix).map(|d| (d.when, d.timed, d.seq))
        else {
            continue;
        };
        // Never a directory or a symlink, whatever its name.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        found.push(Backup {
            name,
            when,
            timed,
            seq,
        });
    }
    Ok(found)
}

/// Removes the backups with this prefix in `dir` that [`plan`] picks (with
/// `dry_run`, none); returns the plan. Fails naming each one that could
/// not be removed.
pub fn apply(dir: &Path, prefix: &str, new_name: &str, keep: &Keep, dry_run: bool) -> Result<Plan> {
    let plan = plan(&scan(dir, prefix)?, new_name, keep, Utc::now());
    if dry_run {
        return Ok(plan);
    }
    let failed: Vec<String> = plan
        .remove
        .iter()
        .filter_map(|name| {
            let e = std::fs::remove_file(dir.join(name)).err()?;
            Some(format!("{name}: {e}"))
        })
        .collect();
    if !failed.is_empty() {
        bail!("removing old backups failed: {}", failed.join("; "));
    }
    Ok(plan)
}

/// A day, an ISO week or a month, as a comparable key.
type Period = fn(&NaiveDateTime) -> (i32, u32);

/// The names to remove (oldest first) at `now`, and those dated after it.
/// `new_name` is never removed; nor is a name dated after now, which holds
/// no slot either.
pub fn plan(backups: &[Backup], new_name: &str, keep: &Keep, now: DateTime<Utc>) -> Plan {
    let (future, trusted): (Vec<&Backup>, Vec<&Backup>) = backups
        .iter()
        .partition(|b| b.name != new_name && folder_names::after_now(b.when, b.timed, now));
    let mut future: Vec<String> = future.into_iter().map(|b| b.name.clone()).collect();
    future.sort();
    if !keep.any() {
        return Plan {
            remove: Vec::new(),
            future,
        };
    }
    let mut sorted = trusted;
    // Newest first.
    sorted.sort_by(|a, b| (b.when, b.seq, &b.name).cmp(&(a.when, a.seq, &a.name)));
    let mut kept: HashSet<&str> = HashSet::new();
    kept.insert(new_name);
    let rules: [(Option<usize>, Period); 3] = [
        (keep.daily, |t| (t.year(), t.ordinal())),
        (keep.weekly, |t| {
            let w = t.iso_week();
            (w.year(), w.week())
        }),
        (keep.monthly, |t| (t.year(), t.month())),
    ];
    for (count, period) in rules {
        let Some(count) = count else { continue };
        let mut seen: Vec<(i32, u32)> = Vec::new();
        for b in &sorted {
            let p = period(&b.when);
            if seen.contains(&p) {
                continue;
            }
            if seen.len() == count {
                break;
            }
            seen.push(p);
            kept.insert(&b.name);
        }
    }
    let mut remove: Vec<&Backup> = sorted
        .into_iter()
        .filter(|b| !kept.contains(b.name.as_str()))
        .collect();
    remove.reverse();
    Plan {
        remove: remove.into_iter().map(|b| b.name.clone()).collect(),
        future,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "buggy_race_bk_";

    #[test]
    fn names() {
        let t = |s: &str| folder_names::parse_name(s, P).map(|(w, n)| (w.to_string(), n));
        assert_eq!(
            t("buggy_race_bk_20240305.sql.gz"),
            Some(("2024-03-05 00:00:00".into(), 0))
        );
        assert_eq!(
            t("buggy_race_bk_20240305-142211.dump"),
            Some(("2024-03-05 14:22:11".into(), 0))
        );
        assert_eq!(
            t("buggy_race_bk_20240305-142211-2.sql.gz"),
            Some(("2024-03-05 14:22:11".into(), 2))
        );
        for bad in [
            "buggy_race_bk_20240305.sql",
            "buggy_race_bk_20240305.sql.gz.bak",
            "buggy_race_bk_2024030.sql.gz",
            "buggy_race_bk_20240230.sql.gz",
            "buggy_race_bk_20240305-1422.sql.gz",
            "buggy_race_bk_20240305-142271.sql.gz",
            "buggy_race_bk_20240305-142211-.sql.gz",
            "buggy_race_bk_20240305-142211-02.sql.gz",
            "buggy_race_bk_20240305_142211.sql.gz",
            "other_bk_20240305.sql.gz",
            "xbuggy_race_bk_20240305.sql.gz",
            ".buggy_race_bk_20240305.sql.gz",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    fn b(name: &str) -> Backup {
        let d = folder_names::backup_with_prefix(name, P).unwrap();
        Backup {
            name: name.into(),
            when: d.when,
            timed: d.timed,
            seq: d.seq,
        }
    }

    /// A moment after every name in these tests.
    fn later() -> DateTime<Utc> {
        "2024-12-31T00:00:00Z".parse().unwrap()
    }

    fn remove(all: &[Backup], new: &str, keep: &Keep) -> Vec<String> {
        let plan = plan(all, new, keep, later());
        assert!(plan.future.is_empty());
        plan.remove
    }

    #[test]
    fn grandfather_father_son() {
        let names = [
            "buggy_race_bk_20240310-020000.sql.gz", // new: Sun, ISO week 10
            "buggy_race_bk_20240309-020000.sql.gz", // Sat W10
            "buggy_race_bk_20240309.sql.gz",        // Sat W10, older that day
            "buggy_race_bk_20240308-020000.dump",   // Fri W10
            "buggy_race_bk_20240307-020000.sql.gz", // Thu W10
            "buggy_race_bk_20240303-020000.sql.gz", // Sun W9
            "buggy_race_bk_20240301-020000.sql.gz", // Fri W9
            "buggy_race_bk_20240229-020000.sql.gz", // Feb, W9
            "buggy_race_bk_20240225-020000.sql.gz", // Feb, W8
            "buggy_race_bk_20240131-020000.sql.gz", // Jan
        ];
        let all: Vec<Backup> = names.iter().map(|n| b(n)).collect();
        let keep = Keep {
            daily: Some(3),
            weekly: Some(2),
            monthly: Some(2),
        };
        let removed = remove(&all, names[0], &keep);
        // daily: 0310, 0309-020000, 0308; weekly: W10 (0310), W9 (0303);
        // monthly: 2024-03 (0310), 2024-02 (0229).
        assert_eq!(
            removed,
            [
                "buggy_race_bk_20240131-020000.sql.gz",
                "buggy_race_bk_20240225-020000.sql.gz",
                "buggy_race_bk_20240301-020000.sql.gz",
                "buggy_race_bk_20240307-020000.sql.gz",
                "buggy_race_bk_20240309.sql.gz",
            ]
        );
        assert!(remove(&all, names[0], &Keep::default()).is_empty());
        // The new backup survives even a rule that keeps nothing.
        let zero = Keep {
            daily: Some(0),
            ..Keep::default()
        };
        let removed = remove(&all, names[5], &zero);
        assert_eq!(removed.len(), names.len() - 1);
        assert!(!removed.contains(&names[5].to_string()));
    }

    #[test]
    fn same_second_suffix_orders_after() {
        let all = vec![
            b("buggy_race_bk_20240310-020000.sql.gz"),
            b("buggy_race_bk_20240310-020000-2.sql.gz"),
        ];
        let keep = Keep {
            daily: Some(1),
            ..Keep::default()
        };
        assert_eq!(
            remove(&all, "buggy_race_bk_20240310-020000-2.sql.gz", &keep),
            ["buggy_race_bk_20240310-020000.sql.gz"]
        );
    }

    /// The case that lost a week of backups: three names dated after now
    /// took the three daily slots, and every real backup but the new one
    /// went. They hold no slot, are never removed, and are reported.
    #[test]
    fn names_dated_after_now_hold_no_slot_and_stay() {
        let now: DateTime<Utc> = "2024-03-10T02:00:05Z".parse().unwrap();
        let new = "buggy_race_bk_20240310-020000.sql.gz";
        let names = [
            new,
            "buggy_race_bk_20240309-020000.sql.gz",
            "buggy_race_bk_20240308-020000.sql.gz",
            "buggy_race_bk_20240307-020000.sql.gz",
            "buggy_race_bk_20240306-020000.sql.gz",
            "buggy_race_bk_20240305-020000.sql.gz",
            "buggy_race_bk_20240311-020000.sql.gz", // a day ahead
            "buggy_race_bk_20240412.sql.gz",        // a month ahead
            "buggy_race_bk_20250101-000000.dump",   // a year ahead
        ];
        let all: Vec<Backup> = names.iter().map(|n| b(n)).collect();
        let keep = Keep {
            daily: Some(3),
            ..Keep::default()
        };
        let got = plan(&all, new, &keep, now);
        assert_eq!(
            got.remove,
            [
                "buggy_race_bk_20240305-020000.sql.gz",
                "buggy_race_bk_20240306-020000.sql.gz",
                "buggy_race_bk_20240307-020000.sql.gz",
            ]
        );
        assert_eq!(
            got.future,
            [
                "buggy_race_bk_20240311-020000.sql.gz",
                "buggy_race_bk_20240412.sql.gz",
                "buggy_race_bk_20250101-000000.dump",
            ]
        );
        // A clock now set back a day: every earlier backup looks ahead of
        // it; none is removed, and the new one stays.
        let back: DateTime<Utc> = "2024-03-05T02:00:05Z".parse().unwrap();
        let got = plan(&all, "buggy_race_bk_20240305-020000.sql.gz", &keep, back);
        assert!(got.remove.is_empty(), "{got:?}");
        assert_eq!(got.future.len(), names.len() - 1);
    }
}
