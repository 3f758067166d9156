//! The faults the soak applies, per device kind: every fault key of the simulator
//! (`sungate_sim::faults::applicable`) with a value that exercises it, unplugging the device,
//! and for an inverter with a second interface the multi-interface lockup (cleared by a reset).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::{Value as Json, json};
use sungate_drivers::link::{Link, StreamLink};
use sungate_drivers::pi30::codec::{EncodeOptions, encode_command};
use sungate_sim::config::DeviceKind;
use sungate_sim::faults::{self, Faults};
use sungate_sim::frontend::pty::FdStream;
use tokio::time::Instant;

use crate::harness::Control;

/// Per-byte loss: most VE.Direct blocks (150-250 bytes) and PI30 replies (~110 bytes) lose a
/// byte, some get through, so a device is degraded rather than mute (at 2 % every device went
/// offline in every drop phase: the same as `silent`). Damaged VE.Direct blocks that still pass
/// their checksum (the simulated BMV through the drivers' parser, 400 000 blocks each: 382 at
/// 0.5 %, 633 at 1 %, 866 at 2 %; 25, 86 and 274 values outside the ranges) reach the gateway's
/// output only when the rest of the record is clean, which 1 % balances best.
pub const DROP_RATE: f64 = 0.01;
/// Half of all frames preceded by random bytes.
pub const GARBAGE_RATE: f64 = 0.5;
/// Below the gateway's default reply timeout (1.5 s): slow, but answering.
pub const SLOW_MS: u64 = 1000;
/// How long the lockup fault keeps trying to provoke the lockup.
const LOCKUP_WITHIN: Duration = Duration::from_secs(10);

/// One fault of the schedule.
#[derive(Debug, Clone)]
pub enum Action {
    /// Set these fault switches (one key of [`Faults`]); cleared with DELETE.
    Faults { key: &'static str, faults: Faults },
    /// `night_silence` with the PV at zero (it only mutes an MPPT at night).
    NightSilence,
    /// Unplug every interface; cleared by plugging in again.
    Disconnect,
    /// Use the inverter's second interface while the gateway polls the first, until the unit
    /// locks up; cleared by a reset (power cycle).
    Lockup { interface: String },
}

impl Action {
    /// The name `--only` selects it by: the fault key, `disconnect` or `lockup`.
    pub fn key(&self) -> &'static str {
        match self {
            Action::Faults { key, .. } => key,
            Action::NightSilence => "night_silence",
            Action::Disconnect => "disconnect",
            Action::Lockup { .. } => "lockup",
        }
    }

    pub fn label(&self) -> String {
        match self {
            Action::Faults { key, faults } => match *key {
                "drop_rate" => format!("drop_rate={}", faults.drop_rate),
                "garbage_rate" => format!("garbage_rate={}", faults.garbage_rate),
                "slow_ms" => format!("slow_ms={}", faults.slow_ms),
                other => other.to_owned(),
            },
            Action::NightSilence => "night_silence".to_owned(),
            Action::Disconnect => "disconnect".to_owned(),
            Action::Lockup { .. } => "lockup+reset".to_owned(),
        }
    }

    /// Whether applying it takes a while (run it as a task).
    pub fn is_slow(&self) -> bool {
        matches!(self, Action::Lockup { .. })
    }

    /// Apply it to `device`. `Ok(false)`: it could not be brought about.
    pub async fn apply(&self, control: Control, device: &str, pty_dir: &Path) -> Result<bool> {
        let base = format!("/devices/{device}");
        match self {
            Action::Faults { faults, .. } => {
                let body = serde_json::to_value(faults)?;
                control
                    .call("POST", &format!("{base}/faults"), Some(&body))
                    .await?;
            }
            Action::NightSilence => {
                control
                    .call(
                        "POST",
                        &format!("{base}/env"),
                        Some(&json!({"pv_power_w": 0.0})),
                    )
                    .await?;
                let faults = Faults {
                    night_silence: true,
                    ..Faults::default()
                };
                control
                    .call(
                        "POST",
                        &format!("{base}/faults"),
                        Some(&serde_json::to_value(faults)?),
                    )
                    .await?;
            }
            Action::Disconnect => {
                control
                    .call("POST", &format!("{base}/disconnect"), None)
                    .await?;
            }
            Action::Lockup { interface } => {
                let path = pty_dir.join(format!("{device}-{interface}"));
                return provoke_lockup(control, device, path).await;
            }
        }
        Ok(true)
    }

    /// Undo it.
    pub async fn clear(&self, control: Control, device: &str) -> Result<()> {
        let base = format!("/devices/{device}");
        match self {
            Action::Faults { .. } => {
                control
                    .call("DELETE", &format!("{base}/faults"), None)
                    .await?;
            }
            Action::NightSilence => {
                control
                    .call("DELETE", &format!("{base}/faults"), None)
                    .await?;
                control
                    .call(
                        "POST",
                        &format!("{base}/env"),
                        Some(&json!({"pv_power_w": Json::Null})),
                    )
                    .await?;
            }
            Action::Disconnect => {
                control
                    .call("POST", &format!("{base}/reconnect"), None)
                    .await?;
            }
            Action::Lockup { .. } => {
                control.call("POST", &format!("{base}/reset"), None).await?;
            }
        }
        Ok(())
    }
}

/// The fault value the soak uses for each fault key.
fn faults_for(key: &str) -> Result<Option<Faults>> {
    let d = Faults::default();
    Ok(Some(match key {
        "corrupt_checksum" => Faults {
            corrupt_checksum: true,
            ..d
        },
        "drop_rate" => Faults {
            drop_rate: DROP_RATE,
            ..d
        },
        "garbage_rate" => Faults {
            garbage_rate: GARBAGE_RATE,
            ..d
        },
        "slow_ms" => Faults {
            slow_ms: SLOW_MS,
            ..d
        },
        "silent" => Faults { silent: true, ..d },
        "nak" => Faults { nak: true, ..d },
        "pi18" => Faults { pi18: true, ..d },
        // needs the night as well: Action::NightSilence
        "night_silence" => return Ok(None),
        other => bail!("the soak has no value for the simulator's fault key {other:?}"),
    }))
}

/// The schedule of one device: its kind's fault keys in the simulator's order, then unplugging,
/// then (an inverter with more than one interface) the lockup.
pub fn schedule(kind: DeviceKind, interfaces: &[String]) -> Result<Vec<Action>> {
    let mut out = Vec::new();
    for &key in faults::applicable(kind) {
        match faults_for(key)? {
            Some(faults) => out.push(Action::Faults { key, faults }),
            None => out.push(Action::NightSilence),
        }
    }
    out.push(Action::Disconnect);
    if kind == DeviceKind::Inverter {
        if let Some(second) = interfaces.get(1) {
            out.push(Action::Lockup {
                interface: second.clone(),
            });
        }
    }
    Ok(out)
}

/// Send QPIGS on the inverter's second interface back to back (each request opens a
/// transaction for the unit's reply delay) until the gateway's next request on the first
/// interface overlaps one and the unit locks up.
async fn provoke_lockup(control: Control, device: &str, path: PathBuf) -> Result<bool> {
    let mut link = StreamLink::new(FdStream::open_tty(&path)?);
    let request = encode_command("QPIGS", EncodeOptions::default());
    let end = Instant::now() + LOCKUP_WITHIN;
    while Instant::now() < end {
        link.write_frame(&request).await?;
        // The reply (or nothing, once locked); then ask whether it happened.
        let _ = link
            .read_until(b'\r', 512, Instant::now() + Duration::from_millis(300))
            .await;
        let state = control
            .call("GET", &format!("/devices/{device}"), None)
            .await?;
        if state.get("locked").and_then(Json::as_bool) == Some(true) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_gets_its_faults_and_the_inverter_a_lockup() {
        let two = vec!["serial".to_owned(), "usb".to_owned()];
        let inv = schedule(DeviceKind::Inverter, &two).unwrap();
        let labels: Vec<String> = inv.iter().map(Action::label).collect();
        for want in [
            "corrupt_checksum",
            "drop_rate=0.01",
            "garbage_rate=0.5",
            "silent",
            "slow_ms=1000",
            "nak",
            "pi18",
            "disconnect",
            "lockup+reset",
        ] {
            assert!(labels.iter().any(|l| l == want), "{want} in {labels:?}");
        }
        let one = vec!["serial".to_owned()];
        let bmv: Vec<String> = schedule(DeviceKind::Bmv, &one)
            .unwrap()
            .iter()
            .map(Action::label)
            .collect();
        assert!(!bmv.iter().any(|l| l.starts_with("slow") || l == "nak"));
        let mppt: Vec<String> = schedule(DeviceKind::Mppt, &one)
            .unwrap()
            .iter()
            .map(Action::label)
            .collect();
        assert!(mppt.iter().any(|l| l == "night_silence"));
    }

    #[test]
    fn fault_bodies_use_the_simulators_keys() {
        let body = serde_json::to_value(faults_for("drop_rate").unwrap().unwrap()).unwrap();
        assert_eq!(body["drop_rate"], json!(DROP_RATE));
        assert_eq!(body["silent"], json!(false));
    }
}
