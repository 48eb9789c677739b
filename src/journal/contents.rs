//! The `contents` table: each distinct text stored once, keyed by its
//! sha256, as a zstd frame alone or against a base content (the version
//! before it of the same text). Reading walks the chain of bases back to a
//! full frame (at most [`codec::MAX_CHAIN`] frames), then forward.

use super::{Sha256, codec};
use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};

/// A stored content, without its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRef {
    pub id: i64,
    /// How many bases lie under it (0: stored full).
    pub depth: i64,
}

/// The content whose sha256 is `sha256`, if stored.
pub fn find(conn: &Connection, sha256: &Sha256) -> Result<Option<ContentRef>> {
    Ok(conn
        .prepare_cached("SELECT id, depth FROM contents WHERE sha256 = ?1")?
        .query_row([&sha256[..]], |r| {
            Ok(ContentRef {
                id: r.get(0)?,
                depth: r.get(1)?,
            })
        })
        .optional()?)
}

/// Stores `text` (whose sha256 is `sha256`, not yet stored), against
/// `previous` (a content and its bytes) where there is one and its chain
/// is short enough.
pub fn insert(
    conn: &Connection,
    sha256: &Sha256,
    text: &[u8],
    previous: Option<(ContentRef, &[u8])>,
) -> Result<ContentRef> {
    let base = previous.filter(|(prev, _)| prev.depth + 1 < codec::MAX_CHAIN);
    let (data, base_ref) = match base {
        Some((prev, prev_text)) => {
            let delta = codec::compress_delta(text, prev_text)?;
            // A text rewritten from scratch gains nothing from its base:
            // then a full frame, which also shortens later chains.
            if delta.len() > text.len() / 2 {
                let full = codec::compress_full(text)?;
                if full.len() <= delta.len() {
                    (full, None)
                } else {
                    (delta, Some(prev))
                }
            } else {
                (delta, Some(prev))
            }
        }
        None => (codec::compress_full(text)?, None),
    };
    let depth = base_ref.map_or(0, |b| b.depth + 1);
    conn.prepare_cached(
        "INSERT INTO contents (sha256, size, base, depth, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        &sha256[..],
        text.len() as i64,
        base_ref.map(|b| b.id),
        depth,
        data
    ])?;
    Ok(ContentRef {
        id: conn.last_insert_rowid(),
        depth,
    })
}

/// Reads contents, remembering the last one decoded: reading a text's
/// versions in order then decompresses one frame per version (each is
/// stored against the one before).
#[derive(Default)]
pub struct ContentReader {
    last: Option<(i64, Vec<u8>)>,
}

impl ContentReader {
    /// The bytes of content `id`, checked against its sha256.
    pub fn read(&mut self, conn: &Connection, id: i64) -> Result<Vec<u8>> {
        if let Some((last_id, bytes)) = &self.last
            && *last_id == id
        {
            return Ok(bytes.clone());
        }
        // The frames from `id` down to a full one (or to the one remembered).
        let mut chain: Vec<(i64, Vec<u8>, usize, Sha256)> = Vec::new();
        let mut next = Some(id);
        let mut start: Option<Vec<u8>> = None;
        let mut statement =
            conn.prepare_cached("SELECT base, data, size, sha256 FROM contents WHERE id = ?1")?;
        while let Some(current) = next {
            if let Some((last_id, bytes)) = &self.last
                && *last_id == current
            {
                start = Some(bytes.clone());
                break;
            }
            if chain.len() as i64 > codec::MAX_CHAIN + 1 {
                bail!("journal: content {id}: its chain of bases is too long (damaged journal?)");
            }
            let (base, data, size, sha): (Option<i64>, Vec<u8>, i64, Vec<u8>) = statement
                .query_row([current], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?
                .with_context(|| format!("journal: content {current} is missing"))?;
            let sha: Sha256 = sha
                .try_into()
                .map_err(|_| anyhow::anyhow!("journal: content {current}: bad sha256"))?;
            chain.push((current, data, size as usize, sha));
            next = base;
        }
        let mut text = start;
        for (_, data, size, _) in chain.iter().rev() {
            text = Some(match &text {
                None => codec::decompress_full(data, *size)?,
                Some(previous) => codec::decompress_delta(data, *size, previous)?,
            });
        }
        let text = text.expect("a chain has at least one frame");
        // The bytes handed out are checked; a damaged frame below them
        // cannot give the right ones.
        if super::sha256_of(&text) != chain[0].3 {
            bail!("journal: content {id} does not match its sha256 (damaged journal)");
        }
        self.last = Some((id, text.clone()));
        Ok(text)
    }
}
