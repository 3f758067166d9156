//! Byte formats on the wire: HEX frames (BMV/MPPT HEX protocol, section 1: `:`, command nibble,
//! uppercase hex bytes, check byte, `\n`; nibble plus bytes plus check = 0x55 mod 256) and Text
//! blocks ("VE.Direct Protocol" 3.33, "Message format" and "Data integrity": `\r\n` LABEL `\t`
//! VALUE lines ending with `Checksum` `\t` <byte>, block sum 0 mod 256).
//!
//! HEX frames are built and parsed through the shared codecs of `sungate-drivers`.

use sungate_drivers::vedirect::hex::{HexCommand, HexFrame, decode_frame};

/// One HEX message: command (or response) nibble and its payload bytes, check byte excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HexMsg {
    pub cmd: u8,
    pub data: Vec<u8>,
}

/// Why a received line is not a HEX message the device can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Bad characters, odd length, missing check byte or wrong check byte: all answered with the
    /// framing error response `:4AAAA`.
    Framing,
}

/// Encode a frame `:` + nibble + data + check + `\n` (shared codec).
pub(crate) fn encode_hex(cmd: u8, data: &[u8]) -> Vec<u8> {
    HexFrame::new(HexCommand::from_nibble(cmd), data.to_vec()).encode()
}

/// Decode a received line (`:` up to, not including, `\n`) with the shared codec. The device is
/// stricter than the codec: the protocol says the digits "must be uppercase", so lowercase digits
/// and a `\r` before the `\n` are framing errors here.
pub(crate) fn decode_hex(line: &[u8]) -> Result<HexMsg, FrameError> {
    let strict = line.get(1..).is_some_and(|digits| {
        digits
            .iter()
            .all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'))
    });
    if !strict {
        return Err(FrameError::Framing);
    }
    let frame = decode_frame(line).map_err(|_| FrameError::Framing)?;
    Ok(HexMsg {
        cmd: frame.command.nibble(),
        data: frame.payload,
    })
}

/// Build one text block from its fields; appends the `Checksum` field (shared codec).
pub(crate) fn text_block(fields: &[(&str, String)]) -> Vec<u8> {
    sungate_drivers::vedirect::text::encode_block(fields)
}

/// Longest line a device buffers; longer ones are dropped (the longest legal request, a set of
/// a 32-character string, is under 80 characters).
const MAX_LINE: usize = 512;

/// Collects `:`..`\n` lines from the bytes the host writes. Bytes outside a frame are ignored,
/// a `:` always starts a new frame (the device resynchronises on it).
#[derive(Debug, Clone, Default)]
pub(crate) struct LineAssembler {
    buf: Vec<u8>,
    in_frame: bool,
}

impl LineAssembler {
    pub fn feed(&mut self, bytes: &[u8], mut on_line: impl FnMut(&[u8])) {
        for &b in bytes {
            match b {
                b':' => {
                    self.buf.clear();
                    self.buf.push(b);
                    self.in_frame = true;
                }
                b'\n' if self.in_frame => {
                    on_line(&self.buf);
                    self.buf.clear();
                    self.in_frame = false;
                }
                _ if self.in_frame => {
                    if self.buf.len() >= MAX_LINE {
                        self.buf.clear();
                        self.in_frame = false;
                    } else {
                        self.buf.push(b);
                    }
                }
                _ => {}
            }
        }
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.in_frame = false;
    }
}

/// Little-endian value encoders for register payloads.
pub(crate) fn le_u16(v: u16) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
pub(crate) fn le_i16(v: i16) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
pub(crate) fn le_u32(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
pub(crate) fn le_i32(v: i32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
/// Strings are sent zero-terminated (vectors H21).
pub(crate) fn string_value(s: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s.bytes().take(31).collect();
    v.push(0);
    v
}

/// Exact-length little-endian decoders for set payloads.
pub(crate) fn parse_u8(v: &[u8]) -> Option<u8> {
    match v {
        [a] => Some(*a),
        _ => None,
    }
}
pub(crate) fn parse_u16(v: &[u8]) -> Option<u16> {
    <[u8; 2]>::try_from(v).ok().map(u16::from_le_bytes)
}
pub(crate) fn parse_i16(v: &[u8]) -> Option<i16> {
    <[u8; 2]>::try_from(v).ok().map(i16::from_le_bytes)
}
pub(crate) fn parse_u32(v: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(v).ok().map(u32::from_le_bytes)
}

/// Round and saturate a physical value to an integer register/text value.
pub(crate) fn round_i64(v: f64) -> i64 {
    if v.is_finite() { v.round() as i64 } else { 0 }
}
pub(crate) fn sat_u16(v: f64) -> u16 {
    round_i64(v).clamp(0, i64::from(u16::MAX)) as u16
}
pub(crate) fn sat_i16(v: f64) -> i16 {
    round_i64(v).clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}
pub(crate) fn sat_u32(v: f64) -> u32 {
    round_i64(v).clamp(0, i64::from(u32::MAX)) as u32
}
pub(crate) fn sat_i32(v: f64) -> i32 {
    round_i64(v).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Firmware number as sent in text `FW` (161 = v1.61) to the HEX version word: the decimal
/// digits read as hex digits, with the two top bits 01 = application (BMV HEX doc, "Ping").
pub(crate) fn version_word(firmware: u16) -> u16 {
    let digits = firmware.to_string();
    let bcd = u16::from_str_radix(&digits, 16).unwrap_or(0);
    0x4000 | (bcd & 0x3FFF)
}
