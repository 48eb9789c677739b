//! textrescue: back up a Buggy Race server's database, and get students'
//! task texts back out of any pg_dump output, offline and byte-exact.
//!
//! The layers, bottom first. A module may use the modules of its own layer
//! and of the layers below, never those above (tests/layers.rs reads this
//! list and fails on an import that climbs it):
//! 1. [`error`], [`counts`], [`durations`], [`escape`], [`hex`], [`quote`],
//!    [`folder_names`], [`signals`], [`progress`]: the error kinds, counts,
//!    sizes and durations as messages say them, terminal escapes, digests
//!    in hex, SQL quoting, backup file names, signal handling, the progress
//!    bar;
//! 2. [`atomic_file`], [`codec`], [`stream`], [`sql_scan`], [`remote`]: files
//!    written whole or not at all, the codecs, decompressed byte streams, the
//!    SQL scanner, objects in an S3-compatible bucket (age-encrypted or not);
//! 3. [`indexed_gzip`]: the indexed `.sql.gz` that `backup` writes and readers
//!    seek in;
//! 4. [`input`]: files, stdin, decompression, format sniffing;
//! 5. [`format`]: one reader per pg_dump format, bytes to table rows;
//! 6. [`texts`], [`filter`], [`journal`], [`drills`]: texts, students and
//!    tasks, the filters on them, the journal of every version `watch` saw,
//!    and the record of restore drills;
//! 7. [`dump`]: a dump read: its format-neutral summary and the race server's
//!    tables;
//! 8. [`nightlies`], [`diff`], [`history`], [`inspect`], [`at_time`]: a
//!    folder of backups, two dumps' texts matched, a text across many dumps,
//!    what `inspect` says, a folder's texts at a time (journal or backup);
//! 9. [`backup`], [`monitor`]: pg_dump supervised, the backups folder's file
//!    steps; the folder's health: metrics, pings, `check`;
//! 10. [`restore`], [`watch`], [`whole`]: texts back into the live database
//!     (plan, apply, verify, undo); the live texts polled into the journal;
//!     a whole database restored from a backup and checked, and the
//!     restore drill;
//! 11. [`output`]: one writer per output format; it only renders;
//! 12. [`commands`], [`cli`]: one module per subcommand, each a short `run`;
//!     the command line.

pub mod at_time;
pub mod atomic_file;
pub mod backup;
pub mod cli;
pub mod codec;
pub mod commands;
pub mod counts;
pub mod diff;
pub mod drills;
pub mod dump;
pub mod durations;
pub mod error;
pub mod escape;
pub mod filter;
pub mod folder_names;
pub mod format;
pub mod hex;
pub mod history;
pub mod indexed_gzip;
pub mod input;
pub mod inspect;
pub mod journal;
pub mod monitor;
pub mod nightlies;
pub mod output;
pub mod progress;
pub mod quote;
pub mod remote;
pub mod restore;
pub mod signals;
pub mod sql_scan;
pub mod stream;
pub mod texts;
pub mod watch;
pub mod whole;
