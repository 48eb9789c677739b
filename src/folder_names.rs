//! The names in a backups folder, in one place for `backup` (which writes
//! them), retention (which removes old backups) and `history` (which reads
//! the folder):
//!
//! - the tool's own files: every name that starts with `.textrescue-` (the
//!   lock [`LOCK_FILE`], partial backups [`PARTIAL_PREFIX`]`*`, temporary
//!   `--output` files [`OUTPUT_TEMP_PREFIX`]`*`, and index files
//!   [`INDEX_PREFIX`]`*`, a name reserved for backups that index
//!   themselves). Readers never read or report them;
//! - a backup: `PREFIX` + `YYYYMMDD` + optional `-HHMMSS` + optional `-N`
//!   (a second backup within one second) + an extension (`.sql.gz`,
//!   `.dump`, or any other for [`dated_name`]). The PREFIX says which
//!   database it is of (`<dbname>_bk_` by default, the old cron script's
//!   `buggy_race_bk_`).
//!
//! A name's date is only what the name says: a clock set wrong when the
//! file was written, or a planted file, can date it after now. Such a name
//! ([`after_now`]) is not trusted: retention gives it no slot and never
//! removes it, the readers order it by its modification time, and both say so.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

/// What every name of the tool's own files in a backups folder starts with.
pub const OWN_PREFIX: &str = ".textrescue-";
/// The lock file in DIR (never removed: removing lock files races).
pub const LOCK_FILE: &str = ".textrescue-backup.lock";
/// Temporary backups start with this; a run holding the lock removes any
/// left by a run that was killed outright (SIGKILL, power loss).
pub const PARTIAL_PREFIX: &str = ".textrescue-partial-";
/// Temporary `--output` files (never removed by `backup`: another command
/// may be writing one).
pub const OUTPUT_TEMP_PREFIX: &str = ".textrescue-output-";
/// Reserved for index files kept beside backups.
pub const INDEX_PREFIX: &str = ".textrescue-index";
/// The journal of `watch` (an SQLite file); its `-wal` and `-shm` siblings
/// start with the same name.
pub const JOURNAL_FILE: &str = ".textrescue-journal.sqlite";
/// The lock the one `watch` writing the journal holds (never removed).
pub const JOURNAL_LOCK_FILE: &str = ".textrescue-journal.lock";
/// The record of restore drills (`drill` writes it, `check` reads it).
pub const DRILLS_FILE: &str = ".textrescue-drills.jsonl";

/// Whether a file name in a backups folder is one of the tool's own files.
pub fn is_own_file(name: &str) -> bool {
    name.starts_with(OWN_PREFIX)
}

/// A name of the form PREFIX + date [+ time [+ sequence]] + extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatedName<'a> {
    /// Everything before the date: which database (and which series) it is of.
    pub prefix: &'a str,
    /// UTC, 00:00:00 for a date alone.
    pub when: NaiveDateTime,
    /// Whether the name has a time (`-HHMMSS`), not a date alone.
    pub timed: bool,
    /// The `-N` a second backup within one second gets (0 without).
    pub seq: u32,
    /// From the first `.` after the date (may be empty).
    pub extension: &'a str,
}

/// What the date part of a name says.
struct Stamp<'a> {
    when: NaiveDateTime,
    timed: bool,
    seq: u32,
    /// What follows: the end, or the extension from its `.`.
    rest: &'a str,
}

/// How far after now a name may be dated and still be trusted: a name with
/// a time is UTC (as `backup` writes them), so only clocks a little apart
/// (an hour); a date alone may be a local date (the old cron script's
/// `$(date +%Y%m%d)`), up to 14 hours ahead of UTC (UTC+14).
const TIMED_SLACK: TimeDelta = TimeDelta::hours(1);
const DATE_SLACK: TimeDelta = TimeDelta::hours(14);

/// Whether a name dated `when` (with a time or not: `timed`) is dated
/// after `now`, beyond what clocks and time zones explain.
pub fn after_now(when: NaiveDateTime, timed: bool, now: DateTime<Utc>) -> bool {
    let slack = if timed { TIMED_SLACK } else { DATE_SLACK };
    when > now.naive_utc() + slack
}

/// The date and the time in a backup's name (UTC), as chrono formats.
const DATE: &str = "%Y%m%d";
const TIME: &str = "%H%M%S";

/// The `YYYYMMDD-HHMMSS` of a backup taken at `when`.
pub fn stamp(when: DateTime<Utc>) -> String {
    when.format(&format!("{DATE}-{TIME}")).to_string()
}

/// The name `backup` gives a backup: `PREFIX + stamp + extension`, with
/// `-N` after the stamp for the N-th backup within one second (`seq` 2 and
/// up; 0 and 1 give none).
pub fn backup_name(prefix: &str, stamp: &str, seq: u32, extension: &str) -> String {
    if seq <= 1 {
        format!("{prefix}{stamp}{extension}")
    } else {
        format!("{prefix}{stamp}-{seq}{extension}")
    }
}

fn digits(s: &str, n: usize) -> Option<&str> {
    (s.len() >= n && s.as_bytes()[..n].iter().all(u8::is_ascii_digit)).then(|| &s[..n])
}

/// `YYYYMMDD[-HHMMSS[-N]]` at the start of `s`, then the end or a `.`.
fn parse_stamp(s: &str) -> Option<Stamp<'_>> {
    let date = NaiveDate::parse_from_str(digits(s, 8)?, DATE).ok()?;
    let rest = &s[8..];
    let ext = |r: &'_ str| (r.is_empty() || r.starts_with('.')).then_some(());
    if ext(rest).is_some() {
        return Some(Stamp {
            when: date.and_time(NaiveTime::MIN),
            timed: false,
            seq: 0,
            rest,
        });
    }
    let rest = rest.strip_prefix('-')?;
    let time = NaiveTime::parse_from_str(digits(rest, 6)?, TIME).ok()?;
    let when = date.and_time(time);
    let rest = &rest[6..];
    if ext(rest).is_some() {
        return Some(Stamp {
            when,
            timed: true,
            seq: 0,
            rest,
        });
    }
    let rest = rest.strip_prefix('-')?;
    let end = rest.find('.').unwrap_or(rest.len());
    let n = &rest[..end];
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
        return None;
    }
    Some(Stamp {
        when,
        timed: true,
        seq: n.parse().ok()?,
        rest: &rest[end..],
    })
}

/// A file name as a dated backup name, whatever its prefix and extension.
/// The prefix is not empty and ends in a character that is not a letter or
/// a digit (`_`, `-`, `.`); where several dates could be read, the last one
/// counts. The tool's own files are never dated names.
pub fn dated_name(name: &str) -> Option<DatedName<'_>> {
    if is_own_file(name) {
        return None;
    }
    let b = name.as_bytes();
    (1..name.len())
        .rev()
        .filter(|&i| !b[i - 1].is_ascii_alphanumeric() && b[i].is_ascii_digit())
        .filter(|&i| name.is_char_boundary(i))
        .find_map(|i| {
            let stamp = parse_stamp(&name[i..])?;
            Some(DatedName {
                prefix: &name[..i],
                when: stamp.when,
                timed: stamp.timed,
                seq: stamp.seq,
                extension: stamp.rest,
            })
        })
}

/// `name` as a dated name, when it is a backup that `backup` could have
/// written with this prefix (`.sql.gz` or `.dump`).
pub fn backup_with_prefix<'a>(name: &'a str, prefix: &str) -> Option<DatedName<'a>> {
    if prefix.is_empty() || is_own_file(name) {
        return None;
    }
    let rest = name.strip_prefix(prefix)?;
    let stamp = parse_stamp(rest)?;
    matches!(stamp.rest, ".sql.gz" | ".dump").then_some(DatedName {
        prefix: &name[..prefix.len()],
        when: stamp.when,
        timed: stamp.timed,
        seq: stamp.seq,
        extension: stamp.rest,
    })
}

/// The time and sequence number in `name` when it is a backup that
/// `backup` could have written with this prefix (`.sql.gz` or `.dump`).
pub fn parse_name(name: &str, prefix: &str) -> Option<(NaiveDateTime, u32)> {
    backup_with_prefix(name, prefix).map(|d| (d.when, d.seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_files() {
        for own in [
            LOCK_FILE,
            ".textrescue-partial-12-buggy_race_bk_20240305-000000.sql.gz",
            ".textrescue-output-Ab3xQz",
            ".textrescue-index-buggy_race_bk_20240305.sql.gz",
        ] {
            assert!(is_own_file(own), "{own}");
            assert_eq!(dated_name(own), None, "{own}");
            assert_eq!(parse_name(own, ".textrescue-partial-"), None, "{own}");
        }
        assert!(!is_own_file("buggy_race_bk_20240305.sql.gz"));
        assert!(!is_own_file(".textrescue"));
    }

    #[test]
    fn the_names_backup_gives_read_back() {
        let when = NaiveDate::from_ymd_opt(2024, 3, 5)
            .unwrap()
            .and_hms_opt(14, 22, 11)
            .unwrap();
        let s = stamp(when.and_utc());
        assert_eq!(s, "20240305-142211");
        for (seq, ext, name) in [
            (1, ".sql.gz", "buggy_race_bk_20240305-142211.sql.gz"),
            (2, ".dump", "buggy_race_bk_20240305-142211-2.dump"),
        ] {
            assert_eq!(backup_name("buggy_race_bk_", &s, seq, ext), name);
            let read = if seq == 1 { 0 } else { seq };
            assert_eq!(parse_name(name, "buggy_race_bk_"), Some((when, read)));
        }
    }

    #[test]
    fn a_name_dated_after_now_is_told_with_slack_for_clocks_and_time_zones() {
        let now = NaiveDate::from_ymd_opt(2024, 3, 5)
            .unwrap()
            .and_hms_opt(11, 0, 0)
            .unwrap()
            .and_utc();
        let at = |s: &str| dated_name(s).map(|d| after_now(d.when, d.timed, now));
        // With a time (UTC): up to an hour ahead is a clock a little fast.
        assert_eq!(at("x_20240305-120000.sql.gz"), Some(false));
        assert_eq!(at("x_20240305-120001.sql.gz"), Some(true));
        assert_eq!(at("x_20240305-120001-2.sql.gz"), Some(true));
        // A date alone may be local: 2024-03-06 00:00 is 13 h ahead, and
        // already the 6th at UTC+14; the 7th is not yet anywhere.
        assert_eq!(at("x_20240306.sql.gz"), Some(false));
        assert_eq!(at("x_20240307.sql.gz"), Some(true));
        assert_eq!(at("x_20990101-000000.dump"), Some(true));
        assert_eq!(at("x_20240304.sql.gz"), Some(false));
    }

    #[test]
    fn dated_names_have_a_prefix() {
        fn d(s: &str) -> Option<(&str, String, u32, &str)> {
            dated_name(s).map(|n| (n.prefix, n.when.to_string(), n.seq, n.extension))
        }
        assert_eq!(
            d("buggy_race_bk_20240305.sql.gz"),
            Some(("buggy_race_bk_", "2024-03-05 00:00:00".into(), 0, ".sql.gz"))
        );
        assert_eq!(
            d("staging_bk_20240305-142211-2.dump"),
            Some(("staging_bk_", "2024-03-05 14:22:11".into(), 2, ".dump"))
        );
        assert_eq!(
            d("a_20240101_b_20240305"),
            Some(("a_20240101_b_", "2024-03-05 00:00:00".into(), 0, ""))
        );
        assert_eq!(
            d("nightly-20240305-010203.sql"),
            Some(("nightly-", "2024-03-05 01:02:03".into(), 0, ".sql"))
        );
        for none in [
            "20240305.sql.gz",
            "x20240305.sql.gz",
            "x_20240301-1200.sql",
            "x_20241399.sql",
            "notes.txt",
            "x_2024030512.sql",
        ] {
            assert_eq!(d(none), None, "{none}");
        }
    }
}
