//! `[http]`: the local dashboard and HTTP API.
//!
//! ```toml
//! [http]
//! bind = "127.0.0.1:8080"        # default: this machine only; "0.0.0.0:8080" for the LAN
//! writes = false                  # allow changing settings from the API and the settings page
//! token_file = "/etc/sungate/http-token"   # required when writes = true
//! command_burst = 5               # setting changes per device at once ...
//! command_interval = 2.0          # ... then one per this many seconds
//! ```
//!
//! Reads (the dashboard, `/api/...` GETs, `/metrics`) need no token. Every write needs the token
//! in an `Authorization: Bearer` header; it is read from `token_file` when the gateway starts
//! (checked with the config, like TLS files), never written into the config itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::source::{ConfigError, Secret, Source};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    #[serde(default)]
    bind: Option<Spanned<String>>,
    #[serde(default)]
    writes: Option<bool>,
    #[serde(default)]
    token_file: Option<Spanned<String>>,
    #[serde(default)]
    command_burst: Option<Spanned<u32>>,
    #[serde(default)]
    command_interval: Option<Spanned<f64>>,
}

pub const DEFAULT_HTTP_BIND: &str = "127.0.0.1:8080";

/// A checked `[http]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    pub bind: SocketAddr,
    pub writes: bool,
    /// Where the write token is kept, and the line of its key (for errors found on reading it).
    pub token_file: Option<(PathBuf, usize)>,
    pub command_burst: u32,
    pub command_interval: Duration,
}

impl HttpConfig {
    /// The defaults, as a `[http]` section with no keys gives them (the demo uses this).
    pub fn local(bind: SocketAddr) -> HttpConfig {
        HttpConfig {
            bind,
            writes: false,
            token_file: None,
            command_burst: 5,
            command_interval: Duration::from_secs(2),
        }
    }

    /// Read the write token: the file's first line, trimmed. An empty or unreadable file is an
    /// error (a write API with an empty token would be open to anyone).
    pub fn read_token(&self) -> Result<Option<Secret>, TokenError> {
        let Some((path, _)) = &self.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| TokenError {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let token = text.lines().next().unwrap_or("").trim();
        if token.len() < 8 {
            return Err(TokenError {
                path: path.display().to_string(),
                reason: "the token must be at least 8 characters on the file's first line".into(),
            });
        }
        Ok(Some(Secret::new(token)))
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("http token_file {path}: {reason}")]
pub struct TokenError {
    pub path: String,
    pub reason: String,
}

pub(super) fn parse(raw: &Spanned<RawHttp>, src: &Source) -> Result<HttpConfig, ConfigError> {
    let h = raw.get_ref();
    let bind = match &h.bind {
        None => DEFAULT_HTTP_BIND.parse().map_err(|_| src.top("bad default bind"))?,
        Some(b) => b.get_ref().parse::<SocketAddr>().map_err(|_| {
            src.at(
                b.span(),
                format!(
                    "http bind {:?} is not an address with a port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
                    b.get_ref()
                ),
            )
        })?,
    };
    let writes = h.writes.unwrap_or(false);
    let token_file = h
        .token_file
        .as_ref()
        .map(|t| (PathBuf::from(t.get_ref()), src.line(t.span())));
    if writes && token_file.is_none() {
        return Err(src.at(
            raw.span(),
            "[http] writes = true needs token_file: a file holding the secret every write must \
             present (e.g. `head -c 24 /dev/urandom | base64 > /etc/sungate/http-token`)",
        ));
    }
    Ok(HttpConfig {
        bind,
        writes,
        token_file,
        command_burst: src.within(&h.command_burst, 5, 1..=100, "http command_burst")?,
        command_interval: src.seconds(
            &h.command_interval,
            2.0,
            0.1..=3600.0,
            "http command_interval",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const DEV: &str = "[[port]]\nname = \"p\"\nserial = \"/dev/x\"\n[[device]]\nname = \"inverter\"\ndriver = \"pi30\"\nport = \"p\"\n";

    fn parse(http: &str) -> Result<Config, String> {
        Config::parse(&format!("{DEV}[http]\n{http}"), "t").map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_local_and_read_only() {
        let c = parse("").unwrap();
        let h = c.http.unwrap();
        assert_eq!(h.bind.to_string(), "127.0.0.1:8080");
        assert!(!h.writes);
        assert!(h.token_file.is_none());
        assert!(Config::parse(DEV, "t").unwrap().http.is_none());
    }

    #[test]
    fn writes_need_a_token_file() {
        let err = parse("writes = true\n").unwrap_err();
        assert!(err.starts_with("t:8:"), "{err}");
        assert!(err.contains("token_file"), "{err}");
        let c = parse("writes = true\ntoken_file = \"/etc/t\"\nbind = \"0.0.0.0:80\"\n").unwrap();
        let h = c.http.unwrap();
        assert_eq!(h.token_file, Some(("/etc/t".into(), 10)));
        assert_eq!(h.bind.to_string(), "0.0.0.0:80");
    }

    #[test]
    fn bad_values_name_their_line() {
        for (text, line, needle) in [
            ("bind = \"localhost\"\n", 9, "not an address"),
            ("command_burst = 0\n", 9, "command_burst"),
            ("listen = 1\n", 9, "unknown field"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(&format!("t:{line}:")), "{text}: {err}");
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn the_token_is_read_from_its_file_and_must_be_long_enough() {
        let dir = std::env::temp_dir().join(format!("sungate-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, "s3cret-token-value\nignored\n").unwrap();
        let short = dir.join("short");
        std::fs::write(&short, "abc\n").unwrap();
        let mut h = super::HttpConfig::local("127.0.0.1:1".parse().unwrap());
        h.token_file = Some((good, 1));
        assert_eq!(
            h.read_token().unwrap().unwrap().expose(),
            "s3cret-token-value"
        );
        h.token_file = Some((short, 1));
        assert!(
            h.read_token()
                .unwrap_err()
                .to_string()
                .contains("at least 8")
        );
        h.token_file = Some((dir.join("missing"), 1));
        assert!(h.read_token().unwrap_err().to_string().contains("missing"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
