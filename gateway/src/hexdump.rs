//! Parsing of hex dumps typed by people: `28 50 49 33 30 9a 0b 0d`, `285049...`, `0x28,0x50`,
//! `28:50:49`. Whitespace, commas, colons and `0x` prefixes are separators; everything else must
//! be pairs of hex digits.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HexDumpError {
    #[error("'{0}' is not a hex digit (in '{1}')")]
    BadDigit(char, String),
    #[error("odd number of hex digits in '{0}': every byte needs two")]
    OddLength(String),
    #[error("no bytes given")]
    Empty,
}

/// Parse a human-written hex dump into bytes.
pub fn parse_hex_dump(text: &str) -> Result<Vec<u8>, HexDumpError> {
    let mut bytes = Vec::with_capacity(text.len() / 2);
    for token in text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ':')
        .filter(|t| !t.is_empty())
    {
        let digits = token
            .strip_prefix("0x")
            .or_else(|| token.strip_prefix("0X"))
            .unwrap_or(token);
        if digits.chars().count() % 2 != 0 {
            return Err(HexDumpError::OddLength(token.to_owned()));
        }
        let bad = |c: char| HexDumpError::BadDigit(c, token.to_owned());
        let mut chars = digits.chars();
        while let (Some(hi), Some(lo)) = (chars.next(), chars.next()) {
            let h = hi.to_digit(16).ok_or_else(|| bad(hi))?;
            let l = lo.to_digit(16).ok_or_else(|| bad(lo))?;
            bytes.push((h * 16 + l) as u8);
        }
    }
    if bytes.is_empty() {
        return Err(HexDumpError::Empty);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_and_packed_dumps_agree() {
        let spaced = parse_hex_dump("28 50 49 33 30 9a 0b 0d").unwrap();
        let packed = parse_hex_dump("28504933309A0B0D").unwrap();
        let prefixed = parse_hex_dump("0x28,0x50,0x49,0x33,0x30,0x9a,0x0b,0x0d").unwrap();
        assert_eq!(spaced, b"(PI30\x9a\x0b\r");
        assert_eq!(spaced, packed);
        assert_eq!(spaced, prefixed);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            parse_hex_dump("2g"),
            Err(HexDumpError::BadDigit('g', _))
        ));
        assert!(matches!(
            parse_hex_dump("285"),
            Err(HexDumpError::OddLength(_))
        ));
        assert_eq!(parse_hex_dump("  "), Err(HexDumpError::Empty));
        // A multi-byte character must not be silently dropped.
        assert!(matches!(
            parse_hex_dump("28 é"),
            Err(HexDumpError::OddLength(_))
        ));
        assert!(matches!(
            parse_hex_dump("28 éé"),
            Err(HexDumpError::BadDigit('é', _))
        ));
    }
}
