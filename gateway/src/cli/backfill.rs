//! `sungate demo`'s history backfill: before the demo goes live, the last 24 hours are simulated
//! quickly and stored, so that the dashboard's day chart and energy-per-day bars show a day of
//! data on first look.
//!
//! How: the same simulated devices as the live demo (the simulator's default site, built with
//! `sungate_sim::device::Device`, no front end, no PTY, no clock task), whose time is *stepped*
//! by this code instead of running against the wall clock; the gateway's own drivers (built from
//! the demo's config exactly as its port tasks build them) poll them over an in-memory [`Link`]
//! once per [`STEP`] of simulated time; every snapshot becomes the bus event the port task would
//! publish, stamped with its simulated moment (`from` plus the simulated time so far), and goes
//! to a [`Writer`] of the demo's database. The simulated time of day starts at the UTC time of
//! day of `from`, so the PV curve lands on the right hours; the live simulator is then started
//! at the time of day of now and with the states of charge the backfill ended with (see
//! [`handoff`]), so the live data continue where the backfill ends. (UTC, not local time: the
//! binary has no time zone database; a viewer east or west of Greenwich sees noon shifted.)
//!
//! Why not a second simulator at high speed and a second gateway following its bus (tried
//! first on paper): the simulator's speed is capped at 10 000, so a day takes at least 8.6 s of
//! wall time; and a PI30 poll costs tens of milliseconds of real time (the unit's reply delay,
//! four queries), which at that speed is several simulated minutes between snapshots, so most
//! one-minute aggregate buckets would stay empty and energy per day (the integral of the
//! buckets) would come out far too low; VE.Direct text at 10 000 blocks a second would also
//! queue up in the in-memory pipe and be read minutes after it was produced. Stepping the
//! models in lock-step with the polls puts exactly one snapshot per device in every step, with
//! the moment it was taken, in about 3 s of CPU time in a debug build (the models' 86 400
//! simulated seconds per device are most of it), bounded by the CPU, not by a real-time clock.
//!
//! The live simulator gets the time of day, the states of charge and the devices' lifetime
//! energy counters (MPPT H19, BMV H17/H18, inverter QET/QLT) the backfill ended with; the other
//! history counters (deepest discharge, daily yields) start again from their seeds.
//!
//! What is left out: the bridge (the MPPT uses its own sensors during the backfill) and the
//! availability/identification events (the event log starts with the live demo).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use sungate::config::{Config, HistoryConfig};
use sungate::core::bus::Event;
use sungate::core::energy::EnergyMeter;
use sungate::core::health::Health;
use sungate::core::opener::build_driver;
use sungate::history::{Writer, WriterConfig};
use sungate::types::unix_ms;
use sungate_drivers::driver::Driver;
use sungate_drivers::link::{Link, LinkError};
use sungate_sim::config::{DeviceKind, SimConfig};
use sungate_sim::device::Device;
use sungate_sim::inverter::InverterConfig;
use sungate_sim::vedirect::{BmvConfig, MpptConfig};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::TryRecvError;

/// Simulated time between two snapshots of a device: one per aggregate bucket (a minute).
pub const STEP: Duration = Duration::from_secs(60);
/// How long a read may wait for a device that says nothing, in simulated seconds.
const QUIET_LIMIT: u32 = 10;
/// Snapshots per commit (a simulated hour of the three devices).
const BATCH: u64 = 180;
/// Wall time after which the backfill stops where it is (what it stored stays).
const DEADLINE: Duration = Duration::from_secs(30);
const DAY_S: u64 = 86_400;

/// What a backfill stored.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub snapshots: u64,
    pub elapsed: Duration,
    /// The simulated span actually covered (shorter than asked when the deadline struck).
    pub covered: Duration,
}

/// Hours since midnight UTC of a moment.
pub fn utc_hour(at: SystemTime) -> f64 {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    secs.rem_euclid(DAY_S as f64) / 3600.0
}

/// Set the simulated time of day of `site`'s inverters and MPPTs (their PV curves follow it)
/// to the UTC time of day of `at`.
pub fn set_time_of_day(site: &mut SimConfig, at: SystemTime) {
    let hour = utc_hour(at);
    for d in &mut site.devices {
        match d.kind {
            DeviceKind::Inverter => {
                d.inverter
                    .get_or_insert_with(InverterConfig::default)
                    .start_time_of_day_h = hour
            }
            DeviceKind::Mppt => d.mppt.get_or_insert_with(MpptConfig::default).time_of_day_h = hour,
            DeviceKind::Bmv => {}
        }
    }
}

/// Give `live` the state of charge and the energy counters the backfill's devices ended with,
/// so that the live demo's batteries continue where the history ends and the devices' own
/// energy counters (H19, H17/H18, QET/QLT) do not go back.
fn handoff(devices: &[Device], live: &mut SimConfig) {
    for device in devices {
        let Some(config) = live.devices.iter_mut().find(|d| d.name == device.name) else {
            continue;
        };
        let described = device.describe();
        let state = &described["state"];
        let counter = |name: &str| described["energy"][name]["device_kwh"].as_f64();
        match device.kind {
            DeviceKind::Inverter => {
                let inverter = config.inverter.get_or_insert_with(InverterConfig::default);
                if let Some(soc) = state["soc_percent"].as_f64() {
                    inverter.start_soc_percent = soc;
                }
                inverter.start_pv_energy_kwh = counter("pv_energy");
                inverter.start_load_energy_kwh = counter("load_energy");
            }
            DeviceKind::Bmv => {
                let bmv = config.bmv.get_or_insert_with(BmvConfig::default);
                if let Some(soc) = state["battery"]["soc"].as_f64() {
                    bmv.initial_soc_percent = soc * 100.0;
                }
                bmv.initial_charged_kwh = counter("battery_charged_energy");
                bmv.initial_discharged_kwh = counter("battery_discharged_energy");
            }
            DeviceKind::Mppt => {
                let mppt = config.mppt.get_or_insert_with(MpptConfig::default);
                if let Some(soc) = state["charger"]["soc"].as_f64() {
                    mppt.initial_soc_percent = soc * 100.0;
                }
                mppt.initial_yield_total_kwh = counter("pv_energy");
            }
        }
    }
}

/// A device's first interface as its driver sees it, with the device's time stepped by the
/// reads: a read that finds nothing waiting lets one simulated second pass (the device talks
/// meanwhile, or not), up to [`QUIET_LIMIT`] seconds, then times out like a silent line.
#[derive(Debug)]
struct SimLink {
    device: Device,
    output: broadcast::Receiver<Arc<[u8]>>,
    inbox: VecDeque<u8>,
    /// Simulated time this device has been advanced, in total.
    advanced: Duration,
}

impl SimLink {
    fn new(device: Device) -> SimLink {
        SimLink {
            output: device.subscribe_output(),
            device,
            inbox: VecDeque::new(),
            advanced: Duration::ZERO,
        }
    }

    /// Advance the device's time by `dt`; what it says meanwhile is kept when `keep`.
    fn advance(&mut self, dt: Duration, keep: bool) {
        if dt.is_zero() {
            return;
        }
        self.device.tick(dt);
        self.advanced += dt;
        loop {
            match self.output.try_recv() {
                Ok(bytes) if keep => self.inbox.extend(bytes.iter()),
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }

    /// Let a second pass for a read that found nothing; false once the line stayed quiet for
    /// [`QUIET_LIMIT`] seconds.
    fn wait(&mut self, waited: &mut u32) -> bool {
        if *waited >= QUIET_LIMIT {
            return false;
        }
        *waited += 1;
        self.advance(Duration::from_secs(1), true);
        true
    }
}

#[async_trait]
impl Link for SimLink {
    async fn write_frame(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        if self.device.kind == DeviceKind::Inverter {
            // The reply is on the line at once: the unit's processing delay is real time, which
            // the backfill does not spend.
            let reply = self.device.inverter_request(0, frame);
            self.device.end_transaction(0);
            if let Some(reply) = reply {
                self.inbox.extend(reply);
            }
        } else {
            self.device.receive(frame);
        }
        Ok(())
    }

    async fn read_until(
        &mut self,
        delimiter: u8,
        max: usize,
        _deadline: tokio::time::Instant,
    ) -> Result<Vec<u8>, LinkError> {
        let mut waited = 0;
        loop {
            if let Some(pos) = self.inbox.iter().position(|&b| b == delimiter) {
                return Ok(self.inbox.drain(..=pos).collect());
            }
            if self.inbox.len() > max {
                let n = self.inbox.len();
                self.inbox.clear();
                return Err(LinkError::Overflow(n));
            }
            if !self.wait(&mut waited) {
                return Err(LinkError::Timeout {
                    received: self.inbox.len(),
                });
            }
        }
    }

    async fn read_chunk(&mut self, _deadline: tokio::time::Instant) -> Result<Vec<u8>, LinkError> {
        let mut waited = 0;
        while self.inbox.is_empty() {
            if !self.wait(&mut waited) {
                return Err(LinkError::Timeout { received: 0 });
            }
        }
        Ok(self.inbox.drain(..).collect())
    }

    async fn discard_input(&mut self) -> Result<usize, LinkError> {
        let n = self.inbox.len();
        self.inbox.clear();
        Ok(n)
    }
}

/// One gateway device of the backfill: its driver and its simulated device.
struct Polled {
    name: String,
    driver: Box<dyn Driver>,
    link: SimLink,
    /// The energy counters, bridging the [`STEP`] between two snapshots (a live gateway does
    /// not bridge gaps of several poll intervals; here every step is one poll).
    energy: EnergyMeter,
}

/// Simulate `from..to` (at most a few days) of the devices of `site` that `config` polls (a
/// gateway device polls the simulated device of the same name), one snapshot per device per
/// [`STEP`], and store the snapshots in `history`. `live`, when given, receives the state the
/// batteries ended with (see [`handoff`]).
pub async fn backfill(
    site: &SimConfig,
    config: &Config,
    history: &HistoryConfig,
    from: SystemTime,
    to: SystemTime,
    live: Option<&mut SimConfig>,
) -> Result<Report> {
    let started = Instant::now();
    let span = to
        .duration_since(from)
        .context("the backfill must end after it starts")?;
    if span > Duration::from_secs(7 * DAY_S) {
        bail!("a backfill of {span:?} is longer than a week");
    }
    let mut polled = Vec::new();
    for device in &config.devices {
        let Some(sim) = site.devices.iter().find(|d| d.name == device.name) else {
            continue;
        };
        let port = config
            .port(&device.port)
            .with_context(|| format!("device {} has no port {}", device.name, device.port))?;
        let mut entry = Polled {
            name: device.name.clone(),
            driver: build_driver(device, port),
            link: SimLink::new(Device::new(sim, site.seed.unwrap_or(1))),
            energy: EnergyMeter::with_max_gap(STEP * 2),
        };
        entry
            .driver
            .identify(&mut entry.link)
            .await
            .with_context(|| format!("the simulated {} does not identify", device.name))?;
        polled.push(entry);
    }
    if polled.is_empty() {
        bail!("none of the configured devices is simulated");
    }
    let health = Arc::new(Health::new(config.ports.iter().map(|p| p.name.as_str())));
    let mut writer = Writer::new(
        WriterConfig {
            store: Some(history.clone()),
            log: None,
        },
        health.clone(),
    );
    writer.open();
    let mut snapshots = 0u64;
    let mut failures = 0u64;
    let mut covered = Duration::ZERO;
    let steps = span.as_secs() / STEP.as_secs();
    for k in 1..=steps {
        if started.elapsed() > DEADLINE {
            eprintln!(
                "sungate demo: history backfill stopped after {DEADLINE:?} (too slow here); {} h of history stored",
                covered.as_secs() / 3600
            );
            break;
        }
        let target = STEP * u32::try_from(k).unwrap_or(u32::MAX);
        for entry in &mut polled {
            // The device's time up to this step (reads during the last poll count), whatever it
            // said meanwhile left unread, as on a line nobody listens to.
            let behind = target.saturating_sub(entry.link.advanced);
            entry.link.advance(behind, false);
            entry.link.inbox.clear();
            match entry.driver.poll(&mut entry.link).await {
                Ok(mut snapshot) => {
                    let at = from + entry.link.advanced;
                    entry.energy.account(unix_ms(at), &mut snapshot);
                    writer.accept(&Event::Snapshot {
                        device: entry.name.clone(),
                        at,
                        reading: Arc::new(snapshot.flatten()),
                        sections: Some(Arc::new(snapshot)),
                    });
                    snapshots += 1;
                    if snapshots % BATCH == 0 {
                        writer.flush();
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(device = %entry.name, error = %e, "backfill poll failed");
                }
            }
        }
        covered = target;
    }
    writer.flush();
    let written = health
        .history
        .snapshots_written
        .load(std::sync::atomic::Ordering::Relaxed);
    if written < snapshots {
        bail!(
            "only {written} of {snapshots} snapshots reached {} (see the log)",
            history.path.display()
        );
    }
    if failures > 0 {
        tracing::warn!(failures, "backfill polls failed");
    }
    if let Some(live) = live {
        handoff(
            &polled
                .iter()
                .map(|p| p.link.device.clone())
                .collect::<Vec<_>>(),
            live,
        );
    }
    Ok(Report {
        snapshots,
        elapsed: started.elapsed(),
        covered,
    })
}
