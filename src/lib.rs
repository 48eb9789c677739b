//! textrescue: back up a Buggy Race server's database, and get students'
//! task texts back out of any pg_dump output, offline and byte-exact.
//!
//! The layers, from bytes to commands:
//! - [`input`]: files, stdin, gzip, format sniffing, read-ahead thread;
//! - [`format`]: one reader per pg_dump format, bytes to table rows;
//! - [`dump`]: a dump read: its format-neutral summary, and the race server's
//!   tables (texts, users, tasks) built on it;
//! - the domain: [`texts`] (texts, students, tasks), [`filter`],
//!   [`compare`] (two dumps' texts matched), [`history`] (a text across
//!   many dumps), [`nightlies`] (a folder of backups) and [`inspection`]
//!   (what `inspect` says of a dump);
//! - [`output`]: one writer per output format; it only renders;
//! - [`indexed_gzip`]: the indexed `.sql.gz` that `backup` writes and readers seek in;
//! - [`backup`]: `backup`'s pg_dump supervision and file steps; [`restore`]:
//!   texts back into the live database (plan, apply, verify, undo);
//! - [`atomic_file`]: the one way a file is written (whole or not at all);
//! - [`error`]: the error kinds every layer shares; [`words`]: counts and
//!   sizes as messages say them;
//! - [`commands`]: one module per subcommand, each a short `run`;
//! - [`cli`]: the command line (also used for completions and the man page).

pub mod atomic_file;
pub mod backup;
pub mod cli;
pub mod commands;
pub mod counts;
pub mod diff;
pub mod dump;
pub mod error;
pub mod escape;
pub mod filter;
pub mod folder_names;
pub mod format;
pub mod history;
pub mod indexed_gzip;
pub mod input;
pub mod inspect;
pub mod journal;
pub mod nightlies;
pub mod output;
pub mod progress;
pub mod restore;
pub mod signals;
pub mod texts;
