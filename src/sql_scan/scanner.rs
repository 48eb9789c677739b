//! The scanner of one statement's text, byte by byte.

use anyhow::{Result, bail};

use super::TableName;

/// A position in one statement's text.
pub(crate) struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
    /// Whether backslashes are plain characters in `'...'` strings.
    standard_strings: bool,
    /// What the statement is, for messages: "INSERT statement".
    statement: &'static str,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(s: &'a [u8], standard_strings: bool, statement: &'static str) -> Self {
        Scanner {
            s,
            i: 0,
            standard_strings,
            statement,
        }
    }

    pub(crate) fn standard_strings(&self) -> bool {
        self.standard_strings
    }

    /// Whether only blanks (and `--` comments) are left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.i >= self.s.len()
    }

    /// The bytes from `start` to where the scanner stands.
    pub(crate) fn since(&self, start: usize) -> &'a [u8] {
        &self.s[start..self.i]
    }

    pub(crate) fn position(&self) -> usize {
        self.i
    }

    /// Goes back to `at` (a position it stood at).
    pub(crate) fn rewind(&mut self, at: usize) {
        self.i = at;
    }

    /// Moves one byte on.
    pub(crate) fn bump(&mut self) {
        self.i += 1;
    }

    /// The byte `ahead` bytes on from here.
    pub(crate) fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.i + ahead).copied()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    pub(crate) fn skip_ws(&mut self) {
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

    pub(crate) fn fail<T>(&self, what: &str) -> Result<T> {
        let near =
            String::from_utf8_lossy(&self.s[self.i..self.s.len().min(self.i + 30)]).into_owned();
        if self.i >= self.s.len() {
            bail!("the {} ends where {what} was expected", self.statement)
        }
        bail!(
            "expected {what} at byte {} of the {}, found {near:?}",
            self.i,
            self.statement
        )
    }

    pub(crate) fn keyword(&mut self, word: &str) -> bool {
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

    pub(crate) fn expect_keyword(&mut self, word: &str) -> Result<()> {
        if self.keyword(word) {
            Ok(())
        } else {
            self.fail(word)
        }
    }

    pub(crate) fn punct(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn identifier(&mut self) -> Result<String> {
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

    /// A table's name, `schema.name` or `name` (in `public`).
    pub(crate) fn table_name(&mut self) -> Result<TableName> {
        let first = self.identifier()?;
        Ok(if self.punct(b'.') {
            TableName::new(first, self.identifier()?)
        } else {
            TableName::new("public", first)
        })
    }

    /// `(name, ...)`, when the scanner stands at its `(`.
    pub(crate) fn name_list(&mut self) -> Result<Option<Vec<String>>> {
        if !self.punct(b'(') {
            return Ok(None);
        }
        let mut names = vec![self.identifier()?];
        while self.punct(b',') {
            names.push(self.identifier()?);
        }
        if !self.punct(b')') {
            return self.fail("')' after the column list");
        }
        Ok(Some(names))
    }

    /// `::type`, where the type may have spaces, parentheses and brackets
    /// (`::timestamp with time zone`, `::numeric(10,2)[]`).
    pub(crate) fn skip_cast(&mut self) -> Result<()> {
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
    pub(crate) fn string(&mut self, backslash: bool, decode: bool) -> Result<Vec<u8>> {
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
