//! Transports: how a port reaches a device. Serial and TCP are async byte streams wrapped in a
//! [`crate::link::StreamLink`]; HID arrives in its own milestone behind the same `Link`.

pub mod serial;
pub mod tcp;
