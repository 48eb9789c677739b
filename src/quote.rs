//! Data as SQL that psql and PostgreSQL can only read as data: texts,
//! usernames, task names and table names as literal expressions, and the
//! `--` comment text that shows them. Below every other layer but
//! [`crate::escape`], so whatever writes SQL quotes it the one way.
//!
//! Every value is written as one or more literals, never as SQL text:
//!
//! - characters that show as they are go into standard-conforming
//!   single-quoted strings (`'it''s'`: a backslash is just a backslash, as
//!   every script and query sets `standard_conforming_strings` first);
//! - ASCII characters a terminal hides or obeys (CR, LF, tab, the other C0
//!   controls, DEL) go into escape strings holding nothing but escapes
//!   (`E'\r\n'`, `E'\u001B'`), which every server encoding reads;
//! - other characters a terminal hides (U+00A0, U+FE0F, bidi controls,
//!   U+2028, zero-width characters: the list of [`crate::escape`])
//!   are written as their UTF-8 bytes, `convert_from(decode('e280ae',
//!   'hex'), 'UTF8')`: a server converts them to its own encoding like any
//!   other character, where `E'\u202E'` is refused by a SQL_ASCII server
//!   (and by a LATIN1 one before PostgreSQL 13).
//!
//! psql's lexer passes a quoted literal to the server as it is: a `\!`,
//! `\i`, `:variable` or `$$` inside one is not a meta-command, an
//! interpolation or a quote.

use std::fmt::Write as _;

use crate::escape::needs_escape;

/// One line of comment text: at most `max_chars` characters of `s` (then
/// `...`), with backslashes, control characters (C0, DEL, C1), line and
/// paragraph separators, bidi and other invisible format characters shown
/// as escapes, so that nothing in it can end the `--` comment, start a new
/// line for psql, or make the line read differently from what it is.
pub fn comment_safe(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    for (count, c) in s.chars().enumerate() {
        if count == max_chars {
            out.push_str("...");
            break;
        }
        // A backslash doubled, so that an escape shown stays unambiguous;
        // everything else as every writer shows it.
        match c {
            '\\' => out.push_str("\\\\"),
            c => crate::escape::push_visible(&mut out, c, false),
        }
    }
    out
}

/// One piece of a value as SQL: a standard-conforming literal for what
/// shows as it is, an escape string for ASCII controls, or UTF-8 bytes for
/// the other hidden characters (see the module's documentation).
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
    let mut hidden = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if needs_escape(c) {
            if !plain.is_empty() {
                out.push(plain_piece(&plain));
                plain.clear();
            }
            hidden.push(c);
            if c == '\n' || (c == '\r' && chars.peek() != Some(&'\n')) {
                hidden_pieces(&hidden, true, &mut out);
                hidden.clear();
            }
        } else {
            if !hidden.is_empty() {
                hidden_pieces(&hidden, false, &mut out);
                hidden.clear();
            }
            plain.push(c);
        }
    }
    if !plain.is_empty() {
        out.push(plain_piece(&plain));
    }
    if !hidden.is_empty() {
        hidden_pieces(&hidden, false, &mut out);
    }
    out
}

fn plain_piece(plain: &str) -> Piece {
    Piece {
        sql: format!("'{}'", plain.replace('\'', "''")),
        ends_line: false,
    }
}

/// A run of hidden characters as pieces: each run of ASCII ones as one
/// escape string, each run of the others as one `convert_from` of their
/// UTF-8 bytes; `ends_line` marks the last piece.
fn hidden_pieces(run: &str, ends_line: bool, out: &mut Vec<Piece>) {
    let mut rest = run;
    while let Some(first) = rest.chars().next() {
        let ascii = first.is_ascii();
        let len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii() != ascii)
            .map_or(rest.len(), |(i, _)| i);
        let (part, after) = rest.split_at(len);
        let sql = if ascii {
            let mut e = String::from("E'");
            for c in part.chars() {
                match c {
                    '\n' => e.push_str("\\n"),
                    '\r' => e.push_str("\\r"),
                    '\t' => e.push_str("\\t"),
                    c => {
                        let _ = write!(e, "\\u{:04X}", c as u32);
                    }
                }
            }
            e.push('\'');
            e
        } else {
            utf8_bytes(part)
        };
        rest = after;
        out.push(Piece {
            sql,
            ends_line: ends_line && rest.is_empty(),
        });
    }
}

/// Characters as their UTF-8 bytes, converted by the server to its own
/// encoding: `convert_from(decode('c2a0', 'hex'), 'UTF8')`. Only hex digits
/// are inside the literal, so it reads the same whatever
/// `standard_conforming_strings` says.
fn utf8_bytes(s: &str) -> String {
    let mut hex = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        let _ = write!(hex, "{b:02x}");
    }
    format!("convert_from(decode('{hex}', 'hex'), 'UTF8')")
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
pub fn text_literal(s: &str) -> String {
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

/// A username, task name or table name as one SQL expression on one line:
/// a plain literal (`'o''brien'`) when every character shows as it is,
/// else its pieces (`array_to_string(ARRAY['eve', E'\n', '\! x'], '')`).
pub fn string_literal(s: &str) -> String {
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

/// A sha256 in hex as a literal (only hex digits ever reach the script).
pub fn sha_literal(sha: Option<&str>) -> String {
    match sha {
        Some(h) if h.bytes().all(|b| b.is_ascii_hexdigit()) => format!("'{h}'"),
        Some(_) | None => "NULL".into(),
    }
}

#[cfg(test)]
mod tests;
