//! Texts whose `--user` filter cannot be decided yet: pg_dump writes the
//! users table after the texts table, so while the texts are read nobody
//! knows whose they are. [`Undecided`] keeps them compactly, encoded one
//! after another, and past [`MEMORY_BOUND`] moves them to a temporary file
//! (unlinked when created, so that it goes on every exit: an error, a panic,
//! Ctrl-C); once the users are known, [`Undecided::drain`] reads them back
//! and keeps only the wanted students' texts, decoding only those.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, Write};

use anyhow::{Context, Result};
use chrono::{FixedOffset, TimeZone};

use crate::texts::{TaskText, Timestamp};

/// Encoded texts kept in memory before they go to the temporary file.
pub const MEMORY_BOUND: usize = 16 << 20;

/// Texts waiting for their students' names, in the order they came.
#[derive(Default)]
pub struct Undecided {
    memory: Vec<u8>,
    /// What went past the bound, before `memory`.
    spilled: Option<File>,
    count: usize,
}

impl Undecided {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Keeps `text` for later.
    pub fn push(&mut self, text: &TaskText) -> Result<()> {
        let len = encoded_len(text);
        if !self.memory.is_empty() && self.memory.len() + len > MEMORY_BOUND {
            self.spill()?;
        }
        encode(text, &mut self.memory);
        self.count += 1;
        if self.memory.len() > MEMORY_BOUND {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        let file = match &mut self.spilled {
            Some(f) => f,
            None => self.spilled.insert(
                tempfile::tempfile()
                    .context("cannot create a temporary file for the texts read so far")?,
            ),
        };
        file.write_all(&self.memory)
            .context("cannot write the texts read so far to a temporary file")?;
        self.memory.clear();
        if self.memory.capacity() > MEMORY_BOUND {
            self.memory.shrink_to(MEMORY_BOUND);
        }
        Ok(())
    }

    /// Every text kept, in order, that `keep` says yes to by its student's
    /// id, appended to `out`; the others are passed over undecoded.
    pub fn drain(self, keep: impl Fn(i64) -> bool, out: &mut Vec<TaskText>) -> Result<()> {
        if let Some(mut file) = self.spilled {
            file.rewind()
                .context("cannot read back the texts in the temporary file")?;
            let mut reader = BufReader::with_capacity(256 * 1024, file);
            while !at_end(&mut reader)? {
                if let Some(t) = decode(&mut reader, &keep)
                    .context("cannot read back the texts in the temporary file")?
                {
                    out.push(t);
                }
            }
        }
        let mut memory = &self.memory[..];
        while !memory.is_empty() {
            if let Some(t) = decode(&mut memory, &keep).context("a kept text does not decode")? {
                out.push(t);
            }
        }
        Ok(())
    }
}

fn at_end(reader: &mut BufReader<File>) -> Result<bool> {
    Ok(reader.fill_buf()?.is_empty())
}

/// Where the encoded texts are read back from: passing over a text not
/// wanted costs no reading.
trait Source: Read {
    fn pass_over(&mut self, len: u64) -> io::Result<()>;
}

impl Source for &[u8] {
    fn pass_over(&mut self, len: u64) -> io::Result<()> {
        let len =
            usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        *self = self
            .get(len..)
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        Ok(())
    }
}

impl Source for BufReader<File> {
    fn pass_over(&mut self, len: u64) -> io::Result<()> {
        let len = i64::try_from(len).map_err(|_| bad("a kept text is too long"))?;
        self.seek_relative(len)
    }
}

// One text: id, user_id, task_id (i64 LE each), created_at, a flag byte and
// modified_at when the flag is 1, the text's length (u64 LE) and bytes. A
// timestamp: its RFC 3339 text (u16 LE length, bytes), seconds (i64),
// nanoseconds (u32) and offset seconds (i32) of its instant.

fn timestamp_len(t: &Timestamp) -> usize {
    2 + t.rfc3339.len() + 8 + 4 + 4
}

fn encoded_len(t: &TaskText) -> usize {
    24 + timestamp_len(&t.created_at)
        + 1
        + t.modified_at.as_ref().map_or(0, timestamp_len)
        + 8
        + t.text.len()
}

fn encode(t: &TaskText, out: &mut Vec<u8>) {
    out.extend_from_slice(&t.id.to_le_bytes());
    out.extend_from_slice(&t.user_id.to_le_bytes());
    out.extend_from_slice(&t.task_id.to_le_bytes());
    encode_timestamp(&t.created_at, out);
    match &t.modified_at {
        Some(m) => {
            out.push(1);
            encode_timestamp(m, out);
        }
        None => out.push(0),
    }
    out.extend_from_slice(&(t.text.len() as u64).to_le_bytes());
    out.extend_from_slice(&t.text);
}

fn encode_timestamp(t: &Timestamp, out: &mut Vec<u8>) {
    // RFC 3339 texts are short (PostgreSQL's timestamps are under 40 bytes).
    out.extend_from_slice(&(t.rfc3339.len() as u16).to_le_bytes());
    out.extend_from_slice(t.rfc3339.as_bytes());
    out.extend_from_slice(&t.instant.timestamp().to_le_bytes());
    out.extend_from_slice(&t.instant.timestamp_subsec_nanos().to_le_bytes());
    out.extend_from_slice(&t.instant.offset().local_minus_utc().to_le_bytes());
}

fn read_array<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut b = [0; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn decode_timestamp(r: &mut impl Read) -> io::Result<Timestamp> {
    let len = u16::from_le_bytes(read_array(r)?) as usize;
    let mut text = vec![0; len];
    r.read_exact(&mut text)?;
    let secs = i64::from_le_bytes(read_array(r)?);
    let nanos = u32::from_le_bytes(read_array(r)?);
    let offset = i32::from_le_bytes(read_array(r)?);
    let instant = FixedOffset::east_opt(offset)
        .and_then(|o| o.timestamp_opt(secs, nanos).single())
        .ok_or_else(|| bad("a kept timestamp is out of range"))?;
    Ok(Timestamp {
        rfc3339: String::from_utf8(text).map_err(|_| bad("a kept timestamp is not UTF-8"))?,
        instant,
    })
}

/// The next text, if `keep` wants its student's; its text is skipped
/// unread otherwise.
fn decode(r: &mut impl Source, keep: &impl Fn(i64) -> bool) -> io::Result<Option<TaskText>> {
    let id = i64::from_le_bytes(read_array(r)?);
    let user_id = i64::from_le_bytes(read_array(r)?);
    let task_id = i64::from_le_bytes(read_array(r)?);
    let created_at = decode_timestamp(r)?;
    let modified_at = match read_array::<1>(r)?[0] {
        0 => None,
        _ => Some(decode_timestamp(r)?),
    };
    let len = u64::from_le_bytes(read_array(r)?);
    if !keep(user_id) {
        r.pass_over(len)?;
        return Ok(None);
    }
    let mut text = Vec::new();
    r.take(len).read_to_end(&mut text)?;
    if text.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(TaskText {
        id,
        user_id,
        task_id,
        created_at,
        modified_at,
        text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(id: i64, user_id: i64, len: usize) -> TaskText {
        TaskText {
            id,
            user_id,
            task_id: id % 7,
            created_at: Timestamp::parse_pg("1895-03-01 14:22:11.5-00:01:15").unwrap(),
            modified_at: (id % 2 == 0)
                .then(|| Timestamp::parse_pg("2024-03-01 14:22:11.123456+05:30").unwrap()),
            text: (0..len).map(|i| (i * 31 + id as usize) as u8).collect(),
        }
    }

    fn same(a: &TaskText, b: &TaskText) -> bool {
        a.id == b.id
            && a.user_id == b.user_id
            && a.task_id == b.task_id
            && a.created_at.rfc3339 == b.created_at.rfc3339
            && a.created_at.instant == b.created_at.instant
            && a.modified_at.as_ref().map(|m| (&m.rfc3339, m.instant))
                == b.modified_at.as_ref().map(|m| (&m.rfc3339, m.instant))
            && a.text == b.text
    }

    #[test]
    fn texts_come_back_in_order_and_only_the_kept_ones() {
        let all: Vec<TaskText> = (0..50).map(|i| text(i, i % 5, (i as usize) * 13)).collect();
        let mut undecided = Undecided::default();
        for t in &all {
            undecided.push(t).unwrap();
        }
        assert!(undecided.spilled.is_none());
        let mut out = Vec::new();
        undecided.drain(|u| u == 3, &mut out).unwrap();
        let expected: Vec<&TaskText> = all.iter().filter(|t| t.user_id == 3).collect();
        assert_eq!(out.len(), expected.len());
        assert!(out.iter().zip(expected).all(|(a, b)| same(a, b)));
    }

    #[test]
    fn past_the_bound_they_go_to_a_file_and_memory_stays_bounded() {
        let mut undecided = Undecided::default();
        let mut all = Vec::new();
        for i in 0..40 {
            // Some texts larger than the bound itself.
            let len = if i % 13 == 5 {
                MEMORY_BOUND + 10
            } else {
                1 << 20
            };
            let t = text(i, i % 3, len);
            undecided.push(&t).unwrap();
            assert!(undecided.memory.len() <= MEMORY_BOUND);
            all.push((t.id, t.user_id, t.text.len()));
        }
        assert!(undecided.spilled.is_some());
        let mut out = Vec::new();
        undecided.drain(|u| u != 1, &mut out).unwrap();
        let expected: Vec<_> = all.into_iter().filter(|t| t.1 != 1).collect();
        let got: Vec<_> = out
            .iter()
            .map(|t| (t.id, t.user_id, t.text.len()))
            .collect();
        assert_eq!(got, expected);
    }
}
