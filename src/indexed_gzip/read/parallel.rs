//! [`ParallelInflate`]: an indexed `.sql.gz`'s members inflated on worker
//! threads a few members ahead of the reader, the rows of passed-over tables
//! checked and counted there (the index, the members and the single-thread
//! [`super::Inflate`] are the parent module's).

use super::*;

/// The members of an indexed file inflated on worker threads, a few
/// members ahead of the reader, and read in order: every member is
/// inflated and checked (its CRC-32 and length), whatever the index says of
/// it, so that what the reader is given is what any gzip reader inflates.
///
/// The index's table labels are hints, never trusted: they only say which
/// members are likely to be rows the reader passes over. The workers count
/// the line ends of such a member as they inflate it and check its bytes
/// are rows and nothing else: no line in it starts with `\.` (the line that
/// ends COPY data), and it ends with a line end. Such a member can be given
/// as a count ([`DumpRead::skip_counted_rows`]) to a reader that is passing
/// over COPY data at a line start: it would have counted those very lines
/// as rows. A member that fails the check, or that the reader reads rather
/// than passes over, is read byte for byte.
///
/// Memory: a member to be kept (everything that is not a passed-over
/// table's rows) is held whole, `ahead + 1` buffers of at most
/// [`MAX_MEMBER_LEN`] (16 MiB) at once, allocated once and used again
/// member after member (freed and allocated anew on several threads,
/// buffers of that size stay with the allocator: the process would grow
/// far past them). A member not kept is inflated a piece at a time and its
/// bytes dropped; if the reader does read it, it is inflated again, as a
/// stream, on the reading thread.
pub struct ParallelInflate {
    file: Arc<File>,
    /// Each member with how it is inflated.
    members: std::vec::IntoIter<(Member, Job)>,
    pool: rayon::ThreadPool,
    ahead: usize,
    /// The members being inflated, or to be inflated by the reader, in
    /// order.
    pending: VecDeque<Pending>,
    /// Of them, the ones on worker threads.
    on_workers: usize,
    current: Current,
    failed: bool,
    /// Buffers read out, for the next members.
    spare: Vec<Vec<u8>>,
}

/// The member being read.
enum Current {
    /// Nothing yet, or the last one read to its end.
    Done,
    /// A member held whole; its line ends where it holds rows only.
    Bytes {
        bytes: Vec<u8>,
        pos: usize,
        rows: Option<u64>,
    },
    /// A member whose bytes were not kept: passed over as counted rows, or
    /// inflated again when read.
    Unkept {
        member: Member,
        rows: Option<u64>,
        again: Option<Box<MemberReader>>,
    },
}

/// How a member of [`ParallelInflate`] is inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// By a worker, ahead of the reader, its bytes held whole.
    Keep,
    /// By a worker, ahead of the reader, its bytes checked for rows only
    /// and dropped: given as a count, or inflated again if read.
    Check,
    /// By the reader, as it reads it, as a stream: the memory of one
    /// decoder (the rows of the tables the reader reads, which may be many
    /// members in a row).
    OnReader,
}

/// A member on its way to the reader.
enum Pending {
    Worker(Receiver<io::Result<Inflated>>),
    Reader(Member),
}

/// One member, inflated and checked by a worker.
struct Inflated {
    member: Member,
    /// Its bytes, where they are kept.
    bytes: Option<Vec<u8>>,
    /// Its line ends, where its bytes are rows only (see [`RowsCheck`]).
    rows: Option<u64>,
}

impl ParallelInflate {
    /// Inflates `members` on `threads` worker threads of its own (not
    /// rayon's global pool, whose threads may be the ones reading),
    /// keeping `ahead` members inflated or being inflated beyond the one
    /// being read, every member's bytes kept. `threads` and `ahead` of 0
    /// count as 1.
    pub fn new(
        file: File,
        members: Vec<Member>,
        threads: usize,
        ahead: usize,
    ) -> io::Result<ParallelInflate> {
        let members = members.into_iter().map(|m| (m, Job::Keep)).collect();
        ParallelInflate::with_jobs(file, members, threads, ahead)
    }

    /// As [`new`](Self::new), each member with how it is inflated.
    pub fn with_jobs(
        file: File,
        members: Vec<(Member, Job)>,
        threads: usize,
        ahead: usize,
    ) -> io::Result<ParallelInflate> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("textrescue-inflate-{i}"))
            .build()
            .map_err(io::Error::other)?;
        Ok(ParallelInflate {
            file: Arc::new(file),
            members: members.into_iter(),
            pool,
            ahead: ahead.max(1),
            pending: VecDeque::new(),
            on_workers: 0,
            current: Current::Done,
            failed: false,
            spare: Vec::new(),
        })
    }

    /// One thread per core (rayon's count), as many members ahead.
    pub fn with_all_cores(file: File, members: Vec<Member>) -> io::Result<ParallelInflate> {
        let threads = rayon::current_num_threads();
        ParallelInflate::new(file, members, threads, threads)
    }

    /// Starts inflating members until `ahead` are under way or done.
    fn top_up(&mut self) {
        while self.on_workers < self.ahead {
            let Some((member, job)) = self.members.next() else {
                return;
            };
            let bytes = match job {
                Job::OnReader => {
                    self.pending.push_back(Pending::Reader(member));
                    continue;
                }
                Job::Keep => Some(self.spare.pop().unwrap_or_default()),
                Job::Check => None,
            };
            let (tx, rx) = sync_channel(1);
            let file = Arc::clone(&self.file);
            // Only a member labelled as rows is worth checking for rows.
            let check_rows = member.table.is_some();
            self.pool.spawn(move || {
                let _ = tx.send(inflate(file, member, bytes, check_rows));
            });
            self.pending.push_back(Pending::Worker(rx));
            self.on_workers += 1;
        }
    }

    /// Whether nothing of the current member is left to read. A member the
    /// reader inflates, read to its last byte, is ended here (its CRC-32
    /// and length checked).
    fn current_read(&mut self) -> io::Result<bool> {
        Ok(match &mut self.current {
            Current::Done => true,
            Current::Bytes { bytes, pos, .. } => *pos == bytes.len(),
            Current::Unkept {
                again: Some(reader),
                ..
            } if reader.produced == reader.member.uncompressed_len => {
                if reader.read(&mut [0; 1])? != 0 {
                    return Err(reader.damaged("the member holds more than its bytes"));
                }
                self.current = Current::Done;
                true
            }
            Current::Unkept { .. } => false,
        })
    }

    /// Makes the next member, once inflated, the one being read; false
    /// where there is none (or an error was given).
    fn advance(&mut self) -> io::Result<bool> {
        if self.failed {
            return Ok(false);
        }
        self.top_up();
        let Some(next) = self.pending.pop_front() else {
            return Ok(false);
        };
        if let Current::Bytes { bytes, .. } = std::mem::replace(&mut self.current, Current::Done) {
            self.spare.push(bytes);
        }
        let next = match next {
            Pending::Worker(rx) => {
                self.on_workers -= 1;
                rx
            }
            Pending::Reader(member) => {
                self.current = Current::Unkept {
                    member,
                    rows: None,
                    again: None,
                };
                self.top_up();
                return Ok(true);
            }
        };
        match next.recv() {
            Ok(Ok(inflated)) => {
                self.current = match inflated.bytes {
                    Some(bytes) => Current::Bytes {
                        bytes,
                        pos: 0,
                        rows: inflated.rows,
                    },
                    None => Current::Unkept {
                        member: inflated.member,
                        rows: inflated.rows,
                        again: None,
                    },
                };
            }
            Ok(Err(e)) => {
                self.failed = true;
                return Err(e);
            }
            Err(_) => {
                self.failed = true;
                return Err(io::Error::other("a thread inflating the dump failed"));
            }
        }
        self.top_up();
        Ok(true)
    }
}

/// Whether a member's bytes, given a piece at a time, are COPY rows and
/// nothing else: no line starts with `\.` (the line that ends COPY data;
/// COPY writes a value `\.` as `\\.`, so no row starts so) and the last
/// byte is a line end, so that a reader passing over COPY data from the
/// member's first byte would count every line of it as a row and be at a
/// line start after it. Counts the line ends as it goes.
pub(super) struct RowsCheck {
    lines: u64,
    /// The last two bytes so far (the member starts as if after a line end).
    tail: [u8; 2],
    clean: bool,
}

impl RowsCheck {
    pub(super) fn new() -> RowsCheck {
        RowsCheck {
            lines: 0,
            tail: [0, b'\n'],
            clean: true,
        }
    }

    pub(super) fn piece(&mut self, p: &[u8]) {
        if p.is_empty() {
            return;
        }
        self.lines += memchr::memchr_iter(b'\n', p).count() as u64;
        if self.clean {
            // A `\n\.` across the seam with the bytes before, then within.
            let mut seam = [0u8; 4];
            seam[..2].copy_from_slice(&self.tail);
            let head = p.len().min(2);
            seam[2..2 + head].copy_from_slice(&p[..head]);
            if memchr::memmem::find(&seam[..2 + head], b"\n\\.").is_some()
                || memchr::memmem::find(p, b"\n\\.").is_some()
            {
                self.clean = false;
            }
        }
        self.tail = match p {
            [.., a, b] => [*a, *b],
            [b] => [self.tail[1], *b],
            [] => self.tail,
        };
    }

    /// The line ends, if the bytes were rows only.
    pub(super) fn finish(&self) -> Option<u64> {
        (self.clean && self.tail[1] == b'\n' && self.lines > 0).then_some(self.lines)
    }
}

/// A worker's job: `member` inflated and checked (CRC-32, length), into
/// `bytes` where it is kept; its bytes checked for rows only (and their
/// line ends counted) where `check_rows`.
///
/// Inflated a piece at a time and checked while the piece is in the cache
/// (a pass over the whole 16 MiB afterwards reads it back from memory); a
/// kept buffer keeps the bytes it held initialized, so that a buffer used
/// again is not zeroed first.
fn inflate(
    file: Arc<File>,
    member: Member,
    bytes: Option<Vec<u8>>,
    check_rows: bool,
) -> io::Result<Inflated> {
    const PIECE: usize = 128 * 1024;
    let len = member.uncompressed_len as usize;
    let mut reader = MemberReader::new(file, member);
    let keep = bytes.is_some();
    let mut bytes = bytes.unwrap_or_default();
    let size = if keep { len } else { PIECE.min(len) };
    if bytes.len() < size {
        bytes.reserve_exact(size - bytes.len());
        bytes.resize(size, 0);
    }
    bytes.truncate(size);
    let mut check = RowsCheck::new();
    let mut filled = 0;
    while filled < len {
        let (from, to) = if keep {
            (filled, (filled + PIECE).min(len))
        } else {
            (0, PIECE.min(len - filled))
        };
        let n = match reader.read(&mut bytes[from..to]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if check_rows {
            check.piece(&bytes[from..from + n]);
        }
        filled += n;
    }
    // The end of the member, where its CRC-32 and length are checked (and
    // fewer or more bytes than its length are damage).
    loop {
        match reader.read(&mut [0; 1]) {
            Ok(0) => break,
            Ok(_) => {
                return Err(reader.damaged(format!("the member holds more than its {len} bytes")));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Inflated {
        member: reader.member,
        bytes: keep.then_some(bytes),
        rows: if check_rows { check.finish() } else { None },
    })
}

impl Read for ParallelInflate {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.current {
                Current::Bytes { bytes, pos, .. } if *pos < bytes.len() => {
                    let n = buf.len().min(bytes.len() - *pos);
                    buf[..n].copy_from_slice(&bytes[*pos..*pos + n]);
                    *pos += n;
                    return Ok(n);
                }
                Current::Unkept { member, again, .. } => {
                    // The reader reads what was not kept: inflated again.
                    let reader = again.get_or_insert_with(|| {
                        Box::new(MemberReader::new(Arc::clone(&self.file), member.clone()))
                    });
                    match reader.read(buf)? {
                        0 => self.current = Current::Done,
                        n => return Ok(n),
                    }
                }
                _ => {
                    if !self.advance()? {
                        return Ok(0);
                    }
                }
            }
        }
    }
}

impl DumpRead for ParallelInflate {
    /// The next member as a count when nothing of the current one is left
    /// to read and the next one's bytes are rows only (the caller is
    /// passing over COPY data at a line start); otherwise the next one is
    /// left to be read.
    fn skip_counted_rows(&mut self) -> io::Result<Option<CountedRows>> {
        if !self.current_read()? || !self.advance()? {
            return Ok(None);
        }
        let counted = match &mut self.current {
            Current::Bytes { bytes, pos, rows } => rows.map(|lines| {
                *pos = bytes.len();
                CountedRows {
                    bytes: bytes.len() as u64,
                    lines,
                }
            }),
            Current::Unkept {
                member,
                rows: Some(lines),
                again: None,
            } => Some(CountedRows {
                bytes: member.uncompressed_len,
                lines: *lines,
            }),
            _ => None,
        };
        if counted.is_some() && matches!(self.current, Current::Unkept { .. }) {
            self.current = Current::Done;
        }
        Ok(counted)
    }
}
