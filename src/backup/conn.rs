//! Where pg_dump connects and how it is started: the connection options and
//! `--database-url`, turned into pg_dump's own options, with the password kept
//! out of every command line (it travels in the child's environment only).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::process::Command;

use anyhow::Result;

use crate::error::usage;

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
    /// passed to pg_dump as a `--dbname` connection string.
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
                None => return Err(usage(format!("--database-url: bad %-escape in the {what}"))),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| usage(format!("--database-url: the {what} is not UTF-8")))
}

impl Conn {
    /// Parses `postgres://user:password@host:port/dbname?param=value` (also
    /// `postgresql://`, several `host:port` separated by commas, `[v6]` hosts).
    /// Messages never include the password.
    pub fn from_url(url: &str) -> Result<Conn> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| {
                usage(format!(
                    "--database-url must start with postgres:// or postgresql://, not {}",
                    redact_url(url)
                ))
            })?;
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (netloc, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], Some(&before_query[i + 1..])),
            None => (before_query, None),
        };
        let mut conn = Conn::default();
        let hostspec = match netloc.rfind('@') {
            Some(at) => {
                let userinfo = &netloc[..at];
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
                &netloc[at + 1..]
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
                        .ok_or_else(|| usage("--database-url: unclosed [ in the host"))?;
                    let after = &v6[end + 1..];
                    let port = match after.strip_prefix(':') {
                        Some(p) => p,
                        None if after.is_empty() => "",
                        None => return Err(usage("--database-url: bad host")),
                    };
                    (v6[..end].to_string(), port)
                } else {
                    match one.rsplit_once(':') {
                        Some((h, p)) => (percent_decode(h, "host")?, p),
                        None => (percent_decode(one, "host")?, ""),
                    }
                };
                if !port.is_empty() && !port.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(usage(format!("--database-url: bad port {port:?}")));
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
        if let Some(path) = path.filter(|p| !p.is_empty()) {
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
                "port" => conn.port = Some(v),
                _ => conn.params.push((k, v)),
            }
        }
        Ok(conn)
    }

    /// pg_dump's options for this connection (never the password).
    pub fn pg_dump_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(h) = &self.host {
            args.push("--host".into());
            args.push(h.clone());
        }
        if let Some(p) = &self.port {
            args.push("--port".into());
            args.push(p.clone());
        }
        if let Some(u) = &self.username {
            args.push("--username".into());
            args.push(u.clone());
        }
        if self.params.is_empty() {
            if let Some(d) = &self.dbname {
                args.push("--dbname".into());
                args.push(d.clone());
            }
        } else {
            // A connection string, so that sslmode & co. reach libpq.
            let mut conninfo: Vec<String> = Vec::new();
            if let Some(d) = &self.dbname {
                conninfo.push(format!("dbname={}", conninfo_quote(d)));
            }
            for (k, v) in &self.params {
                conninfo.push(format!("{k}={}", conninfo_quote(v)));
            }
            args.push("--dbname".into());
            args.push(conninfo.join(" "));
        }
        args
    }
}

fn conninfo_quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The URL with its password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let netloc_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let netloc = &rest[..netloc_end];
    let mut out = url[..scheme_end + 3].to_string();
    match netloc.rfind('@') {
        Some(at) => {
            let userinfo = &netloc[..at];
            match userinfo.split_once(':') {
                Some((u, _)) => out.push_str(&format!("{u}:***")),
                None => out.push_str(userinfo),
            }
            out.push_str(&netloc[at..]);
        }
        None => out.push_str(netloc),
    }
    let tail = &rest[netloc_end..];
    // A password given as a query parameter.
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let parts: Vec<String> = query
                .split('&')
                .map(|p| {
                    if p.starts_with("password=") {
                        "password=***".to_string()
                    } else {
                        p.to_string()
                    }
                })
                .collect();
            out.push_str(&parts.join("&"));
        }
        None => out.push_str(tail),
    }
    out
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
/// `docker exec -i` behind `wrapper`. The password (if any) reaches the
/// client through its environment only: `PGPASSWORD` here, and for docker
/// the `-e PGPASSWORD` form, which makes docker copy the value from its own
/// environment into the container without it being in argv.
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
        assert_eq!(
            c.pg_dump_args().last().unwrap(),
            "dbname='db' sslmode='require'"
        );
        let c = Conn::from_url("postgres://localhost").unwrap();
        assert_eq!(c.dbname, None);
        assert!(Conn::from_url("mysql://x").is_err());
        assert!(Conn::from_url("postgres://h:port/db").is_err());
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

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://u:pw@h:1/db?password=pw&a=b"),
            "postgres://u:***@h:1/db?password=***&a=b"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }
}
