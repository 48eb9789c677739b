//! Step 5: the restore script, held to the plan, in one transaction
//! through psql. The script ends with the program's report and a marker
//! line; COMMIT is sent only once both came back and no signal was caught.
//! Until then, any failure or signal ends psql without a COMMIT, and the
//! server rolls the transaction back.

use anyhow::Result;

use super::plan::{self, Report};
use super::select::Selection;
use super::{Interrupt, Settings, live};
use crate::output::sql::REPORT_MARKER;

/// Step 5: the script, held to the plan, in one transaction; COMMIT only
/// once the program has run to its end and no signal came.
pub fn apply(
    settings: &Settings,
    selection: &Selection,
    planned: &Report,
    usernames: &[String],
    interrupt: &Interrupt,
) -> Result<Report> {
    let mut sql = plan::script(selection, settings.on_conflict, usernames, Some(planned))?;
    sql.extend_from_slice(b"\nSELECT 'textrescue-ready';\n");
    let live = &settings.live;
    let mut session = live.session()?;
    let sent = session.send(&sql);
    let report = match sent {
        Ok(()) => session.line_starting(REPORT_MARKER, interrupt)?,
        Err(_) => None,
    };
    let ready = match report {
        Some(_) => session.line_starting("textrescue-ready", interrupt)?,
        None => None,
    };
    let (Some(report), Some(_)) = (report, ready) else {
        let (status, stderr) = session.wait();
        return Err(live::psql_failure(session.what(), status, &stderr));
    };
    interrupt.check()?;
    // From here on the run finishes: a signal no longer stops it.
    session.send(b"COMMIT;\nSELECT 'textrescue-committed';\n")?;
    let committed = session.line_starting("textrescue-committed", &Interrupt::never())?;
    let (status, stderr) = session.wait();
    if committed.is_none() || !status.success() {
        return Err(
            live::psql_failure(session.what(), status, &stderr).context("COMMIT did not complete")
        );
    }
    Report::parse(&report)
}
