//! Telling identical inverters apart. Every Voltronic bridge reports the same VID:PID and most
//! report no useful USB serial, and hidraw numbers follow enumeration order, which changes on
//! every replug. The inverter's own serial number (PI30 `QID`, or `QSID` on firmware without
//! `QID`) is the stable identity: [`find_by_serial`] opens each candidate in turn and asks it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::driver::DriverError;
use crate::link::{Link, LinkError};
use crate::pi30::driver::{Pi30Driver, Pi30Options};
use crate::pi30::queries::Query;

/// A HID device found by enumeration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HidCandidate {
    /// The device node, e.g. `/dev/hidraw2`.
    pub path: String,
    /// The USB serial-number string descriptor, if the bridge has one (usually it has not).
    pub serial_number: Option<String>,
    pub product: Option<String>,
}

/// A boxed, `Send` future borrowing the link: what `query_serial` returns. Boxing keeps the
/// result of [`find_by_serial`] `Send` for callers inside `#[async_trait]` methods.
pub type SerialFuture<'a> = Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;

/// Open the candidates one at a time and return the first whose serial number is `serial`,
/// with its open link. A candidate whose USB serial descriptor already equals `serial` is taken
/// without asking; the others are asked through `query_serial` (typically
/// `|link| Box::pin(query_pi30_serial(link, timeout))`). Candidates that fail to open are
/// skipped (another process may hold one, or it is not an inverter); links that do not match are
/// dropped, which closes them. `Ok(None)`: no candidate has that serial.
pub async fn find_by_serial<L, O, Q>(
    candidates: &[HidCandidate],
    serial: &str,
    mut open: O,
    mut query_serial: Q,
) -> Result<Option<(HidCandidate, L)>, LinkError>
where
    L: Link,
    O: FnMut(&HidCandidate) -> Result<L, LinkError>,
    Q: for<'a> FnMut(&'a mut dyn Link) -> SerialFuture<'a>,
{
    for candidate in candidates {
        let mut link = match open(candidate) {
            Ok(link) => link,
            Err(e) => {
                tracing::debug!(path = %candidate.path, error = %e, "HID candidate did not open");
                continue;
            }
        };
        if candidate.serial_number.as_deref() == Some(serial) {
            return Ok(Some((candidate.clone(), link)));
        }
        let found = query_serial(&mut link).await;
        tracing::debug!(path = %candidate.path, serial = ?found, "HID candidate identified");
        if found.as_deref().map(str::trim) == Some(serial) {
            return Ok(Some((candidate.clone(), link)));
        }
    }
    Ok(None)
}

/// The serial number of a PI30 unit: `QID`, or `QSID` when `QID` is refused. `None` when the
/// unit does not answer or answers neither.
pub async fn query_pi30_serial(link: &mut dyn Link, reply_timeout: Duration) -> Option<String> {
    let driver = Pi30Driver::new(Pi30Options {
        reply_timeout,
        ..Pi30Options::default()
    });
    for query in [Query::Qid, Query::Qsid] {
        match driver.query(link, query).await {
            Ok(reading) => {
                return reading
                    .value("serial_number")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
            }
            // Older firmware refuses QID: try QSID. Anything else (silence, garbage, PI18) will
            // not get better with a second query.
            Err(DriverError::Refused { .. }) => continue,
            Err(_) => return None,
        }
    }
    None
}
