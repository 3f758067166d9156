//! The running simulator: devices, their front ends, the clock that drives the models, and the
//! control API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;
use tokio::io::DuplexStream;
use tokio::task::JoinSet;

use crate::config::{InterfaceKind, SimConfig, pty_link_name};
use crate::device::Device;
use crate::frontend;

/// How often the models are advanced (real time).
const TICK: Duration = Duration::from_millis(20);

#[derive(Debug, Error)]
pub enum StartError {
    #[error("cannot create the PTY directory {path}: {cause}")]
    PtyDir { path: String, cause: std::io::Error },
    #[error("cannot listen on {addr} for {device}/{interface}: {cause}")]
    Listen {
        addr: SocketAddr,
        device: String,
        interface: String,
        cause: std::io::Error,
    },
    #[error("cannot start the control API on {addr}: {cause}")]
    Control {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error(
        "the control API would listen on {0}, beyond this machine: it has no authentication \
         and can unplug, fault and reconfigure every simulated device. Use a loopback address \
         (127.0.0.1:PORT), or pass --allow-remote-control if every host that can reach it is \
         trusted"
    )]
    ControlNotLoopback(SocketAddr),
    #[error("invalid speed {0}: must be within (0, 10000]")]
    Speed(f64),
    #[error("the PTY {0} did not appear (see the log for the reason)")]
    PtyMissing(String),
}

/// Run-time options (the command line).
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub pty_dir: PathBuf,
    pub control: Option<SocketAddr>,
    /// Let the control API listen on a non-loopback address (it has no authentication).
    pub allow_remote_control: bool,
    pub seed: u64,
    pub speed: f64,
}

/// A started simulator. Dropping it stops every task.
#[derive(Debug)]
pub struct Simulator {
    pub devices: Vec<Device>,
    pub pty_dir: PathBuf,
    pub control_addr: Option<SocketAddr>,
    pub speed: f64,
    tasks: JoinSet<()>,
}

impl Simulator {
    /// Start all devices, front ends, the clock and (if asked) the control API. Must run inside a
    /// tokio runtime.
    pub async fn start(config: &SimConfig, options: StartOptions) -> Result<Simulator, StartError> {
        let speed = options.speed;
        if !(speed > 0.0 && speed <= 10_000.0) {
            return Err(StartError::Speed(speed));
        }
        if let Some(addr) = options.control {
            if !addr.ip().is_loopback() {
                if !options.allow_remote_control {
                    return Err(StartError::ControlNotLoopback(addr));
                }
                tracing::warn!(%addr, "the control API listens beyond loopback, without authentication: anyone who can reach it can unplug and fault the simulated devices");
            }
        }
        std::fs::create_dir_all(&options.pty_dir).map_err(|source| StartError::PtyDir {
            path: options.pty_dir.display().to_string(),
            cause: source,
        })?;
        let mut tasks = JoinSet::new();
        let mut devices = Vec::with_capacity(config.devices.len());
        for dc in &config.devices {
            let device = Device::new(dc, options.seed);
            for (index, ic) in dc.interfaces.iter().enumerate() {
                match ic.kind {
                    InterfaceKind::Pty => {
                        let link = options.pty_dir.join(pty_link_name(&dc.name, &ic.name));
                        device.set_interface_status(index, |s| {
                            s.address = Some(link.display().to_string())
                        });
                        tasks.spawn(frontend::pty::run(device.clone(), index, link));
                    }
                    InterfaceKind::Tcp | InterfaceKind::Usbip => {
                        let Some(addr) = ic.listen else { continue };
                        let listener = frontend::tcp::bind(addr).await.map_err(|source| {
                            StartError::Listen {
                                addr,
                                device: dc.name.clone(),
                                interface: ic.name.clone(),
                                cause: source,
                            }
                        })?;
                        let bound = listener.local_addr().unwrap_or(addr);
                        device.set_interface_status(index, |s| s.address = Some(bound.to_string()));
                        if ic.kind == InterfaceKind::Tcp {
                            tasks.spawn(frontend::tcp::run(
                                device.clone(),
                                index,
                                Some(listener),
                                bound,
                            ));
                        } else {
                            let busid = ic.busid.clone().unwrap_or_else(|| "1-1".to_owned());
                            tasks.spawn(frontend::usbip::serve_usbip(
                                device.clone(),
                                index,
                                listener,
                                busid,
                            ));
                        }
                    }
                }
            }
            devices.push(device);
        }
        tasks.spawn(run_clock(devices.clone(), speed));
        let control_addr = match options.control {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Control {
                        addr,
                        cause: source,
                    })?;
                let bound = listener.local_addr().unwrap_or(addr);
                tasks.spawn(crate::control::serve(listener, devices.clone(), speed));
                Some(bound)
            }
            None => None,
        };
        let sim = Simulator {
            devices,
            pty_dir: options.pty_dir,
            control_addr,
            speed,
            tasks,
        };
        sim.wait_for_ptys().await?;
        Ok(sim)
    }

    /// The PTY tasks create their symlinks asynchronously: return once every one exists, so a
    /// client can open them as soon as `start` returns.
    async fn wait_for_ptys(&self) -> Result<(), StartError> {
        let links: Vec<PathBuf> = self
            .devices
            .iter()
            .flat_map(|d| d.lock().interfaces.clone())
            .filter(|i| i.kind == "pty")
            .filter_map(|i| i.address.map(PathBuf::from))
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        for link in links {
            while !link.exists() {
                if tokio::time::Instant::now() > deadline {
                    return Err(StartError::PtyMissing(link.display().to_string()));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Ok(())
    }

    pub fn device(&self, name: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.name == name)
    }

    /// An in-memory link to interface `interface` of `device`, for unit tests: the returned
    /// stream is the client's end of the line.
    pub fn connect_memory(&mut self, device: &str, interface: &str) -> Option<DuplexStream> {
        let device = self.device(device)?.clone();
        let index = device.interface_index(interface)?;
        let (client, sim_end) = tokio::io::duplex(4096);
        self.tasks.spawn(async move {
            frontend::serve_stream(&device, index, sim_end).await;
        });
        Some(client)
    }

    /// Stop everything and remove the PTY symlinks.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        for d in &self.devices {
            for iface in d.lock().interfaces.iter() {
                if iface.kind == "pty" {
                    if let Some(link) = &iface.address {
                        let _ = std::fs::remove_file(link);
                    }
                }
            }
        }
    }
}

/// Advance every model by the simulated time that passed.
async fn run_clock(devices: Vec<Device>, speed: f64) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    loop {
        interval.tick().await;
        let now = tokio::time::Instant::now();
        let dt = (now - last).mul_f64(speed);
        last = now;
        for d in &devices {
            d.tick(dt);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn options(control: &str, allow_remote_control: bool) -> StartOptions {
        StartOptions {
            pty_dir: std::env::temp_dir().join(format!("sungate-sim-bind-{}", std::process::id())),
            control: Some(control.parse().unwrap()),
            allow_remote_control,
            seed: 1,
            speed: 1.0,
        }
    }

    #[tokio::test]
    async fn the_control_api_stays_on_loopback_unless_allowed() {
        let config = SimConfig::default();
        match Simulator::start(&config, options("0.0.0.0:0", false)).await {
            Err(e @ StartError::ControlNotLoopback(_)) => {
                assert!(e.to_string().contains("--allow-remote-control"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let sim = Simulator::start(&config, options("127.0.0.1:0", false))
            .await
            .unwrap();
        assert!(sim.control_addr.unwrap().ip().is_loopback());
        sim.shutdown().await;
    }
}
