//! MPPT HEX registers (MPPT HEX protocol Rev 10, 1.1 "Get and Set items": product information,
//! generic device control 0x0200..0x0207, battery settings 0xEDxx, charger data, solar panel
//! data, remote control registers 0x2000..0x2027, network registers 0x200D/0x200E/0x200F).

use serde_json::{Value as Json, json};

use super::charger::ChargeSettings;
use super::hexcmd::{HexTarget, RegRead, RegWrite};
use super::mppt::{MpptConfig, MpptModel};
use super::remote::{TSENSE_NA, VSENSE_NA};
use super::wire::{
    le_i16, le_u16, le_u32, parse_i16, parse_u8, parse_u16, parse_u32, sat_i16, sat_u16, sat_u32,
    string_value,
};

pub(crate) const REG_VSENSE: u16 = 0x2002;
pub(crate) const REG_TSENSE: u16 = 0x2003;

/// Battery and control settings in raw register units.
#[derive(Debug, Clone)]
pub(crate) struct MpptSettings {
    nominal_v: u8,
    charger_max_current_da: u16,
    battery_max_current_da: u16,
    absorption_cv: u16,
    float_cv: u16,
    equalisation_cv: u16,
    temp_comp: i16,
    battery_type: u8,
    absorption_time_ch: u16,
    tail_current_da: u16,
    rebulk_offset_cv: u16,
    device_mode: u8,
    remote_control_mask: u32,
    network_mode: u8,
    total_dc_input_power: u32,
}

impl MpptSettings {
    pub fn from_config(c: &MpptConfig, nominal: f64) -> Self {
        let charger_max = sat_u16(c.charger_max_current_a * 10.0);
        MpptSettings {
            nominal_v: nominal.round().clamp(1.0, 255.0) as u8,
            charger_max_current_da: charger_max,
            battery_max_current_da: sat_u16(c.battery_max_current_a * 10.0).min(charger_max),
            absorption_cv: sat_u16(c.absorption_voltage_v * 100.0),
            float_cv: sat_u16(c.float_voltage_v * 100.0),
            equalisation_cv: sat_u16((c.absorption_voltage_v + 1.8 * nominal / 12.0) * 100.0),
            temp_comp: sat_i16(c.temp_comp_mv_per_k * 100.0),
            battery_type: 0xFF,
            absorption_time_ch: sat_u16(c.absorption_time_h * 100.0),
            tail_current_da: sat_u16(c.tail_current_a * 10.0),
            rebulk_offset_cv: sat_u16(c.rebulk_offset_v * 100.0),
            device_mode: 1,
            remote_control_mask: if c.firmware >= 142 { 0x02 } else { 0 },
            network_mode: 0,
            total_dc_input_power: u32::MAX,
        }
    }

    pub fn device_on(&self) -> bool {
        self.device_mode == 1
    }

    pub fn charge(&self) -> ChargeSettings {
        ChargeSettings {
            absorption_v: f64::from(self.absorption_cv) / 100.0,
            float_v: f64::from(self.float_cv) / 100.0,
            temp_comp_mv_per_k: f64::from(self.temp_comp) / 100.0,
            absorption_time_h: f64::from(self.absorption_time_ch) / 100.0,
            tail_current_a: f64::from(self.tail_current_da) / 10.0,
            rebulk_offset_v: f64::from(self.rebulk_offset_cv) / 100.0,
            max_current_a: f64::from(self.battery_max_current_da.min(self.charger_max_current_da))
                / 10.0,
        }
    }

    /// Charge voltages must lie within 8..17.4 V per 12 V (note 5 of the battery settings).
    fn voltage_range(&self) -> (u16, u16) {
        let n = u32::from(self.nominal_v.max(12)) / 12;
        let lo = 800 * n;
        let hi = 1740 * n;
        (
            u16::try_from(lo).unwrap_or(u16::MAX),
            u16::try_from(hi).unwrap_or(u16::MAX),
        )
    }

    /// Temperature compensation within ±21 mV/K per 12 V.
    fn temp_comp_range(&self) -> (i16, i16) {
        let n = i16::from(self.nominal_v.max(12)) / 12;
        let hi = 2100i16.saturating_mul(n);
        (-hi, hi)
    }

    pub fn snapshot(&self) -> Json {
        json!({
            "battery_voltage_v": self.nominal_v,
            "battery_max_current_a": f64::from(self.battery_max_current_da) / 10.0,
            "absorption_voltage_v": f64::from(self.absorption_cv) / 100.0,
            "float_voltage_v": f64::from(self.float_cv) / 100.0,
            "equalisation_voltage_v": f64::from(self.equalisation_cv) / 100.0,
            "temp_comp_mv_per_k": f64::from(self.temp_comp) / 100.0,
            "battery_type": self.battery_type,
            "absorption_time_h": f64::from(self.absorption_time_ch) / 100.0,
            "tail_current_a": f64::from(self.tail_current_da) / 10.0,
            "rebulk_offset_v": f64::from(self.rebulk_offset_cv) / 100.0,
            "device_mode": self.device_mode,
            "remote_control_mask": self.remote_control_mask,
            "network_mode": self.network_mode,
            "total_dc_input_power_raw": self.total_dc_input_power,
        })
    }
}

/// Write an un16 setting within `[lo, hi]`; out of range -> parameter error with the nearest
/// valid value, setting unchanged (vectors H7, H8).
fn write_u16(slot: &mut u16, value: &[u8], lo: u16, hi: u16) -> RegWrite {
    match parse_u16(value) {
        None => RegWrite::ParameterError(le_u16(*slot)),
        Some(v) if v < lo || v > hi => RegWrite::ParameterError(le_u16(v.clamp(lo, hi))),
        Some(v) => {
            *slot = v;
            RegWrite::Accepted(le_u16(v))
        }
    }
}

impl MpptModel {
    /// 0x200F network status: low nibble 0x04 = stand-alone; bit 6 TSENSE, bit 7 VSENSE in use
    /// (bits from fw 1.26).
    pub(crate) fn network_status(&self) -> u8 {
        let mut v = 0x04;
        if self.fw() >= 126 {
            if self.tsense_in_use() {
                v |= 0x40;
            }
            if self.vsense_in_use() {
                v |= 0x80;
            }
        }
        v
    }

    /// 0x200D network info: bit 6 TSENSE, bit 7 VSENSE in use.
    fn network_info(&self) -> u8 {
        let mut v = 0;
        if self.tsense_in_use() {
            v |= 0x40;
        }
        if self.vsense_in_use() {
            v |= 0x80;
        }
        v
    }

    fn write_remote(&mut self, id: u16, value: &[u8]) -> RegWrite {
        let now = self.link.now_ms;
        if id == REG_VSENSE {
            match parse_u16(value) {
                Some(v) => {
                    let raw = (v != VSENSE_NA).then_some(i32::from(v));
                    self.remote.voltage.write(raw, now);
                    RegWrite::Accepted(le_u16(v))
                }
                None => RegWrite::ParameterError(le_u16(self.remote.voltage_raw())),
            }
        } else {
            match parse_i16(value) {
                Some(v) => {
                    let raw = (v != TSENSE_NA).then_some(i32::from(v));
                    self.remote.temperature.write(raw, now);
                    RegWrite::Accepted(le_i16(v))
                }
                None => RegWrite::ParameterError(le_i16(self.remote.temperature_raw())),
            }
        }
    }
}

impl HexTarget for MpptModel {
    fn link_mut(&mut self) -> &mut super::link::Link {
        &mut self.link
    }

    fn version_word(&self) -> u16 {
        MpptModel::version_word(self)
    }

    fn product_id(&self) -> u16 {
        self.config.product_id
    }

    fn get_register(&self, id: u16) -> RegRead {
        let c = &self.charger;
        let s = &self.settings;
        let y = &self.yields;
        let fw = self.fw();
        let value = match id {
            // 4-byte layout: instance, product id (LE), reserved 0xFF (vectors H19).
            0x0100 => {
                let [lo, hi] = self.config.product_id.to_le_bytes();
                vec![0x00, lo, hi, 0xFF]
            }
            0x010A => string_value(&self.config.serial),
            0x010B => string_value(&self.config.model_name),
            0x0120 => le_u32(u32::try_from(self.uptime_s).unwrap_or(u32::MAX)),
            0x0140 => le_u32(0x0001_E0FC | u32::from(self.config.load_output)),
            0x0200 => vec![if s.device_mode == 1 { 1 } else { 4 }],
            0x0201 => vec![c.stage.code()],
            0x0202 => le_u32(s.remote_control_mask),
            0x0205 if (129..144).contains(&fw) => vec![c.off_reason.min(255) as u8],
            0x0207 if fw >= 144 => le_u32(c.off_reason),
            0xEDF0 => le_u16(s.battery_max_current_da),
            0xEDF1 => vec![s.battery_type],
            0xEDF2 => le_i16(s.temp_comp),
            0xEDF4 => le_u16(s.equalisation_cv),
            0xEDF6 => le_u16(s.float_cv),
            0xEDF7 => le_u16(s.absorption_cv),
            0xEDFB => le_u16(s.absorption_time_ch),
            0xEDE7 if fw >= 142 => le_u16(s.tail_current_da),
            0xED2E if fw >= 142 => le_u16(s.rebulk_offset_cv),
            0xEDEF | 0xEDEA => vec![s.nominal_v],
            // Battery temperature from the network (fw >= 1.42), 0xFFFF = N/A (vectors H25).
            0xEDEC if fw >= 142 => le_u16(
                self.remote
                    .temperature_c()
                    .map_or(u16::MAX, |t| sat_u16((t + 273.15) * 100.0)),
            ),
            0xEDDF => le_u16(sat_u16(f64::from(s.charger_max_current_da) * 10.0)),
            0xEDDD | 0xEDDC => le_u32(sat_u32(y.total_kwh * 100.0)),
            0xEDDB => le_i16(sat_i16(c.internal_temp_c * 100.0)),
            0xEDDA => vec![self.env.error],
            0xEDD7 => le_u16(sat_u16(self.measured_charger_current() * 10.0)),
            0xEDD5 | 0xED8D => le_u16(sat_u16(self.measured_v() * 100.0)),
            0xEDD4 => vec![0],
            0xEDD3 => le_u16(sat_u16(y.today_kwh * 100.0)),
            0xEDD2 => le_u16(sat_u16(y.max_power_today_w)),
            0xEDD1 => le_u16(sat_u16(y.yesterday_kwh * 100.0)),
            0xEDD0 => le_u16(sat_u16(y.max_power_yesterday_w)),
            0xEDCE if fw >= 116 => vec![12, 24],
            0xEDBC => le_u32(sat_u32(c.pv_power_w * 100.0)),
            0xEDBB => le_u16(sat_u16(self.measured_vpv() * 100.0)),
            0xEDBD => le_u16(sat_u16(c.pv_current_a * 10.0)),
            0xEDB8 if fw >= 116 => le_u16(10_000),
            0xEDB3 if fw >= 142 => vec![c.tracker],
            0xEDAD if self.config.load_output => le_u16(sat_u16(self.load_output_current() * 10.0)),
            0x2001 => le_u16(sat_u16(self.charge_setpoint_v() * 100.0)),
            REG_VSENSE | REG_TSENSE if !self.config.remote_sense => return RegRead::Unknown,
            REG_VSENSE => le_u16(self.remote.voltage_raw()),
            REG_TSENSE => le_i16(self.remote.temperature_raw()),
            0x200D if fw >= 142 => vec![self.network_info()],
            0x200E => vec![s.network_mode],
            0x200F => vec![self.network_status()],
            0x2027 => le_u32(s.total_dc_input_power),
            _ => return RegRead::Unknown,
        };
        RegRead::Value(value)
    }

    fn set_register(&mut self, id: u16, value: &[u8]) -> RegWrite {
        let (vlo, vhi) = self.settings.voltage_range();
        let user = self.settings.battery_type == 0xFF;
        let s = &mut self.settings;
        match id {
            REG_VSENSE | REG_TSENSE if !self.config.remote_sense => RegWrite::Unknown,
            REG_VSENSE | REG_TSENSE => self.write_remote(id, value),
            0xEDF0 => {
                let hi = s.charger_max_current_da;
                write_u16(&mut s.battery_max_current_da, value, 0, hi)
            }
            0xEDF7 if user => write_u16(&mut s.absorption_cv, value, vlo, vhi),
            0xEDF6 if user => write_u16(&mut s.float_cv, value, vlo, vhi),
            0xEDF4 if user => write_u16(&mut s.equalisation_cv, value, vlo, vhi),
            0xEDF2 if user => {
                let (lo, hi) = s.temp_comp_range();
                match parse_i16(value) {
                    None => RegWrite::ParameterError(le_i16(s.temp_comp)),
                    Some(v) if v < lo || v > hi => {
                        RegWrite::ParameterError(le_i16(v.clamp(lo, hi)))
                    }
                    Some(v) => {
                        s.temp_comp = v;
                        RegWrite::Accepted(le_i16(v))
                    }
                }
            }
            0xEDF1 => match parse_u8(value) {
                Some(v @ (1..=8 | 0xFF)) => {
                    s.battery_type = v;
                    RegWrite::Accepted(vec![v])
                }
                _ => RegWrite::ParameterError(vec![s.battery_type]),
            },
            0xEDFB => write_u16(&mut s.absorption_time_ch, value, 0, 2400),
            0xEDE7 if self.config.firmware >= 142 => {
                write_u16(&mut s.tail_current_da, value, 0, 1000)
            }
            0xED2E if self.config.firmware >= 142 => {
                write_u16(&mut s.rebulk_offset_cv, value, 0, 500)
            }
            0x0200 => match parse_u8(value) {
                Some(v @ (0 | 1 | 4)) => {
                    s.device_mode = if v == 1 { 1 } else { 4 };
                    RegWrite::Accepted(vec![v])
                }
                _ => RegWrite::ParameterError(vec![s.device_mode]),
            },
            0x0202 => match parse_u32(value) {
                Some(v) => {
                    s.remote_control_mask |= v;
                    RegWrite::Accepted(le_u32(s.remote_control_mask))
                }
                None => RegWrite::ParameterError(le_u32(s.remote_control_mask)),
            },
            0x200E => match parse_u8(value) {
                Some(v) => {
                    s.network_mode = v;
                    RegWrite::Accepted(vec![v])
                }
                None => RegWrite::ParameterError(vec![s.network_mode]),
            },
            0x2027 => match parse_u32(value) {
                Some(v) => {
                    s.total_dc_input_power = v;
                    RegWrite::Accepted(le_u32(v))
                }
                None => RegWrite::ParameterError(le_u32(s.total_dc_input_power)),
            },
            _ => match self.get_register(id) {
                RegRead::Value(current) => RegWrite::ReadOnly(current),
                RegRead::Unknown => RegWrite::Unknown,
            },
        }
    }

    fn restart(&mut self) {
        self.restart_device();
    }
}
