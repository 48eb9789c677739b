//! [`check_labels`]: whether what an index says the members hold is true,
//! for a file about to be sealed in an age-encrypted copy, where readers
//! will trust the index with it ([`super::SeekInflate`]).

use super::parallel::RowsCheck;
use super::*;

/// What [`check_labels`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Labels {
    /// The file has no index that agrees with it (it is read streamed).
    NoIndex,
    /// Every member's line ends are the index's count, and every run of a
    /// table's rows is rows only.
    Hold,
    /// What the index says is not what the members hold (how, in a few
    /// words).
    Lie(String),
}

/// Inflates every member of `file` (CRC-32 and length checked) and checks
/// what a reader trusting the index relies on: each member holds as many
/// line ends as the index says, and each run of members labelled as one
/// table's rows and ending with them is rows and nothing else (no line in
/// it is `\.`, the line that ends COPY data, and it ends with a line end),
/// so that passing over it as a count of its lines reads as the stream
/// does. Damage is an error.
pub fn check_labels(file: &File) -> io::Result<Labels> {
    let Some(index) = Index::read(file)? else {
        return Ok(Labels::NoIndex);
    };
    let file = Arc::new(file.try_clone()?);
    let mut piece = vec![0u8; 128 * 1024];
    let mut run: Option<RowsCheck> = None;
    for (i, m) in index.members.iter().enumerate() {
        let starts_run = m.table.is_some()
            && (i == 0 || index.members[i - 1].table != m.table || index.members[i - 1].data_end);
        if starts_run {
            run = Some(RowsCheck::new());
        } else if m.table.is_none() {
            run = None;
        }
        let mut reader = MemberReader::new(Arc::clone(&file), m.clone());
        let mut lines = 0u64;
        loop {
            let n = match reader.read(&mut piece) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            lines += memchr::memchr_iter(b'\n', &piece[..n]).count() as u64;
            if let Some(check) = &mut run {
                check.piece(&piece[..n]);
            }
        }
        let at = m.uncompressed_offset;
        if lines != m.newlines {
            return Ok(Labels::Lie(format!(
                "the member at byte {at} of the dump holds {lines} line ends, not the index's {}",
                m.newlines
            )));
        }
        if m.data_end
            && let Some(check) = run.take()
            && check.finish().is_none()
        {
            return Ok(Labels::Lie(format!(
                "the rows the index gives to {} (up to byte {} of the dump) are not rows only",
                String::from_utf8_lossy(m.table.as_deref().unwrap_or_default()),
                at + m.uncompressed_len
            )));
        }
    }
    Ok(Labels::Hold)
}
