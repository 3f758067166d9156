//! [`HidSpec`]: how a port names its HID device, with or without the `hid:` prefix
//! (the gateway's config stores `hid = "..."` without it, `--port` has it):
//!
//! ```text
//! hid:/dev/hidraw0            a hidraw node (changes when the bridge re-enumerates)
//! hid:0665:5161               the only device with these USB ids
//! hid:0665:5161:92931234...   the one among identical inverters whose QID/QSID serial matches
//! ```

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HidSpec {
    /// A device node such as `/dev/hidraw0`.
    Path(String),
    /// Discovery by USB ids and, when several devices match, the inverter's serial number.
    Usb {
        vid: u16,
        pid: u16,
        serial: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HidSpecError {
    #[error("empty HID device spec: expected /dev/hidrawN, VID:PID or VID:PID:SERIAL")]
    Empty,
    #[error("{0:?} is not a hex USB id (expected 4 hex digits, e.g. 0665)")]
    BadId(String),
    #[error("{0:?}: expected /dev/hidrawN, VID:PID or VID:PID:SERIAL")]
    Malformed(String),
}

fn parse_id(text: &str) -> Result<u16, HidSpecError> {
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if hex.is_empty() || hex.len() > 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HidSpecError::BadId(text.to_owned()));
    }
    u16::from_str_radix(hex, 16).map_err(|_| HidSpecError::BadId(text.to_owned()))
}

impl FromStr for HidSpec {
    type Err = HidSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let body = spec.trim();
        let body = body.strip_prefix("hid:").unwrap_or(body);
        if body.is_empty() {
            return Err(HidSpecError::Empty);
        }
        if body.starts_with('/') {
            return Ok(HidSpec::Path(body.to_owned()));
        }
        // The serial is the rest: serial numbers are free text (in practice digits).
        let mut parts = body.splitn(3, ':');
        let (Some(vid), Some(pid)) = (parts.next(), parts.next()) else {
            return Err(HidSpecError::Malformed(spec.to_owned()));
        };
        let serial = match parts.next() {
            None => None,
            Some("") => return Err(HidSpecError::Malformed(spec.to_owned())),
            Some(serial) => Some(serial.to_owned()),
        };
        Ok(HidSpec::Usb {
            vid: parse_id(vid)?,
            pid: parse_id(pid)?,
            serial,
        })
    }
}

impl fmt::Display for HidSpec {
    /// The canonical form, with the `hid:` prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HidSpec::Path(path) => write!(f, "hid:{path}"),
            HidSpec::Usb { vid, pid, serial } => {
                write!(f, "hid:{vid:04x}:{pid:04x}")?;
                match serial {
                    Some(serial) => write!(f, ":{serial}"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_parse_with_or_without_prefix() {
        assert_eq!(
            "hid:/dev/hidraw0".parse(),
            Ok(HidSpec::Path("/dev/hidraw0".into()))
        );
        assert_eq!(
            "/dev/hidraw3".parse(),
            Ok(HidSpec::Path("/dev/hidraw3".into()))
        );
        let usb = HidSpec::Usb {
            vid: 0x0665,
            pid: 0x5161,
            serial: None,
        };
        assert_eq!("hid:0665:5161".parse(), Ok(usb.clone()));
        assert_eq!("0x0665:0x5161".parse(), Ok(usb));
        let with_serial: HidSpec = "hid:0665:5161:92932004102453".parse().unwrap();
        assert_eq!(
            with_serial,
            HidSpec::Usb {
                vid: 0x0665,
                pid: 0x5161,
                serial: Some("92932004102453".into())
            }
        );
        assert_eq!(with_serial.to_string(), "hid:0665:5161:92932004102453");
        assert_eq!(
            "hid:/dev/hidraw0".parse::<HidSpec>().unwrap().to_string(),
            "hid:/dev/hidraw0"
        );
    }

    #[test]
    fn malformed_specs_are_refused() {
        assert_eq!("hid:".parse::<HidSpec>(), Err(HidSpecError::Empty));
        assert!(matches!(
            "hid:0665".parse::<HidSpec>(),
            Err(HidSpecError::Malformed(_))
        ));
        assert!(matches!(
            "hid:0665:5161:".parse::<HidSpec>(),
            Err(HidSpecError::Malformed(_))
        ));
        assert!(matches!(
            "hid:zz65:5161".parse::<HidSpec>(),
            Err(HidSpecError::BadId(_))
        ));
        assert!(matches!(
            "hid:10665:5161".parse::<HidSpec>(),
            Err(HidSpecError::BadId(_))
        ));
        assert!(matches!(
            "hidraw0".parse::<HidSpec>(),
            Err(HidSpecError::Malformed(_))
        ));
    }
}
