//! The hidapi-backed device (cargo feature `hid`): hidapi's `linux-native-basic-udev` backend
//! talks to `/dev/hidraw*` directly (pure Rust, no libudev, no C), enumerating through sysfs.
//!
//! hidapi's calls block, so the device runs on its own I/O thread ([`ThreadedDevice`]). Writes
//! are 9 bytes (report id 0 + 8); hidraw turns them into a SET_REPORT on the control pipe, which
//! is how the bridge takes commands (it has no OUT endpoint). Reads return the 8-byte input
//! reports without a report id (the bridge's descriptor has none).
//!
//! hidraw has no exclusive open: another process reading the same node gets copies of our input
//! reports and may interleave commands. Configure one port per node.

use std::ffi::CString;
use std::io;
use std::time::Duration;

use hidapi::{HidApi, HidDevice, HidError};

use super::{
    BlockingReportDevice, HidCandidate, HidLink, HidSpec, OUTPUT_LEN, REPORT_LEN, ThreadedDevice,
    find_by_serial, query_pi30_serial,
};
use crate::link::LinkError;

/// The link a real HID device is driven through.
pub type HidrawLink = HidLink<ThreadedDevice>;

/// One opened hidraw node.
#[derive(Debug)]
pub struct HidrawDevice {
    device: HidDevice,
    path: String,
}

/// hidapi's errors as `io::Error`, keeping what [`super::is_disconnect`] needs to see: the
/// errno of a failed read/write, and hidapi's own "device disconnected" (POLLHUP / POLLERR).
fn to_io(e: HidError) -> io::Error {
    match e {
        HidError::IoError { error } => error,
        HidError::HidApiError { message } if message.contains("disconnected") => {
            io::Error::new(io::ErrorKind::NotConnected, message)
        }
        other => io::Error::other(other.to_string()),
    }
}

impl BlockingReportDevice for HidrawDevice {
    fn write_report(&mut self, report: &[u8; OUTPUT_LEN]) -> io::Result<()> {
        let written = self.device.write(report).map_err(to_io)?;
        if written < report.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "{}: short write, {written} of {} bytes",
                    self.path,
                    report.len()
                ),
            ));
        }
        Ok(())
    }

    fn read_report(&mut self, timeout: Duration) -> io::Result<Option<[u8; REPORT_LEN]>> {
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let started = std::time::Instant::now();
        // Room for a bigger report than expected, to notice a device that is not the bridge.
        let mut buf = [0u8; 64];
        let n = self.device.read_timeout(&mut buf, millis).map_err(to_io)?;
        match n {
            0 if millis > 0
                && started.elapsed() < Duration::from_millis(millis.unsigned_abs().into()) =>
            {
                // poll() said readable but read() gave EAGAIN (hidapi returns 0 for that): a
                // spurious wake-up. Surface it, so that a storm of them is noticed.
                Err(io::Error::from(io::ErrorKind::WouldBlock))
            }
            0 => Ok(None),
            1..=REPORT_LEN => {
                let mut report = [0u8; REPORT_LEN];
                report[..n].copy_from_slice(&buf[..n]);
                Ok(Some(report))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: {n}-byte input report, expected {REPORT_LEN}: not a PI30 USB bridge",
                    self.path
                ),
            )),
        }
    }
}

fn api() -> Result<HidApi, LinkError> {
    HidApi::new().map_err(|e| LinkError::Io(io::Error::other(format!("hidapi: {e}"))))
}

/// HID devices with these USB ids, sorted by path. Reads sysfs: fast, but blocking.
pub fn enumerate(vid: u16, pid: u16) -> Result<Vec<HidCandidate>, LinkError> {
    let api = api()?;
    let mut found: Vec<HidCandidate> = api
        .device_list()
        .filter(|d| d.vendor_id() == vid && d.product_id() == pid)
        .map(|d| HidCandidate {
            path: d.path().to_string_lossy().into_owned(),
            serial_number: d
                .serial_number()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            product: d.product_string().map(str::to_owned),
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    Ok(found)
}

/// Open a hidraw node. A node that is missing or refuses us is `Closed` (the port task retries
/// with backoff: the bridge may be re-enumerating).
pub fn open_path(path: &str) -> Result<HidrawLink, LinkError> {
    let c_path = CString::new(path)
        .map_err(|_| LinkError::Unavailable(format!("invalid HID path {path:?}")))?;
    let device = api()?
        .open_path(&c_path)
        .map_err(|e| LinkError::Unavailable(format!("cannot open {path}: {e}")))?;
    let device = HidrawDevice {
        device,
        path: path.to_owned(),
    };
    Ok(HidLink::new(ThreadedDevice::spawn(device, path)?))
}

/// Open the device a port spec names, re-discovering it on every call (the hidraw number
/// changes when the bridge re-enumerates). `VID:PID` needs exactly one match; `VID:PID:SERIAL`
/// asks each match for its PI30 serial number (`QID` / `QSID`, `reply_timeout` each). Returns
/// the path opened, for logs.
pub async fn open_spec(
    spec: &HidSpec,
    reply_timeout: Duration,
) -> Result<(String, HidrawLink), LinkError> {
    let (vid, pid, serial) = match spec {
        HidSpec::Path(path) => return Ok((path.clone(), open_path(path)?)),
        HidSpec::Usb { vid, pid, serial } => (*vid, *pid, serial),
    };
    let candidates = enumerate(vid, pid)?;
    match (serial, candidates.as_slice()) {
        (_, []) => Err(LinkError::Unavailable(format!(
            "no HID device {vid:04x}:{pid:04x} is connected"
        ))),
        (None, [only]) => Ok((only.path.clone(), open_path(&only.path)?)),
        (None, several) => Err(LinkError::Unavailable(format!(
            "{} HID devices {vid:04x}:{pid:04x} are connected ({}): add the inverter's serial \
             number, hid:{vid:04x}:{pid:04x}:<serial>",
            several.len(),
            several
                .iter()
                .map(|c| c.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        (Some(serial), candidates) => {
            let found = find_by_serial(
                candidates,
                serial,
                |c| open_path(&c.path),
                |link| Box::pin(query_pi30_serial(link, reply_timeout)),
            )
            .await?;
            found.map(|(c, link)| (c.path, link)).ok_or_else(|| {
                LinkError::Unavailable(format!(
                    "none of the {} HID devices {vid:04x}:{pid:04x} has serial number {serial}",
                    candidates.len()
                ))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::hid::{VOLTRONIC_PID, VOLTRONIC_VID, is_disconnect};

    #[test]
    fn hidapi_errors_keep_their_meaning() {
        let gone = to_io(HidError::HidApiError {
            message: "unexpected poll error (device disconnected)".into(),
        });
        assert!(is_disconnect(&gone), "{gone}");
        let enodev = to_io(HidError::IoError {
            error: io::Error::from_raw_os_error(19),
        });
        assert!(is_disconnect(&enodev), "{enodev}");
        let other = to_io(HidError::InvalidZeroSizeData);
        assert!(!is_disconnect(&other), "{other}");
    }

    // This machine has no HID devices: opening fails cleanly, as a reopenable error.
    #[tokio::test]
    async fn a_missing_device_is_unavailable_and_reopenable() {
        let err = open_path("/dev/hidraw-sungate-missing").unwrap_err();
        assert!(matches!(err, LinkError::Unavailable(_)), "{err}");
        assert!(err.is_fatal(), "the port task must retry opening it");
        let spec: HidSpec = "hid:0665:5161:123".parse().unwrap();
        let listed = enumerate(VOLTRONIC_VID, VOLTRONIC_PID);
        if let Ok(candidates) = listed {
            if candidates.is_empty() {
                let err = open_spec(&spec, Duration::from_millis(10))
                    .await
                    .unwrap_err();
                assert!(
                    err.to_string().starts_with("no HID device 0665:5161"),
                    "{err}"
                );
            }
        }
    }
}
