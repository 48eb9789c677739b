//! The SQL scanner of the statements the readers look inside: INSERT
//! statements, CREATE TABLE column lists and COPY lines (`Scanner`), and
//! a plain script followed line by line (`classify`, `QuoteState`).
//! It reads names as PostgreSQL does (quoted exactly, unquoted folded to
//! lower case), keywords, punctuation and quoted strings (byte-exact, `E''`
//! escapes, `standard_conforming_strings = off`), and says where it stopped
//! when the statement is not what it expects.
//!
//! A bottom module: the plain reader (`format`) and the indexed writer and
//! reader (`indexed_gzip`) follow a dump's statements with the same code.

mod lines;
mod scanner;

use std::fmt;

pub(crate) use lines::{LineStart, QuoteState, StatementKind, classify};
pub use lines::{parse_copy_header, parse_table_name};
pub(crate) use scanner::Scanner;

/// A table as the dump names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl TableName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> TableName {
        TableName {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}
