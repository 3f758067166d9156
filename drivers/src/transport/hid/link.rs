//! [`HidLink`]: the byte-oriented [`Link`] over 8-byte reports (layout in the module header).

use std::io;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{OUTPUT_LEN, REPORT_LEN, ReportDevice};
use crate::link::{Link, LinkError};

/// `WouldBlock` / `Interrupted` results in a row (without a report in between) after which the
/// device counts as gone. A hidraw node of an unplugged or wedged bridge can keep waking the
/// reader with nothing to read; without a limit the port would spin instead of reopening.
const EAGAIN_STORM: u32 = 64;
/// Pause between retries after `WouldBlock`, so a storm costs a few milliseconds of wall time
/// per retry rather than a busy core.
const EAGAIN_BACKOFF: Duration = Duration::from_millis(2);
/// At most this many reports are dropped by one `discard_input`: a device that streams reports
/// faster than we drop them must not keep the port task in the loop forever.
const DISCARD_LIMIT: usize = 256;

// Linux errno values that mean "the device is gone" but have no `io::ErrorKind` of their own.
// hidraw is a Linux interface, so the Linux numbers are the ones that matter.
const ENXIO: i32 = 6;
const ENODEV: i32 = 19;
const EPIPE: i32 = 32;
const ESHUTDOWN: i32 = 108;

/// Whether an I/O error of a report device means the device is gone (unplugged, re-enumerated):
/// EPIPE, ENODEV, ENXIO, ESHUTDOWN, a closed channel, or hidapi's "device disconnected".
pub fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
            | io::ErrorKind::NotFound
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    ) || matches!(e.raw_os_error(), Some(ENXIO | ENODEV | EPIPE | ESHUTDOWN))
        || e.to_string().contains("disconnected")
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn map_error(e: io::Error, doing: &str) -> LinkError {
    if is_disconnect(&e) {
        LinkError::Closed(format!("HID device gone while {doing}: {e}"))
    } else {
        LinkError::Io(e)
    }
}

/// A [`Link`] over a [`ReportDevice`]: frames go out as zero-padded output reports with report
/// id 0; input reports are reassembled up to the delimiter.
#[derive(Debug)]
pub struct HidLink<D> {
    device: D,
    /// Bytes of a reply whose delimiter has not arrived yet. Never holds a delimiter: what
    /// follows one inside its report is padding and is dropped when the frame is cut.
    partial: Vec<u8>,
    /// `WouldBlock` / `Interrupted` results since the last report (see [`EAGAIN_STORM`]).
    would_block: u32,
}

impl<D: ReportDevice> HidLink<D> {
    pub fn new(device: D) -> Self {
        HidLink {
            device,
            partial: Vec::with_capacity(256),
            would_block: 0,
        }
    }

    pub fn get_ref(&self) -> &D {
        &self.device
    }

    pub fn get_mut(&mut self) -> &mut D {
        &mut self.device
    }

    pub fn into_inner(self) -> D {
        self.device
    }

    /// Count one `WouldBlock`; a storm of them is a dead device.
    fn note_would_block(&mut self, e: &io::Error) -> Result<(), LinkError> {
        self.would_block += 1;
        if self.would_block >= EAGAIN_STORM {
            let n = std::mem::take(&mut self.would_block);
            return Err(LinkError::Closed(format!(
                "HID device answered {n} calls in a row with {e} (EAGAIN storm): treating it as gone"
            )));
        }
        Ok(())
    }

    async fn write_report(&mut self, report: &[u8; OUTPUT_LEN]) -> Result<(), LinkError> {
        loop {
            match self.device.write_report(report).await {
                Ok(()) => return Ok(()),
                Err(e) if is_transient(&e) => {
                    self.note_would_block(&e)?;
                    tokio::time::sleep(EAGAIN_BACKOFF).await;
                }
                Err(e) => return Err(map_error(e, "writing")),
            }
        }
    }

    /// The next input report before `deadline`, retrying transient errors; `None` at the deadline.
    async fn next_report(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<[u8; REPORT_LEN]>, LinkError> {
        loop {
            match self.device.read_report(deadline).await {
                Ok(Some(report)) => {
                    self.would_block = 0;
                    return Ok(Some(report));
                }
                Ok(None) => return Ok(None),
                Err(e) if is_transient(&e) => {
                    self.note_would_block(&e)?;
                    let now = Instant::now();
                    if now >= deadline {
                        return Ok(None);
                    }
                    tokio::time::sleep_until(deadline.min(now + EAGAIN_BACKOFF)).await;
                }
                Err(e) => return Err(map_error(e, "reading")),
            }
        }
    }
}

/// A report of zeros only carries nothing: no reply has eight zero bytes in a row (the ASCII part
/// has none, the CRC is two bytes), so it is idle filler, never data.
fn is_empty_report(report: &[u8; REPORT_LEN]) -> bool {
    report.iter().all(|&b| b == 0)
}

#[async_trait]
impl<D: ReportDevice> Link for HidLink<D> {
    /// Split `frame` into 8-byte chunks, each sent as report id 0 + chunk, the last one padded
    /// with zeros (the unit stops reading at the CR, so the padding is never seen as a command).
    async fn write_frame(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        for chunk in frame.chunks(REPORT_LEN) {
            let mut report = [0u8; OUTPUT_LEN];
            report[1..=chunk.len()].copy_from_slice(chunk);
            self.write_report(&report).await?;
        }
        Ok(())
    }

    /// Collect report payloads up to and including `delimiter`. The rest of the report holding
    /// the delimiter is padding and is dropped; later reports stay queued in the device for the
    /// next read. On a timeout the bytes received so far are kept (as [`crate::link::StreamLink`]
    /// does); `discard_input` throws them away before the next request.
    async fn read_until(
        &mut self,
        delimiter: u8,
        max: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, LinkError> {
        loop {
            let Some(report) = self.next_report(deadline).await? else {
                return Err(LinkError::Timeout {
                    received: self.partial.len(),
                });
            };
            if let Some(pos) = report.iter().position(|&b| b == delimiter) {
                self.partial.extend_from_slice(&report[..=pos]);
                return Ok(std::mem::take(&mut self.partial));
            }
            if is_empty_report(&report) {
                continue;
            }
            // No delimiter: a full piece of the reply. Zeros are kept here, because a CRC byte
            // may legitimately be 0x00; only bytes after the delimiter are known to be padding.
            self.partial.extend_from_slice(&report);
            if self.partial.len() > max {
                let n = self.partial.len();
                self.partial.clear();
                return Err(LinkError::Overflow(n));
            }
        }
    }

    /// The payload of the next non-empty report, trailing zero padding stripped (HID has no
    /// stream protocol of its own; this serves generic readers and diagnostics).
    async fn read_chunk(&mut self, deadline: Instant) -> Result<Vec<u8>, LinkError> {
        if !self.partial.is_empty() {
            return Ok(std::mem::take(&mut self.partial));
        }
        loop {
            let Some(report) = self.next_report(deadline).await? else {
                return Err(LinkError::Timeout { received: 0 });
            };
            let end = report.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            if end > 0 {
                return Ok(report[..end].to_vec());
            }
        }
    }

    /// Drop the partial reply held here and every report already waiting in the device (read
    /// with a deadline of "now"), so a late or interrupted reply to an earlier command can never
    /// be read as the answer to the next one. Returns the bytes dropped, padding included.
    async fn discard_input(&mut self) -> Result<usize, LinkError> {
        let mut dropped = self.partial.len();
        self.partial.clear();
        for _ in 0..DISCARD_LIMIT {
            match self.next_report(Instant::now()).await? {
                Some(_) => dropped += REPORT_LEN,
                None => break,
            }
        }
        if dropped > 0 {
            tracing::debug!(dropped, "HID: discarded stale input before a request");
        }
        Ok(dropped)
    }
}
