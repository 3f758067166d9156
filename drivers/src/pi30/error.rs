//! Error types of the PI30 codec.
//!
//! Four layers, four types: the frame layer ([`FrameError`]: bytes -> payload), the field layer
//! ([`DecodeError`]: payload -> typed fields), the setter layer ([`ValidationError`]: user input ->
//! command string) and [`Pi30Error`], which wraps the first two plus the non-data replies that a
//! query must not be answered with (NAK, a PI17/PI18 reply, an echo).

use thiserror::Error;

/// A reply frame could not be turned into a payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("empty frame")]
    Empty,
    #[error("frame is not terminated by <CR>")]
    Unterminated,
    #[error("frame too short ({len} bytes before <CR>)")]
    TooShort { len: usize },
    #[error("CRC mismatch: expected 0x{expected:04X}, got 0x{got:04X}")]
    Crc { expected: u16, got: u16 },
    #[error("non-ASCII or control byte 0x{byte:02X} in payload at offset {offset}")]
    NonAscii { offset: usize, byte: u8 },
    #[error("bad start byte 0x{byte:02X} (expected '(')")]
    BadStart { byte: u8 },
    #[error("reply carries no payload")]
    EmptyPayload,
}

/// A payload could not be decoded into fields.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("unsupported query {0:?}")]
    UnknownQuery(String),
    #[error(
        "{query}: field {position} ({field}) is missing: reply has {got} fields, needs at least {required}"
    )]
    MissingField {
        query: String,
        field: &'static str,
        position: usize,
        got: usize,
        required: usize,
    },
    #[error("{query}: field {field} is not a number: {token:?}")]
    InvalidNumber {
        query: String,
        field: &'static str,
        token: String,
    },
    #[error("{query}: field {field} is not a 0/1 flag string: {token:?}")]
    InvalidFlags {
        query: String,
        field: &'static str,
        token: String,
    },
    #[error("{query}: {reason}")]
    InvalidPayload { query: String, reason: String },
    /// A number outside its field's physical range (see [`crate::plausible`]): the CRC was
    /// right, so the unit itself sent it, but no dashboard should plot it.
    #[error("{query}: field {field} = {value} is implausible (allowed {min} ..= {max})")]
    Implausible {
        query: String,
        field: String,
        value: String,
        min: String,
        max: String,
    },
}

/// A setter was refused before any command string was built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    #[error("unknown setting {name:?}; known settings: {known}")]
    UnknownSetting { name: String, known: String },
    #[error("{setting}: invalid value {value:?}; expected {expected}")]
    InvalidFormat {
        setting: &'static str,
        value: String,
        expected: String,
    },
    #[error("{setting}: {value} is out of range; allowed: {allowed}")]
    OutOfRange {
        setting: &'static str,
        value: String,
        allowed: String,
    },
    #[error("{setting}: {value} is not accepted by this unit; the unit allows: {allowed}")]
    NotAllowedByUnit {
        setting: &'static str,
        value: String,
        allowed: String,
    },
    #[error("unrecognised command string {0:?}")]
    UnknownCommand(String),
}

/// Everything that can go wrong turning a reply frame into a reading.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Pi30Error {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("unit refused the command (NAK)")]
    Nak,
    #[error("unit answered {0:?}: this unit speaks PI17/PI18, not PI30")]
    ProtocolMismatch(String),
    #[error("unit echoed the command {0:?}: not supported by this unit")]
    Echo(String),
}
