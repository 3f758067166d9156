//! Port tasks: one task per physical interface owns its transport and runs one transaction at a
//! time for the devices on it. Interfaces of one physical unit share a lock group, held across
//! each whole transaction, so the unit never sees two interfaces at once. Commands jump ahead of
//! routine polls. After repeated failures the transport is closed and reopened with a backoff
//! that doubles from 1 s to 60 s; each device's availability follows.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sungate_drivers::driver::{Command, Driver, DriverError, Outcome};
use sungate_drivers::link::{Link, LinkError};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::Instant;

use sungate_drivers::wire::WireLog;

use super::bus::{Bus, Event};
use super::energy::EnergyMeter;
use super::health::PortHealth;
use crate::config::PortTiming;
use crate::types::unix_ms;

/// Opens the transport of a port (serial, TCP, HID; in tests an in-memory link).
#[async_trait]
pub trait Opener: Send + Sync {
    async fn open(&self) -> Result<Box<dyn Link>, LinkError>;
    fn describe(&self) -> String;
}

/// A lock shared by the ports of one physical unit.
pub type LockGroup = Arc<Mutex<()>>;

/// A device scheduled on a port.
/// Reply timeout of each probe of the protocol detection after a mismatch (the unit has just
/// answered, so it answers fast).
const DETECT_REPLY_TIMEOUT: Duration = Duration::from_secs(1);

pub struct DeviceSlot {
    pub name: String,
    pub driver: Box<dyn Driver>,
    pub interval: Duration,
    next_due: Instant,
    identified: bool,
    /// What the protocol detection said after the first protocol mismatch (run once; repeated
    /// with every later mismatch so that the offline reason carries it too).
    probed: Option<String>,
    failures: u32,
    online: Option<bool>,
    /// The device's energy counters, added to each snapshot.
    energy: EnergyMeter,
}

impl std::fmt::Debug for DeviceSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSlot")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .field("online", &self.online)
            .finish()
    }
}

impl DeviceSlot {
    pub fn new(name: impl Into<String>, driver: Box<dyn Driver>, interval: Duration) -> Self {
        DeviceSlot {
            name: name.into(),
            driver,
            interval,
            next_due: Instant::now(),
            identified: false,
            probed: None,
            failures: 0,
            online: None,
            energy: EnergyMeter::new(interval),
        }
    }

    /// Start the energy counters from a restored state (the last stored snapshot).
    pub fn with_energy(mut self, energy: EnergyMeter) -> Self {
        self.energy = energy;
        self
    }
}

/// A command for a device on this port, with the channel its outcome goes back on.
#[derive(Debug)]
pub struct CommandRequest {
    pub device: String,
    pub command: Command,
    pub reply: oneshot::Sender<Result<Outcome, DriverError>>,
}

/// Handle to send commands to a running port task.
#[derive(Debug, Clone)]
pub struct PortHandle {
    pub name: String,
    tx: mpsc::Sender<CommandRequest>,
}

impl PortHandle {
    pub async fn execute(&self, device: &str, command: Command) -> Result<Outcome, DriverError> {
        let (reply, rx) = oneshot::channel();
        let request = CommandRequest {
            device: device.to_owned(),
            command,
            reply,
        };
        self.tx.send(request).await.map_err(|_| {
            DriverError::Link(LinkError::Closed("the port task has stopped".into()))
        })?;
        rx.await
            .map_err(|_| DriverError::Link(LinkError::Closed("the port task has stopped".into())))?
    }
}

pub struct PortTask {
    name: String,
    opener: Box<dyn Opener>,
    lock: Option<LockGroup>,
    devices: Vec<DeviceSlot>,
    commands: mpsc::Receiver<CommandRequest>,
    /// False once every [`PortHandle`] is gone: no command can come any more, and a closed
    /// receiver answers `None` at once, so it must not be polled again (it would spin).
    commands_open: bool,
    bus: Bus,
    link: Option<Box<dyn Link>>,
    timing: PortTiming,
    backoff: Duration,
    port_failures: u32,
    health: Arc<PortHealth>,
    /// The transport was open before: the next open is a reopen (counted in `health`).
    opened_before: bool,
}

impl std::fmt::Debug for PortTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortTask")
            .field("name", &self.name)
            .finish()
    }
}

enum Job {
    Command(CommandRequest),
    Poll(usize),
}

impl PortTask {
    pub fn new(
        name: impl Into<String>,
        opener: Box<dyn Opener>,
        lock: Option<LockGroup>,
        devices: Vec<DeviceSlot>,
        bus: Bus,
    ) -> (PortTask, PortHandle) {
        let name = name.into();
        let (tx, commands) = mpsc::channel(16);
        let timing = PortTiming::default();
        (
            PortTask {
                name: name.clone(),
                opener,
                lock,
                devices,
                commands,
                commands_open: true,
                bus,
                link: None,
                timing,
                backoff: timing.backoff_min,
                port_failures: 0,
                health: Arc::default(),
                opened_before: false,
            },
            PortHandle { name, tx },
        )
    }

    /// Use these retry and timeout settings instead of the defaults.
    pub fn with_timing(mut self, timing: PortTiming) -> Self {
        self.timing = timing;
        self.backoff = timing.backoff_min;
        self
    }

    /// Count polls, failures, latency and reopens here (see [`crate::core::health`]).
    pub fn with_health(mut self, health: Arc<PortHealth>) -> Self {
        self.health = health;
        self
    }

    /// Poll the devices and run commands. Ends when no device is left to poll and no handle is
    /// left to send commands; otherwise it runs until the task is aborted.
    pub async fn run(mut self) {
        loop {
            if !self.commands_open && self.devices.is_empty() {
                return;
            }
            if self.link.is_none() && !self.reopen().await {
                continue;
            }
            let next = self
                .devices
                .iter()
                .enumerate()
                .min_by_key(|(_, d)| d.next_due)
                .map(|(i, d)| (i, d.next_due));
            let job = tokio::select! {
                biased;
                cmd = self.commands.recv(), if self.commands_open => match cmd {
                    Some(cmd) => Job::Command(cmd),
                    None => {
                        // Every handle is gone: no more commands can come; keep polling.
                        self.commands_open = false;
                        continue;
                    }
                },
                _ = sleep_until_opt(next.map(|(_, at)| at)) => match next {
                    Some((i, _)) => Job::Poll(i),
                    None => continue,
                },
            };
            match job {
                Job::Command(cmd) => self.run_command(cmd).await,
                Job::Poll(i) => self.run_poll(i).await,
            }
        }
    }

    /// Open the transport; on failure wait out the backoff (answering commands with an error
    /// meanwhile) and return false.
    async fn reopen(&mut self) -> bool {
        // Opening may talk to the device (a HID port asks candidates for their serial number),
        // so it happens under the unit's lock like any other transaction.
        let lock = self.lock.clone();
        let guard = match &lock {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let opened = self.opener.open().await;
        drop(guard);
        match opened {
            Ok(link) => {
                tracing::info!(port = %self.name, transport = %self.opener.describe(), "port open");
                self.link = Some(Box::new(WireLog::new(self.name.clone(), link)));
                self.port_failures = 0;
                if std::mem::replace(&mut self.opened_before, true) {
                    self.health
                        .reopens
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                for d in &mut self.devices {
                    d.identified = false;
                    d.next_due = Instant::now();
                }
                true
            }
            Err(err) => {
                let reason = format!("cannot open {}: {err}", self.opener.describe());
                tracing::warn!(port = %self.name, %err, retry_in = ?self.backoff, "port unavailable");
                for i in 0..self.devices.len() {
                    self.set_online(i, false, Some(reason.clone()));
                }
                let until = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(self.timing.backoff_max);
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => return false,
                        cmd = self.commands.recv(), if self.commands_open => match cmd {
                            Some(cmd) => {
                                let _ = cmd.reply.send(Err(DriverError::Link(LinkError::Closed(reason.clone()))));
                            }
                            None => self.commands_open = false,
                        },
                    }
                }
            }
        }
    }

    fn set_online(&mut self, i: usize, online: bool, reason: Option<String>) {
        let Some(d) = self.devices.get_mut(i) else {
            return;
        };
        if d.online != Some(online) {
            d.online = Some(online);
            if online {
                tracing::info!(device = %d.name, "online");
            } else {
                tracing::warn!(device = %d.name, reason = reason.as_deref().unwrap_or(""), "offline");
            }
            self.bus.publish(Event::Availability {
                device: d.name.clone(),
                online,
                reason,
            });
        }
    }

    async fn run_command(&mut self, cmd: CommandRequest) {
        let Some(i) = self.devices.iter().position(|d| d.name == cmd.device) else {
            let _ = cmd.reply.send(Err(DriverError::Invalid(format!(
                "no device {:?} on port {}",
                cmd.device, self.name
            ))));
            return;
        };
        let result = self
            .transaction(i, |driver, link| {
                Box::pin(async move { driver.execute(link, &cmd.command).await })
            })
            .await;
        let result = match result {
            Some(r) => r,
            None => Err(DriverError::Link(LinkError::Closed(
                "the port is not open".into(),
            ))),
        };
        self.account(i, result.as_ref().err(), false);
        let _ = cmd.reply.send(result);
    }

    async fn run_poll(&mut self, i: usize) {
        let Some(d) = self.devices.get_mut(i) else {
            return;
        };
        d.next_due = Instant::now() + d.interval;
        if !d.identified {
            let result = self
                .transaction(i, |driver, link| {
                    Box::pin(async move { driver.identify(link).await })
                })
                .await;
            match result {
                Some(Ok(info)) => {
                    let name = self.devices[i].name.clone();
                    tracing::info!(device = %name, model = ?info.model, serial = ?info.serial, firmware = ?info.firmware, "identified");
                    self.devices[i].identified = true;
                    self.bus.publish(Event::Identified { device: name, info });
                }
                Some(Err(err)) => {
                    let err = self.explain_mismatch(i, err).await;
                    self.account(i, Some(&err), true);
                    return;
                }
                None => return,
            }
        }
        let started = Instant::now();
        let result = self
            .transaction(i, |driver, link| {
                Box::pin(async move { driver.poll(link).await })
            })
            .await;
        if let Some(r) = &result {
            self.health.poll_done(r.is_ok(), started.elapsed());
        }
        match result {
            Some(Ok(mut snapshot)) => {
                self.account(i, None, true);
                let at = SystemTime::now();
                self.devices[i].energy.account(unix_ms(at), &mut snapshot);
                self.bus.publish(Event::Snapshot {
                    device: self.devices[i].name.clone(),
                    at,
                    reading: Arc::new(snapshot.flatten()),
                    sections: Some(Arc::new(snapshot)),
                });
            }
            Some(Err(err)) => self.account(i, Some(&err), true),
            None => {}
        }
    }

    /// A unit that speaks another protocol than its driver: the first time, run the protocol
    /// detection (queries only) and say plainly what the unit speaks, e.g. "this unit speaks
    /// PI18: supported (driver = "pi18")".
    async fn explain_mismatch(&mut self, i: usize, err: DriverError) -> DriverError {
        let DriverError::ProtocolMismatch(why) = &err else {
            return err;
        };
        match self.devices.get(i).map(|d| &d.probed) {
            Some(Some(said)) => return DriverError::ProtocolMismatch(format!("{why}; {said}")),
            Some(None) => {}
            None => return err,
        }
        let detection = self
            .transaction(i, |_, link| {
                Box::pin(async move {
                    sungate_drivers::detect::detect(link, DETECT_REPLY_TIMEOUT)
                        .await
                        .map_err(DriverError::Link)
                })
            })
            .await;
        let said = match detection {
            Some(Ok(d)) => match d.verdict.family().and_then(|f| f.driver()) {
                Some(driver) => format!("probed: {} (driver = \"{driver}\")", d.verdict),
                None => format!("probed: {}", d.verdict),
            },
            Some(Err(e)) => format!("probing failed: {e}"),
            None => return err,
        };
        let out = DriverError::ProtocolMismatch(format!("{why}; {said}"));
        if let Some(d) = self.devices.get_mut(i) {
            d.probed = Some(said);
        }
        out
    }

    /// Run one driver call on the open link under the lock group and the transaction limit.
    /// `None` when the port is not open.
    async fn transaction<T>(
        &mut self,
        i: usize,
        call: impl for<'a> FnOnce(
            &'a mut dyn Driver,
            &'a mut dyn Link,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, DriverError>> + Send + 'a>,
        >,
    ) -> Option<Result<T, DriverError>> {
        let lock = self.lock.clone();
        let _guard = match &lock {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let link = self.link.as_mut()?;
        let driver = self.devices.get_mut(i)?.driver.as_mut();
        let result =
            match tokio::time::timeout(self.timing.transaction_limit, call(driver, link.as_mut()))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(DriverError::Link(LinkError::Timeout { received: 0 })),
            };
        Some(result)
    }

    /// Count a success or failure: availability, and reopening the port when it keeps failing.
    /// For polls every failure counts toward "offline" (no data is no data, even when the unit
    /// politely refuses); for commands a refusal says nothing about the device's health.
    fn account(&mut self, i: usize, error: Option<&DriverError>, polling: bool) {
        match error {
            None => {
                self.port_failures = 0;
                self.backoff = self.timing.backoff_min;
                if let Some(d) = self.devices.get_mut(i) {
                    d.failures = 0;
                }
                self.set_online(i, true, None);
            }
            Some(err) => {
                let name = self
                    .devices
                    .get(i)
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                let communication = err.is_communication_failure();
                if !communication && !polling {
                    // A refused or invalid command: the device is there and talking.
                    tracing::info!(device = %name, %err, "command refused");
                    return;
                }
                tracing::warn!(device = %name, %err, "transaction failed");
                if communication {
                    self.port_failures += 1;
                }
                let failures = match self.devices.get_mut(i) {
                    Some(d) => {
                        d.failures += 1;
                        d.failures
                    }
                    None => 0,
                };
                if failures >= self.timing.offline_after || err.is_fatal() {
                    self.set_online(i, false, Some(err.to_string()));
                }
                if err.is_fatal() || self.port_failures >= self.timing.reopen_after {
                    tracing::warn!(port = %self.name, "closing the port to reopen it");
                    self.link = None;
                    if err.is_fatal() {
                        for j in 0..self.devices.len() {
                            self.set_online(j, false, Some(err.to_string()));
                        }
                    }
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
