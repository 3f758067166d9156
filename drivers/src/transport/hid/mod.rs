//! USB HID transport: a PI30 inverter behind its Cypress USB-HID bridge (VID 0x0665, PID 0x5161,
//! `/dev/hidraw*` on Linux), seen by drivers as an ordinary [`Link`].
//!
//! # Report layout
//!
//! ```text
//! host -> unit  output report, 9 bytes as handed to hidraw / hidapi:
//!               [0x00 report id] [8 command bytes, the last report zero-padded]
//!               QPIGS + CRC + CR      = 8 bytes -> 00 'Q' 'P' 'I' 'G' 'S' B7 A9 0D
//!               PBCV56.4 + CRC + CR   = 11 bytes -> 00 'P' 'B' 'C' 'V' '5' '6' '.' '4'
//!                                                   00 BE BB 0D 00 00 00 00 00
//! unit -> host  input reports of 8 bytes (the bridge uses no report ids): the reply in 8-byte
//!               pieces; it ends with CR and the last report is zero-padded after the CR.
//!               PI17/PI18 unit:  5E 30 1B E3 0D 00 00 00  (`^0` + CRC + CR)
//! ```
//!
//! [`HidLink`] hides the chunking: `write_frame` splits a frame into zero-padded reports,
//! `read_until` reassembles input reports up to the delimiter and drops the padding after it. A
//! reply never continues after its CR inside one report, so whatever follows the CR in that
//! report is padding; a *new* report after it belongs to the next exchange and stays queued.
//!
//! `HidLink` is generic over [`ReportDevice`] (async, one report at a time), so it is tested
//! without hardware over [`memory::ReportPipe`]. Blocking report devices (hidapi) implement
//! [`BlockingReportDevice`] and run on a dedicated I/O thread through [`ThreadedDevice`], so a
//! blocking `read` never stalls the tokio runtime. The hidapi device itself (`hidraw` module,
//! `enumerate`, `open_path`, `open_spec`) is behind the cargo feature `hid`; everything else
//! here needs no hidapi.

mod identity;
mod link;
pub mod memory;
mod spec;
mod thread;

#[cfg(feature = "hid")]
mod hidraw;

#[cfg(test)]
mod tests;

use std::io;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

pub use identity::{HidCandidate, SerialFuture, find_by_serial, query_pi30_serial};
pub use link::{HidLink, is_disconnect};
pub use spec::{HidSpec, HidSpecError};
pub use thread::ThreadedDevice;

#[cfg(feature = "hid")]
pub use hidraw::{HidrawDevice, HidrawLink, enumerate, open_path, open_spec};

/// Payload bytes of one input or output report of the inverter's bridge.
pub const REPORT_LEN: usize = 8;
/// An output report as written: report id 0 followed by [`REPORT_LEN`] bytes.
pub const OUTPUT_LEN: usize = REPORT_LEN + 1;

/// The USB ids of the Voltronic inverters' Cypress USB-HID bridge.
pub const VOLTRONIC_VID: u16 = 0x0665;
pub const VOLTRONIC_PID: u16 = 0x5161;

/// A device that exchanges fixed-size HID reports, seen from async code.
///
/// Errors follow `std::io`: `WouldBlock` / `Interrupted` mean "nothing this time, try again"
/// (counted by [`HidLink`], which gives up on a storm of them); a disconnect is `BrokenPipe`,
/// `NotConnected` or a raw `ENODEV` / `ENXIO` / `ESHUTDOWN` (see [`is_disconnect`]).
#[async_trait]
pub trait ReportDevice: Send {
    /// Send one output report (`report[0]` is the report id, 0 for the inverter).
    async fn write_report(&mut self, report: &[u8; OUTPUT_LEN]) -> io::Result<()>;
    /// The next input report, or `Ok(None)` if none arrived before `deadline`. A deadline in the
    /// past returns a report already waiting, if any, without waiting for one.
    async fn read_report(&mut self, deadline: Instant) -> io::Result<Option<[u8; REPORT_LEN]>>;
}

/// A blocking report device (the shape of hidapi's API). Run it through [`ThreadedDevice`].
pub trait BlockingReportDevice: Send + 'static {
    fn write_report(&mut self, report: &[u8; OUTPUT_LEN]) -> io::Result<()>;
    /// Wait at most `timeout` for one input report; `Ok(None)` only once `timeout` has passed
    /// (a zero timeout polls). An early return without a report (EAGAIN after a wake-up) must
    /// be reported as `WouldBlock`, so that a device stuck in such a loop is noticed.
    fn read_report(&mut self, timeout: Duration) -> io::Result<Option<[u8; REPORT_LEN]>>;
}
