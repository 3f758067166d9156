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
//!
//! # Modules
//!
//! - `descriptors`: the Cypress bridge's device, configuration, HID and report descriptors;
//! - `urb`: the USB/IP wire codec (operation headers, the DEVICE record, CMD_SUBMIT/CMD_UNLINK
//!   parsing, RET_SUBMIT/RET_UNLINK encoding);
//! - `session`: one imported connection (URB handling, held interrupt IN URBs, SET_REPORT /
//!   GET_REPORT, the unit's processing delay);
//! - `server`: the accept loop, OP_REQ_DEVLIST and OP_REQ_IMPORT.

mod descriptors;
mod server;
mod session;
mod urb;

pub use descriptors::{EP_IN, PRODUCT_ID, REPORT_DESCRIPTOR, REPORT_LEN, VENDOR_ID};
pub use server::serve_usbip;
pub use urb::Setup;
