//! Identification-only personalities (`protocol = "pi17"` / `"pi16"`): units that answer the
//! protocol probes the way the families do (`../shared/reference/pi18/README.md` §4.2, §7) and
//! refuse everything else, so that protocol detection can be tested. No data model behind them.
//!
//! | probe                 | PI17 (`pi17`)             | PI16 (`pi16`)           |
//! |-----------------------|---------------------------|-------------------------|
//! | `QPI` + CRC           | `^0` + CRC [R]            | `(PI16` + CRC [I]       |
//! | `^P005PI` + CRC       | `^0` + CRC [U]            | `(NAK` + CRC [I]        |
//! | `^P003PI` + CR        | `^D00517` + CRC [C]       | `(NAK` + CRC [I]        |
//! | `QPI` + CR (no CRC)   | `^0` + CRC [I]            | `(PI16` + CRC [C]       |
//! | anything else         | `^0` + CRC                | `(NAK` (+ CRC)          |
//!
//! PI17 requests carry no CRC and `nnn` = command + CR (`^P003PI`); a CRC'd `^P005PI` therefore
//! reads as the unknown command `PI` + two CRC bytes, which the unit refuses (what a real PI17
//! does is not captured). PI16 requests carry no CRC either; a CRC'd `QPI` is answered too, as
//! Solar2MQTT's detection (which sends it) expects.

use super::pi18;
use super::wire;

/// What the unit sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A complete frame.
    Frame(Vec<u8>),
    /// The family's NAK (`(NAK`, with or without CRC as configured).
    Nak,
}

/// A PI17 unit: `^P<nnn><cmd>` + CR without CRC, `nnn` = len(cmd) + 1.
pub fn pi17(request: &[u8]) -> Answer {
    let body = request.strip_suffix(b"\r").unwrap_or(request);
    let command = body.strip_prefix(b"^P").and_then(|rest| {
        let (digits, cmd) = rest.split_at_checked(3)?;
        let declared: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
        (digits.iter().all(u8::is_ascii_digit) && declared == cmd.len() + 1).then_some(cmd)
    });
    match command {
        Some(b"PI") => Answer::Frame(pi18::data("17")),
        _ => Answer::Frame(pi18::refuse()),
    }
}

/// A PI16 unit: `Qxxx` + CR; answers QPI with or without a CRC.
pub fn pi16(request: &[u8]) -> Answer {
    let body = request.strip_suffix(b"\r").unwrap_or(request);
    let is_qpi = body == b"QPI" || wire::parse_request(request).is_ok_and(|cmd| cmd == "QPI");
    if is_qpi {
        Answer::Frame(wire::frame(b"(PI16", false))
    } else {
        Answer::Nak
    }
}
