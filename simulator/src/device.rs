//! One simulated device as the front ends see it: its model, its faults, its interfaces, and for
//! inverters the multi-interface lockup.
//!
//! The lockup models what real Voltronic units do when their USB and RS232 ports are used at the
//! same time: a request that arrives on one interface while a transaction (request received, reply
//! not yet fully sent) is open on another interface locks the unit up. It then answers nothing on
//! any interface until it is reset (through the control API, like a power cycle).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value as Json, json};
use tokio::sync::{broadcast, watch};

use crate::config::{DeviceConfig, DeviceKind, InterfaceKind};
use crate::energy::{self, Counter};
use crate::faults::{self, Faults};
use crate::inverter::{InverterModel, ProtocolFault, Response};
use crate::rng::SimRng;
use crate::vedirect::{BmvModel, MpptModel, VeDevice};

/// The behaviour behind a device.
#[derive(Debug)]
pub enum Model {
    Inverter(Box<InverterModel>),
    Bmv(Box<BmvModel>),
    Mppt(Box<MpptModel>),
}

impl Model {
    pub fn build(config: &DeviceConfig, seed: u64) -> Model {
        let seed = SimRng::derive(seed, &config.name).next_u64();
        match config.kind {
            DeviceKind::Inverter => Model::Inverter(Box::new(InverterModel::new(
                config.inverter.clone().unwrap_or_default(),
                seed,
            ))),
            DeviceKind::Bmv => Model::Bmv(Box::new(BmvModel::new(
                config.bmv.clone().unwrap_or_default(),
                seed,
            ))),
            DeviceKind::Mppt => Model::Mppt(Box::new(MpptModel::new(
                config.mppt.clone().unwrap_or_default(),
                seed,
            ))),
        }
    }

    fn ve(&mut self) -> Option<&mut dyn VeDevice> {
        match self {
            Model::Inverter(_) => None,
            Model::Bmv(m) => Some(m.as_mut()),
            Model::Mppt(m) => Some(m.as_mut()),
        }
    }

    fn advance(&mut self, dt: Duration) {
        match self {
            Model::Inverter(m) => m.advance(dt),
            Model::Bmv(m) => m.advance(dt),
            Model::Mppt(m) => m.advance(dt),
        }
    }

    fn snapshot(&self) -> Json {
        match self {
            Model::Inverter(m) => m.snapshot(),
            Model::Bmv(m) => m.snapshot(),
            Model::Mppt(m) => m.snapshot(),
        }
    }

    /// The energy counters ([`crate::energy`]).
    pub fn energy(&self) -> Vec<Counter> {
        match self {
            Model::Inverter(m) => m.energy(),
            Model::Bmv(m) => m.energy(),
            Model::Mppt(m) => m.energy(),
        }
    }

    fn set_env(&mut self, key: &str, value: &Json) -> Result<(), String> {
        match self {
            Model::Inverter(m) => m.set_env(key, value).map_err(|e| e.to_string()),
            Model::Bmv(m) => m.set_env(key, value).map_err(|e| e.to_string()),
            Model::Mppt(m) => m.set_env(key, value).map_err(|e| e.to_string()),
        }
    }

    /// The protocol the device speaks (`pi30`, `pi30max`, `pi18`, `pi17`, `pi16`, `vedirect`).
    fn protocol(&self) -> &'static str {
        match self {
            Model::Inverter(m) => m.protocol().name(),
            Model::Bmv(_) | Model::Mppt(_) => "vedirect",
        }
    }

    fn reset(&mut self) {
        match self {
            Model::Inverter(m) => m.reset(),
            Model::Bmv(m) => m.reset(),
            Model::Mppt(m) => m.reset(),
        }
    }
}

/// What a front end reports about one interface.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InterfaceStatus {
    pub name: String,
    pub kind: &'static str,
    /// PTY symlink path or TCP listen address, once known.
    pub address: Option<String>,
    /// The PTY device or TCP peer behind it right now.
    pub attached: Option<String>,
    pub connected: bool,
}

/// Mutable state of one device, behind a mutex shared by its front ends and the control API.
#[derive(Debug)]
pub struct DeviceState {
    pub model: Model,
    pub faults: Faults,
    fault_rng: SimRng,
    /// Inverter lockup: answers nothing until reset.
    pub locked: bool,
    /// The interface with an open transaction, if any.
    open_transaction: Option<usize>,
    pub interfaces: Vec<InterfaceStatus>,
    /// Simulated time since start.
    pub sim_time: Duration,
}

/// A device shared between its ticker, its interface tasks and the control API.
#[derive(Debug, Clone)]
pub struct Device {
    pub name: String,
    pub kind: DeviceKind,
    /// Real time before an inverter answers (firmware processing time).
    pub reply_delay: Duration,
    state: Arc<Mutex<DeviceState>>,
    /// VE.Direct output (text blocks, HEX replies, async frames) for every connected interface.
    output: broadcast::Sender<Arc<[u8]>>,
    /// Per interface: whether it is plugged in (disconnect/reconnect through the control API).
    plugged: Vec<watch::Sender<bool>>,
}

impl Device {
    pub fn new(config: &DeviceConfig, seed: u64) -> Device {
        let interfaces = config
            .interfaces
            .iter()
            .map(|i| InterfaceStatus {
                name: i.name.clone(),
                kind: match i.kind {
                    InterfaceKind::Pty => "pty",
                    InterfaceKind::Tcp => "tcp",
                    InterfaceKind::Usbip => "usbip",
                },
                address: None,
                attached: None,
                connected: false,
            })
            .collect::<Vec<_>>();
        let plugged = interfaces.iter().map(|_| watch::channel(true).0).collect();
        let mut model = Model::build(config, seed);
        apply_protocol_faults(&mut model, &config.faults);
        let (output, _) = broadcast::channel(64);
        Device {
            name: config.name.clone(),
            kind: config.kind,
            reply_delay: Duration::from_millis(config.reply_delay_ms),
            state: Arc::new(Mutex::new(DeviceState {
                model,
                faults: config.faults.clone(),
                fault_rng: SimRng::derive(seed, &format!("{}/faults", config.name)),
                locked: false,
                open_transaction: None,
                interfaces,
                sim_time: Duration::ZERO,
            })),
            output,
            plugged,
        }
    }

    /// The state, even if a thread panicked while holding the lock (the state is plain data and
    /// every update leaves it consistent).
    pub fn lock(&self) -> MutexGuard<'_, DeviceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe_output(&self) -> broadcast::Receiver<Arc<[u8]>> {
        self.output.subscribe()
    }

    pub fn plugged(&self, interface: usize) -> Option<watch::Receiver<bool>> {
        self.plugged.get(interface).map(|p| p.subscribe())
    }

    pub fn interface_index(&self, name: &str) -> Option<usize> {
        self.lock().interfaces.iter().position(|i| i.name == name)
    }

    /// Advance simulated time and hand VE.Direct output to the interfaces.
    pub fn tick(&self, dt: Duration) {
        let out = {
            let mut st = self.lock();
            st.sim_time += dt;
            st.model.advance(dt);
            let st = &mut *st;
            match st.model.ve() {
                Some(ve) => {
                    let out = ve.take_output();
                    if out.is_empty() || st.faults.night_silence && is_night(&st.model) {
                        None
                    } else {
                        Some(faults::apply(&st.faults, &mut st.fault_rng, out))
                    }
                }
                None => None,
            }
        };
        if let Some(out) = out.filter(|o| !o.is_empty()) {
            // No receiver (nothing plugged in) is fine: bytes on an unread line are lost.
            let _ = self.output.send(Arc::from(out));
        }
    }

    /// Bytes a client wrote to a VE.Direct device.
    pub fn receive(&self, bytes: &[u8]) {
        let mut st = self.lock();
        if let Some(ve) = st.model.ve() {
            ve.receive(bytes);
        }
    }

    /// A complete inverter request arrived on `interface`. Returns the reply to send, if any,
    /// and opens a transaction that [`Device::end_transaction`] closes once the reply is out.
    pub fn inverter_request(&self, interface: usize, request: &[u8]) -> Option<Vec<u8>> {
        let mut st = self.lock();
        if st.locked {
            return None;
        }
        if let Some(other) = st.open_transaction {
            if other != interface {
                st.locked = true;
                st.open_transaction = None;
                tracing::warn!(device = %self.name, interface, other, "two interfaces used at once: unit locked up until reset");
                return None;
            }
        }
        st.open_transaction = Some(interface);
        let st = &mut *st;
        let reply = match &mut st.model {
            Model::Inverter(m) => match m.handle_request(request) {
                Response::Reply(bytes) => bytes,
                Response::Silence => return None,
            },
            _ => return None,
        };
        Some(faults::apply(&st.faults, &mut st.fault_rng, reply))
    }

    pub fn end_transaction(&self, interface: usize) {
        let mut st = self.lock();
        if st.open_transaction == Some(interface) {
            st.open_transaction = None;
        }
    }

    pub fn slow(&self) -> Duration {
        Duration::from_millis(self.lock().faults.slow_ms)
    }

    pub fn set_interface_status(&self, interface: usize, f: impl FnOnce(&mut InterfaceStatus)) {
        if let Some(status) = self.lock().interfaces.get_mut(interface) {
            f(status);
        }
    }

    pub fn set_env(&self, key: &str, value: &Json) -> Result<(), String> {
        self.lock().model.set_env(key, value)
    }

    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        let mut st = self.lock();
        apply_protocol_faults(&mut st.model, &faults);
        st.faults = faults;
        Ok(())
    }

    /// Plug an interface in or out (all interfaces when `interface` is None).
    pub fn set_plugged(&self, interface: Option<usize>, plugged: bool) -> Result<(), String> {
        match interface {
            Some(i) => self
                .plugged
                .get(i)
                .ok_or_else(|| format!("no interface #{i}"))?
                .send_replace(plugged),
            None => {
                for p in &self.plugged {
                    p.send_replace(plugged);
                }
                plugged
            }
        };
        Ok(())
    }

    /// Like a power cycle: clears the lockup and the model's transient state.
    pub fn reset(&self) {
        let mut st = self.lock();
        st.locked = false;
        st.open_transaction = None;
        st.model.reset();
    }

    pub fn describe(&self) -> Json {
        let st = self.lock();
        json!({
            "name": self.name,
            "kind": self.kind,
            "protocol": st.model.protocol(),
            "locked": st.locked,
            "sim_time_s": st.sim_time.as_secs_f64(),
            "faults": st.faults,
            "interfaces": st.interfaces,
            "state": st.model.snapshot(),
            "energy": energy::to_json(&st.model.energy(), None),
        })
    }

    /// `GET /devices/{name}/energy`: the counters with their wall-clock integrals at `speed`
    /// simulated seconds per real second.
    pub fn energy(&self, speed: f64) -> Json {
        let st = self.lock();
        json!({
            "name": self.name,
            "speed": speed,
            "sim_time_s": st.sim_time.as_secs_f64(),
            "counters": energy::to_json(&st.model.energy(), Some(speed)),
        })
    }
}

fn apply_protocol_faults(model: &mut Model, faults: &Faults) {
    if let Model::Inverter(m) = model {
        m.set_fault(ProtocolFault::Nak, faults.nak);
        m.set_fault(ProtocolFault::Pi18, faults.pi18);
    }
}

/// Night for an MPPT: no PV power. Old firmware stops talking then.
fn is_night(model: &Model) -> bool {
    match model {
        Model::Mppt(m) => m
            .snapshot()
            .pointer("/text/PPV")
            .and_then(Json::as_str)
            .and_then(|p| p.parse::<f64>().ok())
            .is_some_and(|p| p <= 0.0),
        _ => false,
    }
}
