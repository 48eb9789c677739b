//! Indexed `.sql.gz`: a plain dump as multi-member gzip with an index of its
//! members, still an ordinary `.sql.gz` for gzip and psql. This module owns
//! the format (docs/indexed-backups.md, byte by byte): [`write`] (the
//! writer, [`IndexedGzWriter`]), [`read`] (the index found and checked,
//! [`Index::read`], and the members read back, [`Inflate`] and
//! [`ParallelInflate`], or from a seekable source, [`SeekInflate`]) and
//! [`rewrite`] (any plain dump rewritten in this form). The index is
//! believed for where the members are, once checked, never for what they
//! hold, except inside an age-encrypted copy, where nobody but the writer
//! can have written it ([`SeekInflate`], [`check_labels`]).

pub mod read;
pub mod rewrite;
pub mod write;

pub use read::{
    Index, Inflate, Job, Labels, ParallelInflate, Positions, SeekInflate, SourceFailed,
    check_labels,
};
pub use write::IndexedGzWriter;

/// No member holds more than this many bytes of the dump (16 MiB): the unit
/// of parallel inflating and of the memory it takes.
pub const MAX_MEMBER_LEN: u64 = 16 << 20;

/// The gzip extra subfield id of the index (`SI1`, `SI2` = "TR").
pub const SUBFIELD_ID: [u8; 2] = *b"TR";
/// The version of the index layout, the first byte of every subfield.
pub const VERSION: u8 = 1;
/// The second byte of a subfield: a piece of the index.
const KIND_INDEX: u8 = 1;
/// The second byte of a subfield: the footer that says where the index is.
const KIND_FOOTER: u8 = 2;
/// A member's flag: it holds table data (COPY rows) of [`Member::table`].
const FLAG_TABLE_DATA: u8 = 1;
/// A member's flag: the table's rows end with it (the `\.` line follows).
const FLAG_DATA_END: u8 = 2;

/// Index bytes per index member: the subfield's data is at most 65535 bytes
/// less its own 4-byte head (XLEN is 16 bits), less version and kind.
const INDEX_CHUNK: usize = 65535 - 4 - 2;
/// Bytes of the footer's subfield data after version and kind.
const FOOTER_DATA_LEN: usize = 8 + 8 + 8 + 4 + 4;
/// The whole footer member: header 10, XLEN 2, subfield head 4, version and
/// kind 2, data, empty deflate block 2, CRC-32 and ISIZE 8.
pub const FOOTER_LEN: usize = 10 + 2 + 4 + 2 + FOOTER_DATA_LEN + 2 + 8;
/// A raw deflate stream of no bytes: one final fixed-Huffman block that
/// holds only its end code.
const EMPTY_DEFLATE: [u8; 2] = [0x03, 0x00];
/// Length of one index entry before its table name.
const ENTRY_FIXED_LEN: usize = 8 * 5 + 1 + 2;

/// One gzip member of the file, as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Where the member's bytes start in the inflated dump.
    pub uncompressed_offset: u64,
    /// How many bytes of the dump it holds (never 0, at most [`MAX_MEMBER_LEN`]).
    pub uncompressed_len: u64,
    /// Where the member starts in the file (its gzip header's first byte).
    pub compressed_offset: u64,
    /// Its length in the file, header and trailer included.
    pub compressed_len: u64,
    /// How many line ends (`\n`) its bytes hold: for saying where in the
    /// dump a line of the chosen members is ([`Positions`]).
    pub newlines: u64,
    /// For table data: the table as its `COPY` line names it, byte for byte
    /// (`public.tasktexts`, `"My Schema"."Texts"`). The member holds only
    /// rows: it starts after the `COPY` line (or where the member before it
    /// ended, in the same table's rows) and ends at the `\.` line or, at
    /// the size limit, anywhere in the rows.
    pub table: Option<Vec<u8>>,
    /// The table's rows end with this member (the `\.` line comes next).
    pub data_end: bool,
}

impl Member {
    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.table.is_some() {
            flags |= FLAG_TABLE_DATA;
        }
        if self.data_end {
            flags |= FLAG_DATA_END;
        }
        flags
    }
}

/// The gzip member header of a data member, as `GzEncoder` writes one: no
/// name, no time, XFL from the level, OS unknown (255).
fn member_header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// An empty gzip member whose header's extra field holds one subfield
/// ("TR", version, `kind`, `data`).
fn empty_member_with(kind: u8, data: &[u8]) -> Vec<u8> {
    debug_assert!(data.len() <= INDEX_CHUNK);
    let sub_len = 2 + data.len();
    let xlen = 4 + sub_len;
    let mut m = Vec::with_capacity(10 + 2 + xlen + 10);
    m.extend_from_slice(&[0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 255]);
    m.extend_from_slice(&(xlen as u16).to_le_bytes());
    m.extend_from_slice(&SUBFIELD_ID);
    m.extend_from_slice(&(sub_len as u16).to_le_bytes());
    m.push(VERSION);
    m.push(kind);
    m.extend_from_slice(data);
    m.extend_from_slice(&EMPTY_DEFLATE);
    m.extend_from_slice(&[0; 8]);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_has_its_documented_length() {
        assert_eq!(
            empty_member_with(KIND_FOOTER, &[0; FOOTER_DATA_LEN]).len(),
            FOOTER_LEN
        );
        assert_eq!(FOOTER_LEN, 60);
    }
}
