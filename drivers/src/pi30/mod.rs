//! Voltronic "PI30" ASCII protocol (Axpert, MPP Solar, Easun, SKYMAX ...).
//!
//! Sans-IO layers, each a set of pure functions:
//! - [`codec`]: frames (CRC-16/XMODEM, escaping, ACK/NAK, PI17 `^0` detection, echoes);
//! - [`fields`]: reply payloads -> typed [`crate::Reading`]s with mpp-solar's field names;
//! - [`energy`]: the PI30MAX lifetime energy counters (QET, QLT) in kWh;
//! - [`queries`]: typed queries (names, parsing) and the QMCHGCR/QMUCHGCR current lists;
//! - [`setters`]: validated setters (limits, read-back descriptions).
//!
//! The CRC, the frame checks and the field and setter helpers it shares with [`crate::pi18`] are
//! in the crate-private `voltronic` module.
pub mod codec;
pub mod driver;
pub mod energy;
pub(crate) mod enums;
pub mod error;
pub mod fields;
pub mod queries;
pub mod setters;

pub use codec::{DecodeOptions, EncodeOptions, Reply, crc_xmodem, decode_reply, encode_command};
pub use error::{DecodeError, FrameError, Pi30Error, ValidationError};
pub use fields::{Variant, decode_frame, decode_payload};
pub use queries::Query;
pub use setters::{
    Readback, Setter, SetterSpec, SpecKind, UnitLimits, current_choice, parse_setter, setter_specs,
};
