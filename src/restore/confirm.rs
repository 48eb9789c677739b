//! Step 4: the y/N question on a terminal (default no). Without a terminal
//! the command asks for `--yes` before anything else happens (see
//! `commands::restore`).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::signals::Caught;

/// The y/N question on the terminal (default no). A signal ends the wait.
pub fn confirm(question: &str, interrupt: &Caught) -> Result<bool> {
    let mut err = std::io::stderr();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        let _ = tx.send(read.map(|_| line));
    });
    loop {
        interrupt.check()?;
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                let line = line.context("cannot read the answer")?;
                return Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
        }
    }
}

/// Whether the question can be asked (standard input is a terminal).
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal()
}
