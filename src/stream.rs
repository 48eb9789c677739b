//! Byte streams of a dump after decompression, before any format: the
//! [`DumpRead`] trait every format reader reads from (bytes, and perhaps
//! rows already counted while they were inflated), and the small readers
//! around it: [`Uncounted`], [`Prefixed`] and the read-ahead thread.
//!
//! A bottom module: `indexed_gzip` produces such streams, `input` opens
//! them, `format` consumes them.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

/// The decompressed bytes of a dump, which may know how many lines some of
/// them hold without their being read.
pub trait DumpRead: Read {
    /// Where the next bytes are table rows (from the start of a line to the
    /// end of one) whose line ends were counted as they were decompressed,
    /// passes over them and says how many bytes and line ends they hold:
    /// a reader that only counts the rows of a table need not scan them.
    /// `None`, reading nothing, where the next bytes are to be read; so is
    /// every byte of a reader that counts nothing (the default).
    fn skip_counted_rows(&mut self) -> io::Result<Option<CountedRows>> {
        Ok(None)
    }
}

impl<R: DumpRead + ?Sized> DumpRead for Box<R> {
    fn skip_counted_rows(&mut self) -> io::Result<Option<CountedRows>> {
        (**self).skip_counted_rows()
    }
}

/// The rows passed over by [`DumpRead::skip_counted_rows`]: their bytes
/// and line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedRows {
    pub bytes: u64,
    /// Line ends (`\n`) among them.
    pub lines: u64,
}

/// Any reader as a [`DumpRead`] with no rows counted ahead: every byte is
/// read.
pub struct Uncounted<R>(pub R);

impl<R: Read> Read for Uncounted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> DumpRead for Uncounted<R> {}

/// Bytes already read, then the rest of the stream.
pub struct Prefixed<R> {
    head: Vec<u8>,
    pos: usize,
    rest: R,
}

impl<R: Read> Prefixed<R> {
    pub fn new(head: Vec<u8>, rest: R) -> Self {
        Prefixed { head, pos: 0, rest }
    }
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = buf.len().min(self.head.len() - self.pos);
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.rest.read(buf)
    }
}

impl<R: DumpRead> DumpRead for Prefixed<R> {
    fn skip_counted_rows(&mut self) -> io::Result<Option<CountedRows>> {
        if self.pos < self.head.len() {
            return Ok(None);
        }
        self.rest.skip_counted_rows()
    }
}

const CHUNK: usize = 1024 * 1024;

/// Runs `inner` on its own thread, handing over filled chunks, so that the
/// caller's parsing overlaps the decompression.
pub fn read_ahead(inner: Box<dyn Read + Send>) -> ChunkReader {
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(4);
    let (recycle_tx, recycle_rx) = sync_channel::<Vec<u8>>(6);
    thread::Builder::new()
        .name("textrescue-read".into())
        .spawn(move || fill_chunks(inner, tx, recycle_rx))
        .expect("spawning the reading thread");
    ChunkReader {
        rx,
        recycle: recycle_tx,
        current: Vec::new(),
        pos: 0,
        done: false,
    }
}

fn fill_chunks(
    mut inner: Box<dyn Read + Send>,
    tx: SyncSender<io::Result<Vec<u8>>>,
    recycle: Receiver<Vec<u8>>,
) {
    loop {
        let mut chunk = recycle.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let mut filled = 0;
        let result = loop {
            match inner.read(&mut chunk[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if filled == CHUNK {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        chunk.truncate(filled);
        let at_end = filled < CHUNK;
        if filled > 0 && tx.send(Ok(chunk)).is_err() {
            return;
        }
        match result {
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
            Ok(()) if at_end => return,
            Ok(()) => {}
        }
    }
}

/// The receiving end of [`read_ahead`].
pub struct ChunkReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    recycle: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let old = std::mem::replace(&mut self.current, chunk);
                    let _ = self.recycle.try_send(old);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
