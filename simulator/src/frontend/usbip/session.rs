//! One imported device's URB phase: control transfers on endpoint 0 (standard requests, the HID
//! class requests SET_REPORT / GET_REPORT / SET_IDLE / SET_PROTOCOL), interrupt IN URBs on 0x81
//! held until a reply report exists, UNLINK of held URBs, and the unit's processing delay.
//! SET_REPORT bytes are framed into PI30 requests on `\r` (ASCII + CRC + CR); a reply goes back
//! as 8-byte input reports, the last one zero padded.

use std::collections::VecDeque;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::descriptors::{
    CONFIG_DESCRIPTOR, DEVICE_DESCRIPTOR, REPORT_DESCRIPTOR, REPORT_LEN, hid_descriptor,
    string_descriptor,
};
use super::urb::{ECONNRESET, EINVAL, EPIPE, Setup, Urb, parse_urb, ret_submit, ret_unlink};
use crate::device::Device;

/// Reply reports kept for a host that does not read (about 1 KiB of reply, several QPIGS).
const MAX_QUEUED_REPORTS: usize = 128;
/// Interrupt IN URBs held at once (usbhid keeps one; a broken client must not grow memory).
const MAX_PENDING_IN: usize = 32;
/// A PI30 request longer than this without `\r` is noise (same rule as the serial front ends).
const MAX_REQUEST: usize = 512;

/// What a control transfer comes to.
#[derive(Debug, PartialEq, Eq)]
enum Control {
    /// Data stage IN (cut to wLength by the caller).
    In(Vec<u8>),
    /// No data stage, or OUT data accepted.
    Done,
    /// The device stalls the request.
    Stall,
}

/// One imported session: request framing, the reply reports waiting for the host, the held
/// interrupt IN URBs, and the unit's processing delay.
struct Session<'a> {
    device: &'a Device,
    interface: usize,
    /// Bytes of the request being received through SET_REPORT.
    assembling: Vec<u8>,
    /// Complete requests waiting for the unit (it handles one at a time).
    requests: VecDeque<Vec<u8>>,
    /// The request being processed: when its reply is ready, and the reply.
    in_flight: Option<(Instant, Option<Vec<u8>>)>,
    /// Input reports not yet taken by the host.
    reports: VecDeque<[u8; REPORT_LEN]>,
    /// Held interrupt IN URBs: (seqnum, transfer_buffer_length).
    pending_in: VecDeque<(u32, usize)>,
    configuration: u8,
    idle: u8,
    protocol: u8,
}

impl Drop for Session<'_> {
    /// A session that ends mid-transaction (client gone, replaced, unplugged) must not leave the
    /// transaction open, or the next request on another interface would lock the unit.
    fn drop(&mut self) {
        if self.in_flight.is_some() {
            self.device.end_transaction(self.interface);
        }
    }
}

impl<'a> Session<'a> {
    fn new(device: &'a Device, interface: usize) -> Session<'a> {
        Session {
            device,
            interface,
            assembling: Vec::with_capacity(64),
            requests: VecDeque::new(),
            in_flight: None,
            reports: VecDeque::new(),
            pending_in: VecDeque::new(),
            configuration: 0,
            idle: 0,
            protocol: 1,
        }
    }

    /// Handle one URB; returns the messages to send now.
    fn urb(&mut self, urb: Urb) -> Vec<Vec<u8>> {
        match urb {
            Urb::Unlink {
                seqnum,
                unlink_seqnum,
            } => {
                let held = self
                    .pending_in
                    .iter()
                    .position(|&(s, _)| s == unlink_seqnum);
                let status = match held {
                    Some(i) => {
                        self.pending_in.remove(i);
                        -ECONNRESET
                    }
                    // Already answered (or never seen): the RET_SUBMIT went out before.
                    None => 0,
                };
                vec![ret_unlink(seqnum, status)]
            }
            Urb::Submit {
                seqnum,
                direction_in,
                ep,
                transfer_buffer_length,
                setup,
                data,
            } => match (ep, direction_in) {
                (0, _) => {
                    let reply = match self.control(setup, &data) {
                        Control::In(bytes) => {
                            let n = bytes
                                .len()
                                .min(setup.length as usize)
                                .min(transfer_buffer_length as usize);
                            ret_submit(seqnum, 0, n, bytes.get(..n).unwrap_or_default())
                        }
                        Control::Done => ret_submit(seqnum, 0, data.len(), &[]),
                        Control::Stall => ret_submit(seqnum, -EPIPE, 0, &[]),
                    };
                    vec![reply]
                }
                (1, true) => {
                    if self.pending_in.len() >= MAX_PENDING_IN {
                        return vec![ret_submit(seqnum, -EINVAL, 0, &[])];
                    }
                    self.pending_in
                        .push_back((seqnum, transfer_buffer_length as usize));
                    self.deliver()
                }
                // No such endpoint (in particular no interrupt OUT): stall.
                _ => vec![ret_submit(seqnum, -EPIPE, 0, &[])],
            },
        }
    }

    /// Answer held interrupt IN URBs with queued reports.
    fn deliver(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !self.pending_in.is_empty() && !self.reports.is_empty() {
            let (Some((seqnum, len)), Some(report)) =
                (self.pending_in.pop_front(), self.reports.pop_front())
            else {
                break;
            };
            let n = len.min(REPORT_LEN);
            out.push(ret_submit(
                seqnum,
                0,
                n,
                report.get(..n).unwrap_or_default(),
            ));
        }
        out
    }

    fn control(&mut self, setup: Setup, data: &[u8]) -> Control {
        const STANDARD_IN_DEVICE: u8 = 0x80;
        const STANDARD_IN_INTERFACE: u8 = 0x81;
        const STANDARD_IN_ENDPOINT: u8 = 0x82;
        const CLASS_OUT_INTERFACE: u8 = 0x21;
        const CLASS_IN_INTERFACE: u8 = 0xA1;
        let [desc_index, desc_type] = setup.value.to_le_bytes();
        match (setup.request_type, setup.request) {
            // GET_STATUS: bus powered, no remote wakeup, endpoint not halted
            (STANDARD_IN_DEVICE | STANDARD_IN_INTERFACE | STANDARD_IN_ENDPOINT, 0x00) => {
                Control::In(vec![0, 0])
            }
            // CLEAR_FEATURE / SET_FEATURE (usbhid clears ENDPOINT_HALT after an error)
            (0x00..=0x02, 0x01 | 0x03) => Control::Done,
            // SET_ADDRESS (vhci handles it itself, but a client may send it)
            (0x00, 0x05) => Control::Done,
            (STANDARD_IN_DEVICE, 0x06) => match desc_type {
                0x01 => Control::In(DEVICE_DESCRIPTOR.to_vec()),
                0x02 if desc_index == 0 => Control::In(CONFIG_DESCRIPTOR.to_vec()),
                0x03 => string_descriptor(desc_index).map_or(Control::Stall, Control::In),
                // no device qualifier, BOS, ...: a full-speed USB 1.1 device stalls them
                _ => Control::Stall,
            },
            // GET_DESCRIPTOR directed at the interface: HID class descriptors
            (STANDARD_IN_INTERFACE, 0x06) if setup.index == 0 => match desc_type {
                0x21 => Control::In(hid_descriptor().to_vec()),
                0x22 => Control::In(REPORT_DESCRIPTOR.to_vec()),
                _ => Control::Stall,
            },
            (STANDARD_IN_DEVICE, 0x08) => Control::In(vec![self.configuration]),
            (0x00, 0x09) => match setup.value {
                0 | 1 => {
                    self.configuration = setup.value as u8;
                    Control::Done
                }
                _ => Control::Stall,
            },
            (STANDARD_IN_INTERFACE, 0x0A) => Control::In(vec![0]),
            // SET_INTERFACE: only alternate setting 0 of interface 0 exists
            (0x01, 0x0B) if setup.value == 0 && setup.index == 0 => Control::Done,
            // HID GET_REPORT (input): the next reply report, or zeros. It must answer: a control
            // transfer cannot be held like the interrupt IN URB.
            (CLASS_IN_INTERFACE, 0x01) if desc_type == 0x01 => {
                Control::In(self.reports.pop_front().unwrap_or_default().to_vec())
            }
            // HID GET_REPORT of the output report: the device does not keep it
            (CLASS_IN_INTERFACE, 0x01) if desc_type == 0x02 => Control::In(vec![0; REPORT_LEN]),
            (CLASS_IN_INTERFACE, 0x02) => Control::In(vec![self.idle]),
            (CLASS_IN_INTERFACE, 0x03) => Control::In(vec![self.protocol]),
            // HID SET_REPORT (output): command bytes for the inverter, whatever the report id.
            (CLASS_OUT_INTERFACE, 0x09) if desc_type == 0x02 => {
                self.command_bytes(data);
                Control::Done
            }
            // SET_IDLE: accepted (usbhid sends it at probe); input reports go out only when
            // there is reply data anyway.
            (CLASS_OUT_INTERFACE, 0x0A) => {
                self.idle = desc_type;
                Control::Done
            }
            (CLASS_OUT_INTERFACE, 0x0B) => {
                self.protocol = setup.value as u8;
                Control::Done
            }
            _ => Control::Stall,
        }
    }

    /// Bytes of a SET_REPORT: frame requests on `\r` as the inverter's UART does.
    fn command_bytes(&mut self, data: &[u8]) {
        for &b in data {
            // Zero padding of the previous report. A PI30 command never starts with 0x00 (a CRC
            // byte may be 0x00, but never the first byte of a request).
            if b == 0 && self.assembling.is_empty() {
                continue;
            }
            self.assembling.push(b);
            if b == b'\r' {
                let request = std::mem::take(&mut self.assembling);
                self.requests.push_back(request);
            } else if self.assembling.len() > MAX_REQUEST {
                self.assembling.clear();
            }
        }
        self.start_next();
    }

    /// Hand the next request to the unit if it is free. The transaction opens now (the unit
    /// has the request) and closes in [`Session::reply_ready`], once the reply is queued.
    fn start_next(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        let Some(request) = self.requests.pop_front() else {
            return;
        };
        let reply = self.device.inverter_request(self.interface, &request);
        let ready = Instant::now() + self.device.reply_delay + self.device.slow();
        self.in_flight = Some((ready, reply));
    }

    fn deadline(&self) -> Option<Instant> {
        self.in_flight.as_ref().map(|(at, _)| *at)
    }

    /// The unit finished processing: queue its reply as 8-byte reports, the last one zero
    /// padded, and answer held URBs.
    fn reply_ready(&mut self) -> Vec<Vec<u8>> {
        if let Some((_, reply)) = self.in_flight.take() {
            for chunk in reply.unwrap_or_default().chunks(REPORT_LEN) {
                if self.reports.len() >= MAX_QUEUED_REPORTS {
                    // The host does not read: the bridge's buffer overflows and bytes are lost.
                    break;
                }
                let mut report = [0u8; REPORT_LEN];
                report
                    .get_mut(..chunk.len())
                    .unwrap_or_default()
                    .copy_from_slice(chunk);
                self.reports.push_back(report);
            }
            self.device.end_transaction(self.interface);
        }
        self.start_next();
        self.deliver()
    }
}

/// The URB phase of an imported session, until the client goes, the interface is unplugged or a
/// newer import takes over.
pub(super) async fn serve_urbs(
    device: &Device,
    interface: usize,
    stream: &mut TcpStream,
    plugged: &mut watch::Receiver<bool>,
    current: &mut watch::Receiver<u64>,
) {
    let mut session = Session::new(device, interface);
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        // Everything complete in the buffer first: a client may send several URBs at once.
        loop {
            match parse_urb(&buf) {
                Ok(Some((urb, used))) => {
                    buf.drain(..used);
                    for message in session.urb(urb) {
                        if stream.write_all(&message).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(device = %device.name, %err, "usbip protocol error, closing");
                    return;
                }
            }
        }
        let deadline = session.deadline();
        tokio::select! {
            // `read` is cancel-safe: bytes are only taken when this branch wins.
            read = stream.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            },
            _ = sleep_until_opt(deadline), if deadline.is_some() => {
                for message in session.reply_ready() {
                    if stream.write_all(&message).await.is_err() {
                        return;
                    }
                }
            }
            changed = plugged.changed() => {
                if changed.is_err() || !*plugged.borrow_and_update() {
                    tracing::info!(device = %device.name, "usbip interface unplugged");
                    return;
                }
            }
            _ = current.changed() => {
                tracing::info!(device = %device.name, "usbip session replaced by a new import");
                return;
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
