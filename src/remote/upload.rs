//! One object written as a multipart upload, through a blocking
//! [`Write`]: parts of [`part_size`] bytes (8 MiB; `TEXTRESCUE_S3_PART_SIZE`
//! for tests), at most [`IN_FLIGHT`] of them uploading at once, so memory
//! stays under (IN_FLIGHT + 1) parts (40 MiB) whatever the file's size. The
//! writer counts and hashes every byte it sends. An upload that is not
//! finished is aborted (the parts the service holds are dropped), so a
//! failed copy never leaves an object, whole or partial.

use std::io::{self, Write};

use anyhow::Result;
use object_store::{Attribute, Attributes, ObjectStore, PutMultipartOptions, WriteMultipart};
use sha2::{Digest, Sha256};

use super::{META_SOURCE_SHA256, Remote, one_line};

/// Parts uploading at once.
pub const IN_FLIGHT: usize = 4;

/// The default part size: big enough that a 1 GiB backup is 128 parts,
/// small enough that the buffers stay small.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// The part size: [`PART_SIZE`], or `TEXTRESCUE_S3_PART_SIZE` bytes (at
/// least 5 MiB, S3's smallest part) so that tests can make many parts from a
/// small file.
pub fn part_size() -> usize {
    std::env::var("TEXTRESCUE_S3_PART_SIZE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map(|n| n.max(5 * 1024 * 1024))
        .unwrap_or(PART_SIZE)
}

/// What an upload sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// A multipart upload in progress. Dropped without [`finish`](Self::finish),
/// it is aborted.
pub struct Upload<'a> {
    remote: &'a Remote,
    name: String,
    parts: Option<WriteMultipart>,
    hasher: Sha256,
    bytes: u64,
}

impl Remote {
    /// Starts uploading the object `name`, recording `source_sha256` (hex)
    /// with it as user metadata (`copy` compares it to skip what is there).
    pub fn upload(&self, name: &str, source_sha256: &str) -> Result<Upload<'_>> {
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::Metadata(META_SOURCE_SHA256.into()),
            source_sha256.to_string().into(),
        );
        let options = PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let started = self
            .block_on(self.store.put_multipart_opts(&self.path(name), options))
            .map_err(|e| self.error("cannot upload", &self.location.display(name), &e))?;
        Ok(Upload {
            remote: self,
            name: name.to_string(),
            parts: Some(WriteMultipart::new_with_chunk_size(started, part_size())),
            hasher: Sha256::new(),
            bytes: 0,
        })
    }
}

impl Upload<'_> {
    /// Sends the last part and completes the upload: only now does the
    /// object exist.
    pub fn finish(mut self) -> Result<Sent> {
        let parts = self.parts.take().expect("finished once");
        let remote = self.remote;
        let _entered = remote.runtime.enter();
        remote
            .block_on(parts.finish())
            .map_err(|e| remote.error("cannot upload", &remote.location.display(&self.name), &e))?;
        Ok(Sent {
            bytes: self.bytes,
            sha256: std::mem::take(&mut self.hasher).finalize().into(),
        })
    }

    /// Gives up: the service drops the parts it holds. Whether the abort
    /// itself worked (a dead server cannot be told) is returned for the
    /// message; the upload is over either way.
    pub fn abort(mut self) -> Result<(), String> {
        self.abort_parts()
    }

    fn abort_parts(&mut self) -> Result<(), String> {
        let Some(parts) = self.parts.take() else {
            return Ok(());
        };
        let _entered = self.remote.runtime.enter();
        self.remote
            .block_on(parts.abort())
            .map_err(|e| one_line(&e))
    }
}

impl Drop for Upload<'_> {
    fn drop(&mut self) {
        let _ = self.abort_parts();
    }
}

impl Write for Upload<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(parts) = self.parts.as_mut() else {
            return Err(io::Error::other("the upload is over"));
        };
        // A full part starts uploading inside `write` (a task on our
        // runtime); then wait until fewer than IN_FLIGHT are uploading.
        let _entered = self.remote.runtime.enter();
        parts.write(buf);
        self.remote
            .block_on(parts.wait_for_capacity(IN_FLIGHT))
            .map_err(|e| io::Error::other(one_line(&e)))?;
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
