//! PI18 queries: the inquiry commands this crate can decode (InfiniSolar-V protocol
//! `PI18_InfiniSolar-V-protocol-20170926`; reference notes `../shared/reference/pi18/README.md`
//! §2), their names and request frames, and the MCHGCR / MUCHGCR current lists that setters are
//! checked against.
//!
//! Command layout: `^P<nnn><NAME>` + CRC + CR, e.g. `^P005GS` 58 14 0D; `nnn` = len(NAME) + 3
//! except where the spec prints a literal header that real units are known to answer (`FWS` is
//! sent as `^P005FWS`, see [`Query::request`]). Reply payloads (`^D<nnn>` + comma-separated
//! fixed-width digits) are decoded by [`super::fields`]; [`parse_current_options`] reads the
//! MCHGCR / MUCHGCR payload (`010,020,030,…`, amps).

use std::fmt;
use std::str::FromStr;

use super::codec::{RequestKind, computed_length, encode_request_with_length};
pub use super::error::DecodeError;

/// A query this crate can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Query {
    /// `PI`: protocol id (`18`).
    Pi,
    /// `ID`: serial number.
    Id,
    /// `VFW`: CPU firmware versions.
    Vfw,
    /// `PIRI`: rated information and current settings.
    Piri,
    /// `GS`: general status.
    Gs,
    /// `MOD`: working mode.
    Mod,
    /// `FWS`: fault code and warnings.
    Fws,
    /// `FLAG`: enable/disable flags.
    Flag,
    /// `MCHGCR`: the selectable max charging currents.
    Mchgcr,
    /// `MUCHGCR`: the selectable max AC (utility) charging currents.
    Muchgcr,
}

const QUERY_NAMES: &[(&str, Query)] = &[
    ("PI", Query::Pi),
    ("ID", Query::Id),
    ("VFW", Query::Vfw),
    ("PIRI", Query::Piri),
    ("GS", Query::Gs),
    ("MOD", Query::Mod),
    ("FWS", Query::Fws),
    ("FLAG", Query::Flag),
    ("MCHGCR", Query::Mchgcr),
    ("MUCHGCR", Query::Muchgcr),
];

impl Query {
    /// Every query, in the order a poller would ask them.
    pub const ALL: &'static [Query] = &[
        Query::Pi,
        Query::Id,
        Query::Vfw,
        Query::Piri,
        Query::Gs,
        Query::Mod,
        Query::Fws,
        Query::Flag,
        Query::Mchgcr,
        Query::Muchgcr,
    ];

    /// The command text, e.g. `GS`.
    pub fn command(&self) -> &'static str {
        QUERY_NAMES
            .iter()
            .find(|(_, q)| q == self)
            .map_or("", |(name, _)| name)
    }

    /// The length field to send. FWS uses the spec's literal `005` (the rule gives 006): that
    /// is what esphome-pipsolar, Solar2MQTT and mpp-solar send and what real units answered
    /// (reference V17, V18). [`Query::request_computed`] is the fallback for a unit that
    /// refuses it.
    pub fn header_length(&self) -> usize {
        match self {
            Query::Fws => 5,
            q => computed_length(q.command()),
        }
    }

    /// The request frame, e.g. `^P005GS` 58 14 0D.
    pub fn request(&self) -> Vec<u8> {
        // Command names are short printable ASCII: framing cannot fail.
        encode_request_with_length(RequestKind::Query, self.command(), self.header_length())
            .unwrap_or_default()
    }

    /// The request frame with the computed length field (`^P006FWS`, as inverter-tools sends).
    pub fn request_computed(&self) -> Vec<u8> {
        let cmd = self.command();
        encode_request_with_length(RequestKind::Query, cmd, computed_length(cmd))
            .unwrap_or_default()
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.command())
    }
}

impl FromStr for Query {
    type Err = DecodeError;

    /// Case-insensitive: `GS`, `gs`, `Piri`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        QUERY_NAMES
            .iter()
            .find(|(name, _)| *name == upper)
            .map(|(_, q)| *q)
            .ok_or_else(|| DecodeError::UnknownQuery(s.to_string()))
    }
}

/// Parse an MCHGCR / MUCHGCR payload (`010,020,030,…`): a list of whole amperes of any length
/// (the spec shows 7 values, units send 8, 9 or 12).
pub fn parse_current_options(query: Query, payload: &str) -> Result<Vec<u32>, DecodeError> {
    crate::voltronic::parse_current_list(query.command(), payload.split(','))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_requests() {
        assert_eq!("gs".parse::<Query>(), Ok(Query::Gs));
        assert_eq!(" Piri ".parse::<Query>(), Ok(Query::Piri));
        assert!("QPIGS".parse::<Query>().is_err());
        assert_eq!(Query::Muchgcr.to_string(), "MUCHGCR");
        for (name, q) in QUERY_NAMES {
            assert_eq!(q.command(), *name);
            assert_eq!(name.parse::<Query>(), Ok(*q));
        }
        assert_eq!(Query::ALL.len(), QUERY_NAMES.len());
        // V17: FWS goes out with the spec's literal header, the fallback with the rule's.
        assert_eq!(Query::Fws.request(), b"^P005FWS\x5e\x9f\r");
        assert_eq!(Query::Fws.request_computed(), b"^P006FWS\xc5\x43\r");
        assert_eq!(Query::Gs.request(), b"^P005GS\x58\x14\r");
        assert_eq!(Query::Gs.request(), Query::Gs.request_computed());
    }

    #[test]
    fn current_lists() {
        assert_eq!(
            parse_current_options(Query::Mchgcr, "010,020,030,040,050,060,070,080"),
            Ok(vec![10, 20, 30, 40, 50, 60, 70, 80])
        );
        assert_eq!(
            parse_current_options(Query::Muchgcr, "002,010"),
            Ok(vec![2, 10])
        );
        for bad in ["", "010,,020", "010,0x0", "10 20", "010,-20", "12345"] {
            assert!(
                parse_current_options(Query::Mchgcr, bad).is_err(),
                "{bad:?} accepted"
            );
        }
    }
}
