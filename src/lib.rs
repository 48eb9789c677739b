//! textrescue: back up a Buggy Race server's database, and get students'
//! task texts back out of any pg_dump output, offline and byte-exact.
//!
//! The layers, from bytes to commands:
//! - [`input`]: files, stdin, gzip, format sniffing, read-ahead thread;
//! - [`format`]: one reader per pg_dump format, bytes to table rows;
//! - [`dump`]: a dump read for its texts (the texts, users and tasks tables);
//! - [`texts`] and [`filter`]: the domain: texts, students, tasks, filters;
//! - [`output`]: one writer per output format;
//! - [`backup`] and [`restore`]: the commands that talk to the live database;
//! - [`commands`]: one module per subcommand, each a short `run`;
//! - [`cli`]: the command line (also used for completions and the man page).

pub mod backup;
pub mod cli;
pub mod commands;
pub mod dump;
pub mod filter;
pub mod format;
pub mod input;
pub mod output;
pub mod progress;
pub mod restore;
pub mod texts;
