//! Pings in the healthchecks.io convention: `URL/start` when a run begins,
//! `URL` when it succeeded, `URL/fail` when it failed (with what failed as
//! the request body). A ping that does not get through is a warning line on
//! stderr, never a failure of the run: the monitoring notices the missing
//! ping by itself.
//!
//! Each ping is a POST with a 10 s timeout, tried up to three times (a
//! second apart, then two) when the server cannot be reached or answers
//! 5xx. Once a ping of a run has not got through, the run's later pings are
//! tried once and their failures not said again: one warning line per run,
//! and a cron job not held up by a monitoring server that is down.
//! Warnings name the server, never the whole URL: a healthchecks.io ping
//! URL is a secret that lets anyone report on the check.

use std::cell::Cell;
use std::time::Duration;

use anyhow::{Result, bail};

/// How long one try may take, connection and answer together.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a ping is tried.
pub const TRIES: u32 = 3;
/// The most of a failure's text sent (healthchecks.io keeps 100 kB).
const MAX_BODY: usize = 10_000;

/// Where to ping.
#[derive(Debug, Clone)]
pub struct Ping {
    /// The URL without a trailing `/` or query: the suffixes go after it.
    base: String,
    /// `?...` of the URL given, kept after the suffix.
    query: String,
    agent: ureq::Agent,
    /// Between tries (shortened by the tests of this module).
    pause: Duration,
    /// A ping of this run has not got through.
    failed: Cell<bool>,
}

impl Ping {
    /// Pings to `url` (`http://` or `https://`).
    pub fn new(url: &str) -> Result<Ping> {
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.contains(char::is_whitespace)
        {
            bail!("--ping takes an http:// or https:// URL, like https://hc-ping.com/<uuid>");
        }
        let (base, query) = match url.find('?') {
            Some(q) => url.split_at(q),
            None => (url, ""),
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .user_agent(concat!("textrescue/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Ping {
            base: base.trim_end_matches('/').to_string(),
            query: query.to_string(),
            agent: config.into(),
            pause: Duration::from_secs(1),
            failed: Cell::new(false),
        })
    }

    /// The run has begun.
    pub fn start(&self) {
        self.send("/start", "");
    }

    /// The run succeeded; `summary` (may be empty) goes as the body.
    pub fn success(&self, summary: &str) {
        self.send("", summary);
    }

    /// The run failed; `why` goes as the body.
    pub fn fail(&self, why: &str) {
        self.send("/fail", why);
    }

    /// Sends one ping; says on stderr if it did not get through.
    fn send(&self, suffix: &str, body: &str) {
        let tries = if self.failed.get() { 1 } else { TRIES };
        if let Err(why) = self.try_send(suffix, body, tries)
            && !self.failed.replace(true)
        {
            crate::escape::warn(&format!(
                "the {} ping to {} did not get through ({why}); the run goes on, its later \
                 pings tried once",
                match suffix {
                    "" => "success",
                    s => &s[1..],
                },
                self.server()
            ));
        }
    }

    fn try_send(&self, suffix: &str, body: &str, tries: u32) -> Result<(), String> {
        let url = format!("{}{suffix}{}", self.base, self.query);
        let body = cut(body, MAX_BODY);
        let mut last = String::new();
        for attempt in 0..tries {
            if attempt > 0 {
                std::thread::sleep(self.pause * attempt);
            }
            let answer = self
                .agent
                .post(&url)
                .header("Content-Type", "text/plain; charset=utf-8")
                .send(body.as_bytes());
            match answer {
                Ok(_) => return Ok(()),
                Err(ureq::Error::StatusCode(code)) if code < 500 => {
                    return Err(format!("the server answered HTTP {code}"));
                }
                Err(e) => last = self.describe(&e),
            }
        }
        Err(match tries {
            1 => last,
            n => format!("{last}; {n} tries"),
        })
    }

    /// `scheme://host[:port]`, for messages.
    fn server(&self) -> &str {
        let after_scheme = self.base.find("://").map_or(0, |i| i + 3);
        let end = self.base[after_scheme..]
            .find('/')
            .map_or(self.base.len(), |i| after_scheme + i);
        &self.base[..end]
    }

    /// An error without the URL in it.
    fn describe(&self, e: &ureq::Error) -> String {
        let text = match e {
            ureq::Error::StatusCode(code) => format!("the server answered HTTP {code}"),
            ureq::Error::Timeout(_) => format!("no answer within {} s", TIMEOUT.as_secs()),
            ureq::Error::Io(io) => io.to_string(),
            other => other.to_string(),
        };
        text.replace(&self.base, self.server())
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let p = Ping::new("https://hc-ping.com/abc-123/").unwrap();
        assert_eq!(p.base, "https://hc-ping.com/abc-123");
        assert_eq!(p.server(), "https://hc-ping.com");
        let p = Ping::new("http://127.0.0.1:9/ping/x?rid=7").unwrap();
        assert_eq!(p.base, "http://127.0.0.1:9/ping/x");
        assert_eq!(p.query, "?rid=7");
        assert_eq!(p.server(), "http://127.0.0.1:9");
        for bad in ["hc-ping.com/x", "ftp://x", "https://x y", ""] {
            assert!(Ping::new(bad).is_err(), "{bad}");
        }
        assert_eq!(cut("aé", 2), "a");
    }

    #[test]
    fn a_closed_port_is_tried_three_times_and_only_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut p = Ping::new(&format!("http://127.0.0.1:{port}/x")).unwrap();
        p.pause = Duration::from_millis(1);
        let e = p.try_send("/fail", "why", TRIES).unwrap_err();
        assert!(e.ends_with("3 tries"), "{e}");
        assert!(!e.contains("/x"), "{e}");
    }
}
