//! What `textrescue history` prints: per text, its version in every dump,
//! as the JSON of docs/diff-and-history.md or as a timeline table. Both
//! take the texts one at a time ([`JsonRows`], [`TableRows`]): memory does
//! not grow with the number of texts' versions.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};

use anyhow::{Context, Result};

use super::table::{first_line, new_table};
use crate::history::{JOURNAL, TextHistory, Version};

/// `--format json`, one text at a time: the same array, byte for byte,
/// as serde_json's pretty printing of all the rows at once, without
/// holding them.
pub struct JsonRows<'a> {
    out: &'a mut dyn Write,
    written: usize,
}

impl<'a> JsonRows<'a> {
    pub fn new(out: &'a mut dyn Write) -> JsonRows<'a> {
        JsonRows { out, written: 0 }
    }

    pub fn row(&mut self, row: &TextHistory) -> Result<()> {
        let object = serde_json::to_string_pretty(row)?;
        self.out
            .write_all(if self.written == 0 { b"[\n" } else { b",\n" })?;
        // One level deeper, as inside the array (a JSON string holds no
        // raw line break: every line is the object's structure).
        for (i, line) in object.split('\n').enumerate() {
            if i > 0 {
                self.out.write_all(b"\n")?;
            }
            self.out.write_all(b"  ")?;
            self.out.write_all(line.as_bytes())?;
        }
        self.written += 1;
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        self.out
            .write_all(if self.written == 0 { b"[]\n" } else { b"\n]\n" })?;
        Ok(())
    }
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

/// The table view, one text at a time: the dumps numbered, a timeline
/// row per text, each text's every version (where the journal knows it),
/// then the restore commands of the texts gone. The timeline table is laid
/// out whole at the end (its columns' widths depend on every row), but its
/// rows are small; the versions, the bulk, go to a temporary file as each
/// text comes and are copied out after the timeline.
pub struct TableRows<'a> {
    out: &'a mut dyn Write,
    /// The dumps read, and those that could not be read (listed, not
    /// numbered).
    dumps: &'a [String],
    left_out: &'a [String],
    timeline: comfy_table::Table,
    rows: usize,
    /// Each text's versions table, where the journal knows the text.
    versions: Option<BufWriter<File>>,
    /// Texts gone, and the commands that get them back.
    gone: usize,
    restores: Vec<String>,
}

impl<'a> TableRows<'a> {
    pub fn new(dumps: &'a [String], left_out: &'a [String], out: &'a mut dyn Write) -> Self {
        TableRows {
            out,
            dumps,
            left_out,
            timeline: new_table(
                ["student", "task", "timeline", "last seen", "in latest"],
                160,
            ),
            rows: 0,
            versions: None,
            gone: 0,
            restores: Vec::new(),
        }
    }

    pub fn row(&mut self, r: &TextHistory) -> Result<()> {
        let last = self
            .dumps
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
        self.timeline.add_row([
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
        self.rows += 1;
        if r.journal.is_some() {
            let spool = match &mut self.versions {
                Some(spool) => spool,
                None => self.versions.insert(BufWriter::new(
                    tempfile::tempfile().context("history: a temporary file for the table")?,
                )),
            };
            write_versions(r, spool)?;
        }
        if r.gone() {
            self.gone += 1;
            self.restores.extend(r.restore.clone());
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        let out = self.out;
        writeln!(out, "dumps, oldest first:")?;
        let width = self.dumps.len().to_string().len();
        for (i, d) in self.dumps.iter().enumerate() {
            writeln!(out, "  {:>width$}  {}", i + 1, crate::escape::visible(d))?;
        }
        if self.dumps.is_empty() {
            writeln!(out, "  (none: the journal only)")?;
        }
        for d in self.left_out {
            writeln!(
                out,
                "  {:>width$}  {} (damaged or unusable: left out)",
                "-",
                crate::escape::visible(d)
            )?;
        }
        if self.rows == 0 {
            writeln!(out, "no texts match")?;
            return Ok(());
        }
        writeln!(out, "{}", self.timeline)?;
        writeln!(
            out,
            "{PRESENT} present   {CHANGED} present, changed since the version before   {ABSENT} absent"
        )?;
        let with_journal = self.versions.is_some();
        if let Some(spool) = self.versions {
            writeln!(
                out,
                "{JOURNAL_VERSION} a version the journal recorded   {JOURNAL_DELETION} a deletion the journal recorded"
            )?;
            let mut file = spool.into_inner().map_err(|e| e.into_error())?;
            file.seek(SeekFrom::Start(0))?;
            std::io::copy(&mut file, out)?;
        }
        if self.gone > 0 {
            writeln!(out)?;
            writeln!(
                out,
                "{} text{} gone{}; to restore one:",
                self.gone,
                if self.gone == 1 { " is" } else { "s are" },
                if with_journal {
                    " (deleted as the journal last saw it, or absent from the newest dump)"
                } else {
                    " from the newest dump"
                }
            )?;
            for command in &self.restores {
                writeln!(out, "  {command}")?;
            }
        }
        Ok(())
    }
}

/// One text the journal knows: its every version (backups' and the
/// journal's), oldest first.
fn write_versions(r: &TextHistory, out: &mut dyn Write) -> Result<()> {
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
