//! `--format csv`: RFC 4180, header
//! `id,username,user_id,task,task_id,created_at,modified_at,text`.
//! Texts are written byte for byte (quoted as needed), even if not UTF-8,
//! unless `--csv-safe` asks for cells a spreadsheet would run as formulas to
//! be neutralised (see [`neutralise`]).

use std::io::Write;

use anyhow::Result;

use crate::texts::Record;

pub const HEADER: [&str; 8] = [
    "id",
    "username",
    "user_id",
    "task",
    "task_id",
    "created_at",
    "modified_at",
    "text",
];

/// The text-like columns (username, task, text): the ones `--csv-safe`
/// neutralises. Numbers and timestamps cannot start with a formula character
/// (a negative number is a number to a spreadsheet, not a formula).
pub const TEXT_COLUMNS: [usize; 3] = [1, 3, 7];

/// `csv_safe`: see [`neutralise`].
pub fn write(records: &[Record<'_>], out: &mut dyn Write, csv_safe: bool) -> Result<()> {
    let mut csv = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(out);
    csv.write_record(HEADER)?;
    for r in records {
        csv.write_record(fields_for(r, csv_safe).iter().map(|f| f.as_slice()))?;
    }
    csv.flush()?;
    Ok(())
}

/// `--csv-safe` (the OWASP rule against CSV injection): a cell that starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so
/// that a spreadsheet shows it as text instead of running it as a formula.
/// This changes the cell: such a file is for reading in a spreadsheet, never
/// for restoring.
pub fn neutralise(cell: &mut Vec<u8>) {
    if matches!(
        cell.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    ) {
        cell.insert(0, b'\'');
    }
}

/// [`fields`], with [`neutralise`] applied to the [`TEXT_COLUMNS`] when
/// `csv_safe`.
pub fn fields_for(r: &Record<'_>, csv_safe: bool) -> [Vec<u8>; 8] {
    let mut fields = fields(r);
    if csv_safe {
        for i in TEXT_COLUMNS {
            neutralise(&mut fields[i]);
        }
    }
    fields
}

/// A record's fields in [`HEADER`] order, byte-exact.
pub fn fields(r: &Record<'_>) -> [Vec<u8>; 8] {
    let t = r.text;
    [
        t.id.to_string().into_bytes(),
        r.username.unwrap_or("").as_bytes().to_vec(),
        t.user_id.to_string().into_bytes(),
        r.task_label().into_bytes(),
        t.task_id.to_string().into_bytes(),
        t.created_at.rfc3339.clone().into_bytes(),
        t.modified_at
            .as_ref()
            .map(|m| m.rfc3339.clone().into_bytes())
            .unwrap_or_default(),
        t.text.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(s: &[u8]) -> Vec<u8> {
        let mut v = s.to_vec();
        neutralise(&mut v);
        v
    }

    #[test]
    fn formula_starts_get_a_quote() {
        for (cell, want) in [
            (&b"=1+1"[..], &b"'=1+1"[..]),
            (b"+41 79", b"'+41 79"),
            (b"-2+3", b"'-2+3"),
            (b"@SUM(A1)", b"'@SUM(A1)"),
            (b"\t=cmd", b"'\t=cmd"),
            (b"\r\n=cmd", b"'\r\n=cmd"),
            (b"=HYPERLINK(\"http://x\")", b"'=HYPERLINK(\"http://x\")"),
            (b"'=already quoted", b"'=already quoted"),
            (b" =leading space", b" =leading space"),
            (b"a=b", b"a=b"),
            (b"\n=x", b"\n=x"),
            (b"", b""),
            (b"\xff=not utf-8", b"\xff=not utf-8"),
        ] {
            assert_eq!(safe(cell), want, "{:?}", String::from_utf8_lossy(cell));
        }
    }
}
