//! `--format sql`: a restore script for `psql -v ON_ERROR_STOP=1 -d LIVE -f FILE`.
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
//! - comments (`-- …` to the end of the line) show names and a preview of
//!   each text with every control, line-separator and bidi character and
//!   every backslash escaped, so nothing can end the comment early or hide
//!   what follows;
//! - the only meta-commands are the `\set` lines at the top, the only
//!   statements are settings, the transaction, a temporary plan table, one
//!   insert per text into that table and one `DO` block that looks up
//!   students and tasks in the live database, checks everything, applies
//!   and reports with `RAISE NOTICE`.
//!
//! The backup's `user_id`/`task_id` are never used: students are found by
//! username and tasks by phase and name in the live database.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context, Result, anyhow, bail};

use crate::texts::{Record, Timestamp};

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
    fn name(self) -> &'static str {
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
    /// The live texts table, e.g. `public.tasktexts`.
    pub table: &'a str,
    pub args: &'a SqlArgs,
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
    let text = render(
        records,
        script,
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// The whole script as a string; `now` goes into the header.
fn render(records: &[Record<'_>], script: &RestoreScript<'_>, now: &str) -> Result<String> {
    let tables = Tables::new(script.table)?;
    let args = script.args;
    let mut s = String::new();
    let n = records.len();

    // What makes the rest safe comes first, before any byte that is not ASCII.
    s.push_str("-- Restore script written by textrescue: run it with\n");
    s.push_str("--     psql -v ON_ERROR_STOP=1 -d DATABASE -f THIS_FILE\n");
    s.push_str("\\set ON_ERROR_STOP on\n");
    s.push_str("\\set ON_ERROR_ROLLBACK off\n");
    s.push_str("SET client_encoding = 'UTF8';\n");
    s.push_str("SET standard_conforming_strings = on;\n");
    s.push_str("SET client_min_messages = notice;\n");
    s.push('\n');
    let _ = writeln!(
        s,
        "-- Restores {n} task text{} into {}",
        plural(n),
        comment_safe(script.table, 200)
    );
    let _ = writeln!(s, "-- from the backup {}", comment_safe(script.source, 400));
    let _ = writeln!(
        s,
        "-- Where the live database already has a text for the student and task:"
    );
    let _ = writeln!(s, "--     --on-conflict {}", args.on_conflict.explained());
    let _ = writeln!(
        s,
        "-- Written {} by textrescue {}.",
        comment_safe(now, 64),
        env!("CARGO_PKG_VERSION")
    );
    if args.check {
        s.push_str(
            "-- CHECK ONLY (--check): reports what it would do, then ROLLBACK; changes nothing.\n",
        );
    } else {
        s.push_str("-- It changes nothing unless every student and task is found (and, with\n");
        s.push_str(
            "-- --on-conflict error, no text is in the way): it all happens or none of it.\n",
        );
    }
    s.push_str("-- Students are found by username, tasks by phase and name, in the live\n");
    s.push_str("-- database; the backup's ids are not trusted. A restored text keeps its\n");
    s.push_str("-- backup id where that id is free, else takes a new one from the sequence.\n");
    s.push('\n');
    s.push_str("BEGIN;\n");
    s.push_str("SET LOCAL lock_timeout = '30s';\n");
    s.push_str("-- Keep the server from writing texts while this runs (reading still works).\n");
    let _ = writeln!(s, "LOCK TABLE {} IN EXCLUSIVE MODE;", tables.texts);
    s.push('\n');
    s.push_str(
        "CREATE TEMPORARY TABLE textrescue_plan (\n    \
         n integer PRIMARY KEY,\n    \
         username text NOT NULL,\n    \
         phase integer NOT NULL,\n    \
         task_name text NOT NULL,\n    \
         backup_id bigint NOT NULL,\n    \
         created_at timestamptz NOT NULL,\n    \
         modified_at timestamptz,\n    \
         text text NOT NULL,\n    \
         user_id bigint,\n    \
         task_id bigint\n\
         ) ON COMMIT DROP;\n\n",
    );

    for (i, record) in records.iter().enumerate() {
        block(&mut s, i + 1, n, record)?;
    }

    s.push_str(&do_block(&tables, args));
    s.push('\n');
    if args.check {
        s.push_str("-- --check: undo everything above.\nROLLBACK;\n");
    } else {
        s.push_str("COMMIT;\n");
    }
    Ok(s)
}

/// The comment and plan row of one text.
fn block(s: &mut String, i: usize, n: usize, record: &Record<'_>) -> Result<()> {
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
    let created = timestamp_literal(&t.created_at)?;
    let modified = match &t.modified_at {
        Some(m) => timestamp_literal(m)?,
        None => "NULL".to_string(),
    };

    let _ = writeln!(
        s,
        "-- [{i}/{n}] student {}, task {}, backup id {}",
        comment_safe(username, 80),
        comment_safe(&task.label(), 40),
        t.id
    );
    let _ = writeln!(
        s,
        "--     created {}, modified {}",
        comment_safe(&t.created_at.rfc3339, 64),
        t.modified_at
            .as_ref()
            .map(|m| comment_safe(&m.rfc3339, 64))
            .unwrap_or_else(|| "never".into())
    );
    let _ = writeln!(s, "--     {}", describe(text));
    let _ = writeln!(
        s,
        "INSERT INTO textrescue_plan (n, username, phase, task_name, backup_id, created_at, modified_at, text)\n\
         VALUES ({i}, {}, {}, {}, {}, {created}, {modified},\n{});\n",
        string_literal(username),
        task.phase,
        string_literal(&task.name),
        t.id,
        text_literal(text)
    );
    Ok(())
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
struct Tables {
    texts: String,
    texts_literal: String,
    users: String,
    tasks: String,
}

impl Tables {
    /// From `schema.table` (each part bare or double-quoted) or `table`.
    fn new(qualified: &str) -> Result<Tables> {
        let parts = split_qualified(qualified)
            .with_context(|| format!("{qualified:?} is not a table name"))?;
        if !super::escape::is_visible(qualified) {
            bail!(
                "the table name {} holds characters that a restore script could not show",
                super::escape::visible(qualified)
            );
        }
        let (schema, table) = match parts.as_slice() {
            [table] => (None, table.as_str()),
            [schema, table] => (Some(schema.as_str()), table.as_str()),
            _ => bail!("{qualified:?} is not a table name"),
        };
        let name = |t: &str| match schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(t)),
            None => quote_ident(t),
        };
        let texts = name(table);
        Ok(Tables {
            texts_literal: format!("'{}'", texts.replace('\'', "''")),
            texts,
            users: name("users"),
            tasks: name("tasks"),
        })
    }
}

fn split_qualified(s: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c);
                chars.next();
            }
        }
        if part.is_empty() || part.contains('\0') {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

/// An identifier as SQL: bare when it is a plain lower-case name, else
/// double-quoted (psql reads a quoted identifier as one token: nothing in
/// it is a meta-command or a variable).
fn quote_ident(name: &str) -> String {
    let bare = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !matches!(
            name,
            "user" | "table" | "order" | "group" | "select" | "all"
        );
    if bare {
        name.to_string()
    } else {
        // `Tables::new` lets no control or invisible character through.
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The `DO` block: look up, check, apply, report.
fn do_block(tables: &Tables, args: &SqlArgs) -> String {
    let policy = args.on_conflict.name();
    let check = if args.check { "true" } else { "false" };
    let texts = &tables.texts;
    let texts_literal = &tables.texts_literal;
    let users = &tables.users;
    let tasks = &tables.tasks;
    format!(
        r#"-- Look up every student and task in the live database, check, then restore.
DO $textrescue$
DECLARE
    policy constant text := '{policy}';
    check_only constant boolean := {check};
    seq text := pg_get_serial_sequence({texts_literal}, 'id');
    p record;
    problems text[] := '{{}}';
    what text;
    live_id bigint;
    new_id bigint;
    top bigint;
    seq_next bigint;
    last_new bigint := 0;
    n_restored integer := 0;
    n_skipped integer := 0;
    n_overwritten integer := 0;
BEGIN
    -- 1. The live ids of the students and tasks (the backup's are not used).
    UPDATE textrescue_plan pl SET
        user_id = (SELECT u.id FROM {users} u
                   WHERE lower(u.username) = lower(pl.username)
                   ORDER BY u.username = pl.username DESC, u.id LIMIT 1),
        task_id = (SELECT k.id FROM {tasks} k
                   WHERE k.phase = pl.phase AND lower(k.name) = lower(pl.task_name)
                   ORDER BY k.name = pl.task_name DESC, k.id LIMIT 1);

    -- 2. Anything missing (or, with --on-conflict error, in the way) stops it all.
    FOR p IN SELECT DISTINCT username FROM textrescue_plan WHERE user_id IS NULL ORDER BY 1 LOOP
        problems := problems || format('no student with username %L', p.username);
    END LOOP;
    FOR p IN SELECT DISTINCT phase, upper(task_name) AS task FROM textrescue_plan
             WHERE task_id IS NULL ORDER BY 1, 2 LOOP
        problems := problems || format('no task %s-%s', p.phase, p.task);
    END LOOP;
    IF policy = 'error' THEN
        FOR p IN SELECT pl.n, pl.username, pl.phase, upper(pl.task_name) AS task, min(t.id) AS live_id
                 FROM textrescue_plan pl JOIN {texts} t
                   ON t.user_id = pl.user_id AND t.task_id = pl.task_id
                 GROUP BY 1, 2, 3, 4 ORDER BY 1 LOOP
            problems := problems || format('%s already has a text for task %s-%s (id %s)',
                                           p.username, p.phase, p.task, p.live_id);
        END LOOP;
    END IF;
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'textrescue: nothing restored, nothing changed: %',
            array_to_string(problems, '; ')
            USING HINT = CASE WHEN policy = 'error'
                THEN 'A text in the way: choose --on-conflict skip or overwrite. A missing student or task: create it, or leave its texts out (--user, --task, --id).'
                ELSE 'Create the missing student or task on the server first, or leave its texts out (--user, --task, --id).' END;
    END IF;

    -- 3. Restore, one text at a time.
    FOR p IN SELECT * FROM textrescue_plan ORDER BY n LOOP
        what := format('%s %s-%s (backup id %s)', p.username, p.phase, upper(p.task_name), p.backup_id);
        SELECT t.id INTO live_id FROM {texts} t
            WHERE t.user_id = p.user_id AND t.task_id = p.task_id ORDER BY t.id LIMIT 1;
        IF live_id IS NOT NULL THEN
            IF policy = 'skip' THEN
                n_skipped := n_skipped + 1;
                RAISE NOTICE '% %: the live database already has a text for this student and task (id %), left as it is',
                    CASE WHEN check_only THEN 'would skip' ELSE 'skipped' END, what, live_id;
            ELSIF policy = 'overwrite' THEN
                UPDATE {texts}
                    SET text = p.text, created_at = p.created_at, modified_at = p.modified_at
                    WHERE id = live_id;
                n_overwritten := n_overwritten + 1;
                RAISE NOTICE '% %: the live text id % now holds the backup''s text',
                    CASE WHEN check_only THEN 'would overwrite' ELSE 'overwrote' END, what, live_id;
            ELSE
                RAISE EXCEPTION 'textrescue: nothing restored, nothing changed: % already has a text in the live database (id %)',
                    what, live_id;
            END IF;
            CONTINUE;
        END IF;

        IF NOT EXISTS (SELECT 1 FROM {texts} t WHERE t.id = p.backup_id) THEN
            new_id := p.backup_id;
        ELSE
            -- A fresh id, above every id in the table and in this script.
            SELECT greatest(max(t.id), (SELECT max(backup_id) FROM textrescue_plan))
                INTO top FROM {texts} t;
            IF seq IS NULL OR check_only THEN
                IF seq IS NOT NULL THEN
                    EXECUTE format('SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM %s', seq)
                        INTO seq_next;
                END IF;
                new_id := greatest(top, coalesce(seq_next, 1) - 1, last_new) + 1;
                last_new := new_id;
            ELSE
                new_id := nextval(seq);
                IF new_id <= top THEN
                    PERFORM setval(seq, top);
                    new_id := nextval(seq);
                END IF;
            END IF;
        END IF;
        INSERT INTO {texts} (id, created_at, modified_at, user_id, task_id, text)
            VALUES (new_id, p.created_at, p.modified_at, p.user_id, p.task_id, p.text);
        n_restored := n_restored + 1;
        RAISE NOTICE '% % as id %',
            CASE WHEN check_only THEN 'would restore' ELSE 'restored' END, what,
            new_id || CASE WHEN new_id = p.backup_id THEN '' ELSE ' (a new id: the backup id is taken)' END;
    END LOOP;

    -- 4. The id sequence ahead of every id, so the server's next insert succeeds.
    IF seq IS NOT NULL THEN
        SELECT max(t.id) INTO top FROM {texts} t;
        EXECUTE format('SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM %s', seq)
            INTO seq_next;
        IF check_only AND last_new >= seq_next THEN
            seq_next := last_new + 1; -- the ids a real run would have taken from it
        END IF;
        IF top IS NOT NULL AND seq_next <= top THEN
            IF NOT check_only THEN
                PERFORM setval(seq, top);
            END IF;
            RAISE NOTICE '% % so that the next new text gets id %',
                CASE WHEN check_only THEN 'would move' ELSE 'moved' END, seq, top + 1;
        END IF;
    END IF;

    IF check_only THEN
        RAISE NOTICE 'textrescue --check: would restore %, skip %, overwrite % (of % texts); nothing was changed',
            n_restored, n_skipped, n_overwritten, n_restored + n_skipped + n_overwritten;
    ELSE
        RAISE NOTICE 'textrescue: restored %, skipped %, overwritten % (of % texts)',
            n_restored, n_skipped, n_overwritten, n_restored + n_skipped + n_overwritten;
    END IF;
END
$textrescue$;
"#
    )
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
    fn table_names_are_quoted_where_needed() {
        let t = Tables::new("public.tasktexts").unwrap();
        assert_eq!(t.texts, "public.tasktexts");
        assert_eq!(t.texts_literal, "'public.tasktexts'");
        assert_eq!(t.users, "public.users");
        let t = Tables::new("\"My \"\"School\"\"\".task_texts").unwrap();
        assert_eq!(t.texts, "\"My \"\"School\"\"\".task_texts");
        assert_eq!(t.tasks, "\"My \"\"School\"\"\".tasks");
        assert_eq!(t.texts_literal, "'\"My \"\"School\"\"\".task_texts'");
        let t = Tables::new("O'Neil.tasktexts").unwrap();
        assert_eq!(t.texts, "\"O'Neil\".tasktexts");
        assert_eq!(t.texts_literal, "'\"O''Neil\".tasktexts'");
        assert!(Tables::new("a.b.c").is_err());
        assert!(Tables::new("public.\"task\ntexts\"").is_err());
        assert!(Tables::new("public.\"task\u{202e}texts\"").is_err());
        assert!(Tables::new("").is_err());
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
        let script = RestoreScript {
            source: "/backups/x\n\\! y.sql.gz",
            table: "public.tasktexts",
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
        let script = RestoreScript {
            source: "d.sql",
            table: "public.tasktexts",
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
