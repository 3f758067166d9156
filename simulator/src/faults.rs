//! Byte-level faults applied by the front ends to what a device transmits: corrupted checksums,
//! dropped bytes, garbage, slow replies, silence. They are per device and can be changed at run
//! time through the control API. Protocol-level faults (`(NAK`, `^0`) belong to the models.

use serde::{Deserialize, Serialize};

use crate::config::DeviceKind;
use crate::rng::SimRng;

/// The fault switches of one device. Probabilities are per byte (`drop_rate`) or per frame
/// (`garbage_rate`), in 0..=1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Corrupt the CRC / checksum byte of every reply, text block and HEX frame.
    pub corrupt_checksum: bool,
    /// Probability that each transmitted byte is lost.
    pub drop_rate: f64,
    /// Probability that random garbage bytes precede a transmitted frame.
    pub garbage_rate: f64,
    /// Extra delay before each reply, in milliseconds of real time.
    pub slow_ms: u64,
    /// Transmit nothing at all (the device is powered but mute).
    pub silent: bool,
    /// Inverter: answer every command with `(NAK`.
    pub nak: bool,
    /// Inverter: answer every command with `^0` like a PI17/PI18 unit.
    pub pi18: bool,
    /// Old MPPT firmware: no output at all while there is no PV (night).
    pub night_silence: bool,
}

impl Faults {
    /// Check ranges so a bad control request is refused instead of half applied.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("drop_rate", self.drop_rate),
            ("garbage_rate", self.garbage_rate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be within 0..=1, got {p}"));
            }
        }
        if self.slow_ms > 60_000 {
            return Err(format!(
                "slow_ms must be at most 60000, got {}",
                self.slow_ms
            ));
        }
        Ok(())
    }

    /// Whether any byte-level fault changes the transmitted bytes.
    fn mangles(&self) -> bool {
        self.corrupt_checksum || self.drop_rate > 0.0 || self.garbage_rate > 0.0
    }
}

/// The fault keys (the fields of [`Faults`], as the control API names them) that change what a
/// device of this kind does: `slow_ms` delays replies to requests, which only the inverter has
/// (VE.Direct devices talk on their own); `nak` and `pi18` are PI30 replies; `night_silence` is
/// old MPPT firmware.
pub fn applicable(kind: DeviceKind) -> &'static [&'static str] {
    const BYTE_LEVEL: [&str; 4] = ["corrupt_checksum", "drop_rate", "garbage_rate", "silent"];
    match kind {
        DeviceKind::Inverter => &[
            BYTE_LEVEL[0],
            BYTE_LEVEL[1],
            BYTE_LEVEL[2],
            BYTE_LEVEL[3],
            "slow_ms",
            "nak",
            "pi18",
        ],
        DeviceKind::Bmv => &BYTE_LEVEL,
        DeviceKind::Mppt => &[
            BYTE_LEVEL[0],
            BYTE_LEVEL[1],
            BYTE_LEVEL[2],
            BYTE_LEVEL[3],
            "night_silence",
        ],
    }
}

/// A byte that replaces a checksum byte so that the result is surely wrong: not the original, not
/// the original + 1 (which a PI30 decoder accepts as an escaped CRC byte), and not a frame
/// delimiter (which would change the framing instead of the checksum).
pub fn corrupt_byte(b: u8) -> u8 {
    let mut c = b.wrapping_add(0x11);
    while matches!(c, b'\r' | b'\n' | b'(' | b':' | 0) || c == b.wrapping_add(1) {
        c = c.wrapping_add(0x13);
    }
    c
}

/// Where the checksum bytes of the frames in `bytes` are: the CRC byte before each `\r` of a PI30
/// frame, the byte after each `Checksum\t` of a VE.Direct text block, and the last hex digit
/// before each `\n` of a HEX frame.
fn checksum_positions(bytes: &[u8]) -> Vec<ChecksumAt> {
    let mut positions = Vec::new();
    const LABEL: &[u8] = b"Checksum\t";
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(LABEL) && i + LABEL.len() < bytes.len() {
            positions.push(ChecksumAt::Byte(i + LABEL.len()));
            i += LABEL.len() + 1;
            continue;
        }
        match bytes[i] {
            b'\r' if i > 0 && bytes.get(i + 1) != Some(&b'\n') => {
                positions.push(ChecksumAt::Byte(i - 1))
            }
            b'\n' if i > 0 && bytes[i - 1] != b'\r' => positions.push(ChecksumAt::HexDigit(i - 1)),
            _ => {}
        }
        i += 1;
    }
    positions
}

/// A checksum to corrupt: a raw byte (PI30 CRC, text checksum) or the last hex digit of a HEX
/// frame's check byte (which must stay a hex digit so the line still frames as HEX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChecksumAt {
    Byte(usize),
    HexDigit(usize),
}

/// Apply the byte-level faults to one chunk a device is about to transmit.
pub fn apply(faults: &Faults, rng: &mut SimRng, bytes: Vec<u8>) -> Vec<u8> {
    if faults.silent {
        return Vec::new();
    }
    if !faults.mangles() {
        return bytes;
    }
    let mut bytes = bytes;
    if faults.corrupt_checksum {
        for at in checksum_positions(&bytes) {
            match at {
                ChecksumAt::Byte(pos) => {
                    if let Some(b) = bytes.get_mut(pos) {
                        *b = corrupt_byte(*b);
                    }
                }
                ChecksumAt::HexDigit(pos) => {
                    if let Some(b) = bytes.get_mut(pos) {
                        *b = if *b == b'0' { b'1' } else { b'0' };
                    }
                }
            }
        }
    }
    let mut out = Vec::with_capacity(bytes.len() + 8);
    if faults.garbage_rate > 0.0 && rng.chance(faults.garbage_rate) {
        let n = 1 + (rng.next_u64() % 8) as usize;
        for _ in 0..n {
            out.push((rng.next_u64() & 0xff) as u8);
        }
    }
    for b in bytes {
        if faults.drop_rate > 0.0 && rng.chance(faults.drop_rate) {
            continue;
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_byte_is_never_a_valid_escape_or_delimiter() {
        for b in 0..=255u8 {
            let c = corrupt_byte(b);
            assert_ne!(c, b);
            assert_ne!(c, b.wrapping_add(1));
            assert!(!matches!(c, b'\r' | b'\n' | b'(' | b':' | 0));
        }
    }

    #[test]
    fn checksum_positions_cover_all_three_frame_kinds() {
        let pi30 = b"(PI30\x9a\x0b\r";
        assert_eq!(checksum_positions(pi30), vec![ChecksumAt::Byte(6)]);
        let text = b"\r\nV\t12530\r\nChecksum\t\xB1";
        assert_eq!(
            checksum_positions(text),
            vec![ChecksumAt::Byte(text.len() - 1)]
        );
        let hex = b":A0102000543\n";
        assert_eq!(
            checksum_positions(hex),
            vec![ChecksumAt::HexDigit(hex.len() - 2)]
        );
    }

    #[test]
    fn silent_and_clean_paths() {
        let mut rng = SimRng::new(1);
        let frame = b"(PI30\x9a\x0b\r".to_vec();
        assert_eq!(apply(&Faults::default(), &mut rng, frame.clone()), frame);
        let silent = Faults {
            silent: true,
            ..Faults::default()
        };
        assert!(apply(&silent, &mut rng, frame.clone()).is_empty());
        let corrupt = Faults {
            corrupt_checksum: true,
            ..Faults::default()
        };
        let bad = apply(&corrupt, &mut rng, frame.clone());
        assert_eq!(bad.len(), frame.len());
        assert_ne!(bad, frame);
        assert_eq!(bad[..6], frame[..6]);
    }

    #[test]
    fn applicable_keys_are_fault_keys_and_cover_them_all() {
        let json = serde_json::to_value(Faults::default()).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut used = std::collections::BTreeSet::new();
        for kind in [DeviceKind::Inverter, DeviceKind::Bmv, DeviceKind::Mppt] {
            for key in applicable(kind) {
                assert!(keys.contains(key), "{key} is no fault key");
                used.insert(*key);
            }
        }
        assert_eq!(
            used.len(),
            keys.len(),
            "a fault key applies to no device kind"
        );
    }

    #[test]
    fn validate_refuses_bad_probabilities() {
        let f = Faults {
            drop_rate: 1.5,
            ..Faults::default()
        };
        assert!(f.validate().is_err());
        let f = Faults {
            garbage_rate: -0.1,
            ..Faults::default()
        };
        assert!(f.validate().is_err());
        assert!(Faults::default().validate().is_ok());
    }
}
