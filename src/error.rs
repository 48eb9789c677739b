//! The error kinds every layer shares. Each layer says what went wrong with
//! `anyhow`; this module holds only what `main` must tell apart to choose
//! the exit status, so that no layer below `commands` imports from it.

use std::fmt;

/// A mistake in how the command was called: exit status 2, like clap's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A [`UsageError`] as an `anyhow::Error`, for `return Err(usage(...))`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}
