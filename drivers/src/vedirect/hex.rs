//! VE.Direct HEX protocol frames.
//!
//! Spec: "VE.Direct Protocol – BlueSolar and SmartSolar MPPT chargers" Rev 10 and "BMV700 Series Hex
//! Protocol" Rev 6 (the BMV and MPPT HEX protocol documents), section 1.
//!
//! Frame layout (ASCII on the wire, every byte after the command nibble as two uppercase hex digits):
//!
//! ```text
//! ':'  <command: 1 hex digit>  <data byte>*  <check byte>  '\n'
//!        e.g. ":7F0ED0071\n" = Get (7), id 0xEDF0 (little-endian F0 ED), flags 00, check 0x71
//! ```
//!
//! `(command + sum(data) + check) % 256 == 0x55`. Everything is little-endian, including register ids
//! (`:8 0320 00 ...` sets 0x2003). Register frames (Get 7 / Set 8 / Async A) carry
//! `id: u16 LE, flags: u8, value: bytes`.
//!
//! The command nibbles 1, 3 and 4 mean different things in each direction (host→device: Ping, App
//! version, Product id; device→host: Done, Unknown, Error). A [`HexFrame`] is therefore kept
//! direction-neutral — exactly what the wire carries, a [`HexCommand`] nibble and its payload — and
//! the caller, who knows which way the frame travelled, interprets it with [`HexFrame::request`] or
//! [`HexFrame::response`]. [`HexFrame::as_register`] gives the register view (id, flags, value) of
//! Get/Set/Async frames, which share one layout in both directions.

use serde::Serialize;
use std::fmt;

/// The sum every frame's command nibble, data bytes and check byte add up to (mod 256).
pub const HEX_CHECK_TARGET: u8 = 0x55;
/// The largest payload (data bytes, excluding the check byte) [`decode_frame`] accepts. Real
/// frames stay below 40 bytes (a 34-byte history record plus id and flags); 255 leaves headroom.
pub const MAX_PAYLOAD: usize = 255;

/// Errors of the HEX codec and of register value conversion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("HEX frame must start with ':'")]
    MissingColon,
    #[error(
        "HEX frame too short: {digits} hex digit(s) after ':', need a command nibble and a check byte"
    )]
    TooShort { digits: usize },
    #[error("HEX frame too long: {bytes} data bytes, at most {max} allowed")]
    TooLong { bytes: usize, max: usize },
    #[error("invalid hex digit {byte:#04x} at offset {offset} of HEX frame")]
    InvalidDigit { offset: usize, byte: u8 },
    #[error("HEX frame has an odd number of digits after the command nibble ({digits})")]
    OddDigitCount { digits: usize },
    #[error("HEX frame check byte wrong: expected {expected:#04x}, got {got:#04x}")]
    Checksum { expected: u8, got: u8 },
    #[error("HEX frame command {command:#x} is not a register frame (get/set/async)")]
    NotRegisterFrame { command: u8 },
    #[error("register frame too short: {len} byte(s), need id (2) and flags (1)")]
    RegisterFrameTooShort { len: usize },
    #[error("register {id:#06x}: value has {got} byte(s), expected {expected}")]
    ValueLength {
        id: u16,
        expected: usize,
        got: usize,
    },
    #[error("value has {got} byte(s), expected {expected}")]
    Length { expected: usize, got: usize },
    #[error("register {id:#06x}: {value} is out of range {min}..={max}")]
    OutOfRange {
        id: u16,
        value: String,
        min: String,
        max: String,
    },
    #[error("register {id:#06x}: value {value} encodes to the reserved \"not available\" pattern")]
    ReservedValue { id: u16, value: String },
    #[error("register {id:#06x} ({kind}) has no numeric encoding")]
    NotNumeric { id: u16, kind: &'static str },
    /// A measurement, status or identification register: the device would answer a set with
    /// flag 0x02 ("Attempting to write to a read only value"), so none is sent.
    #[error("{name} ({id:#06X}) is read-only")]
    ReadOnly { id: u16, name: &'static str },
    /// A write-only command (restore defaults, zero current, ...): it triggers an action, it is
    /// not a setting.
    #[error("{name} ({id:#06X}) is a write-only command, not a setting")]
    WriteOnlyCommand { id: u16, name: &'static str },
    /// Outside the documented range of a setting (or the type's range where none is documented).
    /// `unit` is empty or starts with a space (" V").
    #[error("{name}: {value}{unit} is outside {min}..={max}{unit}")]
    OutsideRange {
        id: u16,
        name: &'static str,
        value: String,
        min: String,
        max: String,
        unit: String,
    },
}

/// The command/response nibble of a frame. Nibbles 1, 3 and 4 are shared by a request and a
/// response with different meanings; their variant names say both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[repr(u8)]
pub enum HexCommand {
    /// 0: host→device "enter boot" (payload 0x51FA51FA51FA51FA51FA).
    EnterBoot = 0x0,
    /// 1: host→device "ping"; device→host "done" (answer to app version / product id).
    PingOrDone = 0x1,
    Reserved2 = 0x2,
    /// 3: host→device "application version"; device→host "unknown command".
    AppVersionOrUnknown = 0x3,
    /// 4: host→device "product id"; device→host "error" (0xAAAA = framing error).
    ProductIdOrError = 0x4,
    /// 5: device→host "ping reply" (firmware version and type).
    PingReply = 0x5,
    /// 6: host→device "restart" (no reply).
    Restart = 0x6,
    /// 7: get request / get reply.
    Get = 0x7,
    /// 8: set request / set reply.
    Set = 0x8,
    Reserved9 = 0x9,
    /// A: device→host asynchronous register report.
    Async = 0xA,
    ReservedB = 0xB,
    ReservedC = 0xC,
    ReservedD = 0xD,
    ReservedE = 0xE,
    ReservedF = 0xF,
}

impl HexCommand {
    /// The command for a nibble (only the low 4 bits are used).
    pub fn from_nibble(nibble: u8) -> Self {
        use HexCommand::*;
        match nibble & 0x0F {
            0x0 => EnterBoot,
            0x1 => PingOrDone,
            0x2 => Reserved2,
            0x3 => AppVersionOrUnknown,
            0x4 => ProductIdOrError,
            0x5 => PingReply,
            0x6 => Restart,
            0x7 => Get,
            0x8 => Set,
            0x9 => Reserved9,
            0xA => Async,
            0xB => ReservedB,
            0xC => ReservedC,
            0xD => ReservedD,
            0xE => ReservedE,
            _ => ReservedF,
        }
    }

    pub fn nibble(self) -> u8 {
        self as u8
    }
}

/// Get/Set reply flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct HexFlags(pub u8);

impl HexFlags {
    /// 0x01: the register id does not exist (also what a byte-swapped id gets, see H35).
    pub const UNKNOWN_ID: u8 = 0x01;
    /// 0x02: attempt to write a read-only value.
    pub const NOT_SUPPORTED: u8 = 0x02;
    /// 0x04: the new value is out of range or inconsistent (the reply carries the nearest valid).
    pub const PARAMETER_ERROR: u8 = 0x04;

    pub fn is_ok(self) -> bool {
        self.0 == 0
    }
    pub fn unknown_id(self) -> bool {
        self.0 & Self::UNKNOWN_ID != 0
    }
    pub fn not_supported(self) -> bool {
        self.0 & Self::NOT_SUPPORTED != 0
    }
    pub fn parameter_error(self) -> bool {
        self.0 & Self::PARAMETER_ERROR != 0
    }
}

impl fmt::Display for HexFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return f.write_str("ok");
        }
        let mut parts = Vec::new();
        if self.unknown_id() {
            parts.push("unknown id");
        }
        if self.not_supported() {
            parts.push("not supported");
        }
        if self.parameter_error() {
            parts.push("parameter error");
        }
        if self.0 & !0x07 != 0 {
            parts.push("reserved flags");
        }
        write!(f, "{} ({:#04x})", parts.join(", "), self.0)
    }
}

/// The register view of a Get / Set / Async frame: `id (LE u16), flags, value bytes (LE)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterFrame {
    pub id: u16,
    pub flags: HexFlags,
    pub value: Vec<u8>,
}

impl RegisterFrame {
    fn to_payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(3 + self.value.len());
        p.extend_from_slice(&self.id.to_le_bytes());
        p.push(self.flags.0);
        p.extend_from_slice(&self.value);
        p
    }

    fn from_payload(payload: &[u8]) -> Result<Self, HexError> {
        match payload {
            [lo, hi, flags, value @ ..] => Ok(RegisterFrame {
                id: u16::from_le_bytes([*lo, *hi]),
                flags: HexFlags(*flags),
                value: value.to_vec(),
            }),
            _ => Err(HexError::RegisterFrameTooShort { len: payload.len() }),
        }
    }
}

/// Firmware type in the top two bits of a ping reply / app version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FirmwareKind {
    Bootloader,
    Application,
    Tester,
    ReleaseCandidate,
}

/// A 16-bit firmware version word (ping reply payload, app version "done" payload), e.g. 0x4401 =
/// application v4.01, 0xD101 = release candidate D of v1.01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FirmwareVersion(pub u16);

impl FirmwareVersion {
    pub fn kind(self) -> FirmwareKind {
        match self.0 >> 14 {
            0 => FirmwareKind::Bootloader,
            1 => FirmwareKind::Application,
            2 => FirmwareKind::Tester,
            _ => FirmwareKind::ReleaseCandidate,
        }
    }
}

impl fmt::Display for FirmwareVersion {
    /// "4.01"; release candidates as "1.01-rcD". The version digits are read as hex digits, as
    /// the spec says ("0x0101 is version 1.01").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let major = (self.0 >> 8) & 0x0F;
        let minor = self.0 & 0xFF;
        write!(f, "{major:X}.{minor:02X}")?;
        if self.kind() == FirmwareKind::ReleaseCandidate {
            write!(f, "-rc{:X}", self.0 >> 12)?;
        }
        Ok(())
    }
}

/// A frame read as a host→device request (what a device, or the simulator, receives).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum HexRequest {
    EnterBoot(Vec<u8>),
    Ping,
    AppVersion,
    ProductId,
    Restart,
    Get {
        id: u16,
        flags: HexFlags,
    },
    Set(RegisterFrame),
    /// Anything else (reserved nibbles, unexpected payloads on ping & co, short register frames).
    Other {
        command: HexCommand,
        payload: Vec<u8>,
    },
}

/// A frame read as a device→host response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum HexResponse {
    /// 1: successful execution; payload depends on the command (app version → version word,
    /// product id → product id, both little-endian u16).
    Done(Vec<u8>),
    /// 3: unknown command; the payload names the command the device did not know.
    Unknown(Vec<u8>),
    /// 4: error; 0xAAAA = framing error (e.g. bad check byte), 0 = unable to enter the bootloader.
    Error(Vec<u8>),
    /// 5: ping reply with the firmware version word.
    Ping(FirmwareVersion),
    Get(RegisterFrame),
    Set(RegisterFrame),
    Async(RegisterFrame),
    Other {
        command: HexCommand,
        payload: Vec<u8>,
    },
}

/// One HEX frame as carried on the wire: the command nibble and the data bytes (check byte
/// excluded; [`HexFrame::encode`] computes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HexFrame {
    pub command: HexCommand,
    pub payload: Vec<u8>,
}

/// The check byte that makes `(command + sum(data) + check) % 256 == 0x55`.
pub fn checksum_byte(command: u8, data: &[u8]) -> u8 {
    let sum = data
        .iter()
        .fold(command & 0x0F, |acc, b| acc.wrapping_add(*b));
    HEX_CHECK_TARGET.wrapping_sub(sum)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        // The spec demands uppercase; accepting lowercase costs nothing and loses nothing.
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// Decode one frame. `line` starts with ':'; a trailing `\n` (optionally preceded by `\r`) is
/// accepted and ignored. The check byte is verified and stripped.
pub fn decode_frame(line: &[u8]) -> Result<HexFrame, HexError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.strip_prefix(b":").ok_or(HexError::MissingColon)?;
    if digits.len() < 3 {
        return Err(HexError::TooShort {
            digits: digits.len(),
        });
    }
    let data_digits = digits.len() - 1;
    if data_digits % 2 != 0 {
        return Err(HexError::OddDigitCount {
            digits: data_digits,
        });
    }
    let bytes = data_digits / 2; // data + check
    if bytes - 1 > MAX_PAYLOAD {
        return Err(HexError::TooLong {
            bytes: bytes - 1,
            max: MAX_PAYLOAD,
        });
    }
    let digit = |i: usize| -> Result<u8, HexError> {
        let byte = digits.get(i).copied().unwrap_or(0);
        hex_value(byte).ok_or(HexError::InvalidDigit {
            offset: i + 1,
            byte,
        })
    };
    let command = digit(0)?;
    let mut data = Vec::with_capacity(bytes);
    for i in 0..bytes {
        let hi = digit(1 + 2 * i)?;
        let lo = digit(2 + 2 * i)?;
        data.push(hi << 4 | lo);
    }
    let got = data.pop().unwrap_or(0);
    let expected = checksum_byte(command, &data);
    if got != expected {
        return Err(HexError::Checksum { expected, got });
    }
    Ok(HexFrame {
        command: HexCommand::from_nibble(command),
        payload: data,
    })
}

impl HexFrame {
    pub fn new(command: HexCommand, payload: Vec<u8>) -> Self {
        HexFrame { command, payload }
    }

    /// `:154` — ping; the device answers with a [`HexResponse::Ping`].
    pub fn ping() -> Self {
        Self::new(HexCommand::PingOrDone, Vec::new())
    }

    /// `:352` — application version; answered with [`HexResponse::Done`].
    pub fn app_version() -> Self {
        Self::new(HexCommand::AppVersionOrUnknown, Vec::new())
    }

    /// `:451` — product id; answered with [`HexResponse::Done`].
    pub fn product_id() -> Self {
        Self::new(HexCommand::ProductIdOrError, Vec::new())
    }

    /// `:64F` — restart; no answer.
    pub fn restart() -> Self {
        Self::new(HexCommand::Restart, Vec::new())
    }

    /// Get register `id` (flags 0).
    pub fn get(id: u16) -> Self {
        let [lo, hi] = id.to_le_bytes();
        Self::new(HexCommand::Get, vec![lo, hi, 0])
    }

    /// Set register `id` (flags 0) to `value` (already little-endian, see
    /// [`Register::encode_setting`](super::registers::Register::encode_setting)).
    pub fn set(id: u16, value: &[u8]) -> Self {
        Self::register(
            HexCommand::Set,
            &RegisterFrame {
                id,
                flags: HexFlags(0),
                value: value.to_vec(),
            },
        )
    }

    /// A Get/Set/Async frame (replies included) from its register view.
    pub fn register(command: HexCommand, frame: &RegisterFrame) -> Self {
        Self::new(command, frame.to_payload())
    }

    /// The check byte [`encode`](Self::encode) appends.
    pub fn check(&self) -> u8 {
        checksum_byte(self.command.nibble(), &self.payload)
    }

    /// `:` + command digit + payload + check byte as uppercase hex digits + `\n`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + 2 * self.payload.len());
        out.push(b':');
        out.push(HEX_DIGITS[usize::from(self.command.nibble() & 0x0F)]);
        for b in self.payload.iter().copied().chain([self.check()]) {
            out.push(HEX_DIGITS[usize::from(b >> 4)]);
            out.push(HEX_DIGITS[usize::from(b & 0x0F)]);
        }
        out.push(b'\n');
        out
    }

    /// True for Get (7), Set (8) and Async (A), the frames with the register layout.
    pub fn is_register(&self) -> bool {
        matches!(
            self.command,
            HexCommand::Get | HexCommand::Set | HexCommand::Async
        )
    }

    /// The register view (id, flags, value) of a Get/Set/Async frame, request or reply.
    pub fn as_register(&self) -> Option<RegisterFrame> {
        self.register_frame().ok()
    }

    /// Like [`as_register`](Self::as_register), saying why not.
    pub fn register_frame(&self) -> Result<RegisterFrame, HexError> {
        if !self.is_register() {
            return Err(HexError::NotRegisterFrame {
                command: self.command.nibble(),
            });
        }
        RegisterFrame::from_payload(&self.payload)
    }

    /// The payload as a little-endian u16 (version words, product ids), if it is exactly 2 bytes.
    pub fn payload_u16(&self) -> Option<u16> {
        match self.payload.as_slice() {
            [lo, hi] => Some(u16::from_le_bytes([*lo, *hi])),
            _ => None,
        }
    }

    /// Interpret the frame as a host→device request.
    pub fn request(&self) -> HexRequest {
        let other = || HexRequest::Other {
            command: self.command,
            payload: self.payload.clone(),
        };
        let empty = self.payload.is_empty();
        match self.command {
            HexCommand::EnterBoot => HexRequest::EnterBoot(self.payload.clone()),
            HexCommand::PingOrDone if empty => HexRequest::Ping,
            HexCommand::AppVersionOrUnknown if empty => HexRequest::AppVersion,
            HexCommand::ProductIdOrError if empty => HexRequest::ProductId,
            HexCommand::Restart if empty => HexRequest::Restart,
            HexCommand::Get => match self.register_frame() {
                Ok(r) if r.value.is_empty() => HexRequest::Get {
                    id: r.id,
                    flags: r.flags,
                },
                _ => other(),
            },
            HexCommand::Set => match self.register_frame() {
                Ok(r) => HexRequest::Set(r),
                Err(_) => other(),
            },
            _ => other(),
        }
    }

    /// Interpret the frame as a device→host response.
    pub fn response(&self) -> HexResponse {
        let other = || HexResponse::Other {
            command: self.command,
            payload: self.payload.clone(),
        };
        match self.command {
            HexCommand::PingOrDone => HexResponse::Done(self.payload.clone()),
            HexCommand::AppVersionOrUnknown => HexResponse::Unknown(self.payload.clone()),
            HexCommand::ProductIdOrError => HexResponse::Error(self.payload.clone()),
            HexCommand::PingReply => match self.payload_u16() {
                Some(v) => HexResponse::Ping(FirmwareVersion(v)),
                None => other(),
            },
            HexCommand::Get | HexCommand::Set | HexCommand::Async => match self.register_frame() {
                Ok(r) => match self.command {
                    HexCommand::Get => HexResponse::Get(r),
                    HexCommand::Set => HexResponse::Set(r),
                    _ => HexResponse::Async(r),
                },
                Err(_) => other(),
            },
            _ => other(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(s: &str) -> HexFrame {
        decode_frame(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Decode, check the re-encoding is byte-exact, return the frame.
    fn golden(s: &str) -> HexFrame {
        let f = dec(s);
        assert_eq!(
            String::from_utf8(f.encode()).unwrap(),
            format!("{s}\n"),
            "re-encode of {s}"
        );
        // The trailing newline (and a CR) are optional on decode.
        assert_eq!(decode_frame(format!("{s}\n").as_bytes()).unwrap(), f);
        assert_eq!(decode_frame(format!("{s}\r\n").as_bytes()).unwrap(), f);
        f
    }

    fn reg(s: &str) -> RegisterFrame {
        golden(s).as_register().unwrap()
    }

    #[test]
    fn h1_h2_h3_bmv_ping_version_product() {
        // H1 (OFFICIAL, BMV): ping -> ping reply 0x4401 = application v4.01
        assert_eq!(golden(":154"), HexFrame::ping());
        assert_eq!(golden(":154").request(), HexRequest::Ping);
        let HexResponse::Ping(v) = golden(":501440B").response() else {
            panic!()
        };
        assert_eq!(v, FirmwareVersion(0x4401));
        assert_eq!(v.kind(), FirmwareKind::Application);
        assert_eq!(v.to_string(), "4.01");
        // H2: app version -> Done 0x4401
        assert_eq!(golden(":352"), HexFrame::app_version());
        let done = golden(":101440F");
        assert_eq!(done.response(), HexResponse::Done(vec![0x01, 0x44]));
        assert_eq!(done.payload_u16(), Some(0x4401));
        // H3: product id -> Done 0xA381 = BMV-712
        assert_eq!(golden(":451"), HexFrame::product_id());
        assert_eq!(golden(":451").request(), HexRequest::ProductId);
        assert_eq!(golden(":181A330").payload_u16(), Some(0xA381));
    }

    #[test]
    fn h4_restart() {
        // H4 (OFFICIAL): restart, no response
        assert_eq!(golden(":64F"), HexFrame::restart());
        assert_eq!(golden(":64F").request(), HexRequest::Restart);
    }

    #[test]
    fn h5_to_h8_bmv_battery_capacity() {
        // H5: get 0x1000 -> 0x00C8 = 200 Ah
        assert_eq!(golden(":70010003E"), HexFrame::get(0x1000));
        assert_eq!(
            golden(":70010003E").request(),
            HexRequest::Get {
                id: 0x1000,
                flags: HexFlags(0)
            }
        );
        let r = reg(":7001000C80076");
        assert_eq!(
            (r.id, r.flags, r.value),
            (0x1000, HexFlags(0), vec![0xC8, 0x00])
        );
        // H6: set 500 Ah, echoed
        assert_eq!(
            golden(":8001000F40148"),
            HexFrame::set(0x1000, &[0xF4, 0x01])
        );
        // H7: set 0 -> parameter error, nearest valid 1 Ah
        assert_eq!(golden(":800100000003D"), HexFrame::set(0x1000, &[0, 0]));
        let r = reg(":8001004010038");
        assert!(r.flags.parameter_error() && !r.flags.unknown_id());
        assert_eq!(r.value, vec![0x01, 0x00]);
        assert!(matches!(
            golden(":8001004010038").response(),
            HexResponse::Set(_)
        ));
        // H8: get again -> 500 Ah
        assert_eq!(reg(":7001000F40149").value, vec![0xF4, 0x01]);
    }

    #[test]
    fn h9_to_h13_mppt_official() {
        // H9: ping -> 0x4116 = application v1.16
        let HexResponse::Ping(v) = golden(":51641F9").response() else {
            panic!()
        };
        assert_eq!(v.to_string(), "1.16");
        // H10: app version v1.16
        assert_eq!(golden(":11641FD").payload_u16(), Some(0x4116));
        // H11: product id 0x0300 = BlueSolar MPPT 70/15
        assert_eq!(golden(":1000351").payload_u16(), Some(0x0300));
        // H12: get 0xEDF0 -> 0x0096 = 15.0 A
        assert_eq!(golden(":7F0ED0071"), HexFrame::get(0xEDF0));
        let r = reg(":7F0ED009600DB");
        assert_eq!((r.id, r.value), (0xEDF0, vec![0x96, 0x00]));
        // H13: set 0xEDF0 = 10.0 A, echoed
        assert_eq!(
            golden(":8F0ED0064000C"),
            HexFrame::set(0xEDF0, &[0x64, 0x00])
        );
    }

    #[test]
    fn h14_unknown_and_h15_error() {
        // H14: unsupported command 2 -> response 3 "Unknown", payload names the command
        let req = golden(":253");
        assert_eq!(req.command, HexCommand::Reserved2);
        assert_eq!(
            golden(":3020050").response(),
            HexResponse::Unknown(vec![0x02, 0x00])
        );
        // H15: Victron's deliberately corrupted request `:452` (sums to 0x56)
        assert_eq!(
            decode_frame(b":452\n"),
            Err(HexError::Checksum {
                expected: 0x51,
                got: 0x52
            })
        );
        let msg = decode_frame(b":452").unwrap_err().to_string();
        assert!(
            msg.contains("expected 0x51") && msg.contains("got 0x52"),
            "{msg}"
        );
        // ... and the device's framing-error answer 0xAAAA
        assert_eq!(
            golden(":4AAAAFD").response(),
            HexResponse::Error(vec![0xAA, 0xAA])
        );
    }

    #[test]
    fn h16_h17_async_and_soc() {
        // H16: async 0x0201 device state = 5 (float)
        let f = golden(":A0102000543");
        assert_eq!(f.command, HexCommand::Async);
        let HexResponse::Async(r) = f.response() else {
            panic!()
        };
        assert_eq!((r.id, r.flags, r.value), (0x0201, HexFlags(0), vec![5]));
        // H17: get 0x0FFF SOC
        assert_eq!(golden(":7FF0F0040"), HexFrame::get(0x0FFF));
    }

    #[test]
    fn h18_to_h23_go_victron_captures() {
        // H18: product id 0xA056
        assert_eq!(golden(":156A05E").payload_u16(), Some(0xA056));
        // H19: reg 0x0100, 4 bytes 00 56 A0 FF
        assert_eq!(golden(":70001004D"), HexFrame::get(0x0100));
        assert_eq!(
            reg(":70001000056A0FF58").value,
            vec![0x00, 0x56, 0xA0, 0xFF]
        );
        // H20: 0xEDF2 = 0xF9AC
        assert_eq!(golden(":7F2ED006F"), HexFrame::get(0xEDF2));
        assert_eq!(reg(":7F2ED00ACF9CA").value, vec![0xAC, 0xF9]);
        // H21: model name string with NUL terminator
        assert_eq!(golden(":70B010042"), HexFrame::get(0x010B));
        let r = reg(":70B0100536D617274536F6C61722043686172676572204D505054203130302F333000BA");
        assert_eq!(r.value.last(), Some(&0));
        assert!(r.value.starts_with(b"SmartSolar Charger MPPT 100/30"));
        // H22: unknown register -> flags 0x01, no value bytes
        assert_eq!(golden(":777770060"), HexFrame::get(0x7777));
        let r = reg(":77777015F");
        assert!(r.flags.unknown_id() && r.value.is_empty());
        assert_eq!(r.flags.to_string(), "unknown id (0x01)");
        // H23: 0xEDD0 reply, value 0
        let r = reg(":7D0ED00000091");
        assert_eq!((r.id, r.value), (0xEDD0, vec![0, 0]));
    }

    #[test]
    fn h24_to_h35b_real_captures() {
        // H24 0xEDDB, H25 0xEDEC N/A, H26/H30 0x2027, H27 0x2002 N/A, H28 0x200A N/A, H29 0xEDBC
        for (s, id) in [
            (":7DBED009E16D2", 0xEDDB),
            (":7ECED00FFFF77", 0xEDEC),
            (":72720005450010062", 0x2027),
            (":A022000FFFF2B", 0x2002),
            (":A0A2000FFFFFF7FA5", 0x200A),
            (":ABCED00355001001C", 0xEDBC),
            (":7272000FFFFFFFF0B", 0x2027),
            (":7F7ED00441610", 0xEDF7), // H31
            (":7F6ED00EA156C", 0xEDF6),
            (":ADBED001A0D5C", 0xEDDB), // H32
            (":A0202000200000045", 0x0202),
            (":A2001002200000008", 0x0120), // H33
            (":ADBED00750806", 0xEDDB),
            (":AD5ED009708EA", 0xEDD5),
            (":A8DED00970832", 0xED8D),
            (":AA9ED00C505EB", 0xEDA9), // H34
            (":AD5ED00C605BE", 0xEDD5),
            (":A200100287003008F", 0x0120), // H35b
            (":A0102000345", 0x0201),
            (":ADBED00CD0AAC", 0xEDDB),
            (":ABCED005AA10000A7", 0xEDBC),
            (":ABBED007A2801", 0xEDBB),
        ] {
            assert_eq!(reg(s).id, id, "{s}");
        }
        // H34: a malformed "3" request with payload; the device still answered v1.37
        assert_eq!(golden(":300000052").payload, vec![0, 0, 0]);
        assert_eq!(golden(":13741DC").payload_u16(), Some(0x4137));
    }

    #[test]
    fn h35_h43_byte_swapped_id() {
        // H35: replies to the big-endian mistake: ids read as 0x0320 / 0x0220, flags Unknown Id
        let r = reg(":820030129");
        assert_eq!((r.id, r.flags.unknown_id()), (0x0320, true));
        let r = reg(":82002012A");
        assert_eq!((r.id, r.flags.unknown_id()), (0x0220, true));
        // H43 is the wrong version of H42: same check byte F3, different id.
        let wrong = golden(":82003002E09F3");
        let right = golden(":80320002E09F3");
        assert_eq!(wrong.check(), right.check());
        assert_eq!(wrong.as_register().unwrap().id, 0x0320);
        assert_eq!(right.as_register().unwrap().id, 0x2003);
    }

    #[test]
    fn h36_to_h48_bridge_frames() {
        assert_eq!(HexFrame::get(0xEDEC).encode(), b":7ECED0075\n"); // H36
        assert_eq!(HexFrame::get(0xED8D).encode(), b":78DED00D4\n"); // H37
        assert_eq!(HexFrame::get(0xED8F).encode(), b":78FED00D2\n"); // H38
        assert_eq!(HexFrame::get(0x2003).encode(), b":70320002B\n");
        assert_eq!(HexFrame::get(0x2002).encode(), b":70220002C\n");
        assert_eq!(reg(":7ECED0077748A").value, vec![0x77, 0x74]); // H39
        assert_eq!(reg(":78DED00F104DF").value, vec![0xF1, 0x04]); // H40
        assert_eq!(reg(":78FED00E0FFF3").value, vec![0xE0, 0xFF]); // H41
        assert_eq!(
            HexFrame::set(0x2003, &[0x2E, 0x09]).encode(),
            b":80320002E09F3\n"
        ); // H42
        assert_eq!(
            HexFrame::set(0x2003, &[0x0C, 0xFE]).encode(),
            b":80320000CFE20\n"
        ); // H44
        assert_eq!(
            HexFrame::set(0x2003, &[0xFF, 0x7F]).encode(),
            b":8032000FF7FAC\n"
        ); // H45
        assert_eq!(
            HexFrame::set(0x2002, &[0x26, 0x05]).encode(),
            b":8022000260500\n"
        ); // H46
        assert_eq!(
            HexFrame::set(0x2002, &[0xFF, 0xFF]).encode(),
            b":8022000FFFF2D\n"
        ); // H47
        assert_eq!(reg(":A032000FF7FAA").value, vec![0xFF, 0x7F]); // H48
        let HexRequest::Set(r) = golden(":80320002E09F3").request() else {
            panic!()
        };
        assert_eq!((r.id, r.value), (0x2003, vec![0x2E, 0x09]));
    }

    #[test]
    fn t2_t7_history_frames_round_trip() {
        // T2 / T7 async history records (0x1050 day, 0x104F total)
        for s in [
            ":A501000000000000000000000ED04C6040000000000C200000000000B0000000900C80D120172",
            ":A5010000000000000000000000D05F904000000000000000000000000000000000001000000DB",
            ":A4F1000010000000000000000000000000001000D0500F904FFFFFFFFFFFFFFFFFFFFFFFFFFE8",
        ] {
            let r = reg(s);
            assert!(r.id == 0x1050 || r.id == 0x104F);
            assert_eq!(r.value.len(), 34);
        }
    }

    #[test]
    fn errors() {
        assert_eq!(decode_frame(b"154"), Err(HexError::MissingColon));
        assert_eq!(decode_frame(b":15"), Err(HexError::TooShort { digits: 2 }));
        assert_eq!(decode_frame(b":"), Err(HexError::TooShort { digits: 0 }));
        assert_eq!(
            decode_frame(b":1544"),
            Err(HexError::OddDigitCount { digits: 3 })
        );
        assert_eq!(
            decode_frame(b":15G"),
            Err(HexError::InvalidDigit {
                offset: 3,
                byte: b'G'
            })
        );
        let long = format!(":A{}", "00".repeat(MAX_PAYLOAD + 2));
        assert!(matches!(
            decode_frame(long.as_bytes()),
            Err(HexError::TooLong { .. })
        ));
        // lower case is accepted
        assert_eq!(decode_frame(b":7f0ed0071").unwrap(), HexFrame::get(0xEDF0));
        // register view of a non-register frame
        assert!(HexFrame::ping().as_register().is_none());
        assert!(matches!(
            HexFrame::new(HexCommand::Get, vec![1]).register_frame(),
            Err(HexError::RegisterFrameTooShort { len: 1 })
        ));
    }

    #[test]
    fn firmware_release_candidate() {
        assert_eq!(FirmwareVersion(0xD101).to_string(), "1.01-rcD");
        assert_eq!(
            FirmwareVersion(0xD101).kind(),
            FirmwareKind::ReleaseCandidate
        );
        assert_eq!(FirmwareVersion(0x0123).kind(), FirmwareKind::Bootloader);
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(cmd in 0u8..16, payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let f = HexFrame::new(HexCommand::from_nibble(cmd), payload);
            let wire = f.encode();
            prop_assert_eq!(decode_frame(&wire).unwrap(), f.clone());
            prop_assert_eq!(wire.last(), Some(&b'\n'));
            prop_assert!(wire.iter().all(|b| !b.is_ascii_lowercase()));
        }

        #[test]
        fn register_round_trip(cmd in prop::sample::select(vec![7u8, 8, 0xA]), id: u16, flags: u8,
                               value in proptest::collection::vec(any::<u8>(), 0..40)) {
            let r = RegisterFrame { id, flags: HexFlags(flags), value };
            let f = HexFrame::register(HexCommand::from_nibble(cmd), &r);
            let back = decode_frame(&f.encode()).unwrap();
            prop_assert_eq!(back.as_register(), Some(r));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_frame(&bytes);
            let mut with_colon = vec![b':'];
            with_colon.extend_from_slice(&bytes);
            if let Ok(f) = decode_frame(&with_colon) {
                let _ = f.request();
                let _ = f.response();
                let _ = f.as_register();
            }
        }

        #[test]
        fn corrupted_check_rejected(cmd in 0u8..16, payload in proptest::collection::vec(any::<u8>(), 0..20), delta in 1u8..=255) {
            let f = HexFrame::new(HexCommand::from_nibble(cmd), payload.clone());
            let mut data = payload;
            data.push(f.check().wrapping_add(delta));
            let mut wire = vec![b':', HEX_DIGITS[usize::from(cmd)]];
            for b in data { wire.extend_from_slice(format!("{b:02X}").as_bytes()); }
            let is_checksum_error = matches!(decode_frame(&wire), Err(HexError::Checksum { .. }));
            prop_assert!(is_checksum_error);
        }
    }
}
