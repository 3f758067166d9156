//! `--port SPEC` of the one-shot commands: a serial device path, `tcp://HOST:PORT`, or `hid:...`.

use std::time::Duration;

use sungate_drivers::link::Link;

use crate::config::Transport;
use crate::port::Opener;
use crate::runtime::TransportOpener;

/// Parse a port spec; `baud` applies to serial paths.
pub fn parse(spec: &str, baud: u32) -> Result<Transport, String> {
    if let Some(addr) = spec.strip_prefix("tcp://") {
        if !addr.contains(':') {
            return Err(format!("{spec:?}: a TCP port needs tcp://HOST:PORT"));
        }
        return Ok(Transport::Tcp {
            addr: addr.to_owned(),
        });
    }
    if let Some(hid) = spec.strip_prefix("hid:") {
        return Ok(Transport::Hid {
            spec: hid.to_owned(),
        });
    }
    if spec.is_empty() {
        return Err("empty port".into());
    }
    Ok(Transport::Serial {
        path: spec.to_owned(),
        baud,
    })
}

/// Open a port spec.
pub async fn open(spec: &str, baud: u32, timeout: Duration) -> Result<Box<dyn Link>, String> {
    let transport = parse(spec, baud)?;
    let opener = TransportOpener { transport, timeout };
    opener.open().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            parse("/dev/ttyUSB0", 2400),
            Ok(Transport::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 2400
            })
        );
        assert_eq!(
            parse("tcp://10.0.0.5:8899", 2400),
            Ok(Transport::Tcp {
                addr: "10.0.0.5:8899".into()
            })
        );
        assert!(parse("tcp://nohost", 2400).is_err());
        assert!(parse("", 2400).is_err());
        assert_eq!(
            parse("hid:/dev/hidraw0", 2400),
            Ok(Transport::Hid {
                spec: "/dev/hidraw0".into()
            })
        );
    }
}
