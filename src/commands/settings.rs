//! The command line turned into settings: every check of how a command was
//! called is made here, before anything is read or written, and fails with
//! a [`UsageError`](crate::error::UsageError) (exit status 2). The layers
//! below take the settings as valid and fail with plain errors.

use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::error::usage;
use crate::filter::{Filter, FilterArgs};
use crate::output;
use crate::output::sql::{OnConflict, ScriptSettings};

/// The options of `--format sql` as given. `--on-conflict` has no default
/// here, so that whether it was given is known; [`SqlFormatArgs::sql`]
/// applies it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SqlFormatArgs {
    /// With --format sql: what to do where the live database already has a
    /// text for that student and task. [default: skip]
    #[arg(long, value_enum)]
    pub on_conflict: Option<OnConflict>,
    /// With --format sql: the same script, ending in ROLLBACK: it reports
    /// what it would do and changes nothing.
    #[arg(long)]
    pub check: bool,
}

impl SqlFormatArgs {
    /// The options for the script; with another format than sql
    /// (`sql_format` false), none may be given.
    pub fn sql(&self, sql_format: bool) -> Result<ScriptSettings> {
        if self.on_conflict.is_some() && !sql_format {
            return Err(usage("--on-conflict goes with --format sql"));
        }
        Ok(ScriptSettings {
            on_conflict: self.on_conflict.unwrap_or(OnConflict::Skip),
            check: self.check,
        })
    }

    /// The check of `--check`, which [`SqlFormatArgs::sql`] leaves to the
    /// command, whose other checks come first.
    pub fn check_goes_with_sql(&self, sql_format: bool) -> Result<()> {
        if self.check && !sql_format {
            return Err(usage("--check goes with --format sql"));
        }
        Ok(())
    }
}

/// An option that goes with one format only: a usage error when it is
/// given with another.
pub fn goes_with(given: bool, right_format: bool, message: &str) -> Result<()> {
    if given && !right_format {
        return Err(usage(message));
    }
    Ok(())
}

/// `--output` must not be one of the inputs (see
/// [`output::check_not_an_input`]): a usage error.
pub fn not_an_input<P: AsRef<Path>>(output: Option<&Path>, inputs: &[P]) -> Result<()> {
    output::check_not_an_input(output, inputs).map_err(as_usage)
}

/// A check the layers below make (a `--prefix`, a `--database-url`) as a
/// usage error.
pub fn as_usage(e: anyhow::Error) -> anyhow::Error {
    usage(format!("{e:#}"))
}

/// `--at` parsed, given a backups folder only (not one backup: a file, or
/// a `pg_dump -Fd` folder); a time that is none is a usage error.
pub fn at_time(at: Option<&str>, input: &str) -> Result<Option<DateTime<Utc>>> {
    let Some(at) = at else {
        return Ok(None);
    };
    if !is_backups_folder(input) {
        return Err(usage(
            "--at goes with a backups folder (one holding the journal of textrescue watch, or backups)",
        ));
    }
    crate::at_time::parse_time(at).map(Some).map_err(as_usage)
}

/// Whether `input` can be a backups folder read at a time (`--at`,
/// `--from-time`): a local folder that is not a `pg_dump -Fd` dump, or a
/// bucket (`s3://BUCKET/PREFIX`: its copies, no journal; one object named
/// so is read as the one backup there is).
pub fn is_backups_folder(input: &str) -> bool {
    let path = Path::new(input);
    crate::remote::Location::is_remote(input) || path.is_dir() && !path.join("toc.dat").is_file()
}

/// `--user`, `--task`, `--since`, ... parsed; a date that is none is a
/// usage error.
pub fn filter(args: &FilterArgs) -> Result<Filter> {
    Filter::from_args(args).map_err(|e| usage(format!("{e:#}")))
}

/// `restore --whole-database`'s settings, checked; `None` without it.
pub fn whole_database(args: &super::restore::Args) -> Result<Option<crate::whole::Settings>> {
    if !args.whole_database {
        if args.into.is_some() || args.swap {
            return Err(usage("--into and --swap go with --whole-database"));
        }
        return Ok(None);
    }
    let Some(into) = args.into.clone() else {
        return Err(usage(
            "--whole-database needs --into NEWDB: the new database to restore into",
        ));
    };
    let f = &args.filter;
    let filtered = !f.users.is_empty()
        || !f.tasks.is_empty()
        || f.since.is_some()
        || f.until.is_some()
        || !f.ids.is_empty()
        || !f.user_ids.is_empty();
    if filtered || args.from.is_some() || args.delete_absent || args.dry_run {
        return Err(usage(
            "--whole-database restores everything: it goes with no --user, --task or other \
             filter, nor --from, --delete-absent or --dry-run",
        ));
    }
    if args.backup.as_os_str() == "-"
        || args.backup.is_dir() && !args.backup.join("toc.dat").is_file()
    {
        return Err(usage(
            "--whole-database restores one backup file (or pg_dump -Fd directory), not a folder \
             of backups nor standard input",
        ));
    }
    if into.is_empty() || into.len() > 63 {
        return Err(usage("--into: a database name of 1 to 63 bytes"));
    }
    let server = server(&args.connection, &args.psql, &args.pg_restore)?;
    if server.live_db() == Some(into.as_str()) {
        return Err(usage(
            "--into names the live database (--dbname): give a new database's name",
        ));
    }
    Ok(Some(crate::whole::Settings {
        server,
        backup: args.backup.clone(),
        into,
        swap: args.swap,
        database: args.database.clone(),
        table: args.table.clone(),
    }))
}

/// The server a whole restore or a drill works on.
pub fn server(
    conn: &super::ConnArgs,
    psql: &str,
    pg_restore: &str,
) -> Result<crate::whole::server::Server> {
    let mut c = conn.conn()?;
    if c.dbname.is_none() && conn.container.is_none() {
        c.dbname = std::env::var("PGDATABASE").ok().filter(|d| !d.is_empty());
    }
    Ok(crate::whole::server::Server {
        conn: c,
        container: conn.container(),
        psql: psql.to_string(),
        pg_restore: pg_restore.to_string(),
    })
}

/// `drill`'s settings, checked.
pub fn drill(args: &super::drill::Args) -> Result<crate::whole::drill::Settings> {
    let remote = |p: &Path| p.to_str().is_some_and(crate::remote::Location::is_remote);
    if remote(&args.dir) {
        crate::remote::Location::parse(&args.dir.to_string_lossy()).map_err(as_usage)?;
        if args.monitor.prometheus.is_some() {
            return Err(usage(
                "--prometheus writes a backups folder's metrics: give the local folder (drill DIR \
                 --from s3://...)",
            ));
        }
    } else if !args.dir.is_dir() {
        return Err(usage(format!(
            "{} is not a folder: drill takes the backups folder (and --from to pick a backup)",
            args.dir.display()
        )));
    }
    if let Some(from) = args.from.as_deref().filter(|f| remote(f)) {
        crate::remote::Location::parse(&from.to_string_lossy()).map_err(as_usage)?;
    }
    if (args.s3_endpoint.is_some() || args.identity.is_some())
        && !remote(&args.dir)
        && !args.from.as_deref().is_some_and(remote)
    {
        return Err(usage(
            "--s3-endpoint and --identity go with backups in a bucket (s3://...)",
        ));
    }
    if let Some(name) = &args.scratch_name
        && (name.is_empty() || name.len() > 63)
    {
        return Err(usage("--scratch-name: a database name of 1 to 63 bytes"));
    }
    let server = server(&args.connection, &args.psql, &args.pg_restore)?;
    if args.scratch_name.is_some() && args.scratch_name.as_deref() == server.live_db() {
        return Err(usage("--scratch-name names the live database"));
    }
    Ok(crate::whole::drill::Settings {
        server,
        dir: args.dir.clone(),
        from: args.from.clone(),
        database: args.database.clone(),
        table: args.table.clone(),
        scratch: args.scratch_name.clone(),
        remote: crate::remote::read::ReadSettings {
            endpoint: args.s3_endpoint.clone(),
            identity: args.identity.clone(),
        },
    })
}
