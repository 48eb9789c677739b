//! `pg_dump -Ft` tar archives: `toc.dat` first (the archive header and TOC,
//! read by `archive`, naming a member per entry's data), then the data
//! members `NNNN.dat` (COPY text) in dump order, `restore.sql` last.
//! Read as a stream: every member once, in archive order.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{Context, Result, bail};

use super::archive::{self, ArchiveReader, DataPlace, FORMAT_TAR, Toc};
use super::{Meta, Visitor};
use crate::codec::Codec;

pub fn read(input: Box<dyn Read + Send>, visitor: &mut dyn Visitor) -> Result<()> {
    let mut archive = tar::Archive::new(input);
    let mut toc: Option<Toc> = None;
    let mut wanted: HashMap<String, usize> = HashMap::new();
    let mut seen = Vec::new();
    let entries = archive.entries().context("cannot read the tar archive")?;
    for (n, member) in entries.enumerate() {
        let mut member = member.with_context(|| {
            format!(
                "tar member {}: the tar archive is damaged or truncated",
                n + 1
            )
        })?;
        let name = member
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = name.trim_start_matches("./").to_string();
        if name == "toc.dat" {
            if toc.is_some() {
                bail!("the tar archive holds toc.dat twice");
            }
            let mut r = ArchiveReader::new(&mut member);
            let t = archive::read_toc(&mut r, FORMAT_TAR, visitor).context("toc.dat")?;
            for (i, e) in t.entries.iter().enumerate() {
                if let DataPlace::File(Some(f)) = &e.place
                    && e.is_table_data()
                    && e.had_dumper
                {
                    wanted.insert(f.clone(), i);
                }
            }
            seen = vec![false; t.entries.len()];
            toc = Some(t);
            continue;
        }
        let Some(t) = &toc else {
            if name.ends_with(".dat") {
                bail!(
                    "the tar archive has the data member {name} before toc.dat: it is not pg_dump's"
                );
            }
            continue;
        };
        let Some(&i) = wanted.get(&name) else {
            continue; // restore.sql, large objects and other entries' data
        };
        if std::mem::replace(&mut seen[i], true) {
            bail!("the tar archive holds {name} twice");
        }
        let codec = if name.ends_with(".gz") {
            Codec::Gzip
        } else {
            Codec::None
        };
        let size = member.size();
        let mut counted = CountedMember {
            inner: &mut member,
            n: 0,
        };
        let visited = archive::read_table_data(t, &t.entries[i], &mut counted, codec, visitor);
        // The tar reader ends a cut member quietly: its size says, and a
        // cut explains whatever went wrong in its rows (a half row).
        let drained = std::io::copy(&mut counted, &mut std::io::sink());
        if counted.n != size {
            bail!(
                "the tar archive ends inside member {name} (the data of {}), after {} of its {size} bytes: it is truncated",
                t.entries[i].table(),
                counted.n
            );
        }
        visited.with_context(|| format!("tar member {name}"))?;
        drained.with_context(|| format!("tar member {name}"))?;
    }
    let Some(t) = toc else {
        bail!("the tar archive has no toc.dat: it is not a pg_dump -Ft archive");
    };
    if let Some(missing) = wanted.values().filter(|&&i| !seen[i]).min() {
        let e = &t.entries[*missing];
        bail!(
            "the tar archive ends before the data of {} (TOC entry {}, member {}): it is truncated",
            e.table(),
            e.dump_id,
            match &e.place {
                DataPlace::File(Some(f)) => f.as_str(),
                _ => "?",
            }
        );
    }
    visitor.meta(Meta::Complete);
    Ok(())
}

struct CountedMember<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for CountedMember<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}
