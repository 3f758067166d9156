//! Error types of the PI18 codec (InfiniSolar-V protocol, `PI18_InfiniSolar-V-protocol-20170926`).
//!
//! Frame layouts the errors refer to: requests `^P<nnn><command><CRC hi><CRC lo><CR>` (setters
//! `^S<nnn>…`), data replies `^D<nnn><payload><CRC hi><CRC lo><CR>`, accept/refuse `^1`/`^0` +
//! CRC + CR, where `nnn` counts every byte after the 5-byte header (command or payload, the two
//! CRC bytes and the CR).
//!
//! Layers as in [`crate::pi30::error`]: [`EncodeError`] (command text -> request bytes),
//! [`FrameError`] (reply bytes -> payload: PI30's frame errors, which it converts from, plus the
//! header and length-field checks), [`DecodeError`] (payload -> typed fields, the same
//! type as PI30's), [`ValidationError`] (user input -> setter, the same type as PI30's) and
//! [`Pi18Error`], which wraps the frame and field layers plus the replies a query must not be
//! answered with (`^0`, `(NAK`, a PI30-framed reply, an echo).

use thiserror::Error;

pub use crate::pi30::error::{DecodeError, ValidationError};

/// A command text could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("empty command")]
    Empty,
    #[error("non-ASCII or control byte 0x{byte:02X} in command at offset {offset}")]
    NonAscii { offset: usize, byte: u8 },
    #[error("command of {len} bytes does not fit the 3-digit length field")]
    TooLong { len: usize },
}

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
    #[error("bad start byte 0x{byte:02X} (expected '^')")]
    BadStart { byte: u8 },
    #[error("bad frame header {header:?} (expected ^D, ^P or ^S and three digits, or ^0/^1)")]
    BadHeader { header: String },
    #[error("length field says {declared} bytes after the header, the frame has {actual}")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("reply carries no payload")]
    EmptyPayload,
}

/// The frame checks both protocols share (CR and padding, CRC, printable ASCII) report PI30's
/// frame errors; every PI30 frame error has a PI18 variant with the same fields.
impl From<crate::pi30::error::FrameError> for FrameError {
    fn from(e: crate::pi30::error::FrameError) -> Self {
        use crate::pi30::error::FrameError as Pi30;
        match e {
            Pi30::Empty => FrameError::Empty,
            Pi30::Unterminated => FrameError::Unterminated,
            Pi30::TooShort { len } => FrameError::TooShort { len },
            Pi30::Crc { expected, got } => FrameError::Crc { expected, got },
            Pi30::NonAscii { offset, byte } => FrameError::NonAscii { offset, byte },
            Pi30::BadStart { byte } => FrameError::BadStart { byte },
            Pi30::EmptyPayload => FrameError::EmptyPayload,
        }
    }
}

/// Everything that can go wrong turning a reply frame into a reading.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Pi18Error {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// `^0`: refused, or a query this firmware does not support.
    #[error("unit refused the command (^0)")]
    Refused,
    /// A PI30-style `(NAK`, reported from PI18 units for malformed commands.
    #[error("unit refused the command with a PI30-style (NAK")]
    Nak,
    #[error("unit answered in PI30 framing ({0:?}): it does not speak PI18")]
    ProtocolMismatch(String),
    #[error("unit echoed the request {0:?}: not supported by this unit")]
    Echo(String),
}
