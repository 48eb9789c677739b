//! One module per subcommand, each with its arguments and a short `run`.

pub mod backup;
pub mod check;
pub mod completions;
pub mod copy;
pub mod diff;
pub mod drill;
pub mod history;
pub mod inspect;
pub mod reindex;
pub mod restore;
pub mod settings;
pub mod texts;
pub mod watch;

use anyhow::Result;

use crate::backup::conn::Conn;
use crate::dump::{self, Dump, ReadOptions};
use crate::error::usage;
use crate::input::Source;

/// How to reach the live database: shared by `backup` and `restore`. The
/// password never goes on a command line: PGPASSWORD, ~/.pgpass or the URL,
/// and from there only into the environment of pg_dump or psql.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// Run pg_dump (and psql) inside this Docker container (`docker exec -i`, never `-t`).
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Database server host (default: PGHOST or the local socket).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Database server port (default: PGPORT or 5432).
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// Database user (default: PGUSER or the OS user).
    #[arg(short = 'U', long, value_name = "USER")]
    pub username: Option<String>,
    /// The database (backup: PGDATABASE or the user name, as pg_dump; restore:
    /// PGDATABASE, else the one all its backups are named after).
    #[arg(short = 'd', long, value_name = "NAME")]
    pub dbname: Option<String>,
    /// postgres://USER:PASSWORD@HOST:PORT/DBNAME instead of the four options
    /// above. Prefer the environment variable to keep the password off
    /// textrescue's own command line.
    #[arg(
        long,
        value_name = "URL",
        env = "TEXTRESCUE_DATABASE_URL",
        hide_env_values = true,
        conflicts_with_all = ["host", "port", "username", "dbname"]
    )]
    pub database_url: Option<String>,
    /// The docker client to run with --container.
    #[arg(long, value_name = "PATH", default_value = "docker")]
    pub docker: String,
}

impl ConnArgs {
    /// The connection the options describe.
    pub fn conn(&self) -> Result<Conn> {
        if let Some(url) = &self.database_url {
            return Conn::from_url(url).map_err(settings::as_usage);
        }
        if let Some(db) = &self.dbname
            && (db.contains('=') || db.contains("://"))
        {
            return Err(usage(
                "--dbname takes a database name; give a URL or connection parameters with \
                 --database-url",
            ));
        }
        Ok(Conn {
            host: self.host.clone(),
            port: self.port.clone(),
            username: self.username.clone(),
            dbname: self.dbname.clone(),
            ..Conn::default()
        })
    }

    /// `--container`'s (docker client, container name).
    pub fn container(&self) -> Option<(String, String)> {
        self.container
            .as_ref()
            .map(|c| (self.docker.clone(), c.clone()))
    }
}

/// How to read a dump: shared by every command that takes one.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DumpArgs {
    /// The texts table, if not `tasktexts` or `task_texts` (NAME or SCHEMA.NAME).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// In pg_dumpall output: the database to read (default: the one with a texts table).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// On a damaged dump, output the rows read before the damage (and say where it stopped).
    #[arg(long)]
    pub salvage: bool,
    /// For s3://BUCKET/KEY dumps: the S3-compatible service's URL (default:
    /// AWS_ENDPOINT_URL, else AWS; keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// For encrypted copies (NAME.age): the age identity file (age-keygen's) to decrypt with.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<std::path::PathBuf>,
}

impl DumpArgs {
    /// Tells [`crate::remote::read`] this run's `--s3-endpoint` and
    /// `--identity` (the first call counts).
    pub fn configure_remote(&self) {
        crate::remote::read::configure(crate::remote::read::ReadSettings {
            endpoint: self.s3_endpoint.clone(),
            identity: self.identity.clone(),
        });
    }

    /// How to read, for [`crate::dump::read`]. Also tells [`crate::remote::read`]
    /// how to reach the buckets this run reads from: every command that
    /// reads a dump asks for its options once, before it opens one.
    pub fn options(&self) -> ReadOptions {
        self.configure_remote();
        ReadOptions {
            table: self.table.clone(),
            database: self.database.clone(),
            salvage: self.salvage,
            progress: true,
            ..ReadOptions::default()
        }
    }
}

/// Reads a dump and reports salvage damage and warnings on stderr.
pub fn read_dump(arg: &str, options: &ReadOptions) -> Result<Dump> {
    let dump = dump::read(&Source::from_arg(arg), options)?;
    if let Some(damage) = &dump.summary.damage {
        if dump.summary.ended {
            // Read to its end, past statements it could not read.
            warn(&format!(
                "--salvage: {damage}; what follows holds every row but those statements'"
            ));
        } else {
            warn(&format!(
                "--salvage: {damage}; what follows holds only the rows read before that point"
            ));
        }
    }
    Ok(dump)
}

/// For the table formats, which show text with U+FFFD for bytes that are
/// not UTF-8: says which texts that happens to, so that it is never silent.
pub fn warn_not_utf8<'a, 'r: 'a>(records: impl IntoIterator<Item = &'a crate::texts::Record<'r>>) {
    for r in records {
        if std::str::from_utf8(&r.text.text).is_err() {
            warn(&format!(
                "text {} ({}, {}) is not valid UTF-8 (a SQL_ASCII database?): the table shows \
                 U+FFFD for its bad bytes; --format csv keeps them exact",
                r.text.id,
                crate::escape::visible(&r.username_or_id()),
                crate::escape::visible(&r.task_label())
            ));
        }
    }
}

pub use crate::escape::warn;
