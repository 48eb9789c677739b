//! Very long lines and fields, through the real PostgreSQL and pg_dump: one
//! text of about 40 MB, full of what COPY escapes (tabs, CR, LF, backslashes)
//! and multi-byte UTF-8, read back byte-exact from plain, gzip and custom
//! dumps (file and pipe), with textrescue's peak memory measured.
use crate::common;

use std::process::Command;

use common::{output_with_peak_rss, pg, sql_text};

const PIECE: &str = "Zeile\twith tab, back\\slash, \u{e9}\u{fc} \u{1f3ce}, CR\r and LF\n";
const REPEATS: usize = 800_000;
const ID: i64 = 7001;

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_40_mb_text_comes_back_byte_exact_from_every_kind_of_dump() {
    let pg = pg();
    let db = pg.create_db("textrescue_huge");
    db.load_schema_with_people();
    db.psql(&format!(
        "INSERT INTO public.tasktexts (id, created_at, user_id, task_id, text)
         VALUES ({ID}, '2024-03-01 14:22:11+00', 2, 3, repeat({}, {REPEATS}));",
        sql_text(PIECE)
    ));
    let want = PIECE.repeat(REPEATS);
    assert_eq!(
        db.cell_exact(&format!(
            "SELECT octet_length(text)::text FROM public.tasktexts WHERE id = {ID}"
        )),
        want.len().to_string()
    );

    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("night.sql");
    std::fs::write(&plain, db.pg_dump(&[])).unwrap();
    let gzip = dir.path().join("night.sql.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gzip).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut std::fs::File::open(&plain).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    let custom = dir.path().join("night.dump");
    db.pg_dump(&["-Fc", "-f", custom.to_str().unwrap()]);
    let custom_pipe = dir.path().join("night-pipe.dump");
    std::fs::write(&custom_pipe, db.pg_dump(&["-Fc"])).unwrap();

    for dump in [&plain, &gzip, &custom, &custom_pipe] {
        let out = output_with_peak_rss(
            Command::new(env!("CARGO_BIN_EXE_textrescue"))
                .args(["texts", "--id", &ID.to_string(), "--format", "json"])
                .arg(dump),
        );
        let name = dump.file_name().unwrap().to_string_lossy();
        assert_eq!(
            out.code,
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = got[0]["text"].as_str().unwrap();
        assert!(text == want, "{name}: the text came back changed");
        // Held at the peak: the COPY line (about 46 MB, in a buffer grown
        // by doubling) and the decoded text (39 MB); about 3 times the
        // text in all (115 MB measured). 3.5 times leaves room for noise
        // and still fails if one more copy of the text is kept.
        let limit_kib = (7 * want.len() / 2 / 1024) as i64;
        assert!(
            out.peak_rss_kib < limit_kib,
            "{name}: peak memory {} KiB for a {} KiB text",
            out.peak_rss_kib,
            want.len() / 1024
        );
        eprintln!(
            "{name}: {} KiB text, peak memory {} KiB",
            want.len() / 1024,
            out.peak_rss_kib
        );
    }
}
