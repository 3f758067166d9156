//! An in-memory report device for tests (here and in other crates): [`pipe`] gives the host end,
//! a [`ReportPipe`] to wrap in a [`HidLink`], and the [`DeviceEnd`] that plays the inverter:
//! it sees every output report written and queues input reports, errors and disconnects.
//! Everything runs on tokio time, so tests can use `start_paused = true` and script delays with
//! `tokio::time::sleep`.
//!
//! Dropping the `DeviceEnd` unplugs the device: reads fail with `ENODEV` once the queued reports
//! are consumed, writes fail with `EPIPE`.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{HidLink, OUTPUT_LEN, REPORT_LEN, ReportDevice};

// Raw errno values, so that the pipe fails the way hidraw does (see `is_disconnect`).
const ENODEV: i32 = 19;
const EPIPE: i32 = 32;

/// Host end of an in-memory report device.
#[derive(Debug)]
pub struct ReportPipe {
    output: mpsc::UnboundedSender<[u8; OUTPUT_LEN]>,
    input: mpsc::UnboundedReceiver<io::Result<[u8; REPORT_LEN]>>,
    write_faults: Arc<Mutex<VecDeque<io::Error>>>,
}

/// Device end of an in-memory report device: the fake inverter.
#[derive(Debug)]
pub struct DeviceEnd {
    output: mpsc::UnboundedReceiver<[u8; OUTPUT_LEN]>,
    input: mpsc::UnboundedSender<io::Result<[u8; REPORT_LEN]>>,
    write_faults: Arc<Mutex<VecDeque<io::Error>>>,
}

/// A connected pair: the host end and the device end.
pub fn pipe() -> (ReportPipe, DeviceEnd) {
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let write_faults = Arc::new(Mutex::new(VecDeque::new()));
    (
        ReportPipe {
            output: out_tx,
            input: in_rx,
            write_faults: write_faults.clone(),
        },
        DeviceEnd {
            output: out_rx,
            input: in_tx,
            write_faults,
        },
    )
}

/// A [`HidLink`] over a fresh [`pipe`], and its device end.
pub fn link() -> (HidLink<ReportPipe>, DeviceEnd) {
    let (host, device) = pipe();
    (HidLink::new(host), device)
}

/// Split `bytes` into input reports of 8 bytes, the last one zero-padded (as the bridge sends
/// a reply).
pub fn to_reports(bytes: &[u8]) -> Vec<[u8; REPORT_LEN]> {
    bytes
        .chunks(REPORT_LEN)
        .map(|chunk| {
            let mut report = [0u8; REPORT_LEN];
            report[..chunk.len()].copy_from_slice(chunk);
            report
        })
        .collect()
}

#[async_trait]
impl ReportDevice for ReportPipe {
    async fn write_report(&mut self, report: &[u8; OUTPUT_LEN]) -> io::Result<()> {
        let fault = self
            .write_faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop_front();
        if let Some(e) = fault {
            return Err(e);
        }
        self.output
            .send(*report)
            .map_err(|_| io::Error::from_raw_os_error(EPIPE))
    }

    async fn read_report(&mut self, deadline: Instant) -> io::Result<Option<[u8; REPORT_LEN]>> {
        // `timeout_at` polls the channel before looking at the clock, so a deadline of "now"
        // still returns a report already queued.
        match tokio::time::timeout_at(deadline, self.input.recv()).await {
            Err(_) => Ok(None),
            Ok(None) => Err(io::Error::from_raw_os_error(ENODEV)),
            Ok(Some(item)) => item.map(Some),
        }
    }
}

impl DeviceEnd {
    /// The next output report written by the host; `None` once the host end is dropped.
    pub async fn next_report(&mut self) -> Option<[u8; OUTPUT_LEN]> {
        self.output.recv().await
    }

    /// Output reports written so far and not yet taken, without waiting.
    pub fn take_written(&mut self) -> Vec<[u8; OUTPUT_LEN]> {
        let mut all = Vec::new();
        while let Ok(report) = self.output.try_recv() {
            all.push(report);
        }
        all
    }

    /// The next command frame written by the host, reassembled from its reports: payloads up to
    /// and including the CR, report ids and padding removed. `None` once the host end is gone.
    pub async fn next_command(&mut self) -> Option<Vec<u8>> {
        let mut frame = Vec::new();
        loop {
            let report = self.next_report().await?;
            let payload = &report[1..];
            if let Some(pos) = payload.iter().position(|&b| b == b'\r') {
                frame.extend_from_slice(&payload[..=pos]);
                return Some(frame);
            }
            frame.extend_from_slice(payload);
        }
    }

    /// Queue one input report.
    pub fn send_report(&self, report: [u8; REPORT_LEN]) {
        // The host end may be gone already; like a real device, the report is then lost.
        let _ = self.input.send(Ok(report));
    }

    /// Queue a reply as the bridge sends it: 8-byte reports, the last one zero-padded.
    pub fn send_reply(&self, bytes: &[u8]) {
        for report in to_reports(bytes) {
            self.send_report(report);
        }
    }

    /// Make a later read fail with `error` (after the reports queued before it).
    pub fn send_error(&self, error: io::Error) {
        let _ = self.input.send(Err(error));
    }

    /// Make the next write fail with `error` (faults queue up, one per write).
    pub fn fail_next_write(&self, error: io::Error) {
        self.write_faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push_back(error);
    }

    /// Play a unit until the host end is dropped: for each command frame (with CRC and CR),
    /// `answer` gives the delay before the reply and the reply bytes, or `None` for silence.
    /// Returns every command frame seen. Run it in a spawned task.
    pub async fn serve(
        mut self,
        mut answer: impl FnMut(&[u8]) -> Option<(Duration, Vec<u8>)> + Send,
    ) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        while let Some(command) = self.next_command().await {
            let reply = answer(&command);
            seen.push(command);
            if let Some((delay, bytes)) = reply {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                self.send_reply(&bytes);
            }
        }
        seen
    }
}
