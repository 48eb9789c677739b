//! The domain: students' task texts, the students and the tasks, as a dump
//! of the race server holds them. Nothing here knows how a dump is laid
//! out; `dump` fills these types from any format.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

/// A `timestamptz` as the dump wrote it, kept with its precision and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// RFC 3339: `2024-03-01T14:22:11.123456+00:00`.
    pub rfc3339: String,
    /// The same instant, for comparisons and filters.
    pub instant: DateTime<FixedOffset>,
}

impl Timestamp {
    /// Parses PostgreSQL's output form: `2024-03-01 14:22:11.123456+00`
    /// (offsets `+HH`, `+HH:MM` or `+HH:MM:SS`). A timestamp without an
    /// offset (a `timestamp` column) is taken in the local zone.
    pub fn parse_pg(value: &str) -> Result<Timestamp> {
        let bad = || format!("{value:?} is not a timestamp as PostgreSQL writes it");
        if value.len() < 19 || !value.is_ascii() || value.as_bytes()[10] != b' ' {
            bail!(bad());
        }
        let (date_time, offset) = split_offset(value);
        let mut rfc3339 = String::with_capacity(32);
        rfc3339.push_str(&date_time[..10]);
        rfc3339.push('T');
        rfc3339.push_str(&date_time[11..]);
        let instant = match offset {
            Some(offset) => {
                let normalized = normalize_offset(offset).with_context(bad)?;
                rfc3339.push_str(&normalized);
                // chrono reads offsets with seconds poorly; build it by hand.
                let seconds = offset_seconds(&normalized).with_context(bad)?;
                let zone = FixedOffset::east_opt(seconds).with_context(bad)?;
                let naive = NaiveDateTime::parse_from_str(date_time, "%Y-%m-%d %H:%M:%S%.f")
                    .with_context(bad)?;
                zone.from_local_datetime(&naive)
                    .single()
                    .with_context(bad)?
            }
            None => {
                let naive = NaiveDateTime::parse_from_str(date_time, "%Y-%m-%d %H:%M:%S%.f")
                    .with_context(bad)?;
                chrono::Local
                    .from_local_datetime(&naive)
                    .earliest()
                    .with_context(bad)?
                    .fixed_offset()
            }
        };
        Ok(Timestamp { rfc3339, instant })
    }

    /// The server's own text form: `%Y-%m-%d %H:%M`, in the dump's offset.
    pub fn server_form(&self) -> String {
        self.instant.format("%Y-%m-%d %H:%M").to_string()
    }
}

fn split_offset(value: &str) -> (&str, Option<&str>) {
    // The offset starts at the last + or - after the time of day.
    match value[19..].rfind(['+', '-']) {
        Some(at) => (&value[..19 + at], Some(&value[19 + at..])),
        None => (value, None),
    }
}

fn normalize_offset(offset: &str) -> Option<String> {
    let sign = &offset[..1];
    let parts: Vec<&str> = offset[1..].split(':').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let minutes = parts.get(1).copied().unwrap_or("00");
    let mut out = format!("{sign}{}:{minutes}", parts[0]);
    if let Some(seconds) = parts.get(2) {
        out.push(':');
        out.push_str(seconds);
    }
    Some(out)
}

fn offset_seconds(normalized: &str) -> Option<i32> {
    let sign = if normalized.starts_with('-') { -1 } else { 1 };
    let mut total = 0;
    for (i, part) in normalized[1..].split(':').enumerate() {
        let n: i32 = part.parse().ok()?;
        total += n * [3600, 60, 1][i];
    }
    Some(sign * total)
}

/// One row of the texts table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskText {
    pub id: i64,
    pub user_id: i64,
    pub task_id: i64,
    pub created_at: Timestamp,
    pub modified_at: Option<Timestamp>,
    /// The text exactly as stored, byte for byte.
    pub text: Vec<u8>,
}

impl TaskText {
    /// When the text last changed: `modified_at` where set, else `created_at`.
    pub fn changed_at(&self) -> &Timestamp {
        self.modified_at.as_ref().unwrap_or(&self.created_at)
    }
}

/// A task as the server names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub phase: i64,
    pub name: String,
    pub is_enabled: bool,
}

impl Task {
    /// `PHASE-NAME` with the name upper-cased, as the server shows it.
    pub fn label(&self) -> String {
        format!("{}-{}", self.phase, self.name.to_uppercase())
    }
}

/// Everything a dump says about texts: the rows and what they point to.
#[derive(Debug, Default, Clone)]
pub struct Texts {
    pub rows: Vec<TaskText>,
    /// `users.id` to username; empty when the dump has no users table.
    pub usernames: HashMap<i64, String>,
    /// `tasks.id` to task; empty when the dump has no tasks table.
    pub tasks: HashMap<i64, Task>,
    /// Number of users marked as students (all users where unknown).
    pub students: usize,
}

/// A text with its student and task looked up.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub text: &'a TaskText,
    pub username: Option<&'a str>,
    pub task: Option<&'a Task>,
}

impl Record<'_> {
    /// The task's label, or `?-<id>` when the dump does not name it.
    pub fn task_label(&self) -> String {
        match self.task {
            Some(t) => t.label(),
            None => format!("?-{}", self.text.task_id),
        }
    }

    pub fn username_or_id(&self) -> String {
        match self.username {
            Some(u) => u.to_string(),
            None => format!("user #{}", self.text.user_id),
        }
    }
}

impl Texts {
    /// Every text joined with its student and task, in id order.
    pub fn records(&self) -> Vec<Record<'_>> {
        let mut records: Vec<Record<'_>> = self.rows.iter().map(|t| self.record(t)).collect();
        records.sort_by_key(|r| r.text.id);
        records
    }

    pub fn record<'a>(&'a self, text: &'a TaskText) -> Record<'a> {
        Record {
            text,
            username: self.usernames.get(&text.user_id).map(String::as_str),
            task: self.tasks.get(&text.task_id),
        }
    }

    /// The newest change among all texts.
    pub fn newest_change(&self) -> Option<&Timestamp> {
        self.rows
            .iter()
            .map(TaskText::changed_at)
            .max_by_key(|t| t.instant)
    }
}

/// Length in characters, as PostgreSQL's `length(text)` counts (bytes for
/// a text that is not UTF-8).
pub fn char_length(text: &[u8]) -> usize {
    match std::str::from_utf8(text) {
        Ok(s) => s.chars().count(),
        Err(_) => text.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_precision_and_offset() {
        let t = Timestamp::parse_pg("2024-03-01 14:22:11.123456+00").unwrap();
        assert_eq!(t.rfc3339, "2024-03-01T14:22:11.123456+00:00");
        let t = Timestamp::parse_pg("2024-03-01 14:22:11+05:30").unwrap();
        assert_eq!(t.rfc3339, "2024-03-01T14:22:11+05:30");
        assert_eq!(t.instant.timestamp(), 1709283131);
        let t = Timestamp::parse_pg("1895-03-01 14:22:11.5-00:01:15").unwrap();
        assert_eq!(t.rfc3339, "1895-03-01T14:22:11.5-00:01:15");
        assert_eq!(t.server_form(), "1895-03-01 14:22");
        assert!(Timestamp::parse_pg("yesterday").is_err());
        assert!(Timestamp::parse_pg("2024-03-01 14:22:1é+00").is_err());
        assert!(Timestamp::parse_pg("2024-03-01 14:22:11+5").is_err());
    }

    #[test]
    fn task_labels_upper_case_the_name() {
        let t = Task {
            phase: 3,
            name: "multi".into(),
            is_enabled: true,
        };
        assert_eq!(t.label(), "3-MULTI");
    }
}
