//! The plain reader's own tests: its comments, and what it reports of
//! statements it cannot read.

use super::*;

/// What a reader reports, in order, as text.
#[derive(Default)]
struct Log(Vec<String>);

impl Visitor for Log {
    fn meta(&mut self, meta: Meta) {
        self.0.push(match meta {
            Meta::Unread(u) => format!("unread {u}"),
            other => format!("{other:?}"),
        });
    }
    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest {
        self.0.push(format!("begin {table} {columns:?}"));
        Interest::Rows
    }
    fn row(&mut self, row: &Row) -> Result<()> {
        let fields: Vec<String> = (0..row.len())
            .map(|i| {
                format!(
                    "{:?}",
                    row.get(i)
                        .unwrap()
                        .map(|f| String::from_utf8_lossy(&f).into_owned())
                )
            })
            .collect();
        self.0.push(format!("row [{}]", fields.join(" ")));
        Ok(())
    }
    fn end_data(&mut self, rows: Option<u64>) {
        self.0.push(format!("end {rows:?}"));
    }
}

#[test]
fn a_statement_not_read_is_reported_and_reading_goes_on() {
    let script = "CREATE TABLE public.t (\n);\n\
        CREATE TABLE public.u (\n    a integer,\n    b text\n);\n\
        INSERT INTO public.u VALUES (1, 'one');\n\
        INSERT INTO public.t DEFAULT VALUES;\n\
        INSERT INTO public.t DEFAULT VALUES;\n\
        INSERT INTO public.u VALUES (2, 'two');\n\
        INSERT INTO public.u VALUES (3, now());\n\
        INSERT INTO public.u VALUES (4, 'four', 'extra');\n\
        INSERT INTO public.u VALUES (5, 'five') ON CONFLICT DO NOTHING;\n\
        INSERT INTO 'u' VALUES (6, 'six');\n\
        COPY public.\"u (a, b) FROM stdin;\n7\tseven\n\\.\n\
        COPY public.u  FROM stdin;\n8\teight\n\\.\n\
        -- PostgreSQL database dump complete\n";
    let mut log = Log::default();
    read(
        Box::new(std::io::Cursor::new(script.as_bytes().to_vec())),
        &mut log,
    )
    .unwrap();
    let log = log.0.join("\n");
    let want = r#"begin public.u ["a", "b"]
row [Some("1") Some("one")]
end Some(1)
begin public.t []
row []
row []
end Some(2)
begin public.u ["a", "b"]
row [Some("2") Some("two")]
unread line 11: a statement of the data of public.u was not read: expected a value at byte 32 of the INSERT statement, found "now());"
unread line 12: a statement of the data of public.u was not read: a row has 3 values for 2 columns
row [Some("5") Some("five")]
end Some(2)
unread line 14: a statement of table data was not read: cannot read the table an INSERT statement writes to
unread line 15: a statement of table data was not read: cannot read the COPY header "COPY public.\"u (a, b) FROM stdin;" (the COPY statement ends where the end of a quoted name was expected); its 1 rows are passed over
begin public.u ["a", "b"]
row [Some("8") Some("eight")]
end Some(1)
Complete"#;
    assert_eq!(log, want);
}

#[test]
fn data_comments() {
    assert_eq!(
        data_comment_table(
            "Data for Name: parted_texts_high; Type: TABLE DATA; Schema: public; Owner: postgres"
        ),
        Some(TableName::new("public", "parted_texts_high"))
    );
    assert_eq!(
        data_comment_table("Name: tasks; Type: TABLE; Schema: public; Owner: buggy"),
        None
    );
}

#[test]
fn connect_targets() {
    assert_eq!(connect_target("buggy_race").unwrap(), "buggy_race");
    assert_eq!(connect_target("\"odd name\"").unwrap(), "odd name");
    assert_eq!(
        connect_target("\"dbname='buggy_race'\"").unwrap(),
        "buggy_race"
    );
}
