//! `textrescue restore BACKUP_OR_DIR`: texts from a backup back into the
//! live database, in one safe command (see docs/recovering-a-text.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use super::ConnArgs;
use crate::backup::Settings as BackupSettings;
use crate::backup::conn::{DumpFormat, Launch};
use crate::dump::ReadOptions;
use crate::error::UsageError;
use crate::escape;
use crate::filter::FilterArgs;
use crate::remote::fetch::{self, Fetched};
use crate::remote::read::ReadSettings;
use crate::remote::{Location, read};
use crate::restore::script::OnConflict;
use crate::restore::{self, Settings, live::Live, target, undo};
use crate::signals::Caught;

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "\
Examples:
  textrescue restore /buggy/server/db/backups --user alice --task 3-MULTI \\
      --container server-db-1 --username buggy --dbname buggy_race
  textrescue restore buggy_race_bk_20240304-020000.sql.gz --user alice \\
      --host 127.0.0.1 --username buggy --dbname buggy_race --yes
  textrescue restore s3://race-backups/buggy_race_bk_20240304.sql.gz.age \\
      --identity race-backups.key --s3-endpoint https://s3.example.net \\
      --user alice --safety-dir /buggy/server/db/backups --dbname buggy_race

A backup in a bucket (s3://BUCKET/PREFIX/NAME, NAME.age decrypted with
--identity) is fetched into a private temporary file (in TMPDIR, else /tmp),
checked against the SHA-256 recorded with the copy, restored from as a local
file, and removed at the end; --safety-dir is then required (but with --dry-run).
A bucket folder (s3://BUCKET/PREFIX) is read in place like a backups folder.

The live database: --dbname (or --database-url, or PGDATABASE without
--container), else the one the backups are named after (DBNAME_bk_...) when
they all name the same one; the plan says which and why.

Steps: choose the texts (in a folder: for each text the newest backup that has
it), a safety backup of the live database (as `textrescue backup` takes it)
into --safety-dir, the plan (the restore run in check mode and rolled back),
a y/N question (without a terminal: --yes), the restore in one transaction,
the restored rows read back and compared byte for byte. Any failure before the
commit leaves the live database unchanged. The summary ends with the command
that undoes the restore (from the safety backup).")]
pub struct Args {
    /// A backup, or a folder of backups (each text from the newest backup
    /// that has it), or a backup or folder in a bucket (s3://BUCKET/PREFIX[/NAME]).
    pub backup: PathBuf,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Take every text from this backup (a path, or a file name in the folder).
    #[arg(long, value_name = "BACKUP")]
    pub from: Option<PathBuf>,
    /// With a backups folder: the texts as they stood at TIME (RFC 3339, or
    /// YYYY-MM-DD HH:MM[:SS] in UTC), from the folder's journal (of
    /// textrescue watch) where it covers TIME, else from the newest backup
    /// dated before it.
    #[arg(long, value_name = "TIME", conflicts_with_all = ["from", "delete_absent"])]
    pub at: Option<String>,
    /// What to do where the live database already has a text for that student and task.
    #[arg(long, value_enum, default_value_t = OnConflict::Skip)]
    pub on_conflict: OnConflict,
    /// Delete each live text given with --id that the backup does not have
    /// (how the undo command removes the texts a restore added).
    #[arg(long, requires = "ids")]
    pub delete_absent: bool,
    /// Show the plan and stop (no safety backup, nothing changed).
    #[arg(long)]
    pub dry_run: bool,
    /// Restore without asking (required when standard input is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// Where the safety backup goes (default: the backups folder, or the backup's folder).
    #[arg(long, value_name = "DIR")]
    pub safety_dir: Option<PathBuf>,
    /// The safety backup's file name prefix (default: DBNAME_bk_); in a
    /// folder of several databases' backups, also which ones to read.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// The texts table, if not `tasktexts` or `task_texts` (NAME or SCHEMA.NAME).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// In pg_dumpall output: the database to read (default: the one with a texts table).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    #[command(flatten)]
    pub connection: ConnArgs,
    /// The psql to run (with --container: its path inside the container).
    #[arg(long, value_name = "PATH", default_value = "psql")]
    pub psql: String,
    /// The pg_dump for the safety backup (with --container: inside it).
    #[arg(long, value_name = "PATH", default_value = "pg_dump")]
    pub pg_dump: String,
    /// Wait up to SECS for a backup running in the safety folder to finish.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub lock_timeout: u64,
    /// Restore the whole database from BACKUP into a new database (--into),
    /// check it against the backup, and show the switch (see docs/whole-database.md).
    #[arg(long)]
    pub whole_database: bool,
    /// With --whole-database: the new database to create and load (it must not exist).
    #[arg(long, value_name = "NEWDB")]
    pub into: Option<String>,
    /// With --whole-database: once checked, rename the live database to a
    /// dated name and the new one to the live one's (only while no other
    /// session is connected to it).
    #[arg(long)]
    pub swap: bool,
    /// The pg_restore to run for archives (with --container: inside it).
    #[arg(long, value_name = "PATH", default_value = "pg_restore")]
    pub pg_restore: String,
    /// For a backup in a bucket: the S3-compatible service's URL (default:
    /// AWS_ENDPOINT_URL, else AWS; keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// For an encrypted copy in a bucket (NAME.age): the age identity file
    /// (age-keygen's) to decrypt it with.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

/// Where in a bucket `restore` reads from.
enum Bucket {
    /// One backup (`s3://BUCKET/PREFIX/NAME`), fetched into a temporary file.
    Object(String),
    /// A folder of backups (`s3://BUCKET/PREFIX/`, with the slash), read in
    /// place like a local backups folder.
    Folder(String),
}

/// The bucket URL `restore` was given instead of a local backup, checked
/// (usage errors first, then whether it names a folder or one object);
/// `None` for a local source.
fn bucket_source(args: &Args) -> Result<Option<Bucket>> {
    let Some(url) = args.backup.to_str().filter(|b| Location::is_remote(b)) else {
        if args.s3_endpoint.is_some() || args.identity.is_some() {
            return Err(UsageError(
                "--s3-endpoint and --identity go with a backup in a bucket (s3://BUCKET/PREFIX/NAME)"
                    .into(),
            )
            .into());
        }
        return Ok(None);
    };
    Location::parse(url).map_err(super::settings::as_usage)?;
    if !args.whole_database && !args.dry_run && args.safety_dir.is_none() {
        return Err(UsageError(
            "restoring from a bucket needs --safety-dir DIR: where the safety backup of the live \
             database goes (the backups folder, if this machine has it)"
                .into(),
        )
        .into());
    }
    read::configure(ReadSettings {
        endpoint: args.s3_endpoint.clone(),
        identity: args.identity.clone(),
    });
    if let Some(folder) = read::as_folder(url)? {
        if args.whole_database {
            return Err(UsageError(format!(
                "--whole-database restores one backup: {folder} is a folder; give one of its \
                 backups (s3://BUCKET/PREFIX/NAME)"
            ))
            .into());
        }
        return Ok(Some(Bucket::Folder(folder)));
    }
    read::split(url).map_err(super::settings::as_usage)?;
    if args.from.is_some() {
        return Err(UsageError(
            "--from picks a backup in a folder; s3://BUCKET/PREFIX/NAME names one backup already"
                .into(),
        )
        .into());
    }
    Ok(Some(Bucket::Object(url.to_string())))
}

/// The backup at `url` fetched into a private temporary file (see
/// [`fetch`]); a signal during the fetch stops it and removes the file.
fn fetch_backup(args: &Args, url: &str, interrupt: &Caught) -> Result<Fetched> {
    let settings = ReadSettings {
        endpoint: args.s3_endpoint.clone(),
        identity: args.identity.clone(),
    };
    let fetched = fetch::fetch(url, &settings, &std::env::temp_dir(), &|| interrupt.check())?;
    println!("{}", fetched.describe());
    Ok(fetched)
}

pub fn run(args: &Args) -> Result<()> {
    let bucket = bucket_source(args)?;
    if let Some(mut settings) = super::settings::whole_database(args)? {
        let Some(Bucket::Object(url)) = &bucket else {
            return crate::whole::restore(&settings);
        };
        let interrupt = Caught::install()?;
        // Removed when this returns, whatever happens.
        let fetched = fetch_backup(args, url, &interrupt)?;
        settings.backup = fetched.path().to_path_buf();
        interrupt.check()?;
        return crate::whole::restore(&settings);
    }
    let filter = super::settings::filter(&args.filter)?;
    if filter.users().is_empty() {
        return Err(UsageError("restore needs at least one --user".into()).into());
    }
    if args.backup.as_os_str() == "-" {
        return Err(
            UsageError("restore reads a backup file or folder, not standard input".into()).into(),
        );
    }
    // The source as restore reads it: a bucket folder's URL ends in `/`.
    let named = match &bucket {
        Some(Bucket::Folder(url)) => PathBuf::from(url),
        _ => args.backup.clone(),
    };
    if args.delete_absent && args.from.is_none() && !restore::is_one_backup(&named) {
        return Err(UsageError(
            "--delete-absent deletes the --id texts that one backup lacks: give one backup (or --from)"
                .into(),
        )
        .into());
    }
    let at = super::settings::at_time(args.at.as_deref(), &named.to_string_lossy())?;
    if !args.yes && !args.dry_run && !restore::can_ask() {
        return Err(UsageError(
            "standard input is not a terminal, so restore cannot ask before it writes: give --yes \
             (or --dry-run to see the plan)"
                .into(),
        )
        .into());
    }
    // A backup in a bucket is fetched now, once the command line is known
    // to be right, and removed when this returns (also on an error or a
    // signal: the restore fails and returns).
    let (fetched, interrupt) = match &bucket {
        Some(Bucket::Object(url)) => {
            let caught = Caught::install()?;
            (Some(fetch_backup(args, url, &caught)?), Some(caught))
        }
        Some(Bucket::Folder(_)) | None => (None, None),
    };
    let source: &Path = fetched.as_ref().map_or(named.as_path(), Fetched::path);
    let mut conn = args.connection.conn()?;
    let container = args.connection.container();
    let c = &args.connection;
    let url_from_env =
        c.database_url.is_some() && std::env::var("TEXTRESCUE_DATABASE_URL").ok() == c.database_url;
    let target = target::decide(
        &conn,
        c.database_url.as_ref().map(|_| url_from_env),
        container.is_some(),
        &target::Backups {
            source,
            from: args.from.as_deref(),
            prefix: args.prefix.as_deref(),
        },
    )
    .map_err(|e| match e.downcast::<target::NoTarget>() {
        Ok(no_target) => super::settings::as_usage(no_target.into()),
        Err(e) => e,
    })?;
    conn.dbname = Some(target.dbname.clone());
    let mut safety = BackupSettings::new(
        args.safety_dir
            .clone()
            .unwrap_or_else(|| restore::default_safety_dir(source)),
        conn.clone(),
        Launch {
            pg_dump: args.pg_dump.clone(),
            container: container.clone(),
            format: DumpFormat::Plain,
        },
        args.prefix.as_deref(),
    )
    .map_err(super::settings::as_usage)?;
    safety.lock_timeout = Duration::from_secs(args.lock_timeout);
    safety.quiet = true;
    let prefix = safety.prefix.clone();
    let target_note = format!(
        "live database: {}{} ({})",
        escape::visible(&target.dbname),
        match &c.container {
            Some(name) => format!(", in the container {}", escape::visible(name)),
            None => String::new(),
        },
        target.why
    );
    // A URL given on the command line is named by its parts (see undo::Reach).
    let (host, port, username) = if c.database_url.is_some() && !url_from_env {
        (&conn.host, &conn.port, &conn.username)
    } else {
        (&c.host, &c.port, &c.username)
    };
    let undo_reach = undo::Reach {
        container: c.container.clone(),
        host: host.clone(),
        port: port.clone(),
        username: username.clone(),
        dbname: (!url_from_env).then(|| target.dbname.clone()),
        table: args.table.clone(),
        database: args.database.clone(),
        prefix: args.prefix.clone(),
        psql: args.psql.clone(),
        pg_dump: args.pg_dump.clone(),
        docker: c.docker.clone(),
    };
    let mut usernames: Vec<String> = args.filter.users.clone();
    usernames.extend(filter.users().iter().cloned());
    usernames.sort();
    usernames.dedup();
    let mut read_options = ReadOptions {
        table: args.table.clone(),
        database: args.database.clone(),
        ..ReadOptions::default()
    };
    read_options.keep_only(&filter.of_rows());
    let settings = Settings {
        usernames,
        source: source.to_path_buf(),
        from: args.from.clone(),
        at,
        read_options,
        filter,
        on_conflict: args.on_conflict,
        delete_absent: if args.delete_absent {
            args.filter.ids.clone()
        } else {
            Vec::new()
        },
        dry_run: args.dry_run,
        yes: args.yes,
        live: Live {
            conn,
            psql: args.psql.clone(),
            container: container.clone(),
        },
        safety,
        prefix,
        undo_reach,
        target_note,
    };
    // A signal between the fetch and the restore's own handling of them.
    if let Some(caught) = &interrupt {
        caught.check()?;
    }
    restore::run(&settings)
}
