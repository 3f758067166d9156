//! PI18 reply payloads -> typed readings (InfiniSolar-V protocol
//! `PI18_InfiniSolar-V-protocol-20170926`; layouts, scales and field variants as restated in
//! `../shared/reference/pi18/README.md` §2.2 and §5).
//!
//! Payload layout: the text of a `^D<nnn>` frame between the length field and the CRC,
//! comma-separated fields of zero-padded unsigned integers (`2312,500,0000,…`), decoded *by
//! position*; widths vary between firmware (PIRI's max AC charging current is `10` or `010`), so
//! fields are split on `,`, never sliced. PI is a 2-digit number, ID a length-prefixed serial,
//! MCHGCR/MUCHGCR a list of amperes.
//!
//! Names, units and scales: wherever a field means what a PI30 field means, it has the PI30
//! decoder's name ([`crate::pi30::fields`]: `ac_input_voltage`, `battery_capacity`,
//! `output_source_priority` …) and the same unit, so both protocols publish the same quantities
//! under the same names. PI18 sends tenths without a decimal point for voltages, frequencies and
//! PIRI's rated currents: those are divided by ten and become floats (`2312` -> 231.2 V). GS
//! battery currents are whole amperes. GS reports PV power per string; `pv_input_power` (PI30's
//! name for the unit's PV power) is added as their sum. Enumerations decode to PI30's texts where
//! the meaning is the same (see `enums.rs`), with the raw code kept.
//!
//! Rules that keep wrong numbers out (as for PI30):
//! - fewer fields than the spec's minimum (GS 28, PIRI 25, FWS 17, FLAG 9, VFW 3) is an error
//!   naming the first missing field; extra trailing fields (PIRI's 26th `00`, FWS's 18th) are
//!   kept as `unknown_<n>` (n = 1-based position), never an error;
//! - an empty field (`,,`, a reserved field per the spec) is absent: the field is omitted;
//! - anything but digits where a number must be is an error, never a guess, and so is a number
//!   over 16 digits; a number outside its field's physical range ([`crate::plausible`]) is
//!   [`DecodeError::Implausible`];
//! - an unknown enumeration code decodes to `Unknown (<token>)`, never an error.
//!
//! FWS: the spec lists a fault code and 16 flags; real units send 17 flags and where the extra
//! one sits is unknown (reference §2.2, V17). The spec's order is used for the first 16 and the
//! 17th is `unknown_warning_18`, a flag like the others (listed in `active_warnings` when set).

use super::codec::{DecodeOptions, Reply, decode_reply};
use super::enums::*;
pub use super::error::{DecodeError, Pi18Error};
use super::queries::{Query, parse_current_options};
use crate::pi30::enums::{FAULT_CODE_PI30_KEYS, INPUT_VOLTAGE_RANGE, TOPOLOGY};
use crate::reading::{Field, Reading, Value};
use crate::voltronic::{
    MAX_NUMBER_LEN, check_plausible, current_options_field, enum_field, invalid_flags,
    invalid_number, invalid_payload, lookup_keyed, lookup_opt, missing, spec,
};

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A whole number.
    Int,
    /// A number in tenths of the unit: decoded as a float, divided by ten.
    Tenths,
    Text,
    /// Integer code indexing the list.
    Opt(&'static [&'static str]),
    /// Exact token (or equal integer) mapping.
    Keyed(&'static [(&'static str, &'static str)]),
    /// `0`/`1` -> false/true.
    Bool,
    /// `0`/`1` -> "disabled"/"enabled" (PI30 QFLAG's texts).
    Enabled,
}

type Spec = crate::voltronic::Spec<Kind>;

const fn int(name: &'static str, u: &'static str) -> Spec {
    spec(name, u, Kind::Int)
}
const fn tenths(name: &'static str, u: &'static str) -> Spec {
    spec(name, u, Kind::Tenths)
}
const fn text(name: &'static str) -> Spec {
    spec(name, "", Kind::Text)
}
const fn opt(name: &'static str, table: &'static [&'static str]) -> Spec {
    spec(name, "", Kind::Opt(table))
}
const fn keyed(name: &'static str, table: &'static [(&'static str, &'static str)]) -> Spec {
    spec(name, "", Kind::Keyed(table))
}
const fn flag(name: &'static str) -> Spec {
    spec(name, "", Kind::Bool)
}

/// GS: 28 fields in the spec and in every capture (`^D106`).
const GS_REQUIRED: usize = 28;
const GS: &[Spec] = &[
    tenths("ac_input_voltage", "V"),
    tenths("ac_input_frequency", "Hz"),
    tenths("ac_output_voltage", "V"),
    tenths("ac_output_frequency", "Hz"),
    int("ac_output_apparent_power", "VA"),
    int("ac_output_active_power", "W"),
    int("ac_output_load", "%"),
    tenths("battery_voltage", "V"),
    tenths("battery_voltage_from_scc", "V"),
    tenths("battery_voltage_from_scc2", "V"),
    int("battery_discharge_current", "A"),
    int("battery_charging_current", "A"),
    int("battery_capacity", "%"),
    int("inverter_heat_sink_temperature", "°C"),
    int("mppt1_charger_temperature", "°C"),
    int("mppt2_charger_temperature", "°C"),
    int("pv1_input_power", "W"),
    int("pv2_input_power", "W"),
    tenths("pv1_input_voltage", "V"),
    tenths("pv2_input_voltage", "V"),
    // "Setting value configuration state": PI30's QPIGS status bit of the same meaning.
    flag("is_configuration_changed"),
    opt("mppt1_charger_status", MPPT_STATUS),
    opt("mppt2_charger_status", MPPT_STATUS),
    // "Load connection": PI30's QPIGS load-on bit.
    flag("is_load_on"),
    opt("battery_power_direction", BATTERY_POWER_DIRECTION),
    opt("dc_ac_power_direction", DC_AC_POWER_DIRECTION),
    opt("line_power_direction", LINE_POWER_DIRECTION),
    int("local_parallel_id", ""),
];

/// PIRI: 25 fields in the spec (`^D085`); real units send a 26th (`00`, meaning unknown).
const PIRI_REQUIRED: usize = 25;
const PIRI: &[Spec] = &[
    tenths("ac_input_voltage", "V"),
    tenths("ac_input_current", "A"),
    tenths("ac_output_voltage", "V"),
    tenths("ac_output_frequency", "Hz"),
    tenths("ac_output_current", "A"),
    int("ac_output_apparent_power", "VA"),
    int("ac_output_active_power", "W"),
    tenths("battery_voltage", "V"),
    tenths("battery_recharge_voltage", "V"),
    tenths("battery_redischarge_voltage", "V"),
    tenths("battery_under_voltage", "V"),
    tenths("battery_bulk_charge_voltage", "V"),
    tenths("battery_float_charge_voltage", "V"),
    opt("battery_type", BATTERY_TYPE),
    int("max_ac_charging_current", "A"),
    int("max_charging_current", "A"),
    opt("input_voltage_range", INPUT_VOLTAGE_RANGE),
    opt("output_source_priority", OUTPUT_SOURCE_PRIORITY),
    opt("charger_source_priority", CHARGER_SOURCE_PRIORITY),
    int("max_parallel_units", "units"),
    opt("machine_type", MACHINE_TYPE),
    opt("topology", TOPOLOGY),
    opt("output_mode", OUTPUT_MODE),
    opt("solar_power_priority", SOLAR_POWER_PRIORITY),
    int("mppt_strings", ""),
];

const VFW: &[Spec] = &[
    text("main_cpu_firmware_version"),
    text("slave1_cpu_firmware_version"),
    text("slave2_cpu_firmware_version"),
];

/// FWS: fault code + 16 flags in the spec (`^D034`); real units send 17 flags (`^D039`).
const FWS_REQUIRED: usize = 17;

/// Queries with a typed decoder.
pub fn supported_queries() -> &'static [&'static str] {
    &[
        "PI", "ID", "VFW", "PIRI", "GS", "MOD", "FWS", "FLAG", "MCHGCR", "MUCHGCR",
    ]
}

/// Decode a reply payload (the text of a `^D` frame between length field and CRC) of `query`.
pub fn decode_payload(query: &str, payload: &str) -> Result<Reading, DecodeError> {
    let q: Query = query.parse()?;
    let qn = q.command();
    let mut r = Reading::new();
    let tokens: Vec<&str> = payload.split(',').collect();
    match q {
        Query::Pi => decode_pi(qn, payload, &mut r)?,
        Query::Id => decode_id(qn, payload, &mut r)?,
        Query::Vfw => positional(qn, &tokens, VFW, VFW.len(), &mut r)?,
        Query::Piri => positional(qn, &tokens, PIRI, PIRI_REQUIRED, &mut r)?,
        Query::Gs => {
            positional(qn, &tokens, GS, GS_REQUIRED, &mut r)?;
            add_pv_total(&mut r);
        }
        Query::Mod => positional(
            qn,
            &tokens,
            &[keyed("device_mode", DEVICE_MODE_KEYS)],
            1,
            &mut r,
        )?,
        Query::Fws => decode_fws(qn, &tokens, &mut r)?,
        Query::Flag => {
            let mut specs: Vec<Spec> = FLAGS
                .iter()
                .map(|&name| spec(name, "", Kind::Enabled))
                .collect();
            specs.push(text("reserved"));
            positional(qn, &tokens, &specs, specs.len(), &mut r)?;
        }
        Query::Mchgcr | Query::Muchgcr => {
            let name = if q == Query::Mchgcr {
                "max_charging_current_options"
            } else {
                "max_utility_charging_current_options"
            };
            let options = parse_current_options(q, payload)?;
            r.push(current_options_field(name, &options, payload));
        }
    }
    check_plausible(qn, &r)?;
    Ok(r)
}

/// Parse a reply frame and decode it as the answer to `query`.
///
/// `^0`, `(NAK`, a PI30-framed reply and an echoed request are errors; `^1` decodes to a single
/// `command_execution = "Successful"` field (as PI30's `(ACK` does).
pub fn decode_frame(query: &str, frame: &[u8], opts: DecodeOptions) -> Result<Reading, Pi18Error> {
    match decode_reply(frame, opts)? {
        Reply::Data(payload) => Ok(decode_payload(query, &payload)?),
        Reply::Accepted => {
            let mut r = Reading::new();
            r.push(Field::new("command_execution", "Successful").with_raw("^1"));
            Ok(r)
        }
        Reply::Refused => Err(Pi18Error::Refused),
        Reply::Nak => Err(Pi18Error::Nak),
        Reply::Pi30Frame(s) => Err(Pi18Error::ProtocolMismatch(s)),
        Reply::Echo(s) => Err(Pi18Error::Echo(s)),
    }
}

/// PI: two digits, `18` (a PI17 unit says `17`). Published as PI30's `protocol_id` does it:
/// `PI18`, raw `18`.
fn decode_pi(query: &str, payload: &str, r: &mut Reading) -> Result<(), DecodeError> {
    if payload.len() != 2 || !payload.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_payload(
            query,
            format!("protocol id {payload:?} is not two digits"),
        ));
    }
    r.push(Field::new("protocol_id", format!("PI{payload}")).with_raw(payload));
    Ok(())
}

/// ID: `LL` + 20 characters, LL = number of valid serial characters (V27: `14…` -> 14 digits).
fn decode_id(query: &str, payload: &str, r: &mut Reading) -> Result<(), DecodeError> {
    let len: usize = payload
        .get(..2)
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            invalid_payload(
                query,
                format!("serial length prefix missing in {payload:?}"),
            )
        })?;
    let serial = payload
        .get(2..2 + len)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            invalid_payload(
                query,
                format!(
                    "serial announces {len} characters but {} follow",
                    payload.len().saturating_sub(2)
                ),
            )
        })?;
    r.push(Field::new("serial_number", serial).with_raw(payload));
    Ok(())
}

/// FWS: fault code, then 0/1 warning flags; `active_warnings` lists the set ones.
fn decode_fws(query: &str, tokens: &[&str], r: &mut Reading) -> Result<(), DecodeError> {
    if tokens.len() < FWS_REQUIRED {
        return Err(missing(
            query,
            tokens.len(),
            FWS_REQUIRED,
            if tokens.is_empty() {
                "fault_code"
            } else {
                WARNINGS.get(tokens.len() - 1).copied().unwrap_or("?")
            },
        ));
    }
    let mut active = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        if i == 0 {
            decode_token(query, &keyed("fault_code", FAULT_CODE_PI30_KEYS), tok, r)?;
            continue;
        }
        let name: std::borrow::Cow<'static, str> = match WARNINGS.get(i - 1) {
            Some(n) => (*n).into(),
            None => format!("unknown_warning_{}", i + 1).into(),
        };
        let set = match *tok {
            "0" => false,
            "1" => true,
            _ => {
                let field = WARNINGS.get(i - 1).copied().unwrap_or("unknown_warning");
                return Err(invalid_flags(query, field, tok));
            }
        };
        if set {
            active.push(name.to_string());
        }
        r.push(Field::new(name, set));
    }
    r.push(Field::new("active_warnings", active.join(",")).with_raw(tokens.join(",")));
    Ok(())
}

/// GS: the unit's PV power, PI30's `pv_input_power`, is the sum of both strings.
fn add_pv_total(r: &mut Reading) {
    let power = |name| r.value(name).and_then(Value::as_i64);
    let total = match (power("pv1_input_power"), power("pv2_input_power")) {
        (Some(a), Some(b)) => Some(a + b),
        (Some(a), None) | (None, Some(a)) => Some(a),
        (None, None) => None,
    };
    if let Some(total) = total {
        r.push(Field::new("pv_input_power", total).with_unit("W"));
    }
}

/// Decode comma-separated tokens by position.
fn positional(
    query: &str,
    tokens: &[&str],
    specs: &[Spec],
    required: usize,
    r: &mut Reading,
) -> Result<(), DecodeError> {
    crate::voltronic::positional(query, tokens, specs, required, r, decode_token)
}

/// Unsigned digits only: PI18 sends no sign and no decimal point.
fn parse_digits(tok: &str) -> Option<i64> {
    if tok.is_empty() || tok.len() > MAX_NUMBER_LEN || !tok.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tok.parse().ok()
}

fn decode_token(query: &str, spec: &Spec, tok: &str, r: &mut Reading) -> Result<(), DecodeError> {
    // An empty field is "absent" (spec: reserved fields are sent empty).
    if tok.is_empty() {
        return Ok(());
    }
    let bad_number = || invalid_number(query, spec.name, tok);
    let bool_of = |tok: &str| match tok {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(invalid_flags(query, spec.name, tok)),
    };
    match spec.kind {
        Kind::Int => {
            let v = parse_digits(tok).ok_or_else(bad_number)?;
            r.push(spec.field(v));
        }
        Kind::Tenths => {
            let v = parse_digits(tok).ok_or_else(bad_number)?;
            // Exact for every value a 16-digit field can carry below 2^53.
            r.push(spec.field(v as f64 / 10.0));
        }
        Kind::Text => r.push(Field::new(spec.name, tok)),
        Kind::Opt(table) => {
            r.push(enum_field(
                spec.name,
                lookup_opt(table, tok, parse_digits),
                tok,
            ));
        }
        // "5" and "05" are the same code.
        Kind::Keyed(table) => {
            r.push(enum_field(
                spec.name,
                lookup_keyed(table, tok, parse_digits),
                tok,
            ));
        }
        Kind::Bool => r.push(Field::new(spec.name, bool_of(tok)?)),
        Kind::Enabled => {
            let value = if bool_of(tok)? { "enabled" } else { "disabled" };
            r.push(Field::new(spec.name, value).with_raw(tok));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The golden vectors (every frame of the reference's vectors.md that decodes) are in
    // `super::super::vectors_test`; these are the rules.

    fn gs_with(i: usize, token: &str) -> String {
        let mut t: Vec<String> = "2422,499,2305,499,1475,1458,026,526,000,000,000,007,084,046,000,000,1924,0000,2654,0000,0,2,0,1,1,2,0,1"
            .split(',')
            .map(str::to_string)
            .collect();
        t[i] = token.to_string();
        t.join(",")
    }

    #[test]
    fn too_few_fields_names_the_missing_one() {
        let short = "2422,499,2305";
        assert_eq!(
            decode_payload("GS", short),
            Err(DecodeError::MissingField {
                query: "GS".into(),
                field: "ac_output_frequency",
                position: 4,
                got: 3,
                required: 28,
            })
        );
        let err = decode_payload("FWS", "00,0,0").unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::MissingField {
                    field: "over_temperature_fault",
                    position: 4,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(decode_payload("PIRI", "2300,217").is_err());
        assert!(decode_payload("VFW", "05220").is_err());
        assert!(decode_payload("FLAG", "1,1,1,0,0,1,0,1").is_err());
    }

    #[test]
    fn non_digits_are_errors_never_numbers() {
        for bad in [
            "-001",
            "+01",
            "05.2",
            "1e3",
            " 52",
            "0x1",
            "inf",
            "12345678901234567",
        ] {
            assert!(
                matches!(
                    decode_payload("GS", &gs_with(7, bad)),
                    Err(DecodeError::InvalidNumber {
                        field: "battery_voltage",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            decode_payload("GS", &gs_with(20, "2")),
            Err(DecodeError::InvalidFlags {
                field: "is_configuration_changed",
                ..
            })
        ));
        assert!(matches!(
            decode_payload("FWS", "00,0,0,0,0,0,0,0,0,x,0,0,0,0,0,0,0"),
            Err(DecodeError::InvalidFlags {
                field: "eeprom_fault",
                ..
            })
        ));
        assert!(matches!(
            decode_payload("FLAG", "1,1,1,0,0,1,0,2,0"),
            Err(DecodeError::InvalidFlags {
                field: "record_fault_code",
                ..
            })
        ));
    }

    #[test]
    fn implausible_values_are_errors() {
        // 999.9 V battery.
        let err = decode_payload("GS", &gs_with(7, "9999")).unwrap_err();
        assert!(
            matches!(&err, DecodeError::Implausible { field, value, .. }
                if field == "battery_voltage" && value == "999.9"),
            "{err:?}"
        );
        assert!(decode_payload("GS", &gs_with(12, "101")).is_err());
    }

    #[test]
    fn empty_fields_are_absent_and_unknown_codes_kept() {
        let r = decode_payload("GS", &gs_with(9, "")).unwrap();
        assert!(r.get("battery_voltage_from_scc2").is_none());
        assert_eq!(r.len(), 28); // 27 decoded + pv_input_power
        let r = decode_payload("GS", &gs_with(24, "7")).unwrap();
        let f = r.get("battery_power_direction").unwrap();
        assert_eq!(f.value.as_str(), Some("Unknown (7)"));
        assert_eq!(f.raw.as_deref(), Some("7"));
        let r = decode_payload("MOD", "09").unwrap();
        assert_eq!(
            r.value("device_mode").and_then(Value::as_str),
            Some("Unknown (09)")
        );
    }

    #[test]
    fn pv_total_is_the_sum_of_both_strings() {
        let r = decode_payload("GS", &gs_with(17, "0100")).unwrap();
        assert_eq!(
            r.value("pv1_input_power").and_then(Value::as_i64),
            Some(1924)
        );
        assert_eq!(
            r.value("pv2_input_power").and_then(Value::as_i64),
            Some(100)
        );
        assert_eq!(
            r.value("pv_input_power").and_then(Value::as_i64),
            Some(2024)
        );
        let r = decode_payload("GS", &gs_with(17, "")).unwrap();
        assert_eq!(
            r.value("pv_input_power").and_then(Value::as_i64),
            Some(1924)
        );
    }

    #[test]
    fn malformed_special_payloads() {
        for bad in ["", "1", "P8", "180"] {
            assert!(decode_payload("PI", bad).is_err(), "PI {bad:?}");
        }
        for bad in ["", "1", "x4123", "1401234", "00"] {
            assert!(decode_payload("ID", bad).is_err(), "ID {bad:?}");
        }
        assert_eq!(
            decode_payload("ID", "1401234567890123456789")
                .unwrap()
                .value("serial_number")
                .and_then(Value::as_str),
            Some("01234567890123")
        );
        assert!(decode_payload("MCHGCR", "010,,020").is_err());
        assert!(matches!(
            decode_payload("QPIGS", "1"),
            Err(DecodeError::UnknownQuery(_))
        ));
    }

    #[test]
    fn supported_queries_all_parse() {
        for q in supported_queries() {
            assert!(q.parse::<Query>().is_ok(), "{q}");
        }
        assert_eq!(supported_queries().len(), Query::ALL.len());
    }

    proptest! {
        #[test]
        fn decode_payload_never_panics(payload in "[ -~]{0,200}", qi in 0usize..10) {
            let _ = decode_payload(supported_queries()[qi], &payload);
        }

        #[test]
        fn decode_payload_fields_never_panic(
            tokens in proptest::collection::vec("[0-9]{0,5}|[A-Z]", 0..40), qi in 0usize..10)
        {
            let _ = decode_payload(supported_queries()[qi], &tokens.join(","));
        }

        #[test]
        fn decode_frame_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                     qi in 0usize..10, lenient: bool) {
            let q = supported_queries()[qi];
            let _ = decode_frame(q, &bytes, DecodeOptions { lenient_crc: lenient });
        }

        #[test]
        fn decode_frame_valid_crc_never_panics(payload in "[ -~]{1,150}", qi in 0usize..10) {
            let frame = crate::pi18::codec::encode_reply(&payload).unwrap();
            let _ = decode_frame(supported_queries()[qi], &frame, DecodeOptions::default());
        }
    }
}
