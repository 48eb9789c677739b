//! One decompression of a plain backup for its two readers: the thread
//! that feeds psql hands each block it writes to psql to the thread that
//! reads what the backup holds ([`super::expected`]), through a bounded
//! channel. A whole restore of a `.sql.gz` then inflates it once, not once
//! for psql and again for the check: on a small server the second inflate
//! and the load compete for the same cores.
//!
//! Memory stays bounded: at most [`IN_FLIGHT`] blocks wait for the reader,
//! and the feeding thread waits while they do (the reader, which only
//! counts rows and hashes texts, keeps well ahead of psql and the server).
//! Blocks are handed back to the feeder once read, so the same few buffers
//! go round.
//! If the reader stops (it failed, or it was stopped), the feeder goes on
//! without it: the load is never held up by a reader that is gone.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::stream::DumpRead;

/// Blocks handed over and not yet read.
pub const IN_FLIGHT: usize = 8;

/// The feeding end: [`Tee::hand`] each block as it goes to psql.
pub struct Tee {
    blocks: Option<SyncSender<Vec<u8>>>,
    emptied: Receiver<Vec<u8>>,
}

/// The reading end: the blocks, in order, as one stream; its end when the
/// feeding end is dropped.
pub struct TeeReader {
    blocks: Receiver<Vec<u8>>,
    emptied: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

/// A tee's two ends.
pub fn tee() -> (Tee, TeeReader) {
    let (blocks_tx, blocks_rx) = sync_channel(IN_FLIGHT);
    let (emptied_tx, emptied_rx) = sync_channel(IN_FLIGHT + 2);
    (
        Tee {
            blocks: Some(blocks_tx),
            emptied: emptied_rx,
        },
        TeeReader {
            blocks: blocks_rx,
            emptied: emptied_tx,
            current: Vec::new(),
            pos: 0,
        },
    )
}

impl Tee {
    /// Hands a copy of `block` to the reader, waiting while [`IN_FLIGHT`]
    /// blocks wait for it; nothing once the reader is gone.
    pub fn hand(&mut self, block: &[u8]) {
        let Some(blocks) = &self.blocks else {
            return;
        };
        let mut copy = self.emptied.try_recv().unwrap_or_default();
        copy.clear();
        copy.extend_from_slice(block);
        if blocks.send(copy).is_err() {
            self.blocks = None;
        }
    }
}

impl Read for TeeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            let Ok(next) = self.blocks.recv() else {
                return Ok(0);
            };
            let done = std::mem::replace(&mut self.current, next);
            self.pos = 0;
            let _ = self.emptied.try_send(done);
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl DumpRead for TeeReader {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_gets_every_block_in_order_then_its_end() {
        let (mut tee, mut reader) = tee();
        let feeder = std::thread::spawn(move || {
            for i in 0..100u32 {
                tee.hand(&vec![i as u8; 1000 + i as usize]);
            }
        });
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        feeder.join().unwrap();
        let want: Vec<u8> = (0..100u32)
            .flat_map(|i| vec![i as u8; 1000 + i as usize])
            .collect();
        assert_eq!(all, want);
    }

    #[test]
    fn a_reader_gone_does_not_hold_up_the_feeder() {
        let (mut tee, reader) = tee();
        drop(reader);
        for _ in 0..(IN_FLIGHT * 4) {
            tee.hand(b"a block");
        }
        assert!(tee.blocks.is_none());
    }
}
