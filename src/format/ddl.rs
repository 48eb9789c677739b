//! Column lists from `CREATE TABLE` statements, for data that does not name
//! its columns (`--inserts` without `--column-inserts`). Only the names are
//! read, with the scanner of `sql`: each element of the list up to its
//! comma is either a column (its first word is its name) or a table
//! constraint. A statement the scanner cannot follow is simply not used.
//!
//! Also which table is a partition of which (`partition_of`,
//! `attach_partition`), so that a partitioned table's rows, dumped under
//! each partition's name, are known as the partitioned table's.

use anyhow::Result;

use super::TableName;
use crate::sql_scan::Scanner;

/// The table a CREATE TABLE statement creates and the columns it lists
/// (for a table that inherits, its own only: see [`create_table`]).
pub fn create_table_columns(statement: &str) -> Option<(TableName, Vec<String>)> {
    let mut s = Scanner::new(statement.as_bytes(), true, "CREATE TABLE statement");
    table_and_columns(&mut s).ok()
}

/// What a CREATE TABLE statement says of a table's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub table: TableName,
    /// The columns it lists.
    pub columns: Vec<String>,
    /// `INHERITS (parent, ...)`: pg_dump lists only the child's own
    /// columns, and its rows hold the parents' columns first.
    pub inherits: Vec<TableName>,
}

impl Definition {
    /// The table's columns in data order, given its parents' (in the
    /// order of `inherits`): the parents' first, merged by name as
    /// PostgreSQL merges them, then the child's own others.
    pub fn columns_after(&self, parents: &[&[String]]) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for column in parents.iter().copied().flatten().chain(&self.columns) {
            if !all.contains(column) {
                all.push(column.clone());
            }
        }
        all
    }
}

/// A CREATE TABLE statement's table, columns and parents.
pub fn create_table(statement: &str) -> Option<Definition> {
    let mut s = Scanner::new(statement.as_bytes(), true, "CREATE TABLE statement");
    let (table, columns) = table_and_columns(&mut s).ok()?;
    let mut inherits = Vec::new();
    if s.keyword("INHERITS") && s.punct(b'(') {
        loop {
            inherits.push(s.table_name().ok()?);
            if !s.punct(b',') {
                break;
            }
        }
    }
    Some(Definition {
        table,
        columns,
        inherits,
    })
}

/// The words that start a table constraint rather than a column: reserved
/// words, so pg_dump quotes a column of that name. (EXCLUDE is not one: see
/// [`starts_constraint`].)
const CONSTRAINTS: [&str; 6] = [
    "CONSTRAINT",
    "CHECK",
    "UNIQUE",
    "PRIMARY",
    "FOREIGN",
    "LIKE",
];

/// `CREATE TABLE partition PARTITION OF parent ...` (pg_dump 10 and 11
/// write partitions so): the partition and its parent.
pub fn partition_of(statement: &str) -> Option<(TableName, TableName)> {
    let mut s = Scanner::new(statement.as_bytes(), true, "CREATE TABLE statement");
    let partition = create_table_head(&mut s).ok()?;
    (s.keyword("PARTITION") && s.keyword("OF")).then_some(())?;
    let parent = s.table_name().ok()?;
    Some((partition, parent))
}

/// `ALTER TABLE [ONLY] parent ATTACH PARTITION partition ...` (pg_dump 12
/// and later, after the partition's own CREATE TABLE): the partition and
/// its parent.
pub fn attach_partition(statement: &str) -> Option<(TableName, TableName)> {
    let mut s = Scanner::new(statement.as_bytes(), true, "ALTER TABLE statement");
    s.expect_keyword("ALTER").ok()?;
    s.expect_keyword("TABLE").ok()?;
    if s.keyword("IF") {
        s.expect_keyword("EXISTS").ok()?;
    }
    s.keyword("ONLY");
    let parent = s.table_name().ok()?;
    (s.keyword("ATTACH") && s.keyword("PARTITION")).then_some(())?;
    let partition = s.table_name().ok()?;
    Some((partition, parent))
}

/// `CREATE [UNLOGGED ...] TABLE [IF NOT EXISTS] name`
fn create_table_head(s: &mut Scanner<'_>) -> Result<TableName> {
    s.expect_keyword("CREATE")?;
    while ["UNLOGGED", "TEMPORARY", "TEMP", "GLOBAL", "LOCAL"]
        .iter()
        .any(|word| s.keyword(word))
    {}
    s.expect_keyword("TABLE")?;
    if s.keyword("IF") {
        s.expect_keyword("NOT")?;
        s.expect_keyword("EXISTS")?;
    }
    s.table_name()
}

fn table_and_columns(s: &mut Scanner<'_>) -> Result<(TableName, Vec<String>)> {
    let table = create_table_head(s)?;
    if !s.punct(b'(') {
        // `OF type`, `PARTITION OF parent`: no column list to read.
        return s.fail("'(' starting the column list");
    }
    let mut columns = Vec::new();
    if s.punct(b')') {
        return Ok((table, columns));
    }
    loop {
        if !starts_constraint(s) {
            columns.push(s.identifier()?);
        }
        skip_to_element_end(s)?;
        if s.punct(b')') {
            return Ok((table, columns));
        }
        if !s.punct(b',') {
            return s.fail("',' or ')' in the column list");
        }
    }
}

/// Whether the element that starts here is a table constraint (consumes
/// its first word if so).
fn starts_constraint(s: &mut Scanner<'_>) -> bool {
    if CONSTRAINTS.iter().any(|word| s.keyword(word)) {
        return true;
    }
    // `EXCLUDE USING gist (...)`, `EXCLUDE (...)`; a column may be named
    // exclude, unquoted.
    let at = s.position();
    if s.keyword("EXCLUDE") {
        if s.keyword("USING") || s.punct(b'(') {
            return true;
        }
        s.rewind(at);
    }
    false
}

/// Moves to the `,` or `)` that ends the current element of the column
/// list, past nested parentheses, strings and quoted names.
fn skip_to_element_end(s: &mut Scanner<'_>) -> Result<()> {
    let mut depth = 0u32;
    loop {
        s.skip_ws();
        match s.peek() {
            None => return s.fail("the end of the column list"),
            Some(b',' | b')') if depth == 0 => return Ok(()),
            Some(b'(' | b'[') => {
                depth += 1;
                s.bump();
            }
            Some(b')' | b']') => {
                depth = depth.saturating_sub(1);
                s.bump();
            }
            Some(b'"') => {
                s.identifier()?;
            }
            Some(b'\'') => {
                s.string(!s.standard_strings(), false)?;
            }
            Some(b'E' | b'e') if s.peek_at(1) == Some(b'\'') => {
                s.bump();
                s.string(true, false)?;
            }
            Some(_) => s.bump(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_pg_dump_create_table() {
        let sql = "CREATE TABLE public.users (\n    username character varying(80) NOT NULL,\n    \"Odd\" text,\n    id integer NOT NULL\n);";
        let (t, c) = create_table_columns(sql).unwrap();
        assert_eq!(t, TableName::new("public", "users"));
        assert_eq!(c, vec!["username", "Odd", "id"]);
    }

    #[test]
    fn passes_over_defaults_types_and_constraints() {
        let sql = "CREATE UNLOGGED TABLE IF NOT EXISTS \"My S\".t (\n    a numeric(10,2) DEFAULT 1.5,\n    \
                   b text DEFAULT 'x, y)'::text COLLATE pg_catalog.\"C\",\n    c text DEFAULT E'\\'),',\n    \
                   exclude integer[],\n    CONSTRAINT t_check CHECK ((a > (0)::numeric)),\n    \
                   EXCLUDE USING gist (a WITH =),\n    d timestamp with time zone\n);";
        let (t, c) = create_table_columns(sql).unwrap();
        assert_eq!(t, TableName::new("My S", "t"));
        assert_eq!(c, vec!["a", "b", "c", "exclude", "d"]);
        assert_eq!(
            create_table_columns("CREATE TABLE public.e ();"),
            Some((TableName::new("public", "e"), Vec::new()))
        );
        assert_eq!(create_table_columns("CREATE TABLE p.t OF some_type;"), None);
        assert_eq!(create_table_columns("CREATE TABLE t (a int"), None);
    }

    #[test]
    fn inherited_columns_come_first() {
        let d = create_table("CREATE TABLE public.child (\n    extra integer,\n    v text\n)\nINHERITS (public.parent, other);").unwrap();
        assert_eq!(
            d.inherits,
            vec![
                TableName::new("public", "parent"),
                TableName::new("public", "other")
            ]
        );
        let parent = vec!["id".to_string(), "v".to_string()];
        let other = vec!["o".to_string()];
        assert_eq!(
            d.columns_after(&[&parent, &other]),
            vec!["id", "v", "o", "extra"]
        );
        assert!(
            create_table("CREATE TABLE t (a int);")
                .unwrap()
                .inherits
                .is_empty()
        );
    }

    #[test]
    fn partitions_and_their_parents() {
        let both = Some((
            TableName::new("public", "t_2024"),
            TableName::new("public", "t"),
        ));
        assert_eq!(
            attach_partition(
                "ALTER TABLE ONLY public.t ATTACH PARTITION public.t_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
            ),
            both
        );
        assert_eq!(
            partition_of(
                "CREATE TABLE public.t_2024 PARTITION OF public.t\nFOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
            ),
            both
        );
        assert_eq!(
            attach_partition("ALTER TABLE ONLY public.t ADD CONSTRAINT c PRIMARY KEY (id);"),
            None
        );
        assert_eq!(partition_of("CREATE TABLE public.t (a int);"), None);
    }
}
