//! Transports: how a port reaches a device. Serial and TCP are async byte streams wrapped in a
//! [`crate::link::StreamLink`]; USB HID ([`hid`]) speaks 8-byte reports behind the same `Link`.

pub mod hid;
pub mod serial;
pub mod tcp;
