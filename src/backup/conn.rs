//! Where pg_dump connects and how it is started: the connection options and
//! `--database-url`, turned into pg_dump's own options, with the password and
//! the URL's other parameters kept out of every command line (they travel in
//! the child's environment only), and out of every message.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::process::Command;

use anyhow::Result;

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Connection settings given on the command line; `None` keeps pg_dump's own
/// default (PG* variables, .pgpass, the OS user name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conn {
    pub host: Option<String>,
    pub port: Option<String>,
    pub username: Option<String>,
    pub dbname: Option<String>,
    /// Further libpq parameters from the URL's query (`sslmode=require`),
    /// as the environment variables that pass them (`PGSSLMODE`).
    pub params: Vec<(String, String)>,
    pub password: Option<Password>,
}

/// pg_dump's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    /// A plain SQL script, gzip-compressed by textrescue (`.sql.gz`).
    Plain,
    /// A custom-format archive (`pg_dump -Fc`), written as it comes (`.dump`).
    Custom,
}

impl DumpFormat {
    pub fn extension(self) -> &'static str {
        match self {
            DumpFormat::Plain => ".sql.gz",
            DumpFormat::Custom => ".dump",
        }
    }
}

/// How to start pg_dump.
#[derive(Debug, Clone)]
pub struct Launch {
    pub pg_dump: String,
    /// `Some((docker binary, container))`: run pg_dump with `docker exec -i`.
    pub container: Option<(String, String)>,
    pub format: DumpFormat,
}

/// What every `--database-url` message ends with: the URL itself is never
/// shown, as any part of it may be a piece of a password.
const NOT_SHOWN: &str = "(the URL is not shown: it may hold a password)";

fn url_error(what: &str) -> anyhow::Error {
    anyhow::anyhow!("--database-url: {what} {NOT_SHOWN}")
}

/// What a URL whose parts cannot be told apart for sure gets told.
const ENCODE: &str = "percent-encode '@' (%40) in a user name or password, and '/' (%2F), \
                      '?' (%3F) and '#' (%23) in a password";

fn percent_decode(s: &str, what: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => out.push(b),
                None => {
                    return Err(url_error(&format!(
                        "a '%' in the {what} does not start a %-escape (write '%' as %25)"
                    )));
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| url_error(&format!("the {what} is not UTF-8")))
}

/// The libpq parameters a URL's query may set besides user, password, host,
/// port and dbname, each with the environment variable that gives it to
/// pg_dump and psql: never their command line, where every user of the
/// machine can read it (`ps`), and where an unknown key fails pg_dump with
/// a message that quotes it.
const QUERY_PARAMS: &[(&str, &str)] = &[
    ("application_name", "PGAPPNAME"),
    ("channel_binding", "PGCHANNELBINDING"),
    ("client_encoding", "PGCLIENTENCODING"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("gssencmode", "PGGSSENCMODE"),
    ("gsslib", "PGGSSLIB"),
    ("hostaddr", "PGHOSTADDR"),
    ("krbsrvname", "PGKRBSRVNAME"),
    ("load_balance_hosts", "PGLOADBALANCEHOSTS"),
    ("options", "PGOPTIONS"),
    ("passfile", "PGPASSFILE"),
    ("require_auth", "PGREQUIREAUTH"),
    ("requirepeer", "PGREQUIREPEER"),
    ("service", "PGSERVICE"),
    ("ssl_max_protocol_version", "PGSSLMAXPROTOCOLVERSION"),
    ("ssl_min_protocol_version", "PGSSLMINPROTOCOLVERSION"),
    ("sslcert", "PGSSLCERT"),
    ("sslcertmode", "PGSSLCERTMODE"),
    ("sslcompression", "PGSSLCOMPRESSION"),
    ("sslcrl", "PGSSLCRL"),
    ("sslcrldir", "PGSSLCRLDIR"),
    ("sslkey", "PGSSLKEY"),
    ("sslmode", "PGSSLMODE"),
    ("sslnegotiation", "PGSSLNEGOTIATION"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslsni", "PGSSLSNI"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
];

impl Conn {
    /// Parses `postgres://user:password@host:port/dbname?param=value` (also
    /// `postgresql://`, several `host:port` separated by commas, `[v6]` hosts).
    ///
    /// No message quotes the URL or any part of it: where a password holds
    /// an unencoded `/`, `?`, `#` or `@`, its pieces land in other parts,
    /// and a message naming a "bad port" or an "unknown parameter" would
    /// show them. So a URL whose parts cannot be told apart for sure (an
    /// `@` after the host part, two `@`, any `#`) is refused, saying what to
    /// percent-encode; so is a query key that cannot be passed through the
    /// environment (`sslpassword`, unknown keys).
    pub fn from_url(url: &str) -> Result<Conn> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| url_error("must start with postgres:// or postgresql://"))?;
        if rest.contains('#') {
            return Err(url_error(&format!("has a '#' ({ENCODE})")));
        }
        let netloc_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (netloc, after) = rest.split_at(netloc_end);
        if after.contains('@') || netloc.matches('@').count() > 1 {
            return Err(url_error(&format!(
                "its user, password and host cannot be told apart ({ENCODE})"
            )));
        }
        let (path, query) = match after.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (after, None),
        };
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.contains('/') {
            return Err(url_error(&format!(
                "has a '/' after the database name ({ENCODE})"
            )));
        }
        let mut conn = Conn::default();
        let hostspec = match netloc.split_once('@') {
            Some((userinfo, hostspec)) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (userinfo, None),
                };
                if !user.is_empty() {
                    conn.username = Some(percent_decode(user, "user name")?);
                }
                if let Some(p) = password {
                    conn.password = Some(Password(percent_decode(p, "password")?));
                }
                hostspec
            }
            None => netloc,
        };
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        if !hostspec.is_empty() {
            for one in hostspec.split(',') {
                let (host, port) = if let Some(v6) = one.strip_prefix('[') {
                    let end = v6
                        .find(']')
                        .ok_or_else(|| url_error("has an unclosed '[' in the host"))?;
                    let after = &v6[end + 1..];
                    let port = match after.strip_prefix(':') {
                        Some(p) => p,
                        None if after.is_empty() => "",
                        None => return Err(url_error("has text after a [host]")),
                    };
                    (v6[..end].to_string(), port)
                } else {
                    match one.rsplit_once(':') {
                        Some((h, p)) => (percent_decode(h, "host")?, p),
                        None => (percent_decode(one, "host")?, ""),
                    }
                };
                if !port.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(url_error(&format!(
                        "has a port that is not a number ({ENCODE})"
                    )));
                }
                hosts.push(host);
                ports.push(port.to_string());
            }
        }
        if hosts.iter().any(|h| !h.is_empty()) {
            conn.host = Some(hosts.join(","));
        }
        if ports.iter().any(|p| !p.is_empty()) {
            conn.port = Some(ports.join(","));
        }
        if !path.is_empty() {
            conn.dbname = Some(percent_decode(path, "database name")?);
        }
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(k, "query")?;
            let v = percent_decode(v, "query")?;
            match k.as_str() {
                "password" => conn.password = Some(Password(v)),
                "user" => conn.username = Some(v),
                "dbname" => conn.dbname = Some(v),
                "host" => conn.host = Some(v),
                "port" if v.bytes().all(|b| b.is_ascii_digit()) => conn.port = Some(v),
                "port" => return Err(url_error("has a port that is not a number")),
                "sslpassword" => {
                    return Err(url_error(
                        "sslpassword cannot be given: pg_dump and psql take it only on their \
                         command line, where every user of this machine can read it; use a key \
                         file without a passphrase, readable only by you (sslkey)",
                    ));
                }
                _ => match QUERY_PARAMS.iter().find(|(name, _)| *name == k) {
                    Some((_, var)) => conn.params.push((var.to_string(), v)),
                    None => {
                        let known: Vec<&str> = ["user", "password", "host", "port", "dbname"]
                            .into_iter()
                            .chain(QUERY_PARAMS.iter().map(|(name, _)| *name))
                            .collect();
                        return Err(url_error(&format!(
                            "its query has a parameter textrescue does not pass on; the ones \
                             it does: {}",
                            known.join(", ")
                        )));
                    }
                },
            }
        }
        // pg_dump and psql read a --dbname holding '=' or a URL as more
        // connection settings; a database name is only a name.
        if conn
            .dbname
            .as_ref()
            .is_some_and(|d| d.contains('=') || d.contains("://"))
        {
            return Err(url_error(
                "the database name holds '=' or '://', which pg_dump would read as more \
                 connection settings",
            ));
        }
        Ok(conn)
    }

    /// pg_dump's (and psql's) options for this connection: host, port,
    /// user and database, never the password nor the other parameters
    /// (those go in the environment: [`client_command`]).
    pub fn pg_dump_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, value) in [
            ("--host", &self.host),
            ("--port", &self.port),
            ("--username", &self.username),
            ("--dbname", &self.dbname),
        ] {
            if let Some(v) = value {
                args.push(flag.to_string());
                args.push(v.clone());
            }
        }
        args
    }
}

/// The command that runs pg_dump for `conn`, its password (if any) set in the
/// child's environment only: `PGPASSWORD` for a local pg_dump, and for
/// `docker exec` the `-e PGPASSWORD` form, which makes docker copy the value
/// from its own environment into the container without it being in argv.
pub fn command(launch: &Launch, conn: &Conn) -> Command {
    let mut pg_args: Vec<OsString> = vec![launch.pg_dump.clone().into(), "--no-password".into()];
    pg_args.push(
        match launch.format {
            DumpFormat::Plain => "--format=plain",
            DumpFormat::Custom => "--format=custom",
        }
        .into(),
    );
    pg_args.extend(conn.pg_dump_args().into_iter().map(OsString::from));
    // Through sh, which says pg_dump's process id inside the container
    // before it becomes pg_dump: stopping the docker client does not stop
    // the process in the container, so a failed or interrupted run ends it
    // by that id (see `super::pg_dump`).
    let wrapper: &[&str] = &["sh", "-c", IN_CONTAINER_SCRIPT, "sh"];
    client_command(conn, launch.container.as_ref(), wrapper, &pg_args)
}

/// The command that runs a PostgreSQL client (`args[0]` and its arguments)
/// for `conn`: here, or in `container` (docker client, name) through
/// `docker exec -i` behind `wrapper`. The password (if any) and the URL's
/// other parameters reach the client through its environment only:
/// `PGPASSWORD`, `PGSSLMODE`, ... here, and for docker the `-e NAME` form,
/// which makes docker copy the value from its own environment into the
/// container without it being in argv.
pub fn client_command<S: AsRef<OsStr>>(
    conn: &Conn,
    container: Option<&(String, String)>,
    wrapper: &[&str],
    args: &[S],
) -> Command {
    match container {
        None => {
            let mut cmd = Command::new(&args[0]);
            cmd.args(&args[1..]);
            if let Some(p) = &conn.password {
                cmd.env("PGPASSWORD", &p.0);
            }
            cmd.envs(conn.params.iter().map(|(k, v)| (k, v)));
            cmd
        }
        Some((docker, container)) => {
            let mut cmd = Command::new(docker);
            cmd.args(["exec", "-i"]);
            let inherited = std::env::var_os("PGPASSWORD").is_some_and(|v| !v.is_empty());
            if let Some(p) = &conn.password {
                cmd.env("PGPASSWORD", &p.0);
                cmd.args(["-e", "PGPASSWORD"]);
            } else if inherited {
                cmd.args(["-e", "PGPASSWORD"]);
            }
            for (k, v) in &conn.params {
                cmd.env(k, v);
                cmd.args(["-e", k]);
            }
            cmd.arg(container).args(wrapper).args(args);
            cmd
        }
    }
}

/// The first line pg_dump's wrapper writes on stderr in a container:
/// this marker and the process id that `exec` hands to pg_dump.
pub const PID_MARKER: &str = "textrescue-pg_dump-pid=";

/// `sh -c` script run in the container: prints [`PID_MARKER`] and its own
/// process id, then replaces itself with pg_dump (same id).
const IN_CONTAINER_SCRIPT: &str = "echo \"textrescue-pg_dump-pid=$$\" >&2; exec \"$@\"";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        let c = Conn::from_url("postgres://buggy:s%40cret@db.example:5433/buggy_race").unwrap();
        assert_eq!(c.username.as_deref(), Some("buggy"));
        assert_eq!(c.password, Some(Password("s@cret".into())));
        assert_eq!(c.host.as_deref(), Some("db.example"));
        assert_eq!(c.port.as_deref(), Some("5433"));
        assert_eq!(c.dbname.as_deref(), Some("buggy_race"));
        let args = c.pg_dump_args().join(" ");
        assert_eq!(
            args,
            "--host db.example --port 5433 --username buggy --dbname buggy_race"
        );
        assert!(!format!("{c:?}").contains("cret"));
    }

    #[test]
    fn url_variants() {
        let c = Conn::from_url("postgresql://[::1]:5432,h2/db?sslmode=require&password=x").unwrap();
        assert_eq!(c.host.as_deref(), Some("::1,h2"));
        assert_eq!(c.port.as_deref(), Some("5432,"));
        assert_eq!(c.password, Some(Password("x".into())));
        assert_eq!(c.params, [("PGSSLMODE".to_string(), "require".to_string())]);
        assert_eq!(
            c.pg_dump_args().join(" "),
            "--host ::1,h2 --port 5432, --dbname db"
        );
        let c = Conn::from_url("postgres://localhost").unwrap();
        assert_eq!(c.dbname, None);
        let c = Conn::from_url("postgres://u:a:b%2F%3F%23%40%25c@h/d%40b").unwrap();
        assert_eq!(c.password, Some(Password("a:b/?#@%c".into())));
        assert_eq!(c.dbname.as_deref(), Some("d@b"));
        assert!(Conn::from_url("mysql://x").is_err());
        assert!(Conn::from_url("postgres://h:port/db").is_err());
    }

    /// A password with an unencoded '/', '?', '#' or '@' (or a '%' that
    /// is not an escape) is refused, and no message shows any piece of it.
    #[test]
    fn ambiguous_urls_are_refused_without_a_piece_of_them() {
        // Pieces of the fixed words of the messages ("password") may appear;
        // every secret holds "Zk9", which no message does.
        let fixed = format!("{NOT_SHOWN} {ENCODE} user name database host query port");
        for secret in [
            "Qx7/Zk9",
            "Qx7?Zk9",
            "Qx7#Zk9",
            "Qx7@Zk9",
            "Qx7%Zk9",
            "12/Zk9",
            "12?sslmode=Zk9",
            "12?user=Zk9wq",
            "Qx7?Zk9&Jv3",
            "Qx7/Zk9?Jv=1",
            "Qx:Zk9@Jv/Wy?Pm#Rt",
            "%zzQxZk9",
        ] {
            for url in [
                format!("postgres://user:{secret}@host:5432/db"),
                format!("postgres://user:{secret}@host/db?sslmode=require"),
                format!("postgresql://{secret}@host/db"),
                format!("postgres://user:{secret}@host"),
            ] {
                let Err(e) = Conn::from_url(&url) else {
                    panic!("{url} was taken")
                };
                let message = format!("{e:#}");
                assert!(message.contains(NOT_SHOWN), "{message}");
                let bytes = secret.as_bytes();
                for piece in bytes.windows(3) {
                    let piece = std::str::from_utf8(piece).unwrap();
                    assert!(
                        !message.contains(piece) || fixed.contains(piece),
                        "{url}: {message}"
                    );
                }
                assert!(!message.contains("Zk9"), "{url}: {message}");
            }
        }
    }

    #[test]
    fn query_keys_that_cannot_travel_in_the_environment_are_refused() {
        for url in [
            "postgres://u@h/db?sslpassword=hunter2",
            "postgres://u@h/db?hunter2=1",
            "postgres://u@h/db?keepalives=1",
            "postgres://u@h/db?port=hunter2",
            "postgres://u@h/host%3Dhunter2",
        ] {
            let message = format!("{:#}", Conn::from_url(url).unwrap_err());
            assert!(!message.contains("hunter2"), "{message}");
        }
        let c = Conn::from_url("postgres://u@h/db?passfile=/p&sslkey=/k&application_name=a%20b")
            .unwrap();
        assert_eq!(
            c.params,
            [
                ("PGPASSFILE".to_string(), "/p".to_string()),
                ("PGSSLKEY".to_string(), "/k".to_string()),
                ("PGAPPNAME".to_string(), "a b".to_string()),
            ]
        );
        let launch = Launch {
            pg_dump: "pg_dump".into(),
            container: Some(("docker".into(), "c".into())),
            format: DumpFormat::Plain,
        };
        let cmd = command(&launch, &c);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args[..9],
            [
                "exec",
                "-i",
                "-e",
                "PGPASSFILE",
                "-e",
                "PGSSLKEY",
                "-e",
                "PGAPPNAME",
                "c"
            ]
        );
        assert!(!args.iter().any(|a| a.contains("/k")), "{args:?}");
    }

    #[test]
    fn container_command_reports_pg_dumps_pid_first() {
        let launch = Launch {
            pg_dump: "pg_dump".into(),
            container: Some(("docker".into(), "server-db-1".into())),
            format: DumpFormat::Plain,
        };
        let conn = Conn {
            dbname: Some("buggy_race".into()),
            ..Conn::default()
        };
        let cmd = command(&launch, &conn);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args[..6],
            ["exec", "-i", "server-db-1", "sh", "-c", IN_CONTAINER_SCRIPT]
        );
        assert_eq!(
            args[6..],
            [
                "sh",
                "pg_dump",
                "--no-password",
                "--format=plain",
                "--dbname",
                "buggy_race"
            ]
        );
        assert!(IN_CONTAINER_SCRIPT.starts_with(&format!("echo \"{PID_MARKER}$$\" >&2;")));
    }
}
