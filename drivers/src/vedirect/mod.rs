//! Victron VE.Direct: the Text protocol and the HEX protocol.
pub mod fields;
pub mod hex;
pub mod registers;
pub mod text;
