//! The restore script: what `--format sql` writes for
//! `psql -v ON_ERROR_STOP=1 -d LIVE -f FILE` ([`write`]), and the same
//! script for `textrescue restore` to run ([`write_for_restore`]), with the
//! protocol between them ([`Action`], [`Planned`], [`Deletion`], the report
//! line [`REPORT_MARKER`]).
//!
//! The program itself (the temporary tables and the `DO` block that looks
//! up, checks, applies and reports) is SQL in `*.sql` beside this file, included as it
//! is; this module writes the header, one plan row per text, and fills in
//! the program's few fixed slots (policy, check mode) in one pass.
//!
//! Every text, username, task and table name in it is data, never code
//! psql or PostgreSQL reads: why, and how, is in docs/hardening.md ("The
//! restore script"). Students and tasks are found by username and by phase
//! and name in the live database, never by the backup's ids.

mod names;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Result, anyhow, bail};

use crate::counts::plural;
use crate::format::TableName;
use crate::quote::{comment_safe, sha_literal, string_literal, text_literal};
use crate::texts::{Record, Timestamp};
pub(crate) use names::{Chars, LockMode, SETTINGS_SQL, Tables, render_template};

/// The temporary tables the program works from.
const TABLES_SQL: &str = include_str!("tables.sql");
/// The `DO` block: look up, check, apply, report.
const PROGRAM_SQL: &str = include_str!("program.sql");
/// One line for `textrescue restore` to read: `textrescue-report ` and JSON
/// saying, per text, what the program did or would do.
pub const REPORT_SQL: &str = include_str!("report.sql");
/// The start of the line [`REPORT_SQL`] prints.
pub const REPORT_MARKER: &str = "textrescue-report ";

/// What to do where the live database already has a text for the student and task.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnConflict {
    /// Leave the live text as it is and say so.
    #[default]
    Skip,
    /// Replace the live text with the backup's (the live row keeps its id).
    Overwrite,
    /// Abort the whole restore; nothing changes.
    Error,
}

impl OnConflict {
    pub fn name(self) -> &'static str {
        match self {
            OnConflict::Skip => "skip",
            OnConflict::Overwrite => "overwrite",
            OnConflict::Error => "error",
        }
    }

    fn explained(self) -> &'static str {
        match self {
            OnConflict::Skip => "skip (the live text is kept, and the script says so)",
            OnConflict::Overwrite => {
                "overwrite (the live row keeps its id and gets the backup's text and times)"
            }
            OnConflict::Error => "error (the whole restore is aborted, nothing changes)",
        }
    }
}

/// How a script treats what is in its way, and whether it changes anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptSettings {
    /// What to do where the live database already has a text for the
    /// student and task.
    pub on_conflict: OnConflict,
    /// Report what it would do and change nothing (the script ends in
    /// ROLLBACK; a plan of `textrescue restore`).
    pub check: bool,
}

/// Everything the script's header and statements need besides the texts.
pub struct RestoreScript<'a> {
    /// The dump the texts come from, for the header.
    pub source: &'a str,
    /// The live texts table (the users and tasks tables are in its schema).
    pub table: &'a TableName,
    pub settings: ScriptSettings,
}

/// What the program does (or would do) with one text or one deletion, as
/// its report says and as a plan holds it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// No live text for the student and task: the backup's is inserted.
    Restore,
    /// A live text is in the way and is kept (`--on-conflict skip`).
    Skip,
    /// A live text is in the way and gets the backup's (`--on-conflict overwrite`).
    Overwrite,
    /// A live text the backup does not have is deleted (`restore --delete-absent`).
    Delete,
    /// The live text to delete is not there.
    Gone,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Restore => "restore",
            Action::Skip => "skip",
            Action::Overwrite => "overwrite",
            Action::Delete => "delete",
            Action::Gone => "gone",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        [
            Action::Restore,
            Action::Skip,
            Action::Overwrite,
            Action::Delete,
            Action::Gone,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }
}

/// What a plan saw for one text or deletion, which the run that applies
/// it must see again inside its transaction (else it changes nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub action: Action,
    /// The sha256 (hex) of the live text in the way, if one was.
    pub live_sha256: Option<String>,
}

/// A live text to delete: one that the backup does not have (the undo of
/// a restore that added it).
#[derive(Debug, Clone)]
pub struct Deletion {
    pub id: i64,
    /// It must belong to one of these students (usernames, any case).
    pub usernames: Vec<String>,
    pub planned: Option<Planned>,
}

/// What `textrescue restore` adds to the script: the plan to hold each
/// text to (in the order of the records) and the texts to delete.
#[derive(Debug, Default)]
pub struct RestoreExtras<'a> {
    pub planned: Option<&'a [Planned]>,
    pub deletions: &'a [Deletion],
}

/// Writes a script that restores `records` into the live database under
/// `script.settings.on_conflict`, or with `--check` reports what it would do.
pub fn write(
    records: &[Record<'_>],
    script: &RestoreScript<'_>,
    out: &mut dyn Write,
) -> Result<()> {
    write_at(records, script, &now(), out)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn write_at(
    records: &[Record<'_>],
    script: &RestoreScript<'_>,
    now: &str,
    out: &mut dyn Write,
) -> Result<()> {
    write_program(records, script, &RestoreExtras::default(), now, out)?;
    if script.settings.check {
        out.write_all(b"\n-- --check: undo everything above.\nROLLBACK;\n")?;
    } else {
        out.write_all(b"\nCOMMIT;\n")?;
    }
    Ok(())
}

/// The script as `textrescue restore` runs it: everything up to the end of
/// the program, then [`REPORT_SQL`], and no end to the transaction: the
/// caller ends it (ROLLBACK for a plan, COMMIT once it has read the report).
pub fn write_for_restore(
    records: &[Record<'_>],
    script: &RestoreScript<'_>,
    extras: &RestoreExtras<'_>,
    out: &mut dyn Write,
) -> Result<()> {
    write_program(records, script, extras, &now(), out)?;
    out.write_all(b"\n")?;
    out.write_all(REPORT_SQL.as_bytes())?;
    Ok(())
}

/// One text, checked: everything the script writes for it.
struct Row<'r> {
    username: &'r str,
    task: &'r crate::texts::Task,
    text: &'r str,
    id: i64,
    created: String,
    modified: String,
    record: &'r Record<'r>,
}

/// Checks every text before a byte is written, so that a script is either
/// whole or not written at all.
fn check<'r>(records: &'r [Record<'r>]) -> Result<Vec<Row<'r>>> {
    records
        .iter()
        .map(|record| {
            let t = record.text;
            let Some(username) = record.username else {
                bail!(
                    "text id {}: the dump does not name its student (user id {} is not in its users table); \
                     restore SQL finds students by username",
                    t.id,
                    t.user_id
                );
            };
            let Some(task) = record.task else {
                bail!(
                    "text id {}: the dump does not name its task (task id {} is not in its tasks table); \
                     restore SQL finds tasks by phase and name",
                    t.id,
                    t.task_id
                );
            };
            let text = std::str::from_utf8(&t.text).map_err(|e| {
                anyhow!(
                    "text {} ({}, {}) is not valid UTF-8 at byte {} (a SQL_ASCII database?), so a \
                     restore script cannot restore it exactly; nothing was written: --format csv keeps \
                     its bytes",
                    t.id,
                    record.username_or_id(),
                    record.task_label(),
                    e.valid_up_to()
                )
            })?;
            if text.contains('\0') {
                bail!(
                    "text id {} holds a NUL byte, which PostgreSQL text cannot",
                    t.id
                );
            }
            Ok(Row {
                username,
                task,
                text,
                id: t.id,
                created: timestamp_literal(&t.created_at)?,
                modified: match &t.modified_at {
                    Some(m) => timestamp_literal(m)?,
                    None => "NULL".to_string(),
                },
                record,
            })
        })
        .collect()
}

/// The whole script but its end: header, tables, rows, program.
fn write_program(
    records: &[Record<'_>],
    script: &RestoreScript<'_>,
    extras: &RestoreExtras<'_>,
    now: &str,
    out: &mut dyn Write,
) -> Result<()> {
    let tables = Tables::new(script.table)?;
    let rows = check(records)?;
    if let Some(planned) = extras.planned
        && planned.len() != rows.len()
    {
        bail!(
            "a plan of {} texts for {} texts to restore",
            planned.len(),
            rows.len()
        );
    }
    let settings = script.settings;
    let n = rows.len();
    let table = script.table.to_string();

    // What makes the rest safe comes first, before any byte that is not ASCII.
    let mut head = String::new();
    head.push_str("-- Restore script written by textrescue: run it with\n");
    head.push_str("--     psql -v ON_ERROR_STOP=1 -d DATABASE -f THIS_FILE\n");
    head.push_str("\\set ON_ERROR_STOP on\n");
    head.push_str("\\set ON_ERROR_ROLLBACK off\n");
    head.push_str(SETTINGS_SQL);
    head.push_str("SET client_min_messages = notice;\n");
    head.push('\n');
    let _ = writeln!(
        head,
        "-- Restores {n} task text{} into {}",
        plural(n),
        comment_safe(&table, 200)
    );
    let _ = writeln!(
        head,
        "-- from the backup {}",
        comment_safe(script.source, 400)
    );
    let _ = writeln!(
        head,
        "-- Where the live database already has a text for the student and task:"
    );
    let _ = writeln!(
        head,
        "--     --on-conflict {}",
        settings.on_conflict.explained()
    );
    let _ = writeln!(
        head,
        "-- Written {} by textrescue {}.",
        comment_safe(now, 64),
        env!("CARGO_PKG_VERSION")
    );
    if settings.check {
        head.push_str(
            "-- CHECK ONLY (--check): reports what it would do, then ROLLBACK; changes nothing.\n",
        );
    } else {
        head.push_str("-- It changes nothing unless every student and task is found (and, with\n");
        head.push_str(
            "-- --on-conflict error, no text is in the way): it all happens or none of it.\n",
        );
    }
    head.push_str("-- Students are found by username, tasks by phase and name, in the live\n");
    head.push_str("-- database; the backup's ids are not trusted. A restored text keeps its\n");
    head.push_str("-- backup id where that id is free, else takes a new one from the sequence.\n");
    head.push('\n');
    head.push_str("BEGIN;\n");
    head.push_str("SET LOCAL lock_timeout = '30s';\n\n");
    out.write_all(head.as_bytes())?;
    let mut chars = Chars::default();
    tables.add_chars(&mut chars);
    for row in &rows {
        chars.add(row.text, || format!("text id {}", row.id));
        chars.add(row.username, || {
            format!("the username of text id {}", row.id)
        });
        chars.add(&row.task.name, || {
            format!("the task name of text id {}", row.id)
        });
    }
    for d in extras.deletions {
        for u in &d.usernames {
            chars.add(u, || "a username of the texts to delete".into());
        }
    }
    chars.check_sql(out)?;
    tables.target_sql(Some(LockMode::Exclusive), out)?;
    out.write_all(b"\n")?;
    out.write_all(TABLES_SQL.as_bytes())?;

    for (i, row) in rows.iter().enumerate() {
        let planned = extras.planned.map(|p| &p[i]);
        out.write_all(block(i + 1, n, row, planned).as_bytes())?;
    }
    for (i, deletion) in extras.deletions.iter().enumerate() {
        out.write_all(deletion_row(i + 1, deletion).as_bytes())?;
    }

    let policy = format!("'{}'", settings.on_conflict.name());
    render_template(
        PROGRAM_SQL,
        &[
            ("policy", &policy),
            ("check_only", if settings.check { "true" } else { "false" }),
        ],
        out,
    )?;
    out.write_all(names::DROP_VIEWS_SQL.as_bytes())?;
    Ok(())
}

/// The comment and plan row of one text.
fn block(i: usize, n: usize, row: &Row<'_>, planned: Option<&Planned>) -> String {
    let mut s = String::new();
    let record = row.record;
    let _ = writeln!(
        s,
        "-- [{i}/{n}] student {}, task {}, backup id {}",
        comment_safe(row.username, 80),
        comment_safe(&row.task.label(), 40),
        row.id
    );
    let _ = writeln!(
        s,
        "--     created {}, modified {}",
        comment_safe(&record.text.created_at.rfc3339, 64),
        record
            .text
            .modified_at
            .as_ref()
            .map(|m| comment_safe(&m.rfc3339, 64))
            .unwrap_or_else(|| "never".into())
    );
    let _ = writeln!(s, "--     {}", describe(row.text));
    let (plan_columns, plan_values) = match planned {
        Some(p) => (
            ", planned_action, planned_live_sha256",
            format!(
                ", '{}', {}",
                p.action.name(),
                sha_literal(p.live_sha256.as_deref())
            ),
        ),
        None => ("", String::new()),
    };
    let _ = writeln!(
        s,
        "INSERT INTO textrescue_plan (n, username, phase, task_name, backup_id, created_at, modified_at, text{plan_columns})\n\
         VALUES ({i}, {}, {}, {}, {}, {}, {},\n{}{plan_values});\n",
        string_literal(row.username),
        row.task.phase,
        string_literal(&row.task.name),
        row.id,
        row.created,
        row.modified,
        text_literal(row.text)
    );
    s
}

/// The row of one live text to delete.
fn deletion_row(i: usize, d: &Deletion) -> String {
    let usernames: Vec<String> = d.usernames.iter().map(|u| string_literal(u)).collect();
    let (action, sha) = match &d.planned {
        Some(p) => (
            format!("'{}'", p.action.name()),
            sha_literal(p.live_sha256.as_deref()),
        ),
        None => ("NULL".into(), "NULL".into()),
    };
    format!(
        "-- delete the live text id {} (the backup does not have it)\n\
         INSERT INTO textrescue_delete (n, id, usernames, planned_action, planned_live_sha256)\n\
         VALUES ({i}, {}, ARRAY[{}]::text[], {action}, {sha});\n\n",
        d.id,
        d.id,
        usernames.join(", ")
    )
}

/// Characters of a text shown in its comment.
const PREVIEW_CHARS: usize = 60;

/// `812 bytes, 14 lines, begins: "Notes on …"` for a text's comment.
fn describe(text: &str) -> String {
    if text.is_empty() {
        return "empty text".into();
    }
    // Line breaks of every kind: LF, CRLF and a lone CR.
    let breaks =
        text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count();
    let lines = breaks + usize::from(!text.ends_with(['\n', '\r']));
    let first = text
        .split(['\n', '\r'])
        .find(|l| !l.trim().is_empty())
        .unwrap_or(&text[..0]);
    let mut preview = comment_safe(first, PREVIEW_CHARS);
    // `first` is a slice of `text`: is there anything after what is shown?
    let start = first.as_ptr() as usize - text.as_ptr() as usize;
    let shown: usize = first.chars().take(PREVIEW_CHARS).map(char::len_utf8).sum();
    let more = !text[start + shown..].trim().is_empty();
    if more && !preview.ends_with("...") {
        preview.push_str("...");
    }
    format!(
        "{} byte{}, {} line{}, begins: \"{}\"",
        text.len(),
        plural(text.len()),
        lines,
        plural(lines),
        preview
    )
}

/// A `timestamptz` literal for a timestamp as the dump wrote it. The value
/// is checked to hold only what RFC 3339 times hold.
fn timestamp_literal(t: &Timestamp) -> Result<String> {
    let v = &t.rfc3339;
    if v.is_empty()
        || !v
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b':' | b'.' | b'T' | b'Z'))
    {
        bail!("{v:?} is not a time that restore SQL can write");
    }
    Ok(format!("'{v}'"))
}
