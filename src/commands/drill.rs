//! `textrescue drill DIR`: the newest backup restored into a scratch
//! database, checked, and dropped; the result kept in the folder (see
//! docs/whole-database.md). The backup may be a copy in a bucket
//! (`--from s3://...`, or `drill s3://BUCKET/PREFIX`: see
//! docs/off-host-copies.md).

use std::path::PathBuf;

use anyhow::Result;

use super::ConnArgs;

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "\
Examples:
  textrescue drill /buggy/backups --container server-db-1 \\
      --username buggy --dbname buggy_race

Meant for a weekly cron line (docs/whole-database.md has one).

The newest backup of DIR (or --from) is restored as `restore --whole-database`
restores it, into a scratch database of a new name (textrescue_drill_...),
checked (every table's rows, every text byte for byte, the schema version
against the live database's alembic_version), and dropped whatever happens,
also on Ctrl-C or SIGTERM. The result is appended to DIR/.textrescue-drills.jsonl
and printed; exit status 1 when anything failed.

From a bucket: `drill DIR --from s3://BUCKET/PREFIX` drills the newest copy there
(or --from s3://BUCKET/PREFIX/NAME that one; NAME.age decrypted with --identity),
fetched into a private temporary file in DIR, checked against the SHA-256
recorded with the copy, and removed at the end; the result is kept in DIR.
`drill s3://BUCKET/PREFIX` alone fetches into TMPDIR (else /tmp) and only
prints the result (a bucket is not written to).")]
pub struct Args {
    /// The backups folder (the result is kept there), or a bucket folder
    /// s3://BUCKET/PREFIX (the result is only printed).
    pub dir: PathBuf,
    /// Drill this backup instead of the newest: a path, a file name in DIR,
    /// a copy in a bucket (s3://BUCKET/PREFIX/NAME), or a bucket folder
    /// (s3://BUCKET/PREFIX: its newest copy).
    #[arg(long, value_name = "BACKUP")]
    pub from: Option<PathBuf>,
    /// For backups in a bucket: the S3-compatible service's URL (default:
    /// AWS_ENDPOINT_URL, else AWS; keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// For an encrypted copy in a bucket (NAME.age): the age identity file
    /// (age-keygen's) to decrypt it with.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// In pg_dumpall output: the database to restore (default: the one with a texts table).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// The texts table, if not `tasktexts` or `task_texts` (NAME or SCHEMA.NAME).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    #[command(flatten)]
    pub connection: ConnArgs,
    /// The psql to run (with --container: its path inside the container).
    #[arg(long, value_name = "PATH", default_value = "psql")]
    pub psql: String,
    /// The pg_restore to run for archives (with --container: inside it).
    #[arg(long, value_name = "PATH", default_value = "pg_restore")]
    pub pg_restore: String,
    /// The scratch database's name (default: a new textrescue_drill_... name).
    #[command(flatten)]
    pub monitor: super::check::MonitorArgs,
    #[arg(long, value_name = "NAME", hide = true)]
    pub scratch_name: Option<String>,
}

pub fn run(args: &Args) -> Result<()> {
    let settings = super::settings::drill(args)?;
    // Pings and the metrics file never fail the drill (src/monitor); the
    // metrics are read from the folder after the drill recorded itself.
    let monitor = args.monitor.monitor(&args.dir, None)?;
    monitor.started();
    match crate::whole::drill::run(&settings) {
        Ok(()) => {
            monitor.succeeded("drill passed");
            Ok(())
        }
        Err(e) => {
            monitor.failed(&format!("{e:#}"));
            Err(e)
        }
    }
}
