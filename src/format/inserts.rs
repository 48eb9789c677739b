//! The data of INSERT-style dumps (`--inserts`, `--column-inserts`,
//! `--rows-per-insert`): `INSERT INTO schema.table [(columns)] VALUES
//! (...), (...);`, one statement at a time.
//!
//! pg_dump writes only literals here: `NULL`, `true`/`false`, numbers as
//! their text, quoted strings with an optional `::type` cast (everything
//! else: dates, arrays, JSON, NaN), and `DEFAULT` for generated columns.
//! Values come out in the form COPY's text format gives after decoding:
//! numbers as written, booleans as `t`/`f`, strings exactly, NULL as `None`.
//! The literals are decoded by a small scanner of our own rather than a
//! general SQL parser: it keeps every byte exact (`E'\xff'` is one byte, not
//! text), follows `standard_conforming_strings = off` (backslashes escape in
//! every string), and counts rows without building values.

use anyhow::{Result, bail};

use super::TableName;

/// One INSERT statement: its table, its column list if it has one, its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    pub table: TableName,
    pub columns: Option<Vec<String>>,
    pub rows: Vec<Vec<Option<Vec<u8>>>>,
}

/// The table an `INSERT INTO` statement writes to and its column list if
/// it has one, read from its start without parsing its values.
pub fn target(statement: &str) -> Option<(TableName, Option<Vec<String>>)> {
    let mut s = Scanner::new(statement.as_bytes(), true);
    s.head().ok()
}

/// Parses one whole INSERT statement (with its `;`).
pub fn parse(statement: &str, standard_conforming_strings: bool) -> Result<Insert> {
    let mut s = Scanner::new(statement.as_bytes(), standard_conforming_strings);
    let (table, columns) = s.head()?;
    let mut rows = Vec::new();
    s.rows(|row| rows.push(row), true)?;
    Ok(Insert {
        table,
        columns,
        rows,
    })
}

/// How many rows an INSERT statement holds, without decoding them.
pub fn count_rows(statement: &str, standard_conforming_strings: bool) -> Result<u64> {
    let mut s = Scanner::new(statement.as_bytes(), standard_conforming_strings);
    s.head()?;
    let mut n = 0u64;
    s.rows(|_| n += 1, false)?;
    Ok(n)
}

struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
    standard_strings: bool,
}

type Row = Vec<Option<Vec<u8>>>;

impl<'a> Scanner<'a> {
    fn new(s: &'a [u8], standard_strings: bool) -> Self {
        Scanner {
            s,
            i: 0,
            standard_strings,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        loop {
            while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
                self.i += 1;
            }
            // pg_dump writes no comments inside INSERTs, but a `--` line
            // costs nothing to allow.
            if self.s[self.i..].starts_with(b"--") {
                while self.peek().is_some_and(|b| b != b'\n') {
                    self.i += 1;
                }
            } else {
                return;
            }
        }
    }

    fn fail<T>(&self, what: &str) -> Result<T> {
        let near =
            String::from_utf8_lossy(&self.s[self.i..self.s.len().min(self.i + 30)]).into_owned();
        if self.i >= self.s.len() {
            bail!("the INSERT statement ends where {what} was expected")
        }
        bail!(
            "expected {what} at byte {} of the INSERT statement, found {near:?}",
            self.i
        )
    }

    fn keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        let end = self.i + word.len();
        if end <= self.s.len()
            && self.s[self.i..end].eq_ignore_ascii_case(word.as_bytes())
            && self.s.get(end).is_none_or(|&b| !is_ident_byte(b))
        {
            self.i = end;
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, word: &str) -> Result<()> {
        if self.keyword(word) {
            Ok(())
        } else {
            self.fail(word)
        }
    }

    fn punct(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn identifier(&mut self) -> Result<String> {
        self.skip_ws();
        if self.peek() == Some(b'"') {
            self.i += 1;
            let mut name = Vec::new();
            loop {
                match self.peek() {
                    None => return self.fail("the end of a quoted name"),
                    Some(b'"') if self.s.get(self.i + 1) == Some(&b'"') => {
                        name.push(b'"');
                        self.i += 2;
                    }
                    Some(b'"') => {
                        self.i += 1;
                        break;
                    }
                    Some(b) => {
                        name.push(b);
                        self.i += 1;
                    }
                }
            }
            return Ok(String::from_utf8_lossy(&name).into_owned());
        }
        let start = self.i;
        while self.peek().is_some_and(is_ident_byte) {
            self.i += 1;
        }
        if start == self.i {
            return self.fail("a name");
        }
        // Unquoted names are folded to lower case, as PostgreSQL does.
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).to_ascii_lowercase())
    }

    /// `INSERT INTO name [(columns)] VALUES`
    fn head(&mut self) -> Result<(TableName, Option<Vec<String>>)> {
        self.expect_keyword("INSERT")?;
        self.expect_keyword("INTO")?;
        let first = self.identifier()?;
        let table = if self.punct(b'.') {
            TableName::new(first, self.identifier()?)
        } else {
            TableName::new("public", first)
        };
        let columns = if self.punct(b'(') {
            let mut columns = vec![self.identifier()?];
            while self.punct(b',') {
                columns.push(self.identifier()?);
            }
            if !self.punct(b')') {
                return self.fail("')' after the column list");
            }
            Some(columns)
        } else {
            None
        };
        if self.keyword("OVERRIDING") {
            // OVERRIDING SYSTEM VALUE (identity columns, --inserts).
            self.expect_keyword("SYSTEM")?;
            self.expect_keyword("VALUE")?;
        }
        self.expect_keyword("VALUES")?;
        Ok((table, columns))
    }

    /// `(v, ...), (...) ;` — each row to `each`; values decoded if `decode`.
    fn rows(&mut self, mut each: impl FnMut(Row), decode: bool) -> Result<()> {
        let mut row = Vec::new();
        loop {
            if !self.punct(b'(') {
                return self.fail("'(' starting a row");
            }
            row.clear();
            loop {
                let v = self.value(decode)?;
                if decode {
                    row.push(v);
                }
                if self.punct(b',') {
                    continue;
                }
                if self.punct(b')') {
                    break;
                }
                return self.fail("',' or ')' in a row");
            }
            each(std::mem::take(&mut row));
            if self.punct(b',') {
                continue;
            }
            self.skip_ws();
            if self.punct(b';') {
                self.skip_ws();
            }
            if self.i < self.s.len() {
                return self.fail("the end of the statement");
            }
            return Ok(());
        }
    }

    fn value(&mut self, decode: bool) -> Result<Option<Vec<u8>>> {
        self.skip_ws();
        let Some(b) = self.peek() else {
            return self.fail("a value");
        };
        let value = match b {
            b'\'' => Some(self.string(!self.standard_strings, decode)?),
            b'E' | b'e' if self.s.get(self.i + 1) == Some(&b'\'') => {
                self.i += 1;
                Some(self.string(true, decode)?)
            }
            b'B' | b'b' | b'X' | b'x' if self.s.get(self.i + 1) == Some(&b'\'') => {
                self.i += 1;
                Some(self.string(false, decode)?)
            }
            b'-' | b'+' | b'.' | b'0'..=b'9' => {
                let start = self.i;
                self.i += 1;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
                    || (self.peek().is_some_and(|c| c == b'-' || c == b'+')
                        && matches!(self.s[self.i - 1], b'e' | b'E'))
                {
                    self.i += 1;
                }
                let text = &self.s[start..self.i];
                let text = text.strip_prefix(b"+").unwrap_or(text);
                if !text.iter().any(u8::is_ascii_digit) {
                    self.i = start;
                    return self.fail("a value");
                }
                Some(text.to_vec())
            }
            _ => {
                if self.keyword("NULL") || self.keyword("DEFAULT") {
                    None
                } else if self.keyword("true") {
                    Some(b"t".to_vec())
                } else if self.keyword("false") {
                    Some(b"f".to_vec())
                } else {
                    return self.fail("a value");
                }
            }
        };
        self.skip_cast()?;
        Ok(if decode { value } else { None })
    }

    /// `::type`, where the type may have spaces, parentheses and brackets
    /// (`::timestamp with time zone`, `::numeric(10,2)[]`).
    fn skip_cast(&mut self) -> Result<()> {
        loop {
            self.skip_ws();
            if !self.s[self.i..].starts_with(b"::") {
                return Ok(());
            }
            self.i += 2;
            let mut depth = 0u32;
            loop {
                match self.peek() {
                    None => return Ok(()),
                    Some(b'(') | Some(b'[') => depth += 1,
                    Some(b')') | Some(b']') if depth > 0 => depth -= 1,
                    Some(b',') | Some(b')') | Some(b';') | Some(b':') if depth == 0 => break,
                    Some(b'"') => {
                        self.identifier()?;
                        continue;
                    }
                    Some(_) => {}
                }
                self.i += 1;
            }
        }
    }

    /// A quoted string from its opening quote; `backslash` when
    /// backslashes escape. Decoded only when `decode`.
    fn string(&mut self, backslash: bool, decode: bool) -> Result<Vec<u8>> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            // Fast path: copy up to the next quote or backslash.
            let rest = &self.s[self.i..];
            let stop = if backslash {
                memchr::memchr2(b'\'', b'\\', rest)
            } else {
                memchr::memchr(b'\'', rest)
            };
            let Some(stop) = stop else {
                self.i = start;
                return self.fail("the end of a quoted string");
            };
            if decode {
                out.extend_from_slice(&rest[..stop]);
            }
            self.i += stop;
            if self.s[self.i] == b'\'' {
                if self.s.get(self.i + 1) == Some(&b'\'') {
                    out.push(b'\'');
                    self.i += 2;
                    continue;
                }
                self.i += 1;
                return Ok(out);
            }
            // A backslash escape.
            self.i += 1;
            let Some(c) = self.peek() else {
                self.i = start;
                return self.fail("the end of a quoted string");
            };
            self.i += 1;
            match c {
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'0'..=b'7' => {
                    let mut v = u32::from(c - b'0');
                    for _ in 0..2 {
                        match self.peek() {
                            Some(d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                self.i += 1;
                            }
                            _ => break,
                        }
                    }
                    out.push(v as u8);
                }
                b'x' if self.peek().is_some_and(|d| d.is_ascii_hexdigit()) => {
                    let mut v = 0u32;
                    for _ in 0..2 {
                        match self.peek().and_then(|d| (d as char).to_digit(16)) {
                            Some(d) => {
                                v = v * 16 + d;
                                self.i += 1;
                            }
                            None => break,
                        }
                    }
                    out.push(v as u8);
                }
                b'u' | b'U' => {
                    let len = if c == b'u' { 4 } else { 8 };
                    let digits = self.s.get(self.i..self.i + len);
                    let code = digits
                        .and_then(|d| std::str::from_utf8(d).ok())
                        .and_then(|d| u32::from_str_radix(d, 16).ok())
                        .and_then(char::from_u32);
                    let Some(ch) = code else {
                        return self.fail("a valid \\u escape");
                    };
                    self.i += len;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                other => out.push(other),
            }
        }
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<Vec<u8>> {
        Some(s.as_bytes().to_vec())
    }

    #[test]
    fn targets() {
        assert_eq!(
            target("INSERT INTO public.tasktexts VALUES (1, 'a');"),
            Some((TableName::new("public", "tasktexts"), None))
        );
        assert_eq!(
            target("INSERT INTO \"My S\".\"t\"\"x\" (id, \"Text\") VALUES (1, 'a');"),
            Some((
                TableName::new("My S", "t\"x"),
                Some(vec!["id".to_string(), "Text".to_string()])
            ))
        );
        assert_eq!(
            target("INSERT INTO tasktexts VALUES"),
            Some((TableName::new("public", "tasktexts"), None))
        );
        assert_eq!(target("UPDATE x SET a = 1;"), None);
    }

    #[test]
    fn values_as_copy_would_give_them() {
        let i = parse(
            "INSERT INTO public.tasktexts (id, a, b, c, d, e, f) VALUES (1, 'it''s', NULL, true, false, -2.5e-3, '2024-01-01 10:00:00+00'::timestamp with time zone), (2, '', 'x;y)', 'z', '{1,2}'::integer[], 1.0, 'NaN'::numeric(10,2));",
            true,
        )
        .unwrap();
        assert_eq!(i.table, TableName::new("public", "tasktexts"));
        assert_eq!(i.columns.as_ref().unwrap().len(), 7);
        assert_eq!(
            i.rows,
            vec![
                vec![
                    v("1"),
                    v("it's"),
                    None,
                    v("t"),
                    v("f"),
                    v("-2.5e-3"),
                    v("2024-01-01 10:00:00+00")
                ],
                vec![
                    v("2"),
                    v(""),
                    v("x;y)"),
                    v("z"),
                    v("{1,2}"),
                    v("1.0"),
                    v("NaN")
                ],
            ]
        );
        assert_eq!(
            count_rows("INSERT INTO t VALUES (1, 'a),('), (2, 'b');", true).unwrap(),
            2
        );
    }

    #[test]
    fn escapes() {
        let i = parse(
            "INSERT INTO t VALUES (E'a\\nb\\tc\\\\d\\'e''f\\101\\x41\\xff\\u00e9\\q', 'back\\slash', 'multi\nline');",
            true,
        )
        .unwrap();
        let mut expect = b"a\nb\tc\\d'e'fAA\xff".to_vec();
        expect.extend_from_slice("éq".as_bytes());
        assert_eq!(i.rows[0][0].as_deref(), Some(&expect[..]));
        assert_eq!(i.rows[0][1].as_deref(), Some(&b"back\\slash"[..]));
        assert_eq!(i.rows[0][2].as_deref(), Some(&b"multi\nline"[..]));
        // standard_conforming_strings off: backslashes escape in '...' too.
        let i = parse("INSERT INTO t VALUES ('a\\\\b\\'c');", false).unwrap();
        assert_eq!(i.rows[0][0].as_deref(), Some(&b"a\\b'c"[..]));
        assert_eq!(
            count_rows("INSERT INTO t VALUES ('a\\'), (b');", false).unwrap(),
            1
        );
        assert_eq!(
            count_rows("INSERT INTO t VALUES ('a\\'), ('b');", true).unwrap(),
            2
        );
    }

    #[test]
    fn damage_is_an_error() {
        for bad in [
            "INSERT INTO t VALUES (1, 'open",
            "INSERT INTO t VALUES (1, 2",
            "INSERT INTO t VALUES (1) garbage",
            "INSERT INTO t VALUES (now())",
            "INSERT INTO t VALUES (E'\\u12')",
            "INSERT INTO t VALUES",
            "INSERT INTO t VALUES (-)",
        ] {
            assert!(parse(bad, true).is_err(), "{bad}");
            assert!(
                count_rows(bad, true).is_err() || bad.contains("\\u"),
                "{bad}"
            );
        }
    }
}
