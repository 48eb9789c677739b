//! LZ4 and zstd frame streams: the data blocks of pg_dump 16+ archives
//! (`-Z lz4`, `-Z zstd`), the data files of directory dumps (`.dat.lz4`,
//! `.dat.zst`), plain dumps written with `pg_dump -Fp -Z lz4|zstd`, and a
//! dump piped through the `lz4` or `zstd` tools.
//!
//! A stream is any number of frames one after another (as `cat a.zst
//! b.zst` makes), read as one. Skippable frames (magic 0x184D2A50 to
//! 0x184D2A5F in both formats; `pzstd` writes them) are passed over. A
//! stream that ends inside a frame is an error, never a short read.

use std::io::{self, BufRead, Read};

/// The first bytes of an LZ4 frame (0x184D2204, least significant first).
pub const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
/// The first bytes of LZ4's legacy format (`lz4 -l`), which is not read.
pub const LZ4_LEGACY_MAGIC: [u8; 4] = [0x02, 0x21, 0x4c, 0x18];
/// The first bytes of a zstd frame (0xFD2FB528).
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Whether `head` starts with a skippable frame's magic number.
pub fn is_skippable(head: &[u8]) -> bool {
    head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18]
}

/// Decodes the LZ4 frames of `source`, one after another.
pub fn lz4<R: BufRead>(source: R) -> Lz4Frames<R> {
    Lz4Frames {
        decoder: lz4_flex::frame::FrameDecoder::new(EofFlag::new(Peeked::new(source))),
        between: true,
        frames: 0,
    }
}

/// Decodes the zstd frames of `source`, one after another.
pub fn zstd<R: BufRead>(source: R) -> ZstdFrames<R> {
    ZstdFrames {
        state: ZstdState::Between(Some(EofFlag::new(Peeked::new(source))), None),
        frames: 0,
    }
}

/// A reader that can be given back the few bytes read from it to look at a
/// frame's magic number.
pub struct Peeked<R> {
    head: [u8; ZSTD_MAX_HEADER],
    start: usize,
    end: usize,
    inner: R,
}

impl<R: Read> Peeked<R> {
    fn new(inner: R) -> Self {
        Peeked {
            head: [0; ZSTD_MAX_HEADER],
            start: 0,
            end: 0,
            inner,
        }
    }

    /// Up to `n` (at most [`ZSTD_MAX_HEADER`]) next bytes, fewer only at the end of the input;
    /// they are read again after.
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.start > 0 {
            self.head.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < n {
            match self.inner.read(&mut self.head[self.end..n]) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(&self.head[..self.end.min(n)])
    }

    fn consume_peeked(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Passes over the skippable frames that start here; false at the end
    /// of the input (where another frame could start but none does).
    fn skip_skippable_frames(&mut self) -> io::Result<bool> {
        loop {
            let head = self.peek(8)?;
            if head.is_empty() {
                return Ok(false);
            }
            if !is_skippable(head) {
                return Ok(true);
            }
            if head.len() < 8 {
                return Err(truncated("a skippable frame's header"));
            }
            let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as u64;
            self.consume_peeked(8);
            let skipped = io::copy(&mut self.by_ref().take(len), &mut io::sink())?;
            if skipped < len {
                return Err(truncated("a skippable frame"));
            }
        }
    }
}

fn truncated(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the compressed data ends inside {what}: it is truncated"),
    )
}

impl<R: Read> Read for Peeked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.start < self.end {
            let n = buf.len().min(self.end - self.start);
            buf[..n].copy_from_slice(&self.head[self.start..self.start + n]);
            self.start += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Notes whether its reader reached the end of its input.
pub struct EofFlag<R> {
    inner: R,
    hit: bool,
}

impl<R> EofFlag<R> {
    fn new(inner: R) -> Self {
        EofFlag { inner, hit: false }
    }
}

impl<R: Read> Read for EofFlag<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit = true;
        }
        Ok(n)
    }
}

/// Passes over skippable frames and checks that a frame of `name` (with
/// `magic`) starts here; false at the end of the input. `frames` is how
/// many frames came before.
fn next_frame<R: Read>(
    source: &mut Peeked<R>,
    magic: [u8; 4],
    name: &str,
    frames: u64,
) -> io::Result<bool> {
    if !source.skip_skippable_frames()? {
        return Ok(false);
    }
    if source.peek(4)? != magic {
        let msg = if frames == 0 {
            format!("it does not start with a {name} frame")
        } else {
            format!(
                "after {frames} {name} frame(s) come bytes that are not one (something appended to the file?)"
            )
        };
        return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
    }
    Ok(true)
}

/// The longest zstd frame header: magic, descriptor, window, dictionary id
/// (4 bytes), content size (8 bytes).
const ZSTD_MAX_HEADER: usize = 18;

/// The length of the zstd frame header `head` starts (its magic checked),
/// from its descriptor byte (RFC 8878, 3.1.1.1).
fn zstd_header_len(head: &[u8]) -> usize {
    let Some(&d) = head.get(4) else {
        return 5;
    };
    let single_segment = d & 0x20 != 0;
    let dict_id = [0, 1, 2, 4][usize::from(d & 0x03)];
    let content_size = match d >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    5 + usize::from(!single_segment) + dict_id + content_size
}

/// A decoder's error, saying "truncated" when the input had ended.
fn frame_error(name: &str, e: &io::Error, at_eof: bool) -> io::Error {
    if at_eof || e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the {name} data ends inside a frame: it is truncated"),
        )
    } else {
        io::Error::new(e.kind(), format!("the {name} data is damaged: {e}"))
    }
}

/// LZ4 frames one after another (lz4_flex's decoder stops after each).
/// The decoder takes the input's end where a block should begin for the
/// frame's end; that is a truncation here.
pub struct Lz4Frames<R: Read> {
    decoder: lz4_flex::frame::FrameDecoder<EofFlag<Peeked<R>>>,
    /// No frame begun yet, or the last one ended.
    between: bool,
    frames: u64,
}

impl<R: BufRead> Read for Lz4Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.between {
                let source = &mut self.decoder.get_mut().inner;
                if !next_frame(source, LZ4_MAGIC, "LZ4", self.frames)? {
                    return Ok(0);
                }
                self.between = false;
                self.frames += 1;
            }
            let n = self
                .decoder
                .read(buf)
                .map_err(|e| frame_error("LZ4", &e, self.decoder.get_ref().hit))?;
            if n > 0 {
                return Ok(n);
            }
            if self.decoder.get_ref().hit {
                return Err(frame_error(
                    "LZ4",
                    &io::ErrorKind::UnexpectedEof.into(),
                    true,
                ));
            }
            // The end of a frame: another one may follow.
            self.between = true;
        }
    }
}

/// zstd frames one after another.
pub struct ZstdFrames<R: Read> {
    state: ZstdState<R>,
    frames: u64,
}

type ZstdSource<R> = EofFlag<Peeked<R>>;

enum ZstdState<R: Read> {
    Between(
        Option<ZstdSource<R>>,
        Option<ruzstd::decoding::FrameDecoder>,
    ),
    In(ruzstd::decoding::StreamingDecoder<ZstdSource<R>, ruzstd::decoding::FrameDecoder>),
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.state {
                ZstdState::In(d) => {
                    let n = d
                        .read(buf)
                        .map_err(|e| frame_error("zstd", &e, d.get_ref().hit))?;
                    if n > 0 {
                        return Ok(n);
                    }
                    if !d.decoder.is_finished() {
                        return Err(frame_error(
                            "zstd",
                            &io::ErrorKind::UnexpectedEof.into(),
                            true,
                        ));
                    }
                    let ZstdState::In(d) =
                        std::mem::replace(&mut self.state, ZstdState::Between(None, None))
                    else {
                        unreachable!()
                    };
                    let (source, decoder) = d.into_parts();
                    self.state = ZstdState::Between(Some(source), Some(decoder));
                }
                ZstdState::Between(source, decoder) => {
                    let Some(mut source) = source.take() else {
                        return Ok(0);
                    };
                    if !next_frame(&mut source.inner, ZSTD_MAGIC, "zstd", self.frames)? {
                        return Ok(0);
                    }
                    self.frames += 1;
                    // The decoder takes the source even when it fails: a
                    // header cut short is noticed before.
                    let head = source.inner.peek(ZSTD_MAX_HEADER)?;
                    if head.len() < zstd_header_len(head) {
                        return Err(frame_error(
                            "zstd",
                            &io::ErrorKind::UnexpectedEof.into(),
                            true,
                        ));
                    }
                    let decoder = decoder.take().unwrap_or_default();
                    let d = ruzstd::decoding::StreamingDecoder::new_with_decoder(source, decoder)
                        .map_err(|e| {
                        frame_error("zstd", &io::Error::other(e.to_string()), false)
                    })?;
                    self.state = ZstdState::In(d);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read_all(r: &mut dyn Read) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    fn skippable(len: u32) -> Vec<u8> {
        let mut f = vec![0x5e, 0x2a, 0x4d, 0x18];
        f.extend_from_slice(&len.to_le_bytes());
        f.extend(std::iter::repeat_n(0xaa, len as usize));
        f
    }

    #[test]
    fn skippable_frames_are_passed_over_and_cut_ones_are_errors() {
        let data = b"1\ta\n2\tb\n";
        let mut l = lz4_flex::frame::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(&mut l, data).unwrap();
        let lz4_frame = l.finish().unwrap();
        let zstd_frame = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        for (name, frame) in [("lz4", lz4_frame), ("zstd", zstd_frame)] {
            let decode = |bytes: Vec<u8>| -> io::Result<Vec<u8>> {
                let src = Cursor::new(bytes);
                if name == "lz4" {
                    read_all(&mut lz4(src))
                } else {
                    read_all(&mut zstd(src))
                }
            };
            let mut stream = skippable(3);
            stream.extend_from_slice(&frame);
            stream.extend(skippable(0));
            stream.extend_from_slice(&frame);
            stream.extend(skippable(20));
            let mut twice = data.to_vec();
            twice.extend_from_slice(data);
            assert_eq!(decode(stream.clone()).unwrap(), twice, "{name}");
            // Cut inside the last skippable frame, or inside its header.
            for cut in [1, 10, 25] {
                let r = decode(stream[..stream.len() - cut].to_vec());
                assert!(r.is_err(), "{name} cut by {cut} was accepted");
            }
            assert!(decode(Vec::new()).unwrap().is_empty());
            assert!(decode(b"\x28\xb5".to_vec()).is_err(), "{name}");
        }
    }
}
