//! Victron VE.Direct: the Text protocol and the HEX protocol.
//!
//! Specs (Victron's published documents): "VE.Direct Protocol" 3.33 (Text), the BMV-7xx and
//! BlueSolar/SmartSolar MPPT HEX documents. Golden vectors: vectors.md (H1..H48, T1..T10).
//!
//! - [`text`]: streaming Text parser ([`TextParser`]: bytes → verified blocks, HEX frames that
//!   arrive between or inside blocks, checksum failures) and [`RecordAssembler`] (blocks → one
//!   record per device update).
//! - [`validate`]: structural and plausibility checks of checksum-valid blocks against the
//!   spec's per-family label table and the device's previous blocks ([`TextValidator`]).
//! - [`fields`]: typed decoding of text records into a [`Reading`](crate::Reading).
//! - [`hex`]: HEX frames ([`HexFrame`]) — decode, encode, builders, request/response views.
//! - [`registers`]: the register table (ids, types, scales, "not available" values, access and
//!   setting ranges) and little-endian value conversion.
//!
//! Everything here is sans-IO: pure functions and small state machines over bytes.

pub mod driver;
pub mod fields;
pub mod hex;
pub mod registers;
pub mod text;
pub mod validate;

pub use fields::{decode_fields, product_name};
pub use hex::{
    HexCommand, HexError, HexFlags, HexFrame, HexRequest, HexResponse, RegisterFrame,
    checksum_byte, decode_frame,
};
pub use registers::{Access, Register, RegisterKind, lookup};
pub use text::{RecordAssembler, TextBlock, TextEvent, TextParser, TextStats};
pub use validate::{Family, Rejection, TextValidator, ValidatorStats};
