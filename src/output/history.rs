//! What `textrescue history` prints: per text, its version in every dump,
//! as the JSON of docs/diff-and-history.md or as a timeline table.

use std::io::Write;

use anyhow::Result;

use super::table::{first_line, new_table};
use crate::history::{JOURNAL, TextHistory, Version};

pub fn write_json(rows: &[TextHistory], out: &mut dyn Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, rows)?;
    writeln!(out)?;
    Ok(())
}

/// Marks of the timeline.
pub const PRESENT: char = '●';
pub const CHANGED: char = '◆';
pub const ABSENT: char = '○';
/// A version the journal recorded.
pub const JOURNAL_VERSION: char = '▲';
/// A deletion the journal recorded.
pub const JOURNAL_DELETION: char = '✕';

/// One mark per dump: present as before, present and different from the
/// version before it (or re-created with another id), absent; and one per
/// version and deletion the journal recorded, in time order.
pub fn timeline(versions: &[Version]) -> String {
    let mut marks = Vec::with_capacity(versions.len());
    let mut before: Option<&Version> = None;
    for v in versions {
        let mark = if v.origin == JOURNAL {
            if v.present {
                before = Some(v);
                JOURNAL_VERSION
            } else {
                before = None;
                JOURNAL_DELETION
            }
        } else if !v.present {
            ABSENT
        } else {
            let mark = match before {
                Some(b) if b.sha256 != v.sha256 || b.id != v.id => CHANGED,
                _ => PRESENT,
            };
            before = Some(v);
            mark
        };
        marks.push(mark.to_string());
    }
    marks.join(" ")
}

/// The dumps numbered, a timeline row per text, then the restore commands
/// of the texts gone from the newest dump.
/// `left_out`: the dumps that could not be read (listed, not numbered).
pub fn write_table(
    rows: &[TextHistory],
    dumps: &[String],
    left_out: &[String],
    out: &mut dyn Write,
) -> Result<()> {
    writeln!(out, "dumps, oldest first:")?;
    let width = dumps.len().to_string().len();
    for (i, d) in dumps.iter().enumerate() {
        writeln!(out, "  {:>width$}  {}", i + 1, crate::escape::visible(d))?;
    }
    if dumps.is_empty() {
        writeln!(out, "  (none: the journal only)")?;
    }
    for d in left_out {
        writeln!(
            out,
            "  {:>width$}  {} (damaged or unusable: left out)",
            "-",
            crate::escape::visible(d)
        )?;
    }
    if rows.is_empty() {
        writeln!(out, "no texts match")?;
        return Ok(());
    }
    let mut table = new_table(
        ["student", "task", "timeline", "last seen", "in latest"],
        160,
    );
    for r in rows {
        let last = dumps
            .iter()
            .position(|d| *d == r.last_seen)
            .map(|i| {
                format!(
                    "{} ({})",
                    i + 1,
                    crate::escape::visible(&file_name(&r.last_seen))
                )
            })
            .unwrap_or_else(|| "journal only".to_string());
        table.add_row([
            first_line(
                r.username
                    .clone()
                    .unwrap_or_else(|| format!("user #{}", r.user_id))
                    .as_bytes(),
                40,
            ),
            first_line(r.task.as_bytes(), 40),
            timeline(&r.versions),
            last,
            // With the journal: whether it is live as the journal last saw it.
            if r.gone() { "NO" } else { "yes" }.to_string(),
        ]);
    }
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "{PRESENT} present   {CHANGED} present, changed since the version before   {ABSENT} absent"
    )?;
    let with_journal = rows.iter().any(|r| r.journal.is_some());
    if with_journal {
        writeln!(
            out,
            "{JOURNAL_VERSION} a version the journal recorded   {JOURNAL_DELETION} a deletion the journal recorded"
        )?;
        write_versions(rows, out)?;
    }
    let gone: Vec<&TextHistory> = rows.iter().filter(|r| r.gone()).collect();
    if !gone.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{} text{} gone{}; to restore one:",
            gone.len(),
            if gone.len() == 1 { " is" } else { "s are" },
            if with_journal {
                " (deleted as the journal last saw it, or absent from the newest dump)"
            } else {
                " from the newest dump"
            }
        )?;
        for r in gone {
            if let Some(command) = &r.restore {
                writeln!(out, "  {command}")?;
            }
        }
    }
    Ok(())
}

/// Per text the journal knows, every version (backups' and the
/// journal's), oldest first.
fn write_versions(rows: &[TextHistory], out: &mut dyn Write) -> Result<()> {
    for r in rows.iter().filter(|r| r.journal.is_some()) {
        writeln!(out)?;
        writeln!(
            out,
            "{} {}, every version, oldest first:",
            first_line(
                r.username
                    .clone()
                    .unwrap_or_else(|| format!("user #{}", r.user_id))
                    .as_bytes(),
                40
            ),
            first_line(r.task.as_bytes(), 40)
        )?;
        let mut table = new_table(
            [
                "at",
                "source",
                "id",
                "modified_at",
                "length",
                "sha256",
                "seen",
            ],
            160,
        );
        for v in &r.versions {
            let source = if v.origin == JOURNAL {
                "journal".to_string()
            } else {
                crate::escape::visible(&file_name(&v.dump))
            };
            let seen = match (&v.first_seen, &v.last_seen, &v.deleted_at) {
                (Some(first), Some(last), _) => {
                    let (first, last) = (short(first), short(last));
                    // The same day: the second time without its date.
                    match (first.split_once(' '), last.split_once(' ')) {
                        (Some((day, _)), Some((same, time))) if day == same => {
                            format!("{first} … {time}")
                        }
                        _ => format!("{first} … {last}"),
                    }
                }
                (_, _, Some(_)) => "deleted".to_string(),
                _ if !v.present => "absent".to_string(),
                _ => String::new(),
            };
            table.add_row([
                short(v.when()),
                source,
                v.id.map(|i| i.to_string()).unwrap_or_default(),
                v.modified_at.clone().unwrap_or_default(),
                v.length.map(|l| l.to_string()).unwrap_or_default(),
                v.sha256
                    .as_deref()
                    .map(|s| s.chars().take(12).collect())
                    .unwrap_or_default(),
                seen,
            ]);
        }
        writeln!(out, "{table}")?;
    }
    Ok(())
}

/// `2024-03-05T14:22:01.123456Z` as `2024-03-05 14:22:01`.
fn short(at: &str) -> String {
    at.get(..19).unwrap_or(at).replace('T', " ")
}

fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(sha: Option<&str>, id: i64) -> Version {
        Version {
            dump: "d".into(),
            present: sha.is_some(),
            id: sha.map(|_| id),
            modified_at: None,
            length: sha.map(|_| 1),
            sha256: sha.map(String::from),
            source: None,
            at: None,
            first_seen: None,
            last_seen: None,
            deleted_at: None,
            origin: crate::history::BACKUP,
            place: String::new(),
        }
    }

    #[test]
    fn timelines_mark_changes_and_gaps() {
        let versions = [
            v(Some("a"), 1),
            v(Some("a"), 1),
            v(None, 0),
            v(Some("a"), 1),
            v(Some("b"), 1),
            v(Some("b"), 2),
        ];
        assert_eq!(timeline(&versions), "● ● ○ ● ◆ ◆");
    }
}
