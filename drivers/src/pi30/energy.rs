//! PI30MAX lifetime energy counters: `QET` (total PV generated energy, PI30MAX 2021 §2.23) and
//! `QLT` (total output load energy, §2.27).
//!
//! Reply: `(NNNNNNNN<CRC><cr>`, exactly eight digits, in Wh. Decoded to kWh (a Float, Wh / 1000)
//! because that is the unit Home Assistant's energy dashboard and the VE.Direct yield counters
//! use. Plain PI30 firmware answers `(NAK`: the driver's refused-query rule
//! ([`crate::voltronic::RefusedQueries`]) stops asking after two refusals.
//!
//! Strict on purpose: the value feeds a `total_increasing` sensor, where one wrong reading (a
//! digit lost, `0012a456`) shows up as a huge spike or a counter reset in every long-term
//! statistic. So anything but eight ASCII digits is an error, never a value.

use super::error::DecodeError;
use crate::driver::FieldSpec;
use crate::reading::{Field, Reading};
use crate::voltronic::invalid_payload;

/// Field of `QET`: PV energy generated over the unit's life, kWh.
pub const PV_ENERGY_TOTAL: &str = "pv_energy_total";
/// Field of `QLT`: energy delivered to the AC output over the unit's life, kWh.
pub const LOAD_ENERGY_TOTAL: &str = "load_energy_total";

/// Digits of the counter (spec: `NNNNNNNN`, N: 0~9).
const DIGITS: usize = 8;

/// The Home Assistant metadata of both counters.
pub const FIELD_SPECS: [FieldSpec; 2] = [
    FieldSpec::total_increasing(PV_ENERGY_TOTAL, Some("kWh"), Some("energy")),
    FieldSpec::total_increasing(LOAD_ENERGY_TOTAL, Some("kWh"), Some("energy")),
];

/// Decode a `QET` / `QLT` payload (`00238800`) into `field` in kWh, keeping the Wh token as raw.
pub(crate) fn decode_total(
    query: &str,
    field: &'static str,
    payload: &str,
    r: &mut Reading,
) -> Result<(), DecodeError> {
    let token = payload.trim_matches(|c: char| c.is_ascii_whitespace());
    if token.len() != DIGITS || !token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_payload(
            query,
            format!("{field}: expected {DIGITS} digits (Wh), got {token:?}"),
        ));
    }
    // Eight digits always fit: at most 99,999,999 Wh, exact in an f64.
    let wh: u32 = token
        .parse()
        .map_err(|_| invalid_payload(query, format!("{field}: {token:?} is not a number")))?;
    r.push(
        Field::new(field, f64::from(wh) / 1000.0)
            .with_unit("kWh")
            .with_raw(token),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pi30::codec::{DecodeOptions, EncodeOptions, encode_frame};
    use crate::pi30::error::{FrameError, Pi30Error};
    use crate::pi30::fields::{Variant, decode_frame, decode_payload};
    use crate::reading::Value;

    /// mpp-solar pi30max.py, QET/QLT test_responses: 238,800 Wh.
    const E01: &[u8] = b"(00238800!J\r";
    /// 1,523,456 Wh; CRC 0x0F76 computed independently (Python CRC-16/XMODEM).
    const E02: &[u8] = b"(01523456\x0fv\r";
    /// The largest counter the format carries: 99,999,999 Wh; CRC 0xBCB6.
    const E03: &[u8] = b"(99999999\xbc\xb6\r";
    /// A new unit: 0 Wh; CRC 0x68BA.
    const E04: &[u8] = b"(00000000h\xba\r";

    fn kwh(query: &str, frame: &[u8], variant: Variant) -> (f64, Option<String>) {
        let r = decode_frame(query, frame, variant, DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(r.len(), 1, "{r:?}");
        let f = r.iter().next().unwrap_or_else(|| panic!("no field"));
        assert_eq!(f.unit, Some("kWh"));
        let Value::Float(v) = f.value else {
            panic!("{query}: not a float: {f:?}")
        };
        (v, f.raw.clone())
    }

    #[test]
    fn golden_replies_decode_to_kwh() {
        for variant in [Variant::Pi30Max, Variant::Pi30] {
            for (query, field) in [("QET", PV_ENERGY_TOTAL), ("QLT", LOAD_ENERGY_TOTAL)] {
                let r = decode_frame(query, E01, variant, DecodeOptions::default())
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(r.get(field).is_some(), "{query}: {r:?}");
                assert_eq!(kwh(query, E01, variant), (238.8, Some("00238800".into())));
                assert_eq!(kwh(query, E02, variant).0, 1523.456);
                assert_eq!(kwh(query, E03, variant).0, 99_999.999);
                assert_eq!(kwh(query, E04, variant).0, 0.0);
            }
        }
    }

    #[test]
    fn the_codec_frames_the_golden_replies_the_same_way() {
        // The literal CRCs above were computed outside this crate; the codec must agree.
        for (payload, frame) in [
            ("00238800", E01),
            ("01523456", E02),
            ("99999999", E03),
            ("00000000", E04),
        ] {
            let built = encode_frame(format!("({payload}").as_bytes(), EncodeOptions::default());
            assert_eq!(built, frame, "{payload}");
        }
    }

    #[test]
    fn malformed_counters_are_errors_never_values() {
        // Correct CRC, wrong content: 7 digits, 9 digits, a letter, a sign, a decimal point,
        // two numbers, nothing.
        for payload in [
            "0123456",
            "012345678",
            "0012a456",
            "-0012345",
            "0012.456",
            "0012 456",
            "",
            " ",
        ] {
            for query in ["QET", "QLT"] {
                let frame =
                    encode_frame(format!("({payload}").as_bytes(), EncodeOptions::default());
                let got = decode_frame(query, &frame, Variant::Pi30Max, DecodeOptions::default());
                match &got {
                    Err(Pi30Error::Decode(DecodeError::InvalidPayload { query: q, reason })) => {
                        assert_eq!(q, query);
                        assert!(reason.contains("expected 8 digits"), "{reason}");
                    }
                    Err(Pi30Error::Frame(FrameError::EmptyPayload)) if payload.is_empty() => {}
                    other => panic!("{query} {payload:?}: {other:?}"),
                }
            }
        }
        // Independently computed frame of the 7-digit reply `(0123456` (CRC 0x1CDB).
        assert!(
            decode_frame(
                "QET",
                b"(0123456\x1c\xdb\r",
                Variant::Pi30Max,
                DecodeOptions::default()
            )
            .is_err()
        );
    }

    #[test]
    fn a_bad_crc_is_an_error_never_a_value() {
        let mut frame = E02.to_vec();
        frame[3] = b'9'; // (01923456 with the CRC of (01523456
        assert!(matches!(
            decode_frame("QET", &frame, Variant::Pi30Max, DecodeOptions::default()),
            Err(Pi30Error::Frame(FrameError::Crc { .. }))
        ));
        let mut frame = E01.to_vec();
        frame[9] ^= 0x01;
        assert!(matches!(
            decode_frame("QLT", &frame, Variant::Pi30Max, DecodeOptions::default()),
            Err(Pi30Error::Frame(FrameError::Crc { .. }))
        ));
    }

    #[test]
    fn a_nak_from_plain_pi30_firmware_is_a_refusal() {
        for query in ["QET", "QLT"] {
            assert_eq!(
                decode_frame(query, b"(NAKss\r", Variant::Pi30, DecodeOptions::default()),
                Err(Pi30Error::Nak)
            );
        }
    }

    #[test]
    fn surrounding_whitespace_is_tolerated_like_other_replies() {
        let r =
            decode_payload("QET", "00238800 ", Variant::Pi30Max).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.value(PV_ENERGY_TOTAL), Some(&Value::Float(238.8)));
    }

    #[test]
    fn field_specs_are_energy_totals() {
        for spec in FIELD_SPECS {
            assert_eq!(spec.unit, Some("kWh"));
            assert_eq!(spec.device_class, Some("energy"));
            assert_eq!(spec.state_class, Some("total_increasing"));
        }
    }
}
