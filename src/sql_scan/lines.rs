//! A plain dump's script line by line: what a line starts ([`classify`]),
//! whether a statement ends at its end ([`QuoteState`], quotes, dollar
//! quotes and comments followed across lines), and the `COPY` line read
//! into its table and columns.

use anyhow::Result;

use super::{Scanner, TableName};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatementKind {
    CreateTable,
    /// For `ATTACH PARTITION`.
    AlterTable,
    Insert,
    /// A `COPY` statement whose first line does not end with `FROM stdin;`:
    /// a quoted name with a line end in it (`COPY public."a<LF>b" (...)
    /// FROM stdin;` is valid, and pg_dump writes it so). Table data starts
    /// after it if it ends as a `COPY ... FROM stdin;` does.
    Copy,
    Other,
}

/// What a line between statements starts (the plain reader and the indexed
/// writer both follow a dump's statements with this).
pub(crate) enum LineStart {
    Blank,
    Comment,
    MetaCommand,
    Copy,
    Statement(StatementKind),
}

pub(crate) fn classify(line: &[u8]) -> LineStart {
    let trimmed = line.trim_ascii_start();
    if trimmed.is_empty() {
        LineStart::Blank
    } else if trimmed.starts_with(b"--") {
        LineStart::Comment
    } else if trimmed.starts_with(b"\\") {
        LineStart::MetaCommand
    } else if trimmed.starts_with(b"COPY ") && trimmed.ends_with(b"FROM stdin;") {
        LineStart::Copy
    } else if trimmed.starts_with(b"COPY ") {
        LineStart::Statement(StatementKind::Copy)
    } else if trimmed.starts_with(b"CREATE TABLE ")
        || trimmed.starts_with(b"CREATE UNLOGGED TABLE ")
    {
        LineStart::Statement(StatementKind::CreateTable)
    } else if trimmed.starts_with(b"ALTER TABLE ") {
        LineStart::Statement(StatementKind::AlterTable)
    } else if trimmed.starts_with(b"INSERT INTO ") {
        LineStart::Statement(StatementKind::Insert)
    } else {
        LineStart::Statement(StatementKind::Other)
    }
}

/// `COPY schema.table (col, ...) FROM stdin;` into its table and columns.
/// pg_dump 11 and before write `WITH OIDS` before `FROM` for a table with
/// OIDs dumped with `--oids`: each row's OID is then its first field, a
/// column named `oid` here. (With no column list, the columns are the
/// table's definition's, and the OID is not among them.)
pub fn parse_copy_header(header: &str) -> Result<(TableName, Vec<String>)> {
    let mut s = Scanner::new(header.as_bytes(), true, "COPY statement");
    s.expect_keyword("COPY")?;
    let table = s.table_name()?;
    let mut columns = s.name_list()?.unwrap_or_default();
    if s.keyword("WITH") {
        s.expect_keyword("OIDS")?;
        if !columns.is_empty() {
            columns.insert(0, "oid".to_string());
        }
    }
    for word in ["FROM", "stdin"] {
        s.expect_keyword(word)?;
    }
    s.punct(b';');
    if !s.at_end() {
        return s.fail("the end of the statement");
    }
    Ok((table, columns))
}

/// The table a `COPY` line names, from its name as written there
/// (`public.tasktexts`, `"My Schema"."Texts"`, `tasktexts` in `public`).
pub fn parse_table_name(raw: &[u8]) -> Option<TableName> {
    let mut s = Scanner::new(raw, true, "table name");
    let table = s.table_name().ok()?;
    s.at_end().then_some(table)
}

/// Where the SQL lexer stands at the end of a line (the plain reader and
/// the indexed writer both follow a dump line by line with this).
#[derive(Default)]
pub(crate) struct QuoteState {
    mode: Mode,
}

#[derive(Default, Clone, PartialEq, Eq)]
enum Mode {
    #[default]
    Normal,
    /// Inside '...'; `backslash` when backslashes escape (E'' strings, or
    /// standard_conforming_strings off); `escaped` when the last byte was one.
    Single { backslash: bool, escaped: bool },
    /// Inside "...".
    Ident,
    /// Inside $tag$...$tag$.
    Dollar(Vec<u8>),
    /// Inside /* ... */, with its nesting depth.
    Block(u32),
}

impl QuoteState {
    pub(crate) fn is_normal(&self) -> bool {
        self.mode == Mode::Normal
    }

    /// Follows quotes through one line (its line end is part of any quote
    /// left open). True when a statement ends at the end of this line.
    pub(crate) fn scan_line(&mut self, line: &[u8], standard_strings: bool) -> bool {
        let mut i = 0;
        let mut last_significant = None;
        while i < line.len() {
            let b = line[i];
            match &mut self.mode {
                Mode::Normal => {
                    match b {
                        b'\'' => {
                            let e_string = i > 0
                                && matches!(line[i - 1], b'E' | b'e')
                                && (i < 2 || !is_ident_byte(line[i - 2]));
                            self.mode = Mode::Single {
                                backslash: e_string || !standard_strings,
                                escaped: false,
                            };
                        }
                        b'"' => self.mode = Mode::Ident,
                        b'-' if line.get(i + 1) == Some(&b'-') => break,
                        b'/' if line.get(i + 1) == Some(&b'*') => {
                            self.mode = Mode::Block(1);
                            i += 1;
                        }
                        b'$' if i == 0 || !is_ident_byte(line[i - 1]) => {
                            if let Some(tag_len) = dollar_tag(&line[i..]) {
                                self.mode = Mode::Dollar(line[i..i + tag_len].to_vec());
                                i += tag_len;
                                continue;
                            }
                        }
                        _ => {}
                    }
                    if !b.is_ascii_whitespace() {
                        last_significant = Some(b);
                    }
                }
                Mode::Single { backslash, escaped } => {
                    if *escaped {
                        *escaped = false;
                    } else if *backslash && b == b'\\' {
                        *escaped = true;
                    } else if b == b'\'' {
                        if line.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            self.mode = Mode::Normal;
                            last_significant = Some(b);
                        }
                    }
                }
                Mode::Ident => {
                    if b == b'"' {
                        self.mode = Mode::Normal;
                        last_significant = Some(b);
                    }
                }
                Mode::Dollar(tag) => {
                    if b == b'$' && line[i..].starts_with(tag) {
                        i += tag.len();
                        self.mode = Mode::Normal;
                        last_significant = Some(b'$');
                        continue;
                    }
                }
                Mode::Block(depth) => {
                    if b == b'*' && line.get(i + 1) == Some(&b'/') {
                        *depth -= 1;
                        i += 1;
                        if *depth == 0 {
                            self.mode = Mode::Normal;
                        }
                    } else if b == b'/' && line.get(i + 1) == Some(&b'*') {
                        *depth += 1;
                        i += 1;
                    }
                }
            }
            i += 1;
        }
        if let Mode::Single { escaped, .. } = &mut self.mode {
            // A backslash at the end of a line escapes the line end itself.
            *escaped = false;
        }
        self.mode == Mode::Normal && last_significant == Some(b';')
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The length of a dollar-quote tag (`$$`, `$body$`) at the start of `s`.
fn dollar_tag(s: &[u8]) -> Option<usize> {
    let close = memchr::memchr(b'$', &s[1..])? + 1;
    let tag = &s[1..close];
    let valid =
        tag.first().is_none_or(|c| !c.is_ascii_digit()) && tag.iter().all(|&c| is_ident_byte(c));
    valid.then_some(close + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_headers_with_quoted_names_and_any_schema() {
        let (t, c) =
            parse_copy_header("COPY public.tasktexts (id, created_at, text) FROM stdin;").unwrap();
        assert_eq!(t, TableName::new("public", "tasktexts"));
        assert_eq!(c, vec!["id", "created_at", "text"]);
        let (t, c) =
            parse_copy_header(r#"COPY "My Schema"."task""texts" ("ID", text) FROM stdin;"#)
                .unwrap();
        assert_eq!(t, TableName::new("My Schema", "task\"texts"));
        assert_eq!(c, vec!["ID", "text"]);
        let (t, c) = parse_copy_header("COPY tasktexts FROM stdin;").unwrap();
        assert_eq!(t, TableName::new("public", "tasktexts"));
        assert!(c.is_empty());
        // A table with no columns left (all dropped): two spaces, no list.
        let (t, c) = parse_copy_header("COPY public.dropped_all  FROM stdin;").unwrap();
        assert_eq!(t, TableName::new("public", "dropped_all"));
        assert!(c.is_empty());
        let (_, c) = parse_copy_header("COPY t (a, b) WITH OIDS FROM stdin;").unwrap();
        assert_eq!(c, vec!["oid", "a", "b"]);
    }

    #[test]
    fn statements_end_only_outside_quotes() {
        let mut q = QuoteState::default();
        assert!(q.scan_line(b"SET x = 1;", true));
        assert!(!q.scan_line(b"INSERT INTO t VALUES (1, 'a;", true));
        assert!(!q.scan_line(b"b');' ;", true));
        assert!(q.scan_line(b"');", true));
        assert!(!q.scan_line(b"CREATE FUNCTION f() AS $body$ select 1;", true));
        assert!(q.scan_line(b"$body$;", true));
        assert!(!q.scan_line(b"INSERT INTO t VALUES (E'it\\'s;", true));
        assert!(q.scan_line(b"');", true));
        assert!(q.scan_line(b"SELECT 1; -- a comment;'", true));
        // With standard_conforming_strings off every string takes backslashes.
        assert!(!q.scan_line(b"INSERT INTO t VALUES ('\\');", false));
        assert!(q.scan_line(b"');", false));
    }
}
