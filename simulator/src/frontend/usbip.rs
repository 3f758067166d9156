//! USB/IP front end: exports a simulated PI30 inverter as the Cypress USB-HID bridge that real
//! Voltronic units carry (VID 0x0665, PID 0x5161), so that a Linux host with `vhci-hcd` can
//! attach it and see `/dev/hidraw0`.
//!
//! # The device
//!
//! One configuration, one HID interface (class 3, no subclass, no protocol) with a vendor-defined
//! report descriptor: one 8-byte input report and one 8-byte output report, no report ids. One
//! endpoint, interrupt IN 0x81 (8 bytes, every 10 ms). There is no interrupt OUT endpoint, so the
//! host sends commands as control transfers SET_REPORT (0x21/0x09, wValue 0x02xx, 8 bytes each,
//! zero padded); the reply comes back as 8-byte input reports on 0x81, the last one zero padded.
//! Linux usbhid puts whatever the application wrote to hidraw into that SET_REPORT: a write that
//! starts with 0x00 (report id 0) loses that byte and sends wValue 0x0200, a write that starts
//! with the command (`Q...`, as mpp-solar does) sends all its bytes with wValue 0x0251. The bridge
//! ignores the report id, and so does this server.
//!
//! # USB/IP (Linux `Documentation/usb/usbip_protocol.rst`), everything big-endian
//!
//! Before import, 8-byte operation header: `version u16 = 0x0111 | code u16 | status u32`.
//! ```text
//! OP_REQ_DEVLIST 0x8005  header                                   -> server answers, closes
//! OP_REP_DEVLIST 0x0005  header | ndev u32 | per device: DEVICE(312) | per interface:
//!                        class u8 | subclass u8 | protocol u8 | pad u8
//! OP_REQ_IMPORT  0x8003  header | busid [32]
//! OP_REP_IMPORT  0x0003  header (status 0 ok, 1 error) | DEVICE(312) only when ok
//! DEVICE = path [256] | busid [32] | busnum u32 | devnum u32 | speed u32 | idVendor u16 |
//!          idProduct u16 | bcdDevice u16 | bDeviceClass | bDeviceSubClass | bDeviceProtocol |
//!          bConfigurationValue | bNumConfigurations | bNumInterfaces      (u8 each)
//! ```
//! After a successful import the connection carries URBs, each a 48-byte header:
//! ```text
//!  0 command u32 | 4 seqnum u32 | 8 devid u32 | 12 direction u32 (0 out, 1 in) | 16 ep u32
//! CMD_SUBMIT 1   20 transfer_flags u32 | 24 transfer_buffer_length i32 | 28 start_frame i32 |
//!                32 number_of_packets i32 | 36 interval i32 | 40 setup [8] (USB, little-endian)
//!                then the OUT data (transfer_buffer_length bytes), then 16 bytes per ISO packet
//! RET_SUBMIT 3   20 status i32 (-errno) | 24 actual_length i32 | 28 start_frame i32 |
//!                32 number_of_packets i32 | 36 error_count i32 | 40 padding [8]
//!                then the IN data (actual_length bytes)
//! CMD_UNLINK 2   20 unlink_seqnum u32 | 24 padding [24]
//! RET_UNLINK 4   20 status i32 (-ECONNRESET: unlinked, 0: it had completed) | 24 padding [24]
//! ```
//! A URB may be answered later than URBs submitted after it: that is how an interrupt IN URB
//! waits for data. The server holds it until a report is queued, which is what the real device
//! does (it NAKs the host controller's polls, and the URB stays pending in the host). Answering
//! it at once with zero bytes would make usbhid resubmit it immediately: a busy loop over the
//! socket that a qemu guest under TCG emulation can ill afford, and an empty input report that
//! hid-core only logs and drops.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::device::{Device, Model};

// ---------------------------------------------------------------------------------------------
// Protocol constants

const USBIP_VERSION: u16 = 0x0111;
const OP_REQ_DEVLIST: u16 = 0x8005;
const OP_REP_DEVLIST: u16 = 0x0005;
const OP_REQ_IMPORT: u16 = 0x8003;
const OP_REP_IMPORT: u16 = 0x0003;

const CMD_SUBMIT: u32 = 1;
const CMD_UNLINK: u32 = 2;
const RET_SUBMIT: u32 = 3;
const RET_UNLINK: u32 = 4;

const HEADER_LEN: usize = 48;
/// Linux errno values travel as they are in the status fields.
const EPIPE: i32 = 32;
const ECONNRESET: i32 = 104;
const EINVAL: i32 = 22;
/// `enum usb_device_speed`: USB_SPEED_FULL. The bridge is a 12 Mbit/s USB 1.1 device.
const SPEED_FULL: u32 = 2;

/// Longest OUT transfer accepted; the device's only OUT traffic is 8-byte reports.
const MAX_OUT: usize = 4096;
/// More ISO packet descriptors than this in a header is a broken client.
const MAX_ISO_PACKETS: u32 = 1024;
/// Reply reports kept for a host that does not read (about 1 KiB of reply, several QPIGS).
const MAX_QUEUED_REPORTS: usize = 128;
/// Interrupt IN URBs held at once (usbhid keeps one; a broken client must not grow memory).
const MAX_PENDING_IN: usize = 32;
/// A PI30 request longer than this without `\r` is noise (same rule as the serial front ends).
const MAX_REQUEST: usize = 512;

// ---------------------------------------------------------------------------------------------
// Descriptors of the Cypress bridge

pub const VENDOR_ID: u16 = 0x0665;
pub const PRODUCT_ID: u16 = 0x5161;
/// The size of every input and output report.
pub const REPORT_LEN: usize = 8;
/// The interrupt IN endpoint.
pub const EP_IN: u8 = 0x81;
const INTERVAL_MS: u8 = 10;
const BCD_DEVICE: u16 = 0x0002;

/// Vendor-defined page, one application collection, 8 bytes in, 8 bytes out, no report id.
pub const REPORT_DESCRIPTOR: [u8; 27] = [
    0x06, 0x00, 0xFF, // Usage Page (Vendor Defined 0xFF00)
    0x09, 0x01, // Usage (0x01)
    0xA1, 0x01, // Collection (Application)
    0x15, 0x00, //   Logical Minimum (0)
    0x26, 0xFF, 0x00, //   Logical Maximum (255)
    0x75, 0x08, //   Report Size (8 bits)
    0x95, 0x08, //   Report Count (8)
    0x09, 0x02, //   Usage (0x02)
    0x81, 0x02, //   Input (Data, Variable, Absolute)
    0x95, 0x08, //   Report Count (8)
    0x09, 0x03, //   Usage (0x03)
    0x91, 0x02, //   Output (Data, Variable, Absolute)
    0xC0, // End Collection
];

#[rustfmt::skip]
const DEVICE_DESCRIPTOR: [u8; 18] = [
    18, 0x01,           // bLength, DEVICE
    0x10, 0x01,         // bcdUSB 1.10 (no BOS descriptor is asked for below 2.01)
    0x00, 0x00, 0x00,   // class, subclass, protocol: defined by the interface
    8,                  // bMaxPacketSize0
    0x65, 0x06,         // idVendor 0x0665
    0x61, 0x51,         // idProduct 0x5161
    0x02, 0x00,         // bcdDevice 0.02
    1, 2, 0,            // iManufacturer, iProduct, no serial number (QID carries it)
    1,                  // bNumConfigurations
];

const CONFIG_TOTAL: u16 = 9 + 9 + 9 + 7;

#[rustfmt::skip]
const CONFIG_DESCRIPTOR: [u8; CONFIG_TOTAL as usize] = [
    // configuration
    9, 0x02, CONFIG_TOTAL as u8, 0x00, // bLength, CONFIGURATION, wTotalLength
    1, 1, 0,                           // bNumInterfaces, bConfigurationValue, iConfiguration
    0x80, 50,                          // bus powered, 100 mA
    // interface 0
    9, 0x04, 0, 0, 1,                  // bInterfaceNumber 0, alt 0, one endpoint
    0x03, 0x00, 0x00, 0,               // HID, no subclass (not boot), no protocol, no string
    // HID
    9, 0x21, 0x11, 0x01, 0,            // bcdHID 1.11, no country
    1, 0x22, REPORT_DESCRIPTOR.len() as u8, 0x00, // one report descriptor
    // endpoint 0x81
    7, 0x05, EP_IN, 0x03,              // interrupt IN
    REPORT_LEN as u8, 0x00, INTERVAL_MS,
];

/// The HID class descriptor, as it sits inside the configuration descriptor.
fn hid_descriptor() -> &'static [u8] {
    CONFIG_DESCRIPTOR.get(18..27).unwrap_or_default()
}

const MANUFACTURER: &str = "Cypress Semiconductor";
const PRODUCT: &str = "USB to Serial";

/// String descriptor `index` (0: the language list, en-US only).
fn string_descriptor(index: u8) -> Option<Vec<u8>> {
    let text = match index {
        0 => return Some(vec![4, 0x03, 0x09, 0x04]),
        1 => MANUFACTURER,
        2 => PRODUCT,
        _ => return None,
    };
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut d = Vec::with_capacity(2 + 2 * units.len());
    d.push((2 + 2 * units.len()) as u8);
    d.push(0x03);
    for u in units {
        d.extend_from_slice(&u.to_le_bytes());
    }
    Some(d)
}

// ---------------------------------------------------------------------------------------------
// Wire format

/// The 8-byte USB setup packet (little-endian fields, as on the bus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub request_type: u8,
    pub request: u8,
    pub value: u16,
    pub index: u16,
    pub length: u16,
}

impl Setup {
    pub fn parse(b: [u8; 8]) -> Setup {
        Setup {
            request_type: b[0],
            request: b[1],
            value: u16::from_le_bytes([b[2], b[3]]),
            index: u16::from_le_bytes([b[4], b[5]]),
            length: u16::from_le_bytes([b[6], b[7]]),
        }
    }
}

/// One client message after the import.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Urb {
    Submit {
        seqnum: u32,
        direction_in: bool,
        ep: u32,
        transfer_buffer_length: u32,
        setup: Setup,
        data: Vec<u8>,
    },
    Unlink {
        seqnum: u32,
        unlink_seqnum: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum WireError {
    #[error("unknown USB/IP command {0:#x}")]
    Command(u32),
    #[error("OUT transfer of {0} bytes is too long")]
    TooLong(u32),
    #[error("{0} ISO packets")]
    Iso(u32),
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Parse one URB message from the front of `buf`: `Ok(None)` until it is complete, then the
/// message and how many bytes it took.
fn parse_urb(buf: &[u8]) -> Result<Option<(Urb, usize)>, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let command = be32(buf, 0);
    let seqnum = be32(buf, 4);
    match command {
        CMD_SUBMIT => {
            let direction_in = be32(buf, 12) == 1;
            let ep = be32(buf, 16);
            let transfer_buffer_length = be32(buf, 24);
            let packets = be32(buf, 32);
            // 0 (what Linux vhci sends) and 0xffffffff (what the protocol text says) both mean
            // "not isochronous".
            let iso = if packets == u32::MAX { 0 } else { packets };
            if iso > MAX_ISO_PACKETS {
                return Err(WireError::Iso(packets));
            }
            let out_len = if direction_in {
                0
            } else {
                transfer_buffer_length as usize
            };
            if out_len > MAX_OUT {
                return Err(WireError::TooLong(transfer_buffer_length));
            }
            let total = HEADER_LEN + out_len + 16 * iso as usize;
            if buf.len() < total {
                return Ok(None);
            }
            let mut setup = [0u8; 8];
            setup.copy_from_slice(buf.get(40..48).unwrap_or(&[0; 8]));
            let data = buf
                .get(HEADER_LEN..HEADER_LEN + out_len)
                .unwrap_or_default()
                .to_vec();
            Ok(Some((
                Urb::Submit {
                    seqnum,
                    direction_in,
                    ep,
                    transfer_buffer_length,
                    setup: Setup::parse(setup),
                    data,
                },
                total,
            )))
        }
        CMD_UNLINK => Ok(Some((
            Urb::Unlink {
                seqnum,
                unlink_seqnum: be32(buf, 20),
            },
            HEADER_LEN,
        ))),
        other => Err(WireError::Command(other)),
    }
}

fn ret_submit(seqnum: u32, status: i32, actual_length: usize, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_LEN + data.len());
    m.extend_from_slice(&RET_SUBMIT.to_be_bytes());
    m.extend_from_slice(&seqnum.to_be_bytes());
    // devid, direction and ep are 0 in replies
    m.extend_from_slice(&[0; 12]);
    m.extend_from_slice(&status.to_be_bytes());
    m.extend_from_slice(&(actual_length as u32).to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes()); // start_frame
    // number_of_packets: 0, as Linux usbip-host sends for a non-ISO URB
    m.extend_from_slice(&0u32.to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes()); // error_count
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(data);
    m
}

fn ret_unlink(seqnum: u32, status: i32) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_LEN);
    m.extend_from_slice(&RET_UNLINK.to_be_bytes());
    m.extend_from_slice(&seqnum.to_be_bytes());
    m.extend_from_slice(&[0; 12]);
    m.extend_from_slice(&status.to_be_bytes());
    m.extend_from_slice(&[0; 24]);
    m
}

fn op_header(code: u16, status: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(8);
    m.extend_from_slice(&USBIP_VERSION.to_be_bytes());
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(&status.to_be_bytes());
    m
}

/// How the device appears in OP_REP_DEVLIST and OP_REP_IMPORT.
#[derive(Debug, Clone)]
struct Export {
    busid: String,
    busnum: u32,
    devnum: u32,
}

impl Export {
    fn new(busid: &str) -> Export {
        // "1-1" is bus 1; the device number only has to be plausible (vhci assigns its own).
        let busnum = busid
            .split('-')
            .next()
            .and_then(|b| b.parse().ok())
            .unwrap_or(1);
        Export {
            busid: busid.to_string(),
            busnum,
            devnum: 2,
        }
    }

    /// The 312-byte DEVICE record.
    fn device_record(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(312);
        let mut path = format!(
            "/sys/devices/platform/sungate-sim/usb{}/{}",
            self.busnum, self.busid
        )
        .into_bytes();
        path.resize(256, 0);
        m.extend_from_slice(&path);
        let mut busid = self.busid.clone().into_bytes();
        busid.resize(32, 0);
        m.extend_from_slice(&busid);
        m.extend_from_slice(&self.busnum.to_be_bytes());
        m.extend_from_slice(&self.devnum.to_be_bytes());
        m.extend_from_slice(&SPEED_FULL.to_be_bytes());
        m.extend_from_slice(&VENDOR_ID.to_be_bytes());
        m.extend_from_slice(&PRODUCT_ID.to_be_bytes());
        m.extend_from_slice(&BCD_DEVICE.to_be_bytes());
        // class/subclass/protocol 0 (per interface), configuration 1, one configuration, one
        // interface
        m.extend_from_slice(&[0, 0, 0, 1, 1, 1]);
        m
    }

    fn devlist(&self, plugged: bool) -> Vec<u8> {
        let mut m = op_header(OP_REP_DEVLIST, 0);
        if !plugged {
            m.extend_from_slice(&0u32.to_be_bytes());
            return m;
        }
        m.extend_from_slice(&1u32.to_be_bytes());
        m.extend_from_slice(&self.device_record());
        m.extend_from_slice(&[0x03, 0x00, 0x00, 0x00]);
        m
    }
}

// ---------------------------------------------------------------------------------------------
// The device side of one attached session

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

// ---------------------------------------------------------------------------------------------
// Server

/// Serve USB/IP on `listener`, exporting interface `interface` of `device` (an inverter) as bus
/// id `busid` (e.g. "1-1"). Runs until dropped. One importer at a time: a new OP_REQ_IMPORT takes
/// the device over and closes the previous session, the way the TCP front end lets a reconnecting
/// client replace a stale one. While the interface is unplugged (control API), the device is
/// absent from OP_REP_DEVLIST, imports fail and the attached session is closed, which a
/// vhci-hcd host sees as a disconnect.
pub async fn serve_usbip(device: Device, interface: usize, listener: TcpListener, busid: String) {
    let Some(mut plugged) = device.plugged(interface) else {
        tracing::error!(device = %device.name, interface, "usbip: no such interface");
        return;
    };
    if !matches!(device.lock().model, Model::Inverter(_)) {
        tracing::warn!(device = %device.name, "usbip exports a PI30 inverter; this device will answer nothing");
    }
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    device.set_interface_status(interface, |s| {
        s.address = Some(local.clone());
        s.connected = *plugged.borrow();
    });
    let export = Arc::new(Export::new(&busid));
    // Bumped by every import; a session ends when it is no longer the latest.
    let session = Arc::new(watch::Sender::new(0u64));
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    clients.spawn(serve_client(
                        device.clone(),
                        interface,
                        stream,
                        peer,
                        export.clone(),
                        session.clone(),
                    ));
                }
                Err(err) => {
                    tracing::warn!(device = %device.name, %err, "usbip accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            changed = plugged.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = *plugged.borrow_and_update();
                device.set_interface_status(interface, |s| s.connected = now);
            }
            // Reap finished client tasks so the set does not grow.
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
        }
    }
}

/// One TCP connection: a device list request, or an import followed by URB traffic.
async fn serve_client(
    device: Device,
    interface: usize,
    mut stream: TcpStream,
    peer: SocketAddr,
    export: Arc<Export>,
    session: Arc<watch::Sender<u64>>,
) {
    let Some(mut plugged) = device.plugged(interface) else {
        return;
    };
    let mut header = [0u8; 8];
    if stream.read_exact(&mut header).await.is_err() {
        return;
    }
    let code = u16::from_be_bytes([header[2], header[3]]);
    match code {
        OP_REQ_DEVLIST => {
            let list = export.devlist(*plugged.borrow());
            let _ = stream.write_all(&list).await;
        }
        OP_REQ_IMPORT => {
            let mut busid = [0u8; 32];
            if stream.read_exact(&mut busid).await.is_err() {
                return;
            }
            let end = busid.iter().position(|&b| b == 0).unwrap_or(busid.len());
            let wanted = busid.get(..end).unwrap_or_default();
            let is_plugged = *plugged.borrow_and_update();
            if wanted != export.busid.as_bytes() || !is_plugged {
                tracing::info!(device = %device.name, busid = %String::from_utf8_lossy(wanted), "usbip import refused");
                let _ = stream.write_all(&op_header(OP_REP_IMPORT, 1)).await;
                return;
            }
            let mut reply = op_header(OP_REP_IMPORT, 0);
            reply.extend_from_slice(&export.device_record());
            if stream.write_all(&reply).await.is_err() {
                return;
            }
            let mut current = session.subscribe();
            let mine = {
                session.send_modify(|g| *g += 1);
                *current.borrow_and_update()
            };
            tracing::info!(device = %device.name, %peer, busid = %export.busid, "usbip device imported");
            device.set_interface_status(interface, |s| s.attached = Some(peer.to_string()));
            serve_urbs(&device, interface, &mut stream, &mut plugged, &mut current).await;
            // Leave the status to a session that replaced this one.
            if *session.borrow() == mine {
                device.set_interface_status(interface, |s| s.attached = None);
            }
            tracing::info!(device = %device.name, %peer, "usbip session ended");
        }
        other => {
            tracing::info!(device = %device.name, %peer, code = other, "unknown USB/IP operation");
        }
    }
}

/// The URB phase of an imported session, until the client goes, the interface is unplugged or a
/// newer import takes over.
async fn serve_urbs(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_consistent() {
        assert_eq!(DEVICE_DESCRIPTOR[0] as usize, DEVICE_DESCRIPTOR.len());
        assert_eq!(
            u16::from_le_bytes([CONFIG_DESCRIPTOR[2], CONFIG_DESCRIPTOR[3]]) as usize,
            CONFIG_DESCRIPTOR.len()
        );
        // walk the configuration: every descriptor's length adds up to the total
        let mut at = 0;
        let mut types = Vec::new();
        while at < CONFIG_DESCRIPTOR.len() {
            types.push(CONFIG_DESCRIPTOR[at + 1]);
            at += CONFIG_DESCRIPTOR[at] as usize;
        }
        assert_eq!(at, CONFIG_DESCRIPTOR.len());
        assert_eq!(types, [0x02, 0x04, 0x21, 0x05]);
        let hid = hid_descriptor();
        assert_eq!(hid[1], 0x21);
        assert_eq!(hid[7] as usize, REPORT_DESCRIPTOR.len());
        assert_eq!(Export::new("1-1").device_record().len(), 312);
    }

    #[test]
    fn urbs_parse_only_when_complete() {
        let mut m = Vec::new();
        for v in [CMD_SUBMIT, 9, 0x0001_0002, 0, 0, 0, 8, 0, 0, 0] {
            m.extend_from_slice(&u32::to_be_bytes(v));
        }
        m.extend_from_slice(&[0x21, 0x09, 0x00, 0x02, 0, 0, 8, 0]);
        m.extend_from_slice(b"QPI\xbe\xac\r\0");
        assert_eq!(parse_urb(&m), Ok(None));
        m.push(0);
        let (urb, used) = parse_urb(&m).unwrap().unwrap();
        assert_eq!(used, 56);
        match urb {
            Urb::Submit {
                seqnum,
                data,
                setup,
                ..
            } => {
                assert_eq!(seqnum, 9);
                assert_eq!(setup.value, 0x0200);
                assert_eq!(data, b"QPI\xbe\xac\r\0\0");
            }
            other => panic!("{other:?}"),
        }
        let mut bad = m.clone();
        bad[3] = 7;
        assert_eq!(parse_urb(&bad), Err(WireError::Command(7)));
    }
}
