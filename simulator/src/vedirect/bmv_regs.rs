//! BMV HEX registers (BMV700 Series HEX protocol Rev 6, "Get and Set items": product
//! information, monitor, historic data, monitor settings, commands, miscellaneous).

use serde_json::Value as Json;

use super::battery::{History, MonitorSettings};
use super::bmv::{AuxInput, BmvModel};
use super::hexcmd::{HexTarget, RegRead, RegWrite};
use super::wire::{
    le_i16, le_i32, le_u16, le_u32, parse_u8, parse_u16, sat_i16, sat_i32, sat_u16, sat_u32,
    string_value,
};

/// One writable monitor setting: raw value in register units, its range and width.
#[derive(Debug, Clone, Copy)]
struct Setting {
    id: u16,
    name: &'static str,
    wide: bool,
    min: u16,
    max: u16,
    value: u16,
}

const fn s16(id: u16, name: &'static str, min: u16, max: u16, value: u16) -> Setting {
    Setting {
        id,
        name,
        wide: true,
        min,
        max,
        value,
    }
}

const fn s8(id: u16, name: &'static str, min: u16, max: u16, value: u16) -> Setting {
    Setting {
        id,
        name,
        wide: false,
        min,
        max,
        value,
    }
}

/// Ranges and defaults from the "Monitor settings registers" table (raw register units).
const DEFAULTS: [Setting; 20] = [
    s16(0x1000, "battery_capacity_ah", 1, 9999, 200),
    s16(0x1001, "charged_voltage_0.1v", 0, 950, 132),
    s16(0x1002, "tail_current_0.1pct", 5, 100, 40),
    s16(0x1003, "charged_detection_time_min", 1, 50, 3),
    s16(0x1004, "charge_efficiency_pct", 50, 99, 90),
    s16(0x1005, "peukert_0.01", 100, 150, 125),
    s16(0x1006, "current_threshold_0.01a", 0, 200, 10),
    s16(0x1007, "ttg_delta_t_min", 0, 12, 3),
    s16(0x1008, "discharge_floor_0.1pct", 0, 990, 500),
    s16(0x1009, "relay_low_soc_clear_0.1pct", 0, 990, 900),
    s16(0x0320, "alarm_low_voltage_0.1v", 0, 950, 0),
    s16(0x0321, "alarm_low_voltage_clear_0.1v", 0, 950, 0),
    s16(0x0322, "alarm_high_voltage_0.1v", 0, 950, 0),
    s16(0x0323, "alarm_high_voltage_clear_0.1v", 0, 950, 0),
    s16(0x0328, "alarm_low_soc_0.1pct", 0, 990, 0),
    s16(0x0329, "alarm_low_soc_clear_0.1pct", 0, 990, 0),
    s8(0xEEFC, "alarm_buzzer", 0, 1, 1),
    s8(0x034F, "relay_mode", 0, 2, 0),
    s8(0xEEF6, "setup_lock", 0, 1, 0),
    s16(0xEEFB, "shunt_amps", 1, 9999, 500),
];

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    items: Vec<Setting>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            items: DEFAULTS.to_vec(),
        }
    }
}

impl Settings {
    fn find(&self, id: u16) -> Option<&Setting> {
        self.items.iter().find(|s| s.id == id)
    }

    pub fn raw(&self, id: u16) -> u16 {
        self.find(id).map_or(0, |s| s.value)
    }

    pub fn set_raw(&mut self, id: u16, value: u16) {
        if let Some(s) = self.items.iter_mut().find(|s| s.id == id) {
            s.value = value.clamp(s.min, s.max);
        }
    }

    fn pair(&self, set: u16, clear: u16, scale: f64) -> Option<(f64, f64)> {
        let s = self.raw(set);
        (s != 0).then(|| (f64::from(s) * scale, f64::from(self.raw(clear)) * scale))
    }

    pub fn monitor(&self) -> MonitorSettings {
        MonitorSettings {
            capacity_ah: f64::from(self.raw(0x1000)),
            charge_efficiency: f64::from(self.raw(0x1004)) / 100.0,
            current_threshold_a: f64::from(self.raw(0x1006)) / 100.0,
            discharge_floor: f64::from(self.raw(0x1008)) / 10.0,
            relay_low_soc_set: f64::from(self.raw(0x1008)) / 10.0,
            relay_low_soc_clear: f64::from(self.raw(0x1009)) / 10.0,
            alarm_low_v: self.pair(0x0320, 0x0321, 0.1),
            alarm_high_v: self.pair(0x0322, 0x0323, 0.1),
            alarm_low_soc: self.pair(0x0328, 0x0329, 0.1),
        }
    }

    fn encode(s: &Setting, v: u16) -> Vec<u8> {
        if s.wide {
            le_u16(v)
        } else {
            vec![v.min(255) as u8]
        }
    }

    fn write(&mut self, id: u16, value: &[u8]) -> Option<RegWrite> {
        let s = self.items.iter_mut().find(|s| s.id == id)?;
        let parsed = if s.wide {
            parse_u16(value)
        } else {
            parse_u8(value).map(u16::from)
        };
        Some(match parsed {
            None => RegWrite::ParameterError(Self::encode(s, s.value)),
            Some(v) if v < s.min || v > s.max => {
                RegWrite::ParameterError(Self::encode(s, v.clamp(s.min, s.max)))
            }
            Some(v) => {
                s.value = v;
                RegWrite::Accepted(Self::encode(s, v))
            }
        })
    }

    pub fn snapshot(&self) -> Json {
        let map: serde_json::Map<String, Json> = self
            .items
            .iter()
            .map(|s| (s.name.to_owned(), Json::from(s.value)))
            .collect();
        Json::Object(map)
    }
}

fn history_register(h: &History, id: u16) -> Option<Vec<u8>> {
    let dah = |ah: f64| le_i32(sat_i32(ah * 10.0));
    let cv = |v: f64| le_i32(sat_i32(v * 100.0));
    Some(match id {
        0x0300 => dah(h.deepest_discharge_ah),
        0x0301 => dah(h.last_discharge_ah),
        0x0302 => dah(h.average_discharge_ah),
        0x0303 => le_u32(h.cycles),
        0x0304 => le_u32(h.full_discharges),
        0x0305 => dah(h.cumulative_ah),
        0x0306 => cv(h.min_voltage_v),
        0x0307 => cv(h.max_voltage_v),
        0x0308 => le_u32(u32::try_from(h.seconds_since_full).unwrap_or(u32::MAX)),
        0x0309 => le_u32(h.synchronisations),
        0x030A => le_u32(h.low_voltage_alarms),
        0x030B => le_u32(h.high_voltage_alarms),
        0x030E => cv(h.min_aux_voltage_v),
        0x030F => cv(h.max_aux_voltage_v),
        0x0310 => le_u32(sat_u32(h.discharged_kwh * 100.0)),
        0x0311 => le_u32(sat_u32(h.charged_kwh * 100.0)),
        _ => return None,
    })
}

impl HexTarget for BmvModel {
    fn link_mut(&mut self) -> &mut super::link::Link {
        &mut self.link
    }

    fn version_word(&self) -> u16 {
        BmvModel::version_word(self)
    }

    fn product_id(&self) -> u16 {
        self.config.product_id
    }

    fn get_register(&self, id: u16) -> RegRead {
        let b = &self.battery;
        let s = self.monitor_settings();
        let value = match id {
            0x0100 => {
                let [lo, hi] = self.config.product_id.to_le_bytes();
                vec![0x00, lo, hi, 0xFF]
            }
            0x010A => string_value(&self.config.serial),
            0x010B => string_value(&self.config.model_name),
            0x0120 => le_u32(u32::try_from(self.uptime_s).unwrap_or(u32::MAX)),
            0xED8D => le_i16(sat_i16(b.voltage_v * 100.0)),
            0xED7D => match self.aux {
                AuxInput::Starter => le_i16(sat_i16(b.aux_voltage_v * 100.0)),
                _ => le_i16(i16::MAX),
            },
            0xED8F => le_i16(sat_i16(b.current_a * 10.0)),
            0xED8C if self.config.firmware >= 401 => le_i32(sat_i32(b.current_a * 1000.0)),
            0xED8E => le_i16(sat_i16(b.voltage_v * b.current_a)),
            0xEEFF => le_i32(sat_i32(b.consumed_ah * 10.0)),
            0x0FFF => le_u16(sat_u16(b.soc * 10_000.0)),
            0x0FFE => le_u16(b.time_to_go_min(&s).map_or(u16::MAX, sat_u16)),
            // 0.01 K, 0xFFFF = no sensor (vectors H25, H39).
            0xEDEC => le_u16(match (self.aux, b.temperature_c) {
                (AuxInput::Temperature, Some(t)) => sat_u16((t + 273.15) * 100.0),
                _ => u16::MAX,
            }),
            0x0382 => match self.aux {
                AuxInput::Midpoint => le_u16(sat_u16(
                    b.voltage_v / 2.0 * (1.0 + b.midpoint_deviation / 100.0) * 100.0,
                )),
                _ => le_u16(u16::MAX),
            },
            0x0383 => match self.aux {
                AuxInput::Midpoint => le_i16(sat_i16(b.midpoint_deviation * 10.0)),
                _ => le_i16(i16::MAX),
            },
            0xEEB6 => vec![u8::from(b.synchronised)],
            0xEEF9 => le_u16(self.version_word() & 0x3FFF),
            0xEEF8 => match self.aux {
                AuxInput::Starter => vec![0],
                AuxInput::Midpoint => vec![1],
                AuxInput::Temperature => vec![2],
                AuxInput::None => return RegRead::Unknown,
            },
            0x0300..=0x0311 => match history_register(&b.history, id) {
                Some(v) => v,
                None => return RegRead::Unknown,
            },
            _ => match self.settings.find(id) {
                Some(s) => Settings::encode(s, s.value),
                None => return RegRead::Unknown,
            },
        };
        RegRead::Value(value)
    }

    fn set_register(&mut self, id: u16, value: &[u8]) -> RegWrite {
        match id {
            // Commands (write-only): synchronise, clear history, zero current.
            0x102C => {
                self.battery.synchronise();
                RegWrite::Accepted(value.to_vec())
            }
            0x1029 | 0x1030 => RegWrite::Accepted(value.to_vec()),
            0xEEF8 if self.aux != AuxInput::None => match parse_u8(value) {
                Some(v @ 0..=2) => {
                    self.aux = match v {
                        0 => AuxInput::Starter,
                        1 => AuxInput::Midpoint,
                        _ => AuxInput::Temperature,
                    };
                    RegWrite::Accepted(vec![v])
                }
                Some(v) => RegWrite::ParameterError(vec![v.min(2)]),
                None => RegWrite::ParameterError(vec![2]),
            },
            _ => {
                if let Some(result) = self.settings.write(id, value) {
                    return result;
                }
                match self.get_register(id) {
                    RegRead::Value(current) => RegWrite::ReadOnly(current),
                    RegRead::Unknown => RegWrite::Unknown,
                }
            }
        }
    }

    fn restart(&mut self) {
        self.restart_device();
    }
}
