//! The PostgreSQL server a whole restore works on, reached as `restore`
//! reaches it (psql here or through `docker exec -i`, the password only in
//! the child's environment): queries run in a named database, each line
//! of output that starts with a marker handed on as it comes.

use anyhow::Result;

use crate::backup::conn::Conn;
use crate::restore::live::{Live, psql_failure};
use crate::signals::Caught;

/// The database every statement about databases runs in (as `createdb`).
pub const MAINTENANCE_DB: &str = "postgres";

/// How to reach the server and run its clients.
#[derive(Debug, Clone)]
pub struct Server {
    /// The connection; its `dbname` is the live database (if known).
    pub conn: Conn,
    /// `Some((docker client, container))`: the clients run in it.
    pub container: Option<(String, String)>,
    pub psql: String,
    pub pg_restore: String,
}

/// `"name"`: an identifier, quoted.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`: a string literal (standard_conforming_strings is on).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Server {
    /// The live database's name, when the connection names one.
    pub fn live_db(&self) -> Option<&str> {
        self.conn.dbname.as_deref()
    }

    /// The connection to `db`.
    pub fn conn_to(&self, db: &str) -> Conn {
        Conn {
            dbname: Some(db.to_string()),
            ..self.conn.clone()
        }
    }

    fn live(&self, db: &str) -> Live {
        Live {
            conn: self.conn_to(db),
            psql: self.psql.clone(),
            container: self.container.clone(),
        }
    }

    /// Runs `sql` in `db`; each output line starting with `marker` goes,
    /// without it, to `each`.
    pub fn each_line(
        &self,
        db: &str,
        sql: &str,
        marker: &str,
        interrupt: &Caught,
        mut each: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        let live = self.live(db);
        let mut session = live.session()?;
        let mut full = String::from("SET client_min_messages = warning;\n");
        full.push_str(sql);
        session.send(full.as_bytes())?;
        session.close_input();
        while let Some(line) = session.line_starting(marker, interrupt)? {
            each(&line)?;
        }
        let (status, stderr) = session.wait();
        if !status.success() {
            return Err(psql_failure(session.what(), status, &stderr));
        }
        Ok(())
    }

    /// The lines `sql` marks with `marker`.
    pub fn lines(
        &self,
        db: &str,
        sql: &str,
        marker: &str,
        interrupt: &Caught,
    ) -> Result<Vec<String>> {
        let mut all = Vec::new();
        self.each_line(db, sql, marker, interrupt, |l| {
            all.push(l.to_string());
            Ok(())
        })?;
        Ok(all)
    }

    /// Runs statements in `db` (nothing read back).
    pub fn run(&self, db: &str, sql: &str, interrupt: &Caught) -> Result<()> {
        self.each_line(db, sql, "\u{1}never", interrupt, |_| Ok(()))
    }

    /// Whether a database of that name exists.
    pub fn exists(&self, name: &str, interrupt: &Caught) -> Result<bool> {
        let lines = self.lines(
            MAINTENANCE_DB,
            &format!(
                "SELECT 'textrescue-n ' || count(*) FROM pg_database WHERE datname = {};\n",
                literal(name)
            ),
            "textrescue-n ",
            interrupt,
        )?;
        Ok(lines.first().is_some_and(|n| n != "0"))
    }

    /// `database` dropped, its sessions ended first (PostgreSQL 13 or
    /// later: `WITH (FORCE)`); run to its end whatever signal comes.
    pub fn drop_database(&self, database: &str) -> Result<()> {
        self.run(
            MAINTENANCE_DB,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {};\n\
                 DROP DATABASE IF EXISTS {} WITH (FORCE);\n",
                literal(database),
                ident(database)
            ),
            &Caught::never(),
        )
    }

    /// Where the clients run, for messages.
    pub fn where_(&self) -> String {
        match &self.container {
            Some((_, c)) => format!(" in the container {c}"),
            None => String::new(),
        }
    }
}
