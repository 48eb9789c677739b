//! `textrescue backup`: one verified backup, for cron (see docs/nightly-backups.md).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::ConnArgs;
use super::copy::CopyArgs;
use crate::backup::conn::{DumpFormat, Launch};
use crate::backup::retention::Keep;
use crate::backup::{self, Settings};
use crate::error::usage;

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "\
Examples (the race server's usual values: container server-db-1 or buggy-race-db,
database buggy_race, user buggy):
  textrescue backup --container server-db-1 --username buggy \\
      --dbname buggy_race \\
      --dir /buggy/server/db/backups --prefix buggy_race_bk_ \\
      --keep-daily 14 --keep-weekly 8 --keep-monthly 12 --quiet
  textrescue backup --host localhost --username buggy --dbname buggy_race \\
      --dir ~/backups
  TEXTRESCUE_DATABASE_URL=postgres://buggy:PASSWORD@db.example:5432/buggy_race \\
      textrescue backup --dir ~/backups --format custom

pg_dump runs with --no-password: give a password with PGPASSWORD, ~/.pgpass or the
URL; it reaches pg_dump through its environment, never its command line.
Files are written 0600 under DIR/PREFIX + YYYYMMDD-HHMMSS (UTC) + .sql.gz|.dump,
only once pg_dump succeeded and the file reads back complete.
--prometheus FILE and --ping URL report every run, failed or not (docs/monitoring.md).")]
pub struct Args {
    /// Directory for the backups (created with mode 0700 if missing).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,

    #[command(flatten)]
    pub connection: ConnArgs,

    /// The pg_dump to run (with --container: its path inside the container).
    #[arg(long, value_name = "PATH", default_value = "pg_dump")]
    pub pg_dump: String,

    /// plain: a gzip-compressed SQL script (.sql.gz); custom: pg_dump -Fc (.dump).
    #[arg(long, value_enum, default_value_t = DumpFormat::Plain)]
    pub format: DumpFormat,

    /// File name prefix (default: DBNAME_bk_, with the database pg_dump dumps).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,

    /// Keep the newest backup of each of the last N days that have backups.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<usize>,

    /// Keep the newest backup of each of the last N ISO weeks that have backups.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<usize>,

    /// Keep the newest backup of each of the last N months that have backups.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<usize>,

    /// With --keep-*: take the backup, but only print which old backups would be removed.
    #[arg(long)]
    pub dry_run: bool,

    /// Wait up to SECS for another backup run in DIR to finish (default: fail at once).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub lock_timeout: u64,

    /// Print nothing on success (for cron).
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub monitor: super::check::MonitorArgs,

    #[command(flatten)]
    pub copy: CopyArgs,
}

pub fn run(args: &Args) -> Result<()> {
    let mut settings = Settings::new(
        args.dir.clone(),
        args.connection.conn()?,
        Launch {
            pg_dump: args.pg_dump.clone(),
            container: args.connection.container(),
            format: args.format,
        },
        args.prefix.as_deref(),
    )
    .map_err(super::settings::as_usage)?;
    if args.dry_run
        && args.keep_daily.is_none()
        && args.keep_weekly.is_none()
        && args.keep_monthly.is_none()
    {
        return Err(usage(
            "--dry-run shows what --keep-daily/--keep-weekly/--keep-monthly would remove: give at least one",
        ));
    }
    settings.keep = Keep {
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
    };
    settings.dry_run = args.dry_run;
    settings.lock_timeout = Duration::from_secs(args.lock_timeout);
    settings.quiet = args.quiet;
    // Fail closed: the bucket location and every recipient are checked
    // before pg_dump starts, so nothing is ever uploaded in clear.
    let copy_to = args.copy.copy_to()?;
    // Pings and the metrics file never fail the backup (src/monitor).
    let monitor = args
        .monitor
        .monitor(&settings.dir, Some(&settings.prefix))?;
    monitor.started();
    let outcome = backup::run(&settings).and_then(|written| {
        if let Some(mut copy_to) = copy_to {
            // The backup's own signal handling ended with it.
            copy_to.stop = Some(crate::signals::stop_flag()?);
            backup::copy::after_backup(&copy_to, &written.path, &settings)?;
        }
        Ok(written)
    });
    match outcome {
        Ok(written) => {
            monitor.succeeded(&format!(
                "{} ({} bytes)",
                written.path.display(),
                written.bytes
            ));
            Ok(())
        }
        Err(e) => {
            monitor.failed(&format!("{e:#}"));
            Err(e)
        }
    }
}
