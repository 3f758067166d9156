//! Voltronic "PI18" protocol (InfiniSolar V, MPP Solar LV5048 "Hybrid V2", Easun SV, Crown Micro
//! Elego …; spec `PI18_InfiniSolar-V-protocol-20170926`, reference notes in
//! `../shared/reference/pi18/`).
//!
//! Frames: requests `^P<nnn><command>` (queries) and `^S<nnn><command>` (setters), replies
//! `^D<nnn><comma-separated payload>`, accept/refuse `^1`/`^0`; every frame ends with a
//! CRC-16/XMODEM (the same as PI30's, over the header too) and CR. `nnn` counts the bytes after
//! the 5-byte header.
//!
//! Sans-IO layers, each a set of pure functions, organised like [`crate::pi30`] (the CRC, the frame
//! checks and the field and setter helpers both use are in the crate-private `voltronic` module):
//! - [`codec`]: frames (length field, CRC with the reserved-byte increment, `^1`/`^0`, `(NAK`,
//!   echoes);
//! - [`fields`]: reply payloads -> typed [`crate::Reading`]s with PI30's field names where the
//!   meaning is the same;
//! - [`queries`]: typed queries (names, request frames) and the MCHGCR/MUCHGCR current lists;
//! - [`setters`]: validated setters (limits, read-back descriptions);
//! - [`driver`]: the [`crate::driver::Driver`] built on them (identify, poll, verified setters).
pub mod codec;
pub mod driver;
mod enums;
pub mod error;
pub mod fields;
pub mod queries;
pub mod setters;
#[cfg(test)]
mod vectors_test;

pub use codec::{
    DecodeOptions, Reply, RequestKind, crc_xmodem, decode_reply, encode_query, encode_reply,
    encode_set,
};
pub use error::{DecodeError, EncodeError, FrameError, Pi18Error, ValidationError};
pub use fields::{decode_frame, decode_payload};
pub use queries::Query;
pub use setters::{
    Readback, Setter, UnitLimits, current_choice, parse_command, parse_setter, setter_specs,
};
