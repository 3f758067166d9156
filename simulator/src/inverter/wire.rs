//! Frame level of the device side (docs/architecture.md §5, PI30 spec section 1 and appendix 4.1):
//! a request is ASCII + CRC-16/XMODEM + CR; the unit answers `(NAK` when the CRC does not
//! match. CRC bytes 0x28, 0x0D, 0x0A (and, for some hosts, 0x00) may arrive incremented by one;
//! both forms are accepted. Replies are built with the shared codec of `sungate-drivers`.

use sungate_drivers::pi30::codec::{EncodeOptions, crc_xmodem, encode_frame};

/// Why a request frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// Too short to hold a command and a CRC.
    Short,
    /// The CRC does not match the command.
    BadCrc,
    /// The command part is not printable ASCII.
    NotAscii,
}

/// Whether a received CRC byte stands for the computed one (sent plain or escaped).
fn crc_byte_matches(received: u8, computed: u8) -> bool {
    received == computed
        || (matches!(computed, 0x28 | 0x0D | 0x0A | 0x00) && received == computed + 1)
}

/// Checks one complete request frame and returns its command text.
pub fn parse_request(frame: &[u8]) -> Result<&str, RequestError> {
    let frame = frame.strip_suffix(b"\r").unwrap_or(frame);
    if frame.len() < 3 {
        return Err(RequestError::Short);
    }
    let (body, crc) = frame.split_at(frame.len() - 2);
    let computed = crc_xmodem(body).to_be_bytes();
    if !(crc_byte_matches(crc[0], computed[0]) && crc_byte_matches(crc[1], computed[1])) {
        return Err(RequestError::BadCrc);
    }
    if !body.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(RequestError::NotAscii);
    }
    std::str::from_utf8(body).map_err(|_| RequestError::NotAscii)
}

/// A reply frame: body + CRC (escaped) + CR.
pub fn frame(body: &[u8], escape_zero: bool) -> Vec<u8> {
    encode_frame(body, EncodeOptions { escape_zero })
}
