//! What a device does with one HEX request (BMV700 HEX protocol Rev 6 and MPPT HEX protocol
//! Rev 10, section 1: commands 1 ping, 3 app version, 4 product id, 6 restart, 7 get, 8 set;
//! responses 1 done, 3 unknown, 4 error 0xAAAA on framing errors, 5 ping, 7 get, 8 set; reply
//! flags 0x01 unknown id, 0x02 not supported, 0x04 parameter error).

use super::wire::{FrameError, decode_hex, encode_hex};

pub(crate) const CMD_PING: u8 = 0x1;
pub(crate) const CMD_APP_VERSION: u8 = 0x3;
pub(crate) const CMD_PRODUCT_ID: u8 = 0x4;
pub(crate) const CMD_RESTART: u8 = 0x6;
pub(crate) const CMD_GET: u8 = 0x7;
pub(crate) const CMD_SET: u8 = 0x8;
pub(crate) const CMD_ASYNC: u8 = 0xA;

pub(crate) const RSP_DONE: u8 = 0x1;
pub(crate) const RSP_UNKNOWN: u8 = 0x3;
pub(crate) const RSP_ERROR: u8 = 0x4;
pub(crate) const RSP_PING: u8 = 0x5;

pub(crate) const FLAG_UNKNOWN_ID: u8 = 0x01;
pub(crate) const FLAG_NOT_SUPPORTED: u8 = 0x02;
pub(crate) const FLAG_PARAMETER_ERROR: u8 = 0x04;

/// Result of reading a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegRead {
    Value(Vec<u8>),
    Unknown,
}

/// Result of writing a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegWrite {
    /// Accepted; the reply echoes the new value.
    Accepted(Vec<u8>),
    /// Out of range or wrong length; the reply carries the nearest valid (or current) value and
    /// the setting is unchanged (vectors H7, H8).
    ParameterError(Vec<u8>),
    /// Read-only register; the reply carries the current value.
    ReadOnly(Vec<u8>),
    Unknown,
}

/// The device side of the HEX protocol.
pub(crate) trait HexTarget {
    /// Ping / app version word (0x4000 | version digits).
    fn version_word(&self) -> u16;
    fn product_id(&self) -> u16;
    fn get_register(&self, id: u16) -> RegRead;
    fn set_register(&mut self, id: u16, value: &[u8]) -> RegWrite;
    /// Command 6: restart, no response.
    fn restart(&mut self);
    /// The serial line the device receives requests on and sends replies through.
    fn link_mut(&mut self) -> &mut super::link::Link;
}

/// Bytes the host wrote: frame them into HEX lines, handle each, queue the replies.
pub(crate) fn receive_hex(target: &mut impl HexTarget, bytes: &[u8]) {
    let mut lines = Vec::new();
    target
        .link_mut()
        .rx
        .feed(bytes, |line| lines.push(line.to_vec()));
    for line in lines {
        let handled = handle_line(target, &line);
        if handled.valid {
            target.link_mut().note_valid_hex();
        }
        if let Some(reply) = handled.reply {
            target.link_mut().push(reply);
        }
    }
}

/// What came of one received line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handled {
    /// The frame to transmit, if any.
    pub reply: Option<Vec<u8>>,
    /// The line was a valid HEX message (counts as HEX traffic for older implementations).
    pub valid: bool,
    /// A register was written successfully (id).
    pub written: Option<u16>,
}

/// Handle one `:`..(no `\n`) line.
pub(crate) fn handle_line(target: &mut impl HexTarget, line: &[u8]) -> Handled {
    let msg = match decode_hex(line) {
        Ok(msg) => msg,
        Err(FrameError::Framing) => {
            return Handled {
                reply: Some(encode_hex(RSP_ERROR, &[0xAA, 0xAA])),
                valid: false,
                written: None,
            };
        }
    };
    let mut written = None;
    let reply = match msg.cmd {
        CMD_PING => Some(encode_hex(RSP_PING, &target.version_word().to_le_bytes())),
        // Vectors H34: a malformed app-version request with a payload is still answered.
        CMD_APP_VERSION => Some(encode_hex(RSP_DONE, &target.version_word().to_le_bytes())),
        CMD_PRODUCT_ID => Some(encode_hex(RSP_DONE, &target.product_id().to_le_bytes())),
        CMD_RESTART => {
            target.restart();
            None
        }
        CMD_GET => {
            register_request(&msg.data).map(|(id_bytes, id, _)| match target.get_register(id) {
                RegRead::Value(v) => register_frame(CMD_GET, id_bytes, 0, &v),
                RegRead::Unknown => register_frame(CMD_GET, id_bytes, FLAG_UNKNOWN_ID, &[]),
            })
        }
        CMD_SET => register_request(&msg.data).map(|(id_bytes, id, value)| {
            match target.set_register(id, value) {
                RegWrite::Accepted(v) => {
                    written = Some(id);
                    register_frame(CMD_SET, id_bytes, 0, &v)
                }
                RegWrite::ParameterError(v) => {
                    register_frame(CMD_SET, id_bytes, FLAG_PARAMETER_ERROR, &v)
                }
                RegWrite::ReadOnly(v) => register_frame(CMD_SET, id_bytes, FLAG_NOT_SUPPORTED, &v),
                RegWrite::Unknown => register_frame(CMD_SET, id_bytes, FLAG_UNKNOWN_ID, &[]),
            }
        }),
        // "Asynchronous data message. Should not be replied."
        CMD_ASYNC => None,
        // Vectors H14: `:253` -> `:3020050`, the payload names the command.
        other => Some(encode_hex(RSP_UNKNOWN, &[other, 0x00])),
    };
    // A get/set too short to carry an id is a framing error as far as the device can tell.
    let reply = match (msg.cmd, reply) {
        (CMD_GET | CMD_SET, None) => Some(encode_hex(RSP_ERROR, &[0xAA, 0xAA])),
        (_, r) => r,
    };
    Handled {
        reply,
        valid: true,
        written,
    }
}

/// Split a get/set payload into the id bytes as received, the id (little-endian) and the value
/// (after the flags byte).
fn register_request(data: &[u8]) -> Option<([u8; 2], u16, &[u8])> {
    let id_bytes: [u8; 2] = data.get(..2)?.try_into().ok()?;
    let value = data.get(3..).unwrap_or(&[]);
    Some((id_bytes, u16::from_le_bytes(id_bytes), value))
}

/// A get/set/async frame: id (little-endian), flags, value.
pub(crate) fn register_frame(cmd: u8, id_bytes: [u8; 2], flags: u8, value: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(3 + value.len());
    data.extend_from_slice(&id_bytes);
    data.push(flags);
    data.extend_from_slice(value);
    encode_hex(cmd, &data)
}

/// An async `:A` frame for a register.
pub(crate) fn async_frame(id: u16, value: &[u8]) -> Vec<u8> {
    register_frame(CMD_ASYNC, id.to_le_bytes(), 0, value)
}
