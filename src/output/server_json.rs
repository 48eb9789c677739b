//! `--format server-json`: the race server's own texts JSON, as its admin
//! page "Load texts as JSON" downloads and uploads it (RACE-SERVER.md).
//! Times are `%Y-%m-%d %H:%M` in the dump's offset, as the server formats
//! them; the upload matches tasks by `task_name` and ignores ids.

use std::io::Write;

use anyhow::{Result, bail};
use serde::Serialize;

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
    serde_json::to_writer_pretty(&mut *out, &rows)?;
    writeln!(out)?;
    Ok(())
}
