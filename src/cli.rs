//! The command line: subcommands and their arguments (each command's own
//! arguments live in its module under `commands`; `completions` and `man`,
//! which are generated from this definition, have theirs here, so that
//! their generator uses this module and not the reverse).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use clap_complete::Shell;

use crate::commands::{
    backup, check, copy, diff, drill, history, inspect, reindex, restore, texts, watch,
};

#[derive(Parser, Debug)]
#[command(
    name = "textrescue",
    version,
    about = "Back up a Buggy Race server's database, and recover students' task texts from any pg_dump backup, offline.",
    long_about = None,
    after_help = "Examples:
  textrescue texts buggy_race_bk_20240305.sql.gz --user alice
  textrescue diff buggy_race_bk_20240304.sql.gz buggy_race_bk_20240305.sql.gz
  textrescue history /buggy/server/db/backups --user alice --task 3-MULTI
  textrescue backup --container server-db-1 --dbname buggy_race \\
      --username buggy --dir /buggy/backups
  textrescue restore /buggy/backups --user alice --task 3-MULTI \\
      --container server-db-1 --dbname buggy_race --username buggy

Exit status: 0 success, 1 failure, 2 usage error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List or export task texts from a dump.
    Texts(texts::Args),
    /// Compare two dumps: texts added, removed and changed.
    Diff(diff::Args),
    /// The life of texts across many nightly dumps: which backup still has it?
    History(history::Args),
    /// What a dump is and what it holds.
    Inspect(inspect::Args),
    /// Take one verified backup (a replacement for the nightly cron script).
    Backup(backup::Args),
    /// Is the backups folder healthy? Backup age, read-back, size, drills, journal (for monitoring).
    Check(check::Args),
    /// Copy the backups of a folder that a bucket does not have yet (S3-compatible, optionally age-encrypted).
    Copy(copy::Args),
    /// Put texts from a backup back into the live database, safely (safety backup, plan, verify, undo).
    Restore(Box<restore::Args>),
    /// Restore the newest backup into a scratch database, check it, drop it, and record how it went.
    Drill(Box<drill::Args>),
    /// Record every new version and deletion of the live texts in a journal, every minute.
    Watch(watch::Args),
    /// Rewrite a plain dump as an indexed .sql.gz, byte-identical once inflated.
    Reindex(reindex::Args),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Print the manual pages (roff), or write them all into a folder.
    Man(ManArgs),
}

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:
  textrescue completions bash > /etc/bash_completion.d/textrescue
  textrescue completions zsh > /usr/local/share/zsh/site-functions/_textrescue
  textrescue completions fish > ~/.config/fish/completions/textrescue.fish")]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:
  textrescue man --dir /usr/local/share/man/man1
  textrescue man texts | man -l -")]
pub struct ManArgs {
    /// Write every page (textrescue.1, textrescue-texts.1, ...) into DIR
    /// instead of printing one.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
    /// The subcommand whose page to print (default: the main page).
    #[arg(value_name = "SUBCOMMAND")]
    pub command: Option<String>,
}
