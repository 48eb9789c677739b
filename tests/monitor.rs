//! `backup --prometheus FILE --ping URL` against the real PostgreSQL, and
//! `check --ping URL`: the pings reach a small HTTP server on 127.0.0.1 in
//! order (`/start`, then the URL or `/fail`), an unreachable ping URL only
//! warns, and the metrics file (read by Prometheus's own parser) keeps the
//! folder's last success through a failed backup.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use crate::check::{healthy, prometheus_parse};
use crate::common::{TempDb, assert_ok, pg, text};

/// A request the ping server received: its request line and its body.
type Request = (String, String);

/// An HTTP server on 127.0.0.1 that answers every request `200 OK` and
/// records it.
pub struct PingServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl PingServer {
    pub fn start() -> PingServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                // Recorded before it is answered: the client may exit, and
                // the test look, as soon as the answer is read.
                if let Some((request, mut stream)) = read_request(stream) {
                    recorded.lock().unwrap().push(request);
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK",
                    );
                }
            }
        });
        PingServer { port, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn lines(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(line, _)| line.clone())
            .collect()
    }

    pub fn bodies(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// Reads one request (head and body), giving back the stream to answer on.
fn read_request(stream: TcpStream) -> Option<(Request, TcpStream)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let request = (
        line.trim_end().to_string(),
        String::from_utf8_lossy(&body).into_owned(),
    );
    Some((request, reader.into_inner()))
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn people(pg: &crate::common::Pg) -> TempDb {
    let db = pg.create_db("monitor");
    db.load_schema_with_people();
    db
}

fn backup(db: &TempDb, dir: &Path, args: &[&str]) -> Output {
    db.command(env!("CARGO_BIN_EXE_textrescue"))
        .env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .arg("backup")
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The samples of the metrics file, by name, as Prometheus's parser reads them.
pub fn samples(file: &Path) -> Vec<(String, f64)> {
    let text = fs::read_to_string(file).unwrap();
    prometheus_parse(&[text])[0]
        .clone()
        .unwrap()
        .into_iter()
        .map(|s| {
            let (name, value) = s.rsplit_once(' ').unwrap();
            let name = name.split('{').next().unwrap().to_string();
            (name, value.parse().unwrap())
        })
        .collect()
}

pub fn value(samples: &[(String, f64)], name: &str) -> Option<f64> {
    samples.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

#[test]
#[cfg_attr(
    not(all(has_postgres, has_prometheus_client)),
    ignore = "needs PostgreSQL (PGHOST/PGPORT) and the prometheus-client Python package"
)]
fn a_good_backup_pings_start_then_success_and_writes_the_metrics() {
    let pg = pg();
    let db = people(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let file = tmp.path().join("textrescue.prom");
    let server = PingServer::start();
    let before = chrono::Utc::now().timestamp();
    let out = backup(
        &db,
        &dir,
        &[
            "--prometheus",
            file.to_str().unwrap(),
            "--ping",
            &server.url("/ping/abc-123"),
        ],
    );
    assert_ok(&out);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert_eq!(
        server.lines(),
        [
            "POST /ping/abc-123/start HTTP/1.1",
            "POST /ping/abc-123 HTTP/1.1"
        ]
    );
    let backup_file = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with(".sql.gz"))
        .unwrap();
    assert!(
        server.bodies()[1].contains(backup_file.file_name().unwrap().to_str().unwrap()),
        "{:?}",
        server.bodies()
    );
    let samples = samples(&file);
    assert_eq!(value(&samples, "textrescue_backups_retained"), Some(1.0));
    assert_eq!(
        value(&samples, "textrescue_backup_size_bytes"),
        Some(fs::metadata(&backup_file).unwrap().len() as f64)
    );
    let last = value(&samples, "textrescue_backup_last_success_timestamp_seconds").unwrap();
    // Its name's time, to the second.
    assert!(last >= (before - 1) as f64 && last <= chrono::Utc::now().timestamp() as f64);
    // No drill, no journal, no check yet: those are absent.
    assert_eq!(samples.len(), 3, "{samples:?}");
}

#[test]
#[cfg_attr(
    not(all(has_postgres, has_prometheus_client)),
    ignore = "needs PostgreSQL (PGHOST/PGPORT) and the prometheus-client Python package"
)]
fn a_failing_backup_pings_fail_and_keeps_the_last_success() {
    let pg = pg();
    let db = people(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let file = tmp.path().join("textrescue.prom");
    let prom = file.to_str().unwrap();
    assert_ok(&backup(&db, &dir, &["--prometheus", prom]));
    let first = fs::read_to_string(&file).unwrap();
    // check adds its own metric to the same file.
    let checked = Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .arg("check")
        .arg(&dir)
        .args(["--prometheus", prom])
        .output()
        .unwrap();
    assert_ok(&checked);

    // The database down: pg_dump cannot connect.
    let server = PingServer::start();
    let port = closed_port().to_string();
    let out = backup(
        &db,
        &dir,
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--prometheus",
            prom,
            "--ping",
            &server.url("/ping/abc-123"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        server.lines(),
        [
            "POST /ping/abc-123/start HTTP/1.1",
            "POST /ping/abc-123/fail HTTP/1.1"
        ]
    );
    let why = &server.bodies()[1];
    assert!(why.contains(&port), "{why}");
    // The last success is still the first backup's, and check's verdict is
    // carried over.
    let after = samples(&file);
    let before = samples_of(&first);
    assert_eq!(
        value(&after, "textrescue_backup_last_success_timestamp_seconds"),
        value(&before, "textrescue_backup_last_success_timestamp_seconds")
    );
    assert_eq!(value(&after, "textrescue_backups_retained"), Some(1.0));
    assert_eq!(value(&after, "textrescue_check_success"), Some(1.0));
}

fn samples_of(text: &str) -> Vec<(String, f64)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.prom");
    fs::write(&file, text).unwrap();
    samples(&file)
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn an_unreachable_ping_url_does_not_fail_the_backup() {
    let pg = pg();
    let db = people(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let url = format!("http://127.0.0.1:{}/ping/secret-uuid", closed_port());
    let out = backup(&db, &dir, &["--ping", &url]);
    assert_ok(&out);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("textrescue: warning: the start ping to http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("3 tries"), "{stderr}");
    // The ping URL is a secret: only its server is said.
    assert!(!stderr.contains("secret-uuid"), "{stderr}");
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        2,
        "the backup and the lock"
    );
}

#[test]
fn check_pings_success_or_fail_with_its_problems() {
    let dir = healthy();
    let server = PingServer::start();
    let check = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_textrescue"))
            .arg("check")
            .arg(dir.path())
            .args(["--ping", &server.url("/p")])
            .args(args)
            .output()
            .unwrap()
    };
    assert_ok(&check(&[]));
    let out = check(&["--max-age", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        server.lines(),
        [
            "POST /p/start HTTP/1.1",
            "POST /p HTTP/1.1",
            "POST /p/start HTTP/1.1",
            "POST /p/fail HTTP/1.1"
        ]
    );
    let bodies = server.bodies();
    assert!(bodies[1].starts_with("all well: "), "{bodies:?}");
    assert!(bodies[3].contains("older than --max-age 1s"), "{bodies:?}");
}
