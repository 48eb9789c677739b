//! `--format server-json`: the race server's own texts JSON, as its admin
//! page "Load texts as JSON" downloads and uploads it (RACE-SERVER.md).
//! Times are `%Y-%m-%d %H:%M` in the dump's offset, as the server formats
//! them; the upload matches tasks by `task_name` and ignores ids.

use std::io::{self, Write};

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use super::utf8_text;
use crate::texts::Record;

#[derive(Serialize)]
struct ServerText<'a> {
    task_name: String,
    username: &'a str,
    created_at: String,
    modified_at: Option<String>,
    is_enabled: bool,
    text: &'a str,
}

pub fn write(records: &[Record<'_>], out: &mut dyn Write) -> Result<()> {
    let mut rows = Vec::with_capacity(records.len());
    for r in records {
        let (Some(task), Some(username)) = (r.task, r.username) else {
            bail!(
                "text {} has no known {}: the server's upload matches texts by task name and student, so this dump cannot make server JSON",
                r.text.id,
                if r.task.is_none() { "task" } else { "student" }
            );
        };
        rows.push(ServerText {
            task_name: task.label(),
            username,
            created_at: r.text.created_at.server_form(),
            modified_at: r.text.modified_at.as_ref().map(|m| m.server_form()),
            is_enabled: task.is_enabled,
            text: utf8_text(r)?,
        });
    }
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, AsciiPretty::default());
    rows.serialize(&mut ser)?;
    writeln!(out)?;
    Ok(())
}

/// serde_json's pretty layout with every character beyond ASCII written as
/// a `\uXXXX` escape (a surrogate pair beyond the BMP), as the server's own
/// download does: its upload reads the file in the server's locale
/// encoding, where raw UTF-8 is refused (`C`) or garbled (Latin-1).
#[derive(Default)]
struct AsciiPretty(PrettyFormatter<'static>);

impl Formatter for AsciiPretty {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_is_escaped_and_parses_back() {
        let value = vec!["é\u{1f3ce}\"\n\u{7f}x"];
        let mut out = Vec::new();
        value
            .serialize(&mut serde_json::Serializer::with_formatter(
                &mut out,
                AsciiPretty::default(),
            ))
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.is_ascii());
        assert!(text.contains(r#"\u00e9\ud83c\udfce\"\n"#), "{text}");
        let back: Vec<String> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
