//! PI30 frame layer (Voltronic "PI30" ASCII protocol, 2015 customer spec §4 / PI30MAX 2021 §4).
//!
//! Request:  `<command ASCII> <CRC hi> <CRC lo> <CR>`
//! Reply:    `( <payload ASCII> <CRC hi> <CRC lo> <CR>`
//!
//! The CRC is CRC-16/XMODEM (poly 0x1021, init 0) over every byte before it, *including* the
//! leading `(` of a reply. Because 0x28 `(`, 0x0D `CR` and 0x0A `LF` would confuse a receiver
//! looking for frame boundaries, a CRC byte with one of those values is sent incremented by one;
//! some firmware also increments 0x00. A receiver therefore accepts `b == crc` or `b == crc + 1`
//! for those values. `(NAK` / `(ACK` may come without CRC; some firmware sends no CRC at all
//! (only accepted with [`DecodeOptions::allow_missing_crc`]). A PI17/PI18 unit answers `^0`/`^1`
//! (+ CRC) and some units echo commands they do not know. USB HID transports deliver 8-byte
//! reports padded with zeros, serial transports may append `LF`: both are tolerated.

pub use super::error::FrameError;
pub use crate::voltronic::crc_xmodem;
use crate::voltronic::{frame_body, is_reserved, printable, wire_crc};

/// Options for building request frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Also send a 0x00 CRC byte as 0x01 (mpp-solar does this; some firmware expects it).
    pub escape_zero: bool,
}

/// Options for parsing reply frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Accept a data reply that carries no CRC at all (some firmware). Off by default: without a
    /// CRC a corrupted byte would silently become a wrong value.
    pub allow_missing_crc: bool,
}

/// A parsed reply frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The payload between `(` and the CRC.
    Data(String),
    Ack,
    Nak,
    /// `^0` / `^1` (or any `^`-frame): the unit speaks PI17/PI18.
    ProtocolMismatch(String),
    /// The unit sent a valid CRC'd command back: it does not support it.
    Echo(String),
}

/// `body` + escaped CRC + `CR`.
pub fn encode_frame(body: &[u8], opts: EncodeOptions) -> Vec<u8> {
    let mut frame = Vec::with_capacity(body.len() + 3);
    frame.extend_from_slice(body);
    frame.extend_from_slice(&wire_crc(body, opts.escape_zero));
    frame.push(b'\r');
    frame
}

/// Encode a command such as `QPIGS` or `POP02`.
pub fn encode_command(command: &str, opts: EncodeOptions) -> Vec<u8> {
    encode_frame(command.as_bytes(), opts)
}

/// Does a received CRC byte match the computed one, escaped or not?
fn crc_byte_matches(received: u8, computed: u8) -> bool {
    received == computed || ((is_reserved(computed) || computed == 0) && received == computed + 1)
}

/// Splits `body` (frame without CR) into content and CRC if the last two bytes are a valid CRC.
fn split_valid_crc(body: &[u8]) -> Result<&[u8], FrameError> {
    crate::voltronic::split_valid_crc(body, crc_byte_matches)
}

fn data_reply(payload: String) -> Result<Reply, FrameError> {
    match payload.as_str() {
        "NAK" => Ok(Reply::Nak),
        "ACK" => Ok(Reply::Ack),
        "" => Err(FrameError::EmptyPayload),
        _ => Ok(Reply::Data(payload)),
    }
}

/// Parse one reply frame (see the module docs for the accepted forms).
pub fn decode_reply(frame: &[u8], opts: DecodeOptions) -> Result<Reply, FrameError> {
    // Strip HID zero padding and a trailing LF, in any order, then require the CR.
    let body = frame_body(frame)?;
    let Some(&first) = body.first() else {
        return Err(FrameError::Empty);
    };
    match first {
        b'(' => {
            // NAK/ACK without CRC carry no data: no wrong value can come from accepting them.
            match body {
                b"(NAK" => return Ok(Reply::Nak),
                b"(ACK" => return Ok(Reply::Ack),
                _ => {}
            }
            match split_valid_crc(body) {
                Ok(content) => data_reply(printable(content.get(1..).unwrap_or_default(), 1)?),
                Err(crc_err) => {
                    if opts.allow_missing_crc {
                        // Only if the whole rest is printable: a non-ASCII tail is a real CRC.
                        if let Ok(payload) = printable(body.get(1..).unwrap_or_default(), 1) {
                            return data_reply(payload);
                        }
                    }
                    if body.len() == 1 {
                        return Err(FrameError::EmptyPayload);
                    }
                    Err(crc_err)
                }
            }
        }
        b'^' => {
            if let b"^0" | b"^1" = body {
                return Ok(Reply::ProtocolMismatch(printable(body, 0)?));
            }
            let content = split_valid_crc(body)?;
            Ok(Reply::ProtocolMismatch(printable(content, 0)?))
        }
        _ => {
            // An echoed command: a valid CRC over printable ASCII that starts with a letter.
            if first.is_ascii_alphabetic() {
                if let Ok(content) = split_valid_crc(body) {
                    if let Ok(command) = printable(content, 0) {
                        if !command.is_empty() {
                            return Ok(Reply::Echo(command));
                        }
                    }
                }
            }
            Err(FrameError::BadStart { byte: first })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STRICT: DecodeOptions = DecodeOptions {
        allow_missing_crc: false,
    };

    #[test]
    fn crc_check_value() {
        // CRC-16/XMODEM catalogue check value.
        assert_eq!(crc_xmodem(b"123456789"), 0x31C3);
        assert_eq!(crc_xmodem(b""), 0);
    }

    /// Request frames listed in vectors.md.
    #[test]
    fn request_frames_from_vectors() {
        let cases: &[(&str, &[u8])] = &[
            ("QPI", &[0x51, 0x50, 0x49, 0xbe, 0xac, 0x0d]),
            ("QID", &[0x51, 0x49, 0x44, 0xd6, 0xea, 0x0d]),
            ("QSID", &[0x51, 0x53, 0x49, 0x44, 0xbb, 0x05, 0x0d]),
            ("QVFW", &[0x51, 0x56, 0x46, 0x57, 0x62, 0x99, 0x0d]),
            ("QVFW2", &[0x51, 0x56, 0x46, 0x57, 0x32, 0xc3, 0xf5, 0x0d]),
            ("QMN", &[0x51, 0x4d, 0x4e, 0xbb, 0x64, 0x0d]),
            ("QMOD", &[0x51, 0x4d, 0x4f, 0x44, 0x49, 0xc1, 0x0d]),
            ("QPIGS", &[0x51, 0x50, 0x49, 0x47, 0x53, 0xb7, 0xa9, 0x0d]),
            (
                "QPIGS2",
                &[0x51, 0x50, 0x49, 0x47, 0x53, 0x32, 0x68, 0x2d, 0x0d],
            ),
            ("QPIRI", &[0x51, 0x50, 0x49, 0x52, 0x49, 0xf8, 0x54, 0x0d]),
            ("QPIWS", &[0x51, 0x50, 0x49, 0x57, 0x53, 0xb4, 0xda, 0x0d]),
            ("QPGS0", &[0x51, 0x50, 0x47, 0x53, 0x30, 0x3f, 0xda, 0x0d]),
            ("QPGS1", &[0x51, 0x50, 0x47, 0x53, 0x31, 0x2f, 0xfb, 0x0d]),
            ("QDI", &[0x51, 0x44, 0x49, 0x71, 0x1b, 0x0d]),
            ("QFLAG", &[0x51, 0x46, 0x4c, 0x41, 0x47, 0x98, 0x74, 0x0d]),
            ("Q1", &[0x51, 0x31, 0x1b, 0xfc, 0x0d]),
        ];
        for (cmd, expected) in cases {
            assert_eq!(
                encode_command(cmd, EncodeOptions::default()),
                *expected,
                "request frame for {cmd}"
            );
        }
    }

    /// V03: raw CRC 0x940D is sent as 94 0E.
    #[test]
    fn v03_escaped_crc_accepted_and_reported() {
        let frame = b"(1492932105105335005535\x94\x0e\r";
        assert_eq!(crc_xmodem(&frame[..frame.len() - 3]), 0x940D);
        assert_eq!(
            decode_reply(frame, STRICT),
            Ok(Reply::Data("1492932105105335005535".into()))
        );
        // The unescaped form (non-conforming firmware) is accepted too.
        let unescaped = b"(1492932105105335005535\x94\x0d\r";
        assert_eq!(
            decode_reply(unescaped, STRICT),
            Ok(Reply::Data("1492932105105335005535".into()))
        );
        // Our encoder escapes it.
        let enc = encode_frame(b"(1492932105105335005535", EncodeOptions::default());
        assert_eq!(&enc[enc.len() - 3..], b"\x94\x0e\r");
    }

    /// V33 control replies.
    #[test]
    fn v33_control_replies() {
        // ACK with CRC (mpp-solar pi30.py setter test_responses)
        assert_eq!(decode_reply(b"(ACK\x39\x20\r", STRICT), Ok(Reply::Ack));
        // NAK with CRC
        assert_eq!(decode_reply(b"(NAK\x73\x73\r", STRICT), Ok(Reply::Nak));
        // NAK without CRC (spec text; Solar2MQTT)
        assert_eq!(decode_reply(b"(NAK\r", STRICT), Ok(Reply::Nak));
        assert_eq!(decode_reply(b"(ACK\r", STRICT), Ok(Reply::Ack));
        // Echo of the request (pi30.py QPGS test_responses[2])
        assert_eq!(
            decode_reply(b"QPGS0?\xda\r", STRICT),
            Ok(Reply::Echo("QPGS0".into()))
        );
        // ^0 as one zero-padded 8-byte HID report (mpp-solar issue #485)
        assert_eq!(
            decode_reply(&[0x5e, 0x30, 0x1b, 0xe3, 0x0d, 0, 0, 0], STRICT),
            Ok(Reply::ProtocolMismatch("^0".into()))
        );
        // ^1 (inverter-tools issue #5)
        assert_eq!(
            decode_reply(&[0x5e, 0x31, 0x0b, 0xc2, 0x0d], STRICT),
            Ok(Reply::ProtocolMismatch("^1".into()))
        );
        // ^1 with a broken CRC is a CRC error, not a mismatch guess.
        assert!(matches!(
            decode_reply(&[0x5e, 0x31, 0x0b, 0xc3, 0x0d], STRICT),
            Err(FrameError::Crc { .. })
        ));
    }

    #[test]
    fn trailing_lf_and_padding_tolerated() {
        assert_eq!(
            decode_reply(b"(PI30\x9a\x0b\r\n", STRICT),
            Ok(Reply::Data("PI30".into()))
        );
        assert_eq!(
            decode_reply(b"(PI30\x9a\x0b\r\n\0\0\0\0", STRICT),
            Ok(Reply::Data("PI30".into()))
        );
    }

    #[test]
    fn flipped_byte_is_a_crc_error_with_both_values() {
        let mut frame = b"(PI30\x9a\x0b\r".to_vec();
        frame[3] = b'4';
        let err = decode_reply(&frame, STRICT).unwrap_err();
        assert_eq!(
            err,
            FrameError::Crc {
                expected: crc_xmodem(b"(PI40"),
                got: 0x9A0B
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("0x9A0B"), "{msg}");
        assert!(
            msg.contains(&format!("0x{:04X}", crc_xmodem(b"(PI40"))),
            "{msg}"
        );
    }

    #[test]
    fn missing_crc_only_with_option() {
        let frame = b"(230.0 50.0\r";
        assert!(matches!(
            decode_reply(frame, STRICT),
            Err(FrameError::Crc { .. })
        ));
        let lax = DecodeOptions {
            allow_missing_crc: true,
        };
        assert_eq!(
            decode_reply(frame, lax),
            Ok(Reply::Data("230.0 50.0".into()))
        );
        // A binary (i.e. real but wrong) CRC is still refused with the option on.
        assert!(matches!(
            decode_reply(b"(PI31\x9a\x0b\r", lax),
            Err(FrameError::Crc { .. })
        ));
    }

    #[test]
    fn malformed_frames_have_clear_errors() {
        assert_eq!(decode_reply(b"", STRICT), Err(FrameError::Empty));
        assert_eq!(decode_reply(b"\0\0\0", STRICT), Err(FrameError::Empty));
        assert_eq!(decode_reply(b"\r", STRICT), Err(FrameError::Empty));
        assert_eq!(
            decode_reply(b"(PI30\x9a\x0b", STRICT),
            Err(FrameError::Unterminated)
        );
        assert_eq!(
            decode_reply(b"\x01PI30\r", STRICT),
            Err(FrameError::BadStart { byte: 0x01 })
        );
        assert_eq!(decode_reply(b"(\r", STRICT), Err(FrameError::EmptyPayload));
        // Valid CRC over a payload containing a control byte.
        let bad = encode_frame(b"(PI\x0130", EncodeOptions::default());
        assert_eq!(
            decode_reply(&bad, STRICT),
            Err(FrameError::NonAscii {
                offset: 3,
                byte: 0x01
            })
        );
    }

    /// Finds bodies whose CRC contains each escapable byte and checks encode/decode both ways.
    #[test]
    fn escape_bytes_found_and_handled() {
        for special in [0x28u8, 0x0D, 0x0A, 0x00] {
            for pos in 0..2 {
                let body = (0u32..200_000)
                    .map(|n| format!("(Q{n}"))
                    .find(|b| crc_xmodem(b.as_bytes()).to_be_bytes()[pos] == special)
                    .expect("a body with this CRC byte exists");
                let crc = crc_xmodem(body.as_bytes()).to_be_bytes();
                let payload = Reply::Data(body[1..].to_string());
                for escape_zero in [false, true] {
                    let enc = encode_frame(body.as_bytes(), EncodeOptions { escape_zero });
                    let sent = enc[body.len() + pos];
                    let escaped = special != 0 || escape_zero;
                    assert_eq!(sent, if escaped { special + 1 } else { special });
                    assert_eq!(decode_reply(&enc, STRICT), Ok(payload.clone()), "{body}");
                }
                // Unescaped on the wire is accepted as well.
                let mut raw = body.as_bytes().to_vec();
                raw.extend_from_slice(&crc);
                raw.push(b'\r');
                assert_eq!(decode_reply(&raw, STRICT), Ok(payload), "{body}");
            }
        }
    }

    proptest! {
        #[test]
        fn roundtrip_printable(payload in "[ -~]{1,120}", escape_zero: bool) {
            prop_assume!(payload != "NAK" && payload != "ACK");
            let mut body = b"(".to_vec();
            body.extend_from_slice(payload.as_bytes());
            let frame = encode_frame(&body, EncodeOptions { escape_zero });
            prop_assert_eq!(decode_reply(&frame, STRICT), Ok(Reply::Data(payload)));
        }

        #[test]
        fn command_roundtrip_is_echo(cmd in "[A-Z][A-Z0-9.]{0,15}", escape_zero: bool) {
            let frame = encode_command(&cmd, EncodeOptions { escape_zero });
            prop_assert_eq!(decode_reply(&frame, STRICT), Ok(Reply::Echo(cmd)));
        }

        #[test]
        fn decode_reply_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                     lax: bool) {
            let _ = decode_reply(&bytes, DecodeOptions { allow_missing_crc: lax });
        }
    }
}
