//! `--format csv`: RFC 4180, header
//! `id,username,user_id,task,task_id,created_at,modified_at,text`.
//! Texts are written byte for byte (quoted as needed), even if not UTF-8.

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

pub fn write(records: &[Record<'_>], out: &mut dyn Write) -> Result<()> {
    let mut csv = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(out);
    csv.write_record(HEADER)?;
    for r in records {
        csv.write_record(fields(r).iter().map(|f| f.as_slice()))?;
    }
    csv.flush()?;
    Ok(())
}

/// A record's fields in [`HEADER`] order.
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
