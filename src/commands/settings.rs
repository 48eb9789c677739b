//! The command line turned into settings: every check of how a command was
//! called is made here, before anything is read or written, and fails with
//! a [`UsageError`](crate::error::UsageError) (exit status 2). The layers
//! below take the settings as valid and fail with plain errors.

use anyhow::Result;

use crate::error::usage;
use crate::filter::{Filter, FilterArgs};

/// `--user`, `--task`, `--since`, ... parsed; a date that is none is a
/// usage error.
pub fn filter(args: &FilterArgs) -> Result<Filter> {
    Filter::from_args(args).map_err(|e| usage(format!("{e:#}")))
}
