//! Errors of the VE.Direct device models (control API side; the wire side never fails, it answers
//! with HEX error frames as the BMV/MPPT HEX protocol documents prescribe).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum SimError {
    #[error("unknown environment key `{0}`")]
    UnknownKey(String),
    #[error("invalid value for `{key}`: {reason}")]
    InvalidValue { key: String, reason: String },
}

impl SimError {
    pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> Self {
        SimError::InvalidValue {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A finite number from a JSON value.
pub(crate) fn number(key: &str, value: &serde_json::Value) -> Result<f64, SimError> {
    match value.as_f64() {
        Some(v) if v.is_finite() => Ok(v),
        _ => Err(SimError::invalid(key, "expected a finite number")),
    }
}

/// A finite number within `[lo, hi]`.
pub(crate) fn number_in(
    key: &str,
    value: &serde_json::Value,
    lo: f64,
    hi: f64,
) -> Result<f64, SimError> {
    let v = number(key, value)?;
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(SimError::invalid(
            key,
            format!("{v} is outside {lo}..={hi}"),
        ))
    }
}

/// A number, or `null` for "not available".
pub(crate) fn optional_number_in(
    key: &str,
    value: &serde_json::Value,
    lo: f64,
    hi: f64,
) -> Result<Option<f64>, SimError> {
    if value.is_null() {
        Ok(None)
    } else {
        number_in(key, value, lo, hi).map(Some)
    }
}
