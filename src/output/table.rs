//! `--format table`: what a person reads in a terminal: id, student, task,
//! when it changed, its length and its first line. Control, bidi,
//! line-separator and invisible characters are shown as visible escapes
//! ([`super::escape`]), so that no text can drive the terminal.

use std::io::Write;

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::counts::plural;
use crate::texts::Record;

/// The look of every table textrescue prints: condensed UTF-8 borders,
/// columns fitted to the terminal, or to `width` when stdout is no terminal.
pub fn new_table<const N: usize>(header: [&str; N], width: u16) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    if table.width().is_none() {
        table.set_width(width);
    }
    table
}

pub fn write(records: &[Record<'_>], out: &mut dyn Write) -> Result<()> {
    if records.is_empty() {
        writeln!(out, "no texts match")?;
        return Ok(());
    }
    let mut table = new_table(
        ["id", "student", "task", "changed", "length", "first line"],
        120,
    );
    for r in records {
        table.add_row([
            r.text.id.to_string(),
            crate::escape::visible(&r.username_or_id()),
            crate::escape::visible(&r.task_label()),
            r.text.changed_at().server_form(),
            crate::texts::char_length(&r.text.text).to_string(),
            first_line(&r.text.text, 60),
        ]);
    }
    writeln!(out, "{table}")?;
    writeln!(out, "{} text{}", records.len(), plural(records.len()))?;
    Ok(())
}

/// The first non-blank line, made safe to print and cut to `max` characters.
pub fn first_line(text: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(text);
    let line = text
        .split(['\n', '\r'])
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let mut shown = String::new();
    for (count, c) in line.chars().enumerate() {
        if count == max {
            shown.push('…');
            break;
        }
        crate::escape::push_visible(&mut shown, c, false);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_lines_are_safe_and_short() {
        assert_eq!(first_line(b"\n\n  \nhello\nworld", 60), "hello");
        assert_eq!(first_line(b"a\x1b[2Jb\tc", 60), "a\\u{1b}[2Jb\\tc");
        assert_eq!(first_line("é".repeat(70).as_bytes(), 3), "ééé…");
        assert_eq!(crate::texts::char_length("héllo".as_bytes()), 5);
    }
}
