//! The site under test: mosquitto, `sungate-sim` (inverter with a second "usb" interface, BMV,
//! MPPT) and `sungate run` polling all three at 1 Hz with a BMV -> MPPT bridge and MQTT, plus a
//! subscriber on `sungate/#` and `homeassistant/#`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rumqttc::MqttOptions;
use tokio::process::Child;
use tokio::sync::mpsc;

use crate::harness::{self, Message, SimChild};

/// The simulated devices, as named in the simulator and the gateway.
pub const DEVICES: [&str; 3] = ["inverter", "bmv", "mppt"];
/// The bridge's `max_source_age` (its default): after this long without a fresh BMV reading
/// the bridge tells the MPPT "not available".
pub const MAX_SOURCE_AGE_S: f64 = 10.0;
/// Poll interval of every device (the design target's 1 Hz).
pub const POLL_INTERVAL_S: f64 = 1.0;

/// Where the binaries under test are.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub sungate: PathBuf,
    pub sim: PathBuf,
}

impl Binaries {
    /// `sungate` and `sungate-sim` in `dir`, by default beside this program (the same target
    /// directory and profile: `cargo build --release` builds all three there).
    pub fn locate(dir: Option<&Path>) -> Result<Binaries> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => std::env::current_exe()
                .context("cannot tell where this program is")?
                .parent()
                .ok_or_else(|| anyhow!("this program has no directory"))?
                .to_path_buf(),
        };
        let bins = Binaries {
            sungate: dir.join("sungate"),
            sim: dir.join("sungate-sim"),
        };
        for b in [&bins.sungate, &bins.sim] {
            if !b.is_file() {
                bail!(
                    "{} is missing: build it first (cargo build --release -p sungate -p sungate-sim) \
                     or point --bin-dir at it",
                    b.display()
                );
            }
        }
        Ok(bins)
    }
}

/// The simulator's devices: the default three, the inverter with a second PTY interface (the
/// "USB port" that the lockup fault uses).
fn sim_config(seed: u64) -> String {
    format!(
        r#"# sungate-soak: simulated site
seed = {seed}
speed = 1.0

[[device]]
name = "inverter"
kind = "inverter"
[[device.interface]]
name = "serial"
kind = "pty"
[[device.interface]]
name = "usb"
kind = "pty"

[[device]]
name = "bmv"
kind = "bmv"
[[device.interface]]
name = "serial"
kind = "pty"

[[device]]
name = "mppt"
kind = "mppt"
[[device.interface]]
name = "serial"
kind = "pty"
"#
    )
}

/// The bridge's name: its state is published as `sungate/<name>/state`.
pub const BRIDGE_NAME: &str = "battery-sense";

/// The bridge: BMV -> MPPT with its default timing.
const BRIDGE: &str = r#"
[[bridge]]
name = "battery-sense"
source = "bmv"
targets = ["mppt"]
refresh_interval = 15.0
max_source_age = MAX_SOURCE_AGE
"#;

/// The gateway: every device at 1 Hz, the inverter with QPIGS, QMOD and QPIWS, the bridge (if
/// `bridge`), MQTT to our broker.
fn gateway_config(pty_dir: &Path, broker_port: u16, bridge: bool) -> String {
    let dir = pty_dir.display();
    let bridge = if bridge {
        BRIDGE.replace("MAX_SOURCE_AGE", &format!("{MAX_SOURCE_AGE_S:.1}"))
    } else {
        String::new()
    };
    format!(
        r#"# sungate-soak: gateway under test
[gateway]
name = "soak"

[[port]]
name = "inverter"
serial = "{dir}/inverter"
[[port]]
name = "bmv"
serial = "{dir}/bmv"
[[port]]
name = "mppt"
serial = "{dir}/mppt"

[[device]]
name = "inverter"
driver = "pi30"
port = "inverter"
poll_interval = {POLL_INTERVAL_S:.1}
queries = ["QPIGS", "QMOD", "QPIWS"]
[[device]]
name = "bmv"
driver = "vedirect"
port = "bmv"
poll_interval = {POLL_INTERVAL_S:.1}
[[device]]
name = "mppt"
driver = "vedirect"
port = "mppt"
poll_interval = {POLL_INTERVAL_S:.1}
{bridge}
[mqtt]
host = "127.0.0.1"
port = {broker_port}
client_id = "sungate-soak-gateway"
"#
    )
}

/// The running site. Dropping it kills every child.
#[derive(Debug)]
pub struct Site {
    pub dir: PathBuf,
    broker: Child,
    broker_log: PathBuf,
    pub sim: SimChild,
    gateway: Child,
    pub gateway_pid: u32,
    pub gateway_log: PathBuf,
    pub rx: mpsc::UnboundedReceiver<Message>,
}

impl Site {
    /// Start everything; `bridge`: with the BMV -> MPPT bridge.
    pub async fn start(bins: &Binaries, dir: &Path, seed: u64, bridge: bool) -> Result<Site> {
        std::fs::create_dir_all(dir)?;
        let broker_port = harness::free_port()?;
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "# sungate-soak broker\n{}allow_anonymous true\n",
                harness::mosquitto_conf(broker_port)
            ),
        )?;
        let broker_log = dir.join("mosquitto.log");
        let broker = harness::spawn_mosquitto(&conf, &broker_log)?;
        harness::wait_tcp(broker_port, "mosquitto", Duration::from_secs(15)).await?;

        let mut options = MqttOptions::new("sungate-soak-subscriber", "127.0.0.1", broker_port);
        options.set_max_packet_size(256 * 1024, 256 * 1024);
        let rx = harness::subscribe(options, &["sungate/#", "homeassistant/#"]).await?;

        let sim = SimChild::start(&bins.sim, dir, &sim_config(seed), seed).await?;
        for d in DEVICES {
            wait_path(&sim.pty_dir.join(d)).await?;
        }
        let gw_config = dir.join("gateway.toml");
        std::fs::write(
            &gw_config,
            gateway_config(&sim.pty_dir, broker_port, bridge),
        )?;
        let gateway_log = dir.join("gateway.log");
        let gateway = harness::spawn_gateway(
            &bins.sungate,
            &gw_config,
            &gateway_log,
            Some(&dir.join("gateway-console.log")),
        )?;
        let gateway_pid = gateway
            .id()
            .ok_or_else(|| anyhow!("the gateway exited at once"))?;
        Ok(Site {
            dir: dir.to_path_buf(),
            broker,
            broker_log,
            sim,
            gateway,
            gateway_pid,
            gateway_log,
            rx,
        })
    }

    /// An error if a child has exited (none of them should, ever).
    pub fn check_children(&mut self) -> Result<()> {
        if let Some(status) = self.gateway.try_wait()? {
            bail!(
                "the gateway (sungate run) exited: {status}; its log ends:\n{}",
                tail(&self.gateway_log, 30)
            );
        }
        if let Some(status) = self.sim.child.try_wait()? {
            bail!(
                "the simulator (sungate-sim) exited: {status}; its log ends:\n{}",
                tail(&self.sim.log, 30)
            );
        }
        if let Some(status) = self.broker.try_wait()? {
            bail!(
                "mosquitto exited: {status}; its log ends:\n{}",
                tail(&self.broker_log, 30)
            );
        }
        Ok(())
    }

    /// Lines of the gateway's log that say it panicked.
    pub fn gateway_panics(&self) -> Vec<String> {
        std::fs::read_to_string(&self.gateway_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("panicked"))
            .map(str::to_owned)
            .collect()
    }

    /// Stop every child and wait for them.
    pub async fn stop(mut self) {
        for child in [&mut self.gateway, &mut self.sim.child, &mut self.broker] {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
    }
}

/// The last `n` lines of a log file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

async fn wait_path(path: &Path) -> Result<()> {
    for _ in 0..300 {
        if path.exists() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("{} did not appear", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_configs_parse() {
        let sim = sungate_sim::config::SimConfig::parse(&sim_config(3), "sim.toml").unwrap();
        assert_eq!(sim.devices.len(), 3);
        assert_eq!(sim.devices[0].interfaces.len(), 2);
        let gw = gateway_config(Path::new("/tmp/x"), 1883, true);
        assert!(gw.contains("max_source_age = 10.0"));
        assert!(gw.contains("poll_interval = 1.0"));
        let gw = gateway_config(Path::new("/tmp/x"), 1883, false);
        assert!(!gw.contains("[[bridge]]"));
    }
}
