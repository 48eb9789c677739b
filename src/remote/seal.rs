//! age encryption of copies, to keys the server does not hold: recipients
//! (`age1...` public keys) to encrypt to, identities (private keys, on the
//! machine that reads the copies) to decrypt with. An encrypted copy is the
//! age file of the backup's bytes, named `NAME.age`: `age -d -i KEY NAME.age
//! | gunzip` reads it without textrescue.
//!
//! Fail closed: recipients are parsed, all of them, before anything is
//! uploaded, and a copy asked to be encrypted is never sent any other way
//! (WAL-G once uploaded in clear when its key could not be used,
//! CVE-2021-38599).

use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};

/// The extension of an encrypted copy.
pub const EXTENSION: &str = ".age";

/// The public keys a copy is encrypted to (at least one).
pub struct Recipients(Vec<age::x25519::Recipient>);

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipients({})", self.0.len())
    }
}

impl Recipients {
    /// `--encrypt-to` keys and the keys in each `--encrypt-to-file` (one a
    /// line; blank lines and `#` comments skipped). `None` when neither was
    /// given; an error naming the first key that is not an age public key,
    /// or a file that holds none.
    pub fn parse(keys: &[String], files: &[std::path::PathBuf]) -> Result<Option<Recipients>> {
        if keys.is_empty() && files.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for key in keys {
            out.push(parse_key(key.trim()).map_err(|e| anyhow!("--encrypt-to: {e}"))?);
        }
        for file in files {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("--encrypt-to-file {}", file.display()))?;
            let before = out.len();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                out.push(parse_key(line).map_err(|e| {
                    anyhow!("--encrypt-to-file {} line {}: {e}", file.display(), n + 1)
                })?);
            }
            if out.len() == before {
                bail!("--encrypt-to-file {}: no recipient in it", file.display());
            }
        }
        Ok(Some(Recipients(out)))
    }

    /// A writer that encrypts into `output`; its `finish` ends the age file.
    pub fn encrypt<W: Write>(&self, output: W) -> Result<age::stream::StreamWriter<W>> {
        let encryptor =
            age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| anyhow!("cannot encrypt: {e}"))?;
        encryptor
            .wrap_output(output)
            .map_err(|e| anyhow!("cannot encrypt: {e}"))
    }
}

fn parse_key(key: &str) -> Result<age::x25519::Recipient> {
    if key.starts_with("AGE-SECRET-KEY-") {
        bail!(
            "that is a secret key (AGE-SECRET-KEY-...): give its public key (age1...), and keep the secret key off this server"
        );
    }
    let shown: String = key.chars().take(20).collect();
    age::x25519::Recipient::from_str(key)
        .map_err(|_| anyhow!("{shown:?}... is not an age public key (age1...)"))
}

/// The private keys `--identity FILE` holds (age's identity file format,
/// what `age-keygen -o FILE` writes).
pub struct Identities(Vec<Box<dyn age::Identity + Send + Sync>>);

impl Identities {
    pub fn from_file(path: &Path) -> Result<Identities> {
        let file = age::IdentityFile::from_file(path.to_string_lossy().into_owned())
            .map_err(|e| anyhow!("--identity {}: {e}", path.display()))?;
        let ids = file
            .into_identities()
            .map_err(|e| anyhow!("--identity {}: {e}", path.display()))?;
        if ids.is_empty() {
            bail!("--identity {}: no identity in it", path.display());
        }
        Ok(Identities(ids))
    }

    /// The plaintext of the age file `input` (seekable when `input` is).
    /// `what` names it in the one-line error a wrong key gets.
    pub fn decrypt<R: Read>(&self, input: R, what: &str) -> Result<age::stream::StreamReader<R>> {
        let decryptor = age::Decryptor::new(input)
            .map_err(|e| anyhow!("{what}: not a readable age file: {e}"))?;
        decryptor
            .decrypt(self.0.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => anyhow!(
                    "{what}: none of the keys in --identity can decrypt it (encrypted to other keys)"
                ),
                e => anyhow!("{what}: cannot decrypt: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_recipients_fail_before_anything() {
        assert!(Recipients::parse(&[], &[]).unwrap().is_none());
        let e = Recipients::parse(&["age1nope".into()], &[]).unwrap_err();
        assert!(e.to_string().contains("not an age public key"), "{e}");
        let secret = age::x25519::Identity::generate();
        let public = secret.to_public().to_string();
        assert!(
            Recipients::parse(std::slice::from_ref(&public), &[])
                .unwrap()
                .is_some()
        );
        use age::secrecy::ExposeSecret;
        let e =
            Recipients::parse(&[secret.to_string().expose_secret().to_string()], &[]).unwrap_err();
        assert!(e.to_string().contains("secret key"), "{e}");
    }

    #[test]
    fn round_trip_and_wrong_key() {
        let secret = age::x25519::Identity::generate();
        let recipients = Recipients(vec![secret.to_public()]);
        let mut sealed = Vec::new();
        let mut w = recipients.encrypt(&mut sealed).unwrap();
        w.write_all(b"hello").unwrap();
        w.finish().unwrap();
        let ids = Identities(vec![Box::new(secret)]);
        let mut out = Vec::new();
        ids.decrypt(&sealed[..], "x")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello");
        let other = Identities(vec![Box::new(age::x25519::Identity::generate())]);
        let e = other.decrypt(&sealed[..], "x").err().unwrap();
        assert!(e.to_string().contains("none of the keys"), "{e}");
    }
}
