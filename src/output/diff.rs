//! What `textrescue diff` prints: a [`Comparison`] of two dumps' texts as a
//! table (with `--text`, unified diffs of the changed texts), as docs/diff-and-history.md's
//! json, or as csv. (`--format sql` goes through [`super::sql`].)

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use super::JsonRow;
use super::table::{first_line, new_table};
use crate::diff::{Comparison, what_changed};
use crate::texts::Record;
use crate::texts::char_length;

/// The diff json of docs/diff-and-history.md: exactly these keys, in this order.
#[derive(Serialize)]
struct JsonDiff<'a> {
    old: &'a str,
    new: &'a str,
    added: Vec<JsonRow<'a>>,
    removed: Vec<JsonRow<'a>>,
    changed: Vec<JsonPair<'a>>,
}

#[derive(Serialize)]
struct JsonPair<'a> {
    old: JsonRow<'a>,
    new: JsonRow<'a>,
}

fn json_rows<'a>(records: &[Record<'a>]) -> Result<Vec<JsonRow<'a>>> {
    records.iter().map(JsonRow::new).collect()
}

pub fn write_json(c: &Comparison<'_>, old: &str, new: &str, out: &mut dyn Write) -> Result<()> {
    let rows = json_rows;
    let doc = JsonDiff {
        old,
        new,
        added: rows(&c.added)?,
        removed: rows(&c.removed)?,
        changed: c
            .changed
            .iter()
            .map(|(o, n)| {
                Ok(JsonPair {
                    old: JsonRow::new(o)?,
                    new: JsonRow::new(n)?,
                })
            })
            .collect::<Result<_>>()?,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}

/// The csv statuses, in the first column.
pub const STATUS_ADDED: &str = "added";
pub const STATUS_REMOVED: &str = "removed";
pub const STATUS_CHANGED_OLD: &str = "changed-old";
pub const STATUS_CHANGED_NEW: &str = "changed-new";

/// `status` then `texts --format csv`'s columns; a changed text is two
/// adjacent rows, `changed-old` then `changed-new`. Rows come removed,
/// changed, added.
/// `csv_safe`: see [`super::csv::neutralise`].
pub fn write_csv(c: &Comparison<'_>, out: &mut dyn Write, csv_safe: bool) -> Result<()> {
    let mut csv = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(out);
    let mut header = vec!["status"];
    header.extend(super::csv::HEADER);
    csv.write_record(&header)?;
    let mut row = |status: &str, r: &Record<'_>| -> Result<()> {
        let fields = super::csv::fields_for(r, csv_safe);
        csv.write_record(
            std::iter::once(status.as_bytes()).chain(fields.iter().map(|f| f.as_slice())),
        )?;
        Ok(())
    };
    for r in &c.removed {
        row(STATUS_REMOVED, r)?;
    }
    for (o, n) in &c.changed {
        row(STATUS_CHANGED_OLD, o)?;
        row(STATUS_CHANGED_NEW, n)?;
    }
    for r in &c.added {
        row(STATUS_ADDED, r)?;
    }
    csv.flush()?;
    Ok(())
}

/// `a` when both are equal, else `a → b`.
fn both(a: String, b: String) -> String {
    if a == b { a } else { format!("{a} → {b}") }
}

fn student(r: &Record<'_>) -> String {
    first_line(r.username_or_id().as_bytes(), 40)
}

fn task(r: &Record<'_>) -> String {
    first_line(r.task_label().as_bytes(), 40)
}

/// Counts, renames, then a line per text: removed, changed, added.
pub fn write_table(
    c: &Comparison<'_>,
    old: &str,
    new: &str,
    text: Option<Colour>,
    out: &mut dyn Write,
) -> Result<()> {
    writeln!(out, "old: {old}")?;
    writeln!(out, "new: {new}")?;
    writeln!(
        out,
        "{} removed, {} changed, {} added, {} unchanged",
        c.removed.len(),
        c.changed.len(),
        c.added.len(),
        c.unchanged
    )?;
    for (what, o, n) in &c.renamed {
        writeln!(
            out,
            "renamed {what}: {} → {}",
            crate::escape::visible(o),
            crate::escape::visible(n)
        )?;
    }
    if c.removed.is_empty() && c.changed.is_empty() && c.added.is_empty() {
        writeln!(out, "no differences")?;
        return Ok(());
    }
    let mut table = new_table(
        [
            "status",
            "student",
            "task",
            "id",
            "length",
            "changed at",
            "what",
        ],
        120,
    );
    // A text on one side only: its row, with nothing in "what".
    let one_side = |status: &str, r: &Record<'_>| {
        [
            status.to_string(),
            student(r),
            task(r),
            r.text.id.to_string(),
            char_length(&r.text.text).to_string(),
            r.text.changed_at().server_form(),
            String::new(),
        ]
    };
    for r in &c.removed {
        table.add_row(one_side("removed", r));
    }
    for (o, n) in &c.changed {
        table.add_row([
            "changed".to_string(),
            both(student(o), student(n)),
            both(task(o), task(n)),
            both(o.text.id.to_string(), n.text.id.to_string()),
            both(
                char_length(&o.text.text).to_string(),
                char_length(&n.text.text).to_string(),
            ),
            both(
                o.text.changed_at().server_form(),
                n.text.changed_at().server_form(),
            ),
            what_changed(o, n),
        ]);
    }
    for r in &c.added {
        table.add_row(one_side("added", r));
    }
    writeln!(out, "{table}")?;
    if let Some(colour) = text {
        for (o, n) in &c.changed {
            writeln!(out)?;
            write_text_diff(o, n, old, new, colour, out)?;
        }
    }
    Ok(())
}

/// Whether `--text` colours its diffs (only on a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Never,
    Ansi,
}

/// A unified diff of one changed text, lines made safe to print: control
/// characters other than tab are shown as escapes (`\r`, `\u{1b}`).
pub fn write_text_diff(
    o: &Record<'_>,
    n: &Record<'_>,
    old: &str,
    new: &str,
    colour: Colour,
    out: &mut dyn Write,
) -> Result<()> {
    let paint = |code: &str, s: &str| match colour {
        Colour::Never => s.to_string(),
        Colour::Ansi => format!("\x1b[{code}m{s}\x1b[0m"),
    };
    let title = format!(
        "{} {}",
        both(student(o), student(n)),
        both(task(o), task(n))
    );
    writeln!(out, "{}", paint("1", &format!("== {title}")))?;
    writeln!(
        out,
        "{}",
        paint("1", &format!("--- {old} (id {})", o.text.id))
    )?;
    writeln!(
        out,
        "{}",
        paint("1", &format!("+++ {new} (id {})", n.text.id))
    )?;
    if o.text.text == n.text.text {
        writeln!(out, "(text identical: {})", what_changed(o, n))?;
        return Ok(());
    }
    let a = String::from_utf8_lossy(&o.text.text);
    let b = String::from_utf8_lossy(&n.text.text);
    let diff = TextDiff::from_lines(a.as_ref(), b.as_ref());
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        writeln!(out, "{}", paint("36", &hunk.header().to_string()))?;
        for change in hunk.iter_changes() {
            let (sign, code) = match change.tag() {
                ChangeTag::Delete => ('-', Some("31")),
                ChangeTag::Insert => ('+', Some("32")),
                ChangeTag::Equal => (' ', None),
            };
            let line = format!("{sign}{}", visible(change.value()));
            match code {
                Some(code) => writeln!(out, "{}", paint(code, &line))?,
                None => writeln!(out, "{line}")?,
            }
            if change.missing_newline() {
                writeln!(out, "\\ No newline at end of text")?;
            }
        }
    }
    Ok(())
}

/// A diff line without its line end, control characters escaped.
fn visible(line: &str) -> String {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let mut shown = String::with_capacity(line.len());
    for c in line.chars() {
        crate::escape::push_visible(&mut shown, c, true);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_safe() {
        assert_eq!(visible("a\tb\r\n"), "a\tb\\r");
        assert_eq!(visible("\x1b[2J"), "\\u{1b}[2J");
        assert_eq!(both("a".into(), "a".into()), "a");
        assert_eq!(both("dmitri".into(), "dmitry".into()), "dmitri → dmitry");
    }
}
