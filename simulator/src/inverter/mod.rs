//! Simulated Voltronic PI30 inverter: a sans-IO device model (docs/architecture.md §5 and §7).
//!
//! [`InverterModel`] takes complete request frames (`handle_request`) and simulated time
//! (`advance`) and answers like a real unit: CRC-checked requests (spec section 1, appendix 4.1),
//! the inquiry replies of spec section 2 in the widths of real devices, the setters of spec
//! section 3 with their ranges, and protocol-level faults (`(NAK`, PI17/PI18 `^0`, silence).
//! Front ends (PTY, TCP, USB/IP) move bytes in and out; nothing here does I/O.
//!
//! The protocol personality (`protocol` in the config, [`Protocol`]) picks what the unit speaks:
//! PI30 / PI30MAX (the above), PI18 (`pi18`: the same model in `^P`/`^D` framing), or PI17 / PI16
//! (`families`: answers to the identification probes only).
//!
//! Layout: `config` (static description), `settings` (EEPROM), `state` (physics), `replies`
//! (inquiry formatting), `setters` (setter parsing), `wire` (CRC and frames), `clock` (DAT/QT),
//! `pi18` (PI18 requests, replies and setters), `families` (PI17 / PI16 identification),
//! `energy` (the integrals of the reported powers for the control API).

mod clock;
mod config;
mod energy;
mod families;
mod pi18;
mod ranges;
mod replies;
mod setters;
mod settings;
mod state;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_energy;
#[cfg(test)]
mod tests_pi18;

use std::time::Duration;

use serde_json::{Value, json};

pub use config::{InverterConfig, Protocol, Variant};
pub use replies::Warnings;
pub use settings::{Flags, Settings, UnitSettings};
pub use state::{ChargeStage, Env, Mode, UnitState};

use crate::energy::Integrals;
use replies::Ctx;
use setters::Outcome;
use state::Physics;

/// Errors of the control API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("unknown key `{0}`")]
    UnknownKey(String),
    #[error("invalid value for `{key}`: {reason}")]
    InvalidValue { key: String, reason: String },
}

/// What the unit sends back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A complete reply frame (ending in CR).
    Reply(Vec<u8>),
    /// No answer at all.
    Silence,
}

/// Protocol-level faults (docs/architecture.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolFault {
    /// Every command is answered `(NAK`.
    Nak,
    /// Every command is answered `^0` + CRC, as a PI17/PI18 unit does.
    Pi18,
    /// No reply.
    Silence,
    /// Some firmware echoes commands it does not take: every command is echoed.
    Echo,
    /// The multi-interface lockup: silent until `reset()` (or until cleared).
    Lockup,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
struct FaultSet {
    nak: bool,
    pi18: bool,
    silence: bool,
    echo: bool,
    lockup: bool,
}

/// The simulated inverter (or parallel stack).
#[derive(Debug, Clone)]
pub struct InverterModel {
    cfg: InverterConfig,
    settings: Settings,
    env: Env,
    phys: Physics,
    faults: FaultSet,
    config_changed: bool,
    requests: u64,
    naks: u64,
    /// Integrals of the reported powers since start (`energy.rs`).
    energy: Integrals,
}

fn num(key: &str, value: &Value, lo: f64, hi: f64) -> Result<f64, SimError> {
    let v = value.as_f64().ok_or_else(|| SimError::InvalidValue {
        key: key.to_owned(),
        reason: "expected a number".to_owned(),
    })?;
    if !(lo..=hi).contains(&v) {
        return Err(SimError::InvalidValue {
            key: key.to_owned(),
            reason: format!("must be within {lo}..={hi}"),
        });
    }
    Ok(v)
}

impl InverterModel {
    /// A unit as configured (invalid fields fall back to defaults; see
    /// [`InverterConfig::validate`]) with its EEPROM at factory defaults.
    pub fn new(config: InverterConfig, seed: u64) -> Self {
        let cfg = config.repaired();
        let settings = Settings::defaults(&cfg);
        let env = Env::new(&cfg);
        let phys = Physics::new(&cfg, &env, seed);
        InverterModel {
            cfg,
            settings,
            env,
            phys,
            faults: FaultSet::default(),
            config_changed: false,
            requests: 0,
            naks: 0,
            energy: Integrals::default(),
        }
    }

    pub fn config(&self) -> &InverterConfig {
        &self.cfg
    }

    /// The protocol personality the unit speaks.
    pub fn protocol(&self) -> Protocol {
        self.cfg.protocol
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn mode(&self) -> Mode {
        self.phys.mode
    }

    /// State of charge in percent.
    pub fn soc_percent(&self) -> f64 {
        self.phys.soc * 100.0
    }

    pub fn battery_voltage(&self) -> f64 {
        self.phys.battery_v
    }

    /// Net battery current, positive when charging.
    pub fn battery_current(&self) -> f64 {
        self.phys.battery_a
    }

    pub fn units(&self) -> &[UnitState] {
        &self.phys.units
    }

    pub fn warnings(&self) -> Warnings {
        self.ctx().warnings()
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            cfg: &self.cfg,
            settings: &self.settings,
            phys: &self.phys,
            env: &self.env,
            config_changed: self.config_changed,
        }
    }

    /// Simulated time passes (in slices of at most one second).
    pub fn advance(&mut self, dt: Duration) {
        let mut left = dt.as_secs_f64();
        while left > 1e-9 {
            let h = left.min(1.0);
            self.phys.step(&self.cfg, &self.settings, &mut self.env, h);
            self.integrate_energy(h);
            left -= h;
        }
    }

    fn reply(&self, body: &[u8]) -> Response {
        Response::Reply(wire::frame(body, self.cfg.escape_zero_crc))
    }

    fn nak(&mut self) -> Response {
        self.naks += 1;
        if self.cfg.nak_with_crc {
            self.reply(b"(NAK")
        } else {
            Response::Reply(b"(NAK\r".to_vec())
        }
    }

    /// One complete request frame as received (ASCII + CRC + CR).
    pub fn handle_request(&mut self, request: &[u8]) -> Response {
        self.requests += 1;
        if self.faults.lockup || self.faults.silence {
            return Response::Silence;
        }
        if self.faults.pi18 {
            return self.reply(b"^0");
        }
        if self.faults.echo {
            return Response::Reply(request.to_vec());
        }
        if self.faults.nak {
            return self.nak();
        }
        match self.cfg.protocol {
            Protocol::Pi30 | Protocol::Pi30Max => self.handle_pi30(request),
            Protocol::Pi18 => self.handle_pi18(request),
            Protocol::Pi17 => self.family_answer(families::pi17(request)),
            Protocol::Pi16 => self.family_answer(families::pi16(request)),
        }
    }

    fn family_answer(&mut self, answer: families::Answer) -> Response {
        match answer {
            families::Answer::Frame(bytes) => {
                if bytes.starts_with(b"^0") {
                    self.naks += 1;
                }
                Response::Reply(bytes)
            }
            families::Answer::Nak => self.nak(),
        }
    }

    /// A PI18 request (`pi18.rs`): queries from the same state, setters on the same settings.
    fn handle_pi18(&mut self, request: &[u8]) -> Response {
        match pi18::parse(request) {
            pi18::Request::Query(cmd) => match self.ctx().pi18_query(&cmd) {
                Some(payload) => {
                    if cmd == "PIRI" {
                        // GS's "settings changed" flag holds until the next PIRI read
                        // (reference §6).
                        self.config_changed = false;
                    }
                    Response::Reply(pi18::data(&payload))
                }
                None => self.pi18_refuse(),
            },
            pi18::Request::Set(cmd) => match pi18::apply(&cmd, &self.cfg, &mut self.settings) {
                pi18::SetOutcome::Refused => self.pi18_refuse(),
                outcome => {
                    if outcome == pi18::SetOutcome::Changed {
                        self.config_changed = true;
                        self.phys.settle(&self.cfg, &self.settings, &self.env);
                    }
                    Response::Reply(pi18::accept())
                }
            },
            pi18::Request::Refused => self.pi18_refuse(),
        }
    }

    /// `^0`, counted with the NAKs.
    fn pi18_refuse(&mut self) -> Response {
        self.naks += 1;
        Response::Reply(pi18::refuse())
    }

    fn handle_pi30(&mut self, request: &[u8]) -> Response {
        let cmd = match wire::parse_request(request) {
            Ok(cmd) => cmd.to_owned(),
            Err(_) => return self.nak(),
        };
        if let Some(body) = self.ctx().query(&cmd) {
            if cmd == "QPIGS" {
                // The "configuration changed" bit is reported once.
                self.config_changed = false;
            }
            return self.reply(body.as_bytes());
        }
        match setters::apply(&cmd, &self.cfg, &mut self.settings, &mut self.phys.rtc_s) {
            Outcome::Refused => self.nak(),
            outcome => {
                if outcome == Outcome::Changed {
                    self.config_changed = true;
                    self.phys.settle(&self.cfg, &self.settings, &self.env);
                }
                self.reply(b"(ACK")
            }
        }
    }

    /// Full state for the control API.
    pub fn snapshot(&self) -> Value {
        let to = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
        json!({
            "protocol": self.cfg.protocol.name(),
            "config": to(serde_json::to_value(&self.cfg)),
            "settings": to(serde_json::to_value(&self.settings)),
            "env": to(serde_json::to_value(&self.env)),
            "state": to(serde_json::to_value(&self.phys)),
            "mode": self.phys.mode.letter().to_string(),
            "soc_percent": self.phys.soc * 100.0,
            "battery_voltage": self.ctx().shown_battery_v(),
            "battery_current": self.phys.battery_a,
            "time_of_day_h": self.env.time_of_day_s / 3600.0,
            "clock": clock::format_qt(self.phys.rtc_s),
            "warnings": to(serde_json::to_value(self.warnings())),
            "protocol_faults": to(serde_json::to_value(self.faults)),
            "configuration_changed": self.config_changed,
            "requests": self.requests,
            "naks": self.naks,
        })
    }

    /// Sets one environment value. Keys: `time_of_day_h`, `pv_power_w` / `pv_override`
    /// (W per unit; null returns to the day curve), `pv_peak_w`, `load_w` (whole system),
    /// `load_pf`, `grid_available`, `grid_voltage`, `grid_frequency`, `battery_soc` (%),
    /// `battery_voltage` (open-circuit V), `ambient_c`, `fault_code` (0 clears).
    pub fn set_env(&mut self, key: &str, value: &Value) -> Result<(), SimError> {
        let scale = self.cfg.battery_scale();
        match key {
            "time_of_day_h" => self.env.time_of_day_s = num(key, value, 0.0, 24.0)? * 3600.0,
            "pv_power_w" | "pv_override" | "pv_override_w" => {
                self.env.pv_override_w = if value.is_null() {
                    None
                } else {
                    Some(num(key, value, 0.0, 100_000.0)?)
                };
            }
            "pv_peak_w" => self.env.pv_peak_w = num(key, value, 0.0, 100_000.0)?,
            "load_w" => self.env.load_w = num(key, value, 0.0, 1_000_000.0)?,
            "load_pf" | "load_power_factor" => self.env.load_pf = num(key, value, 0.1, 1.0)?,
            "grid_available" => {
                self.env.grid_available =
                    value.as_bool().ok_or_else(|| SimError::InvalidValue {
                        key: key.to_owned(),
                        reason: "expected true or false".to_owned(),
                    })?;
            }
            "grid_voltage" => self.env.grid_voltage = num(key, value, 0.0, 300.0)?,
            "grid_frequency" => self.env.grid_frequency = num(key, value, 40.0, 70.0)?,
            "battery_soc" => {
                let soc = num(key, value, 0.0, 100.0)? / 100.0;
                self.phys.set_soc(&self.cfg, soc);
            }
            "battery_voltage" => {
                let lo = state::ocv(&self.cfg, 0.0);
                let hi = state::ocv(&self.cfg, 1.0);
                let v = num(key, value, lo.floor().min(10.0 * scale), 70.0 * scale)?;
                let soc = state::soc_for_ocv(&self.cfg, v.clamp(lo, hi));
                self.phys.set_soc(&self.cfg, soc);
            }
            "ambient_c" => self.env.ambient_c = num(key, value, -40.0, 80.0)?,
            "fault_code" => {
                let code = num(key, value, 0.0, 99.0)?;
                self.env.forced_fault_code = code as u8;
                self.phys.fault_code = code as u8;
            }
            _ => return Err(SimError::UnknownKey(key.to_owned())),
        }
        self.phys.settle(&self.cfg, &self.settings, &self.env);
        Ok(())
    }

    /// Turns a protocol-level fault on or off.
    pub fn set_fault(&mut self, fault: ProtocolFault, on: bool) {
        let slot = match fault {
            ProtocolFault::Nak => &mut self.faults.nak,
            ProtocolFault::Pi18 => &mut self.faults.pi18,
            ProtocolFault::Silence => &mut self.faults.silence,
            ProtocolFault::Echo => &mut self.faults.echo,
            ProtocolFault::Lockup => &mut self.faults.lockup,
        };
        *slot = on;
    }

    /// A power cycle: clears the lockup, protocol faults and latched device faults; the
    /// settings stay (EEPROM). The unit shows Power-on mode (`P`) for two simulated seconds.
    pub fn reset(&mut self) {
        self.faults = FaultSet::default();
        self.env.forced_fault_code = 0;
        self.config_changed = false;
        self.phys.power_cycle();
        self.phys.settle(&self.cfg, &self.settings, &self.env);
    }
}
