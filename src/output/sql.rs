//! `--format sql`: a restore script for `psql -v ON_ERROR_STOP=1 -d LIVE -f FILE`,
//! and the same script for `textrescue restore` to run (see [`write_for_restore`]).
//!
//! The program itself (the temporary tables and the `DO` block that looks
//! up, checks, applies and reports) is SQL in `sql/*.sql`, included as it
//! is; this module writes the header, one plan row per text, and fills in
//! the program's few `@name@` slots (table names, policy) in one pass.
//!
//! The script is built so that psql can only ever see it as what it is:
//!
//! - every text, username and task name is written as readable SQL
//!   literals, never outside one: characters that show as they are go into
//!   standard-conforming single-quoted strings (`'it''s'`; a backslash is
//!   just a backslash, as `standard_conforming_strings` is set on first),
//!   characters a terminal hides or mangles (CR, LF, tab, other controls,
//!   bidi controls, U+2028/2029, zero-width characters: the list of
//!   [`super::escape`]) go into escape strings that hold nothing but
//!   escapes (`E'\r\n'`, `E'\u202E'`). psql's lexer passes a quoted literal
//!   to the server as it is: a `\!`, `\i`, `\.`, `\unrestrict`, `:variable`
//!   or `$$` inside one is not a meta-command, an interpolation or a quote,
//!   and as each line of a text gets its own line of the script beginning
//!   with a quote, no line of the script begins with anything a student
//!   typed. No byte of the script is a control character but the LF that
//!   ends each of its lines, nor any character a terminal would hide (a
//!   table name holding one is refused). (A text that
//!   is not UTF-8 or holds NUL cannot be restored through psql's UTF-8 and is
//!   refused before anything is written);
//! - identifiers (schema and table names) are always double-quoted, so no
//!   name, reserved word or not, can be read as anything else;
//! - comments (`-- …` to the end of the line) show names and a preview of
//!   each text with every control, line-separator and bidi character and
//!   every backslash escaped, so nothing can end the comment early or hide
//!   what follows;
//! - the only meta-commands are the `\set` lines at the top, the only
//!   statements are settings, the transaction, two temporary tables, one
//!   insert per text into them and one `DO` block that looks up
//!   students and tasks in the live database, checks everything, applies
//!   and reports with `RAISE NOTICE`.
//!
//! The backup's `user_id`/`task_id` are never used: students are found by
//! username and tasks by phase and name in the live database.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Result, anyhow, bail};

use crate::format::TableName;
use crate::texts::{Record, Timestamp};

/// The temporary tables the program works from.
const TABLES_SQL: &str = include_str!("sql/tables.sql");
/// The `DO` block: look up, check, apply, report.
const PROGRAM_SQL: &str = include_str!("sql/program.sql");
/// One line for `textrescue restore` to read: `textrescue-report ` and JSON
/// saying, per text, what the program did or would do.
pub const REPORT_SQL: &str = include_str!("sql/report.sql");
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

/// The options of `--format sql`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SqlArgs {
    /// With --format sql: what to do where the live database already has a
    /// text for that student and task.
    #[arg(long, value_enum, default_value_t = OnConflict::Skip)]
    pub on_conflict: OnConflict,
    /// With --format sql: the same script, ending in ROLLBACK: it reports
    /// what it would do and changes nothing.
    #[arg(long)]
    pub check: bool,
}

/// Everything the script's header and statements need besides the texts.
pub struct RestoreScript<'a> {
    /// The dump the texts come from, for the header.
    pub source: &'a str,
    /// The live texts table (the users and tasks tables are in its schema).
    pub table: &'a TableName,
    pub args: &'a SqlArgs,
}

impl<'a> RestoreScript<'a> {
    pub fn new(source: &'a str, table: &'a TableName, args: &'a SqlArgs) -> RestoreScript<'a> {
        RestoreScript {
            source,
            table,
            args,
        }
    }
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

/// Characters of a text shown in its comment.
const PREVIEW_CHARS: usize = 60;

/// Writes a script that restores `records` into the live database under
/// `script.args.on_conflict`, or with `--check` reports what it would do.
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
    if script.args.check {
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
    let args = script.args;
    let n = rows.len();
    let table = script.table.to_string();

    // What makes the rest safe comes first, before any byte that is not ASCII.
    let mut head = String::new();
    head.push_str("-- Restore script written by textrescue: run it with\n");
    head.push_str("--     psql -v ON_ERROR_STOP=1 -d DATABASE -f THIS_FILE\n");
    head.push_str("\\set ON_ERROR_STOP on\n");
    head.push_str("\\set ON_ERROR_ROLLBACK off\n");
    head.push_str("SET client_encoding = 'UTF8';\n");
    head.push_str("SET standard_conforming_strings = on;\n");
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
        args.on_conflict.explained()
    );
    let _ = writeln!(
        head,
        "-- Written {} by textrescue {}.",
        comment_safe(now, 64),
        env!("CARGO_PKG_VERSION")
    );
    if args.check {
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
    head.push_str("SET LOCAL lock_timeout = '30s';\n");
    head.push_str("-- Keep the server from writing texts while this runs (reading still works).\n");
    let _ = writeln!(head, "LOCK TABLE {} IN EXCLUSIVE MODE;\n", tables.texts);
    out.write_all(head.as_bytes())?;
    out.write_all(TABLES_SQL.as_bytes())?;

    for (i, row) in rows.iter().enumerate() {
        let planned = extras.planned.map(|p| &p[i]);
        out.write_all(block(i + 1, n, row, planned).as_bytes())?;
    }
    for (i, deletion) in extras.deletions.iter().enumerate() {
        out.write_all(deletion_row(i + 1, deletion).as_bytes())?;
    }

    let policy = format!("'{}'", args.on_conflict.name());
    render_template(
        PROGRAM_SQL,
        &[
            ("policy", &policy),
            ("check_only", if args.check { "true" } else { "false" }),
            ("texts", &tables.texts),
            ("texts_literal", &tables.texts_literal),
            ("users", &tables.users),
            ("tasks", &tables.tasks),
        ],
        out,
    )?;
    Ok(())
}

/// Writes `template` with each `@name@` replaced by its value, in one pass
/// (a value is never read again for slots: a table name may hold `@`).
pub(crate) fn render_template(
    template: &str,
    values: &[(&str, &str)],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut rest = template;
    while let Some(at) = rest.find('@') {
        let after = &rest[at + 1..];
        let slot = after
            .find('@')
            .map(|end| &after[..end])
            .and_then(|name| values.iter().find(|(k, _)| *k == name));
        match slot {
            Some((name, value)) => {
                out.write_all(&rest.as_bytes()[..at])?;
                out.write_all(value.as_bytes())?;
                rest = &after[name.len() + 1..];
            }
            None => {
                out.write_all(&rest.as_bytes()[..=at])?;
                rest = after;
            }
        }
    }
    out.write_all(rest.as_bytes())
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

/// A sha256 in hex as a literal (only hex digits ever reach the script).
fn sha_literal(sha: Option<&str>) -> String {
    match sha {
        Some(h) if h.bytes().all(|b| b.is_ascii_hexdigit()) => format!("'{h}'"),
        Some(_) | None => "NULL".into(),
    }
}

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

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One line of comment text: at most `max_chars` characters of `s` (then
/// `...`), with backslashes, control characters (C0, DEL, C1), line and
/// paragraph separators, bidi and other invisible format characters shown
/// as escapes, so that nothing in it can end the `--` comment, start a new
/// line for psql, or make the line read differently from what it is.
pub(crate) fn comment_safe(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    for (count, c) in s.chars().enumerate() {
        if count == max_chars {
            out.push_str("...");
            break;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if super::escape::needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// One piece of a text as SQL: a standard-conforming literal (`'it''s'`,
/// backslashes as they are) for what shows as it is, or an escape string
/// (`E'\r\n'`, `E'\u202E'`) holding only escapes for a run of characters
/// that a terminal would hide or mangle (see [`super::escape`]).
struct Piece {
    sql: String,
    /// The piece ends a line of the text (LF, CRLF or a lone CR).
    ends_line: bool,
}

/// `s` cut into [`Piece`]s: runs of characters shown as they are, and runs
/// of characters shown as escapes, a line break ending its run.
fn pieces(s: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut escaped = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if super::escape::needs_escape(c) {
            if !plain.is_empty() {
                out.push(Piece {
                    sql: format!("'{}'", plain.replace('\'', "''")),
                    ends_line: false,
                });
                plain.clear();
            }
            match c {
                '\n' => escaped.push_str("\\n"),
                '\r' => escaped.push_str("\\r"),
                '\t' => escaped.push_str("\\t"),
                c if (c as u32) <= 0xFFFF => {
                    let _ = write!(escaped, "\\u{:04X}", c as u32);
                }
                c => {
                    let _ = write!(escaped, "\\U{:08X}", c as u32);
                }
            }
            let ends_line = c == '\n' || (c == '\r' && chars.peek() != Some(&'\n'));
            if ends_line {
                out.push(Piece {
                    sql: format!("E'{escaped}'"),
                    ends_line: true,
                });
                escaped.clear();
            }
        } else {
            if !escaped.is_empty() {
                out.push(Piece {
                    sql: format!("E'{escaped}'"),
                    ends_line: false,
                });
                escaped.clear();
            }
            plain.push(c);
        }
    }
    if !plain.is_empty() {
        out.push(Piece {
            sql: format!("'{}'", plain.replace('\'', "''")),
            ends_line: false,
        });
    }
    if !escaped.is_empty() {
        out.push(Piece {
            sql: format!("E'{escaped}'"),
            ends_line: false,
        });
    }
    out
}

/// A text as one SQL expression that a person can read: `'…'` when it is
/// one line of characters that show as they are, otherwise its pieces in
/// order, one line of the script for each line of the text:
///
/// ```text
/// array_to_string(ARRAY[
///     'First line', E'\r\n',
///     '\! not a meta-command: psql reads it inside a literal', E'\n',
///     'col1', E'\t', 'col2'
/// ], '')
/// ```
///
/// An array rather than a chain of `||`: a text of many thousand lines is
/// a flat list for PostgreSQL's parser, never a deep expression.
fn text_literal(s: &str) -> String {
    let pieces = pieces(s);
    match pieces.as_slice() {
        [] => "''".to_string(),
        [one] if !one.ends_line => one.sql.clone(),
        _ => {
            let mut out = String::from("array_to_string(ARRAY[\n    ");
            for (k, piece) in pieces.iter().enumerate() {
                out.push_str(&piece.sql);
                if k + 1 < pieces.len() {
                    out.push_str(if piece.ends_line { ",\n    " } else { ", " });
                }
            }
            out.push_str("\n], '')");
            out
        }
    }
}

/// A username or task name as one SQL expression on one line: a plain
/// literal (`'o''brien'`) when every character shows as it is, else its
/// pieces (`array_to_string(ARRAY['eve', E'\n', '\! x'], '')`).
pub(crate) fn string_literal(s: &str) -> String {
    let pieces = pieces(s);
    match pieces.as_slice() {
        [] => "''".to_string(),
        [one] => one.sql.clone(),
        _ => format!(
            "array_to_string(ARRAY[{}], '')",
            pieces
                .iter()
                .map(|p| p.sql.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
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

/// The live tables, as SQL names, and the texts table as a string literal
/// for `pg_get_serial_sequence`.
pub(crate) struct Tables {
    pub texts: String,
    pub texts_literal: String,
    pub users: String,
    pub tasks: String,
}

impl Tables {
    /// The texts table and, in its schema, `users` and `tasks`.
    pub fn new(table: &TableName) -> Result<Tables> {
        for part in [&table.schema, &table.name] {
            if part.is_empty() || part.contains('\0') {
                bail!("{:?} is not a table name", table.to_string());
            }
            if !super::escape::is_visible(part) {
                bail!(
                    "the table name {} holds characters that a restore script could not show",
                    super::escape::visible(&table.to_string())
                );
            }
        }
        let name = |t: &str| format!("{}.{}", quote_ident(&table.schema), quote_ident(t));
        let texts = name(&table.name);
        Ok(Tables {
            texts_literal: format!("'{}'", texts.replace('\'', "''")),
            texts,
            users: name("users"),
            tasks: name("tasks"),
        })
    }
}

/// An identifier as SQL, always double-quoted: no name (`end`, `user`,
/// `My School`) can then be read as a keyword or split, and psql reads a
/// quoted identifier as one token (nothing in it is a meta-command or a
/// variable). [`Tables::new`] lets no control or invisible character through.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texts::{Task, TaskText};

    #[test]
    fn texts_are_readable_literals_with_visible_escapes() {
        assert_eq!(text_literal(""), "''");
        assert_eq!(
            text_literal("it's a \\ backslash, $$ and :foo"),
            "'it''s a \\ backslash, $$ and :foo'"
        );
        assert_eq!(
            text_literal("First line\r\n\\! touch x\n\n\tcol1\tcol2\rend"),
            "array_to_string(ARRAY[\n    \
             'First line', E'\\r\\n',\n    \
             '\\! touch x', E'\\n',\n    \
             E'\\n',\n    \
             E'\\t', 'col1', E'\\t', 'col2', E'\\r',\n    \
             'end'\n], '')"
        );
        assert_eq!(
            text_literal("a\u{202e}\u{200b}b\u{2028}c\u{1b}[2J🏎\u{e0041}\u{85}\n"),
            "array_to_string(ARRAY[\n    \
             'a', E'\\u202E\\u200B', 'b', E'\\u2028', 'c', E'\\u001B', '[2J🏎', \
             E'\\U000E0041\\u0085\\n'\n], '')"
        );
        assert_eq!(text_literal("Привет שלום 👋"), "'Привет שלום 👋'");
    }

    /// Reads a text expression back the way PostgreSQL does (only what
    /// [`text_literal`] writes: `'…'`, `E'…'`, the array around them).
    fn eval(sql: &str) -> String {
        let mut out = String::new();
        let mut rest = sql;
        while let Some(start) = rest.find('\'') {
            let escape = rest[..start].ends_with('E');
            let body_start = start + 1;
            let mut end = body_start;
            let bytes = rest.as_bytes();
            loop {
                if bytes[end] == b'\'' {
                    if bytes.get(end + 1) == Some(&b'\'') {
                        end += 2;
                        continue;
                    }
                    break;
                }
                end += 1;
            }
            let body = &rest[body_start..end];
            if escape {
                let mut chars = body.chars();
                while let Some(c) = chars.next() {
                    assert_eq!(c, '\\', "{body}");
                    match chars.next().unwrap() {
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        u @ ('u' | 'U') => {
                            let n = if u == 'u' { 4 } else { 8 };
                            let hex: String = chars.by_ref().take(n).collect();
                            out.push(
                                char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap(),
                            );
                        }
                        c => panic!("escape {c}"),
                    }
                }
            } else {
                out.push_str(&body.replace("''", "'"));
            }
            rest = &rest[end + 1..];
        }
        out
    }

    #[test]
    fn literals_are_exact_and_nothing_hidden_reaches_the_script() {
        for text in [
            "",
            "'",
            "''",
            "\r\n\r\n",
            "\n",
            "a\r",
            "\\.\n\\! echo\r\\unrestrict x\n\\restrict x",
            "E'\\x41' $$ $x$ :'v'",
            "\u{202e}\u{2066}x\u{2069}\u{200d}\u{feff}\u{7f}\u{9c}",
            "🏳️‍🌈 שלום עולם مرحبا",
        ] {
            let sql = text_literal(text);
            assert_eq!(eval(&sql), text, "{sql}");
            assert!(
                !sql.chars()
                    .any(|c| c != '\n' && super::super::escape::needs_escape(c)),
                "{sql:?}"
            );
            for line in sql.lines() {
                let line = line.trim_start();
                assert!(
                    line.is_empty()
                        || line.starts_with('\'')
                        || line.starts_with("E'")
                        || line == "array_to_string(ARRAY["
                        || line == "], '')",
                    "{line:?}"
                );
            }
            let name = string_literal(text);
            assert!(!name.contains('\n'), "{name:?}");
            assert_eq!(eval(&name), text, "{name}");
        }
    }

    #[test]
    fn comment_text_cannot_leave_its_line() {
        let nasty = "a\nDROP TABLE users;\r\\! rm -rf /\u{2028}x\u{2029}\u{85}\u{b}\u{c}\u{202e}evil\u{0}\u{7f}";
        let c = comment_safe(nasty, 1000);
        assert!(
            !c.chars()
                .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
            "{c}"
        );
        assert_eq!(
            c,
            "a\\nDROP TABLE users;\\r\\\\! rm -rf /\\u{2028}x\\u{2029}\\u{85}\\u{b}\\u{c}\\u{202e}evil\\u{0}\\u{7f}"
        );
    }

    #[test]
    fn comment_text_keeps_readable_unicode_and_is_cut() {
        assert_eq!(
            comment_safe("Привет, мир 👋 שלום", 100),
            "Привет, мир 👋 שלום"
        );
        assert_eq!(comment_safe("abcdef", 3), "abc...");
        assert_eq!(comment_safe("tab\there", 100), "tab\\there");
        assert_eq!(
            comment_safe("a\u{a0}b\u{200b}c", 100),
            "a\\u{a0}b\\u{200b}c"
        );
    }

    #[test]
    fn description_counts_every_kind_of_line_break() {
        assert_eq!(describe(""), "empty text");
        assert_eq!(describe("a\rb\rc"), "5 bytes, 3 lines, begins: \"a...\"");
        assert_eq!(describe("a\r\nb\r\n"), "6 bytes, 2 lines, begins: \"a...\"");
        assert_eq!(
            describe("\n\n  \nhello"),
            "10 bytes, 4 lines, begins: \"hello\""
        );
        assert_eq!(
            describe("one line"),
            "8 bytes, 1 line, begins: \"one line\""
        );
    }

    #[test]
    fn names_are_readable_literals() {
        assert_eq!(string_literal("alice"), "'alice'");
        assert_eq!(string_literal("o'brien"), "'o''brien'");
        assert_eq!(string_literal("zoë"), "'zoë'");
        assert_eq!(string_literal(""), "''");
        assert_eq!(
            string_literal("eve\n\\! touch x\r"),
            "array_to_string(ARRAY['eve', E'\\n', '\\! touch x', E'\\r'], '')"
        );
    }

    #[test]
    fn table_names_are_always_quoted() {
        let t = Tables::new(&TableName::new("public", "tasktexts")).unwrap();
        assert_eq!(t.texts, "\"public\".\"tasktexts\"");
        assert_eq!(t.texts_literal, "'\"public\".\"tasktexts\"'");
        assert_eq!(t.users, "\"public\".\"users\"");
        let t = Tables::new(&TableName::new("end", "user")).unwrap();
        assert_eq!(t.texts, "\"end\".\"user\"");
        assert_eq!(t.tasks, "\"end\".\"tasks\"");
        let t = Tables::new(&TableName::new("My \"School\"", "task_texts")).unwrap();
        assert_eq!(t.texts, "\"My \"\"School\"\"\".\"task_texts\"");
        let t = Tables::new(&TableName::new("O'Neil", "tasktexts")).unwrap();
        assert_eq!(t.texts_literal, "'\"O''Neil\".\"tasktexts\"'");
        assert!(Tables::new(&TableName::new("public", "task\ntexts")).is_err());
        assert!(Tables::new(&TableName::new("public", "task\u{202e}texts")).is_err());
        assert!(Tables::new(&TableName::new("", "t")).is_err());
        assert!(Tables::new(&TableName::new("p", "a\0b")).is_err());
    }

    #[test]
    fn slots_are_filled_in_one_pass() {
        let mut out = Vec::new();
        render_template(
            "LOCK @texts@; @users@ a@b @missing@",
            &[("texts", "\"a@users@\""), ("users", "u")],
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "LOCK \"a@users@\"; u a@b @missing@"
        );
        // Every slot of the program is one that gets a value.
        let known = [
            "policy",
            "check_only",
            "texts",
            "texts_literal",
            "users",
            "tasks",
        ];
        let mut rest = PROGRAM_SQL;
        while let Some(at) = rest.find('@') {
            let after = &rest[at + 1..];
            let end = after.find('@').expect("a slot is closed");
            assert!(known.contains(&&after[..end]), "{}", &after[..end]);
            rest = &after[end + 1..];
        }
        assert!(!TABLES_SQL.contains('@') && !REPORT_SQL.contains('@'));
    }

    fn render(records: &[Record<'_>], script: &RestoreScript<'_>, now: &str) -> Result<String> {
        let mut out = Vec::new();
        write_at(records, script, now, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_pg(s).unwrap()
    }

    /// The script with the body of every literal (`'…'`, `E'…'`) taken
    /// out and every `--` comment line dropped: what psql reads as commands
    /// and SQL around the literals.
    fn outside_literals(sql: &str) -> String {
        let mut out = String::new();
        let mut in_literal = false;
        let mut chars = sql.chars().peekable();
        let mut line_start = true;
        while let Some(c) = chars.next() {
            if in_literal {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        in_literal = false;
                        out.push('\'');
                    }
                }
                continue;
            }
            if line_start && c == '-' && chars.peek() == Some(&'-') {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                continue;
            }
            line_start = c == '\n';
            out.push(c);
            if c == '\'' {
                in_literal = true;
            }
        }
        assert!(!in_literal, "a literal is left open");
        out
    }

    /// Every line of the script outside its literals is one of ours (a
    /// comment, a \set line, or SQL that holds none of the text), the text
    /// is there to read, and no byte of it is hidden from a terminal.
    #[test]
    fn nasty_text_is_only_ever_inside_literals() {
        let nasty = "'); DROP TABLE users; --\n\\.\n\\! touch /tmp/pwned\n:foo :'foo' $$ $x$\r\n\\i /etc/passwd\u{202e}\n\\unrestrict k\n";
        let text = TaskText {
            id: 7,
            user_id: 3,
            task_id: 4,
            created_at: ts("2024-03-01 14:22:11.123456+00"),
            modified_at: None,
            text: nasty.as_bytes().to_vec(),
        };
        let task = Task {
            phase: 3,
            name: "multi".into(),
            is_enabled: true,
        };
        let record = Record {
            text: &text,
            username: Some("bob\n\\! echo"),
            task: Some(&task),
        };
        let args = SqlArgs::default();
        let table = TableName::new("public", "tasktexts");
        let script = RestoreScript {
            source: "/backups/x\n\\! y.sql.gz",
            table: &table,
            args: &args,
        };
        let sql = render(&[record], &script, "2024-03-06T00:00:00+00:00").unwrap();
        let meta: Vec<&str> = sql.lines().filter(|l| l.starts_with('\\')).collect();
        assert_eq!(
            meta,
            ["\\set ON_ERROR_STOP on", "\\set ON_ERROR_ROLLBACK off"]
        );
        let code = outside_literals(&sql);
        for bad in [
            "pwned",
            "DROP TABLE",
            ":foo",
            "bob",
            "y.sql",
            "\\i",
            "\\!",
            "\\.",
            "\\u",
            "$$",
        ] {
            assert!(!code.contains(bad), "{bad}:\n{code}");
        }
        assert!(
            !sql.chars()
                .any(|c| c != '\n' && super::super::escape::needs_escape(c)),
            "{sql:?}"
        );
        assert!(
            sql.contains(
                "VALUES (1, array_to_string(ARRAY['bob', E'\\n', '\\! echo'], ''), 3, 'multi', 7, \
                 '2024-03-01T14:22:11.123456+00:00', NULL,\n\
                 array_to_string(ARRAY[\n    \
                 '''); DROP TABLE users; --', E'\\n',\n    \
                 '\\.', E'\\n',\n    \
                 '\\! touch /tmp/pwned', E'\\n',\n    \
                 ':foo :''foo'' $$ $x$', E'\\r\\n',\n    \
                 '\\i /etc/passwd', E'\\u202E\\n',\n    \
                 '\\unrestrict k', E'\\n'\n\
                 ], ''));\n"
            ),
            "{sql}"
        );
        assert!(sql.contains("-- [1/1] student bob\\n\\\\! echo, task 3-MULTI, backup id 7\n"));
        assert!(
            sql.contains("begins: \"'); DROP TABLE users; --...\""),
            "{sql}"
        );
        assert!(sql.trim_end().ends_with("COMMIT;"));
    }

    /// What `restore` runs: the plan each text is held to, the texts to
    /// delete, the report, and no end to the transaction (the caller ends it).
    #[test]
    fn the_script_for_restore_holds_texts_to_the_plan_and_reports() {
        let text = TaskText {
            id: 9,
            user_id: 2,
            task_id: 3,
            created_at: ts("2024-03-01 14:22:11+00"),
            modified_at: None,
            text: b"x".to_vec(),
        };
        let task = Task {
            phase: 3,
            name: "MULTI".into(),
            is_enabled: true,
        };
        let record = Record {
            text: &text,
            username: Some("alice"),
            task: Some(&task),
        };
        let args = SqlArgs {
            on_conflict: OnConflict::Overwrite,
            check: false,
        };
        let table = TableName::new("public", "tasktexts");
        let script = RestoreScript {
            source: "b.sql.gz",
            table: &table,
            args: &args,
        };
        let planned = [Planned {
            action: Action::Overwrite,
            live_sha256: Some("ab12".into()),
        }];
        let deletions = [Deletion {
            id: 40,
            usernames: vec!["alice".into()],
            planned: Some(Planned {
                action: Action::Delete,
                live_sha256: Some("cd34".into()),
            }),
        }];
        let mut out = Vec::new();
        write_for_restore(
            &[record],
            &script,
            &RestoreExtras {
                planned: Some(&planned),
                deletions: &deletions,
            },
            &mut out,
        )
        .unwrap();
        let sql = String::from_utf8(out).unwrap();
        assert!(
            sql.contains("text, planned_action, planned_live_sha256)\n"),
            "{sql}"
        );
        assert!(sql.contains("'x', 'overwrite', 'ab12');"), "{sql}");
        assert!(
            sql.contains("VALUES (1, 40, ARRAY['alice']::text[], 'delete', 'cd34');"),
            "{sql}"
        );
        assert!(sql.contains("LOCK TABLE \"public\".\"tasktexts\" IN EXCLUSIVE MODE;"));
        assert!(
            sql.trim_end().ends_with("FROM textrescue_delete))::text;"),
            "{sql}"
        );
        assert!(!sql.contains("\nCOMMIT;") && !sql.contains("\nROLLBACK;"));
        assert!(!sql.contains('@'), "every slot filled");
        assert_eq!(Action::from_name("gone"), Some(Action::Gone));
        assert_eq!(sha_literal(Some("'; DROP")), "NULL");
    }

    #[test]
    fn check_ends_in_rollback_and_unknown_names_are_refused() {
        let text = TaskText {
            id: 1,
            user_id: 2,
            task_id: 3,
            created_at: ts("2024-03-01 14:22:11+00"),
            modified_at: Some(ts("2024-03-02 10:00:00.5+05:30")),
            text: b"x".to_vec(),
        };
        let task = Task {
            phase: 0,
            name: "GET".into(),
            is_enabled: true,
        };
        let args = SqlArgs {
            on_conflict: OnConflict::Overwrite,
            check: true,
        };
        let table = TableName::new("public", "tasktexts");
        let script = RestoreScript {
            source: "d.sql",
            table: &table,
            args: &args,
        };
        let ok = Record {
            text: &text,
            username: Some("alice"),
            task: Some(&task),
        };
        let sql = render(&[ok], &script, "now").unwrap();
        assert!(sql.trim_end().ends_with("ROLLBACK;"));
        assert!(!sql.contains("COMMIT;"));
        assert!(sql.contains("'2024-03-02T10:00:00.5+05:30'"));
        assert!(sql.contains("policy constant text := 'overwrite'"));
        let no_user = Record {
            username: None,
            ..ok
        };
        assert!(render(&[no_user], &script, "now").is_err());
        let no_task = Record { task: None, ..ok };
        assert!(render(&[no_task], &script, "now").is_err());
    }
}
