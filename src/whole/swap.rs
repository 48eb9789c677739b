//! The switch to a restored database: the live database renamed to a
//! dated name (kept, never dropped) and the restored one given its name, in
//! one transaction, only while no other session is connected to the live
//! database (a rename needs that; the sessions are named when there are
//! some). Without `--swap`, the same switch as commands to copy.

use anyhow::{Result, bail};
use chrono::NaiveDateTime;

use super::server::{MAINTENANCE_DB, Server, ident, literal};
use crate::escape;
use crate::signals::Caught;

/// PostgreSQL's longest identifier, in bytes.
const NAME_MAX: usize = 63;

/// `live_old_YYYYMMDD_HHMMSS`, within PostgreSQL's 63 bytes.
pub fn old_name(live: &str, now: NaiveDateTime) -> String {
    let tail = format!("_old_{}", now.format("%Y%m%d_%H%M%S"));
    let mut head = live.to_string();
    while head.len() + tail.len() > NAME_MAX {
        head.pop();
    }
    head + &tail
}

/// The other sessions connected to `live`, one description each.
pub fn sessions(server: &Server, live: &str, interrupt: &Caught) -> Result<Vec<String>> {
    let lines = server.lines(
        MAINTENANCE_DB,
        &format!(
            "SELECT 'textrescue-s ' || json_build_array(pid, usename, application_name, \
             host(client_addr))::text FROM pg_stat_activity WHERE datname = {} AND pid <> \
             pg_backend_pid() ORDER BY pid;\n",
            literal(live)
        ),
        "textrescue-s ",
        interrupt,
    )?;
    Ok(lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            let s = |i: usize| match &v[i] {
                serde_json::Value::String(s) if !s.is_empty() => escape::visible(s),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            format!(
                "pid {} (user {}, application {}, client {})",
                s(0),
                s(1),
                s(2),
                match &v[3] {
                    serde_json::Value::Null => "local socket".into(),
                    _ => s(3),
                }
            )
        })
        .collect())
}

/// Renames `live` to `old` and `restored` to `live`, refusing while
/// another session is connected to `live`.
pub fn swap(
    server: &Server,
    restored: &str,
    live: &str,
    old: &str,
    interrupt: &Caught,
) -> Result<()> {
    let others = sessions(server, live, interrupt)?;
    if !others.is_empty() {
        bail!(
            "--swap: {} other session{} connected to the live database {}: {}. Stop the race \
             server's web container (and close those sessions), then run the switch again; \
             {} holds the backup, checked",
            others.len(),
            if others.len() == 1 { " is" } else { "s are" },
            escape::visible(live),
            others.join("; "),
            escape::visible(restored)
        );
    }
    let live_exists = server.exists(live, interrupt)?;
    let mut sql = String::from("BEGIN;\n");
    if live_exists {
        sql += &format!("ALTER DATABASE {} RENAME TO {};\n", ident(live), ident(old));
    }
    sql += &format!(
        "ALTER DATABASE {} RENAME TO {};\nCOMMIT;\n",
        ident(restored),
        ident(live)
    );
    // Past this point the rename runs to its end: a signal must not leave
    // the server without its database.
    server.run(MAINTENANCE_DB, &sql, &Caught::never())?;
    if live_exists {
        println!(
            "switched: {} is now {} (the backup, checked); the database it replaced is kept as {}",
            escape::visible(restored),
            escape::visible(live),
            escape::visible(old)
        );
    } else {
        println!(
            "switched: {} is now {} (the backup, checked)",
            escape::visible(restored),
            escape::visible(live)
        );
    }
    Ok(())
}

/// The race server's web container, guessed from the database's
/// (`server-db-1` → `server-web-1`).
fn web_container(server: &Server) -> String {
    match &server.container {
        Some((_, c)) if c.contains("-db-") => c.replacen("-db-", "-web-", 1),
        _ => "server-web-1".into(),
    }
}

/// The switch as commands to copy.
pub fn commands(server: &Server, restored: &str, live: &str, old: &str) -> String {
    let web = escape::shell_word(&web_container(server));
    let mut conn = String::new();
    if let Some((docker, c)) = &server.container {
        conn += &format!(
            "{} exec -i {} ",
            escape::shell_word(docker),
            escape::shell_word(c)
        );
    }
    conn += &escape::shell_word(&server.psql);
    conn += " -X -v ON_ERROR_STOP=1";
    let admin = server.conn_to(MAINTENANCE_DB);
    for a in admin.pg_dump_args() {
        conn += " ";
        conn += &escape::shell_word(&a);
    }
    let sql = format!(
        "ALTER DATABASE {} RENAME TO {}; ALTER DATABASE {} RENAME TO {};",
        ident(live),
        ident(old),
        ident(restored),
        ident(live)
    );
    format!(
        "To switch the race server to it (or run the restore again with --swap):\n  \
         docker stop {web}\n  \
         {conn} -c {}\n  \
         docker start {web}\n\
         The old database stays as {} until you drop it.",
        escape::shell_word(&sql),
        escape::visible(old)
    )
}
