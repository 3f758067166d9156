//! PI30 queries: the inquiry commands this crate can decode (PI30 2015 customer spec §2, PI30MAX
//! 2021 §2 including the QET/QLT energy counters, HS/MS/MSX 2014, PIP-GK/MK), their names, and
//! the QMCHGCR / QMUCHGCR current lists that setters are checked against.
//!
//! Command layout: ASCII `<NAME>` without argument (`QPIGS`, `QMCHGCR`), except `QPGSn` whose
//! digit is the parallel unit (0-9); the frame (CRC + CR) is added by
//! [`super::codec::encode_command`]. Reply payloads are decoded by [`super::fields`];
//! [`parse_current_options`] reads the QMCHGCR / QMUCHGCR payload (`010 020 030 ...`, amps).

use std::fmt;
use std::str::FromStr;

pub use super::error::DecodeError;

/// A query this crate can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Query {
    Qpi,
    Qid,
    Qsid,
    Qvfw,
    Qvfw2,
    Qmn,
    Qgmn,
    Qpiri,
    Qflag,
    Qpigs,
    Qpigs2,
    Qmod,
    Qpiws,
    Qdi,
    Qmchgcr,
    Qmuchgcr,
    /// Parallel unit information, `QPGS0`..`QPGS9`.
    Qpgs(u8),
    Qboot,
    Qopm,
    Q1,
    /// PI30MAX lifetime PV energy (Wh); plain PI30 NAKs it.
    Qet,
    /// PI30MAX lifetime output load energy (Wh); plain PI30 NAKs it.
    Qlt,
}

const QUERY_NAMES: &[(&str, Query)] = &[
    ("QPI", Query::Qpi),
    ("QID", Query::Qid),
    ("QSID", Query::Qsid),
    ("QVFW", Query::Qvfw),
    ("QVFW2", Query::Qvfw2),
    ("QMN", Query::Qmn),
    ("QGMN", Query::Qgmn),
    ("QPIRI", Query::Qpiri),
    ("QFLAG", Query::Qflag),
    ("QPIGS", Query::Qpigs),
    ("QPIGS2", Query::Qpigs2),
    ("QMOD", Query::Qmod),
    ("QPIWS", Query::Qpiws),
    ("QDI", Query::Qdi),
    ("QMCHGCR", Query::Qmchgcr),
    ("QMUCHGCR", Query::Qmuchgcr),
    ("QBOOT", Query::Qboot),
    ("QOPM", Query::Qopm),
    ("Q1", Query::Q1),
    ("QET", Query::Qet),
    ("QLT", Query::Qlt),
];

impl Query {
    /// The command text, e.g. `QPIGS`, `QPGS1`.
    pub fn command(&self) -> String {
        match self {
            Query::Qpgs(n) => format!("QPGS{n}"),
            q => QUERY_NAMES
                .iter()
                .find(|(_, x)| x == q)
                .map_or_else(String::new, |(name, _)| (*name).to_string()),
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.command())
    }
}

impl FromStr for Query {
    type Err = DecodeError;

    /// Case-insensitive: `QPIGS`, `qpigs`, `QPGS1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        if let Some((_, q)) = QUERY_NAMES.iter().find(|(name, _)| *name == upper) {
            return Ok(*q);
        }
        if let Some(n) = upper.strip_prefix("QPGS") {
            if let [d @ b'0'..=b'9'] = n.as_bytes() {
                return Ok(Query::Qpgs(d - b'0'));
            }
        }
        Err(DecodeError::UnknownQuery(s.to_string()))
    }
}

/// Parse a QMCHGCR / QMUCHGCR payload (`010 020 030 ...`).
pub fn parse_current_options(payload: &str) -> Result<Vec<u32>, DecodeError> {
    crate::voltronic::parse_current_list("QMCHGCR", payload.split_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names() {
        assert_eq!("qpigs".parse::<Query>(), Ok(Query::Qpigs));
        assert_eq!("QPGS1".parse::<Query>(), Ok(Query::Qpgs(1)));
        assert_eq!(Query::Qpgs(9).command(), "QPGS9");
        assert_eq!(Query::Qmuchgcr.to_string(), "QMUCHGCR");
        assert!("QPGS".parse::<Query>().is_err());
        assert!("QPGS12".parse::<Query>().is_err());
        for (name, q) in QUERY_NAMES {
            assert_eq!(q.command(), *name);
        }
    }
}
