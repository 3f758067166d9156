//! `sungate scan`: candidate ports on this machine. hidraw devices show their USB ids (0665:5161
//! is the Voltronic inverter's Cypress bridge); serial ports show their USB vendor/product and
//! names (Victron's VE.Direct cable is an FTDI with product "VE Direct cable"). Read from sysfs, so
//! it needs no udev library.

use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Candidate {
    pub path: String,
    pub kind: &'static str,
    pub usb_id: Option<String>,
    pub description: Option<String>,
    /// What this probably is.
    pub guess: Option<&'static str>,
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// Walk up from a sysfs device to the USB device that carries idVendor/idProduct.
fn usb_parent(mut dir: PathBuf) -> Option<PathBuf> {
    for _ in 0..8 {
        if dir.join("idVendor").exists() {
            return Some(dir);
        }
        dir = dir.parent()?.to_path_buf();
    }
    None
}

fn hidraw(sys: &Path) -> Vec<Candidate> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(sys.join("class/hidraw")) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // uevent: HID_ID=0003:00000665:00005161
        let uevent = read(&entry.path().join("device/uevent")).unwrap_or_default();
        let usb_id = uevent
            .lines()
            .find_map(|l| l.strip_prefix("HID_ID="))
            .and_then(|id| {
                let mut parts = id.split(':').skip(1);
                let vid = u32::from_str_radix(parts.next()?, 16).ok()?;
                let pid = u32::from_str_radix(parts.next()?, 16).ok()?;
                Some(format!("{vid:04x}:{pid:04x}"))
            });
        let description = uevent
            .lines()
            .find_map(|l| l.strip_prefix("HID_NAME="))
            .map(str::to_owned);
        let guess =
            (usb_id.as_deref() == Some("0665:5161")).then_some("Voltronic PI30 inverter (USB HID)");
        out.push(Candidate {
            path: format!("/dev/{name}"),
            kind: "hidraw",
            usb_id,
            description,
            guess,
        });
    }
    out
}

fn serial(sys: &Path) -> Vec<Candidate> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(sys.join("class/tty")) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("ttyUSB")
            || name.starts_with("ttyACM")
            || name.starts_with("ttyAMA")
            || name.starts_with("ttyS0"))
        {
            continue;
        }
        let device = fs::canonicalize(entry.path().join("device")).ok();
        let usb = device.and_then(usb_parent);
        let usb_id = usb.as_ref().and_then(|u| {
            Some(format!(
                "{}:{}",
                read(&u.join("idVendor"))?,
                read(&u.join("idProduct"))?
            ))
        });
        let description = usb.as_ref().and_then(|u| {
            let parts: Vec<String> = ["manufacturer", "product"]
                .iter()
                .filter_map(|f| read(&u.join(f)))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
        let guess = match (usb_id.as_deref(), description.as_deref()) {
            (_, Some(d)) if d.contains("VE Direct") || d.contains("Victron") => {
                Some("Victron VE.Direct (19200 baud)")
            }
            (Some("0403:6015"), _) | (Some("0403:6001"), _) => {
                Some("FTDI serial: VE.Direct cable or RS232 adapter")
            }
            (Some("067b:2303"), _) | (Some("1a86:7523"), _) => {
                Some("USB-RS232 adapter: PI30 inverter at 2400 baud?")
            }
            _ => None,
        };
        out.push(Candidate {
            path: format!("/dev/{name}"),
            kind: "serial",
            usb_id,
            description,
            guess,
        });
    }
    out
}

/// Every candidate port, sorted by path. `sys` is normally `/sys`.
pub fn candidates(sys: &Path) -> Vec<Candidate> {
    let mut all = hidraw(sys);
    all.extend(serial(sys));
    all.sort_by(|a, b| a.path.cmp(&b.path));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_inverter_and_a_ve_direct_cable_in_a_fake_sysfs() {
        let root = std::env::temp_dir().join(format!("sungate-scan-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let hid = root.join("class/hidraw/hidraw3/device");
        fs::create_dir_all(&hid).unwrap();
        fs::write(
            hid.join("uevent"),
            "DRIVER=hid-generic\nHID_ID=0003:00000665:00005161\nHID_NAME=Cypress\n",
        )
        .unwrap();
        let usb = root.join("devices/usb1/1-1");
        let port = usb.join("1-1:1.0/ttyUSB0");
        fs::create_dir_all(&port).unwrap();
        fs::write(usb.join("idVendor"), "0403\n").unwrap();
        fs::write(usb.join("idProduct"), "6015\n").unwrap();
        fs::write(usb.join("product"), "VE Direct cable\n").unwrap();
        fs::create_dir_all(root.join("class/tty/ttyUSB0")).unwrap();
        std::os::unix::fs::symlink(&port, root.join("class/tty/ttyUSB0/device")).unwrap();
        let found = candidates(&root);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].path, "/dev/hidraw3");
        assert_eq!(found[0].usb_id.as_deref(), Some("0665:5161"));
        assert!(found[0].guess.is_some());
        assert_eq!(found[1].usb_id.as_deref(), Some("0403:6015"));
        assert_eq!(found[1].guess, Some("Victron VE.Direct (19200 baud)"));
        let _ = fs::remove_dir_all(&root);
    }
}
