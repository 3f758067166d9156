//! The acceptance soak (`sungate-soak soak`) and the offline-source CPU check
//! (`sungate-soak cpu-offline`): the real `sungate` and `sungate-sim` binaries, a mosquitto, and
//! a subscriber that checks everything the gateway publishes. The repository README
//! ("Development", "Soak") says what is checked; the limits are constants in [`run`] and
//! [`cpu_offline`], with their reasons.

pub mod cpu_offline;
pub mod faults;
pub mod monitor;
pub mod procstat;
pub mod run;
pub mod site;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::time::Instant;

use monitor::Monitor;
use site::{Binaries, DEVICES, Site};

/// A device must be back (availability `online` and a state taken after the fault was cleared)
/// this long after its fault is cleared. The slowest legitimate path: the port's reopen backoff
/// (1, 2, 4, 8 s ...) after an unplug that lasted the whole fault, plus three polls.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(30);
/// Every device must be online and have published a state this long after the gateway starts.
pub const STARTUP_BOUND: Duration = Duration::from_secs(30);

/// Options shared by both modes.
#[derive(Debug, Clone)]
pub struct Common {
    pub bins: Binaries,
    /// Scratch directory (PTYs, configs, logs).
    pub dir: PathBuf,
    pub seed: u64,
    /// Configure the BMV -> MPPT bridge (the site of issue 11; off only for comparison).
    pub bridge: bool,
}

/// The site with the checks on what it publishes.
#[derive(Debug)]
pub struct Session {
    pub site: Site,
    pub monitor: Monitor,
}

impl Session {
    /// Start the site and wait until every device is online with a first state.
    pub async fn start(common: &Common) -> Result<Session> {
        let site = Site::start(&common.bins, &common.dir, common.seed, common.bridge).await?;
        let mut monitor = Monitor::new(&site.sim.control, &DEVICES).await?;
        if common.bridge {
            monitor.add_bridge(site::BRIDGE_NAME, "bmv", &["mppt"])?;
        }
        let mut s = Session { site, monitor };
        let up = s.pump_until(STARTUP_BOUND, |m| m.all_up()).await?;
        if !up {
            let states: Vec<String> = s
                .monitor
                .devices
                .iter()
                .map(|(n, d)| format!("{n}: online={:?} states={}", d.online, d.states))
                .collect();
            bail!(
                "the devices were not all online within {STARTUP_BOUND:?} of the start ({}); \
                 gateway log:\n{}",
                states.join(", "),
                site::tail(&s.site.gateway_log, 30)
            );
        }
        Ok(s)
    }

    /// Handle messages until `until`, checking the children every 250 ms. An exited child is
    /// an error.
    pub async fn pump(&mut self, until: Instant) -> Result<()> {
        self.pump_inner(until, |_| false).await.map(|_| ())
    }

    /// Handle messages until `done` holds (true) or `within` has passed (false).
    pub async fn pump_until(
        &mut self,
        within: Duration,
        done: impl Fn(&Monitor) -> bool,
    ) -> Result<bool> {
        self.pump_inner(Instant::now() + within, done).await
    }

    async fn pump_inner(
        &mut self,
        until: Instant,
        done: impl Fn(&Monitor) -> bool,
    ) -> Result<bool> {
        let mut next_check = Instant::now();
        loop {
            if Instant::now() >= next_check {
                self.site.check_children()?;
                next_check = Instant::now() + Duration::from_millis(250);
            }
            if done(&self.monitor) {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            tokio::select! {
                m = self.site.rx.recv() => match m {
                    Some(m) => self.monitor.handle(m),
                    None => bail!("the MQTT subscriber stopped"),
                },
                _ = tokio::time::sleep_until(until.min(next_check)) => {}
            }
        }
    }
}

/// Median and maximum of some durations.
pub fn median_max(values: &[Duration]) -> Option<(Duration, Duration)> {
    let mut v = values.to_vec();
    v.sort();
    let max = *v.last()?;
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2
    };
    Some((median, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_max() {
        let s = Duration::from_secs;
        assert_eq!(median_max(&[]), None);
        assert_eq!(median_max(&[s(3), s(1), s(2)]), Some((s(2), s(3))));
        assert_eq!(
            median_max(&[s(4), s(1), s(2), s(3)]),
            Some((s(2) + s(1) / 2, s(4)))
        );
    }
}
