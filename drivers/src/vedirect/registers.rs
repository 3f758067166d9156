//! VE.Direct HEX register table and little-endian value conversion.
//!
//! Specs: "BMV700 Series Hex Protocol" Rev 6 (product, monitor, history and settings registers) and
//! "VE.Direct Protocol – BlueSolar and SmartSolar MPPT chargers" Rev 10 (product, device control,
//! battery, charger, panel, load, relay, lighting, history and remote-control registers).
//!
//! A register value travels as the `value` bytes of a Get/Set/Async frame (see [`super::hex`]),
//! little-endian, with the width of its type (`un8`, `sn16`, `un32`, ...). Strings are zero-ended
//! when shorter than their maximum. Physical value = raw × `scale` + `offset`.
//!
//! Choices:
//! - 0xEDEC battery temperature (un16, 0.01 K) is exposed in °C (offset −273.15), like every other
//!   temperature here and like 0x2003 which the bridge writes. `Register::encode(25.0)` gives the
//!   raw 29815 (0x7477).
//! - A register whose "not available" pattern is documented (0xEDEC 0xFFFF, 0x2002 0xFFFF,
//!   0x2003 0x7FFF, 0x2027 0xFFFFFFFF, ...) decodes that pattern to `Ok(None)`, and `encode`
//!   refuses to produce it from a number (write it with [`Register::not_available_bytes`]).
//!   No pattern is invented where the documents give none.
//! - Ids whose meaning differs between BMV and MPPT (0x0350..0x0353 relay levels: 0.1 V on the
//!   BMV, 0.01 V on the MPPT) are left out: one table cannot scale them right for both.
//! - 0x0100 product id is un32 (instance, product id, 0xFF) as on firmware ≥ 1.30; the 2-byte
//!   answer of older firmware is rejected with a length error (the spec says to ignore it and
//!   use the `:4` product id command instead).
//! - 0xEEFF is consumed Ah (sn32, 0.1 Ah); 0xEEB6 is the synchronisation state (un8), as in the
//!   BMV document.

use super::hex::HexError;
use crate::reading::Value;
use serde::Serialize;

/// Register value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RegisterKind {
    Un8,
    Sn8,
    Un16,
    Sn16,
    Un32,
    Sn32,
    /// Text, zero-ended when shorter than its maximum.
    String,
    /// Opaque bytes (history records, commands), decoded as uppercase hex text.
    Bytes,
}

impl RegisterKind {
    /// Width in bytes of the numeric kinds.
    pub fn width(self) -> Option<usize> {
        match self {
            RegisterKind::Un8 | RegisterKind::Sn8 => Some(1),
            RegisterKind::Un16 | RegisterKind::Sn16 => Some(2),
            RegisterKind::Un32 | RegisterKind::Sn32 => Some(4),
            RegisterKind::String | RegisterKind::Bytes => None,
        }
    }

    pub fn is_signed(self) -> bool {
        matches!(
            self,
            RegisterKind::Sn8 | RegisterKind::Sn16 | RegisterKind::Sn32
        )
    }

    fn name(self) -> &'static str {
        match self {
            RegisterKind::Un8 => "un8",
            RegisterKind::Sn8 => "sn8",
            RegisterKind::Un16 => "un16",
            RegisterKind::Sn16 => "sn16",
            RegisterKind::Un32 => "un32",
            RegisterKind::Sn32 => "sn32",
            RegisterKind::String => "string",
            RegisterKind::Bytes => "bytes",
        }
    }

    /// Raw integer range.
    fn range(self) -> (i64, i64) {
        match self {
            RegisterKind::Un8 => (0, u8::MAX.into()),
            RegisterKind::Sn8 => (i8::MIN.into(), i8::MAX.into()),
            RegisterKind::Un16 => (0, u16::MAX.into()),
            RegisterKind::Sn16 => (i16::MIN.into(), i16::MAX.into()),
            RegisterKind::Un32 => (0, u32::MAX.into()),
            RegisterKind::Sn32 => (i32::MIN.into(), i32::MAX.into()),
            RegisterKind::String | RegisterKind::Bytes => (0, 0),
        }
    }
}

/// One register: id, snake_case name (text-field names where the meaning is the same), type,
/// `value = raw × scale + offset`, unit, and the raw "not available" pattern (unsigned bits of
/// the value's width), if documented.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Register {
    pub id: u16,
    pub name: &'static str,
    pub kind: RegisterKind,
    pub scale: f64,
    pub offset: f64,
    pub unit: Option<&'static str>,
    pub not_available: Option<u64>,
}

/// Little-endian helpers; each wants exactly the width of its type.
fn exact<const N: usize>(bytes: &[u8]) -> Result<[u8; N], HexError> {
    bytes.try_into().map_err(|_| HexError::Length {
        expected: N,
        got: bytes.len(),
    })
}
pub fn decode_le_u8(bytes: &[u8]) -> Result<u8, HexError> {
    exact::<1>(bytes).map(u8::from_le_bytes)
}
pub fn decode_le_i8(bytes: &[u8]) -> Result<i8, HexError> {
    exact::<1>(bytes).map(i8::from_le_bytes)
}
pub fn decode_le_u16(bytes: &[u8]) -> Result<u16, HexError> {
    exact::<2>(bytes).map(u16::from_le_bytes)
}
pub fn decode_le_i16(bytes: &[u8]) -> Result<i16, HexError> {
    exact::<2>(bytes).map(i16::from_le_bytes)
}
pub fn decode_le_u32(bytes: &[u8]) -> Result<u32, HexError> {
    exact::<4>(bytes).map(u32::from_le_bytes)
}
pub fn decode_le_i32(bytes: &[u8]) -> Result<i32, HexError> {
    exact::<4>(bytes).map(i32::from_le_bytes)
}

/// Raw integer value of a numeric kind (sign-extended for signed kinds).
pub fn decode_le_int(kind: RegisterKind, bytes: &[u8]) -> Result<i64, HexError> {
    Ok(match kind {
        RegisterKind::Un8 => decode_le_u8(bytes)?.into(),
        RegisterKind::Sn8 => decode_le_i8(bytes)?.into(),
        RegisterKind::Un16 => decode_le_u16(bytes)?.into(),
        RegisterKind::Sn16 => decode_le_i16(bytes)?.into(),
        RegisterKind::Un32 => decode_le_u32(bytes)?.into(),
        RegisterKind::Sn32 => decode_le_i32(bytes)?.into(),
        RegisterKind::String | RegisterKind::Bytes => {
            return Err(HexError::NotNumeric {
                id: 0,
                kind: kind.name(),
            });
        }
    })
}

/// Little-endian bytes of `raw` in the width of `kind` (two's complement for negatives).
fn encode_le(kind: RegisterKind, raw: i64) -> Vec<u8> {
    let width = kind.width().unwrap_or(0);
    raw.to_le_bytes().iter().take(width).copied().collect()
}

impl Register {
    /// `1 / scale` when that is a whole number (0.01 → 100): dividing by it gives the double
    /// nearest the decimal value (1318 / 100 = 13.18), which multiplying by 0.01 does not always.
    fn divisor(&self) -> Option<f64> {
        let inv = 1.0 / self.scale;
        (inv.is_finite() && inv >= 1.0 && (inv - inv.round()).abs() < 1e-9).then(|| inv.round())
    }

    /// `offset` in raw units (−273.15 °C at 0.01 → −27315), exact when it is a whole number.
    fn offset_raw(&self) -> f64 {
        let units = self.offset / self.scale;
        if (units - units.round()).abs() < 1e-6 {
            units.round()
        } else {
            units
        }
    }

    fn is_plain_int(&self) -> bool {
        self.scale == 1.0 && self.offset == 0.0
    }

    fn raw_to_value(&self, raw: i64) -> Value {
        if self.is_plain_int() {
            return Value::Int(raw);
        }
        let shifted = raw as f64 + self.offset_raw();
        Value::Float(match self.divisor() {
            Some(div) => shifted / div,
            None => shifted * self.scale,
        })
    }

    /// Decode a register value. `Ok(None)` is the documented "not available" value.
    pub fn decode(&self, bytes: &[u8]) -> Result<Option<Value>, HexError> {
        match self.kind {
            RegisterKind::String => {
                let text = bytes.split(|b| *b == 0).next().unwrap_or_default();
                Ok(Some(Value::Text(
                    String::from_utf8_lossy(text).into_owned(),
                )))
            }
            RegisterKind::Bytes => {
                let mut s = String::with_capacity(bytes.len() * 2);
                for b in bytes {
                    s.push_str(&format!("{b:02X}"));
                }
                Ok(Some(Value::Text(s)))
            }
            kind => {
                let width = kind.width().unwrap_or(0);
                if bytes.len() != width {
                    return Err(HexError::ValueLength {
                        id: self.id,
                        expected: width,
                        got: bytes.len(),
                    });
                }
                let raw = decode_le_int(kind, bytes)?;
                let bits = (raw as u64) & width_mask(width);
                if self.not_available == Some(bits) {
                    return Ok(None);
                }
                Ok(Some(self.raw_to_value(raw)))
            }
        }
    }

    /// Encode a physical value: `raw = round((value − offset) / scale)`, range-checked against
    /// the type, refusing the "not available" pattern.
    pub fn encode(&self, value: f64) -> Result<Vec<u8>, HexError> {
        if self.kind.width().is_none() {
            return Err(HexError::NotNumeric {
                id: self.id,
                kind: self.kind.name(),
            });
        }
        let units = match self.divisor() {
            Some(div) => value * div,
            None => value / self.scale,
        };
        let raw = (units - self.offset_raw()).round();
        let (min, max) = self.kind.range();
        if !raw.is_finite() || raw < min as f64 || raw > max as f64 {
            return Err(HexError::OutOfRange {
                id: self.id,
                value: value.to_string(),
                min: self.raw_to_display(min),
                max: self.raw_to_display(max),
            });
        }
        let raw = raw as i64;
        let width = self.kind.width().unwrap_or(0);
        if self.not_available == Some((raw as u64) & width_mask(width)) {
            return Err(HexError::ReservedValue {
                id: self.id,
                value: value.to_string(),
            });
        }
        Ok(encode_le(self.kind, raw))
    }

    fn raw_to_display(&self, raw: i64) -> String {
        match self.raw_to_value(raw) {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            other => format!("{other:?}"),
        }
    }

    /// The bytes that mean "not available" (e.g. `FF 7F` for 0x2003), if the register has them.
    pub fn not_available_bytes(&self) -> Option<Vec<u8>> {
        let width = self.kind.width()?;
        let na = self.not_available?;
        Some(na.to_le_bytes().iter().take(width).copied().collect())
    }
}

fn width_mask(width: usize) -> u64 {
    match width {
        1 => 0xFF,
        2 => 0xFFFF,
        4 => 0xFFFF_FFFF,
        _ => u64::MAX,
    }
}

const fn r(
    id: u16,
    name: &'static str,
    kind: RegisterKind,
    scale: f64,
    unit: Option<&'static str>,
) -> Register {
    Register {
        id,
        name,
        kind,
        scale,
        offset: 0.0,
        unit,
        not_available: None,
    }
}

const fn na(reg: Register, pattern: u64) -> Register {
    Register {
        not_available: Some(pattern),
        ..reg
    }
}

use RegisterKind::{Bytes, Sn16, Sn32, Un8, Un16, Un32};
const V: Option<&str> = Some("V");
const A: Option<&str> = Some("A");
const W: Option<&str> = Some("W");
const AH: Option<&str> = Some("Ah");
const KWH: Option<&str> = Some("kWh");
const PCT: Option<&str> = Some("%");
const DEGC: Option<&str> = Some("°C");
const MIN: Option<&str> = Some("min");
const SEC: Option<&str> = Some("s");
const HOURS: Option<&str> = Some("h");
const NONE: Option<&str> = None;

/// The register table, sorted by id (checked by a test) so [`lookup`] can binary-search.
static REGISTERS: &[Register] = &[
    r(0x0004, "restore_defaults", Bytes, 1.0, NONE),
    r(0x0090, "bluetooth_mode", Un8, 1.0, NONE),
    r(0x0100, "product_id", Un32, 1.0, NONE),
    r(0x0104, "group_id", Un8, 1.0, NONE),
    r(0x010A, "serial_number", RegisterKind::String, 1.0, NONE),
    r(0x010B, "model_name", RegisterKind::String, 1.0, NONE),
    r(0x010C, "description", RegisterKind::String, 1.0, NONE),
    r(0x0120, "uptime", Un32, 1.0, SEC),
    r(0x0140, "capabilities", Un32, 1.0, NONE),
    r(0x0150, "ble_capabilities", Un32, 1.0, NONE),
    r(0x0200, "device_mode", Un8, 1.0, NONE),
    // 255 = "UNAVAILABLE, no information available".
    na(r(0x0201, "device_state", Un8, 1.0, NONE), 0xFF),
    r(0x0202, "remote_control_used", Un32, 1.0, NONE),
    r(0x0205, "device_off_reason", Un8, 1.0, NONE),
    r(0x0207, "device_off_reason_2", Un32, 1.0, NONE),
    // BMV history (H1..H18 of the text protocol).
    r(0x0300, "deepest_discharge", Sn32, 0.1, AH),
    r(0x0301, "last_discharge", Sn32, 0.1, AH),
    r(0x0302, "average_discharge", Sn32, 0.1, AH),
    r(0x0303, "charge_cycles", Un32, 1.0, NONE),
    r(0x0304, "full_discharges", Un32, 1.0, NONE),
    r(0x0305, "cumulative_ah_drawn", Sn32, 0.1, AH),
    r(0x0306, "min_battery_voltage", Sn32, 0.01, V),
    r(0x0307, "max_battery_voltage", Sn32, 0.01, V),
    r(0x0308, "seconds_since_full_charge", Un32, 1.0, SEC),
    r(0x0309, "automatic_syncs", Un32, 1.0, NONE),
    r(0x030A, "low_voltage_alarms", Un32, 1.0, NONE),
    r(0x030B, "high_voltage_alarms", Un32, 1.0, NONE),
    r(0x030E, "min_starter_voltage", Sn32, 0.01, V),
    r(0x030F, "max_starter_voltage", Sn32, 0.01, V),
    r(0x0310, "discharged_energy", Un32, 0.01, KWH),
    r(0x0311, "charged_energy", Un32, 0.01, KWH),
    // BMV alarm settings (0.1 V / 0.1 % steps; temperatures 0.01 K with 0 = disabled).
    r(0x0320, "alarm_low_voltage", Un16, 0.1, V),
    r(0x0321, "alarm_low_voltage_clear", Un16, 0.1, V),
    r(0x0322, "alarm_high_voltage", Un16, 0.1, V),
    r(0x0323, "alarm_high_voltage_clear", Un16, 0.1, V),
    r(0x0328, "alarm_low_soc", Un16, 0.1, PCT),
    r(0x0329, "alarm_low_soc_clear", Un16, 0.1, PCT),
    r(0x034D, "relay_invert", Un8, 1.0, NONE),
    r(0x034E, "relay_state", Un8, 1.0, NONE),
    r(0x034F, "relay_mode", Un8, 1.0, NONE),
    r(0x0382, "mid_point_voltage", Un16, 0.01, V),
    r(0x0383, "mid_point_deviation", Sn16, 0.1, PCT),
    r(0x0400, "display_backlight", Un8, 1.0, NONE),
    r(0x0401, "display_backlight_intensity", Un8, 1.0, NONE),
    r(0x0402, "display_scroll_speed", Un8, 1.0, NONE),
    r(0x0403, "display_setup_lock", Un8, 1.0, NONE),
    r(0x0404, "display_temperature_unit", Un8, 1.0, NONE),
    // BMV state of charge / time to go.
    r(0x0FFE, "time_to_go", Un16, 1.0, MIN),
    r(0x0FFF, "state_of_charge", Un16, 0.01, PCT),
    // BMV battery settings.
    r(0x1000, "battery_capacity", Un16, 1.0, AH),
    r(0x1001, "charged_voltage", Un16, 0.1, V),
    r(0x1002, "tail_current", Un16, 0.1, PCT),
    r(0x1003, "charged_detection_time", Un16, 1.0, MIN),
    r(0x1004, "charge_efficiency", Un16, 1.0, PCT),
    r(0x1005, "peukert_coefficient", Un16, 0.01, NONE),
    r(0x1006, "current_threshold", Un16, 0.01, A),
    r(0x1007, "ttg_delta_t", Un16, 1.0, MIN),
    r(0x1008, "discharge_floor", Un16, 0.1, PCT),
    r(0x1009, "relay_low_soc_clear", Un16, 0.1, PCT),
    r(0x100A, "relay_min_enabled_time", Un16, 1.0, MIN),
    r(0x100B, "relay_disable_time", Un16, 1.0, MIN),
    r(0x1029, "zero_current", Bytes, 1.0, NONE),
    r(0x102C, "synchronize", Bytes, 1.0, NONE),
    r(0x1030, "clear_history", Bytes, 1.0, NONE),
    r(0x1034, "user_current_zero", Sn16, 1.0, NONE),
    // MPPT history records (34 bytes; see `HistoryDay` / `HistoryTotal`).
    r(0x104F, "history_total", Bytes, 1.0, NONE),
    r(0x1050, "history_day_0", Bytes, 1.0, NONE),
    r(0x1051, "history_day_1", Bytes, 1.0, NONE),
    r(0x1052, "history_day_2", Bytes, 1.0, NONE),
    r(0x1053, "history_day_3", Bytes, 1.0, NONE),
    r(0x1054, "history_day_4", Bytes, 1.0, NONE),
    r(0x1055, "history_day_5", Bytes, 1.0, NONE),
    r(0x1056, "history_day_6", Bytes, 1.0, NONE),
    r(0x1057, "history_day_7", Bytes, 1.0, NONE),
    r(0x1058, "history_day_8", Bytes, 1.0, NONE),
    r(0x1059, "history_day_9", Bytes, 1.0, NONE),
    r(0x105A, "history_day_10", Bytes, 1.0, NONE),
    r(0x105B, "history_day_11", Bytes, 1.0, NONE),
    r(0x105C, "history_day_12", Bytes, 1.0, NONE),
    r(0x105D, "history_day_13", Bytes, 1.0, NONE),
    r(0x105E, "history_day_14", Bytes, 1.0, NONE),
    r(0x105F, "history_day_15", Bytes, 1.0, NONE),
    r(0x1060, "history_day_16", Bytes, 1.0, NONE),
    r(0x1061, "history_day_17", Bytes, 1.0, NONE),
    r(0x1062, "history_day_18", Bytes, 1.0, NONE),
    r(0x1063, "history_day_19", Bytes, 1.0, NONE),
    r(0x1064, "history_day_20", Bytes, 1.0, NONE),
    r(0x1065, "history_day_21", Bytes, 1.0, NONE),
    r(0x1066, "history_day_22", Bytes, 1.0, NONE),
    r(0x1067, "history_day_23", Bytes, 1.0, NONE),
    r(0x1068, "history_day_24", Bytes, 1.0, NONE),
    r(0x1069, "history_day_25", Bytes, 1.0, NONE),
    r(0x106A, "history_day_26", Bytes, 1.0, NONE),
    r(0x106B, "history_day_27", Bytes, 1.0, NONE),
    r(0x106C, "history_day_28", Bytes, 1.0, NONE),
    r(0x106D, "history_day_29", Bytes, 1.0, NONE),
    r(0x106E, "history_day_30", Bytes, 1.0, NONE),
    // MPPT remote control / networking (firmware ≥ 1.29; the bridge writes 0x2002 / 0x2003).
    r(0x2000, "charge_algorithm_version", Un8, 1.0, NONE),
    r(0x2001, "charge_voltage_setpoint", Un16, 0.01, V),
    na(r(0x2002, "battery_voltage_sense", Un16, 0.01, V), 0xFFFF),
    na(
        r(0x2003, "battery_temperature_sense", Sn16, 0.01, DEGC),
        0x7FFF,
    ),
    r(0x2004, "remote_command", Un8, 1.0, NONE),
    r(0x2007, "charge_state_elapsed_time", Un32, 1.0, Some("ms")),
    r(0x2008, "absorption_time", Un16, 0.01, HOURS),
    r(0x2009, "network_error_code", Un8, 1.0, NONE),
    // 0x7FFFFFFF = not available (capture H28; same convention as 0x2003's 0x7FFF).
    na(
        r(0x200A, "battery_charge_current", Sn32, 0.001, A),
        0x7FFF_FFFF,
    ),
    r(0x200B, "battery_idle_voltage", Un16, 0.01, V),
    r(0x200C, "network_device_state", Un8, 1.0, NONE),
    // Documented as un8 although its bit table lists a bit 8 (standby); see `NetworkInfo`.
    r(0x200D, "network_info", Un8, 1.0, NONE),
    r(0x200E, "network_mode", Un8, 1.0, NONE),
    r(0x200F, "network_status", Un8, 1.0, NONE),
    r(0x2013, "total_charge_current", Sn32, 0.001, A),
    r(0x2014, "charge_current_percentage", Un8, 1.0, PCT),
    r(0x2015, "charge_current_limit", Un16, 0.1, A),
    r(0x2018, "manual_equalisation_pending", Un8, 1.0, NONE),
    // 0xFFFFFFFF when the unit is not in a VE.Smart network (capture H30).
    na(
        r(0x2027, "total_dc_input_power", Un32, 0.01, W),
        0xFFFF_FFFF,
    ),
    r(0x2030, "solar_activity", Un8, 1.0, NONE),
    na(r(0x2031, "time_of_day", Un16, 1.0, MIN), 0xFFFF),
    r(0x2211, "adjustable_voltage_min", Un16, 0.01, V),
    r(0x2212, "adjustable_voltage_max", Un16, 0.01, V),
    // BMV settings-changed timestamp (0xFFFFFFFF = never modified).
    na(r(0xEC41, "settings_changed", Un32, 1.0, SEC), 0xFFFF_FFFF),
    r(0xED2E, "rebulk_voltage_offset", Un16, 0.01, V),
    r(0xED7D, "starter_voltage", Sn16, 0.01, V),
    r(0xED8C, "battery_current_precise", Sn32, 0.001, A),
    r(0xED8D, "battery_voltage", Sn16, 0.01, V),
    r(0xED8E, "battery_power", Sn16, 1.0, W),
    r(0xED8F, "battery_current", Sn16, 0.1, A),
    r(0xED90, "load_aes_timer", Un16, 1.0, MIN),
    r(0xED91, "load_off_reason", Un8, 1.0, NONE),
    r(0xED96, "sunset_delay", Un16, 1.0, MIN),
    r(0xED97, "sunrise_delay", Un16, 1.0, MIN),
    r(0xED98, "rx_port_mode", Un8, 1.0, NONE),
    r(0xED99, "panel_voltage_day", Un16, 0.01, V),
    r(0xED9A, "panel_voltage_night", Un16, 0.01, V),
    r(0xED9B, "gradual_dim_speed", Un8, 1.0, SEC),
    r(0xED9C, "load_switch_low_level", Un16, 0.01, V),
    r(0xED9D, "load_switch_high_level", Un16, 0.01, V),
    r(0xED9E, "tx_port_mode", Un8, 1.0, NONE),
    r(0xEDA0, "timer_event_0", Un32, 1.0, NONE),
    r(0xEDA1, "timer_event_1", Un32, 1.0, NONE),
    r(0xEDA2, "timer_event_2", Un32, 1.0, NONE),
    r(0xEDA3, "timer_event_3", Un32, 1.0, NONE),
    r(0xEDA4, "timer_event_4", Un32, 1.0, NONE),
    r(0xEDA5, "timer_event_5", Un32, 1.0, NONE),
    r(0xEDA7, "mid_point_shift", Sn16, 1.0, MIN),
    r(0xEDA8, "load_output_state", Un8, 1.0, NONE),
    r(0xEDA9, "load_output_voltage", Un16, 0.01, V),
    r(0xEDAB, "load_output_control", Un8, 1.0, NONE),
    r(0xEDAC, "load_offset_voltage", Un16, 0.01, V),
    r(0xEDAD, "load_current", Un16, 0.1, A),
    r(0xEDB3, "tracker_mode", Un8, 1.0, NONE),
    r(0xEDB8, "panel_max_voltage", Un16, 0.01, V),
    r(0xEDB9, "relay_panel_high_voltage_clear", Un16, 0.01, V),
    r(0xEDBA, "relay_panel_high_voltage_set", Un16, 0.01, V),
    r(0xEDBB, "panel_voltage", Un16, 0.01, V),
    r(0xEDBC, "panel_power", Un32, 0.01, W),
    r(0xEDBD, "panel_current", Un16, 0.1, A),
    r(0xEDCA, "voltage_compensation", Un16, 0.01, V),
    r(0xEDCC, "streetlight_version", Un8, 1.0, NONE),
    r(0xEDCD, "history_version", Un8, 1.0, NONE),
    r(0xEDCE, "voltage_settings_range", Un16, 1.0, NONE),
    r(0xEDD0, "max_power_yesterday", Un16, 1.0, W),
    // un32 up to firmware 1.12, un16 since (the table follows current firmware).
    r(0xEDD1, "yield_yesterday", Un16, 0.01, KWH),
    r(0xEDD2, "max_power_today", Un16, 1.0, W),
    r(0xEDD3, "yield_today", Un16, 0.01, KWH),
    r(0xEDD4, "additional_charger_state", Un8, 1.0, NONE),
    r(0xEDD5, "charger_voltage", Un16, 0.01, V),
    r(0xEDD7, "charger_current", Un16, 0.1, A),
    r(0xEDD9, "relay_operation_mode", Un8, 1.0, NONE),
    r(0xEDDA, "charger_error", Un8, 1.0, NONE),
    r(0xEDDB, "charger_temperature", Sn16, 0.01, DEGC),
    r(0xEDDC, "user_yield", Un32, 0.01, KWH),
    r(0xEDDD, "system_yield", Un32, 0.01, KWH),
    r(0xEDDF, "charger_max_current", Un16, 0.01, A),
    r(0xEDE0, "battery_low_temperature_level", Sn16, 0.01, DEGC),
    r(0xEDE3, "equalisation_duration", Un16, 0.01, HOURS),
    r(0xEDE4, "equalisation_current_level", Un8, 1.0, PCT),
    r(0xEDE5, "auto_equalise_stop_on_voltage", Un8, 1.0, NONE),
    // 0xFFFF means "use the maximum current", a setting rather than a missing value.
    r(0xEDE6, "low_temperature_charge_current", Un16, 0.1, A),
    r(0xEDE7, "tail_current_setting", Un16, 0.1, A),
    r(0xEDE8, "bms_present", Un8, 1.0, NONE),
    r(0xEDEA, "battery_voltage_setting", Un8, 1.0, V),
    // Battery temperature: un16 in 0.01 K on the wire, exposed in °C (see the module docs).
    Register {
        offset: -273.15,
        not_available: Some(0xFFFF),
        ..r(0xEDEC, "battery_temperature", Un16, 0.01, DEGC)
    },
    r(0xEDEF, "system_voltage", Un8, 1.0, V),
    r(0xEDF0, "battery_max_current", Un16, 0.1, A),
    r(0xEDF1, "battery_type", Un8, 1.0, NONE),
    r(0xEDF2, "temperature_compensation", Sn16, 0.01, Some("mV/K")),
    r(0xEDF4, "equalisation_voltage", Un16, 0.01, V),
    r(0xEDF6, "float_voltage", Un16, 0.01, V),
    r(0xEDF7, "absorption_voltage", Un16, 0.01, V),
    r(0xEDFB, "absorption_time_limit", Un16, 0.01, HOURS),
    r(0xEDFC, "bulk_time_limit", Un16, 0.01, HOURS),
    r(0xEDFD, "auto_equalisation_mode", Un8, 1.0, NONE),
    r(0xEDFE, "adaptive_mode", Un8, 1.0, NONE),
    r(0xEDFF, "batterysafe_mode", Un8, 1.0, NONE),
    r(0xEEB6, "synchronization_state", Un8, 1.0, NONE),
    r(
        0xEEF4,
        "temperature_coefficient",
        Un16,
        0.1,
        Some("%CAP/°C"),
    ),
    r(0xEEF6, "setup_lock", Un8, 1.0, NONE),
    r(0xEEF7, "temperature_unit", Un8, 1.0, NONE),
    r(0xEEF8, "auxiliary_input", Un8, 1.0, NONE),
    r(0xEEF9, "sw_version", Un16, 1.0, NONE),
    r(0xEEFA, "shunt_volts", Un16, 0.001, V),
    r(0xEEFB, "shunt_amps", Un16, 1.0, A),
    r(0xEEFC, "alarm_buzzer", Un8, 1.0, NONE),
    r(0xEEFF, "consumed_ah", Sn32, 0.1, AH),
];

/// The register with this id, if known.
pub fn lookup(id: u16) -> Option<&'static Register> {
    REGISTERS
        .binary_search_by_key(&id, |r| r.id)
        .ok()
        .and_then(|i| REGISTERS.get(i))
}

/// Every known register, sorted by id.
pub fn all() -> &'static [Register] {
    REGISTERS
}

/// A register by its table name (`battery_temperature`) or its id (`0xEDEC`), as users write it.
pub fn find(name_or_id: &str) -> Option<&'static Register> {
    let by_id = name_or_id
        .strip_prefix("0x")
        .or_else(|| name_or_id.strip_prefix("0X"))
        .and_then(|hex| u16::from_str_radix(hex, 16).ok())
        .and_then(lookup);
    by_id.or_else(|| REGISTERS.iter().find(|r| r.name == name_or_id))
}

/// 0x200F network status: low nibble = role, high bits = which remote data the unit uses. Read it
/// after writing 0x2002/0x2003 to confirm the MPPT really uses the remote values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NetworkStatus(pub u8);

impl NetworkStatus {
    /// The charge-algorithm role in the low nibble.
    pub fn role(self) -> &'static str {
        match self.0 & 0x0F {
            0x00 => "slave",
            0x01 => "group master",
            0x02 => "instance master",
            0x03 => "group and instance master",
            0x04 => "stand-alone",
            _ => "unknown",
        }
    }
    /// Bit 4: using ICHARGE (battery current estimate).
    pub fn uses_icharge(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// Bit 5: using ISENSE (actual battery current).
    pub fn uses_isense(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// Bit 6: using the remote temperature (0x2003).
    pub fn uses_tsense(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// Bit 7: using the remote voltage (0x2002).
    pub fn uses_vsense(self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// 0x200D network info bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NetworkInfo(pub u16);

impl NetworkInfo {
    pub fn bms_controlled(self) -> bool {
        self.0 & 0x01 != 0
    }
    pub fn remote_voltage_setpoint(self) -> bool {
        self.0 & 0x02 != 0
    }
    pub fn charge_slave(self) -> bool {
        self.0 & 0x04 != 0
    }
    pub fn charge_master(self) -> bool {
        self.0 & 0x08 != 0
    }
    pub fn uses_icharge(self) -> bool {
        self.0 & 0x10 != 0
    }
    pub fn uses_isense(self) -> bool {
        self.0 & 0x20 != 0
    }
    pub fn uses_tsense(self) -> bool {
        self.0 & 0x40 != 0
    }
    pub fn uses_vsense(self) -> bool {
        self.0 & 0x80 != 0
    }
    pub fn standby(self) -> bool {
        self.0 & 0x100 != 0
    }
}

/// MPPT daily history record (registers 0x1050..0x106E, 34 bytes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryDay {
    /// kWh
    pub yield_kwh: f64,
    /// kWh; `None` on models without a load output (0xFFFFFFFF).
    pub consumed_kwh: Option<f64>,
    pub battery_voltage_max: f64,
    pub battery_voltage_min: f64,
    /// Most recent first.
    pub errors: [u8; 4],
    pub time_bulk_min: u16,
    pub time_absorption_min: u16,
    pub time_float_min: u16,
    pub power_max_w: u32,
    pub battery_current_max: f64,
    pub panel_voltage_max: f64,
    pub day_sequence: u16,
}

/// MPPT total history record (register 0x104F; 19 bytes on firmware 1.16, 34 since 1.17).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryTotal {
    /// Most recent first.
    pub errors: [u8; 4],
    pub user_yield_kwh: f64,
    pub system_yield_kwh: f64,
    pub panel_voltage_max: f64,
    pub battery_voltage_max: f64,
    pub days_available: u8,
    /// Firmware ≥ 1.17 only.
    pub battery_voltage_min: Option<f64>,
}

fn at<const N: usize>(b: &[u8], offset: usize) -> Result<[u8; N], HexError> {
    b.get(offset..offset + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(HexError::Length {
            expected: offset + N,
            got: b.len(),
        })
}
fn u16_at(b: &[u8], o: usize) -> Result<u16, HexError> {
    at::<2>(b, o).map(u16::from_le_bytes)
}
fn u32_at(b: &[u8], o: usize) -> Result<u32, HexError> {
    at::<4>(b, o).map(u32::from_le_bytes)
}
fn centi(v: impl Into<f64>) -> f64 {
    v.into() / 100.0
}

impl HistoryDay {
    pub fn decode(b: &[u8]) -> Result<Self, HexError> {
        if b.len() != 34 {
            return Err(HexError::Length {
                expected: 34,
                got: b.len(),
            });
        }
        let consumed = u32_at(b, 5)?;
        Ok(HistoryDay {
            yield_kwh: centi(u32_at(b, 1)?),
            consumed_kwh: (consumed != u32::MAX).then(|| centi(consumed)),
            battery_voltage_max: centi(u16_at(b, 9)?),
            battery_voltage_min: centi(u16_at(b, 11)?),
            errors: at::<4>(b, 14)?,
            time_bulk_min: u16_at(b, 18)?,
            time_absorption_min: u16_at(b, 20)?,
            time_float_min: u16_at(b, 22)?,
            power_max_w: u32_at(b, 24)?,
            battery_current_max: f64::from(u16_at(b, 28)?) / 10.0,
            panel_voltage_max: centi(u16_at(b, 30)?),
            day_sequence: u16_at(b, 32)?,
        })
    }
}

impl HistoryTotal {
    pub fn decode(b: &[u8]) -> Result<Self, HexError> {
        if b.len() != 19 && b.len() != 34 {
            return Err(HexError::Length {
                expected: 34,
                got: b.len(),
            });
        }
        Ok(HistoryTotal {
            errors: at::<4>(b, 2)?,
            user_yield_kwh: centi(u32_at(b, 6)?),
            system_yield_kwh: centi(u32_at(b, 10)?),
            panel_voltage_max: centi(u16_at(b, 14)?),
            battery_voltage_max: centi(u16_at(b, 16)?),
            days_available: at::<1>(b, 18)?[0],
            battery_voltage_min: if b.len() == 34 {
                Some(centi(u16_at(b, 19)?))
            } else {
                None
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vedirect::hex::{HexFrame, decode_frame};
    use proptest::prelude::*;

    fn reg(id: u16) -> &'static Register {
        lookup(id).unwrap_or_else(|| panic!("no register {id:#06x}"))
    }

    /// Decode the value of a golden frame with the table.
    fn value_of(frame: &str) -> Option<Value> {
        let f = decode_frame(frame.as_bytes())
            .unwrap()
            .as_register()
            .unwrap();
        reg(f.id).decode(&f.value).unwrap()
    }

    fn float_of(frame: &str) -> f64 {
        value_of(frame).unwrap().as_f64().unwrap()
    }

    #[test]
    fn table_sorted_unique_and_sane() {
        assert!(REGISTERS.windows(2).all(|w| w[0].id < w[1].id));
        for r in REGISTERS {
            assert!(r.scale > 0.0, "{}", r.name);
            assert!(
                r.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
        }
        assert!(lookup(0x7777).is_none());
    }

    #[test]
    fn spec_types_and_scales() {
        let check = |id, kind, scale: f64, na: Option<u64>| {
            let r = reg(id);
            assert_eq!(
                (r.kind, r.scale, r.not_available),
                (kind, scale, na),
                "{id:#06x}"
            );
        };
        check(0xEDEC, Un16, 0.01, Some(0xFFFF));
        check(0xED8D, Sn16, 0.01, None);
        check(0xED8F, Sn16, 0.1, None);
        check(0xED8E, Sn16, 1.0, None);
        check(0x0FFF, Un16, 0.01, None);
        check(0x0FFE, Un16, 1.0, None);
        check(0xEEFF, Sn32, 0.1, None);
        check(0xEEB6, Un8, 1.0, None);
        check(0x1000, Un16, 1.0, None);
        check(0x0100, Un32, 1.0, None);
        check(0x0104, Un8, 1.0, None);
        check(0x010A, RegisterKind::String, 1.0, None);
        check(0x010B, RegisterKind::String, 1.0, None);
        check(0x0120, Un32, 1.0, None);
        check(0x0140, Un32, 1.0, None);
        check(0x0200, Un8, 1.0, None);
        check(0x0202, Un32, 1.0, None);
        check(0x0205, Un8, 1.0, None);
        check(0x0207, Un32, 1.0, None);
        check(0x2002, Un16, 0.01, Some(0xFFFF));
        check(0x2003, Sn16, 0.01, Some(0x7FFF));
        check(0x200A, Sn32, 0.001, Some(0x7FFF_FFFF));
        check(0x200D, Un8, 1.0, None);
        check(0x200E, Un8, 1.0, None);
        check(0x200F, Un8, 1.0, None);
        check(0x2027, Un32, 0.01, Some(0xFFFF_FFFF));
        check(0xEDF0, Un16, 0.1, None);
        check(0xEDF2, Sn16, 0.01, None);
        check(0xEDF6, Un16, 0.01, None);
        check(0xEDF7, Un16, 0.01, None);
        check(0xEDBB, Un16, 0.01, None);
        check(0xEDBC, Un32, 0.01, None);
        check(0xEDBD, Un16, 0.1, None);
        check(0xEDD0, Un16, 1.0, None);
        check(0xEDD5, Un16, 0.01, None);
        check(0xEDD7, Un16, 0.1, None);
        check(0xEDDB, Sn16, 0.01, None);
        check(0xEDA9, Un16, 0.01, None);
        check(0x104F, Bytes, 1.0, None);
        check(0x1050, Bytes, 1.0, None);
        check(0x106E, Bytes, 1.0, None);
    }

    #[test]
    fn golden_register_values() {
        assert_eq!(value_of(":7001000C80076"), Some(Value::Int(200))); // H5 200 Ah
        assert_eq!(float_of(":7F0ED009600DB"), 15.0); // H12
        assert_eq!(value_of(":70001000056A0FF58"), Some(Value::Int(4288697856))); // H19
        assert_eq!(float_of(":7F2ED00ACF9CA"), -16.2); // H20 mV/K
        assert_eq!(
            value_of(":70B0100536D617274536F6C61722043686172676572204D505054203130302F333000BA"),
            Some(Value::Text("SmartSolar Charger MPPT 100/30".into()))
        ); // H21
        assert_eq!(value_of(":7D0ED00000091"), Some(Value::Int(0))); // H23
        assert_eq!(float_of(":7DBED009E16D2"), 57.9); // H24
        assert_eq!(value_of(":7ECED00FFFF77"), None); // H25 N/A
        assert_eq!(float_of(":72720005450010062"), 861.0); // H26
        assert_eq!(value_of(":A022000FFFF2B"), None); // H27
        assert_eq!(value_of(":A0A2000FFFFFF7FA5"), None); // H28
        assert_eq!(float_of(":ABCED00355001001C"), 860.69); // H29
        assert_eq!(value_of(":7272000FFFFFFFF0B"), None); // H30
        assert_eq!(float_of(":7F7ED00441610"), 57.0); // H31
        assert_eq!(float_of(":7F6ED00EA156C"), 56.1);
        assert_eq!(float_of(":ADBED001A0D5C"), 33.54); // H32
        assert_eq!(value_of(":A0202000200000045"), Some(Value::Int(2)));
        assert_eq!(value_of(":A2001002200000008"), Some(Value::Int(34))); // H33
        assert_eq!(float_of(":ADBED00750806"), 21.65);
        assert_eq!(float_of(":AD5ED009708EA"), 21.99);
        assert_eq!(float_of(":A8DED00970832"), 21.99);
        assert_eq!(float_of(":AA9ED00C505EB"), 14.77); // H34
        assert_eq!(value_of(":A200100287003008F"), Some(Value::Int(225320))); // H35b
        assert_eq!(value_of(":A0102000345"), Some(Value::Int(3)));
        assert_eq!(float_of(":ADBED00CD0AAC"), 27.65);
        assert_eq!(float_of(":ABCED005AA10000A7"), 413.06);
        assert_eq!(float_of(":ABBED007A2801"), 103.62);
        assert_eq!(float_of(":7ECED0077748A"), 25.0); // H39 298.15 K
        assert_eq!(float_of(":78DED00F104DF"), 12.65); // H40
        assert_eq!(float_of(":78FED00E0FFF3"), -3.2); // H41
        assert_eq!(float_of(":80320002E09F3"), 23.5); // H42
        assert_eq!(float_of(":80320000CFE20"), -5.0); // H44
        assert_eq!(value_of(":8032000FF7FAC"), None); // H45
        assert_eq!(float_of(":8022000260500"), 13.18); // H46
        assert_eq!(value_of(":8022000FFFF2D"), None); // H47
        assert_eq!(value_of(":A032000FF7FAA"), None); // H48
    }

    #[test]
    fn bridge_frames_from_physical_values() {
        let t = reg(0x2003);
        assert_eq!(
            HexFrame::set(0x2003, &t.encode(23.50).unwrap()).encode(),
            b":80320002E09F3\n"
        ); // H42
        assert_eq!(
            HexFrame::set(0x2003, &t.encode(-5.0).unwrap()).encode(),
            b":80320000CFE20\n"
        ); // H44
        let na_t = t.not_available_bytes().unwrap();
        assert_eq!(HexFrame::set(0x2003, &na_t).encode(), b":8032000FF7FAC\n"); // H45
        let v = reg(0x2002);
        assert_eq!(
            HexFrame::set(0x2002, &v.encode(13.18).unwrap()).encode(),
            b":8022000260500\n"
        ); // H46
        let na_v = v.not_available_bytes().unwrap();
        assert_eq!(HexFrame::set(0x2002, &na_v).encode(), b":8022000FFFF2D\n"); // H47
        // BMV temperature in °C <-> 0.01 K
        assert_eq!(reg(0xEDEC).encode(25.0).unwrap(), vec![0x77, 0x74]);
        // Bridge: BMV 0xEDEC reply (H39, 25.00 °C) forwarded to MPPT 0x2003 (raw = K raw - 27315)
        let c = reg(0xEDEC)
            .decode(&[0x77, 0x74])
            .unwrap()
            .unwrap()
            .as_f64()
            .unwrap();
        assert_eq!(
            t.encode(c).unwrap(),
            (29815i16 - 27315).to_le_bytes().to_vec()
        );
    }

    #[test]
    fn encode_errors() {
        let v = reg(0x2002);
        assert!(matches!(v.encode(-1.0), Err(HexError::OutOfRange { .. })));
        assert!(matches!(v.encode(655.36), Err(HexError::OutOfRange { .. })));
        assert!(matches!(
            v.encode(655.35),
            Err(HexError::ReservedValue { .. })
        ));
        assert!(matches!(
            v.encode(f64::NAN),
            Err(HexError::OutOfRange { .. })
        ));
        assert!(matches!(
            reg(0x2003).encode(327.67),
            Err(HexError::ReservedValue { .. })
        ));
        assert!(matches!(
            reg(0x010B).encode(1.0),
            Err(HexError::NotNumeric { .. })
        ));
        let msg = v.encode(700.0).unwrap_err().to_string();
        assert!(msg.contains("0x2002") && msg.contains("655.35"), "{msg}");
        // rounding to the resolution
        assert_eq!(v.encode(13.1849).unwrap(), v.encode(13.18).unwrap());
        assert!(matches!(
            v.decode(&[1, 2, 3]),
            Err(HexError::ValueLength {
                id: 0x2002,
                expected: 2,
                got: 3
            })
        ));
        assert_eq!(reg(0x2002).not_available_bytes(), Some(vec![0xFF, 0xFF]));
        assert_eq!(
            reg(0x200A).not_available_bytes(),
            Some(vec![0xFF, 0xFF, 0xFF, 0x7F])
        );
        assert_eq!(reg(0xEDBB).not_available_bytes(), None);
    }

    #[test]
    fn le_helpers() {
        assert_eq!(decode_le_u16(&[0x26, 0x05]).unwrap(), 1318);
        assert_eq!(decode_le_i16(&[0x0C, 0xFE]).unwrap(), -500);
        assert_eq!(decode_le_u32(&[0x54, 0x50, 0x01, 0x00]).unwrap(), 0x15054);
        assert_eq!(decode_le_i32(&[0xFF, 0xFF, 0xFF, 0xFF]).unwrap(), -1);
        assert_eq!(decode_le_u8(&[7]).unwrap(), 7);
        assert_eq!(decode_le_i8(&[0xFF]).unwrap(), -1);
        assert!(decode_le_u16(&[1]).is_err());
    }

    #[test]
    fn history_records() {
        // T2: async 0x1050 day record from the BlueSolar capture
        let f = decode_frame(
            b":A501000000000000000000000ED04C6040000000000C200000000000B0000000900C80D120172",
        )
        .unwrap()
        .as_register()
        .unwrap();
        let d = HistoryDay::decode(&f.value).unwrap();
        assert_eq!(d.yield_kwh, 0.0);
        assert_eq!(d.consumed_kwh, Some(0.0));
        assert_eq!(d.battery_voltage_max, 12.61);
        assert_eq!(d.battery_voltage_min, 12.22);
        assert_eq!(d.errors, [0; 4]);
        assert_eq!(
            (d.time_bulk_min, d.time_absorption_min, d.time_float_min),
            (194, 0, 0)
        );
        assert_eq!(d.power_max_w, 11);
        assert_eq!(d.battery_current_max, 0.9);
        assert_eq!(d.panel_voltage_max, 35.28);
        assert_eq!(d.day_sequence, 274);
        // T7: 0x104F total record (firmware >= 1.17 layout)
        let f = decode_frame(
            b":A4F1000010000000000000000000000000001000D0500F904FFFFFFFFFFFFFFFFFFFFFFFFFFE8",
        )
        .unwrap()
        .as_register()
        .unwrap();
        let t = HistoryTotal::decode(&f.value).unwrap();
        assert_eq!(t.battery_voltage_max, 12.93);
        assert_eq!(t.battery_voltage_min, Some(12.73));
        assert!(HistoryDay::decode(&[0; 3]).is_err());
    }

    #[test]
    fn network_bits() {
        let s = NetworkStatus(0xC4);
        assert_eq!(s.role(), "stand-alone");
        assert!(s.uses_tsense() && s.uses_vsense() && !s.uses_isense());
        assert!(NetworkInfo(0x100).standby());
    }

    proptest! {
        #[test]
        fn numeric_register_round_trip(idx in 0usize..REGISTERS.len(), bits: u32) {
            let r = &REGISTERS[idx];
            if let Some(width) = r.kind.width() {
                let bytes: Vec<u8> = bits.to_le_bytes()[..width].to_vec();
                match r.decode(&bytes).unwrap() {
                    None => prop_assert_eq!(Some(bytes), r.not_available_bytes()),
                    Some(v) => {
                        let x = v.as_f64().unwrap();
                        prop_assert_eq!(r.encode(x).unwrap(), bytes);
                    }
                }
            }
        }

        #[test]
        fn encode_then_decode_is_close(idx in 0usize..REGISTERS.len(), x in -1e10f64..1e10) {
            let r = &REGISTERS[idx];
            if let Ok(bytes) = r.encode(x) {
                let back = r.decode(&bytes).unwrap().unwrap().as_f64().unwrap();
                prop_assert!((back - x).abs() <= r.scale / 2.0 + 1e-9 * x.abs(), "{} {} {}", r.name, x, back);
            }
        }

        #[test]
        fn decode_never_panics(idx in 0usize..REGISTERS.len(), bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = REGISTERS[idx].decode(&bytes);
            let _ = HistoryDay::decode(&bytes);
            let _ = HistoryTotal::decode(&bytes);
        }
    }
}
