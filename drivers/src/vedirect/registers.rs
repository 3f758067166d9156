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
//!
//! Writing: every register has an [`Access`]. Read-only ones (measurements, state, history,
//! identification) and write-only commands are never sent as a set, and a setting's value must
//! lie in its documented range ([`Register::range`]; the type's range where the documents give
//! none). [`Register::encode_setting`] (numbers) and [`Register::check_raw_setting`] (raw bytes,
//! incl. "not available") are the checks everything that writes goes through; the device would
//! otherwise answer flag 0x02 ("Attempting to write to a read only value") or 0x04 (parameter
//! error) only after the write went out.

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

/// Who may write a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Access {
    /// Measurements, state, history, identification: a set would be refused by the device.
    ReadOnly,
    /// Settings, and data a host or network master supplies (remote sense 0x2002/0x2003).
    ReadWrite,
    /// Commands: writing triggers an action (restore defaults, zero current, ...).
    WriteOnly,
}

/// One register: id, snake_case name (text-field names where the meaning is the same), type,
/// `value = raw × scale + offset`, unit, the raw "not available" pattern (unsigned bits of the
/// value's width), if documented, who may write it, and the documented range of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Register {
    pub id: u16,
    pub name: &'static str,
    pub kind: RegisterKind,
    pub scale: f64,
    pub offset: f64,
    pub unit: Option<&'static str>,
    pub not_available: Option<u64>,
    pub access: Access,
    /// `(min, max)` of a setting's physical value, both allowed, from the documents. `None`:
    /// none is documented (or the register is not writable), the type's range is the limit.
    pub range: Option<(f64, f64)>,
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

    /// `(value − offset) / scale`, not yet rounded.
    fn raw_units(&self, value: f64) -> f64 {
        let units = match self.divisor() {
            Some(div) => value * div,
            None => value / self.scale,
        };
        units - self.offset_raw()
    }

    /// Encode a physical value: `raw = round((value − offset) / scale)`, range-checked against
    /// the type, refusing the "not available" pattern. This is the inverse of [`Self::decode`];
    /// it does not check access or the documented range: to write, use
    /// [`Self::encode_setting`].
    pub fn encode(&self, value: f64) -> Result<Vec<u8>, HexError> {
        if self.kind.width().is_none() {
            return Err(HexError::NotNumeric {
                id: self.id,
                kind: self.kind.name(),
            });
        }
        let raw = self.raw_units(value).round();
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

    /// Refused unless the register may be written (read-only and write-only commands are not
    /// settings).
    fn check_writable(&self) -> Result<(), HexError> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(HexError::ReadOnly {
                id: self.id,
                name: self.name,
            }),
            Access::WriteOnly => Err(HexError::WriteOnlyCommand {
                id: self.id,
                name: self.name,
            }),
        }
    }

    /// Whether a number may be written to this register (`sungate set`, MQTT commands, the
    /// `[mqtt.allow]` list): a writable setting with a numeric type.
    pub fn check_settable(&self) -> Result<(), HexError> {
        self.check_writable()?;
        if self.kind.width().is_none() {
            return Err(HexError::NotNumeric {
                id: self.id,
                kind: self.kind.name(),
            });
        }
        Ok(())
    }

    /// The raw values a set may carry: the documented range, rounded to the resolution like a
    /// value, within the type's range; the type's range where none is documented.
    fn setting_bounds(&self) -> (i64, i64) {
        let (type_min, type_max) = self.kind.range();
        match self.range {
            Some((min, max)) => (
                (self.raw_units(min).round() as i64).max(type_min),
                (self.raw_units(max).round() as i64).min(type_max),
            ),
            None => (type_min, type_max),
        }
    }

    fn outside(&self, value: String, (min, max): (i64, i64)) -> HexError {
        HexError::OutsideRange {
            id: self.id,
            name: self.name,
            value,
            min: self.raw_to_display(min),
            max: self.raw_to_display(max),
            unit: self.unit.map(|u| format!(" {u}")).unwrap_or_default(),
        }
    }

    /// Encode a value to write: refuses read-only registers, write-only commands, text and
    /// values outside the documented range (checked after rounding to the register's
    /// resolution, so the documented ends are accepted exactly), then [`Self::encode`]s it.
    /// Every numeric write goes through here, before anything is sent.
    pub fn encode_setting(&self, value: f64) -> Result<Vec<u8>, HexError> {
        self.check_settable()?;
        let raw = self.raw_units(value).round();
        let bounds = self.setting_bounds();
        if !raw.is_finite() || raw < bounds.0 as f64 || raw > bounds.1 as f64 {
            return Err(self.outside(value.to_string(), bounds));
        }
        self.encode(value)
    }

    /// Check the raw value bytes of a set (`Command::HexSet`) like [`Self::encode_setting`]:
    /// the register must be writable, a numeric value must have the type's width and lie in
    /// the range. The documented "not available" pattern is allowed (0x2002 `FF FF`, 0x2003
    /// `FF 7F` tell the charger the remote value is gone). Text values are left to the device.
    pub fn check_raw_setting(&self, bytes: &[u8]) -> Result<(), HexError> {
        self.check_writable()?;
        let Some(width) = self.kind.width() else {
            return Ok(());
        };
        if bytes.len() != width {
            return Err(HexError::ValueLength {
                id: self.id,
                expected: width,
                got: bytes.len(),
            });
        }
        if self.not_available_bytes().as_deref() == Some(bytes) {
            return Ok(());
        }
        let raw = decode_le_int(self.kind, bytes)?;
        let bounds = self.setting_bounds();
        if raw < bounds.0 || raw > bounds.1 {
            return Err(self.outside(self.raw_to_display(raw), bounds));
        }
        Ok(())
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

/// A read-only register: measurements, state, identification, history.
const fn ro(
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
        access: Access::ReadOnly,
        range: None,
    }
}

/// A writable setting and the range of its physical value ([`between`] or [`TYPE_RANGE`]).
const fn rw(
    id: u16,
    name: &'static str,
    kind: RegisterKind,
    scale: f64,
    unit: Option<&'static str>,
    range: Option<(f64, f64)>,
) -> Register {
    Register {
        access: Access::ReadWrite,
        range,
        ..ro(id, name, kind, scale, unit)
    }
}

/// A write-only command: writing it triggers an action.
const fn cmd(id: u16, name: &'static str, kind: RegisterKind) -> Register {
    Register {
        access: Access::WriteOnly,
        ..ro(id, name, kind, 1.0, None)
    }
}

const fn na(reg: Register, pattern: u64) -> Register {
    Register {
        not_available: Some(pattern),
        ..reg
    }
}

/// A documented range, physical units, both ends allowed.
const fn between(min: f64, max: f64) -> Option<(f64, f64)> {
    Some((min, max))
}

/// The documents give no range for this setting: the type's range is the limit (the device
/// answers anything it does not accept with a parameter error).
const TYPE_RANGE: Option<(f64, f64)> = None;

/// On/off settings (`0..1 (OFF, ON)` in the BMV table, `0=off, 1=on` / `0=no, 1=yes` in the MPPT
/// one).
const ON_OFF: Option<(f64, f64)> = between(0.0, 1.0);

/// MPPT absorption, float and equalisation voltages. Note 5 of the MPPT battery settings:
/// 8..17.4 V for a 12 V system, i.e. per 12 V of battery. The table does not know the unit's
/// system voltage (12..48 V, "Battery voltage setting values"), so it checks the envelope
/// 8 V (12 V system) ..= 69.6 V (48 V system); the charger checks its own system voltage, and
/// 0x2211/0x2212 read its adjustable range.
const CHARGE_VOLTAGE: Option<(f64, f64)> = between(8.0, 69.6);

/// MPPT temperature compensation: −21..+21 mV/K for a 12 V system (note 5), scaled like the
/// voltages to the 48 V envelope.
const TEMP_COMPENSATION: Option<(f64, f64)> = between(-84.0, 84.0);

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
const MS: Option<&str> = Some("ms");
const MV_PER_K: Option<&str> = Some("mV/K");
const CAP_PER_DEGC: Option<&str> = Some("%CAP/°C");
const NONE: Option<&str> = None;
const STRING: RegisterKind = RegisterKind::String;

/// The register table, sorted by id (checked by a test) so [`lookup`] can binary-search.
///
/// Access: BMV registers follow the BMV document's marks ("(read only)", "(write only)") and
/// its "Monitor settings registers" table, whose "Range" column gives the ranges used here.
/// MPPT registers follow the sections of the MPPT document: product information, charger data,
/// solar panel data, load output data, history and network status are read-only; battery,
/// charger, load, relay, lighting, display, port and device-mode settings and the data a network
/// master writes (remote control registers) are writable.
#[rustfmt::skip] // one register a line: a table to read against the documents
static REGISTERS: &[Register] = &[
    // BMV "(write only)"; MPPT: "When a write message is addressed to register Id 0x0004 ...".
    cmd(0x0004, "restore_defaults", Bytes),
    rw(0x0090, "bluetooth_mode", Un8, 1.0, NONE, ON_OFF),
    ro(0x0100, "product_id", Un32, 1.0, NONE),
    // MPPT product information, used to group chargers for parallel charging.
    ro(0x0104, "group_id", Un8, 1.0, NONE),
    ro(0x010A, "serial_number", STRING, 1.0, NONE),
    ro(0x010B, "model_name", STRING, 1.0, NONE),
    // BMV-712 only, and not marked read-only in the BMV document. Text, so `sungate set`
    // (numbers only) cannot write it; a raw HEX set can.
    rw(0x010C, "description", STRING, 1.0, NONE, TYPE_RANGE),
    ro(0x0120, "uptime", Un32, 1.0, SEC),
    ro(0x0140, "capabilities", Un32, 1.0, NONE),
    // Not marked read-only in the BMV document, but it reports what the Bluetooth module can do.
    ro(0x0150, "ble_capabilities", Un32, 1.0, NONE),
    // 0 or 4 = charger off, 1 = on (envelope; the device refuses 2 and 3).
    rw(0x0200, "device_mode", Un8, 1.0, NONE, between(0.0, 4.0)),
    // 255 = "UNAVAILABLE, no information available".
    na(ro(0x0201, "device_state", Un8, 1.0, NONE), 0xFF),
    // A bit mask (bits can only be set); the host writes 0x00000002 to enable remote on/off.
    rw(0x0202, "remote_control_used", Un32, 1.0, NONE, TYPE_RANGE),
    ro(0x0205, "device_off_reason", Un8, 1.0, NONE),
    ro(0x0207, "device_off_reason_2", Un32, 1.0, NONE),
    // BMV history (H1..H18 of the text protocol).
    ro(0x0300, "deepest_discharge", Sn32, 0.1, AH),
    ro(0x0301, "last_discharge", Sn32, 0.1, AH),
    ro(0x0302, "average_discharge", Sn32, 0.1, AH),
    ro(0x0303, "charge_cycles", Un32, 1.0, NONE),
    ro(0x0304, "full_discharges", Un32, 1.0, NONE),
    ro(0x0305, "cumulative_ah_drawn", Sn32, 0.1, AH),
    ro(0x0306, "min_battery_voltage", Sn32, 0.01, V),
    ro(0x0307, "max_battery_voltage", Sn32, 0.01, V),
    ro(0x0308, "seconds_since_full_charge", Un32, 1.0, SEC),
    ro(0x0309, "automatic_syncs", Un32, 1.0, NONE),
    ro(0x030A, "low_voltage_alarms", Un32, 1.0, NONE),
    ro(0x030B, "high_voltage_alarms", Un32, 1.0, NONE),
    ro(0x030E, "min_starter_voltage", Sn32, 0.01, V),
    ro(0x030F, "max_starter_voltage", Sn32, 0.01, V),
    ro(0x0310, "discharged_energy", Un32, 0.01, KWH),
    ro(0x0311, "charged_energy", Un32, 0.01, KWH),
    // BMV alarm settings (0.1 V / 0.1 % steps).
    rw(0x0320, "alarm_low_voltage", Un16, 0.1, V, between(0.0, 95.0)),
    rw(0x0321, "alarm_low_voltage_clear", Un16, 0.1, V, between(0.0, 95.0)),
    rw(0x0322, "alarm_high_voltage", Un16, 0.1, V, between(0.0, 95.0)),
    rw(0x0323, "alarm_high_voltage_clear", Un16, 0.1, V, between(0.0, 95.0)),
    rw(0x0328, "alarm_low_soc", Un16, 0.1, PCT, between(0.0, 99.0)),
    rw(0x0329, "alarm_low_soc_clear", Un16, 0.1, PCT, between(0.0, 99.0)),
    rw(0x034D, "relay_invert", Un8, 1.0, NONE, ON_OFF),
    // "Relay State/Control": 0 open, 1 closed.
    rw(0x034E, "relay_state", Un8, 1.0, NONE, ON_OFF),
    // 0 DFLT, 1 CHRG, 2 REM.
    rw(0x034F, "relay_mode", Un8, 1.0, NONE, between(0.0, 2.0)),
    ro(0x0382, "mid_point_voltage", Un16, 0.01, V),
    ro(0x0383, "mid_point_deviation", Sn16, 0.1, PCT),
    // BMV "Backlight Always On" 0..1 (OFF, ON); on the MPPT's pluggable display the same id is
    // the backlight mode 0 keypress, 1 on, 2 auto. The range is the union; a BMV refuses 2.
    rw(0x0400, "backlight_always_on", Un8, 1.0, NONE, between(0.0, 2.0)),
    // 0x0401..0x0404: MPPT pluggable display only (the BMV's own are 0xEEF5..0xEEFE).
    rw(0x0401, "display_backlight_intensity", Un8, 1.0, NONE, ON_OFF),
    rw(0x0402, "display_scroll_speed", Un8, 1.0, NONE, between(1.0, 5.0)),
    rw(0x0403, "display_setup_lock", Un8, 1.0, NONE, ON_OFF),
    rw(0x0404, "display_temperature_unit", Un8, 1.0, NONE, ON_OFF),
    // BMV state of charge / time to go.
    ro(0x0FFE, "time_to_go", Un16, 1.0, MIN),
    ro(0x0FFF, "state_of_charge", Un16, 0.01, PCT),
    // BMV battery settings.
    rw(0x1000, "battery_capacity", Un16, 1.0, AH, between(1.0, 9999.0)),
    rw(0x1001, "charged_voltage", Un16, 0.1, V, between(0.0, 95.0)),
    rw(0x1002, "tail_current", Un16, 0.1, PCT, between(0.5, 10.0)),
    rw(0x1003, "charged_detection_time", Un16, 1.0, MIN, between(1.0, 50.0)),
    rw(0x1004, "charge_efficiency", Un16, 1.0, PCT, between(50.0, 99.0)),
    rw(0x1005, "peukert_coefficient", Un16, 0.01, NONE, between(1.0, 1.5)),
    rw(0x1006, "current_threshold", Un16, 0.01, A, between(0.0, 2.0)),
    rw(0x1007, "ttg_delta_t", Un16, 1.0, MIN, between(0.0, 12.0)),
    rw(0x1008, "discharge_floor", Un16, 0.1, PCT, between(0.0, 99.0)),
    rw(0x1009, "relay_low_soc_clear", Un16, 0.1, PCT, between(0.0, 99.0)),
    // Also the MPPT "Relay minimum enabled time", for which its document gives no range: the
    // BMV's 0..500 applies to both.
    rw(0x100A, "relay_min_enabled_time", Un16, 1.0, MIN, between(0.0, 500.0)),
    rw(0x100B, "relay_disable_time", Un16, 1.0, MIN, between(0.0, 500.0)),
    cmd(0x1029, "zero_current", Bytes),
    cmd(0x102C, "synchronize", Bytes),
    // BMV "(write only)"; MPPT "Clear history" in the history registers.
    cmd(0x1030, "clear_history", Bytes),
    ro(0x1034, "user_current_zero", Sn16, 1.0, NONE),
    // MPPT history records (34 bytes; see `HistoryDay` / `HistoryTotal`).
    ro(0x104F, "history_total", Bytes, 1.0, NONE),
    ro(0x1050, "history_day_0", Bytes, 1.0, NONE),
    ro(0x1051, "history_day_1", Bytes, 1.0, NONE),
    ro(0x1052, "history_day_2", Bytes, 1.0, NONE),
    ro(0x1053, "history_day_3", Bytes, 1.0, NONE),
    ro(0x1054, "history_day_4", Bytes, 1.0, NONE),
    ro(0x1055, "history_day_5", Bytes, 1.0, NONE),
    ro(0x1056, "history_day_6", Bytes, 1.0, NONE),
    ro(0x1057, "history_day_7", Bytes, 1.0, NONE),
    ro(0x1058, "history_day_8", Bytes, 1.0, NONE),
    ro(0x1059, "history_day_9", Bytes, 1.0, NONE),
    ro(0x105A, "history_day_10", Bytes, 1.0, NONE),
    ro(0x105B, "history_day_11", Bytes, 1.0, NONE),
    ro(0x105C, "history_day_12", Bytes, 1.0, NONE),
    ro(0x105D, "history_day_13", Bytes, 1.0, NONE),
    ro(0x105E, "history_day_14", Bytes, 1.0, NONE),
    ro(0x105F, "history_day_15", Bytes, 1.0, NONE),
    ro(0x1060, "history_day_16", Bytes, 1.0, NONE),
    ro(0x1061, "history_day_17", Bytes, 1.0, NONE),
    ro(0x1062, "history_day_18", Bytes, 1.0, NONE),
    ro(0x1063, "history_day_19", Bytes, 1.0, NONE),
    ro(0x1064, "history_day_20", Bytes, 1.0, NONE),
    ro(0x1065, "history_day_21", Bytes, 1.0, NONE),
    ro(0x1066, "history_day_22", Bytes, 1.0, NONE),
    ro(0x1067, "history_day_23", Bytes, 1.0, NONE),
    ro(0x1068, "history_day_24", Bytes, 1.0, NONE),
    ro(0x1069, "history_day_25", Bytes, 1.0, NONE),
    ro(0x106A, "history_day_26", Bytes, 1.0, NONE),
    ro(0x106B, "history_day_27", Bytes, 1.0, NONE),
    ro(0x106C, "history_day_28", Bytes, 1.0, NONE),
    ro(0x106D, "history_day_29", Bytes, 1.0, NONE),
    ro(0x106E, "history_day_30", Bytes, 1.0, NONE),
    // MPPT remote control / networking (firmware ≥ 1.29; the bridge writes 0x2002 / 0x2003).
    // Writable: what the document has a host or network master write (set-points, remote
    // sensor data, the data copied to slaves, network mode); read-only: identification and
    // status. None of them has a documented range.
    // Identifies the charge algorithm for grouping (with 0x0104).
    ro(0x2000, "charge_algorithm_version", Un8, 1.0, NONE),
    rw(0x2001, "charge_voltage_setpoint", Un16, 0.01, V, TYPE_RANGE),
    // Note 3: 0xFFFF / 0x7FFF written mean "no longer available".
    na(rw(0x2002, "battery_voltage_sense", Un16, 0.01, V, TYPE_RANGE), 0xFFFF),
    na(rw(0x2003, "battery_temperature_sense", Sn16, 0.01, DEGC, TYPE_RANGE), 0x7FFF),
    // "Remote commands": 1 start / 2 stop equalise, 3 / 4 synchronise: actions, not a setting.
    cmd(0x2004, "remote_command", Un8),
    rw(0x2007, "charge_state_elapsed_time", Un32, 1.0, MS, TYPE_RANGE),
    rw(0x2008, "absorption_time", Un16, 0.01, HOURS, TYPE_RANGE),
    // The network master injects an error code here.
    rw(0x2009, "network_error_code", Un8, 1.0, NONE, TYPE_RANGE),
    // 0x7FFFFFFF = not available (capture H28; same convention as 0x2003's 0x7FFF).
    na(rw(0x200A, "battery_charge_current", Sn32, 0.001, A, TYPE_RANGE), 0x7FFF_FFFF),
    rw(0x200B, "battery_idle_voltage", Un16, 0.01, V, TYPE_RANGE),
    // The charge state a master gives its slaves (slave mode).
    rw(0x200C, "network_device_state", Un8, 1.0, NONE, TYPE_RANGE),
    // Documented as un8 although its bit table lists a bit 8 (standby); see `NetworkInfo`.
    ro(0x200D, "network_info", Un8, 1.0, NONE),
    // A bit mask (bit 7 reserved).
    rw(0x200E, "network_mode", Un8, 1.0, NONE, TYPE_RANGE),
    ro(0x200F, "network_status", Un8, 1.0, NONE),
    rw(0x2013, "total_charge_current", Sn32, 0.001, A, TYPE_RANGE),
    rw(0x2014, "charge_current_percentage", Un8, 1.0, PCT, TYPE_RANGE),
    rw(0x2015, "charge_current_limit", Un16, 0.1, A, TYPE_RANGE),
    // Documented by its name only; writable like the other data a master copies to slaves.
    rw(0x2018, "manual_equalisation_pending", Un8, 1.0, NONE, TYPE_RANGE),
    // Written by the network master (sum of 0xEDBC over the units). 0xFFFFFFFF when the unit
    // is not in a VE.Smart network (capture H30).
    na(rw(0x2027, "total_dc_input_power", Un32, 0.01, W, TYPE_RANGE), 0xFFFF_FFFF),
    // MPPT lighting controller. 0 = dark, 1 = light, as detected by the charger.
    ro(0x2030, "solar_activity", Un8, 1.0, NONE),
    // "It can also be written with the current time": minutes since midnight, 0..=1439.
    na(rw(0x2031, "time_of_day", Un16, 1.0, MIN, between(0.0, 1439.0)), 0xFFFF),
    // MPPT charger data.
    ro(0x2211, "adjustable_voltage_min", Un16, 0.01, V),
    ro(0x2212, "adjustable_voltage_max", Un16, 0.01, V),
    // BMV settings-changed timestamp (0xFFFFFFFF = never modified). In the settings table and
    // not marked read-only (VictronConnect writes it); its range 0..0xFFFFFFFF is the type's.
    na(rw(0xEC41, "settings_changed", Un32, 1.0, SEC, TYPE_RANGE), 0xFFFF_FFFF),
    rw(0xED2E, "rebulk_voltage_offset", Un16, 0.01, V, TYPE_RANGE),
    ro(0xED7D, "starter_voltage", Sn16, 0.01, V),
    ro(0xED8C, "battery_current_precise", Sn32, 0.001, A),
    ro(0xED8D, "battery_voltage", Sn16, 0.01, V),
    ro(0xED8E, "battery_power", Sn16, 1.0, W),
    ro(0xED8F, "battery_current", Sn16, 0.1, A),
    rw(0xED90, "load_aes_timer", Un16, 1.0, MIN, TYPE_RANGE),
    ro(0xED91, "load_off_reason", Un8, 1.0, NONE),
    rw(0xED96, "sunset_delay", Un16, 1.0, MIN, TYPE_RANGE),
    rw(0xED97, "sunrise_delay", Un16, 1.0, MIN, TYPE_RANGE),
    // 0..3: remote on/off, load configuration, load on/off inverted, normal.
    rw(0xED98, "rx_port_mode", Un8, 1.0, NONE, between(0.0, 3.0)),
    rw(0xED99, "panel_voltage_day", Un16, 0.01, V, TYPE_RANGE),
    rw(0xED9A, "panel_voltage_night", Un16, 0.01, V, TYPE_RANGE),
    rw(0xED9B, "gradual_dim_speed", Un8, 1.0, SEC, TYPE_RANGE),
    rw(0xED9C, "load_switch_low_level", Un16, 0.01, V, TYPE_RANGE),
    rw(0xED9D, "load_switch_high_level", Un16, 0.01, V, TYPE_RANGE),
    // 0..4: normal, pulse per 0.01 kWh, PWM normal, PWM inverted, virtual load output.
    rw(0xED9E, "tx_port_mode", Un8, 1.0, NONE, between(0.0, 4.0)),
    // Timer events: packed words (time offset, anchor point, dim action).
    rw(0xEDA0, "timer_event_0", Un32, 1.0, NONE, TYPE_RANGE),
    rw(0xEDA1, "timer_event_1", Un32, 1.0, NONE, TYPE_RANGE),
    rw(0xEDA2, "timer_event_2", Un32, 1.0, NONE, TYPE_RANGE),
    rw(0xEDA3, "timer_event_3", Un32, 1.0, NONE, TYPE_RANGE),
    rw(0xEDA4, "timer_event_4", Un32, 1.0, NONE, TYPE_RANGE),
    rw(0xEDA5, "timer_event_5", Un32, 1.0, NONE, TYPE_RANGE),
    rw(0xEDA7, "mid_point_shift", Sn16, 1.0, MIN, TYPE_RANGE),
    ro(0xEDA8, "load_output_state", Un8, 1.0, NONE),
    ro(0xEDA9, "load_output_voltage", Un16, 0.01, V),
    // 0..7: off, auto, alt1, alt2, on, user1, user2, AES (the upper bits are reserved).
    rw(0xEDAB, "load_output_control", Un8, 1.0, NONE, between(0.0, 7.0)),
    rw(0xEDAC, "load_offset_voltage", Un16, 0.01, V, TYPE_RANGE),
    ro(0xEDAD, "load_current", Un16, 0.1, A),
    ro(0xEDB3, "tracker_mode", Un8, 1.0, NONE),
    // "Solar panel data": the maximum allowed panel voltage of the model.
    ro(0xEDB8, "panel_max_voltage", Un16, 0.01, V),
    rw(0xEDB9, "relay_panel_high_voltage_clear", Un16, 0.01, V, TYPE_RANGE),
    rw(0xEDBA, "relay_panel_high_voltage_set", Un16, 0.01, V, TYPE_RANGE),
    ro(0xEDBB, "panel_voltage", Un16, 0.01, V),
    ro(0xEDBC, "panel_power", Un32, 0.01, W),
    ro(0xEDBD, "panel_current", Un16, 0.1, A),
    rw(0xEDCA, "voltage_compensation", Un16, 0.01, V, TYPE_RANGE),
    ro(0xEDCC, "streetlight_version", Un8, 1.0, NONE),
    ro(0xEDCD, "history_version", Un8, 1.0, NONE),
    ro(0xEDCE, "voltage_settings_range", Un16, 1.0, NONE),
    ro(0xEDD0, "max_power_yesterday", Un16, 1.0, W),
    // un32 up to firmware 1.12, un16 since (the table follows current firmware).
    ro(0xEDD1, "yield_yesterday", Un16, 0.01, KWH),
    ro(0xEDD2, "max_power_today", Un16, 1.0, W),
    ro(0xEDD3, "yield_today", Un16, 0.01, KWH),
    ro(0xEDD4, "additional_charger_state", Un8, 1.0, NONE),
    ro(0xEDD5, "charger_voltage", Un16, 0.01, V),
    ro(0xEDD7, "charger_current", Un16, 0.1, A),
    // 0..10: always off .. load control.
    rw(0xEDD9, "relay_operation_mode", Un8, 1.0, NONE, between(0.0, 10.0)),
    ro(0xEDDA, "charger_error", Un8, 1.0, NONE),
    ro(0xEDDB, "charger_temperature", Sn16, 0.01, DEGC),
    ro(0xEDDC, "user_yield", Un32, 0.01, KWH),
    ro(0xEDDD, "system_yield", Un32, 0.01, KWH),
    ro(0xEDDF, "charger_max_current", Un16, 0.01, A),
    rw(0xEDE0, "battery_low_temperature_level", Sn16, 0.01, DEGC, TYPE_RANGE),
    rw(0xEDE3, "equalisation_duration", Un16, 0.01, HOURS, TYPE_RANGE),
    // "% (of 0xEDF0)", no range given.
    rw(0xEDE4, "equalisation_current_level", Un8, 1.0, PCT, TYPE_RANGE),
    rw(0xEDE5, "auto_equalise_stop_on_voltage", Un8, 1.0, NONE, ON_OFF),
    // 0xFFFF means "use the maximum current", a setting rather than a missing value.
    rw(0xEDE6, "low_temperature_charge_current", Un16, 0.1, A, TYPE_RANGE),
    rw(0xEDE7, "tail_current_setting", Un16, 0.1, A, TYPE_RANGE),
    // Set automatically when a BMS is seen; the host writes 0 to return to stand-alone.
    rw(0xEDE8, "bms_present", Un8, 1.0, NONE, ON_OFF),
    // 0 (auto), 12, 24, 36, 48 (envelope; the device refuses the values between).
    rw(0xEDEA, "battery_voltage_setting", Un8, 1.0, V, between(0.0, 48.0)),
    // Battery temperature: un16 in 0.01 K on the wire, exposed in °C (see the module docs). A
    // measurement (BMV monitor; MPPT: from a BMV or Smart Battery Sense on the network), hence
    // read-only even where the MPPT lists it among the battery settings; remote temperature
    // goes to 0x2003.
    Register { offset: -273.15, ..na(ro(0xEDEC, "battery_temperature", Un16, 0.01, DEGC), 0xFFFF) },
    // Written to force a system voltage (0, 12, 24, 36, 48; envelope as 0xEDEA).
    rw(0xEDEF, "system_voltage", Un8, 1.0, V, between(0.0, 48.0)),
    // No range given; the charger limits it to its own maximum current (0xEDDF).
    rw(0xEDF0, "battery_max_current", Un16, 0.1, A, TYPE_RANGE),
    // 1..8 or 0xFF (user defined) depending on the model (envelope).
    rw(0xEDF1, "battery_type", Un8, 1.0, NONE, between(1.0, 255.0)),
    rw(0xEDF2, "temperature_compensation", Sn16, 0.01, MV_PER_K, TEMP_COMPENSATION),
    rw(0xEDF4, "equalisation_voltage", Un16, 0.01, V, CHARGE_VOLTAGE),
    rw(0xEDF6, "float_voltage", Un16, 0.01, V, CHARGE_VOLTAGE),
    rw(0xEDF7, "absorption_voltage", Un16, 0.01, V, CHARGE_VOLTAGE),
    rw(0xEDFB, "absorption_time_limit", Un16, 0.01, HOURS, TYPE_RANGE),
    rw(0xEDFC, "bulk_time_limit", Un16, 0.01, HOURS, TYPE_RANGE),
    // 0 = off, 1 = every day, 2 = every other day ... 250.
    rw(0xEDFD, "auto_equalisation_mode", Un8, 1.0, NONE, between(0.0, 250.0)),
    rw(0xEDFE, "adaptive_mode", Un8, 1.0, NONE, ON_OFF),
    rw(0xEDFF, "batterysafe_mode", Un8, 1.0, NONE, ON_OFF),
    ro(0xEEB6, "synchronization_state", Un8, 1.0, NONE),
    rw(0xEEF4, "temperature_coefficient", Un16, 0.1, CAP_PER_DEGC, between(0.0, 20.0)),
    rw(0xEEF5, "scroll_speed", Un8, 1.0, NONE, between(1.0, 5.0)),
    rw(0xEEF6, "setup_lock", Un8, 1.0, NONE, ON_OFF),
    rw(0xEEF7, "temperature_unit", Un8, 1.0, NONE, ON_OFF),
    // 0 START, 1 MID, 2 TEMP.
    rw(0xEEF8, "auxiliary_input", Un8, 1.0, NONE, between(0.0, 2.0)),
    ro(0xEEF9, "sw_version", Un16, 1.0, NONE),
    rw(0xEEFA, "shunt_volts", Un16, 0.001, V, between(0.001, 0.1)),
    rw(0xEEFB, "shunt_amps", Un16, 1.0, A, between(1.0, 9999.0)),
    rw(0xEEFC, "alarm_buzzer", Un8, 1.0, NONE, ON_OFF),
    rw(0xEEFE, "backlight_intensity", Un8, 1.0, NONE, between(0.0, 9.0)),
    ro(0xEEFF, "consumed_ah", Sn32, 0.1, AH),
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

    /// Registers the documents mark read-only or that are plainly measurements, state,
    /// identification or history (BMV: "(read only)", monitor and historic data registers;
    /// MPPT: product information, charger data, solar panel data, load output data, history,
    /// network status).
    const DOCUMENTED_READ_ONLY: &[u16] = &[
        0x0100, 0x0104, 0x010A, 0x010B, 0x0120, 0x0140, 0x0150, 0x0201, 0x0205, 0x0207, 0x0300,
        0x0301, 0x0302, 0x0303, 0x0304, 0x0305, 0x0306, 0x0307, 0x0308, 0x0309, 0x030A, 0x030B,
        0x030E, 0x030F, 0x0310, 0x0311, 0x0382, 0x0383, 0x0FFE, 0x0FFF, 0x1034, 0x104F, 0x1050,
        0x106E, 0x2000, 0x200D, 0x200F, 0x2030, 0x2211, 0x2212, 0xED7D, 0xED8C, 0xED8D, 0xED8E,
        0xED8F, 0xED91, 0xEDA8, 0xEDA9, 0xEDAD, 0xEDB3, 0xEDB8, 0xEDBB, 0xEDBC, 0xEDBD, 0xEDCC,
        0xEDCD, 0xEDCE, 0xEDD0, 0xEDD1, 0xEDD2, 0xEDD3, 0xEDD4, 0xEDD5, 0xEDD7, 0xEDDA, 0xEDDB,
        0xEDDC, 0xEDDD, 0xEDDF, 0xEDEC, 0xEEB6, 0xEEF9, 0xEEFF,
    ];

    /// Settings from the BMV "Monitor settings registers" table and the MPPT settings sections,
    /// and the remote-sense registers the bridge writes.
    const DOCUMENTED_SETTINGS: &[u16] = &[
        0x0090, 0x0200, 0x0202, 0x0320, 0x0321, 0x0322, 0x0323, 0x0328, 0x0329, 0x034D, 0x034E,
        0x034F, 0x0400, 0x1000, 0x1001, 0x1002, 0x1003, 0x1004, 0x1005, 0x1006, 0x1007, 0x1008,
        0x1009, 0x100A, 0x100B, 0x2001, 0x2002, 0x2003, 0x200E, 0x2015, 0x2027, 0xED2E, 0xED98,
        0xED9E, 0xEDAB, 0xEDD9, 0xEDE8, 0xEDEF, 0xEDF0, 0xEDF1, 0xEDF2, 0xEDF4, 0xEDF6, 0xEDF7,
        0xEDFB, 0xEDFD, 0xEDFE, 0xEEF4, 0xEEF5, 0xEEF6, 0xEEF7, 0xEEF8, 0xEEFA, 0xEEFB, 0xEEFC,
        0xEEFE,
    ];

    #[test]
    fn every_register_has_an_access_and_it_is_enforced() {
        let mut commands = Vec::new();
        for r in REGISTERS {
            let refused = r.encode_setting(0.0).err();
            match r.access {
                Access::ReadOnly => {
                    assert_eq!(
                        refused,
                        Some(HexError::ReadOnly {
                            id: r.id,
                            name: r.name
                        }),
                        "{}",
                        r.name
                    );
                    assert!(
                        r.range.is_none(),
                        "{}: a range on a read-only register",
                        r.name
                    );
                    assert!(
                        r.check_raw_setting(&[0; 4][..r.kind.width().unwrap_or(4)])
                            .is_err()
                    );
                }
                Access::WriteOnly => {
                    commands.push(r.id);
                    assert!(
                        matches!(refused, Some(HexError::WriteOnlyCommand { .. })),
                        "{}",
                        r.name
                    );
                    assert!(r.check_raw_setting(&[]).is_err(), "{}", r.name);
                }
                Access::ReadWrite => {
                    // Writable: the documented ends (or zero) encode.
                    let (min, max) = r.range.unwrap_or((0.0, 0.0));
                    if r.kind.width().is_some() {
                        assert!(r.encode_setting(min).is_ok(), "{} {min}", r.name);
                        assert!(r.encode_setting(max).is_ok(), "{} {max}", r.name);
                    }
                    if let Some((lo, hi)) = r.range {
                        assert!(lo < hi, "{}", r.name);
                        // The documented ends are whole steps of the register's resolution.
                        for end in [lo, hi] {
                            let raw = r.raw_units(end);
                            assert!((raw - raw.round()).abs() < 1e-6, "{} {end}", r.name);
                        }
                    }
                }
            }
        }
        // The BMV "(write only)" commands, the MPPT restore default and remote command.
        assert_eq!(commands, [0x0004, 0x1029, 0x102C, 0x1030, 0x2004]);
        for id in DOCUMENTED_READ_ONLY {
            assert_eq!(reg(*id).access, Access::ReadOnly, "{id:#06x}");
        }
        for id in DOCUMENTED_SETTINGS {
            assert_eq!(reg(*id).access, Access::ReadWrite, "{id:#06x}");
        }
    }

    #[test]
    fn read_only_registers_refuse_with_their_name() {
        let panel_power = find("panel_power").unwrap();
        let err = panel_power.encode_setting(5.0).unwrap_err();
        assert_eq!(err.to_string(), "panel_power (0xEDBC) is read-only");
        assert_eq!(
            panel_power.check_settable().unwrap_err().to_string(),
            "panel_power (0xEDBC) is read-only"
        );
        for name in [
            "panel_voltage",
            "battery_voltage",
            "yield_today",
            "user_yield",
            "history_day_3",
            "serial_number",
            "product_id",
            "uptime",
            "device_state",
            "charger_error",
            "battery_temperature",
        ] {
            let r = find(name).unwrap();
            let msg = r.encode_setting(1.0).unwrap_err().to_string();
            assert!(msg.contains(name) && msg.ends_with("is read-only"), "{msg}");
        }
        assert_eq!(
            find("restore_defaults")
                .unwrap()
                .encode_setting(1.0)
                .unwrap_err()
                .to_string(),
            "restore_defaults (0x0004) is a write-only command, not a setting"
        );
        // Raw bytes of the device's own answer (vectors H29) are not writable either.
        assert_eq!(
            panel_power.check_raw_setting(&[0x35, 0x50, 0x01, 0x00]),
            Err(HexError::ReadOnly {
                id: 0xEDBC,
                name: "panel_power"
            })
        );
    }

    #[test]
    fn documented_ranges_accept_their_ends_and_refuse_just_outside() {
        let ok = |name: &str, v: f64| {
            find(name)
                .unwrap()
                .encode_setting(v)
                .unwrap_or_else(|e| panic!("{name} {v}: {e}"))
        };
        let refused = |name: &str, v: f64| {
            let r = find(name).unwrap();
            match r.encode_setting(v) {
                Err(e @ HexError::OutsideRange { .. }) => e.to_string(),
                other => panic!("{name} {v}: {other:?}"),
            }
        };
        // BMV "Monitor settings registers" (Range column).
        assert_eq!(ok("battery_capacity", 1.0), [1, 0]);
        assert_eq!(ok("battery_capacity", 9999.0), 9999u16.to_le_bytes());
        assert_eq!(
            refused("battery_capacity", 0.0),
            "battery_capacity: 0 Ah is outside 1..=9999 Ah"
        ); // vectors H7: the BMV would answer a parameter error
        refused("battery_capacity", 10000.0);
        assert_eq!(
            HexFrame::set(0x1000, &ok("battery_capacity", 500.0)).encode(),
            b":8001000F40148\n"
        ); // H6
        assert_eq!(ok("peukert_coefficient", 1.0), [100, 0]);
        assert_eq!(ok("peukert_coefficient", 1.5), [150, 0]);
        assert_eq!(
            refused("peukert_coefficient", 1.51),
            "peukert_coefficient: 1.51 is outside 1..=1.5"
        );
        refused("peukert_coefficient", 0.99);
        assert_eq!(ok("tail_current", 0.5), [5, 0]);
        assert_eq!(ok("tail_current", 10.0), [100, 0]);
        refused("tail_current", 0.4);
        refused("tail_current", 10.1);
        assert_eq!(ok("charged_voltage", 95.0), 950u16.to_le_bytes());
        refused("charged_voltage", 95.1);
        assert_eq!(ok("charge_efficiency", 50.0), [50, 0]);
        refused("charge_efficiency", 49.0);
        refused("charge_efficiency", 100.0);
        assert_eq!(ok("shunt_volts", 0.001), [1, 0]);
        assert_eq!(ok("shunt_volts", 0.1), [100, 0]);
        refused("shunt_volts", 0.0);
        refused("shunt_volts", 0.101);
        assert_eq!(ok("backlight_intensity", 9.0), [9]);
        refused("backlight_intensity", 10.0);
        assert_eq!(ok("scroll_speed", 1.0), [1]);
        refused("scroll_speed", 0.0);
        refused("alarm_buzzer", 2.0);
        // MPPT battery settings, note 5 (8..17.4 V per 12 V, up to a 48 V system).
        assert_eq!(ok("absorption_voltage", 8.0), 800u16.to_le_bytes());
        assert_eq!(ok("absorption_voltage", 69.6), 6960u16.to_le_bytes());
        assert_eq!(
            refused("absorption_voltage", 99.0),
            "absorption_voltage: 99 V is outside 8..=69.6 V"
        );
        refused("absorption_voltage", 7.99);
        refused("absorption_voltage", 69.61);
        assert_eq!(ok("float_voltage", 56.1), [0xEA, 0x15]); // H31
        refused("float_voltage", 0.0);
        refused("equalisation_voltage", 70.0);
        assert_eq!(
            ok("temperature_compensation", -84.0),
            (-8400i16).to_le_bytes()
        );
        assert_eq!(ok("temperature_compensation", -16.2), [0xAC, 0xF9]); // H20
        refused("temperature_compensation", 84.01);
        assert_eq!(ok("auto_equalisation_mode", 250.0), [250]);
        refused("auto_equalisation_mode", 251.0);
        refused("tx_port_mode", 5.0);
        refused("relay_operation_mode", 11.0);
        // No documented range: the type's range is the limit (H13: 10.0 A).
        assert_eq!(
            HexFrame::set(0xEDF0, &ok("battery_max_current", 10.0)).encode(),
            b":8F0ED0064000C\n"
        );
        assert_eq!(ok("battery_max_current", 6553.5), [0xFF, 0xFF]);
        assert_eq!(
            refused("battery_max_current", 6553.6),
            "battery_max_current: 6553.6 A is outside 0..=6553.5 A"
        );
        refused("battery_max_current", -0.1);
        assert!(matches!(
            ok_or_err("absorption_voltage", f64::NAN),
            Err(HexError::OutsideRange { .. })
        ));
    }

    fn ok_or_err(name: &str, v: f64) -> Result<Vec<u8>, HexError> {
        find(name).unwrap().encode_setting(v)
    }

    #[test]
    fn remote_sense_registers_stay_writable_with_their_not_available_bytes() {
        let (v, t) = (reg(0x2002), reg(0x2003));
        assert_eq!((v.access, t.access), (Access::ReadWrite, Access::ReadWrite));
        assert_eq!(
            HexFrame::set(0x2002, &v.encode_setting(13.18).unwrap()).encode(),
            b":8022000260500\n"
        ); // H46
        assert_eq!(
            HexFrame::set(0x2003, &t.encode_setting(-5.0).unwrap()).encode(),
            b":80320000CFE20\n"
        ); // H44
        // The "not available" patterns (H45, H47) cannot come from a number but pass as bytes.
        assert_eq!(v.not_available_bytes(), Some(vec![0xFF, 0xFF]));
        assert_eq!(t.not_available_bytes(), Some(vec![0xFF, 0x7F]));
        assert!(matches!(
            v.encode_setting(655.35),
            Err(HexError::ReservedValue { .. })
        ));
        assert_eq!(v.check_raw_setting(&[0xFF, 0xFF]), Ok(()));
        assert_eq!(t.check_raw_setting(&[0xFF, 0x7F]), Ok(()));
        assert_eq!(t.check_raw_setting(&[0x2E, 0x09]), Ok(()));
        assert!(matches!(
            t.check_raw_setting(&[0x2E]),
            Err(HexError::ValueLength { .. })
        ));
        // Raw bytes are range-checked like numbers: 0 Ah is outside 1..=9999 (H7).
        assert!(matches!(
            reg(0x1000).check_raw_setting(&[0, 0]),
            Err(HexError::OutsideRange { .. })
        ));
        assert_eq!(reg(0x1000).check_raw_setting(&[0xF4, 0x01]), Ok(()));
    }

    #[test]
    fn names_follow_the_bmv_document() {
        let id = |name| find(name).map(|r| r.id);
        assert_eq!(id("backlight_always_on"), Some(0x0400));
        assert_eq!(id("backlight_intensity"), Some(0xEEFE));
        assert_eq!(id("scroll_speed"), Some(0xEEF5));
        assert_eq!(id("display_backlight"), None);
        assert_eq!(id("user_current_zero"), Some(0x1034));
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
        fn encode_setting_stays_in_the_documented_range(idx in 0usize..REGISTERS.len(), x in -1e6f64..1e6) {
            let r = &REGISTERS[idx];
            if let Ok(bytes) = r.encode_setting(x) {
                prop_assert_eq!(r.access, Access::ReadWrite);
                prop_assert_eq!(r.check_raw_setting(&bytes), Ok(()));
                if let Some((lo, hi)) = r.range {
                    let back = r.decode(&bytes).unwrap().unwrap().as_f64().unwrap();
                    prop_assert!(back >= lo - 1e-9 && back <= hi + 1e-9, "{} {} {}", r.name, x, back);
                }
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
