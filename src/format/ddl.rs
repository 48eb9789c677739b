//! Column lists from `CREATE TABLE` statements, for data that does not name
//! its columns (`--inserts` without `--column-inserts`). Each statement is
//! parsed alone with sqlparser; one it cannot parse is simply not used.

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::TableName;

/// The table a CREATE TABLE statement creates and its columns in order.
pub fn create_table_columns(statement: &str) -> Option<(TableName, Vec<String>)> {
    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, statement).ok()?;
    let Some(Statement::CreateTable(create)) = parsed.into_iter().next() else {
        return None;
    };
    let parts: Vec<String> = create
        .name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
        .collect();
    let table = match parts.as_slice() {
        [name] => TableName::new("public", name.clone()),
        [.., schema, name] => TableName::new(schema.clone(), name.clone()),
        [] => return None,
    };
    let columns = create
        .columns
        .iter()
        .map(|c| c.name.value.clone())
        .collect();
    Some((table, columns))
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
}
