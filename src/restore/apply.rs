//! Step 5: the restore script, held to the plan, in one transaction
//! through psql. The script ends with the program's report and a marker
//! line; COMMIT is sent only once both came back and no signal was caught.
//! Until then, any failure or signal ends psql without a COMMIT, and the
//! server rolls the transaction back. Once COMMIT is sent, the outcome is
//! the server's: without its answer it is not known here
//! ([`Applied::Unanswered`]; [`super::unanswered`] finds it out).

use anyhow::Result;

use super::plan::{self, Report};
use super::script::REPORT_MARKER;
use super::select::Selection;
use super::{Settings, live, warn};
use crate::signals::Caught;

/// How step 5 ended, once COMMIT was sent.
pub enum Applied {
    /// The COMMIT's answer came: the report is what was committed.
    Committed(Report),
    /// COMMIT was sent but its answer never came (psql or its connection
    /// ended first): the transaction may have committed or not. The report
    /// is what it would have committed.
    Unanswered { report: Report, why: anyhow::Error },
}

/// Step 5: the script, held to the plan, in one transaction; COMMIT only
/// once the program has run to its end and no signal came. An error means
/// COMMIT was never sent: nothing was committed.
pub fn apply(
    settings: &Settings,
    selection: &Selection,
    planned: &Report,
    usernames: &[String],
    interrupt: &Caught,
) -> Result<Applied> {
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
    let report = Report::parse(&report)?;
    interrupt.check()?;
    // One write of a few bytes to a pipe: it reaches psql whole or, when
    // psql has already ended (its transaction then rolled back), not at all.
    session.send(b"COMMIT;\nSELECT 'textrescue-committed';\n")?;
    // From here on the run finishes: a signal no longer stops it.
    let committed = session.line_starting("textrescue-committed", &Caught::never())?;
    let (status, stderr) = session.wait();
    if committed.is_none() {
        let why = live::psql_failure(session.what(), status, &stderr);
        return Ok(Applied::Unanswered { report, why });
    }
    if !status.success() {
        // The answer to COMMIT came (the line after it ran): committed.
        warn(&format!(
            "the COMMIT's answer came, then {}",
            live::psql_failure(session.what(), status, &stderr)
        ));
    }
    Ok(Applied::Committed(report))
}
