//! Decides, once per build, which services the tests can reach, so that a test
//! that cannot run is reported by the test runner as skipped ("ignored"),
//! never as passed. Rust's test harness has no run-time skip, so the decision
//! is a `cfg` the tests read:
//!
//! - `has_postgres`: a PostgreSQL answers at PGHOST:PGPORT (default
//!   127.0.0.1:5432) and `psql` is on the PATH;
//! - `has_docker`: `docker info` answers (a running Docker Engine) and the
//!   test image is there (`docker image inspect`; `TEXTRESCUE_PG_IMAGE`, by
//!   default the `textrescue-pg15:bookworm` that `bash .ci/docker-up`
//!   builds). An engine without the image (most laptops) skips the Docker
//!   tests as no engine does, and the build says why (a cargo warning);
//! - `is_root`: the build runs as root (mounts, `chattr +i`, `setpriv`);
//! - `has_s3`: both S3-compatible test servers answer (s3s-fs and moto, at
//!   TEXTRESCUE_S3S_ENDPOINT and TEXTRESCUE_MOTO_ENDPOINT, by default the
//!   ports in `.ci/s3.env`; `bash .ci/s3-up` starts them);
//! - `has_prometheus_client`: `python3` imports `prometheus_client`
//!   (Prometheus's own text-format parser, which reads the metrics files;
//!   `.ci/run` installs it).
//!
//! With `CI` set every one is on: CI must run every test, and a missing
//! service then fails the tests that need it instead of skipping them.
//!
//! The answer is cached with the build. It is looked at again when PG*, CI,
//! DOCKER_HOST or TEXTRESCUE_PG_IMAGE change, or when the PostgreSQL socket folder or the Docker
//! socket changes (a server started or stopped); `touch build.rs` forces it.
//! The library itself never reads these cfgs.
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn main() {
    for cfg in [
        "has_postgres",
        "has_docker",
        "is_root",
        "has_s3",
        "has_prometheus_client",
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    for var in [
        "CI",
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "DOCKER_HOST",
        "PATH",
        "TEXTRESCUE_PG_IMAGE",
        "TEXTRESCUE_S3S_ENDPOINT",
        "TEXTRESCUE_MOTO_ENDPOINT",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    for path in [
        "/var/run/postgresql",
        "/var/run/docker.sock",
        "/run/docker.pid",
    ] {
        if Path::new(path).exists() {
            println!("cargo::rerun-if-changed={path}");
        }
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=.ci/s3.env");

    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    if ci || postgres_answers() {
        println!("cargo::rustc-cfg=has_postgres");
    }
    let image = test_image();
    match docker_state(&image) {
        _ if ci => println!("cargo::rustc-cfg=has_docker"),
        Docker::Ready => println!("cargo::rustc-cfg=has_docker"),
        Docker::NoImage => println!(
            "cargo::warning=the Docker tests will be skipped: the Docker Engine answers but has \
             no image {image} (`bash .ci/docker-up` builds it; then `touch build.rs`)"
        ),
        Docker::NoEngine => {}
    }
    if ci || is_root() {
        println!("cargo::rustc-cfg=is_root");
    }
    if ci || s3_answers() {
        println!("cargo::rustc-cfg=has_s3");
    }
    if ci || python_imports("prometheus_client") {
        println!("cargo::rustc-cfg=has_prometheus_client");
    }
}

/// `python3 -c "import MODULE"` succeeds.
fn python_imports(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Both test servers take a TCP connection (endpoints as tests/s3.rs reads them).
fn s3_answers() -> bool {
    let file = std::fs::read_to_string(".ci/s3.env").unwrap_or_default();
    ["TEXTRESCUE_S3S_ENDPOINT", "TEXTRESCUE_MOTO_ENDPOINT"]
        .iter()
        .all(|var| {
            let from_file = file
                .lines()
                .find_map(|l| l.strip_prefix(var)?.strip_prefix('='))
                .unwrap_or_default();
            let endpoint = env_or(var, from_file);
            let Some(addr) = endpoint.strip_prefix("http://") else {
                return false;
            };
            let addr = addr.trim_end_matches('/');
            let addrs: Vec<SocketAddr> = match addr.to_socket_addrs() {
                Ok(a) => a.collect(),
                Err(_) => return false,
            };
            addrs
                .iter()
                .any(|a| TcpStream::connect_timeout(a, Duration::from_secs(2)).is_ok())
        })
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// A TCP connection to PGHOST:PGPORT and a `psql` to talk to it. A socket
/// path in PGHOST counts when the socket file exists.
fn postgres_answers() -> bool {
    let host = env_or("PGHOST", "127.0.0.1");
    let port = env_or("PGPORT", "5432");
    let psql = Command::new("psql")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !psql {
        return false;
    }
    if host.starts_with('/') {
        return Path::new(&host).join(format!(".s.PGSQL.{port}")).exists();
    }
    let Ok(port) = port.parse::<u16>() else {
        return false;
    };
    let addrs: Vec<SocketAddr> = match (host.as_str(), port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return false,
    };
    addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, Duration::from_secs(2)).is_ok())
}

fn docker_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The image the Docker tests run (tests/dockerdb/mod.rs reads the same variable).
fn test_image() -> String {
    env_or("TEXTRESCUE_PG_IMAGE", "textrescue-pg15:bookworm")
}

/// What the Docker tests would find.
#[derive(Debug, PartialEq, Eq)]
pub enum Docker {
    NoEngine,
    /// The engine answers, without the test image.
    NoImage,
    Ready,
}

/// Whether an engine answers and has `image` (looked for, never pulled:
/// the tests never pull).
pub fn docker_state(image: &str) -> Docker {
    if !docker_answers() {
        return Docker::NoEngine;
    }
    let present = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", "--", image])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        Docker::Ready
    } else {
        Docker::NoImage
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == b"0")
}
