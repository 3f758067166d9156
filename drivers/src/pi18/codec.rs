//! PI18 frame layer (InfiniSolar-V protocol, `PI18_InfiniSolar-V-protocol-20170926`, as real
//! units and the peers' implementations use it; see `../shared/reference/pi18/README.md` §1).
//!
//! Query:    `^P <nnn> <command ASCII> <CRC hi> <CRC lo> <CR>`   e.g. `^P005GS` 58 14 0D
//! Setter:   `^S <nnn> <command ASCII> <CRC hi> <CRC lo> <CR>`   e.g. `^S007POP0` 1D 31 0D
//! Reply:    `^D <nnn> <payload ASCII> <CRC hi> <CRC lo> <CR>`   e.g. `^D00518` 3B 03 0D
//! Accept:   `^1` 0B C2 0D            Refuse: `^0` 1B E3 0D      (no length digits)
//!
//! `nnn` is three ASCII digits: the number of bytes after the 5-byte header, i.e. command or
//! payload + 2 CRC bytes + CR (`^P005GS`: `GS` + 2 + 1). The CRC is CRC-16/XMODEM (poly 0x1021,
//! init 0, high byte first), the same as PI30's, over every byte before it *including* the
//! `^P005` / `^D106` header. As in PI30, a CRC byte equal to 0x28 `(`, 0x0D CR or 0x0A LF is sent
//! incremented by one (the reference's V35 request `^S007POP1`, raw CRC 0x0D10 sent as 0E 10, and
//! the V25 reply, raw 0x0D52 sent as 0E 52). Unlike PI30's codec, which also accepts the
//! unincremented byte and a 0x00 sent as 0x01, the verification here is exact by default: compute
//! the CRC, apply the same increment, compare (the reference's advice; a 0x29 can be a genuine CRC
//! byte). [`DecodeOptions::lenient_crc`] also accepts the unincremented byte and mpp-solar's
//! 0x00 -> 0x01. The encoder never increments 0x00 (only mpp-solar does; no capture supports it).
//!
//! Besides `^D` data, `^1` and `^0`, a PI18 unit may answer a PI30-style `(NAK` (LV5048, for a
//! malformed command), some answer PI30 words in PI30 framing, and a unit with a second master on
//! the line may echo a request: all are recognised ([`Reply`]). USB HID transports pad the last
//! 8-byte report with zeros; trailing zeros (and a stray LF) after the CR are ignored.
//!
//! Some real firmware is answered only with the spec's literal, inconsistent length field
//! (`^P005FWS`, where the rule gives 006): [`encode_request_with_length`] sends such a header;
//! [`super::queries::Query::request`] knows which queries need it.

pub use super::error::{EncodeError, FrameError};
pub use crate::voltronic::crc_xmodem;
use crate::voltronic::{first_unprintable, frame_body, printable, wire_crc};

/// The accept frame `^1` + CRC 0x0BC2 + CR.
pub const ACCEPT: &[u8] = b"^1\x0b\xc2\r";
/// The refuse frame `^0` + CRC 0x1BE3 + CR.
pub const REFUSE: &[u8] = b"^0\x1b\xe3\r";

/// Bytes of the `^Tnnn` header.
const HEADER_LEN: usize = 5;
/// The largest value of the 3-digit length field.
const MAX_LENGTH: usize = 999;

/// Which request frame: `^P` (query) or `^S` (setter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Query,
    Set,
}

impl RequestKind {
    fn letter(self) -> u8 {
        match self {
            RequestKind::Query => b'P',
            RequestKind::Set => b'S',
        }
    }
}

/// Options for parsing reply frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Also accept a CRC byte that was not incremented (0x28, 0x0A; an unincremented 0x0D would
    /// have ended the frame) and a 0x00 CRC byte sent as 0x01. Off by default.
    pub lenient_crc: bool,
}

/// A parsed reply frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The payload of a `^D` frame (between the length field and the CRC).
    Data(String),
    /// `^1`: the setter was accepted.
    Accepted,
    /// `^0`: refused, or a query the firmware does not support.
    Refused,
    /// A PI30-style `(NAK` (with or without its CRC).
    Nak,
    /// Any other `(`-framed reply with a valid CRC: the payload. The unit speaks PI30 (or
    /// answered a PI30 word such as `Q1` in PI30 framing).
    Pi30Frame(String),
    /// A `^P`/`^S` request frame with a valid CRC came back: the command text.
    Echo(String),
}

/// The two CRC bytes of `data` as sent on the wire (high byte first, 0x28, 0x0D and 0x0A
/// incremented by one; 0x00 is sent as is).
pub fn crc_bytes(data: &[u8]) -> [u8; 2] {
    wire_crc(data, false)
}

/// The length field the rule gives for a command or payload: its length + 2 CRC bytes + CR.
pub fn computed_length(text: &str) -> usize {
    text.len() + 3
}

/// Header letter + 3-digit length + text + CRC + CR.
fn frame(letter: u8, text: &str, length: usize) -> Result<Vec<u8>, EncodeError> {
    if text.is_empty() {
        return Err(EncodeError::Empty);
    }
    if let Some((offset, byte)) = first_unprintable(text.as_bytes()) {
        return Err(EncodeError::NonAscii { offset, byte });
    }
    if length > MAX_LENGTH || computed_length(text) > MAX_LENGTH {
        return Err(EncodeError::TooLong { len: text.len() });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + text.len() + 3);
    out.push(b'^');
    out.push(letter);
    out.extend_from_slice(format!("{length:03}").as_bytes());
    out.extend_from_slice(text.as_bytes());
    let crc = crc_bytes(&out);
    out.extend_from_slice(&crc);
    out.push(b'\r');
    Ok(out)
}

/// A request with an explicit length field (for the spec's literal `^P005FWS`, `^P005ACCT`…).
pub fn encode_request_with_length(
    kind: RequestKind,
    command: &str,
    length: usize,
) -> Result<Vec<u8>, EncodeError> {
    frame(kind.letter(), command, length)
}

/// A request with the computed length field (`GS` -> `^P005GS` + CRC + CR).
pub fn encode_request(kind: RequestKind, command: &str) -> Result<Vec<u8>, EncodeError> {
    frame(kind.letter(), command, computed_length(command))
}

/// A query frame `^Pnnn<command>` + CRC + CR, computed length.
pub fn encode_query(command: &str) -> Result<Vec<u8>, EncodeError> {
    encode_request(RequestKind::Query, command)
}

/// A setter frame `^Snnn<command>` + CRC + CR, computed length.
pub fn encode_set(command: &str) -> Result<Vec<u8>, EncodeError> {
    encode_request(RequestKind::Set, command)
}

/// A data reply `^Dnnn<payload>` + CRC + CR, as a unit sends it (for simulators and tests).
pub fn encode_reply(payload: &str) -> Result<Vec<u8>, EncodeError> {
    frame(b'D', payload, computed_length(payload))
}

/// Does a received CRC byte match the computed one?
fn crc_byte_matches(received: u8, computed: u8, opts: DecodeOptions) -> bool {
    received == crate::voltronic::bump(computed, false)
        || (opts.lenient_crc && (received == computed || (computed == 0 && received == 1)))
}

/// Splits `body` (frame without CR) into content and CRC if the last two bytes are its CRC.
fn split_valid_crc(body: &[u8], opts: DecodeOptions) -> Result<&[u8], FrameError> {
    crate::voltronic::split_valid_crc(body, |received, computed| {
        crc_byte_matches(received, computed, opts)
    })
    .map_err(FrameError::from)
}

fn bad_header(body: &[u8]) -> FrameError {
    FrameError::BadHeader {
        header: String::from_utf8_lossy(body.get(..HEADER_LEN).unwrap_or(body)).into_owned(),
    }
}

/// The value of the three length digits at `body[2..5]`, if they are digits.
fn length_field(body: &[u8]) -> Option<usize> {
    let digits = body.get(2..HEADER_LEN)?;
    digits.iter().try_fold(0usize, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + usize::from(b - b'0'))
    })
}

/// A `^`-frame (body without CR).
fn decode_caret(body: &[u8], opts: DecodeOptions) -> Result<Reply, FrameError> {
    match body.get(1) {
        Some(b'0' | b'1') => {
            let content = split_valid_crc(body, opts)?;
            match content {
                b"^1" => Ok(Reply::Accepted),
                b"^0" => Ok(Reply::Refused),
                _ => Err(bad_header(body)),
            }
        }
        Some(&letter @ (b'D' | b'P' | b'S')) => {
            // Header, at least one byte of text, CRC.
            if body.len() < HEADER_LEN + 1 + 2 {
                return Err(FrameError::TooShort { len: body.len() });
            }
            let Some(declared) = length_field(body) else {
                return Err(bad_header(body));
            };
            let content = split_valid_crc(body, opts)?;
            let text = printable(content.get(HEADER_LEN..).unwrap_or_default(), HEADER_LEN)?;
            if letter != b'D' {
                // A request came back; its length field is not checked (real tools send
                // inconsistent ones, see the module docs).
                return Ok(Reply::Echo(text));
            }
            // Bytes after the header: text + CRC + the CR that was split off.
            let actual = body.len() - HEADER_LEN + 1;
            if declared != actual {
                return Err(FrameError::LengthMismatch { declared, actual });
            }
            if text.is_empty() {
                return Err(FrameError::EmptyPayload);
            }
            Ok(Reply::Data(text))
        }
        _ => Err(bad_header(body)),
    }
}

/// A `(`-frame (body without CR): PI30 framing.
fn decode_paren(body: &[u8], opts: DecodeOptions) -> Result<Reply, FrameError> {
    // NAK without CRC carries no data: accepting it cannot produce a wrong value.
    if body == b"(NAK" {
        return Ok(Reply::Nak);
    }
    let content = split_valid_crc(body, opts)?;
    let payload = printable(content.get(1..).unwrap_or_default(), 1)?;
    match payload.as_str() {
        "NAK" => Ok(Reply::Nak),
        "" => Err(FrameError::EmptyPayload),
        _ => Ok(Reply::Pi30Frame(payload)),
    }
}

/// Parse one reply frame (see the module docs for the accepted forms).
pub fn decode_reply(frame: &[u8], opts: DecodeOptions) -> Result<Reply, FrameError> {
    // Strip HID zero padding and a stray LF, then require the CR.
    let body = frame_body(frame)?;
    match body.first() {
        None => Err(FrameError::Empty),
        Some(b'^') => decode_caret(body, opts),
        Some(b'(') => decode_paren(body, opts),
        Some(&byte) => Err(FrameError::BadStart { byte }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STRICT: DecodeOptions = DecodeOptions { lenient_crc: false };
    const LENIENT: DecodeOptions = DecodeOptions { lenient_crc: true };

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    /// README §2.1: the canonical request frames, byte for byte.
    #[test]
    fn query_frames_from_the_reference() {
        let cases = [
            ("PI", "5e 50 30 30 35 50 49 71 8b 0d"),
            ("ID", "5e 50 30 30 35 49 44 19 cd 0d"),
            ("VFW", "5e 50 30 30 36 56 46 57 f6 e6 0d"),
            ("PIRI", "5e 50 30 30 37 50 49 52 49 ee 38 0d"),
            ("GS", "5e 50 30 30 35 47 53 58 14 0d"),
            ("MOD", "5e 50 30 30 36 4d 4f 44 dd be 0d"),
            ("FWS", "5e 50 30 30 36 46 57 53 c5 43 0d"),
            ("FLAG", "5e 50 30 30 37 46 4c 41 47 8e 18 0d"),
            ("DI", "5e 50 30 30 35 44 49 be 3c 0d"),
            ("T", "5e 50 30 30 34 54 df 69 0d"),
            ("ET", "5e 50 30 30 35 45 54 4e 91 0d"),
            ("EY2023", "5e 50 30 30 39 45 59 32 30 32 33 91 3d 0d"),
            (
                "EM202303",
                "5e 50 30 31 31 45 4d 32 30 32 33 30 33 7f 86 0d",
            ),
            (
                "ED20230320",
                "5e 50 30 31 33 45 44 32 30 32 33 30 33 32 30 de e2 0d",
            ),
            ("MCHGCR", "5e 50 30 30 39 4d 43 48 47 43 52 ee 22 0d"),
            ("MUCHGCR", "5e 50 30 31 30 4d 55 43 48 47 43 52 b5 8b 0d"),
            ("PRI0", "5e 50 30 30 37 50 52 49 30 6d 9d 0d"),
            ("PGS0", "5e 50 30 30 37 50 47 53 30 29 b6 0d"),
        ];
        for (cmd, expected) in cases {
            assert_eq!(encode_query(cmd).unwrap(), hex(expected), "{cmd}");
        }
        // The spec's literal (inconsistent) headers that real tools send.
        let literal = [
            ("FWS", "5e 50 30 30 35 46 57 53 5e 9f 0d"),
            ("ACCT", "5e 50 30 30 35 41 43 43 54 f3 b7 0d"),
            ("ACLT", "5e 50 30 30 35 41 43 4c 54 e3 89 0d"),
        ];
        for (cmd, expected) in literal {
            assert_eq!(
                encode_request_with_length(RequestKind::Query, cmd, 5).unwrap(),
                hex(expected),
                "{cmd}"
            );
        }
        // V03: the PI17-form header a PI18 unit refused.
        assert_eq!(
            encode_request_with_length(RequestKind::Query, "PI", 3).unwrap(),
            hex("5e 50 30 30 33 50 49 c3 2b 0d")
        );
    }

    /// README §3 / V34-V38: setter frames, including the escaped POP1 CRC.
    #[test]
    fn setter_frames_from_the_reference() {
        let cases = [
            ("POP0", "5e 53 30 30 37 50 4f 50 30 1d 31 0d"),
            ("POP1", "5e 53 30 30 37 50 4f 50 31 0e 10 0d"),
            ("PCP0,0", "5e 53 30 30 39 50 43 50 30 2c 30 9f 26 0d"),
            ("PCP0,1", "5e 53 30 30 39 50 43 50 30 2c 31 8f 07 0d"),
            ("PCP0,2", "5e 53 30 30 39 50 43 50 30 2c 32 bf 64 0d"),
            (
                "MCHGC0,060",
                "5e 53 30 31 33 4d 43 48 47 43 30 2c 30 36 30 3b 1b 0d",
            ),
            (
                "MUCHGC0,030",
                "5e 53 30 31 34 4d 55 43 48 47 43 30 2c 30 33 30 ee dd 0d",
            ),
        ];
        for (cmd, expected) in cases {
            assert_eq!(encode_set(cmd).unwrap(), hex(expected), "{cmd}");
        }
        // Only the tails are printed in the reference for these.
        let tails = [
            ("MUCHGC0,002", "30 30 32 9b cc 0d"),
            ("PSP0", "30 2b 33 0d"),
            ("PSP1", "31 3b 12 0d"),
        ];
        for (cmd, tail) in tails {
            let frame = encode_set(cmd).unwrap();
            assert!(frame.ends_with(&hex(tail)), "{cmd}: {frame:02x?}");
        }
        // POP1's raw CRC is 0x0D10: the 0x0D is sent as 0x0E.
        assert_eq!(crc_xmodem(b"^S007POP1"), 0x0D10);
    }

    #[test]
    fn accept_refuse_and_crc_examples() {
        assert_eq!(crc_xmodem(b"^1"), 0x0BC2);
        assert_eq!(crc_xmodem(b"^0"), 0x1BE3);
        assert_eq!(crc_xmodem(b"^D00518"), 0x3B03);
        assert_eq!(crc_xmodem(b"^P005GS"), 0x5814);
        assert_eq!(decode_reply(ACCEPT, STRICT), Ok(Reply::Accepted));
        assert_eq!(decode_reply(REFUSE, STRICT), Ok(Reply::Refused));
        // As one zero-padded 8-byte HID report.
        assert_eq!(
            decode_reply(b"^0\x1b\xe3\r\0\0\0", STRICT),
            Ok(Reply::Refused)
        );
        // Without their CRC they are refused: a frame must carry its CRC.
        assert_eq!(
            decode_reply(b"^1\r", STRICT),
            Err(FrameError::Crc {
                expected: 0,
                got: 0x5E31
            })
        );
        assert!(matches!(
            decode_reply(b"^1\x0b\xc3\r", STRICT),
            Err(FrameError::Crc { .. })
        ));
    }

    #[test]
    fn replies_encode_like_the_units() {
        // V01, V25 (0x0D bumped), V41 (0x28 bumped).
        assert_eq!(
            encode_reply("18").unwrap(),
            hex("5e 44 30 30 35 31 38 3b 03 0d")
        );
        assert_eq!(
            encode_reply("20210521234743").unwrap(),
            b"^D01720210521234743\x0e\x52\r"
        );
        assert_eq!(
            encode_reply("05402,08025,00000").unwrap(),
            b"^D02005402,08025,00000\x29\xdd\r"
        );
        assert_eq!(
            decode_reply(b"^D02005402,08025,00000\x29\xdd\r", STRICT),
            Ok(Reply::Data("05402,08025,00000".into()))
        );
    }

    #[test]
    fn other_families_and_echoes() {
        // V05: a PI30-family unit NAKs a PI18 query.
        assert_eq!(decode_reply(b"(NAKss\r", STRICT), Ok(Reply::Nak));
        assert_eq!(decode_reply(b"(NAK\r", STRICT), Ok(Reply::Nak));
        // V06: PI16's answer to QPI.
        assert_eq!(
            decode_reply(&hex("28 50 49 31 36 9c af 0d"), STRICT),
            Ok(Reply::Pi30Frame("PI16".into()))
        );
        // V02: a PI17 unit's reply is a well-formed ^D frame (telling 17 from 18 is the
        // caller's job).
        assert_eq!(
            decode_reply(&hex("5e 44 30 30 35 31 37 ca ec 0d"), STRICT),
            Ok(Reply::Data("17".into()))
        );
        // A request coming back, with its own (even inconsistent) length field.
        assert_eq!(
            decode_reply(&hex("5e 50 30 30 33 50 49 c3 2b 0d"), STRICT),
            Ok(Reply::Echo("PI".into()))
        );
        assert_eq!(
            decode_reply(&encode_set("POP1").unwrap(), STRICT),
            Ok(Reply::Echo("POP1".into()))
        );
    }

    #[test]
    fn length_crc_and_garbage_are_refused() {
        // V01 with the length field changed (CRC recomputed so only the length is wrong).
        let mut body = b"^D00618".to_vec();
        body.extend_from_slice(&crc_bytes(&body));
        body.push(b'\r');
        assert_eq!(
            decode_reply(&body, STRICT),
            Err(FrameError::LengthMismatch {
                declared: 6,
                actual: 5
            })
        );
        // A flipped payload byte is a CRC error naming both values.
        let err = decode_reply(b"^D00519\x3b\x03\r", STRICT).unwrap_err();
        assert_eq!(
            err,
            FrameError::Crc {
                expected: crc_xmodem(b"^D00519"),
                got: 0x3B03
            }
        );
        assert!(err.to_string().contains("0x3B03"), "{err}");
        // Truncated, unterminated, empty, wrong start, bad digits.
        assert_eq!(
            decode_reply(b"^D00518\x3b\x03", STRICT),
            Err(FrameError::Unterminated)
        );
        assert_eq!(decode_reply(b"", STRICT), Err(FrameError::Empty));
        assert_eq!(decode_reply(b"\0\0\0", STRICT), Err(FrameError::Empty));
        assert_eq!(decode_reply(b"\r", STRICT), Err(FrameError::Empty));
        assert_eq!(
            decode_reply(b"D00518\x3b\x03\r", STRICT),
            Err(FrameError::BadStart { byte: b'D' })
        );
        assert_eq!(
            decode_reply(b"^D\r", STRICT),
            Err(FrameError::TooShort { len: 2 })
        );
        let mut bad_digits = b"^D0x518".to_vec();
        bad_digits.extend_from_slice(&crc_bytes(&bad_digits));
        bad_digits.push(b'\r');
        assert!(matches!(
            decode_reply(&bad_digits, STRICT),
            Err(FrameError::BadHeader { .. })
        ));
        assert!(matches!(
            decode_reply(b"^X00518\x3b\x03\r", STRICT),
            Err(FrameError::BadHeader { .. })
        ));
        // Valid CRC and length over a payload with a control byte.
        let mut ctl = b"^D0061\x018".to_vec();
        ctl.extend_from_slice(&crc_bytes(&ctl));
        ctl.push(b'\r');
        assert_eq!(
            decode_reply(&ctl, STRICT),
            Err(FrameError::NonAscii {
                offset: 6,
                byte: 0x01
            })
        );
    }

    /// Finds payloads whose CRC has each reserved byte and checks both directions; the
    /// unincremented byte is accepted only with `lenient_crc`.
    #[test]
    fn reserved_crc_bytes_are_bumped_and_checked_exactly() {
        for special in [0x28u8, 0x0D, 0x0A] {
            for pos in 0..2 {
                let payload = (0u32..200_000)
                    .map(|n| n.to_string())
                    .find(|p| {
                        let mut body = format!("^D{:03}", computed_length(p)).into_bytes();
                        body.extend_from_slice(p.as_bytes());
                        crc_xmodem(&body).to_be_bytes()[pos] == special
                    })
                    .expect("a payload with this CRC byte exists");
                let frame = encode_reply(&payload).unwrap();
                let crc_at = frame.len() - 3 + pos;
                assert_eq!(frame[crc_at], special + 1, "{payload}");
                assert_eq!(
                    decode_reply(&frame, STRICT),
                    Ok(Reply::Data(payload.clone()))
                );
                let mut raw = frame.clone();
                raw[crc_at] = special;
                if special == 0x0D {
                    // An unincremented CR ends the frame early: never a valid frame.
                    continue;
                }
                assert!(matches!(
                    decode_reply(&raw, STRICT),
                    Err(FrameError::Crc { .. })
                ));
                assert_eq!(decode_reply(&raw, LENIENT), Ok(Reply::Data(payload)));
            }
        }
        // A genuine 0x29 (PGS0's request CRC is 0x29B6) is not mistaken for a bumped 0x28.
        assert_eq!(crc_xmodem(b"^P007PGS0"), 0x29B6);
        assert_eq!(
            decode_reply(&encode_query("PGS0").unwrap(), STRICT),
            Ok(Reply::Echo("PGS0".into()))
        );
    }

    #[test]
    fn encode_refuses_what_cannot_be_framed() {
        assert_eq!(encode_query(""), Err(EncodeError::Empty));
        assert_eq!(
            encode_query("G\rS"),
            Err(EncodeError::NonAscii {
                offset: 1,
                byte: b'\r'
            })
        );
        let long = "A".repeat(997);
        assert_eq!(encode_query(&long), Err(EncodeError::TooLong { len: 997 }));
        assert!(encode_query(&long[..996]).is_ok());
        assert_eq!(
            encode_request_with_length(RequestKind::Query, "GS", 1000),
            Err(EncodeError::TooLong { len: 2 })
        );
    }

    proptest! {
        #[test]
        fn reply_roundtrip(payload in "[ -~]{1,120}") {
            let frame = encode_reply(&payload).unwrap();
            prop_assert_eq!(decode_reply(&frame, STRICT), Ok(Reply::Data(payload)));
        }

        #[test]
        fn request_roundtrip_is_echo(cmd in "[A-Z][A-Z0-9,]{0,15}", set: bool) {
            let frame = if set { encode_set(&cmd) } else { encode_query(&cmd) }.unwrap();
            prop_assert_eq!(decode_reply(&frame, STRICT), Ok(Reply::Echo(cmd)));
        }

        #[test]
        fn decode_reply_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                     lenient: bool) {
            let _ = decode_reply(&bytes, DecodeOptions { lenient_crc: lenient });
        }

        #[test]
        fn caret_frames_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..40),
                                    letter in prop::sample::select(vec![b'D', b'P', b'S', b'0', b'1'])) {
            let mut bytes = vec![b'^', letter];
            bytes.extend_from_slice(&tail);
            bytes.push(b'\r');
            let _ = decode_reply(&bytes, STRICT);
        }
    }
}
