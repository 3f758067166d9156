//! Descriptors of the Cypress USB-HID bridge that Voltronic units carry, as the simulated device
//! answers GET_DESCRIPTOR: device, configuration (interface, HID, endpoint), string and HID report
//! descriptors (USB 2.0 §9.6, HID 1.11 §6.2; multi-byte fields little-endian). Device layout: one
//! configuration, one HID interface, interrupt IN 0x81, 8-byte input and output reports, no
//! report ids.

pub const VENDOR_ID: u16 = 0x0665;
pub const PRODUCT_ID: u16 = 0x5161;
/// The size of every input and output report.
pub const REPORT_LEN: usize = 8;
/// The interrupt IN endpoint.
pub const EP_IN: u8 = 0x81;
const INTERVAL_MS: u8 = 10;
pub(super) const BCD_DEVICE: u16 = 0x0002;

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
pub(super) const DEVICE_DESCRIPTOR: [u8; 18] = [
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
pub(super) const CONFIG_DESCRIPTOR: [u8; CONFIG_TOTAL as usize] = [
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
pub(super) fn hid_descriptor() -> &'static [u8] {
    CONFIG_DESCRIPTOR.get(18..27).unwrap_or_default()
}

const MANUFACTURER: &str = "Cypress Semiconductor";
const PRODUCT: &str = "USB to Serial";

/// String descriptor `index` (0: the language list, en-US only).
pub(super) fn string_descriptor(index: u8) -> Option<Vec<u8>> {
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
    }
}
