//! Off-host copies: one S3-compatible bucket (AWS, Backblaze B2, Cloudflare
//! R2, MinIO, Garage, Ceph) under an `s3://BUCKET/PREFIX` location, reached
//! through `object_store`. This module owns the location's syntax, the
//! credentials (taken the way AWS tools take them), the objects' names,
//! sizes and contents, the multipart upload ([`upload`]), age encryption
//! ([`seal`]), reading an object by byte ranges ([`ranged`]), and a copy
//! fetched into a private temporary file ([`fetch`]).
//!
//! The rest of textrescue is synchronous: a [`Remote`] carries its own tokio
//! current-thread runtime and every call blocks on it. Nothing here knows
//! what a backup is beyond its file name.

mod errors;
pub mod fetch;
pub mod ranged;
pub mod read;
pub mod seal;
pub mod upload;

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, BackoffConfig, ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, RetryConfig,
};
use sha2::{Digest, Sha256};

pub use errors::one_line;

/// The user metadata key holding the SHA-256 of the object's bytes.
pub const META_SHA256: &str = "textrescue-sha256";
/// The user metadata key holding the SHA-256 of the local backup an object
/// is a copy of (the same as [`META_SHA256`] unless it is encrypted).
pub const META_SOURCE_SHA256: &str = "textrescue-source-sha256";

/// The object key `key` as object_store's path, byte for byte: a name
/// with `é`, `~` or `#` is stored and asked for under that name, as every
/// other S3 client does (`ObjectPath::from` would percent-encode it into
/// another key). A key object_store refuses as it is (a `.` or `..`
/// segment, an ASCII control character: none of textrescue's own names)
/// falls back to that encoding.
fn object_path(key: &str) -> ObjectPath {
    ObjectPath::parse(key).unwrap_or_else(|_| ObjectPath::from(key))
}

/// `s3://BUCKET/PREFIX`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// The folder inside the bucket, without slashes at either end (may be
    /// empty: the bucket's top).
    pub prefix: String,
}

impl Location {
    /// Whether a command-line path names a bucket rather than a file.
    pub fn is_remote(arg: &str) -> bool {
        arg.starts_with("s3://")
    }

    pub fn parse(url: &str) -> Result<Location> {
        let Some(rest) = url.strip_prefix("s3://") else {
            bail!("{url:?} is not an s3://BUCKET/PREFIX location");
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            bail!("{url:?}: the bucket name must be 3 to 63 lowercase letters, digits, '-' or '.'");
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..")
            || prefix.contains("//")
            || prefix.contains(|c: char| c.is_control())
        {
            bail!("{url:?}: the prefix must be a plain folder path");
        }
        Ok(Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The object key of `name` in this folder.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// `s3://BUCKET/PREFIX/name`, for messages.
    pub fn display(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// One object in the location's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its name in the folder (the key without the prefix).
    pub name: String,
    pub size: u64,
    /// Last modified, nanoseconds since 1970 (UTC).
    pub modified: i128,
}

/// A connection to a bucket folder, with the runtime its calls block on.
pub struct Remote {
    pub location: Location,
    store: Arc<AmazonS3>,
    runtime: Arc<tokio::runtime::Runtime>,
}

/// How long one request may take before it counts as failed, and how often
/// a failed one is tried again: a nightly cron run must end, with a clear
/// line, when the bucket cannot be reached.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(60),
    }
}

impl Remote {
    /// A client for `location`. Credentials and region come from the
    /// environment as AWS tools take them (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` or
    /// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`); `endpoint` (`--s3-endpoint`)
    /// wins over `AWS_ENDPOINT_URL`. Nothing is contacted yet.
    pub fn connect(location: &Location, endpoint: Option<&str>) -> Result<Remote> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_region(
                env("AWS_REGION")
                    .or_else(|| env("AWS_DEFAULT_REGION"))
                    .unwrap_or_else(|| "us-east-1".to_string()),
            )
            .with_retry(retry_config())
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(120)),
            );
        // No `with_checksum_algorithm`: object_store then sends no
        // x-amz-checksum-* / x-amz-sdk-checksum-algorithm headers, which
        // several S3-compatible services (B2, R2) reject. The copy is checked
        // by reading it back instead (see `sha256_of`).
        if let Some(id) = env("AWS_ACCESS_KEY_ID") {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = env("AWS_SECRET_ACCESS_KEY") {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = env("AWS_SESSION_TOKEN") {
            builder = builder.with_token(token);
        }
        let endpoint = endpoint
            .map(str::to_string)
            .or_else(|| env("AWS_ENDPOINT_URL"));
        if let Some(endpoint) = &endpoint {
            check_endpoint(endpoint)?;
            // S3-compatible servers are addressed by path
            // (http://host/bucket/key): bucket names as host names need DNS
            // that local and self-hosted servers do not have.
            builder = builder
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder
            .build()
            .map_err(|e| anyhow!("{}: {}", location, one_line(&e)))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the network runtime")?;
        Ok(Remote {
            location: location.clone(),
            store: Arc::new(store),
            runtime: Arc::new(runtime),
        })
    }

    fn path(&self, name: &str) -> ObjectPath {
        object_path(&self.location.key(name))
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The objects directly in the folder (not in sub-folders), by name.
    pub fn list(&self) -> Result<Vec<Object>> {
        let prefix = (!self.location.prefix.is_empty()).then(|| object_path(&self.location.prefix));
        let listed = self
            .block_on(self.store.list_with_delimiter(prefix.as_ref()))
            .map_err(|e| self.error("cannot list", &self.location.to_string(), &e))?;
        let mut objects: Vec<Object> = listed
            .objects
            .into_iter()
            .filter_map(|meta| {
                Some(Object {
                    name: meta.location.filename()?.to_string(),
                    size: meta.size,
                    modified: meta
                        .last_modified
                        .timestamp_nanos_opt()
                        .map_or(0, i128::from),
                })
            })
            .collect();
        objects.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    /// Whether the bucket is there and the keys may list the folder: one
    /// request, for a clear error before any upload (some servers create a
    /// missing bucket on upload).
    pub fn check_bucket(&self) -> Result<()> {
        self.list().map(|_| ())
    }

    /// The object's size and the SHA-256 the upload recorded with it (user
    /// metadata: [`META_SHA256`], [`META_SOURCE_SHA256`]); `None` when there
    /// is no such object.
    pub fn head(&self, name: &str) -> Result<Option<Head>> {
        let options = GetOptions {
            head: true,
            ..Default::default()
        };
        match self.block_on(self.store.get_opts(&self.path(name), options)) {
            Ok(got) => {
                let meta = |key: &'static str| {
                    got.attributes
                        .get(&Attribute::Metadata(key.into()))
                        .map(|v| v.to_string())
                };
                Ok(Some(Head {
                    size: got.meta.size,
                    sha256: meta(META_SHA256),
                    source_sha256: meta(META_SOURCE_SHA256),
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("cannot read", &self.location.display(name), &e)),
        }
    }

    /// The size and SHA-256 of what the bucket holds under `name`, read
    /// back whole (streamed: memory stays small).
    pub fn sha256_of(&self, name: &str) -> Result<(u64, [u8; 32])> {
        let mut reader = self.open(name)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| anyhow!("cannot read back {}: {e}", self.location.display(name)))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok((size, hasher.finalize().into()))
    }

    /// The object's bytes, streamed.
    pub fn open(&self, name: &str) -> Result<ObjectReader> {
        let got = self
            .block_on(self.store.get(&self.path(name)))
            .map_err(|e| self.error("cannot read", &self.location.display(name), &e))?;
        Ok(ObjectReader {
            runtime: self.runtime.clone(),
            stream: got.into_stream(),
            pending: Bytes::new(),
        })
    }

    pub fn delete(&self, name: &str) -> Result<()> {
        self.block_on(self.store.delete(&self.path(name)))
            .map_err(|e| self.error("cannot remove", &self.location.display(name), &e))
    }

    /// `what` failed on `target`, as one line with a hint for the errors a
    /// person can fix (credentials, bucket name, endpoint).
    pub(crate) fn error(&self, what: &str, target: &str, e: &object_store::Error) -> anyhow::Error {
        errors::explain(what, target, &self.location.bucket, e)
    }
}

/// What [`Remote::head`] tells of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub sha256: Option<String>,
    pub source_sha256: Option<String>,
}

/// `--s3-endpoint`: http(s) only, and plain http only to this machine (a
/// local MinIO or test server), so that keys and backups never cross a
/// network in clear.
fn check_endpoint(endpoint: &str) -> Result<()> {
    if endpoint.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = endpoint.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        let host = if rest.starts_with('[') {
            rest.split(']')
                .next()
                .unwrap_or_default()
                .trim_start_matches('[')
        } else {
            host
        };
        if matches!(host, "127.0.0.1" | "localhost" | "::1") {
            return Ok(());
        }
        bail!(
            "--s3-endpoint {endpoint}: plain http is allowed only to 127.0.0.1/localhost; use https"
        );
    }
    bail!("--s3-endpoint {endpoint}: must start with https:// (or http://127.0.0.1)")
}

/// An object's bytes as a blocking [`Read`].
pub struct ObjectReader {
    runtime: Arc<tokio::runtime::Runtime>,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    pending: Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(bytes)) => {
                    read::count_received(bytes.len());
                    self.pending = bytes;
                }
                Some(Err(e)) => return Err(io::Error::other(one_line(&e))),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending = self.pending.slice(n..);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        let l = Location::parse("s3://backups/race/nightly/").unwrap();
        assert_eq!(l.bucket, "backups");
        assert_eq!(l.prefix, "race/nightly");
        assert_eq!(l.key("a.sql.gz"), "race/nightly/a.sql.gz");
        assert_eq!(Location::parse("s3://backups").unwrap().key("a"), "a");
        assert!(Location::parse("s3://Bad_Bucket/x").is_err());
        assert!(Location::parse("s3://bucket/../x").is_err());
        assert!(Location::parse("/tmp/x").is_err());
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(check_endpoint("http://127.0.0.1:9000").is_ok());
        assert!(check_endpoint("https://s3.eu-central-003.backblazeb2.com").is_ok());
        assert!(check_endpoint("http://example.com").is_err());
        assert!(check_endpoint("ftp://127.0.0.1").is_err());
    }
}
