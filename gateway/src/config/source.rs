//! What every section parser shares: the error type, the text being parsed (to turn spans
//! into `file:line`), checks of names and numbers, and secrets that are never shown.

use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use thiserror::Error;
use toml::Spanned;

#[derive(Debug, Error)]
pub enum ConfigError {
    /// The cause is part of the message (not a `source()`, which would print it twice).
    #[error("cannot read {path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    /// `file:line: message`
    #[error("{file}:{line}: {message}")]
    At {
        file: String,
        line: usize,
        message: String,
    },
}

/// The text being parsed, to turn byte spans into `file:line` errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
}

impl Source<'_> {
    pub(super) fn line(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// An error at the line of `span`.
    pub(crate) fn at(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::At {
            file: self.file.to_owned(),
            line: self.line(span),
            message: message.into(),
        }
    }

    /// An error that belongs to no key in particular.
    pub(crate) fn top(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::At {
            file: self.file.to_owned(),
            line: 1,
            message: message.into(),
        }
    }

    /// An optional number within `range` (inclusive), or `default`.
    pub(crate) fn within<T>(
        &self,
        value: &Option<Spanned<T>>,
        default: T,
        range: RangeInclusive<T>,
        what: &str,
    ) -> Result<T, ConfigError>
    where
        T: PartialOrd + Copy + std::fmt::Display,
    {
        match value {
            None => Ok(default),
            Some(v) if range.contains(v.get_ref()) => Ok(*v.get_ref()),
            Some(v) => Err(self.at(
                v.span(),
                format!(
                    "{what} must be within {}..={}, got {}",
                    range.start(),
                    range.end(),
                    v.get_ref()
                ),
            )),
        }
    }

    /// Optional seconds within `range`, or `default`.
    pub(crate) fn seconds(
        &self,
        value: &Option<Spanned<f64>>,
        default: f64,
        range: RangeInclusive<f64>,
        what: &str,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(Duration::from_secs_f64(default)),
            Some(v) if v.get_ref().is_finite() && range.contains(v.get_ref()) => {
                Ok(Duration::from_secs_f64(*v.get_ref()))
            }
            Some(v) => Err(self.at(
                v.span(),
                format!(
                    "{what} must be within {}..={} seconds, got {}",
                    range.start(),
                    range.end(),
                    v.get_ref()
                ),
            )),
        }
    }

    /// A name of a port, device or bridge: used in topics and logs.
    pub(crate) fn name(&self, name: &Spanned<String>, what: &str) -> Result<String, ConfigError> {
        if valid_name(name.get_ref()) {
            Ok(name.get_ref().clone())
        } else {
            Err(self.at(
                name.span(),
                format!(
                    "{what} name {:?} must be 1-64 letters, digits, '-' or '_'",
                    name.get_ref()
                ),
            ))
        }
    }
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Keys whose values are secrets: never echoed in an error message or a log line.
const SECRET_KEYS: &[&str] = &["password"];

/// The secret key whose value is at byte `pos` of `text`, if any: a secret key before `pos` on
/// the same line (errors point at the value).
pub(super) fn secret_key_at(text: &str, pos: usize) -> Option<&'static str> {
    let before = text.get(..pos.min(text.len()))?;
    let line = before.rsplit('\n').next().unwrap_or(before);
    SECRET_KEYS.iter().copied().find(|key| line.contains(key))
}

/// A secret from the config (a password): usable, but never shown by `Debug`, so that no log
/// line or error message that prints a config can leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}
