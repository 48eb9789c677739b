//! The data of INSERT-style dumps (`--inserts`, `--column-inserts`,
//! `--rows-per-insert`, `--on-conflict-do-nothing`, `DEFAULT VALUES`), one
//! statement at a time, in every shape pg_dump 9.x to 18 writes, read with
//! the byte-exact scanner of `crate::sql_scan`. Values come out as COPY's
//! text format gives them after decoding (numbers as written, booleans as
//! `t`/`f`, strings as their bytes in the dump's encoding, NULL as `None`);
//! docs/formats.md, "The SQL scanner, and INSERT statements", says why
//! no SQL parser.

use anyhow::Result;

use super::TableName;
use crate::sql_scan::Scanner;

/// One INSERT statement: its table, its column list if it has one, its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    pub table: TableName,
    pub columns: Option<Vec<String>>,
    pub rows: Vec<Vec<Option<Vec<u8>>>>,
}

type Values = Vec<Option<Vec<u8>>>;

const STATEMENT: &str = "INSERT statement";

/// The table an `INSERT INTO` statement writes to and its column list if
/// it has one, read from its start without parsing its values.
pub fn target(statement: &(impl AsRef<[u8]> + ?Sized)) -> Option<(TableName, Option<Vec<String>>)> {
    let mut s = Scanner::new(statement.as_ref(), true, STATEMENT);
    s.expect_keyword("INSERT").ok()?;
    s.expect_keyword("INTO").ok()?;
    let table = s.table_name().ok()?;
    let columns = s.name_list().ok()?;
    Some((table, columns))
}

/// Parses one whole INSERT statement (with its `;`).
pub fn parse(
    statement: &(impl AsRef<[u8]> + ?Sized),
    standard_conforming_strings: bool,
) -> Result<Insert> {
    let mut s = Scanner::new(statement.as_ref(), standard_conforming_strings, STATEMENT);
    let (table, columns, body) = head(&mut s)?;
    let mut rows = Vec::new();
    match body {
        Body::Values => each_row(&mut s, |row| rows.push(row), true)?,
        Body::DefaultValues => {
            rows.push(Vec::new());
            end(&mut s)?;
        }
    }
    Ok(Insert {
        table,
        columns,
        rows,
    })
}

/// How many rows an INSERT statement holds, without decoding them.
pub fn count_rows(
    statement: &(impl AsRef<[u8]> + ?Sized),
    standard_conforming_strings: bool,
) -> Result<u64> {
    let mut s = Scanner::new(statement.as_ref(), standard_conforming_strings, STATEMENT);
    let (_, _, body) = head(&mut s)?;
    let mut n = 0u64;
    match body {
        Body::Values => each_row(&mut s, |_| n += 1, false)?,
        Body::DefaultValues => {
            n = 1;
            end(&mut s)?;
        }
    }
    Ok(n)
}

/// What follows an INSERT's table and column list.
enum Body {
    /// `VALUES (...), ...`: the rows.
    Values,
    /// `DEFAULT VALUES`: one row, of a table with no columns.
    DefaultValues,
}

/// `INSERT INTO name [(columns)] [OVERRIDING SYSTEM VALUE] VALUES`, or
/// `INSERT INTO name DEFAULT VALUES`.
fn head(s: &mut Scanner<'_>) -> Result<(TableName, Option<Vec<String>>, Body)> {
    s.expect_keyword("INSERT")?;
    s.expect_keyword("INTO")?;
    let table = s.table_name()?;
    let columns = s.name_list()?;
    if columns.is_none() && s.keyword("DEFAULT") {
        s.expect_keyword("VALUES")?;
        return Ok((table, columns, Body::DefaultValues));
    }
    if s.keyword("OVERRIDING") {
        // OVERRIDING SYSTEM VALUE: identity columns GENERATED ALWAYS
        // (pg_dump 10 and later); USER VALUE is not one pg_dump writes
        // but reads the same.
        if !s.keyword("SYSTEM") {
            s.expect_keyword("USER")?;
        }
        s.expect_keyword("VALUE")?;
    }
    s.expect_keyword("VALUES")?;
    Ok((table, columns, Body::Values))
}

/// `[ON CONFLICT DO NOTHING] [;]` and nothing after it.
fn end(s: &mut Scanner<'_>) -> Result<()> {
    if s.keyword("ON") {
        // --on-conflict-do-nothing (pg_dump 12 and later).
        for word in ["CONFLICT", "DO", "NOTHING"] {
            s.expect_keyword(word)?;
        }
    }
    // The closing `;` is optional.
    s.punct(b';');
    if !s.at_end() {
        return s.fail("the end of the statement");
    }
    Ok(())
}

/// `(v, ...), (...) ;` — each row to `each`; values decoded if `decode`.
fn each_row(s: &mut Scanner<'_>, mut each: impl FnMut(Values), decode: bool) -> Result<()> {
    let mut row = Vec::new();
    loop {
        if !s.punct(b'(') {
            return s.fail("'(' starting a row");
        }
        row.clear();
        loop {
            let v = value(s, decode)?;
            if decode {
                row.push(v);
            }
            if s.punct(b',') {
                continue;
            }
            if s.punct(b')') {
                break;
            }
            return s.fail("',' or ')' in a row");
        }
        each(std::mem::take(&mut row));
        if s.punct(b',') {
            continue;
        }
        return end(s);
    }
}

fn value(s: &mut Scanner<'_>, decode: bool) -> Result<Option<Vec<u8>>> {
    s.skip_ws();
    let Some(b) = s.peek() else {
        return s.fail("a value");
    };
    let value = match b {
        b'\'' => Some(s.string(!s.standard_strings(), decode)?),
        b'E' | b'e' if s.peek_at(1) == Some(b'\'') => {
            s.bump();
            Some(s.string(true, decode)?)
        }
        b'B' | b'b' | b'X' | b'x' if s.peek_at(1) == Some(b'\'') => {
            s.bump();
            Some(s.string(false, decode)?)
        }
        b'-' | b'+' | b'.' | b'0'..=b'9' => {
            let start = s.position();
            s.bump();
            let mut last = b;
            while let Some(c) = s.peek() {
                let exponent_sign = matches!(c, b'-' | b'+') && matches!(last, b'e' | b'E');
                if !(c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exponent_sign) {
                    break;
                }
                last = c;
                s.bump();
            }
            let text = s.since(start);
            let text = text.strip_prefix(b"+").unwrap_or(text);
            if !text.iter().any(u8::is_ascii_digit) {
                s.rewind(start);
                return s.fail("a value");
            }
            Some(text.to_vec())
        }
        _ => {
            if s.keyword("NULL") || s.keyword("DEFAULT") {
                None
            } else if s.keyword("true") {
                Some(b"t".to_vec())
            } else if s.keyword("false") {
                Some(b"f".to_vec())
            } else {
                return s.fail("a value");
            }
        }
    };
    s.skip_cast()?;
    Ok(if decode { value } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<Vec<u8>> {
        Some(s.as_bytes().to_vec())
    }

    #[test]
    fn targets() {
        assert_eq!(
            target("INSERT INTO public.tasktexts VALUES (1, 'a');"),
            Some((TableName::new("public", "tasktexts"), None))
        );
        assert_eq!(
            target("INSERT INTO \"My S\".\"t\"\"x\" (id, \"Text\") VALUES (1, 'a');"),
            Some((
                TableName::new("My S", "t\"x"),
                Some(vec!["id".to_string(), "Text".to_string()])
            ))
        );
        assert_eq!(
            target("INSERT INTO tasktexts VALUES"),
            Some((TableName::new("public", "tasktexts"), None))
        );
        assert_eq!(target("UPDATE x SET a = 1;"), None);
    }

    #[test]
    fn values_as_copy_would_give_them() {
        let i = parse(
            "INSERT INTO public.tasktexts (id, a, b, c, d, e, f) VALUES (1, 'it''s', NULL, true, false, -2.5e-3, '2024-01-01 10:00:00+00'::timestamp with time zone), (2, '', 'x;y)', 'z', '{1,2}'::integer[], 1.0, 'NaN'::numeric(10,2));",
            true,
        )
        .unwrap();
        assert_eq!(i.table, TableName::new("public", "tasktexts"));
        assert_eq!(i.columns.as_ref().unwrap().len(), 7);
        assert_eq!(
            i.rows,
            vec![
                vec![
                    v("1"),
                    v("it's"),
                    None,
                    v("t"),
                    v("f"),
                    v("-2.5e-3"),
                    v("2024-01-01 10:00:00+00")
                ],
                vec![
                    v("2"),
                    v(""),
                    v("x;y)"),
                    v("z"),
                    v("{1,2}"),
                    v("1.0"),
                    v("NaN")
                ],
            ]
        );
        assert_eq!(
            count_rows("INSERT INTO t VALUES (1, 'a),('), (2, 'b');", true).unwrap(),
            2
        );
    }

    #[test]
    fn escapes() {
        let i = parse(
            "INSERT INTO t VALUES (E'a\\nb\\tc\\\\d\\'e''f\\101\\x41\\xff\\u00e9\\q', 'back\\slash', 'multi\nline');",
            true,
        )
        .unwrap();
        let mut expect = b"a\nb\tc\\d'e'fAA\xff".to_vec();
        expect.extend_from_slice("éq".as_bytes());
        assert_eq!(i.rows[0][0].as_deref(), Some(&expect[..]));
        assert_eq!(i.rows[0][1].as_deref(), Some(&b"back\\slash"[..]));
        assert_eq!(i.rows[0][2].as_deref(), Some(&b"multi\nline"[..]));
        // standard_conforming_strings off: backslashes escape in '...' too.
        let i = parse("INSERT INTO t VALUES ('a\\\\b\\'c');", false).unwrap();
        assert_eq!(i.rows[0][0].as_deref(), Some(&b"a\\b'c"[..]));
        assert_eq!(
            count_rows("INSERT INTO t VALUES ('a\\'), (b');", false).unwrap(),
            1
        );
        assert_eq!(
            count_rows("INSERT INTO t VALUES ('a\\'), ('b');", true).unwrap(),
            2
        );
    }

    #[test]
    fn every_shape_pg_dump_writes() {
        // A table whose columns were all dropped: one row per statement.
        let i = parse("INSERT INTO public.t DEFAULT VALUES;", true).unwrap();
        assert_eq!(i.table, TableName::new("public", "t"));
        assert_eq!(i.columns, None);
        assert_eq!(i.rows, vec![Vec::<Option<Vec<u8>>>::new()]);
        assert_eq!(
            count_rows("INSERT INTO public.t DEFAULT VALUES;", true).unwrap(),
            1
        );
        assert_eq!(
            target("INSERT INTO public.t DEFAULT VALUES;"),
            Some((TableName::new("public", "t"), None))
        );
        // --on-conflict-do-nothing, one row and several (--rows-per-insert).
        let one = "INSERT INTO public.t VALUES (1, 'a') ON CONFLICT DO NOTHING;";
        assert_eq!(parse(one, true).unwrap().rows, vec![vec![v("1"), v("a")]]);
        let several = "INSERT INTO public.t (id, x) VALUES\n\t(1, 'a'),\n\t(2, DEFAULT) ON CONFLICT DO NOTHING;";
        assert_eq!(count_rows(several, true).unwrap(), 2);
        assert_eq!(parse(several, true).unwrap().rows[1], vec![v("2"), None]);
        // Identity columns GENERATED ALWAYS.
        let i = parse(
            "INSERT INTO public.t (id, x) OVERRIDING SYSTEM VALUE VALUES (7, 'b');",
            true,
        )
        .unwrap();
        assert_eq!(i.rows, vec![vec![v("7"), v("b")]]);
        for bad in [
            "INSERT INTO t VALUES (1) ON CONFLICT DO UPDATE SET a = 1;",
            "INSERT INTO t DEFAULT VALUES (1);",
            "INSERT INTO t (a) DEFAULT VALUES;",
        ] {
            assert!(parse(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn damage_is_an_error() {
        for bad in [
            "INSERT INTO t VALUES (1, 'open",
            "INSERT INTO t VALUES (1, 2",
            "INSERT INTO t VALUES (1) garbage",
            "INSERT INTO t VALUES (now())",
            "INSERT INTO t VALUES (E'\\u12')",
            "INSERT INTO t VALUES",
            "INSERT INTO t VALUES (-)",
        ] {
            assert!(parse(bad, true).is_err(), "{bad}");
            assert!(
                count_rows(bad, true).is_err() || bad.contains("\\u"),
                "{bad}"
            );
        }
    }
}
