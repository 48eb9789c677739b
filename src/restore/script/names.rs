//! The live tables by name, and the characters a script holds, as data.
//!
//! A schema or table name comes from a dump or from the live database and
//! may hold anything PostgreSQL allows: `$textrescue$`, `$$`, `\!`, quotes,
//! a newline. No name is ever written where psql or PostgreSQL read code
//! (not even double-quoted): it is inserted as a literal into a temporary
//! table, and [`TARGET_SQL`] makes temporary views of the live tables with
//! `format('%I.%I')`, which everything after it uses. Nothing a dump holds
//! is ever inside a dollar-quoted body, so no name can end one.
//!
//! [`Chars`] lists every character above ASCII that a script holds, for
//! [`CHECK_SQL`] to refuse, before anything changes, a database whose
//! encoding cannot hold one (a LATIN1 database and U+FE0F), naming it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Result, bail};

use crate::format::TableName;
use crate::quote::string_literal;

/// The temporary tables `textrescue_target` and views `textrescue_texts`,
/// `textrescue_users`, `textrescue_tasks` (see the module's documentation).
const TARGET_SQL: &str = include_str!("target.sql");
/// The check of [`Chars`] against the database's encoding.
const CHECK_SQL: &str = include_str!("check.sql");
/// What a script or query ends with once it no longer needs the views.
pub(super) const DROP_VIEWS_SQL: &str =
    "DROP VIEW textrescue_texts, textrescue_users, textrescue_tasks;\n";

/// What every script and query sets before its first literal: psql and the
/// server then read every literal the same way, whatever the database's
/// defaults (a backslash is just a backslash; the script's bytes are UTF-8).
pub(crate) const SETTINGS_SQL: &str = "SET client_encoding = 'UTF8';\n\
                                       SET standard_conforming_strings = on;\n";

/// The live texts table, and the users and tasks tables of its schema.
pub(crate) struct Tables {
    schema: String,
    texts: String,
}

impl Tables {
    /// The texts table and, in its schema, `users` and `tasks`. Any name
    /// PostgreSQL can hold is taken (only an empty one or NUL is refused).
    pub fn new(table: &TableName) -> Result<Tables> {
        for part in [&table.schema, &table.name] {
            if part.is_empty() || part.contains('\0') {
                bail!(
                    "{} is not a table name",
                    crate::escape::visible(&format!("{:?}", table.to_string()))
                );
            }
        }
        Ok(Tables {
            schema: table.schema.clone(),
            texts: table.name.clone(),
        })
    }

    /// The names, where a [`Chars`] check says a character is.
    pub(crate) fn add_chars(&self, chars: &mut Chars) {
        chars.add(&self.schema, || "the schema name".into());
        chars.add(&self.texts, || "the texts table's name".into());
    }

    /// SQL that makes the views `textrescue_texts`, `textrescue_users` and
    /// `textrescue_tasks` of these tables, inside a transaction (the names
    /// travel in a temporary table dropped at its end), after
    /// [`SETTINGS_SQL`]. `lock`: the texts table is locked in that mode (for
    /// the rest of the transaction) before the views are made.
    pub(crate) fn target_sql(
        &self,
        lock: Option<LockMode>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        render_template(
            TARGET_SQL,
            &[
                ("schema", &string_literal(&self.schema)),
                ("texts", &string_literal(&self.texts)),
                (
                    "lock",
                    match lock {
                        None => "NULL",
                        Some(LockMode::Exclusive) => "'EXCLUSIVE'",
                        Some(LockMode::Share) => "'SHARE'",
                    },
                ),
            ],
            out,
        )
    }
}

/// How [`Tables::target_sql`] locks the texts table.
#[derive(Clone, Copy)]
pub(crate) enum LockMode {
    /// Against writes, reading still works: what a restore holds.
    Exclusive,
    /// Granted only once no one holds a write lock: waits for a restore's
    /// transaction to end (see restore/unanswered.rs).
    Share,
}

/// Every character above ASCII of a script's values, each with where it
/// first is (a place written by textrescue, in ASCII, never a value).
#[derive(Default)]
pub(crate) struct Chars {
    seen: BTreeMap<char, String>,
}

impl Chars {
    pub fn add(&mut self, s: &str, place: impl Fn() -> String) {
        for c in s.chars().filter(|c| !c.is_ascii()) {
            self.seen.entry(c).or_insert_with(&place);
        }
    }

    /// SQL that refuses a database whose encoding cannot hold one of the
    /// characters, naming them; nothing when all are ASCII. It must come
    /// before the first statement that holds one, inside the transaction.
    pub fn check_sql(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.seen.is_empty() {
            return Ok(());
        }
        let mut sql = String::from(
            "-- Every character above ASCII in what follows, once, with where it first is:\n\
             -- a database whose encoding cannot hold one stops here, before anything changes.\n\
             CREATE TEMPORARY TABLE textrescue_chars (\n    \
             code integer PRIMARY KEY,\n    \
             utf8 text NOT NULL,\n    \
             place text NOT NULL\n\
             ) ON COMMIT DROP;\n\
             INSERT INTO textrescue_chars (code, utf8, place) VALUES\n",
        );
        for (k, (c, place)) in self.seen.iter().enumerate() {
            let mut buf = [0; 4];
            let hex = c
                .encode_utf8(&mut buf)
                .bytes()
                .fold(String::new(), |mut h, b| {
                    let _ = write!(h, "{b:02x}");
                    h
                });
            debug_assert!(place.is_ascii() && !place.contains('\''));
            let place: String = place
                .chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .collect();
            let _ = write!(
                sql,
                "({}, '{hex}', {}){}",
                *c as u32,
                string_literal(&place),
                if k + 1 < self.seen.len() {
                    ",\n"
                } else {
                    ";\n"
                }
            );
        }
        out.write_all(sql.as_bytes())?;
        out.write_all(CHECK_SQL.as_bytes())?;
        out.write_all(b"\n")
    }
}

/// Writes `template` with each `@name@` replaced by its value, in one pass
/// (a value is never read again for slots: a value may hold `@`).
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
