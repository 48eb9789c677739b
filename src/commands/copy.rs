//! `textrescue copy`: the backups of a folder not yet in a bucket, copied
//! (after an outage, or for backups made before `--copy-to`); and the
//! `--copy-to` options `backup` shares.

use std::path::PathBuf;

use anyhow::{Result, anyhow};

use crate::backup::copy::{self, Copied, CopyTo};
use crate::counts::{human_size, plural};
use crate::remote::seal::Recipients;
use crate::remote::{Location, Remote};

/// `backup`'s options for an off-host copy.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CopyArgs {
    /// After the backup is verified, copy it to this bucket folder
    /// (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION),
    /// check the copy, and apply the --keep-* rules there too.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub copy_to: Option<String>,
    /// The S3-compatible service's URL (B2, R2, MinIO...; default: AWS_ENDPOINT_URL, else AWS).
    #[arg(long, value_name = "URL", requires = "copy_to")]
    pub s3_endpoint: Option<String>,
    /// Encrypt the copy to this age public key (age1...; repeatable): the
    /// copy is NAME.age, and only the holder of the private key reads it.
    #[arg(long, value_name = "RECIPIENT", requires = "copy_to")]
    pub encrypt_to: Vec<String>,
    /// Encrypt the copy to the age public keys in FILE (one a line, # comments).
    #[arg(long, value_name = "FILE", requires = "copy_to")]
    pub encrypt_to_file: Vec<PathBuf>,
}

impl CopyArgs {
    /// The bucket and keys, checked (nothing is contacted yet); `None`
    /// without `--copy-to`.
    pub fn copy_to(&self) -> Result<Option<CopyTo>> {
        let Some(url) = &self.copy_to else {
            return Ok(None);
        };
        connect(
            url,
            self.s3_endpoint.as_deref(),
            &self.encrypt_to,
            &self.encrypt_to_file,
        )
        .map(Some)
    }
}

fn connect(
    url: &str,
    endpoint: Option<&str>,
    keys: &[String],
    files: &[PathBuf],
) -> Result<CopyTo> {
    let location = Location::parse(url).map_err(super::settings::as_usage)?;
    let recipients = Recipients::parse(keys, files).map_err(super::settings::as_usage)?;
    let remote = Remote::connect(&location, endpoint).map_err(super::settings::as_usage)?;
    Ok(CopyTo {
        remote,
        recipients,
        stop: None,
    })
}

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "\
Examples:
  textrescue copy /buggy/server/db/backups --to s3://race-backups/nightly \\
      --s3-endpoint https://s3.eu-central-003.backblazeb2.com \\
      --encrypt-to age1...
A backup already in the bucket (same name, same bytes) is skipped: run it again
after any failure. Stops at the first backup it cannot copy (exit status 1).")]
pub struct Args {
    /// The backups folder.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The bucket folder.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub to: String,
    /// The S3-compatible service's URL (default: AWS_ENDPOINT_URL, else AWS).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Encrypt the copies to this age public key (age1...; repeatable).
    #[arg(long, value_name = "RECIPIENT")]
    pub encrypt_to: Vec<String>,
    /// Encrypt the copies to the age public keys in FILE.
    #[arg(long, value_name = "FILE")]
    pub encrypt_to_file: Vec<PathBuf>,
    /// Only the backups with this file name prefix (default: every backup in DIR).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Print nothing on success.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let mut to = connect(
        &args.to,
        args.s3_endpoint.as_deref(),
        &args.encrypt_to,
        &args.encrypt_to_file,
    )?;
    to.stop = Some(crate::signals::stop_flag()?);
    let backups = copy::local_backups(&args.dir, args.prefix.as_deref())?;
    let (mut sent, mut there, mut bytes) = (0usize, 0usize, 0u64);
    for path in &backups {
        match to.copy_one(path) {
            Ok(Copied::Sent { name, bytes: n }) => {
                sent += 1;
                bytes += n;
                if !args.quiet {
                    println!(
                        "copied {} ({})",
                        to.remote.location.display(&name),
                        human_size(n)
                    );
                }
            }
            Ok(Copied::AlreadyThere { .. }) => there += 1,
            Err(e) => {
                return Err(anyhow!(
                    "{e:#} (copied {sent} of {} backup{} before it; run again to go on)",
                    backups.len(),
                    plural(backups.len())
                ));
            }
        }
    }
    if !args.quiet {
        println!(
            "{}: {sent} backup{} copied ({}), {there} already there",
            to.remote.location,
            plural(sent),
            human_size(bytes)
        );
    }
    Ok(())
}
