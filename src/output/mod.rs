//! Writers of what the commands print: one file per output format. They get
//! joined records and a destination; they know nothing of dump formats.
//!
//! [`Destination`] is stdout or `--output FILE`; a file is written under a
//! temporary name and renamed when complete, so an interrupted run never
//! leaves half an export that looks whole.

pub mod csv;
pub mod diff;
pub mod history;
pub mod json;
pub mod server_json;
pub mod sql;
pub mod table;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use crate::texts::Record;

/// One text as SPEC.md's json ROW: exactly these keys, in this order.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct JsonRow<'a> {
    pub id: i64,
    pub username: Option<&'a str>,
    pub user_id: i64,
    pub task: String,
    pub task_id: i64,
    pub created_at: &'a str,
    pub modified_at: Option<&'a str>,
    pub text: &'a str,
}

impl<'a> JsonRow<'a> {
    /// Fails for a text that is not UTF-8 (possible only in a SQL_ASCII
    /// database): JSON cannot carry it exactly, and it is never altered.
    pub fn new(record: &Record<'a>) -> Result<JsonRow<'a>> {
        let t = record.text;
        Ok(JsonRow {
            id: t.id,
            username: record.username,
            user_id: t.user_id,
            task: record.task_label(),
            task_id: t.task_id,
            created_at: &t.created_at.rfc3339,
            modified_at: t.modified_at.as_ref().map(|m| m.rfc3339.as_str()),
            text: utf8_text(record)?,
        })
    }
}

/// Appends `c`, or for a control character a visible escape (`\u{1b}`), so
/// that no text can drive the terminal it is shown on.
pub fn push_visible(out: &mut String, c: char, keep_tab: bool) {
    if c.is_control() && !(keep_tab && c == '\t') {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// The text as UTF-8, or an error naming it.
pub fn utf8_text<'a>(record: &Record<'a>) -> Result<&'a str> {
    std::str::from_utf8(&record.text.text).map_err(|e| {
        anyhow!(
            "text {} ({}, {}) is not valid UTF-8 at byte {} (a SQL_ASCII database?); \
             it cannot be written as JSON without changing it: --format csv keeps its bytes",
            record.text.id,
            record.username_or_id(),
            record.task_label(),
            e.valid_up_to()
        )
    })
}

/// Where output goes.
pub struct Destination {
    target: Option<PathBuf>,
    temp: Option<PathBuf>,
    writer: BufWriter<Box<dyn Write>>,
}

impl Destination {
    /// Stdout, or a temporary file beside `path` that [`finish`] renames.
    pub fn open(path: Option<&Path>) -> Result<Destination> {
        match path {
            None => Ok(Destination {
                target: None,
                temp: None,
                writer: BufWriter::with_capacity(64 * 1024, Box::new(io::stdout().lock())),
            }),
            Some(path) if !is_regular_or_missing(path) => {
                // A device, FIFO or socket (`-o /dev/null`, `-o /dev/stdout`,
                // a named pipe) is written in place: renaming a file over it
                // would replace it.
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                Ok(Destination {
                    target: None,
                    temp: None,
                    writer: BufWriter::with_capacity(64 * 1024, Box::new(file)),
                })
            }
            Some(path) => {
                let name = path
                    .file_name()
                    .with_context(|| format!("{} is not a file name", path.display()))?;
                let temp = path.with_file_name(format!(
                    ".{}.partial-{}",
                    name.to_string_lossy(),
                    std::process::id()
                ));
                let file = File::create(&temp)
                    .with_context(|| format!("cannot create {}", temp.display()))?;
                Ok(Destination {
                    target: Some(path.to_path_buf()),
                    temp: Some(temp),
                    writer: BufWriter::with_capacity(64 * 1024, Box::new(file)),
                })
            }
        }
    }

    pub fn writer(&mut self) -> &mut dyn Write {
        &mut self.writer
    }

    /// Flushes and, for a file, moves it to its name.
    pub fn finish(mut self) -> Result<()> {
        self.writer.flush().context("cannot write the output")?;
        if let (Some(temp), Some(target)) = (self.temp.take(), self.target.take()) {
            std::fs::rename(&temp, &target)
                .with_context(|| format!("cannot move the output to {}", target.display()))?;
        }
        Ok(())
    }
}

/// True for a path that is a regular file, or nothing yet.
fn is_regular_or_missing(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) => meta.is_file(),
        Err(_) => true,
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            let _ = std::fs::remove_file(temp);
        }
    }
}
