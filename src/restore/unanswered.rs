//! A COMMIT whose answer never came: psql, or its connection, ended after
//! COMMIT was sent and before the server's answer reached textrescue. The
//! transaction may have committed or not; only the live database can say.
//!
//! A new connection first waits for the restore's transaction to end: it
//! takes a SHARE lock on the texts table, which the restore's EXCLUSIVE
//! lock holds off until that transaction has committed or rolled back (the
//! server ends it once its client is gone). Then every row the restore
//! wrote or deleted is read back ([`super::verify::read_back`]) and held
//! both to what was to be restored and to what was there before.

use anyhow::{Context, Result};

use super::live::Live;
use super::plan::Report;
use super::script::{LockMode, SETTINGS_SQL, Tables};
use super::select::Selection;
use super::verify::{self, Found, State};
use crate::signals::Caught;

/// How long the new connection waits for the restore's transaction to end.
pub const WAIT_SECS: u64 = 60;

/// What the live database holds, once the restore's transaction has ended.
pub enum Verdict {
    /// Every row as the restore leaves it: it was committed.
    Committed,
    /// Every row as before: it was not.
    NotCommitted,
    /// Neither can be told: some rows one way, some another, or the rows
    /// could not be read. What was found, and why it cannot be told.
    Unknown { found: Vec<Found>, why: String },
}

/// Waits for the restore's transaction to end, then reads back what it
/// wrote. Runs to its end whatever signal comes.
pub fn settle(live: &Live, selection: &Selection, report: &Report) -> Verdict {
    let never = Caught::never();
    if let Err(e) = wait_for_the_transaction(live, selection) {
        return Verdict::Unknown {
            found: Vec::new(),
            why: format!("{e:#}"),
        };
    }
    let found = match verify::read_back(live, selection, report, &never) {
        Ok(found) => found,
        Err(e) => {
            return Verdict::Unknown {
                found: Vec::new(),
                why: format!("reading the texts back failed: {e:#}"),
            };
        }
    };
    if found.iter().all(|f| f.state == State::Restored) {
        Verdict::Committed
    } else if found.iter().all(|f| f.state == State::AsBefore) {
        Verdict::NotCommitted
    } else {
        Verdict::Unknown {
            found,
            why: "the texts read back are neither all as the restore leaves them nor all as \
                  before (another session may have changed them since)"
                .into(),
        }
    }
}

/// Returns once no transaction holds a lock on the texts table that keeps
/// others from reading it as a whole (the restore's EXCLUSIVE lock), or
/// fails after [`WAIT_SECS`].
fn wait_for_the_transaction(live: &Live, selection: &Selection) -> Result<()> {
    // The table is named only through Tables' views and format('%I'), as
    // everywhere else (a name may hold anything: docs/hardening.md).
    let tables = Tables::new(&selection.table)?;
    let mut sql =
        format!("BEGIN;\n{SETTINGS_SQL}SET LOCAL lock_timeout = '{WAIT_SECS}s';\n").into_bytes();
    tables.target_sql(Some(LockMode::Share), &mut sql)?;
    sql.extend_from_slice(b"SELECT 'textrescue-settled';\nROLLBACK;\n");
    live.query(&sql, "textrescue-settled", &Caught::never())
        .with_context(|| {
            format!(
                "waiting on a new connection for the restore's transaction to end (at most \
                 {WAIT_SECS} s) failed"
            )
        })?;
    Ok(())
}
