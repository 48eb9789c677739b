//! The compression pg_dump output comes in, and the decoders for it.
//!
//! Two places compress: around a whole dump (`pg_dump | gzip`, `pg_dump -Fp
//! -Z zstd`, which `input` undoes) and inside an archive (each table's data,
//! as the archive header says). Both are one of the same four
//! [`Compression`]s. How a piece of data is stored is a [`Codec`]: a custom
//! archive's gzip data is a zlib stream, a directory dump's is a gzip file.
//! The LZ4 and zstd frame decoders themselves are in [`frames`].
//!
//! A bottom module (as pg_dump keeps compress_io.c apart from its formats):
//! `input` undoes a whole dump's compression, `format` an archive's data.

pub mod frames;

use std::io::{self, BufRead, BufReader, Read};

use anyhow::Result;

/// A compression algorithm pg_dump (or a tool around it) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The compression of the stream whose first bytes are `head` (gzip, or
    /// zstd and LZ4 frames, perhaps after skippable frames); `None` for
    /// anything else.
    pub fn of_stream(head: &[u8]) -> Compression {
        if head.starts_with(&GZIP_MAGIC) {
            return Compression::Gzip;
        }
        // zstd and LZ4 share their skippable frames (`pzstd` starts with
        // one): the first real frame says which.
        let mut at = 0usize;
        while frames::is_skippable(&head[at..]) {
            let Some(len) = head.get(at + 4..at + 8) else {
                return Compression::Zstd;
            };
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            at = at.saturating_add(8).saturating_add(len);
            if at >= head.len() {
                // Past what was read: pzstd's, most likely.
                return Compression::Zstd;
            }
        }
        if head[at..].starts_with(&frames::ZSTD_MAGIC) {
            Compression::Zstd
        } else if head[at..].starts_with(&frames::LZ4_MAGIC) {
            Compression::Lz4
        } else if at > 0 {
            // Skippable frames then something else: the zstd reader says what.
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// The first bytes of a gzip member.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How one piece of data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    /// A zlib stream (the data blocks of a custom archive).
    Zlib,
    /// gzip members (the data files of directory and tar dumps).
    Gzip,
    Lz4,
    Zstd,
}

impl Codec {
    /// How a custom archive's data blocks hold data compressed this way.
    pub fn of_custom_blocks(compression: Compression) -> Codec {
        match compression {
            Compression::None => Codec::None,
            Compression::Gzip => Codec::Zlib,
            Compression::Lz4 => Codec::Lz4,
            Compression::Zstd => Codec::Zstd,
        }
    }
}

/// `data` decompressed as `codec` says. Data of no bytes at all is taken as
/// an empty table whatever the codec.
pub fn decoder<'a>(data: &'a mut dyn Read, codec: Codec) -> Result<Box<dyn Read + 'a>> {
    if codec == Codec::None {
        return Ok(Box::new(data));
    }
    let mut data = BufReader::with_capacity(64 * 1024, data);
    if data.fill_buf()?.is_empty() {
        return Ok(Box::new(io::empty()));
    }
    Ok(match codec {
        Codec::None | Codec::Zlib => Box::new(flate2::bufread::ZlibDecoder::new(data)),
        Codec::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(data)),
        Codec::Lz4 => Box::new(frames::lz4(data)),
        Codec::Zstd => Box::new(frames::zstd(data)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    #[test]
    fn every_codec_decodes_a_stream_and_rejects_a_cut_one() {
        let data = b"1\ta\n2\tb\n";
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        let zlib = z.finish().unwrap();
        let mut l = lz4_flex::frame::FrameEncoder::new(Vec::new());
        l.write_all(data).unwrap();
        let lz4 = l.finish().unwrap();
        let zstd = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        for (codec, bytes) in [(Codec::Zlib, zlib), (Codec::Lz4, lz4), (Codec::Zstd, zstd)] {
            let mut out = Vec::new();
            let mut src = Cursor::new(bytes.clone());
            decoder(&mut src, codec)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{codec:?}");
            // Two frames in a row read as one stream; a cut one is an error.
            if codec != Codec::Zlib {
                let mut twice = bytes.clone();
                twice.extend_from_slice(&bytes);
                let mut out = Vec::new();
                let mut src = Cursor::new(twice);
                decoder(&mut src, codec)
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(out.len(), 2 * data.len(), "{codec:?}");
            }
            let mut src = Cursor::new(bytes[..bytes.len() - 3].to_vec());
            let mut out = Vec::new();
            let r = decoder(&mut src, codec).and_then(|mut d| Ok(d.read_to_end(&mut out)?));
            assert!(r.is_err(), "{codec:?} accepted a cut stream");
        }
    }
}
