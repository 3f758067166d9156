//! What `sungate init` asks the machine: which ports there are, under which stable name, and
//! what answers on each. Only harmless things are sent: VE.Direct is listened to (devices send
//! by themselves), Voltronic units get the protocol-detection queries of `sungate scan --probe`
//! (`drivers/src/detect.rs`: queries only, never a setter) and then `identify`.
//!
//! Ports probed by default: hidraw devices with the Voltronic bridge's USB ids (0665:5161) and
//! USB serial ports, named by `/dev/serial/by-id` (or `/dev/serial/by-path` when a port has no
//! id). On-board UARTs are left alone unless named with `--port`: on a Raspberry Pi one of them
//! carries Bluetooth or the login console, and probe bytes there would disturb it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sungate::core::opener::open_spec;
use sungate::types::DriverKind;
use sungate_drivers::detect::{Family, Verdict, detect};
use sungate_drivers::driver::Driver;
use sungate_drivers::vedirect::driver::{VeDirectDriver, VeDirectOptions};
use sungate_drivers::vedirect::{Family as VictronFamily, fields::parse_pid};

use super::plan::{Found, Role};

/// The Voltronic bridge's USB ids.
const VOLTRONIC_USB_ID: &str = "0665:5161";

/// A port to probe: the node to open and the address a config gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What `open_spec` opens: a path, `hid:/dev/hidrawN` or `tcp://host:port`.
    pub open: String,
    /// The config key and value (`serial`, `/dev/serial/by-id/...`).
    pub key: &'static str,
    pub address: String,
}

/// What probing one port gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Found(Found),
    /// Nothing sungate can poll: the reason, for people.
    Nothing(String),
}

/// Where to look.
#[derive(Debug, Clone, Default)]
pub struct Where {
    /// Ports given with `--port`: probed instead of the machine's.
    pub ports: Vec<String>,
    /// `--serial-dir`: every entry of this directory instead of /dev/serial/by-id.
    pub serial_dir: Option<PathBuf>,
    /// Leave hidraw devices out.
    pub no_hid: bool,
}

/// The stable names of the machine's USB serial ports: /dev/serial/by-id (udev names them by
/// the adapter's vendor, product and serial number), else /dev/serial/by-path. A USB tty with
/// neither link is reported as a note: its ttyUSBn number follows plug-in order.
pub fn serial_targets(dev: &Path, sys: &Path) -> (Vec<Target>, Vec<String>) {
    let mut targets = Vec::new();
    let mut notes = Vec::new();
    let mut covered = Vec::new();
    for dir in ["serial/by-id", "serial/by-path"] {
        for link in sorted_entries(&dev.join(dir)) {
            let Ok(node) = std::fs::canonicalize(&link) else {
                continue;
            };
            // by-path repeats the ports that have an id: the id is the better name.
            if covered.contains(&node) {
                continue;
            }
            covered.push(node);
            let path = link.display().to_string();
            targets.push(Target {
                open: path.clone(),
                key: "serial",
                address: path,
            });
        }
    }
    for c in sungate::scan::candidates(sys) {
        let usb_tty = c.kind == "serial"
            && (c.path.starts_with("/dev/ttyUSB") || c.path.starts_with("/dev/ttyACM"));
        if !usb_tty {
            continue;
        }
        let node = std::fs::canonicalize(&c.path).unwrap_or_else(|_| PathBuf::from(&c.path));
        if !covered.contains(&node) {
            notes.push(format!(
                "{} has no /dev/serial/by-id or by-path name (is udev running?): not probed; \
                 name it with --port if it must be configured as it is",
                c.path
            ));
        }
    }
    (targets, notes)
}

/// Every entry of a directory (symlinks and devices), sorted by name; nothing when it is missing.
fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

/// The Voltronic hidraw nodes (from sysfs, as `sungate scan` lists them).
pub fn hid_targets(sys: &Path) -> Vec<String> {
    sungate::scan::candidates(sys)
        .into_iter()
        .filter(|c| c.kind == "hidraw" && c.usb_id.as_deref() == Some(VOLTRONIC_USB_ID))
        .map(|c| c.path)
        .collect()
}

/// A port given on the command line: serial paths are named by their by-id link when one
/// points at the same device (`--port /dev/ttyUSB0` is configured as its by-id name).
pub fn given_target(spec: &str, dev: &Path) -> Target {
    if let Some(addr) = spec.strip_prefix("tcp://") {
        return Target {
            open: spec.to_owned(),
            key: "tcp",
            address: addr.to_owned(),
        };
    }
    if let Some(hid) = spec.strip_prefix("hid:") {
        return Target {
            open: spec.to_owned(),
            key: "hid",
            address: hid.to_owned(),
        };
    }
    let stable = std::fs::canonicalize(spec).ok().and_then(|node| {
        ["serial/by-id", "serial/by-path"].iter().find_map(|dir| {
            sorted_entries(&dev.join(dir))
                .into_iter()
                .find(|link| std::fs::canonicalize(link).ok().as_ref() == Some(&node))
        })
    });
    let address = match stable {
        Some(link) if !spec.starts_with(&dev.join("serial").display().to_string()) => {
            link.display().to_string()
        }
        _ => spec.to_owned(),
    };
    Target {
        open: spec.to_owned(),
        key: "serial",
        address,
    }
}

/// Probe one serial or TCP port: listen for VE.Direct first (passive: a device sends a record
/// every second), then ask the Voltronic detection queries.
pub async fn probe_port(target: &Target, timeout: Duration) -> Outcome {
    match open_spec(&target.open, DriverKind::Vedirect.default_baud(), timeout).await {
        Ok(mut link) => {
            let mut driver = VeDirectDriver::new(VeDirectOptions {
                // a BMV's record spans two blocks one second apart, and the first block after
                // opening is usually cut
                record_timeout: Duration::from_millis(3500),
                ..VeDirectOptions::default()
            });
            if let Ok(info) = driver.identify(link.as_mut()).await {
                // identify keeps the record it read: the next read returns it at once.
                let record = driver.read_record(link.as_mut()).await.ok();
                let label = |l: &str| record.as_ref().and_then(|r| r.get(l).map(str::to_owned));
                let family = label("PID")
                    .as_deref()
                    .and_then(parse_pid)
                    .and_then(VictronFamily::of_pid)
                    .or_else(|| {
                        // a product id the spec does not list yet: tell by the labels
                        if label("PPV").is_some() {
                            Some(VictronFamily::SolarCharger)
                        } else if label("SOC").is_some() || label("CE").is_some() {
                            Some(VictronFamily::BatteryMonitor)
                        } else {
                            None
                        }
                    });
                let role = match family {
                    Some(VictronFamily::BatteryMonitor) => Role::BatteryMonitor,
                    Some(VictronFamily::SolarCharger) => Role::SolarCharger,
                    Some(other) => Role::OtherVictron(other.name()),
                    None => Role::OtherVictron("VE.Direct device"),
                };
                return Outcome::Found(Found {
                    key: target.key,
                    address: target.address.clone(),
                    probed: target.open.clone(),
                    role,
                    protocol: info.protocol,
                    model: info.model,
                    serial: info.serial,
                    firmware: info.firmware,
                });
            }
        }
        Err(e) => return Outcome::Nothing(format!("cannot open: {e}")),
    }
    let heard = match open_spec(&target.open, DriverKind::Pi30.default_baud(), timeout).await {
        Ok(mut link) => match voltronic(link.as_mut(), timeout).await {
            Ok((driver, max, info)) => {
                return Outcome::Found(Found {
                    key: target.key,
                    address: target.address.clone(),
                    probed: target.open.clone(),
                    role: Role::Inverter { driver, max },
                    protocol: info.protocol,
                    model: info.model,
                    serial: info.serial,
                    firmware: info.firmware,
                });
            }
            Err(why) => why,
        },
        Err(e) => return Outcome::Nothing(format!("cannot open at 2400 baud: {e}")),
    };
    Outcome::Nothing(format!("no VE.Direct record; {heard}"))
}

/// Which Voltronic protocol the unit speaks and what it says about itself.
async fn voltronic(
    link: &mut dyn sungate_drivers::link::Link,
    timeout: Duration,
) -> Result<(DriverKind, bool, sungate_drivers::driver::DeviceInfo), String> {
    let detection = detect(link, timeout)
        .await
        .map_err(|e| format!("Voltronic probe: {e}"))?;
    let family = match &detection.verdict {
        Verdict::Speaks(family) => family.clone(),
        Verdict::Unknown(_) => return Err(detection.verdict.to_string()),
    };
    let Some(kind) = family
        .driver()
        .and_then(|d| DriverKind::ALL.into_iter().find(|k| k.name() == d))
    else {
        return Err(detection.verdict.to_string());
    };
    let mut driver = kind.build(&[], timeout);
    let info = driver
        .identify(link)
        .await
        .map_err(|e| format!("{}: identify failed: {e}", family.name()))?;
    Ok((kind, family == Family::Pi30Max, info))
}

/// Probe one Voltronic hidraw node and name it by USB ids and serial number: the hidraw number
/// changes when the bridge re-enumerates, the inverter's serial does not. `alone`: the only
/// such node (then the USB ids alone find it again even without a serial number).
pub async fn probe_hid(path: &str, alone: bool, timeout: Duration) -> Outcome {
    let open = format!("hid:{path}");
    let mut link = match open_spec(&open, DriverKind::Pi30.default_baud(), timeout).await {
        Ok(link) => link,
        Err(e) => {
            return Outcome::Nothing(format!(
                "cannot open: {e} (the sungate package's udev rule gives the plugdev group access)"
            ));
        }
    };
    match voltronic(link.as_mut(), timeout).await {
        Ok((driver, max, info)) => {
            // The port finds the unit again by asking QID/QSID: only PI30 units answer those.
            let address = match (&info.serial, driver) {
                (Some(serial), DriverKind::Pi30) => format!("{VOLTRONIC_USB_ID}:{serial}"),
                _ if alone => VOLTRONIC_USB_ID.to_owned(),
                _ => path.to_owned(),
            };
            Outcome::Found(Found {
                key: "hid",
                address,
                probed: path.to_owned(),
                role: Role::Inverter { driver, max },
                protocol: info.protocol,
                model: info.model,
                serial: info.serial,
                firmware: info.firmware,
            })
        }
        Err(why) => Outcome::Nothing(why),
    }
}

/// Everything to probe: HID nodes and serial/TCP targets, plus notes about ports left out.
pub fn targets(place: &Where, dev: &Path, sys: &Path) -> (Vec<String>, Vec<Target>, Vec<String>) {
    if !place.ports.is_empty() {
        let mut hid = Vec::new();
        let mut serial = Vec::new();
        for spec in &place.ports {
            match spec.strip_prefix("hid:") {
                // a hidraw node given by path is probed like a found one (and named by id)
                Some(path) if path.starts_with('/') => hid.push(path.to_owned()),
                _ => serial.push(given_target(spec, dev)),
            }
        }
        return (hid, serial, Vec::new());
    }
    let hid = if place.no_hid {
        Vec::new()
    } else {
        hid_targets(sys)
    };
    let (serial, notes) = match &place.serial_dir {
        Some(dir) => (
            sorted_entries(dir)
                .into_iter()
                .map(|p| {
                    let path = p.display().to_string();
                    Target {
                        open: path.clone(),
                        key: "serial",
                        address: path,
                    }
                })
                .collect(),
            Vec::new(),
        ),
        None => serial_targets(dev, sys),
    };
    (hid, serial, notes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn usb_serial_ports_are_named_by_id_then_by_path_and_unnamed_ones_are_noted() {
        let root = std::env::temp_dir().join(format!("sungate-init-probe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dev = root.join("dev");
        let sys = root.join("sys");
        std::fs::create_dir_all(dev.join("serial/by-id")).unwrap();
        std::fs::create_dir_all(dev.join("serial/by-path")).unwrap();
        for tty in ["ttyUSB0", "ttyUSB1", "ttyUSB2"] {
            std::fs::write(dev.join(tty), "").unwrap();
        }
        let link = |dir: &str, name: &str, tty: &str| {
            std::os::unix::fs::symlink(dev.join(tty), dev.join(dir).join(name)).unwrap();
        };
        link(
            "serial/by-id",
            "usb-VictronEnergy_BV_VE_Direct_cable_VE1-if00-port0",
            "ttyUSB1",
        );
        link("serial/by-path", "platform-usb-0:1.2:1.0-port0", "ttyUSB1");
        link("serial/by-path", "platform-usb-0:1.3:1.0-port0", "ttyUSB0");
        let (targets, notes) = serial_targets(&dev, &sys);
        let names: Vec<_> = targets
            .iter()
            .map(|t| t.address.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "usb-VictronEnergy_BV_VE_Direct_cable_VE1-if00-port0",
                "platform-usb-0:1.3:1.0-port0"
            ]
        );
        assert!(notes.is_empty(), "{notes:?}");
        // --port /dev/ttyUSB1 is written as its by-id name
        let given = given_target(&dev.join("ttyUSB1").display().to_string(), &dev);
        assert!(given.address.ends_with("VE1-if00-port0"), "{given:?}");
        assert!(given.open.ends_with("ttyUSB1"));
        // ...and one without a stable name stays as given
        let given = given_target(&dev.join("ttyUSB2").display().to_string(), &dev);
        assert!(given.address.ends_with("ttyUSB2"));
        assert_eq!(
            given_target("tcp://10.0.0.5:8899", &dev),
            Target {
                open: "tcp://10.0.0.5:8899".into(),
                key: "tcp",
                address: "10.0.0.5:8899".into()
            }
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
