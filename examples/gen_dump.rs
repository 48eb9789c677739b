//! Deterministic generator of a realistic plain-format `pg_dump` (PostgreSQL
//! 15.14 style) of a Buggy Race server database, for benchmarks and tests.
//! No database is needed; the same arguments always give the same bytes.
//!
//!     cargo run --release --example gen_dump -- --size 1G --gzip -o dump.sql.gz
//!     cargo run --release --example gen_dump -- --size 20M -o - | less
//!     cargo run --release --example gen_dump -- --busy-server --indexed -o busy.sql.gz
//!
//! Schema and column order follow the race server's migrations (see
//! docs/race-server.md); tables are written in name order, as pg_dump does, with
//! COPY text escaping byte-for-byte as PostgreSQL writes it. Data mix for a
//! target size S: tasktexts ~1%, buggies ~15%, racetracks (bytea images) ~20%,
//! results ~10%, users/tasks/settings/... as they come, db_files (race JSON
//! files, tens of KB each) the rest. The user `alice` always exists and has
//! a few texts with every awkward character; stderr names another student
//! with texts (`user-with-texts: NAME`) and prints row counts per table.
//!
//! `--texts-size` and `--race-files`/`--race-file-size` shape the big tables
//! instead (what is left of the size goes to buggies, racetracks and results
//! in the usual proportions); `--busy-server` is the shape of a busy server:
//! 1.1 GiB, a 400 MiB texts table, 40 race files of 10 MiB. `--indexed`
//! writes textrescue's indexed `.sql.gz` (as `backup` does) instead of a
//! single gzip member.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use anyhow::{Context, Result, bail};
use clap::Parser;
use flate2::Compression;
use flate2::write::GzEncoder;
use textrescue::indexed_gzip::IndexedGzWriter;

#[derive(Parser)]
#[command(about = "Generate a deterministic, realistic pg_dump of a Buggy Race server database")]
struct Args {
    /// Approximate size of the uncompressed dump: bytes, or with a K/M/G suffix (binary units)
    /// [default: 100M; 1.1G with --busy-server].
    #[arg(long, value_parser = parse_size)]
    size: Option<u64>,
    /// Size of the texts table (default: 1% of --size; 400M with --busy-server). Students are
    /// added as needed for that many texts (one per student and task).
    #[arg(long, value_parser = parse_size)]
    texts_size: Option<u64>,
    /// Exactly this many race files in db_files, each of --race-file-size (default: files of
    /// 10-90 KB filling what is left of --size; 40 with --busy-server).
    #[arg(long)]
    race_files: Option<u64>,
    /// Size of each race file with --race-files.
    #[arg(long, value_parser = parse_size, default_value = "10M")]
    race_file_size: u64,
    /// The shape of a busy server: --size 1.1G --texts-size 400M --race-files 40 (options
    /// given as well win).
    #[arg(long)]
    busy_server: bool,
    /// Write textrescue's indexed .sql.gz (multi-member gzip with an index of its members, as
    /// `textrescue backup` writes), at the --gzip level (default 6).
    #[arg(long)]
    indexed: bool,
    /// Number of students (default: from the size, about one per 512 KiB, 40..5000).
    #[arg(long)]
    students: Option<usize>,
    /// Gzip the output at this level (0-9); `--gzip` alone means level 6.
    #[arg(long, num_args = 0..=1, default_missing_value = "6", value_parser = clap::value_parser!(u32).range(0..=9))]
    gzip: Option<u32>,
    /// Output file, `-` for standard output.
    #[arg(short = 'o', long)]
    output: String,
    /// Seed of the pseudo-random generator.
    #[arg(long, default_value_t = 20250320)]
    seed: u64,
    /// Role that owns the objects (`buggy` on the race server's Docker setup).
    #[arg(long, default_value = "buggy")]
    owner: String,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad size {s:?} (try 20M, 1G)"))?;
    if v.is_nan() || v <= 0.0 {
        return Err(format!("bad size {s:?}"));
    }
    Ok((v * mult as f64) as u64)
}

// ---------------------------------------------------------------- PRNG ----

/// xoshiro256** seeded with splitmix64.
#[derive(Clone)]
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }
    /// An independent stream per table, so tables can be generated in any order.
    fn stream(seed: u64, name: &str) -> Rng {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        Rng::new(seed ^ h)
    }
    fn u64(&mut self) -> u64 {
        let s = &mut self.0;
        let r = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.u64() >> 32) * n) >> 32
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    /// Log-uniform integer in lo..=hi.
    fn log_range(&mut self, lo: u64, hi: u64) -> u64 {
        ((lo as f64).ln() + self.f64() * ((hi as f64).ln() - (lo as f64).ln())).exp() as u64
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n).map(|_| self.pick(A) as char).collect()
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.u64().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

// ------------------------------------------------------ COPY text format ---

/// Append `s` escaped exactly as PostgreSQL's COPY TO (text format, tab
/// delimiter) writes it: backslash and \b \f \n \r \t \v become two-character
/// escapes, every other byte (other control characters, UTF-8) is written raw.
fn esc(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        let r = match c {
            b'\\' => b'\\',
            b'\t' => b't',
            b'\n' => b'n',
            b'\r' => b'r',
            0x08 => b'b',
            0x0c => b'f',
            0x0b => b'v',
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.push(b'\\');
        out.push(r);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Start of the race server's academic year: 2024-09-23 00:00:00 UTC.
const TERM: i64 = 1_727_049_600;
const DAY: i64 = 86_400;

fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// A timestamp as PostgreSQL prints it (ISO DateStyle): fraction with
/// trailing zeros removed, `+00` for timestamptz in a UTC session.
fn push_ts(out: &mut Vec<u8>, secs: i64, micros: u32, tz: bool) {
    let (y, m, d) = civil(secs.div_euclid(DAY));
    let s = secs.rem_euclid(DAY);
    write!(
        out,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
    .unwrap();
    if micros != 0 {
        let f = format!("{micros:06}");
        out.push(b'.');
        out.extend_from_slice(f.trim_end_matches('0').as_bytes());
    }
    if tz {
        out.extend_from_slice(b"+00");
    }
}

fn ts_string(secs: i64, micros: u32) -> String {
    let mut v = Vec::new();
    push_ts(&mut v, secs, micros, false);
    String::from_utf8(v).unwrap()
}

/// Builds one COPY line.
struct Row<'a> {
    b: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Row<'a> {
    fn new(b: &'a mut Vec<u8>) -> Self {
        Row { b, first: true }
    }
    fn sep(&mut self) -> &mut Vec<u8> {
        if !self.first {
            self.b.push(b'\t');
        }
        self.first = false;
        self.b
    }
    fn int(&mut self, v: i64) -> &mut Self {
        write!(self.sep(), "{v}").unwrap();
        self
    }
    fn null(&mut self) -> &mut Self {
        self.sep().extend_from_slice(b"\\N");
        self
    }
    fn text(&mut self, s: &str) -> &mut Self {
        esc(self.sep(), s.as_bytes());
        self
    }
    fn otext<S: AsRef<str>>(&mut self, s: Option<S>) -> &mut Self {
        match s {
            Some(s) => self.text(s.as_ref()),
            None => self.null(),
        }
    }
    fn oint(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }
    fn boolean(&mut self, v: bool) -> &mut Self {
        self.sep().push(if v { b't' } else { b'f' });
        self
    }
    fn obool(&mut self, v: Option<bool>) -> &mut Self {
        match v {
            Some(v) => self.boolean(v),
            None => self.null(),
        }
    }
    fn ts(&mut self, secs: i64, micros: u32) -> &mut Self {
        push_ts(self.sep(), secs, micros, false);
        self
    }
    fn ots(&mut self, t: Option<(i64, u32)>) -> &mut Self {
        match t {
            Some((s, u)) => self.ts(s, u),
            None => self.null(),
        }
    }
    fn tstz(&mut self, secs: i64, micros: u32) -> &mut Self {
        push_ts(self.sep(), secs, micros, true);
        self
    }
    /// bytea in hex output format; COPY doubles its backslash.
    fn bytea(&mut self, v: &[u8]) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let b = self.sep();
        b.reserve(3 + 2 * v.len());
        b.extend_from_slice(b"\\\\x");
        for &x in v {
            b.push(HEX[(x >> 4) as usize]);
            b.push(HEX[(x & 15) as usize]);
        }
        self
    }
    fn end(&mut self) {
        self.b.push(b'\n');
    }
}

// -------------------------------------------------------------- output ----

enum Sink {
    Plain(BufWriter<Box<dyn Write>>),
    Gz(Box<GzEncoder<BufWriter<Box<dyn Write>>>>),
    Indexed(Box<IndexedGzWriter<BufWriter<Box<dyn Write>>>>),
}

struct Out {
    sink: Sink,
    written: u64,
}

impl Out {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.written += b.len() as u64;
        match &mut self.sink {
            Sink::Plain(w) => w.write_all(b),
            Sink::Gz(w) => w.write_all(b),
            Sink::Indexed(w) => w.write_all(b),
        }
    }
    fn finish(self) -> io::Result<()> {
        match self.sink {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gz(w) => w.finish()?.flush(),
            Sink::Indexed(w) => w.finish()?.flush(),
        }
    }
}

// -------------------------------------------------------------- schema ----

struct Table {
    name: &'static str,
    /// (column name as pg_dump prints it, type and NOT NULL)
    cols: &'static [(&'static str, &'static str)],
    seq: bool,
}

const TS: &str = "timestamp without time zone";
const TS_NN: &str = "timestamp without time zone NOT NULL";

static TABLES: &[Table] = &[
    Table {
        name: "alembic_version",
        seq: false,
        cols: &[("version_num", "character varying(32) NOT NULL")],
    },
    Table {
        name: "announcements",
        seq: true,
        cols: &[
            ("id", "integer NOT NULL"),
            ("created_at", TS_NN),
            ("text", "text NOT NULL"),
            ("type", "character varying(32)"),
            ("is_visible", "boolean"),
            ("is_html", "boolean"),
        ],
    },
    Table {
        name: "buggies",
        seq: true,
        cols: &[
            ("id", "integer NOT NULL"),
            ("created_at", TS_NN),
            ("buggy_id", "integer"),
            ("qty_wheels", "integer"),
            ("flag_color", "character varying(32)"),
            ("flag_color_secondary", "character varying(32)"),
            ("flag_pattern", "character varying(8)"),
            ("power_type", "character varying(16)"),
            ("power_units", "integer"),
            ("aux_power_type", "character varying(16)"),
            ("aux_power_units", "integer"),
            ("tyres", "character varying(16)"),
            ("qty_tyres", "integer"),
            ("armour", "character varying(16)"),
            ("attack", "character varying(16)"),
            ("qty_attacks", "integer"),
            ("hamster_booster", "integer"),
            ("fireproof", "boolean"),
            ("insulated", "boolean"),
            ("antibiotic", "boolean"),
            ("banging", "boolean"),
            ("algo", "character varying(16)"),
            ("user_id", "integer NOT NULL"),
            ("total_cost", "integer"),
            ("mass", "integer"),
        ],
    },
    Table {
        name: "db_files",
        seq: true,
        cols: &[
            ("id", "integer NOT NULL"),
            ("type", "character varying(8) NOT NULL"),
            ("name", "character varying(64)"),
            ("item_id", "integer"),
            ("contents", "text NOT NULL"),
        ],
    },
    Table {
        name: "races",
        seq: true,
        cols: &[
            ("id", "integer NOT NULL"),
            ("title", "character varying(80) NOT NULL"),
            ("\"desc\"", "text NOT NULL"),
            ("created_at", TS_NN),
            ("start_at", TS_NN),
            ("cost_limit", "integer"),
            ("is_visible", "boolean"),
            ("race_file_url", "character varying(255)"),
            ("league", "character varying(32)"),
            ("results_uploaded_at", TS),
            ("buggies_entered", "integer NOT NULL"),
            ("buggies_started", "integer NOT NULL"),
            ("buggies_finished", "integer NOT NULL"),
            ("is_result_visible", "boolean NOT NULL"),
            ("track_image_url", "character varying(255)"),
            ("track_svg_url", "character varying(255)"),
            ("max_laps", "integer"),
            ("lap_length", "integer"),
            ("is_dnf_position", "boolean NOT NULL"),
            ("is_abandoned", "boolean NOT NULL"),
        ],
    },
    Table {
        name: "racetracks",
        seq: true,
        cols: &[
            ("id", "integer NOT NULL"),
            ("title", "character varying(80) NOT NULL"),
            ("\"desc\"", "text NOT NULL"),
            ("track_image_url", "character varying(255)"),
            ("track_svg_url", "character varying(255)"),
            ("lap_length", "integer"),
            ("track_image", "bytea"),
        ],
    },
    Table {
        name: "results",
        seq: true,
        cols: &[
            ("id", "integer NOT NULL"),
            ("race_id", "integer NOT NULL"),
            ("user_id", "integer NOT NULL"),
            ("flag_color", "character varying(32) NOT NULL"),
            ("flag_color_secondary", "character varying(32) NOT NULL"),
            ("flag_pattern", "character varying(32) NOT NULL"),
            ("cost", "integer"),
            ("race_position", "integer NOT NULL"),
            ("violations_str", "character varying(255)"),
        ],
    },
    Table {
        name: "roles",
        seq: true,
        cols: &[
            ("name", "character varying(80) NOT NULL"),
            ("user_id", "integer"),
            ("id", "integer NOT NULL"),
        ],
    },
    Table {
        name: "settings",
        seq: false,
        cols: &[
            ("id", "character varying(64) NOT NULL"),
            ("value", "character varying(255) NOT NULL"),
        ],
    },
    Table {
        name: "tasks",
        seq: true,
        cols: &[
            ("id", "integer NOT NULL"),
            ("created_at", TS_NN),
            ("modified_at", TS),
            ("phase", "integer NOT NULL"),
            ("name", "character varying(16) NOT NULL"),
            ("title", "character varying(80) NOT NULL"),
            ("problem_text", "text NOT NULL"),
            ("solution_text", "text NOT NULL"),
            ("hints_text", "text NOT NULL"),
            ("is_enabled", "boolean NOT NULL"),
            ("sort_position", "integer NOT NULL"),
        ],
    },
    Table {
        name: "tasktexts",
        seq: true,
        cols: &[
            ("id", "integer NOT NULL"),
            ("created_at", "timestamp with time zone NOT NULL"),
            ("modified_at", "timestamp with time zone"),
            ("user_id", "integer NOT NULL"),
            ("task_id", "integer NOT NULL"),
            ("text", "text NOT NULL"),
        ],
    },
    Table {
        name: "users",
        seq: true,
        cols: &[
            ("username", "character varying(80) NOT NULL"),
            ("ext_username", "character varying(80)"),
            ("ext_id", "character varying(80)"),
            ("email", "character varying(80)"),
            ("password", "bytea"),
            ("created_at", TS_NN),
            ("first_name", "character varying(30)"),
            ("last_name", "character varying(30)"),
            ("is_active", "boolean"),
            ("is_admin", "boolean"),
            ("access_level", "integer NOT NULL"),
            ("latest_json", "text"),
            ("github_username", "text"),
            ("github_access_token", "text"),
            ("is_student", "boolean"),
            ("logged_in_at", TS),
            ("uploaded_at", TS),
            ("api_secret", "character varying(30)"),
            ("api_secret_at", TS),
            ("api_secret_count", "integer NOT NULL"),
            ("is_api_secret_otp", "boolean NOT NULL"),
            ("api_key", "character varying(30)"),
            ("comment", "text"),
            ("is_demo_user", "boolean"),
            ("id", "integer NOT NULL"),
            ("first_logged_in_at", TS),
            ("is_login_enabled", "boolean NOT NULL"),
            ("project_notice", "text"),
            ("submission_deadline", TS),
            ("submission_link", "character varying(255)"),
        ],
    },
];

/// (table, constraint, definition), in pg_dump's order.
static CONSTRAINTS: &[(&str, &str, &str)] = &[
    (
        "alembic_version",
        "alembic_version_pkc",
        "PRIMARY KEY (version_num)",
    ),
    ("announcements", "announcements_pkey", "PRIMARY KEY (id)"),
    ("buggies", "buggies_pkey", "PRIMARY KEY (id)"),
    ("db_files", "db_files_pkey", "PRIMARY KEY (id)"),
    ("races", "races_pkey", "PRIMARY KEY (id)"),
    ("races", "races_race_file_url_key", "UNIQUE (race_file_url)"),
    ("racetracks", "racetracks_pkey", "PRIMARY KEY (id)"),
    ("results", "results_pkey", "PRIMARY KEY (id)"),
    ("roles", "roles_name_key", "UNIQUE (name)"),
    ("roles", "roles_pkey", "PRIMARY KEY (id)"),
    ("settings", "settings_pkey", "PRIMARY KEY (id)"),
    ("tasks", "tasks_pkey", "PRIMARY KEY (id)"),
    ("tasktexts", "tasktexts_pkey", "PRIMARY KEY (id)"),
    ("users", "users_email_key", "UNIQUE (email)"),
    ("users", "users_ext_id_key", "UNIQUE (ext_id)"),
    ("users", "users_ext_username_key", "UNIQUE (ext_username)"),
    ("users", "users_pkey", "PRIMARY KEY (id)"),
    ("users", "users_username_key", "UNIQUE (username)"),
];

static FKS: &[(&str, &str, &str)] = &[
    (
        "buggies",
        "buggies_user_id_fkey",
        "FOREIGN KEY (user_id) REFERENCES public.users(id)",
    ),
    (
        "db_files",
        "db_files_item_id_fkey",
        "FOREIGN KEY (item_id) REFERENCES public.races(id)",
    ),
    (
        "results",
        "results_race_id_fkey",
        "FOREIGN KEY (race_id) REFERENCES public.races(id)",
    ),
    (
        "results",
        "results_user_id_fkey",
        "FOREIGN KEY (user_id) REFERENCES public.users(id)",
    ),
    (
        "roles",
        "roles_user_id_fkey",
        "FOREIGN KEY (user_id) REFERENCES public.users(id)",
    ),
    (
        "tasktexts",
        "tasktexts_task_id_fkey",
        "FOREIGN KEY (task_id) REFERENCES public.tasks(id)",
    ),
    (
        "tasktexts",
        "tasktexts_user_id_fkey",
        "FOREIGN KEY (user_id) REFERENCES public.users(id)",
    ),
];

const SERVER_VERSION: &str = "15.14 (Debian 15.14-1.pgdg120+1)";

fn header(key: &str) -> String {
    format!(
        "--\n-- PostgreSQL database dump\n--\n\n\\restrict {key}\n\n\
         -- Dumped from database version {SERVER_VERSION}\n\
         -- Dumped by pg_dump version {SERVER_VERSION}\n\n\
         SET statement_timeout = 0;\nSET lock_timeout = 0;\n\
         SET idle_in_transaction_session_timeout = 0;\nSET client_encoding = 'UTF8';\n\
         SET standard_conforming_strings = on;\n\
         SELECT pg_catalog.set_config('search_path', '', false);\n\
         SET check_function_bodies = false;\nSET xmloption = content;\n\
         SET client_min_messages = warning;\nSET row_security = off;\n\n\
         SET default_tablespace = '';\n\nSET default_table_access_method = heap;\n\n"
    )
}

fn ddl(owner: &str) -> String {
    let mut s = String::new();
    for t in TABLES {
        let n = t.name;
        s += &format!(
            "--\n-- Name: {n}; Type: TABLE; Schema: public; Owner: {owner}\n--\n\nCREATE TABLE public.{n} (\n"
        );
        let cols: Vec<String> = t
            .cols
            .iter()
            .map(|(c, ty)| format!("    {c} {ty}"))
            .collect();
        s += &cols.join(",\n");
        s += &format!("\n);\n\n\nALTER TABLE public.{n} OWNER TO {owner};\n\n");
        if t.seq {
            s += &format!(
                "--\n-- Name: {n}_id_seq; Type: SEQUENCE; Schema: public; Owner: {owner}\n--\n\n\
                 CREATE SEQUENCE public.{n}_id_seq\n    AS integer\n    START WITH 1\n    INCREMENT BY 1\n\
                 \x20   NO MINVALUE\n    NO MAXVALUE\n    CACHE 1;\n\n\n\
                 ALTER TABLE public.{n}_id_seq OWNER TO {owner};\n\n\
                 --\n-- Name: {n}_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: {owner}\n--\n\n\
                 ALTER SEQUENCE public.{n}_id_seq OWNED BY public.{n}.id;\n\n\n"
            );
        }
    }
    for t in TABLES.iter().filter(|t| t.seq) {
        let n = t.name;
        s += &format!(
            "--\n-- Name: {n} id; Type: DEFAULT; Schema: public; Owner: {owner}\n--\n\n\
             ALTER TABLE ONLY public.{n} ALTER COLUMN id SET DEFAULT nextval('public.{n}_id_seq'::regclass);\n\n\n"
        );
    }
    s
}

fn copy_start(t: &Table, owner: &str) -> String {
    let cols: Vec<&str> = t.cols.iter().map(|c| c.0).collect();
    format!(
        "--\n-- Data for Name: {n}; Type: TABLE DATA; Schema: public; Owner: {owner}\n--\n\n\
         COPY public.{n} ({}) FROM stdin;\n",
        cols.join(", "),
        n = t.name
    )
}

const COPY_END: &str = "\\.\n\n\n";

fn trailer(owner: &str, key: &str, last_ids: &[(&str, i64)]) -> String {
    let mut s = String::new();
    for (n, last) in last_ids {
        let (v, called) = if *last > 0 {
            (*last, "true")
        } else {
            (1, "false")
        };
        s += &format!(
            "--\n-- Name: {n}_id_seq; Type: SEQUENCE SET; Schema: public; Owner: {owner}\n--\n\n\
             SELECT pg_catalog.setval('public.{n}_id_seq', {v}, {called});\n\n\n"
        );
    }
    for (t, c, def) in CONSTRAINTS {
        s += &format!(
            "--\n-- Name: {t} {c}; Type: CONSTRAINT; Schema: public; Owner: {owner}\n--\n\n\
             ALTER TABLE ONLY public.{t}\n    ADD CONSTRAINT {c} {def};\n\n\n"
        );
    }
    for (t, c, def) in FKS {
        s += &format!(
            "--\n-- Name: {t} {c}; Type: FK CONSTRAINT; Schema: public; Owner: {owner}\n--\n\n\
             ALTER TABLE ONLY public.{t}\n    ADD CONSTRAINT {c} {def};\n\n\n"
        );
    }
    s += &format!("--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict {key}\n\n");
    s
}

// ------------------------------------------------------------- content ----

static WORDS: &[&str] = &[
    "the",
    "buggy",
    "race",
    "server",
    "flask",
    "app",
    "python",
    "form",
    "data",
    "database",
    "sqlite",
    "table",
    "route",
    "template",
    "html",
    "jinja",
    "validation",
    "cost",
    "wheels",
    "flag",
    "colour",
    "pattern",
    "power",
    "units",
    "tyres",
    "armour",
    "attack",
    "hamster",
    "booster",
    "algorithm",
    "json",
    "upload",
    "submit",
    "button",
    "page",
    "error",
    "fixed",
    "bug",
    "tried",
    "then",
    "because",
    "so",
    "and",
    "but",
    "with",
    "without",
    "when",
    "after",
    "before",
    "it",
    "I",
    "we",
    "my",
    "this",
    "that",
    "was",
    "is",
    "were",
    "not",
    "worked",
    "failed",
    "function",
    "variable",
    "loop",
    "query",
    "insert",
    "update",
    "select",
    "commit",
    "branch",
    "git",
    "merge",
    "test",
    "tests",
    "pass",
    "report",
    "screenshot",
    "video",
    "deadline",
    "lecture",
    "lab",
    "helper",
    "TA",
    "documentation",
    "stack",
    "overflow",
    "google",
    "example",
    "problem",
    "solution",
    "hint",
    "task",
    "phase",
    "security",
    "injection",
    "escape",
    "string",
    "integer",
    "number",
    "default",
    "value",
    "check",
    "checked",
    "learned",
    "realised",
    "noticed",
    "changed",
    "added",
    "removed",
    "refactored",
    "renamed",
    "moved",
    "looked",
    "at",
    "in",
    "on",
    "of",
    "to",
    "for",
    "from",
    "by",
    "about",
    "really",
    "quite",
    "very",
    "again",
    "finally",
    "easy",
    "hard",
    "confusing",
    "simple",
    "browser",
    "request",
    "response",
    "POST",
    "GET",
    "method",
    "field",
];

static CODE: &[&str] = &[
    "@app.route(\"/new\", methods=[\"GET\", \"POST\"])",
    "def create_buggy():",
    "\tif request.method == \"GET\":",
    "\t\treturn render_template(\"buggy-form.html\")",
    "    qty_wheels = request.form['qty_wheels']",
    "    if not qty_wheels.isdigit():",
    "        msg = f\"Error: qty_wheels must be a number, not '{qty_wheels}'\"",
    "    with sql.connect(DATABASE_FILE) as con:",
    "        cur = con.cursor()",
    "        cur.execute(\"UPDATE buggies set qty_wheels=? WHERE id=?\", (qty_wheels, DEFAULT_BUGGY_ID))",
    "        con.commit()",
    "    except Exception as e:  # TODO: don't catch everything",
    "pattern = re.compile(r\"^#[0-9a-fA-F]{6}$|^\\d+\\.\\d*$\")",
    "path = \"C:\\\\Users\\\\student\\\\buggy-race-editor\\\\app.py\"",
    "print(\"total cost:\\t\", cost, end=\"\\n\")",
    "SELECT * FROM buggies WHERE id = 1;",
    "$ python3 -m venv venv && source venv/bin/activate",
    "$ pip install -r requirements.txt",
    "{% for buggy in buggies %}<li>{{ buggy.flag_color }}</li>{% endfor %}",
    "costs = {\"knobbly\": 15, \"slick\": 10, \"steelband\": 20, \"reactive\": 40, \"maglev\": 50}",
];

static UNICODE: &[&str] = &[
    "🏎️ 🏁 so happy it finally works!! 🎉",
    "naïve café déjà vu — “smart quotes” and ‘single’ ones…",
    "مرحبا بالعالم (my Arabic keyboard was on) ",
    "שלום עולם ",
    "你好，世界。测试一下中文输入。",
    "Ελληνικά: α β γ δ ε ζ η θ",
    "Zoë Łukasz Ñandú Øystein Şule",
    "→ ← ↑ ↓ ✓ ✗ ∑ ∞ ≠ ≤ ≥ ±",
    "👩🏽‍💻👨‍👩‍👧 family emoji with joiners",
    "math: x² + y² = z², ½ + ¼ = ¾",
];

static ODD: &[&str] = &[
    "\\.",
    "$$ dollar quoting $$ and $tag$ too $tag$",
    "'; DROP TABLE tasktexts; --",
    "\\copy tasktexts to 'x.csv'",
    "\\! rm -rf /",
    "backslash at the end \\",
    "\"quoted\" and 'single' and `back` ticks",
    "\x1b[31mred terminal text\x1b[0m",
    "form feed\x0cvertical tab\x0bbackspace\x08bell\x07",
    "\\N",
    "tab\tseparated\tvalues\there",
];

fn sentence(r: &mut Rng, s: &mut String) {
    let n = r.range(5, 22);
    for i in 0..n {
        let w = r.pick(WORDS);
        if i == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                s.extend(f.to_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push(' ');
            s.push_str(w);
        }
        if i + 1 < n && r.chance(0.06) {
            s.push(',');
        }
    }
    s.push_str(if r.chance(0.1) { "?" } else { "." });
}

/// A student's note, about `target` bytes, as pasted into a web textarea.
fn student_text(r: &mut Rng, target: usize) -> String {
    let nl = if r.chance(0.15) { "\r\n" } else { "\n" };
    let mut s = String::with_capacity(target + 256);
    while s.len() < target {
        let k = r.f64();
        if k < 0.70 {
            for _ in 0..r.range(1, 5) {
                sentence(r, &mut s);
                s.push(' ');
            }
            s.pop();
            s.push_str(nl);
            s.push_str(nl);
        } else if k < 0.83 {
            s.push_str("```python");
            s.push_str(nl);
            for _ in 0..r.range(2, 8) {
                s.push_str(r.pick(CODE));
                s.push_str(nl);
            }
            s.push_str("```");
            s.push_str(nl);
        } else if k < 0.93 {
            for _ in 0..r.range(2, 6) {
                s.push_str(if r.chance(0.5) { "- " } else { "* " });
                sentence(r, &mut s);
                s.push_str(nl);
            }
            s.push_str(nl);
        } else if k < 0.985 {
            s.push_str(r.pick(UNICODE));
            s.push_str(nl);
        } else {
            s.push_str(r.pick(ODD));
            s.push_str(nl);
        }
    }
    if r.chance(0.3) {
        s.truncate(s.trim_end().len());
    }
    s
}

static COLORS: &[&str] = &[
    "red", "white", "black", "blue", "green", "yellow", "orange", "purple", "pink", "#ff0000",
    "#00ff00", "#0000ff", "#c0ffee", "#bada55", "#ff7700", "gold", "silver", "teal", "navy",
    "maroon", "hotpink",
];
static PATTERNS: &[&str] = &["plain", "vstripe", "hstripe", "dstripe", "checker", "spot"];
static POWER: &[&str] = &[
    "petrol", "fusion", "steam", "bio", "electric", "rocket", "hamster", "thermo", "solar", "wind",
];
static TYRES: &[&str] = &["knobbly", "slick", "steelband", "reactive", "maglev"];
static ARMOUR: &[&str] = &[
    "none",
    "wood",
    "aluminium",
    "thinsteel",
    "thicksteel",
    "titanium",
];
static ATTACK: &[&str] = &["none", "spike", "flame", "charge", "biohazard"];
static ALGO: &[&str] = &[
    "defensive",
    "steady",
    "offensive",
    "titfortat",
    "random",
    "buggy",
];
static FIRST: &[&str] = &[
    "Amelia", "Oliver", "Zoë", "Mohammed", "Priya", "Wei", "José", "Chloé", "Łukasz", "Aoife",
    "Ngozi", "Sven", "Yuki", "Fatima", "Ahmed", "Olivia", "Noah", "Isla", "Mateo", "Anaïs",
    "Dmitri", "Siobhan", "Kwame", "Leila",
];
static LAST: &[&str] = &[
    "Smith",
    "Jones",
    "Patel",
    "Nguyễn",
    "O'Brien",
    "García",
    "Müller",
    "Kowalski",
    "Wang",
    "Khan",
    "Okafor",
    "Dubois",
    "Rossi",
    "Ivanova",
    "Murphy",
    "Brown",
    "Silva",
    "Tanaka",
    "Hernández",
    "Ó Súilleabháin",
];

static TASKS: &[(i64, &str, &str, bool)] = &[
    (0, "GET", "Get the source code", true),
    (0, "VIEW", "Run the app and view it", true),
    (0, "CHECK", "Check your setup", true),
    (1, "EDIT", "Edit the buggy", true),
    (1, "DATA", "Store the data", true),
    (1, "ENV", "Use a virtual environment", true),
    (1, "README", "Write a README", true),
    (2, "RULES", "Apply the race rules", true),
    (2, "VALID", "Validate the data", true),
    (2, "COST", "Calculate the cost", true),
    (2, "DEFAULTS", "Use default values", true),
    (2, "INFO", "Show buggy info", true),
    (3, "MULTI", "Handle multiple buggies", true),
    (3, "DEL", "Delete a buggy", true),
    (3, "AUTH", "Add authentication", true),
    (3, "USER", "Buggies per user", true),
    (3, "JSON", "Export JSON", true),
    (4, "API", "Use the race server API", true),
    (4, "STYLE", "Style the pages", true),
    (4, "DEPLOY", "Deploy the app", false),
    (4, "TEST", "Write tests", true),
    (5, "REPORT", "Write your report", true),
];

fn task_id(phase: i64, name: &str) -> i64 {
    TASKS
        .iter()
        .position(|t| t.0 == phase && t.1 == name)
        .unwrap() as i64
        + 1
}

/// alice's texts: (task, text). Every awkward thing a student can type.
fn alice_texts() -> Vec<(i64, String)> {
    let mut big = String::new();
    let mut r = Rng::new(7);
    while big.len() < 100_000 {
        big.push_str(&student_text(&mut r, 2000));
    }
    vec![
        (task_id(0, "GET"), "Cloned the repo, ran `python3 app.py`, it works on http://localhost:5000 :-)".into()),
        (
            task_id(1, "EDIT"),
            "Windows paste:\r\nC:\\Users\\alice\\buggy\\app.py\r\n\tindented with a tab\r\n\\.\r\n\\N is not NULL\r\n$$ and 'quotes' and \"double\"\r\nlast line without newline"
                .into(),
        ),
        (
            task_id(2, "RULES"),
            "control chars: \x08 \x0c \x0b \x01 \x1b \x7f end\nemoji 🏎️🏁 RTL: مرحبا שלום\ncombining: e\u{301} vs é\n\n\n"
                .into(),
        ),
        (task_id(3, "MULTI"), big),
        (task_id(5, "REPORT"), "\\".into()),
        (task_id(2, "COST"), " ".into()),
    ]
}

fn race_json(r: &mut Rng, race_id: i64, users: &[User], target: usize) -> String {
    let mut s = String::with_capacity(target + 1024);
    let start = TERM + race_id * 3 * DAY + 14 * 3600;
    s += &format!(
        "{{\n  \"title\": \"Race {race_id}: {}\",\n  \"description\": \"Round {race_id} of the \\\"{}\\\" league.\\nWatch the hairpin – it's slippery. Path: C:\\\\races\\\\{race_id}.json\",\n  \"race_file_version\": 1,\n  \"start_at\": \"{}\",\n  \"cost_limit\": {},\n  \"lap_length\": {},\n  \"max_laps\": {},\n  \"league\": \"{}\",\n  \"results\": [\n",
        r.pick(&[
            "Sprint",
            "Marathon",
            "Mud Bath",
            "Grand Prix",
            "Demolition Derby",
            "Night Race"
        ]),
        r.pick(&["main", "beginners", "open"]),
        ts_string(start, 0).replace(' ', "T"),
        r.range(150, 400),
        r.range(500, 3000),
        r.range(10, 80),
        r.pick(&["main", "beginners", "open"]),
    );
    let entrants = r.range(8, 60) as usize;
    let mut names = Vec::with_capacity(entrants);
    for pos in 1..=entrants {
        let u = &users[r.below(users.len() as u64) as usize];
        names.push(u.username.clone());
        s += &format!(
            "    {{\n      \"user_id\": {},\n      \"username\": \"{}\",\n      \"race_position\": {pos},\n      \"cost\": {},\n      \"flag_color\": \"{}\",\n      \"flag_color_secondary\": \"{}\",\n      \"flag_pattern\": \"{}\",\n      \"power_type\": \"{}\",\n      \"tyres\": \"{}\",\n      \"violations_str\": \"{}\"\n    }}{}\n",
            u.id,
            u.username,
            r.range(50, 400),
            r.pick(COLORS),
            r.pick(COLORS),
            r.pick(PATTERNS),
            r.pick(POWER),
            r.pick(TYRES),
            if r.chance(0.1) { "cost > limit" } else { "" },
            if pos < entrants { "," } else { "" },
        );
    }
    s += "  ],\n  \"events\": [\n";
    let mut t = 0;
    loop {
        t += 1;
        let who = &names[r.below(names.len() as u64) as usize];
        let ev = match r.below(10) {
            0 => format!("\"{t}:{who}:attack:{}\"", r.pick(ATTACK)),
            1 => format!("\"{t}:{who}:puncture\""),
            2 => format!(
                "\"{t}:{who}:note:\\\"{}\\\"\"",
                r.pick(&["overtakes", "spins out", "boost 🐹", "pit stop"])
            ),
            _ => format!("\"{t}:{who}:move:{}\"", r.range(-3, 40)),
        };
        s += "    ";
        s += &ev;
        if s.len() >= target {
            s += "\n  ]\n}";
            break;
        }
        s += ",\n";
    }
    s
}

// --------------------------------------------------------------- users ----

struct User {
    id: i64,
    username: String,
    student: bool,
}

fn usernames(r: &mut Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let l: String = (0..4).map(|_| (b'a' + r.below(26) as u8) as char).collect();
            format!("{l}{:03}", i + 100)
        })
        .collect()
}

fn user_rows(seed: u64, users: &[User], out: &mut Vec<u8>) {
    let mut r = Rng::stream(seed, "users");
    const BCRYPT: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // Rows are not in id order on a live server (every login updates the row).
    let mut order: Vec<usize> = (0..users.len()).collect();
    for i in (2..order.len()).rev() {
        let j = 1 + r.below(i as u64) as usize;
        order.swap(i, j);
    }
    for &i in &order {
        let u = &users[i];
        let created = TERM - 10 * DAY + u.id * 37;
        let first = r.pick(FIRST).to_string();
        let last = r.pick(LAST).to_string();
        let mut pw = b"$2b$12$".to_vec();
        pw.extend((0..53).map(|_| r.pick(BCRYPT)));
        let nl = if r.chance(0.2) { "\r\n" } else { "\n" };
        let json = if u.student && r.chance(0.9) {
            Some(format!(
                "{{{nl}  \"qty_wheels\": {},{nl}  \"flag_color\": \"{}\",{nl}  \"flag_color_secondary\": \"{}\",{nl}  \"flag_pattern\": \"{}\",{nl}  \"power_type\": \"{}\",{nl}  \"power_units\": {},{nl}  \"tyres\": \"{}\",{nl}  \"armour\": \"{}\",{nl}  \"attack\": \"{}\",{nl}  \"qty_attacks\": {},{nl}  \"algo\": \"{}\",{nl}  \"note\": \"made by {} \\\"{}\\\" 🏎\"{nl}}}",
                r.range(4, 12),
                r.pick(COLORS),
                r.pick(COLORS),
                r.pick(PATTERNS),
                r.pick(POWER),
                r.range(1, 20),
                r.pick(TYRES),
                r.pick(ARMOUR),
                r.pick(ATTACK),
                r.range(0, 5),
                r.pick(ALGO),
                first,
                u.username
            ))
        } else {
            None
        };
        let logged = created + r.range(DAY, 170 * DAY);
        let mut row = Row::new(out);
        row.text(&u.username)
            .otext(if u.student && r.chance(0.7) {
                Some(format!("{}{}", u.username, "_ext"))
            } else {
                None
            })
            .otext(if u.student {
                Some(format!("1000{:05}", u.id))
            } else {
                None
            })
            .text(&format!("{}@example.ac.uk", u.username))
            .bytea(&pw)
            .ts(created, r.below(1_000_000) as u32)
            .text(&first)
            .text(&last)
            .boolean(true)
            .boolean(!u.student)
            .int(if u.id == 1 {
                10
            } else if u.student {
                1
            } else {
                7
            })
            .otext(json.as_deref())
            .otext(if r.chance(0.6) {
                Some(&u.username)
            } else {
                None
            })
            .otext(if r.chance(0.4) {
                Some(format!("gho_{}", r.alnum(36)))
            } else {
                None
            })
            .boolean(u.student)
            .ts(logged, r.below(1_000_000) as u32)
            .ots(if json.is_some() {
                Some((logged - r.range(0, 9000), r.below(1_000_000) as u32))
            } else {
                None
            })
            .otext(if r.chance(0.5) {
                Some(r.alnum(12))
            } else {
                None
            })
            .ots(if r.chance(0.5) {
                Some((logged - 3600, 0))
            } else {
                None
            })
            .int(r.range(0, 40))
            .boolean(r.chance(0.3))
            .otext(if r.chance(0.5) {
                Some(r.alnum(10))
            } else {
                None
            })
            .otext(if r.chance(0.05) {
                Some("extension agreed\tuntil week 10\nsee email from \"tutor\"")
            } else {
                None
            })
            .obool(Some(false))
            .int(u.id)
            .ots(Some((
                created + r.range(3600, 20 * DAY),
                r.below(1_000_000) as u32,
            )))
            .boolean(true)
            .otext(if r.chance(0.02) {
                Some("Your deadline has been extended.")
            } else {
                None
            })
            .ots(if r.chance(0.02) {
                Some((TERM + 190 * DAY, 0))
            } else {
                None
            })
            .otext(if r.chance(0.5) {
                Some(format!(
                    "https://github.com/{}/buggy-race-editor",
                    u.username
                ))
            } else {
                None
            });
        row.end();
    }
}

// ---------------------------------------------------------------- main ----

fn main() -> Result<()> {
    let args = Args::parse();
    let busy = args.busy_server;
    let size = args
        .size
        .unwrap_or(if busy { 1100 << 20 } else { 100 << 20 });
    let texts_size = args.texts_size.or(busy.then_some(400 << 20));
    let race_files = args.race_files.or(busy.then_some(40));
    let seed = args.seed;
    let owner = args.owner.as_str();
    // A text is about 1.5 KB on average, and a student has at most one per task.
    let students_for_texts =
        texts_size.map_or(0, |t| (t / 1500 / TASKS.len() as u64) as usize * 5 / 4);
    let n_students = args.students.unwrap_or(
        ((size >> 19) as usize)
            .clamp(40, 5000)
            .max(students_for_texts),
    );
    if n_students == 0 {
        bail!("--students must be at least 1");
    }

    let w: Box<dyn Write> = if args.output == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(&args.output).with_context(|| format!("creating {}", args.output))?)
    };
    let w = BufWriter::with_capacity(1 << 20, w);
    let sink = match (args.gzip, args.indexed) {
        (level, true) => Sink::Indexed(Box::new(IndexedGzWriter::new(
            w,
            Compression::new(level.unwrap_or(6)),
        ))),
        (Some(level), false) => Sink::Gz(Box::new(GzEncoder::new(w, Compression::new(level)))),
        (None, false) => Sink::Plain(w),
    };
    let mut out = Out { sink, written: 0 };

    // Users: admin (1), alice (2), a TA (3), then the students.
    let mut r = Rng::stream(seed, "usernames");
    let mut users = vec![
        User {
            id: 1,
            username: "admin".into(),
            student: false,
        },
        User {
            id: 2,
            username: "alice".into(),
            student: true,
        },
        User {
            id: 3,
            username: "ta_bob".into(),
            student: false,
        },
    ];
    for (i, name) in usernames(&mut r, n_students.saturating_sub(1))
        .into_iter()
        .enumerate()
    {
        users.push(User {
            id: i as i64 + 4,
            username: name,
            student: true,
        });
    }
    let students: Vec<&User> = users.iter().filter(|u| u.student).collect();
    let n_users = users.len() as i64;

    let key = Rng::stream(seed, "restrict").alnum(63);
    let mut buf = Vec::with_capacity(4 << 20);
    let mut counts: Vec<(&str, u64)> = Vec::new();
    let mut last_ids: Vec<(&str, i64)> = Vec::new();

    // Small tables, built up front so the budget of the big ones is known.
    let mut users_buf = Vec::new();
    user_rows(seed, &users, &mut users_buf);
    let mut tasks_buf = Vec::new();
    {
        let mut r = Rng::stream(seed, "tasks");
        for (i, (phase, name, title, enabled)) in TASKS.iter().enumerate() {
            let para = |r: &mut Rng| {
                let mut s = String::new();
                for _ in 0..r.range(2, 5) {
                    for _ in 0..r.range(2, 5) {
                        sentence(r, &mut s);
                        s.push(' ');
                    }
                    s.push_str("\n\n");
                }
                s
            };
            let problem = format!(
                "# {title}\n\n{}* Use `{{{{ buggy.qty_wheels }}}}` in the template.\n",
                para(&mut r)
            );
            let solution = para(&mut r);
            let hints = format!("{}Ask a TA in the lab \u{1F64B}.", para(&mut r));
            let mut row = Row::new(&mut tasks_buf);
            row.int(i as i64 + 1)
                .ts(TERM - 14 * DAY, r.below(1_000_000) as u32)
                .ots(if r.chance(0.5) {
                    Some((TERM - 5 * DAY + i as i64 * 600, r.below(1_000_000) as u32))
                } else {
                    None
                })
                .int(*phase)
                .text(name)
                .text(title)
                .text(&problem)
                .text(&solution)
                .text(&hints)
                .boolean(*enabled)
                .int(i as i64 * 10);
            row.end();
        }
    }

    let pct = |p: f64| (size as f64 * p) as u64;
    let texts_budget = texts_size.unwrap_or(pct(0.01));
    let (mut buggies_budget, mut tracks_budget, mut results_budget) =
        (pct(0.15), pct(0.20), pct(0.10));
    let fixed = header(&key).len() as u64
        + ddl(owner).len() as u64
        + 40_000
        + users_buf.len() as u64
        + tasks_buf.len() as u64;
    let dbfiles_budget = match race_files {
        Some(n) => {
            // What the texts and race files leave goes to the other big
            // tables, in their usual proportions.
            let files = n * args.race_file_size;
            let left = size.saturating_sub(fixed + texts_budget + files) as f64 / 0.45;
            buggies_budget = (left * 0.15) as u64;
            tracks_budget = (left * 0.20) as u64;
            results_budget = (left * 0.10) as u64;
            files
        }
        None => {
            let rest = size.saturating_sub(
                fixed + texts_budget + buggies_budget + tracks_budget + results_budget,
            );
            (rest as f64 / (1.0 + 450.0 / 45_000.0)) as u64
        }
    };

    out.put(header(&key).as_bytes())?;
    out.put(ddl(owner).as_bytes())?;

    let table = |name: &str| TABLES.iter().find(|t| t.name == name).unwrap();

    // alembic_version
    out.put(copy_start(table("alembic_version"), owner).as_bytes())?;
    out.put(b"da24495f7e73\n")?;
    out.put(COPY_END.as_bytes())?;
    counts.push(("alembic_version", 1));

    // announcements
    out.put(copy_start(table("announcements"), owner).as_bytes())?;
    buf.clear();
    let anns = [
        (
            "Welcome to the <b>Buggy Race</b>! Read the \"getting started\" page first.",
            "info",
            true,
            true,
        ),
        (
            "The server will be down for maintenance on Friday\t16:00–17:00.",
            "warning",
            true,
            false,
        ),
        (
            "Race results are up: see https://race.example.ac.uk/races\nWell done everyone! 🏁",
            "success",
            true,
            false,
        ),
        ("Old notice", "danger", false, false),
    ];
    for (i, (text, ty, vis, html)) in anns.iter().enumerate() {
        let mut row = Row::new(&mut buf);
        row.int(i as i64 + 1)
            .ts(TERM + i as i64 * 20 * DAY, 0)
            .text(text)
            .text(ty)
            .boolean(*vis)
            .boolean(*html);
        row.end();
    }
    out.put(&buf)?;
    out.put(COPY_END.as_bytes())?;
    counts.push(("announcements", anns.len() as u64));
    last_ids.push(("announcements", anns.len() as i64));

    // buggies
    out.put(copy_start(table("buggies"), owner).as_bytes())?;
    {
        let mut r = Rng::stream(seed, "buggies");
        let start = out.written;
        let mut id = 0i64;
        while out.written - start < buggies_budget || id < 5 {
            buf.clear();
            for _ in 0..256 {
                id += 1;
                let t = TERM + id * 7;
                let u = r.pick(&students);
                let mut row = Row::new(&mut buf);
                row.int(id)
                    .ts(t, r.below(1_000_000) as u32)
                    .oint(if r.chance(0.9) {
                        Some(r.range(1, 3))
                    } else {
                        None
                    })
                    .int(r.range(4, 16))
                    .text(r.pick(COLORS))
                    .text(r.pick(COLORS))
                    .text(r.pick(PATTERNS))
                    .text(r.pick(POWER))
                    .int(r.range(1, 30))
                    .text(r.pick(&["none", "petrol", "fusion", "steam", "bio", "electric"]))
                    .int(r.range(0, 10))
                    .text(r.pick(TYRES))
                    .int(r.range(4, 20))
                    .text(r.pick(ARMOUR))
                    .text(r.pick(ATTACK))
                    .int(r.range(0, 8))
                    .int(r.range(0, 5))
                    .boolean(r.chance(0.3))
                    .boolean(r.chance(0.3))
                    .boolean(r.chance(0.2))
                    .boolean(r.chance(0.4))
                    .text(r.pick(ALGO))
                    .int(u.id)
                    .oint(if r.chance(0.95) {
                        Some(r.range(40, 900))
                    } else {
                        None
                    })
                    .oint(if r.chance(0.95) {
                        Some(r.range(300, 4000))
                    } else {
                        None
                    });
                row.end();
            }
            out.put(&buf)?;
        }
        out.put(COPY_END.as_bytes())?;
        counts.push(("buggies", id as u64));
        last_ids.push(("buggies", id));
    }

    // db_files: one race file per race
    out.put(copy_start(table("db_files"), owner).as_bytes())?;
    let n_files;
    {
        let mut r = Rng::stream(seed, "db_files");
        let start = out.written;
        let mut id = 0i64;
        let more = |written: u64, id: i64| match race_files {
            Some(n) => (id as u64) < n,
            None => written - start < dbfiles_budget || id < 2,
        };
        while more(out.written, id) {
            id += 1;
            buf.clear();
            let target = match race_files {
                Some(_) => args.race_file_size as usize,
                None => r.log_range(10_000, 90_000) as usize,
            };
            let json = race_json(&mut r, id, &users, target);
            let mut row = Row::new(&mut buf);
            row.int(id)
                .text("race")
                .text(&format!("race-{id:04}.json"))
                .int(id)
                .text(&json);
            row.end();
            out.put(&buf)?;
        }
        out.put(COPY_END.as_bytes())?;
        n_files = id;
        counts.push(("db_files", id as u64));
        last_ids.push(("db_files", id));
    }

    // races: one per race file, plus two not yet run
    let n_races = n_files + 2;
    out.put(copy_start(table("races"), owner).as_bytes())?;
    {
        let mut r = Rng::stream(seed, "races");
        buf.clear();
        for id in 1..=n_races {
            let created = TERM + id * 3 * DAY - 5 * DAY;
            let start = TERM + id * 3 * DAY + 14 * 3600;
            let done = id <= n_files;
            let entered = r.range(8, 60);
            let started = entered - r.range(0, 3);
            let mut row = Row::new(&mut buf);
            row.int(id)
                .text(&format!(
                    "Race {id}: {}",
                    r.pick(&["Sprint", "Marathon", "Mud Bath", "Grand Prix", "Night Race"])
                ))
                .text(&format!(
                    "Round {id}.\nBring your \"best\" buggy; no hamsters over 5 units.\n"
                ))
                .ts(created, r.below(1_000_000) as u32)
                .ts(start, 0)
                .int(r.range(150, 400))
                .boolean(true)
                .otext(if done {
                    Some(format!(
                        "https://race.example.ac.uk/files/race-{id:04}.json"
                    ))
                } else {
                    None
                })
                .text(r.pick(&["main", "beginners", "open"]))
                .ots(if done {
                    Some((start + 7200, r.below(1_000_000) as u32))
                } else {
                    None
                })
                .int(if done { entered } else { 0 })
                .int(if done { started } else { 0 })
                .int(if done { started - r.range(0, 5) } else { 0 })
                .boolean(done)
                .otext(Some(format!(
                    "https://race.example.ac.uk/tracks/{}.png",
                    r.range(1, 20)
                )))
                .otext(Some(format!(
                    "https://race.example.ac.uk/tracks/{}.svg",
                    r.range(1, 20)
                )))
                .int(r.range(10, 80))
                .int(r.range(500, 3000))
                .boolean(r.chance(0.5))
                .boolean(r.chance(0.02));
            row.end();
        }
        out.put(&buf)?;
        out.put(COPY_END.as_bytes())?;
        counts.push(("races", n_races as u64));
        last_ids.push(("races", n_races));
    }

    // racetracks: PNG images as bytea
    out.put(copy_start(table("racetracks"), owner).as_bytes())?;
    {
        let mut r = Rng::stream(seed, "racetracks");
        let start = out.written;
        let mut id = 0i64;
        let mut img = Vec::new();
        while out.written - start < tracks_budget || id < 1 {
            id += 1;
            buf.clear();
            let n = r.log_range(100_000, 600_000) as usize;
            img.clear();
            img.extend_from_slice(
                b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x04\0\0\0\x03\0\x08\x06\0\0\0",
            );
            let at = img.len();
            img.resize(n, 0);
            r.fill(&mut img[at..]);
            img.extend_from_slice(b"\0\0\0\0IEND\xaeB`\x82");
            let mut row = Row::new(&mut buf);
            row.int(id)
                .text(&format!("Track {id}"))
                .text(&format!(
                    "A {} circuit with {} bends.\nSurface: {}",
                    r.pick(&["twisty", "fast", "muddy", "icy"]),
                    r.range(3, 30),
                    r.pick(&["tarmac", "gravel", "sand"])
                ))
                .otext(Some(format!("https://race.example.ac.uk/tracks/{id}.png")))
                .otext(Some(format!("https://race.example.ac.uk/tracks/{id}.svg")))
                .int(r.range(500, 3000))
                .bytea(&img);
            row.end();
            out.put(&buf)?;
        }
        out.put(COPY_END.as_bytes())?;
        counts.push(("racetracks", id as u64));
        last_ids.push(("racetracks", id));
    }

    // results
    out.put(copy_start(table("results"), owner).as_bytes())?;
    {
        let mut r = Rng::stream(seed, "results");
        let start = out.written;
        let mut id = 0i64;
        while out.written - start < results_budget || id < 5 {
            buf.clear();
            for _ in 0..256 {
                id += 1;
                let mut row = Row::new(&mut buf);
                row.int(id)
                    .int(r.range(1, n_files))
                    .int(r.pick(&students).id)
                    .text(r.pick(COLORS))
                    .text(r.pick(COLORS))
                    .text(r.pick(PATTERNS))
                    .oint(if r.chance(0.97) {
                        Some(r.range(40, 900))
                    } else {
                        None
                    })
                    .int(r.range(1, 60))
                    .otext(if r.chance(0.1) {
                        Some(r.pick(&["cost > limit", "too many wheels", "hamster\tabuse"]))
                    } else {
                        None
                    });
                row.end();
            }
            out.put(&buf)?;
        }
        out.put(COPY_END.as_bytes())?;
        counts.push(("results", id as u64));
        last_ids.push(("results", id));
    }

    // roles
    out.put(copy_start(table("roles"), owner).as_bytes())?;
    out.put(b"admin\t1\t1\n")?;
    out.put(COPY_END.as_bytes())?;
    counts.push(("roles", 1));
    last_ids.push(("roles", 1));

    // settings
    out.put(copy_start(table("settings"), owner).as_bytes())?;
    {
        let settings: &[(&str, &str)] = &[
            ("ADMIN_TINT", "#ff0000"),
            ("API_SERVER_URL", "https://race.example.ac.uk/api"),
            (
                "BUGGY_EDITOR_GITHUB_URL",
                "https://github.com/buggyrace/buggy-race-editor",
            ),
            ("DEFAULT_RACE_COST_LIMIT", "200"),
            ("DEFAULT_RACE_LEAGUE", "main"),
            ("INSTITUTION_FULL_NAME", "Example University"),
            ("INSTITUTION_SHORT_NAME", "EU"),
            ("IS_PUBLIC_REGISTRATION_ALLOWED", "0"),
            ("IS_STORING_STUDENT_TASK_TEXTS", "1"),
            ("IS_USING_GITHUB", "1"),
            ("PROJECT_CODE", "CS1999"),
            ("PROJECT_SUBMISSION_DEADLINE", "2025-03-31T12:00"),
            ("SITE_TITLE", "Buggy Race \u{1F3CE}"),
            ("SOCIAL_0_NAME", "Discord"),
            ("SOCIAL_0_TEXT", "Ask questions here\t(not by email)"),
            ("TASK_NAME_FOR_API", "4-API"),
            ("USERS_HAVE_EMAIL", "1"),
        ];
        buf.clear();
        for (k, v) in settings {
            Row::new(&mut buf).text(k).text(v).end();
        }
        out.put(&buf)?;
        counts.push(("settings", settings.len() as u64));
    }
    out.put(COPY_END.as_bytes())?;

    // tasks
    out.put(copy_start(table("tasks"), owner).as_bytes())?;
    out.put(&tasks_buf)?;
    out.put(COPY_END.as_bytes())?;
    counts.push(("tasks", TASKS.len() as u64));
    last_ids.push(("tasks", TASKS.len() as i64));

    // tasktexts
    out.put(copy_start(table("tasktexts"), owner).as_bytes())?;
    let mut per_student = vec![0u32; users.len() + 1];
    {
        let mut r = Rng::stream(seed, "tasktexts");
        let mut used = vec![0u32; users.len() + 1];
        let mut alice: Vec<(i64, String)> = alice_texts();
        alice.reverse();
        let alice_at = [2u64, 9, 40, 150, 600, 2000];
        // every (student, task) pair can have one text; alice only has hers
        let cap = (students.len() as u64 - 1) * TASKS.len() as u64;
        let est_texts = (texts_budget as f64 / 1500.0).min(cap as f64).max(10.0);
        let start = out.written;
        let (mut id, mut n, mut n_random) = (0i64, 0u64, 0u64);
        loop {
            let done = out.written - start >= texts_budget || n_random >= cap;
            let (uid, tid, text) = if !alice.is_empty() && (done || alice_at.contains(&n)) {
                let (tid, text) = alice.pop().unwrap();
                (2usize, tid, text)
            } else if done {
                break;
            } else {
                let mut tries = 0;
                let (u, t) = loop {
                    tries += 1;
                    let (u, t) = if tries < 64 {
                        (
                            r.pick(&students).id as usize,
                            r.below(TASKS.len() as u64) as usize,
                        )
                    } else {
                        // nearly every pair is taken: take the first free one
                        (0..used.len() * TASKS.len())
                            .map(|k| (k / TASKS.len(), k % TASKS.len()))
                            .find(|&(u, t)| u >= 4 && used[u] & (1 << t) == 0)
                            .unwrap()
                    };
                    if u != 2 && used[u] & (1 << t) == 0 {
                        break (u, t);
                    }
                };
                used[u] |= 1 << t;
                n_random += 1;
                let len = if r.chance(0.85) {
                    r.range(200, 1000) as usize
                } else {
                    r.log_range(1000, 20_000) as usize
                };
                (u, t as i64 + 1, student_text(&mut r, len))
            };
            // ids have gaps where texts were deleted
            id += 1 + if r.chance(0.05) { r.range(1, 6) } else { 0 };
            n += 1;
            per_student[uid] += 1;
            // spread over the term, in id order, as the texts were written
            let created = TERM
                + (id as f64 / est_texts * 150.0 * DAY as f64).min(170.0 * DAY as f64) as i64
                + r.range(0, 3600);
            buf.clear();
            let mut row = Row::new(&mut buf);
            row.int(id).tstz(created, r.below(1_000_000) as u32);
            if r.chance(0.7) {
                row.tstz(created + r.range(60, 40 * DAY), r.below(1_000_000) as u32);
            } else {
                row.null();
            }
            row.int(uid as i64).int(tid).text(&text);
            row.end();
            out.put(&buf)?;
        }
        out.put(COPY_END.as_bytes())?;
        counts.push(("tasktexts", n));
        last_ids.push(("tasktexts", id));
    }

    // users
    out.put(copy_start(table("users"), owner).as_bytes())?;
    out.put(&users_buf)?;
    out.put(COPY_END.as_bytes())?;
    counts.push(("users", n_users as u64));
    last_ids.push(("users", n_users));

    last_ids.sort();
    out.put(trailer(owner, &key, &last_ids).as_bytes())?;
    let total = out.written;
    out.finish()?;

    let best = (4..per_student.len())
        .max_by_key(|&i| (per_student[i], std::cmp::Reverse(i)))
        .unwrap_or(2);
    eprintln!("user-with-texts: {}", users[best - 1].username);
    eprintln!(
        "gen_dump: {total} bytes uncompressed, {} students, alice has {} texts",
        students.len(),
        per_student[2]
    );
    for (t, n) in &counts {
        eprintln!("  public.{t}: {n} rows");
    }
    Ok(())
}
