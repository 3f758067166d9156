//! The USB/IP wire codec (Linux `Documentation/usb/usbip_protocol.rst`, every field big-endian;
//! the full frame layouts are in the parent module's documentation):
//! - before the import, an 8-byte operation header `version u16 | code u16 | status u32`, the
//!   replies OP_REP_DEVLIST / OP_REP_IMPORT and their 312-byte DEVICE record ([`Export`]);
//! - after it, URBs with a 48-byte header `command | seqnum | devid | direction | ep` (u32 each)
//!   plus 28 command-specific bytes: CMD_SUBMIT (followed by the OUT data and the ISO packet
//!   descriptors) and CMD_UNLINK are parsed ([`parse_urb`]), RET_SUBMIT (followed by the IN data)
//!   and RET_UNLINK are encoded ([`ret_submit`], [`ret_unlink`]).
//!
//! The 8-byte USB setup packet inside CMD_SUBMIT keeps the bus's little-endian order ([`Setup`]).

use super::descriptors::{BCD_DEVICE, PRODUCT_ID, VENDOR_ID};

const USBIP_VERSION: u16 = 0x0111;
pub(super) const OP_REQ_DEVLIST: u16 = 0x8005;
const OP_REP_DEVLIST: u16 = 0x0005;
pub(super) const OP_REQ_IMPORT: u16 = 0x8003;
pub(super) const OP_REP_IMPORT: u16 = 0x0003;

const CMD_SUBMIT: u32 = 1;
const CMD_UNLINK: u32 = 2;
const RET_SUBMIT: u32 = 3;
const RET_UNLINK: u32 = 4;

const HEADER_LEN: usize = 48;
/// Linux errno values travel as they are in the status fields.
pub(super) const EPIPE: i32 = 32;
pub(super) const ECONNRESET: i32 = 104;
pub(super) const EINVAL: i32 = 22;
/// `enum usb_device_speed`: USB_SPEED_FULL. The bridge is a 12 Mbit/s USB 1.1 device.
const SPEED_FULL: u32 = 2;

/// Longest OUT transfer accepted; the device's only OUT traffic is 8-byte reports.
const MAX_OUT: usize = 4096;
/// More ISO packet descriptors than this in a header is a broken client.
const MAX_ISO_PACKETS: u32 = 1024;

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
pub(super) enum Urb {
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
pub(super) enum WireError {
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
pub(super) fn parse_urb(buf: &[u8]) -> Result<Option<(Urb, usize)>, WireError> {
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

pub(super) fn ret_submit(seqnum: u32, status: i32, actual_length: usize, data: &[u8]) -> Vec<u8> {
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

pub(super) fn ret_unlink(seqnum: u32, status: i32) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_LEN);
    m.extend_from_slice(&RET_UNLINK.to_be_bytes());
    m.extend_from_slice(&seqnum.to_be_bytes());
    m.extend_from_slice(&[0; 12]);
    m.extend_from_slice(&status.to_be_bytes());
    m.extend_from_slice(&[0; 24]);
    m
}

pub(super) fn op_header(code: u16, status: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(8);
    m.extend_from_slice(&USBIP_VERSION.to_be_bytes());
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(&status.to_be_bytes());
    m
}

/// How the device appears in OP_REP_DEVLIST and OP_REP_IMPORT.
#[derive(Debug, Clone)]
pub(super) struct Export {
    pub(super) busid: String,
    busnum: u32,
    devnum: u32,
}

impl Export {
    pub(super) fn new(busid: &str) -> Export {
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
    pub(super) fn device_record(&self) -> Vec<u8> {
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

    pub(super) fn devlist(&self, plugged: bool) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_record_is_312_bytes() {
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
