//! COPY's text format, as pg_dump writes table data: one row a line, fields
//! separated by tabs, `\N` for NULL, and backslash escapes for the bytes that
//! would break that layout. Decoding follows PostgreSQL's own reader
//! (`CopyReadAttributesText`): `\b \f \n \r \t \v`, `\\`, octal `\NNN`,
//! hex `\xHH`, and any other backslashed character stands for itself.

use std::borrow::Cow;

use anyhow::{Result, bail};
use memchr::memchr;

use super::Row;

/// Splits COPY rows into their fields (still escaped), reusing its buffer
/// from row to row. A row never holds a raw tab inside a field (COPY writes
/// `\t`), so splitting on tabs is exact.
#[derive(Default)]
pub struct Splitter {
    spans: Vec<(usize, usize)>,
}

impl Splitter {
    /// The row `line` holds; fails when its field count differs from
    /// `expected`, the columns of the COPY header (0 when the dump names
    /// none: any count goes).
    pub fn split<'a>(&'a mut self, line: &'a [u8], expected: usize) -> Result<Row<'a>> {
        self.spans.clear();
        let mut start = 0;
        for tab in memchr::memchr_iter(b'\t', line) {
            self.spans.push((start, tab));
            start = tab + 1;
        }
        self.spans.push((start, line.len()));
        if expected != 0 && self.spans.len() != expected {
            bail!(
                "the row has {} fields where the COPY header names {expected} columns",
                self.spans.len()
            );
        }
        Ok(Row::copy(line, &self.spans))
    }
}

/// Decodes one field: `None` for NULL, the bytes otherwise. Borrows when
/// the field holds no escape, which is the common case.
pub fn decode(raw: &[u8]) -> Result<Option<Cow<'_, [u8]>>> {
    if raw == b"\\N" {
        return Ok(None);
    }
    if memchr(b'\\', raw).is_none() {
        return Ok(Some(Cow::Borrowed(raw)));
    }
    let mut out = Vec::with_capacity(raw.len());
    unescape_into(raw, &mut out)?;
    Ok(Some(Cow::Owned(out)))
}

/// Undoes COPY's backslash escapes of one (non-NULL) field.
pub fn unescape_into(raw: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut rest = raw;
    while let Some(at) = memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..at]);
        let after = &rest[at + 1..];
        let Some(&c) = after.first() else {
            bail!("a field ends in a lone backslash");
        };
        let used = match c {
            b'0'..=b'7' => {
                let digits = after
                    .iter()
                    .take(3)
                    .take_while(|d| matches!(d, b'0'..=b'7'));
                let mut value: u32 = 0;
                let mut n = 0;
                for d in digits {
                    value = value * 8 + u32::from(d - b'0');
                    n += 1;
                }
                out.push((value & 0xff) as u8);
                n
            }
            b'x' => {
                let hex: Vec<u8> = after[1..]
                    .iter()
                    .take(2)
                    .take_while(|d| d.is_ascii_hexdigit())
                    .copied()
                    .collect();
                if hex.is_empty() {
                    // `\x` not followed by a hex digit is a plain `x`.
                    out.push(b'x');
                    1
                } else {
                    let value = hex.iter().fold(0u8, |v, d| {
                        v * 16 + (*d as char).to_digit(16).unwrap_or(0) as u8
                    });
                    out.push(value);
                    1 + hex.len()
                }
            }
            b'b' => simple(out, 0x08),
            b'f' => simple(out, 0x0c),
            b'n' => simple(out, b'\n'),
            b'r' => simple(out, b'\r'),
            b't' => simple(out, b'\t'),
            b'v' => simple(out, 0x0b),
            other => simple(out, other),
        };
        rest = &after[used..];
    }
    out.extend_from_slice(rest);
    Ok(())
}

fn simple(out: &mut Vec<u8>, byte: u8) -> usize {
    out.push(byte);
    1
}

/// Escapes bytes the way COPY's text format writes them (the inverse of
/// [`unescape_into`]); used by tests and the dump generator.
pub fn escape(raw: &[u8], out: &mut Vec<u8>) {
    for &b in raw {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0b => out.extend_from_slice(b"\\v"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(raw: &[u8]) -> Option<Vec<u8>> {
        decode(raw).unwrap().map(Cow::into_owned)
    }

    #[test]
    fn null_only_when_the_whole_field_is_backslash_n() {
        assert_eq!(dec(b"\\N"), None);
        assert_eq!(dec(b"a\\N"), Some(b"aN".to_vec()));
        assert_eq!(dec(b"\\\\N"), Some(b"\\N".to_vec()));
        assert_eq!(dec(b""), Some(Vec::new()));
    }

    #[test]
    fn every_single_letter_escape() {
        assert_eq!(
            dec(b"\\b\\f\\n\\r\\t\\v\\\\"),
            Some(vec![8, 12, 10, 13, 9, 11, b'\\'])
        );
    }

    #[test]
    fn octal_takes_up_to_three_digits() {
        assert_eq!(dec(b"\\101"), Some(b"A".to_vec()));
        assert_eq!(dec(b"\\1012"), Some(b"A2".to_vec()));
        assert_eq!(dec(b"\\7"), Some(vec![7]));
        assert_eq!(dec(b"\\18"), Some(vec![1, b'8']));
        assert_eq!(dec(b"\\0"), Some(vec![0]));
        // PostgreSQL masks the value to one byte.
        assert_eq!(dec(b"\\777"), Some(vec![0xff]));
    }

    #[test]
    fn hex_takes_one_or_two_digits_and_a_bare_x_is_an_x() {
        assert_eq!(dec(b"\\x41"), Some(b"A".to_vec()));
        assert_eq!(dec(b"\\x4g"), Some(vec![4, b'g']));
        assert_eq!(dec(b"\\xg"), Some(b"xg".to_vec()));
        assert_eq!(dec(b"\\x"), Some(b"x".to_vec()));
        assert_eq!(dec(b"\\xFf0"), Some(vec![0xff, b'0']));
    }

    #[test]
    fn any_other_escaped_character_is_itself() {
        assert_eq!(dec(b"\\."), Some(b".".to_vec()));
        assert_eq!(dec(b"\\a\\'\\\""), Some(b"a'\"".to_vec()));
        assert_eq!(dec("\\é".as_bytes()), Some("é".as_bytes().to_vec()));
    }

    #[test]
    fn a_lone_trailing_backslash_is_an_error() {
        assert!(decode(b"abc\\").is_err());
    }

    #[test]
    fn split_checks_the_field_count_and_decodes_on_demand() {
        let mut splitter = Splitter::default();
        let row = splitter.split(b"1\t\\N\tx\\ty", 3).unwrap();
        assert_eq!(row.len(), 3);
        assert_eq!(row.get(0).unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(row.get(1).unwrap(), None);
        assert_eq!(row.get(2).unwrap().as_deref(), Some(&b"x\ty"[..]));
        assert!(splitter.split(b"1\t2", 3).is_err());
    }

    #[test]
    fn escape_then_decode_is_identity() {
        let raw: Vec<u8> = (0u8..=255).collect();
        let mut escaped = Vec::new();
        escape(&raw, &mut escaped);
        assert!(!escaped.contains(&b'\n') && !escaped.contains(&b'\t'));
        assert_eq!(dec(&escaped), Some(raw));
    }
}
